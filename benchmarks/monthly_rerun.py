"""The next month's full-history dump into a warehouse that holds the month before: new pairs only.

A monthly full-history dump repeats every revision of the earlier one. Month 1 here is the first 1,000
Anarchism revisions (`enwiki-Anarchism-revs-0000-0999.xml.bz2`); month 2 is the same 1,000 followed by
the last 500 (`enwiki-Anarchism-revs-last-500.xml.bz2`), spliced into one page, as the next dump would
hold them. Month 1 is run once and its warehouse copied; month 2 then runs into one copy as `revmine
run` does (revisions stored already are paired but not diffed) and into the other with every pair
diffed (the code before), one after the other in this process. Prints both walls, the ratio, the pairs
each diffed, and the rows that differ between the two warehouses (the diffs' count of sections parsed aside).

    python benchmarks/monthly_rerun.py [--config YAML]   # default: the default config, every stage on
"""
from __future__ import annotations

import argparse
import bz2
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data", "wikipedia")
FIRST, LAST = "enwiki-Anarchism-revs-0000-0999.xml.bz2", "enwiki-Anarchism-revs-last-500.xml.bz2"
DIFF = "diff (clean, align, span edits, node changes)"


def spliced(first: str, last: str) -> bytes:
    """`first` with the revisions of `last` (the same page, later) added before its page ends."""
    head = bz2.open(first).read()
    tail = bz2.open(last).read()
    revisions = b"".join(m.group() for m in re.finditer(rb"<revision>.*?</revision>\s*", tail, re.S))
    at = head.rindex(b"</page>")
    return head[:at] + revisions + head[at:]


# Tables whose rows have an identity, to say which column of a row differs.
IDENTITY = {"revisions": ("wiki", "rev_id"), "revision_pairs": ("pair_id",), "diffs": ("pair_id",),
            "edits": ("pair_id", "align_idx", "edit_idx"), "summaries": ("pair_id",)}


def rows(wh: str) -> dict:
    """{table: rows}, the diffs' count of sections parsed left out (a pair whose parent's pair was not
    diffed parses the parent's sections rather than finding them in the cache)."""
    from revmine.schemas import TABLES
    from revmine.warehouse.layout import read_table

    return {t: [{k: v for k, v in r.items() if k != "sections_parsed"} for r in read_table(wh, t).to_pylist()]
            for t in TABLES}


def differences(a: dict, b: dict) -> dict:
    """{table: what differs}: for tables with an identity, the rows whose column differs, per column;
    for every table, the rows one warehouse holds and the other does not."""
    out: dict = {}
    for t in a:
        got: dict = {}
        if t in IDENTITY:
            kb = {tuple(r[k] for k in IDENTITY[t]): r for r in b[t]}
            for r in a[t]:
                other = kb.get(tuple(r[k] for k in IDENTITY[t]))
                for c, v in r.items():
                    if other is not None and v != other[c]:
                        got[c] = got.get(c, 0) + 1
        only = Counter(map(str, a[t]))
        only.subtract(Counter(map(str, b[t])))
        n = sum(abs(v) for v in only.values())
        if n:
            got["(rows not in both)"] = n
        if got:
            out[t] = got
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=None, help="run config (default: the default config, every stage on)")
    args = ap.parse_args(argv)
    first, last = os.path.join(DATA, FIRST), os.path.join(DATA, LAST)
    if not (os.path.exists(first) and os.path.exists(last)):
        print(f"{FIRST} and {LAST} not found under {DATA}")
        return 2
    import revmine.runner.run as run_module
    from revmine.config import Config
    from revmine.warehouse.duplicates import HeldRevisions

    config = Config.load(args.config)
    with tempfile.TemporaryDirectory() as tmp:
        month1 = os.path.join(tmp, "enwiki-20260101-Anarchism.xml.bz2")
        month2 = os.path.join(tmp, "enwiki-20260201-Anarchism.xml.bz2")
        shutil.copy(first, month1)
        with bz2.open(month2, "wb") as fh:
            fh.write(spliced(first, last))
        held_wh, every_wh = os.path.join(tmp, "held"), os.path.join(tmp, "every")
        t0 = time.perf_counter()
        one = run_module.run([month1], held_wh, config)
        print(f"month 1: {one.accounting.revisions_read:,} revisions, {one.timings[DIFF][1]:,} pairs diffed, "
              f"{time.perf_counter() - t0:.1f} s")
        shutil.copytree(held_wh, every_wh)
        t0 = time.perf_counter()
        held = run_module.run([month2], held_wh, config)
        t_held = time.perf_counter() - t0
        real = run_module.held_revisions
        run_module.held_revisions = lambda warehouse, skip: HeldRevisions({})  # the code before: all diffed
        try:
            t0 = time.perf_counter()
            every = run_module.run([month2], every_wh, config)
            t_every = time.perf_counter() - t0
        finally:
            run_module.held_revisions = real
        for name, result, wall in (("month 2, stored revisions not diffed", held, t_held),
                                   ("month 2, every pair diffed (before)", every, t_every)):
            print(f"{name}: {result.accounting.revisions_read:,} revisions, {result.timings[DIFF][1]:,} pairs diffed, "
                  f"{result.accounting.quarantined.get('duplicate_rev_id', 0):,} duplicates quarantined, {wall:.1f} s")
        a, b = rows(held_wh), rows(every_wh)
        print(f"every pair diffed / stored revisions not diffed: {t_every / t_held:.2f}x")
        print(f"rows: {', '.join(f'{t} {len(v):,}' for t, v in a.items() if v)}")
        print(f"values that differ: {differences(a, b) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
