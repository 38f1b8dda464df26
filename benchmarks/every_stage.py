"""Every stage on against configs/fast.yaml, and the non-neural stages against a bare XML scan.

Two ratios, each from runs in this one invocation, one right after the other:

1. `revmine run` on the last-500 Anarchism slice with the default config (neural aligner, intents,
   summaries) and with configs/fast.yaml, each in a fresh process: wall time, peak RSS (VmHWM of the
   process tree's largest member) and the run's own per-stage time table. Goal: default / fast <= 6,
   default peak under 2 GB. `--rounds` pairs of runs, the median ratio reported with every round's walls.
2. The non-neural stages (read, pair, clean, classical align, span edits, node changes; fast.yaml) on the
   full 2001-2010 history, as one worker runs them, against a bare decompress + iterparse scan of the
   same file. Goal: at least 330 revisions/s, and 0.065 of the scan.

    python benchmarks/every_stage.py [--skip-full] [--skip-slice] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from ingest import baseline_iterparse  # benchmarks/ is on the path when a script here runs

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, "..", "shared", "data", "wikipedia")
SLICE = os.path.join(DATA, "enwiki-Anarchism-revs-last-500.xml.bz2")
FULL = os.path.join(DATA, "enwiki-Anarchism-history-2001-2010.xml.lzma")

_RUN = """
import json, sys, time
t0 = time.perf_counter()
from revmine.config import Config
from revmine.runner.run import run
config = Config.load(sys.argv[3] or None)
result = run([sys.argv[1]], sys.argv[2], config)
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]
print(json.dumps({"wall": time.perf_counter() - t0, "timings": result.timings,
                  "revisions": result.accounting.revisions_read, "peak_mb": int(hwm) / 1024}))
"""


def run_fresh(path: str, config: str | None) -> dict:
    """One `revmine run` in a child process: its wall time (imports and model loading included), the
    per-stage table, and its peak RSS (the DirectRunner runs its workers inside that process)."""
    with tempfile.TemporaryDirectory() as wh:
        proc = subprocess.run([sys.executable, "-c", _RUN, path, wh, config or ""], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
        if proc.returncode:
            raise SystemExit(f"revmine run failed ({proc.returncode}) with config {config}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def table(label: str, got: dict) -> None:
    print(f"\n{label}: wall {got['wall']:.1f} s, {got['revisions'] / got['wall']:.1f} revisions/s, "
          f"peak RSS {got['peak_mb']:,.0f} MB")
    total = sum(s for s, _ in got["timings"].values()) or 1
    print(f"  {'stage':48} {'seconds':>8} {'items':>8} {'items/s':>9} {'share':>6}")
    for stage, (sec, items) in sorted(got["timings"].items(), key=lambda kv: -kv[1][0]):
        print(f"  {stage:48} {sec:8.1f} {items:8,} {items / sec if sec else 0:9.1f} {sec / total:6.0%}")
    # With one worker the stages run one after the other, so the rest of the wall is imports and model loading.
    print(f"  {'start-up and the rest (wall less the stages)':48} {got['wall'] - sum(s for s, _ in got['timings'].values()):8.1f}")


def non_neural(path: str) -> tuple[int, int]:
    """The stage functions of one worker with fast.yaml: every record a file gives, diffs included."""
    from revmine.config import Config
    from revmine.runner.compose import build_engine, process_file
    from revmine.schemas import Revision, RevisionPair

    config = Config.load(os.path.join(ROOT, "configs", "fast.yaml"))
    revisions = pairs = 0
    for rec in process_file(path, config, build_engine(config)):
        revisions += isinstance(rec, Revision)
        pairs += isinstance(rec, RevisionPair)
    return revisions, pairs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-slice", action="store_true", help="skip ratio 1 (default against fast.yaml)")
    ap.add_argument("--skip-full", action="store_true", help="skip ratio 2 (non-neural stages against the scan)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="pairs of ratio-1 runs; the median ratio is reported (the fast run's wall alone moves by "
                         "a third between runs minutes apart)")
    args = ap.parse_args(argv)
    for path in (SLICE, FULL):
        if not os.path.exists(path):
            print(f"dump not found: {path}", file=sys.stderr)
            return 2
    if not args.skip_slice:
        rounds = []
        for _ in range(args.rounds):  # fast then default, one pair per round: a busy spell hits both
            rounds.append((run_fresh(SLICE, os.path.join(ROOT, "configs", "fast.yaml")), run_fresh(SLICE, None)))
        ratios = [default["wall"] / fast["wall"] for fast, default in rounds]
        fast, default = rounds[ratios.index(statistics.median_low(ratios))]
        table("configs/fast.yaml", fast)
        table("default config (every stage on)", default)
        if len(rounds) > 1:
            print("\nrounds (fast wall, default wall, ratio): " + "; ".join(
                f"{f['wall']:.1f} s, {d['wall']:.1f} s, {d['wall'] / f['wall']:.2f}" for f, d in rounds))
            print("the tables are the round with the median ratio")
        print(f"\nratio 1: default / fast wall = {default['wall'] / fast['wall']:.2f} (goal <= 6); "
              f"default peak RSS {max(d['peak_mb'] for _, d in rounds):,.0f} MB, the largest of the rounds "
              f"(goal < 2,048)")
    if not args.skip_full:
        t0 = time.perf_counter()
        scanned = baseline_iterparse(FULL)  # the floor any XML reader pays (benchmarks/ingest.py)
        scan_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        revisions, pairs = non_neural(FULL)
        stages_s = time.perf_counter() - t0
        print(f"\nbare scan: {scanned:,} revisions in {scan_s:.1f} s ({scanned / scan_s:,.0f}/s)")
        print(f"non-neural stages: {revisions:,} revisions, {pairs:,} pairs in {stages_s:.1f} s "
              f"({revisions / stages_s:,.0f} revisions/s)")
        print(f"ratio 2: stages / scan = {(revisions / stages_s) / (scanned / scan_s):.3f} (goal >= 0.065; "
              f"330 revisions/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
