"""Edit-summary throughput: batched generation (as the pipeline runs it) against one pair per call.

Generates summaries for N dev rows of the summaries dataset with the shipped adapter (merged into
SmolLM2), batched and length-sorted, then for a sample one row per call, in the same process.
Prints summaries/s for both and the ratio; --threads 1 gives the one-core figure the issue asks for.
Where the summarizer runs in bf16 (a CPU with native bf16), it also reruns the batched generation with
the model cast back to fp32, the previous setting, and prints that ratio. It reruns it with every prefill
chunk as wide as its batch (pad columns no prompt of the chunk uses computed too). With beams, it also reruns the
batched generation with the shared prefill but transformers' own cache (appended with torch.cat and
reordered whole at every step), with transformers' own beam search (a prefill per beam, not one shared)
and greedily, for those ratios.

    python benchmarks/summaries.py [--data data/summaries/dev.jsonl] [--rows 64] [--threads 1] [--batch 16] [--num-beams K]
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv=None) -> int:
    import logging

    import torch

    from revmine.models.summarizer import Summarizer, load_rows
    from revmine.runner.label import default_summarizer_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join("data", "summaries", "dev.jsonl"))
    ap.add_argument("--model", default=default_summarizer_dir())
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--baseline-rows", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--num-beams", type=int, default=None, help="beam width (default: the adapter's)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = load_rows(args.data)[: args.rows]
    s = Summarizer(args.model)
    if args.num_beams:
        s.config.num_beams = args.num_beams
    inputs = [r["input"] for r in rows]

    def batched(**kw) -> float:
        """Seconds for the whole batched generation of `inputs`."""
        t0 = time.perf_counter()
        s.generate(inputs, batch_size=args.batch, **kw)
        return time.perf_counter() - t0

    s.generate(inputs[:1])  # warm-up
    t_batch = batched()
    sample = rows[: args.baseline_rows]
    t0 = time.perf_counter()
    for r in sample:
        s.generate([r["input"]], batch_size=1)
    t_one = (time.perf_counter() - t0) * len(rows) / len(sample)
    dtype = next(s.model.parameters()).dtype
    print(f"{len(rows)} dev rows, device {s.device}, {dtype}, torch threads {torch.get_num_threads()}, "
          f"batch {args.batch}, beams {s.config.num_beams}")
    print(f"batched (revmine): {len(rows) / t_batch:.2f} summaries/s")
    print(f"one per call:      {len(rows) / t_one:.2f} summaries/s  -> batched is {t_one / t_batch:.1f}x faster")
    s.trim_prefill = False
    t_padded = batched()
    s.trim_prefill = True
    print(f"prefill chunks as wide as their batch: {len(rows) / t_padded:.2f} summaries/s  -> dropping the pad "
          f"columns is {t_padded / t_batch:.2f}x faster")
    if s.config.num_beams > 1:
        t_copying = batched(in_place=False)
        print(f"shared prefill, stock cache (copied whole at every step): {len(rows) / t_copying:.2f} summaries/s  "
              f"-> the cache grown in place is {t_copying / t_batch:.2f}x faster")
        t_stock = batched(share_prefill=False)
        print(f"stock beam search: {len(rows) / t_stock:.2f} summaries/s  -> one shared prefill is {t_stock / t_batch:.2f}x faster")
        beams, s.config.num_beams = s.config.num_beams, 1
        t_greedy = batched()
        s.config.num_beams = beams
        print(f"greedy:            {len(rows) / t_greedy:.2f} summaries/s  -> {beams} beams take {t_batch / t_greedy:.2f}x its time")
    if dtype == torch.bfloat16:
        s.model.float()
        s.generate(inputs[:1])
        t_fp32 = batched()
        print(f"batched in fp32:   {len(rows) / t_fp32:.2f} summaries/s  -> bf16 is {t_fp32 / t_batch:.2f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
