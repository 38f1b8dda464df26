"""`revmine build summaries-dataset`: Edisum-style {input, summary} rows from real dumps, split by page and time."""
from __future__ import annotations

import argparse
import json
import os

from rich.markup import escape

from revmine.cli._common import console, fraction, local_path, shared_data


def cmd_build(args: argparse.Namespace) -> int:
    """`build summaries-dataset`: Edisum-style {input, summary} rows from real dumps; dev holds whole pages
    absent from train (`seen: false`) and the latest edits of the others (`seen: true`)."""
    from collections import Counter

    from revmine.models.summarizer import load_rows, write_rows
    from revmine.pipeline.summarize import dedupe, page_split
    from revmine.runner.compose import dataset_rows, expand_inputs

    if args.from_rows:  # another split of rows built before: no dump is read again
        from revmine.eval.summaries import REQUIRED, check_rows

        try:  # splitting by page and time also reads each row's pair id, title and timestamp
            paths, rows = [args.from_rows], check_rows(load_rows(args.from_rows), args.from_rows,
                                                       REQUIRED + ("pair_id", "title", "timestamp"))
        except (OSError, ValueError) as exc:  # missing, not JSON lines, or rows of another shape
            said = str(exc) if args.from_rows in str(exc) else f"{args.from_rows}: {exc}"
            console.print(f"[red]error:[/red] {escape(said)}")
            return 2
    else:
        inputs = args.input or [os.path.join(shared_data(), "wikipedia")]
        paths = expand_inputs(inputs)
        missing = [p for p in paths if not os.path.lexists(p)]  # a broken link is read as an unreadable file
        if missing or not paths:
            console.print(f"[red]error:[/red] input not found: {escape(str(missing[0] if missing else inputs))}")
            return 2
        rows = []
        for path, got in dataset_rows(paths, intents=not args.no_intents):
            console.print(f"{escape(os.path.basename(path))}: {len(got):,} examples")
            rows.extend(got)
        rows = dedupe(rows)
    train, dev = page_split([{k: v for k, v in r.items() if k != "seen"} for r in rows], args.dev_fraction)
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as exc:
        console.print(f"[red]error:[/red] cannot make {escape(args.out)}: {exc.strerror or exc}")
        return 2
    if not args.from_rows:
        write_rows(os.path.join(args.out, "rows.jsonl"), rows)
    write_rows(os.path.join(args.out, "train.jsonl"), train)
    write_rows(os.path.join(args.out, "dev.jsonl"), dev)
    unseen = [r for r in dev if not r["seen"]]
    stats = {"inputs": [os.path.basename(p) for p in paths], "examples": len(rows), "train": len(train), "dev": len(dev),
             "dev_seen": len(dev) - len(unseen), "dev_unseen": len(unseen),
             "unseen_pages": sorted({f"{r['wiki']}:{r['title']}" for r in unseen}),
             "train_pages": len({(r["wiki"], r["page_id"]) for r in train}),
             "dev_from": min((r["timestamp"] or 0 for r in dev if r["seen"]), default=None),
             "top_train_comments": Counter(r["summary"] for r in train).most_common(20)}
    with open(os.path.join(args.out, "stats.json"), "w", encoding="utf-8") as fh:
        json.dump(stats, fh, indent=2, default=str)
    console.print(f"{len(rows):,} examples: {len(train):,} train, {len(dev):,} dev "
                  f"({stats['dev_unseen']:,} on pages absent from train) -> {escape(args.out)}")
    print(json.dumps({k: stats[k] for k in ("examples", "train", "dev", "dev_seen", "dev_unseen")}))
    return 0


def register(sub) -> None:
    b = sub.add_parser("build", allow_abbrev=False, help="build a training dataset from real dumps")
    b.add_argument("what", choices=("summaries-dataset",))
    b.add_argument("--input", nargs="+", action="extend", metavar="DUMP", help="dumps or folders (default: every dump in ../shared/data/wikipedia)")
    b.add_argument("--out", type=local_path, default=os.path.join("data", "summaries"), help="folder for train.jsonl, dev.jsonl, stats.json")
    b.add_argument("--dev-fraction", type=fraction, default=0.1,
                   help="share of rows in dev: whole pages absent from train, then the latest edits of the others")
    b.add_argument("--from-rows", metavar="JSONL", help="split the rows.jsonl of an earlier build again, reading no dump")
    b.add_argument("--no-intents", action="store_true", help="leave the <intents> line out (no intent model run)")
    b.set_defaults(func=cmd_build)
