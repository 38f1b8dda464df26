"""Command line: `revmine run | query | catalog`. Thin: parses flags and calls the library.

Unknown flags of `revmine run` go to Beam unchanged (`--runner`, `--direct_num_workers`, ...).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Optional, Sequence

from rich.console import Console
from rich.logging import RichHandler

console = Console(stderr=True)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", datefmt="%H:%M:%S",
                        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)], force=True)
    # Beam is chatty at INFO (runner choice, staging); keep its warnings and our progress lines.
    for name in ("apache_beam", "root"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("revmine").setLevel(logging.INFO)
    # Beam warns at import that optional GCP clients are missing; irrelevant unless you use GCP.
    logging.getLogger().addFilter(lambda record: "apitools not found" not in record.getMessage())


def cmd_run(args: argparse.Namespace, beam_args: list[str]) -> int:
    from revmine.config import Config
    from revmine.pipeline.run import UnbalancedBooks, run

    overrides = {"read.wiki": args.wiki} if args.wiki else {}
    config = Config.load(args.config, **overrides)
    if args.runner_preset:
        import yaml

        with open(args.runner_preset, encoding="utf-8") as fh:
            preset = yaml.safe_load(fh) or {}
        beam_args = list(preset.get("runner_args", [])) + beam_args  # flags on the command line win
    try:
        result = run(args.input, args.out, config, beam_args)
    except UnbalancedBooks as exc:
        console.print(f"[red]{exc}[/red]")
        return 3
    except FileNotFoundError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    Console().print(result.accounting.render())
    console.print(f"warehouse: {result.warehouse}  (run {result.run_id}; query with "
                  f"`revmine query {result.warehouse} \"SELECT ...\"`)")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from revmine.warehouse.catalog import query

    try:
        cols, rows = query(args.warehouse, args.sql, args.limit)
    except FileNotFoundError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    except Exception as exc:  # duckdb errors carry the useful message
        console.print(f"[red]query failed:[/red] {exc}")
        return 1
    out = Console(width=max(Console().width, 160))
    if args.format == "json":
        for row in rows:
            print(json.dumps(dict(zip(cols, row)), default=str, ensure_ascii=False))
    elif args.format == "csv":
        import csv

        w = csv.writer(sys.stdout)
        w.writerow(cols)
        w.writerows(rows)
    else:
        from rich.table import Table

        t = Table(show_edge=True, header_style="bold")
        for c in cols:
            t.add_column(c, overflow="fold")
        for row in rows:
            t.add_row(*("NULL" if v is None else str(v) for v in row))
        out.print(t)
        out.print(f"{len(rows)} row(s)")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Print a human-readable breakdown, then one JSON line (the machine-readable result) last."""
    if args.task == "edits":
        from revmine.eval.edits import load_arxivedits, score_edits

        try:
            items = load_arxivedits(args.data)
        except (OSError, ValueError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            return 2
        scores = score_edits(items)
        for typ, row in scores.per_type().items():
            print(f"{typ:<11} precision={row['precision']:.4f} recall={row['recall']:.4f} f1={row['f1']:.4f} "
                  f"gold={row['n_gold']}")
        print(json.dumps(scores.summary()))
        return 0
    if args.task == "align":
        from revmine.config import Config
        from revmine.eval.align import load_iterater_docs, score_alignment
        from revmine.pipeline.beam import build_aligner

        try:
            docs = load_iterater_docs(args.data)
        except (OSError, ValueError, KeyError) as exc:
            console.print(f"[red]error:[/red] {exc} (expected IteraTeR doc-level JSON lines)")
            return 2
        overrides = {"diff.aligner": args.aligner}
        if args.model:
            overrides["diff.aligner_model"] = args.model
        result = score_alignment(docs, build_aligner(Config.load(None, **overrides)))
        print(f"all links:     P={result['precision']:.4f} R={result['recall']:.4f} F1={result['f1']:.4f} "
              f"({result['n_gold_links']} gold)")
        print(f"changed links: P={result['changed_precision']:.4f} R={result['changed_recall']:.4f} "
              f"F1={result['changed_f1']:.4f} ({result['n_changed_gold_links']} gold)")
        print(json.dumps(result))
        return 0
    raise AssertionError(args.task)


def cmd_train(args: argparse.Namespace) -> int:
    from revmine.models.train_aligner import train_aligner

    shared = os.environ.get("REVMINE_SHARED_DATA", os.path.join("..", "shared", "data"))
    train = args.iterater_train or os.path.join(shared, "iterater", "doc_level", "train.json")
    dev = args.iterater_dev or os.path.join(shared, "iterater", "doc_level", "dev.json")
    arx = args.arxivedits_train or os.path.join(shared, "arxivedits", "train.json")
    if not os.path.exists(train):
        console.print(f"[red]error:[/red] training data not found: {train} (set --iterater-train or REVMINE_SHARED_DATA)")
        return 2
    metrics = train_aligner(args.out, train, arx if os.path.exists(arx) else None, dev if os.path.exists(dev) else None,
                            epochs=args.epochs, finetune=args.finetune_encoder, wiki_dumps=args.wiki_dump or ())
    console.print(f"aligner saved to {args.out}")
    print(json.dumps(metrics))
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    from revmine.warehouse.catalog import build_catalog

    console.print(f"catalog: {build_catalog(args.warehouse)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: otherwise Beam's --runner=X would be taken as an abbreviation of --runner-preset.
    p = argparse.ArgumentParser(prog="revmine", description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("-v", "--verbose", action="store_true", help="also show Beam's INFO logs")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", allow_abbrev=False, help="stream dumps through the Beam pipeline into a warehouse",
                       description="Unknown flags are passed to Beam, e.g. --runner=DataflowRunner "
                                   "--direct_num_workers=2 --setup_file=./setup.py")
    r.add_argument("--input", nargs="+", required=True, metavar="DUMP",
                   help="dump files, directories or globs (.xml .bz2 .gz .7z .xz .lzma)")
    r.add_argument("--out", required=True, metavar="WAREHOUSE", help="warehouse directory")
    r.add_argument("--config", help="YAML config (see configs/)")
    r.add_argument("--wiki", help="override the wiki name found in the dump")
    r.add_argument("--runner-preset", metavar="YAML", help="Beam flags from a preset (configs/runners/*.yaml)")

    q = sub.add_parser("query", allow_abbrev=False, help="run SQL against a warehouse and print a table")
    q.add_argument("warehouse")
    q.add_argument("sql")
    q.add_argument("--format", choices=("table", "csv", "json"), default="table")
    q.add_argument("--limit", type=int, default=None, help="fetch at most this many rows")

    e = sub.add_parser("eval", allow_abbrev=False, help="score a stage against gold data; last line is JSON")
    e.add_argument("task", choices=("edits", "align"),
                   help="edits: span-edit extraction on arXivEdits JSON; align: sentence alignment on IteraTeR doc-level")
    e.add_argument("--data", required=True, help="gold file, e.g. ../shared/data/arxivedits/dev.json")
    e.add_argument("--aligner", choices=("neural", "classical"), default="neural", help="align: which aligner")
    e.add_argument("--model", help="align: neural model folder (default: the shipped weights)")

    t = sub.add_parser("train", allow_abbrev=False, help="train a model")
    t.add_argument("what", choices=("aligner",))
    t.add_argument("--out", default=os.path.join("revmine", "models", "weights", "aligner-crf"),
                   help="model folder to write (default: the shipped weights)")
    t.add_argument("--iterater-train", help="IteraTeR doc-level train JSON lines")
    t.add_argument("--iterater-dev", help="IteraTeR doc-level dev JSON lines (scores go into the model card)")
    t.add_argument("--arxivedits-train", help="arXivEdits train JSON")
    t.add_argument("--epochs", type=int, default=40)
    t.add_argument("--wiki-dump", action="append", metavar="DUMP",
                   help="add silver blocks from a real revision dump (repeatable); measured in RESULTS")
    t.add_argument("--finetune-encoder", action="store_true",
                   help="LoRA-fine-tune MiniLM on aligned sentence pairs first (adapter saved in the model folder)")

    c = sub.add_parser("catalog", help="rebuild WAREHOUSE/catalog.duckdb (e.g. after moving the warehouse)")
    c.add_argument("warehouse")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    _setup_logging(args.verbose)
    if args.command == "run":
        return cmd_run(args, rest)
    if args.command == "query":
        return cmd_query(args)
    if args.command == "eval":
        return cmd_eval(args)
    if args.command == "train":
        return cmd_train(args)
    return cmd_catalog(args)


if __name__ == "__main__":
    sys.exit(main())
