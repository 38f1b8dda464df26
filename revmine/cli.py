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
from rich.markup import escape

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
    from revmine.runner.run import UnbalancedBooks, run
    from revmine.schemas.names import check_wiki_name
    from revmine.warehouse.lock import WarehouseBusy

    overrides = {"read.wiki": args.wiki} if args.wiki else {}
    try:
        if args.wiki:
            check_wiki_name(args.wiki, "--wiki")
        config = Config.load(args.config, **overrides)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    if args.runner_preset:
        import yaml

        with open(args.runner_preset, encoding="utf-8") as fh:
            preset = yaml.safe_load(fh) or {}
        beam_args = list(preset.get("runner_args", [])) + beam_args  # flags on the command line win
    try:
        result = run(args.input, args.out, config, beam_args, wait=args.wait)
    except UnbalancedBooks as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        return 3
    except (FileNotFoundError, WarehouseBusy) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    for skipped, first in result.duplicates.items():
        console.print(f"[yellow]{escape(skipped)}[/yellow] has the same bytes as {escape(first)}: read once")
    Console().print(result.accounting.render())
    console.print(f"warehouse: {result.warehouse}  (run {result.run_id}; query with "
                  f"`revmine query {result.warehouse} \"SELECT ...\"`)")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from revmine.warehouse.catalog import QueryRefused, query

    try:
        cols, rows = query(args.warehouse, args.sql, args.limit)
    except (FileNotFoundError, QueryRefused) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    except Exception as exc:  # duckdb errors carry the useful message
        console.print(f"[red]query failed:[/red] {escape(str(exc))}")
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
        from rich.text import Text

        t = Table(show_edge=True, header_style="bold")
        for c in cols:
            t.add_column(Text(c), overflow="fold")
        for row in rows:
            # Text, not str: stored values are shown as stored, never read as rich markup or :emoji: codes.
            t.add_row(*(Text("NULL" if v is None else str(v)) for v in row))
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
        from revmine.runner.compose import build_aligner

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
    if args.task == "intent":
        return _eval_intent(args)
    if args.task == "summaries":
        return _eval_summaries(args)
    raise AssertionError(args.task)


def _summary_rows(path: str) -> list[dict]:
    """A prepared split (JSON lines from `build summaries-dataset`) or a dump, turned into rows."""
    from revmine.models.summarizer import load_rows
    from revmine.pipeline.summarize import dedupe
    from revmine.runner.compose import rows_from_dump

    if path.endswith((".jsonl", ".json")):
        return load_rows(path)
    return dedupe(rows_from_dump(path))


def _eval_summaries(args: argparse.Namespace) -> int:
    from collections import Counter

    from revmine.eval.summaries import evaluate, sample_markdown
    from revmine.models.summarizer import Summarizer, load_rows
    from revmine.runner.label import default_summarizer_dir

    model_dir = args.model or default_summarizer_dir()
    if not os.path.exists(os.path.join(model_dir, "summarizer.json")):
        console.print(f"[red]error:[/red] no summarizer at {model_dir}; train one with `revmine train summarizer`")
        return 2
    try:
        rows = _summary_rows(args.data)
    except (OSError, ValueError, KeyError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    if args.limit:
        rows = rows[: args.limit]
    if not rows:
        console.print(f"[red]error:[/red] {args.data} has no pairs with a usable human comment")
        return 2
    summarizer = Summarizer(model_dir)
    if args.num_beams:  # decoding is the adapter's setting; this measures another without retraining
        summarizer.config.num_beams = args.num_beams
    most_frequent = summarizer.config.most_frequent_train_comment
    if args.train:
        most_frequent = Counter(r["summary"] for r in load_rows(args.train)).most_common(1)[0][0]
    result = evaluate(summarizer, rows, most_frequent)
    for name, s in result["systems"].items():
        print(f"{name:<30} rouge1={s['rouge1']:.4f} rouge2={s['rouge2']:.4f} rougeL={s['rougeL']:.4f}")
    print(f"ROUGE-L against the better baseline: {result['rougeL_vs_best_baseline']}x (n={result['n']})")
    if args.sample_out:
        with open(args.sample_out, "w", encoding="utf-8") as fh:
            fh.write(sample_markdown(result["examples"], title=f"Edit summaries: 20 random examples from {os.path.basename(args.data)}"))
        console.print(f"sample written to {args.sample_out}")
    print(json.dumps({k: result[k] for k in ("rouge1", "rouge2", "rougeL", "n")}))
    return 0


def _eval_intent(args: argparse.Namespace) -> int:
    from revmine.eval.intent import TAXONOMIES, classification_report, coarse, load_intents
    from revmine.models.intent import IntentClassifier
    from revmine.runner.label import default_intent_dir

    if not args.taxonomy:
        console.print("[red]error:[/red] eval intent needs --taxonomy arxivedits|iterater")
        return 2
    try:
        examples = load_intents(args.data, args.taxonomy)
    except (OSError, ValueError, KeyError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    model_dir = args.model or default_intent_dir()
    if not os.path.exists(os.path.join(model_dir, "heads.safetensors")):
        console.print(f"[red]error:[/red] no intent model at {model_dir}; train one with `revmine train intent`")
        return 2
    clf = IntentClassifier(model_dir)
    if args.taxonomy not in clf.taxonomies:
        console.print(f"[red]error:[/red] {model_dir} has no {args.taxonomy} head (it has {clf.taxonomies})")
        return 2
    gold = [e.label for e in examples]
    pred = [lab for lab, _ in clf.predict(examples)[args.taxonomy]]
    report = classification_report(gold, pred, TAXONOMIES[args.taxonomy])
    print(f"{'class':<34} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>7}")
    for lab, r in report["per_class"].items():
        print(f"{lab:<34} {r['precision']:>9.4f} {r['recall']:>7.4f} {r['f1']:>7.4f} {r['support']:>7}")
    result = {k: round(report[k], 4) for k in ("accuracy", "macro_f1", "weighted_f1")}
    if args.taxonomy == "arxivedits":
        labels = sorted({coarse(lab) for lab in TAXONOMIES["arxivedits"]})
        c = classification_report([coarse(g) for g in gold], [coarse(p) for p in pred], labels)
        print(f"coarse 4-way ({', '.join(labels)}): accuracy={c['accuracy']:.4f} macro_f1={c['macro_f1']:.4f} "
              f"weighted_f1={c['weighted_f1']:.4f}")
        result.update(coarse_macro_f1=round(c["macro_f1"], 4), coarse_weighted_f1=round(c["weighted_f1"], 4))
    result["n"] = report["n"]
    print(json.dumps(result))
    return 0


def _shared() -> str:
    return os.environ.get("REVMINE_SHARED_DATA", os.path.join("..", "shared", "data"))


def cmd_build(args: argparse.Namespace) -> int:
    """`build summaries-dataset`: Edisum-style {input, summary} rows from real dumps, split by time."""
    from collections import Counter

    from revmine.models.summarizer import write_rows
    from revmine.runner.compose import expand_inputs
    from revmine.pipeline.summarize import dedupe, time_split
    from revmine.runner.compose import rows_from_dump

    inputs = args.input or [os.path.join(_shared(), "wikipedia", name) for name in DEFAULT_SUMMARY_DUMPS]
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


def cmd_train(args: argparse.Namespace) -> int:
    if args.what == "intent":
        return _train_intent(args)
    if args.what == "summarizer":
        return _train_summarizer(args)
    from revmine.training.aligner import train_aligner

    shared = _shared()
    args.out = args.out or os.path.join("revmine", "models", "weights", "aligner-crf")
    train = args.iterater_train or os.path.join(shared, "iterater", "doc_level", "train.json")
    dev = args.iterater_dev or os.path.join(shared, "iterater", "doc_level", "dev.json")
    arx = args.arxivedits_train or os.path.join(shared, "arxivedits", "train.json")
    if not os.path.exists(train):
        console.print(f"[red]error:[/red] training data not found: {train} (set --iterater-train or REVMINE_SHARED_DATA)")
        return 2
    metrics = train_aligner(args.out, train, arx if os.path.exists(arx) else None, dev if os.path.exists(dev) else None,
                            epochs=args.epochs or 40, finetune=args.finetune_encoder, wiki_dumps=args.wiki_dump or ())
    console.print(f"aligner saved to {args.out}")
    print(json.dumps(metrics))
    return 0


def _train_summarizer(args: argparse.Namespace) -> int:
    from revmine.models.summarizer import load_rows, train_summarizer
    from revmine.runner.label import default_summarizer_dir

    data = args.data or os.path.join("data", "summaries")
    train_path, dev_path = os.path.join(data, "train.jsonl"), os.path.join(data, "dev.jsonl")
    if not os.path.exists(train_path):
        console.print(f"[red]error:[/red] {train_path} not found; make it with `revmine build summaries-dataset --out {data}`")
        return 2
    out = args.out or default_summarizer_dir()
    dev = load_rows(dev_path) if os.path.exists(dev_path) else []
    metrics = train_summarizer(out, load_rows(train_path), dev[: args.limit] if args.limit else dev,
                               epochs=args.epochs or 1, max_examples=args.limit or args.max_examples,
                               eval_examples=args.eval_examples, sources={"data": data}, lr=args.lr or 1e-3,
                               init_adapter=args.init_adapter)
    console.print(f"summarizer adapter saved to {out}")
    print(json.dumps({k: metrics.get(k) for k in ("rouge1", "rouge2", "rougeL", "n", "rougeL_vs_best_baseline")}))
    return 0


def _train_intent(args: argparse.Namespace) -> int:
    from revmine.eval.intent import load_intents
    from revmine.models.intent import fit_lexical, train_intent

    shared = _shared()
    paths = {"arxivedits": (args.arxivedits_train or os.path.join(shared, "arxivedits", "train.json"),
                            args.arxivedits_dev or os.path.join(shared, "arxivedits", "dev.json")),
             "iterater": (args.iterater_train or os.path.join(shared, "iterater", "sent_level", "train.json"),
                          args.iterater_dev or os.path.join(shared, "iterater", "sent_level", "dev.json"))}
    taxonomies = ["arxivedits", "iterater"] if args.taxonomy in (None, "both") else [args.taxonomy]
    train, dev, sources = {}, {}, {}
    for tax in taxonomies:
        tr, dv = paths[tax]
        if not os.path.exists(tr):
            console.print(f"[red]error:[/red] training data not found: {tr} (pass --{tax}-train or set REVMINE_SHARED_DATA)")
            return 2
        train[tax] = load_intents(tr, tax)[: args.limit]
        sources[tax] = os.path.relpath(tr, shared) if tr.startswith(shared) else os.path.basename(tr)
        if os.path.exists(dv):
            dev[tax] = load_intents(dv, tax)[: args.limit]
    out = args.out or os.path.join("revmine", "models", "weights", "intent")
    if args.keep_encoder:
        if not os.path.exists(os.path.join(out, "config.json")):
            console.print(f"[red]error:[/red] --keep-encoder needs a trained model folder at {out}")
            return 2
        metrics = fit_lexical(out, train, dev or None)
    else:
        metrics = train_intent(out, train, dev or None, epochs=args.epochs or 4, sources=sources)
    console.print(f"intent model saved to {out}")
    print(json.dumps({t: {k: m[k] for k in ("accuracy", "macro_f1", "weighted_f1", "n")} for t, m in metrics.items()}))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from revmine.warehouse import export

    try:
        if args.what == "hub":
            counts = export.export_hub(args.warehouse, args.out, args.repo_id, force=args.force)
            console.print(f"Hub dataset folder written to {args.out}: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
            if args.push:
                if not args.repo_id:
                    console.print("[red]error:[/red] --push needs --repo-id")
                    return 2
                console.print(f"pushed: {export.push_hub(args.out, args.repo_id)}")
            print(json.dumps(counts))
            return 0
        counts = export.export_training(args.warehouse, args.out, args.format, force=args.force)
    except (FileNotFoundError, PermissionError, ValueError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    console.print(f"{args.format} training set written to {args.out}")
    print(json.dumps(counts))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from revmine.warehouse.report import build_report

    try:
        path = build_report(args.warehouse, args.out)
    except FileNotFoundError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    console.print(f"report: {path}")
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from revmine.jobs.tasks import check_job_params, run_jobs

    from revmine.config import Config

    try:
        check_job_params(args.wiki, args.date)
        Config.load(args.config)  # a bad config fails here, in one line, not inside a luigi task
    except ValueError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    ok = run_jobs(args.wiki, args.date, workers=args.workers, scheduler_host=args.scheduler_host,
                  warehouse=args.warehouse, dumps_dir=args.dumps_dir, base_url=args.base_url, job=args.job,
                  config=args.config, runner_args=args.runner_args, export_dir=args.export_dir)
    return 0 if ok else 1


def cmd_catalog(args: argparse.Namespace) -> int:
    from revmine.warehouse.catalog import build_catalog
    from revmine.warehouse.lock import warehouse_lock

    if not os.path.isdir(args.warehouse):
        console.print(f"[red]error:[/red] {escape(args.warehouse)} is not a folder")
        return 2
    with warehouse_lock(args.warehouse, wait=True, command="revmine catalog"):
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
    r.add_argument("--wait", action="store_true",
                   help="if another run is writing to the warehouse, wait for it instead of failing at once")

    q = sub.add_parser("query", allow_abbrev=False, help="run SQL against a warehouse and print a table")
    q.add_argument("warehouse")
    q.add_argument("sql")
    q.add_argument("--format", choices=("table", "csv", "json"), default="table")
    q.add_argument("--limit", type=int, default=None, help="fetch at most this many rows")

    e = sub.add_parser("eval", allow_abbrev=False, help="score a stage against gold data; last line is JSON")
    e.add_argument("task", choices=("edits", "align", "intent", "summaries"),
                   help="edits: span-edit extraction on arXivEdits JSON; align: sentence alignment on IteraTeR "
                        "doc-level; intent: edit intents on arXivEdits JSON or IteraTeR sent/doc-level; "
                        "summaries: ROUGE against editors' comments on a dump or a prepared .jsonl split")
    e.add_argument("--data", required=True, help="gold file, e.g. ../shared/data/arxivedits/dev.json")
    e.add_argument("--aligner", choices=("neural", "classical"), default="neural", help="align: which aligner")
    e.add_argument("--model", help="align / intent: model folder (default: the shipped weights)")
    e.add_argument("--taxonomy", choices=("arxivedits", "iterater"), help="intent: which label set to score")
    e.add_argument("--train", help="summaries: train split, for the most-frequent-comment baseline "
                                   "(default: the one recorded with the model)")
    e.add_argument("--sample-out", metavar="MD", help="summaries: write 20 random examples side by side here")
    e.add_argument("--limit", type=int, help="summaries: score only the first N rows")
    e.add_argument("--num-beams", type=int, help="summaries: beam width for this run (default: the adapter's)")

    t = sub.add_parser("train", allow_abbrev=False, help="train a model")
    t.add_argument("what", choices=("aligner", "intent", "summarizer"))
    t.add_argument("--out", help="model folder to write (default: the shipped weights in revmine/models/weights)")
    t.add_argument("--iterater-train", help="IteraTeR train JSON lines (aligner: doc-level; intent: sent-level)")
    t.add_argument("--iterater-dev", help="IteraTeR dev JSON lines (scores go into the model card)")
    t.add_argument("--arxivedits-train", help="arXivEdits train JSON")
    t.add_argument("--arxivedits-dev", help="intent: arXivEdits dev JSON (scores go into the model card)")
    t.add_argument("--taxonomy", choices=("arxivedits", "iterater", "both"), default="both",
                   help="intent: train one head, or both on a shared encoder (default)")
    t.add_argument("--limit", type=int, help="intent / summarizer: use only the first N examples (smoke tests)")
    t.add_argument("--data", help="summarizer: folder with train.jsonl and dev.jsonl (default: data/summaries)")
    t.add_argument("--max-examples", type=int, default=6000,
                   help="summarizer: cap on training rows, so one epoch fits in an hour on 2 CPU cores")
    t.add_argument("--eval-examples", type=int, default=300, help="summarizer: dev rows scored after training")
    t.add_argument("--epochs", type=int, help="passes over the data (aligner: 40, intent: 4, summarizer: 1; summarizer runs of N > 1 also save epochK/ snapshots)")
    t.add_argument("--lr", type=float, help="summarizer: peak learning rate (default 1e-3; warm-up then linear decay)")
    t.add_argument("--init-adapter", metavar="DIR",
                   help="summarizer: continue training this adapter folder (another epoch, new data) instead of a fresh one")
    t.add_argument("--wiki-dump", action="append", metavar="DUMP",
                   help="add silver blocks from a real revision dump (repeatable); measured in RESULTS")
    t.add_argument("--keep-encoder", action="store_true",
                   help="intent: keep the encoder in --out and refit only the lexical models and mixing weights")
    t.add_argument("--finetune-encoder", action="store_true",
                   help="LoRA-fine-tune MiniLM on aligned sentence pairs first (adapter saved in the model folder)")

    b = sub.add_parser("build", allow_abbrev=False, help="build a training dataset from real dumps")
    b.add_argument("what", choices=("summaries-dataset",))
    b.add_argument("--input", nargs="+", metavar="DUMP", help="dumps (default: the histories in ../shared/data/wikipedia)")
    b.add_argument("--out", default=os.path.join("data", "summaries"), help="folder for train.jsonl, dev.jsonl, stats.json")
    b.add_argument("--dev-fraction", type=float, default=0.1, help="the latest edits, by time, that form dev")

    x = sub.add_parser("export", allow_abbrev=False, help="export a warehouse: Hub dataset folder or training sets")
    x.add_argument("what", choices=("hub", "training"))
    x.add_argument("warehouse")
    x.add_argument("out")
    x.add_argument("--repo-id", help="hub: dataset repo id for the card (and --push)")
    x.add_argument("--push", action="store_true", help="hub: upload with huggingface_hub (token from $HF_TOKEN only)")
    x.add_argument("--format", choices=("coedit", "edisum"), default="coedit", help="training: which format")
    x.add_argument("--force", action="store_true",
                   help="replace OUT even if it holds files that are not an earlier revmine export "
                        "(never the warehouse itself)")

    rp = sub.add_parser("report", allow_abbrev=False, help="HTML page with plots over a warehouse")
    rp.add_argument("warehouse")
    rp.add_argument("--out", required=True, help="folder for index.html and the PNGs")

    j = sub.add_parser("jobs", allow_abbrev=False, help="scheduled, incremental runs per wiki and dump date (luigi)")
    j.add_argument("action", choices=("run",))
    j.add_argument("--wiki", required=True, help="e.g. simplewiki")
    j.add_argument("--date", required=True, help="dump date, e.g. 20261101")
    j.add_argument("--workers", type=int, default=1, help="luigi workers (files processed in parallel)")
    j.add_argument("--scheduler-host", help="use the luigid at this host instead of the local scheduler")
    j.add_argument("--warehouse", help="warehouse directory (default: luigi.cfg [DumpParams] or ./warehouse)")
    j.add_argument("--dumps-dir", help="where fetched dumps are kept (default: ./dumps)")
    j.add_argument("--base-url", help="dump server (default https://dumps.wikimedia.org; file:// works)")
    j.add_argument("--job", help="dumpstatus job whose files to process (default metahistorybz2dump)")
    j.add_argument("--config", help="revmine YAML config for the pipeline")
    j.add_argument("--runner-args", help="Beam flags as one string, e.g. '--runner=DataflowRunner --project=p'")
    j.add_argument("--export-dir", help="write a Hub dataset folder per date under this folder")

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
    if args.command == "build":
        return cmd_build(args)
    if args.command == "export":
        return cmd_export(args)
    if args.command == "report":
        return cmd_report(args)
    if args.command == "jobs":
        return cmd_jobs(args)
    return cmd_catalog(args)


if __name__ == "__main__":
    sys.exit(main())
