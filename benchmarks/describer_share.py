"""Which path would write each pair's summary, over a warehouse: the describer, the model, or none.

    revmine run --input ../shared/data/wikipedia/enwiki-Anarchism-history-2001-2010.xml.lzma --out /tmp/anwh \
        --config configs/fast.yaml
    python benchmarks/describer_share.py /tmp/anwh

It replays the routing of the summary stage (`pipeline/describe.route`) on the stored diff records, so
it needs no model. It also times the describer per pair against reading the pair's records, in the
same process.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter, defaultdict
from types import SimpleNamespace

import duckdb

from revmine.pipeline.describe import route
from revmine.pipeline.summarize import PairDiff
from revmine.schemas import NodeChange

PAIR_COLUMNS = ("pair_id", "ns", "skip_reason", "is_revert", "reverted_to_rev_id", "is_reverted", "is_bot", "comment")


def load(warehouse: str) -> list[PairDiff]:
    con = duckdb.connect(os.path.join(warehouse, "catalog.duckdb"), read_only=True)
    pairs = {r[0]: SimpleNamespace(**dict(zip(PAIR_COLUMNS, r))) for r in con.execute(
        f"SELECT {', '.join(PAIR_COLUMNS)} FROM revision_pairs WHERE skip_reason IS NULL").fetchall()}
    diffs = {pid: PairDiff(p, [], [], []) for pid, p in pairs.items()}
    for pid, side, text, section in con.execute(
            "SELECT pair_id, side, text, section FROM sentences ORDER BY pair_id, side, sent_idx").fetchall():
        d = diffs.get(pid)
        if d is not None:
            (d.old if side == "old" else d.new).append(text)
            if section not in d.sections:
                d.sections.append(section)
    names = [f.name for f in NodeChange.TABLE.schema]
    for row in con.execute(f"SELECT {', '.join(names)} FROM node_changes").fetchall():
        n = NodeChange(**dict(zip(names, row)))
        if n.pair_id in diffs:
            diffs[n.pair_id].nodes.append(n)
    return list(diffs.values())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("warehouse")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    diffs = load(args.warehouse)
    t1 = time.perf_counter()
    paths: Counter = Counter()
    kinds: Counter = Counter()
    examples: dict = defaultdict(list)
    for d in diffs:
        decided = route(d.pair, d, model=True)
        if decided is None:
            paths["model"] += 1
            continue
        summary, path, reason = decided
        paths[path or reason] += 1
        kind = "revert" if d.pair.is_revert else "reverted or bot" if (d.pair.is_reverted or d.pair.is_bot) else \
            (summary.split(":")[0].split(" ")[0] if summary else reason)
        kinds[kind] += 1
        if len(examples[kind]) < 2:
            examples[kind].append((summary, d.pair.comment))
    t2 = time.perf_counter()
    n = max(len(diffs), 1)
    print(f"pairs: {len(diffs):,}")
    print("| path | pairs | share |\n|---|---:|---:|")
    for path, c in paths.most_common():
        print(f"| {path} | {c:,} | {c / n:.1%} |")
    print("\n| describer wrote | pairs | example (editor's comment) |\n|---|---:|---|")
    for kind, c in kinds.most_common(12):
        ex = "; ".join(f"{s!r} ({(cm or '')[:40]!r})" for s, cm in examples[kind][:1])
        print(f"| {kind} | {c:,} | {ex.replace('|', '/')} |")
    print(f"\nrouting: {(t2 - t1) / n * 1e6:.0f} µs per pair; reading the records from the warehouse: "
          f"{(t1 - t0) / n * 1e6:.0f} µs per pair ({(t2 - t1) / max(t1 - t0, 1e-9):.2f} of it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
