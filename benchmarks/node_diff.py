"""revmine's node diff against mwedittypes on real revision pairs: agreement per node type and action, and cost.

    python benchmarks/node_diff.py                      # 1,200 pairs from ../shared/data/wikipedia
    python benchmarks/node_diff.py --pairs 300 --show 5 # fewer, with disagreements printed

Pairs are drawn evenly from every dump in the folder (content pages, pairs that are not skipped), in a
fixed order, so a rerun compares the same pairs. Time is per pair for the node diff alone: revmine's
cleaning + node diff on each side with a cold section cache (as mwedittypes parses both texts whole),
and with the warm per-page cache the pipeline uses, against mwedittypes' StructuredEditTypes.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from revmine.config import Config
from revmine.eval.nodes import Agreement, mwedittypes_counts, revmine_counts
from revmine.pipeline.clean import SectionCache
from revmine.runner.compose import expand_inputs, read_file, to_diff

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "wikipedia")


def real_pairs(inputs: str | list[str], n: int, max_chars: int = 60_000) -> list[tuple[str, str, str]]:
    """(label, old text, new text) for up to `n` pairs, spread over every dump in `inputs` (folders or files).

    Texts over `max_chars` are left out: mwedittypes' tree differ is super-linear and takes minutes on
    a whole late Anarchism revision (~150,000 characters)."""
    files = sorted(expand_inputs([inputs] if isinstance(inputs, str) else inputs))
    found: list[list] = []
    for path in files:
        got = []
        try:
            for rec in read_file(path, Config()):
                if to_diff(rec) and rec.ns == 0 and max(len(rec.old_text), len(rec.new_text)) <= max_chars:
                    got.append((f"{os.path.basename(path)}:{rec.pair_id}", rec.old_text, rec.new_text))
        except Exception as exc:  # a benchmark over what the reader gives; it never stops on one file
            print(f"# {os.path.basename(path)}: {type(exc).__name__}: {exc}", file=sys.stderr)
        found.append(got)
    # an equal share from each dump; what small dumps cannot fill comes from the larger ones
    quota = [0] * len(found)
    left = n
    while left > 0 and any(q < len(g) for q, g in zip(quota, found)):
        open_ = [i for i, g in enumerate(found) if quota[i] < len(g)]
        share = max(1, left // len(open_))
        for i in open_:
            take = min(share, len(found[i]) - quota[i], left)
            quota[i] += take
            left -= take
    out = []
    for got, q in zip(found, quota):
        if q:
            out.extend(got[int(k * len(got) / q)] for k in range(q))  # spread over the history
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--pairs", type=int, default=1200)
    ap.add_argument("--show", type=int, default=0, help="print this many disagreements")
    args = ap.parse_args(argv)
    if not os.path.isdir(args.data):
        print(f"no data at {args.data}", file=sys.stderr)
        return 2
    pairs = real_pairs(args.data, args.pairs)
    result = Agreement()
    t_cold = t_warm = t_theirs = 0.0
    warm = SectionCache()
    for label, old, new in pairs:
        t0 = time.perf_counter()
        ours = revmine_counts(old, new, SectionCache())
        t1 = time.perf_counter()
        revmine_counts(old, new, warm)
        t2 = time.perf_counter()
        theirs, theirs_conventions = mwedittypes_counts(old, new)
        t3 = time.perf_counter()
        t_cold += t1 - t0
        t_warm += t2 - t1
        t_theirs += t3 - t2
        result.add(label, ours, theirs, theirs_conventions)
    n = max(1, len(pairs))
    print(f"pairs: {len(pairs)} from {len({p[0].split(':')[0] for p in pairs})} dumps")
    print(f"node diff per pair: revmine {t_cold / n * 1000:.1f} ms (cold cache), {t_warm / n * 1000:.1f} ms "
          f"(warm cache, as in the pipeline); mwedittypes {t_theirs / n * 1000:.1f} ms; "
          f"mwedittypes / revmine = {t_theirs / max(t_cold, 1e-9):.1f}x cold, {t_theirs / max(t_warm, 1e-9):.1f}x warm")
    print()
    print(result.table())
    for label, t, a, b in result.disagreements[: args.show]:
        print(f"\n{label} {t}: revmine {a} mwedittypes {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
