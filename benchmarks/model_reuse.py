"""Runs after the first in one process: the models come from the shelf instead of being loaded again.

Three default-config runs (neural aligner, intents, summaries) of the same input, one after the other in
this process, each into a fresh warehouse. The first loads the models; the later ones borrow them from
`revmine.runner.shelf`. Prints each run's wall time, a digest of its rows (they must all be the same),
and the first run's time over the mean of the later ones.

    python benchmarks/model_reuse.py [--input samples/samplewiki-history.xml]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLES = ("revision_pairs", "sentences", "alignments", "edits", "node_changes", "diffs", "summaries")


def digest(warehouse: str) -> str:
    from revmine.warehouse.layout import read_table

    h = hashlib.sha1()
    for table in TABLES:
        h.update(repr(sorted(map(repr, read_table(warehouse, table).to_pylist()))).encode())
    return h.hexdigest()[:12]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default=os.path.join(ROOT, "samples", "samplewiki-history.xml"))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    from revmine.config import Config
    from revmine.runner.run import run

    times, digests = [], []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as wh:
            t0 = time.perf_counter()
            run([args.input], wh, Config.load(None))
            times.append(time.perf_counter() - t0)
            digests.append(digest(wh))
        print(f"run {i + 1}: {times[-1]:.1f} s, rows {digests[-1]}")
    later = sum(times[1:]) / len(times[1:])
    print(f"first run / later runs = {times[0] / later:.2f} (first {times[0]:.1f} s, later {later:.1f} s); "
          f"rows {'the same' if len(set(digests)) == 1 else 'DIFFER'}")
    return 0 if len(set(digests)) == 1 else 1


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main())
