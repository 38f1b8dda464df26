"""Viterbi decode: revmine's batched tensor CRF against two Python-loop Viterbis.

All three decode the same random emissions (paragraph pairs of 4-24 old x 4-24 new sentences) with the
same transitions, and must return identical paths:
  (a) loops over time and states with tensor operations per state, one pair at a time: the
      straightforward way to write Viterbi over tensor emissions;
  (b) loops over time and states on plain Python floats (emissions converted with .tolist() first):
      the fastest pure-Python form, a deliberately strong baseline.

    python benchmarks/crf.py [--pairs 512]
"""
from __future__ import annotations

import argparse
import random
import sys
import time

import torch


def main(argv=None) -> int:
    from revmine.models.crf import AlignmentCRF, viterbi_python, viterbi_tensor_loop

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5, help="best of N warm runs, for revmine and for (b)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = random.Random(0)
    torch.manual_seed(0)
    crf = AlignmentCRF()
    with torch.no_grad():
        for p in crf.parameters():
            p.add_(torch.randn_like(p))
    sizes = [(rng.randint(4, 24), rng.randint(4, 24)) for _ in range(args.pairs)]
    T, K = max(n for n, _ in sizes), max(m for _, m in sizes) + 1
    em = torch.randn(args.pairs, T, K)
    mask = torch.zeros(args.pairs, T, dtype=torch.bool)
    tag_mask = torch.zeros(args.pairs, K, dtype=torch.bool)
    for b, (n, m) in enumerate(sizes):
        mask[b, :n] = True
        tag_mask[b, : m + 1] = True

    fast, t_fast = best_of(args.repeat, lambda: crf.decode(em, mask, tag_mask))

    masked = crf._mask_tags(em, tag_mask)
    # The loop version decodes each pair at its own size, without padding; .tolist() is not timed.
    inputs = [(masked[b, :n, : m + 1].tolist(), crf.transitions(K)[: m + 1, : m + 1].tolist(),
               crf.start(K)[: m + 1].tolist()) for b, (n, m) in enumerate(sizes)]
    slow, t_slow = best_of(args.repeat, lambda: [viterbi_python(*x) for x in inputs])
    assert fast == slow, "paths differ"
    sample = sizes[: max(1, args.pairs // 16)]  # (a) is slow: time a sample and scale per pair
    t0 = time.perf_counter()
    loop = [viterbi_tensor_loop(masked[b, :n, : m + 1], crf.transitions(K)[: m + 1, : m + 1], crf.start(K)[: m + 1])
            for b, (n, m) in enumerate(sample)]
    t_loop = (time.perf_counter() - t0) * len(sizes) / len(sample)
    assert loop == slow[: len(sample)], "paths differ"
    cells = sum(n * (m + 1) ** 2 for n, m in sizes)
    print(f"{args.pairs} paragraph pairs, {cells:,} transition cells, torch threads={args.threads}")
    print(f"batched tensor Viterbi (revmine): {t_fast:.3f} s")
    print(f"(a) per-state tensor loop:        {t_loop:.3f} s  -> speed-up {t_loop / t_fast:.0f}x")
    print(f"(b) pure-Python float loop:       {t_slow:.3f} s  -> speed-up {t_slow / t_fast:.1f}x  (identical paths)")
    return 0


def best_of(n: int, fn):
    best, out = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


if __name__ == "__main__":
    sys.exit(main())
