"""`revmine build summaries-dataset`: Edisum-style {input, summary} rows from real dumps, split by time."""
from __future__ import annotations

import argparse
import json
import os

from revmine.cli._common import console, shared_data


def cmd_build(args: argparse.Namespace) -> int:
    """`build summaries-dataset`: Edisum-style {input, summary} rows from real dumps, split by time."""
    from collections import Counter

    from revmine.models.summarizer import write_rows
    from revmine.runner.compose import expand_inputs
    from revmine.pipeline.summarize import dedupe, time_split
    from revmine.runner.compose import rows_from_dump

    inputs = args.input or [os.path.join(shared_data(), "wikipedia", name) for name in DEFAULT_SUMMARY_DUMPS]
    paths = expand_inputs(inputs)
    missing = [p for p in paths if not os.path.exists(p)]
    if missing or not paths:
        console.print(f"[red]error:[/red] input not found: {missing[0] if missing else inputs}")
        return 2
    rows = []
    for path in paths:
        got = list(rows_from_dump(path))
        console.print(f"{os.path.basename(path)}: {len(got):,} examples")
        rows.extend(got)
    rows = dedupe(rows)
    train, dev = time_split(rows, args.dev_fraction)
    os.makedirs(args.out, exist_ok=True)
    write_rows(os.path.join(args.out, "train.jsonl"), train)
    write_rows(os.path.join(args.out, "dev.jsonl"), dev)
    stats = {"inputs": [os.path.basename(p) for p in paths], "examples": len(rows), "train": len(train), "dev": len(dev),
             "dev_from": min((r["timestamp"] or 0 for r in dev), default=None),
             "top_train_comments": Counter(r["summary"] for r in train).most_common(20)}
    with open(os.path.join(args.out, "stats.json"), "w", encoding="utf-8") as fh:
        json.dump(stats, fh, indent=2, default=str)
    console.print(f"{len(rows):,} examples: {len(train):,} train, {len(dev):,} dev -> {args.out}")
    print(json.dumps({k: stats[k] for k in ("examples", "train", "dev")}))
    return 0


# Real histories with editor comments. The Anarchism slices are left out: they repeat the full history.
DEFAULT_SUMMARY_DUMPS = ["enwiki-Anarchism-history-2001-2010.xml.lzma", "enwiki-20140102.tiny.xml.gz",
                         "enwiki-20211201-pages-meta-history-AccessibleComputing.xml", "simplewiki-sample-0.11.xml",
                         "commonswiki-sample-0.11.xml", "aawiki-20260101-pages-meta-history.xml.7z"]


def register(sub) -> None:
    b = sub.add_parser("build", allow_abbrev=False, help="build a training dataset from real dumps")
    b.add_argument("what", choices=("summaries-dataset",))
    b.add_argument("--input", nargs="+", metavar="DUMP", help="dumps (default: the histories in ../shared/data/wikipedia)")
    b.add_argument("--out", default=os.path.join("data", "summaries"), help="folder for train.jsonl, dev.jsonl, stats.json")
    b.add_argument("--dev-fraction", type=float, default=0.1, help="the latest edits, by time, that form dev")
    b.set_defaults(func=cmd_build)
