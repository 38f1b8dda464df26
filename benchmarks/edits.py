"""Dump -> edits, end to end, on Anarchism: revmine against a naive loop, in one process.

naive loop: for every pair, mwparserfromhell parse + strip_code of both revisions, difflib over lines,
            then difflib over words inside each replaced line block (what a first script would do).
revmine:    read -> pair -> section-cached cleaning -> hash-matched sentence diff -> aligner on changed
            blocks only -> span edits + node changes (the stage functions a Beam worker runs).
Both run on the same slices; the full 15,180-revision history is run through revmine alone
(`--full`), because the naive loop would take about 20 minutes there.

    python benchmarks/edits.py [--full] [--aligner classical|neural]
"""
from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data", "wikipedia")
SLICES = ["enwiki-Anarchism-revs-0000-0999.xml.bz2", "enwiki-Anarchism-revs-last-500.xml.bz2"]
FULL = "enwiki-Anarchism-history-2001-2010.xml.lzma"


def naive(path: str) -> tuple[int, int]:
    import mwparserfromhell

    from revmine.pipeline.pair import pair_revisions
    from revmine.pipeline.read import read_dump
    from revmine.schemas import RevisionPair

    n = edits = 0
    for p in pair_revisions(read_dump(path)):
        if not isinstance(p, RevisionPair):
            continue
        n += 1
        if p.skip_reason:
            continue
        a = mwparserfromhell.parse(p.old_text).strip_code().splitlines()
        b = mwparserfromhell.parse(p.new_text).strip_code().splitlines()
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
            if tag == "equal":
                continue
            wa, wb = " ".join(a[i1:i2]).split(), " ".join(b[j1:j2]).split()
            edits += sum(1 for op in difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes() if op[0] != "equal")
    return n, edits


def revmine_stages(path: str, aligner: str) -> tuple[int, int, int, int]:
    from revmine.config import Config
    from revmine.runner.compose import build_engine, process_file
    from revmine.schemas import DiffStats, Edit, RevisionPair

    cfg = Config.load(None, **{"diff.aligner": aligner})
    engine = build_engine(cfg)
    n = edits = aligner_pairs = all_pairs = 0
    for r in process_file(path, cfg, engine):
        if isinstance(r, RevisionPair):
            n += 1
        elif isinstance(r, Edit):
            edits += 1
        elif isinstance(r, DiffStats):
            aligner_pairs += r.aligner_pairs
            all_pairs += r.all_pairs
    return n, edits, aligner_pairs, all_pairs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="also run revmine on the full history")
    ap.add_argument("--aligner", choices=("classical", "neural"), default="classical",
                    help="aligner for the revmine rows (RESULTS.md's issue-3 figures use classical)")
    args = ap.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING)
    print("| input | pipeline | revisions | seconds | revisions/s | edits | aligner pairs / all pairs | speed-up |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name in SLICES:
        path = os.path.join(DATA, name)
        t0 = time.perf_counter()
        n_naive, e_naive = naive(path)
        t_naive = time.perf_counter() - t0
        t0 = time.perf_counter()
        n, e, ap_, all_ = revmine_stages(path, args.aligner)
        t_rev = time.perf_counter() - t0
        print(f"| {name} | naive loop | {n_naive:,} | {t_naive:.1f} | {n_naive / t_naive:,.0f} | {e_naive:,} | 1 (every pair diffed) | 1.00 |")
        print(f"| {name} | revmine | {n:,} | {t_rev:.1f} | {n / t_rev:,.0f} | {e:,} | {ap_ / all_:.5f} | **{t_naive / t_rev:.2f}** |")
    if args.full:
        from revmine.config import Config
        from revmine.runner.run import run

        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = run([os.path.join(DATA, FULL)], tmp, Config.load(None, **{"diff.aligner": args.aligner,
                                                                     # dump -> edits only: model stages are benchmarked apart
                                                                     "label.enabled": False, "summarize.enabled": False}))
            dt = time.perf_counter() - t0
            import duckdb

            con = duckdb.connect(os.path.join(tmp, "catalog.duckdb"), read_only=True)
            ap_, all_, e = con.execute("select sum(aligner_pairs), sum(all_pairs), sum(edits) from diffs").fetchone()
            n = result.accounting.revisions_read
            print(f"| {FULL} | `revmine run` (Beam) | {n:,} | {dt:.1f} | {n / dt:,.0f} | {e:,} | {ap_ / all_:.5f} (1/{all_ / ap_:,.0f}) | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
