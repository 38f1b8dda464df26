"""`revmine train aligner|intent|summarizer|edits`: train a model into a folder (config, safetensors, card)."""
from __future__ import annotations

import argparse
import json
import os

from rich.markup import escape

from revmine.cli._common import at_least, console, local_path, non_negative, numbers_at_least_1, shared_data


def given(args: argparse.Namespace, *names: str) -> dict:
    """The flags the user gave, as keyword arguments: the rest keep the library's defaults."""
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def cmd_train(args: argparse.Namespace) -> int:
    if args.what == "intent":
        return _train_intent(args)
    if args.what == "summarizer":
        return _train_summarizer(args)
    if args.what == "edits":
        return _train_edits(args)
    from revmine.training.aligner import train_aligner

    shared = shared_data()
    args.out = args.out or os.path.join("revmine", "models", "weights", "aligner-crf")
    train = args.iterater_train or os.path.join(shared, "iterater", "doc_level", "train.json")
    dev = args.iterater_dev or os.path.join(shared, "iterater", "doc_level", "dev.json")
    arx = args.arxivedits_train or os.path.join(shared, "arxivedits", "train.json")
    if not os.path.exists(train):
        console.print(f"[red]error:[/red] training data not found: {escape(train)} (set --iterater-train or REVMINE_SHARED_DATA)")
        return 2
    try:
        metrics = train_aligner(args.out, train, arx if os.path.exists(arx) else None,
                                dev if os.path.exists(dev) else None, finetune=args.finetune_encoder,
                                wiki_dumps=args.wiki_dump or (), **given(args, "epochs"))
    except ValueError as exc:  # training data of another shape, named by line
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    console.print(f"aligner saved to {escape(args.out)}")
    print(json.dumps(metrics))
    return 0


def _train_edits(args: argparse.Namespace) -> int:
    from revmine.eval.edits import load_arxivedits
    from revmine.training.edits import train_merger

    shared = shared_data()
    train = args.arxivedits_train or os.path.join(shared, "arxivedits", "train.json")
    dev = args.arxivedits_dev or os.path.join(shared, "arxivedits", "dev.json")
    if not os.path.exists(train):
        console.print(f"[red]error:[/red] training data not found: {escape(train)} (pass --arxivedits-train or set REVMINE_SHARED_DATA)")
        return 2
    out = args.out or os.path.join("revmine", "models", "weights", "span-merge")
    try:
        dev_items = load_arxivedits(dev)[: args.limit] if os.path.exists(dev) else None
        train_items = load_arxivedits(train)[: args.limit]
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    name = lambda p: os.path.relpath(p, shared) if p.startswith(shared) else os.path.basename(p)  # noqa: E731
    metrics = train_merger(out, train_items, dev_items, k=args.folds,
                           sources={"train": name(train), "dev": name(dev) if dev_items else None})
    console.print(f"span-merge model saved to {escape(out)} (chosen by cross-validation: {metrics['chosen']})")
    print(json.dumps({"chosen": metrics["chosen"], "dev": metrics["dev"]}))
    return 0


def _train_summarizer(args: argparse.Namespace) -> int:
    from revmine.eval.summaries import check_rows
    from revmine.models.summarizer import load_rows
    from revmine.training.summarizer import train_summarizer
    from revmine.runner.label import default_summarizer_dir

    data = args.data or os.path.join("data", "summaries")
    train_path, dev_path = os.path.join(data, "train.jsonl"), os.path.join(data, "dev.jsonl")
    if not os.path.exists(train_path):
        console.print(f"[red]error:[/red] {escape(train_path)} not found; make it with `revmine build summaries-dataset --out {escape(data)}`")
        return 2
    out = args.out or default_summarizer_dir()
    try:
        dev = check_rows(load_rows(dev_path), dev_path) if os.path.exists(dev_path) else []
        rows = check_rows(load_rows(train_path), train_path)
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    metrics = train_summarizer(out, rows, dev[: args.limit] if args.limit else dev,
                               sources={"data": data}, **given(args, "epochs", "max_examples", "eval_examples", "lr", "batch"),
                               **({"max_examples": args.limit} if args.limit else {}),
                               init_adapter=args.init_adapter, low_memory=args.low_memory)
    console.print(f"summarizer adapter saved to {escape(out)}")
    print(json.dumps({k: metrics.get(k) for k in ("rouge1", "rouge2", "rougeL", "n", "rougeL_vs_best_baseline")}))
    return 0


def _train_intent(args: argparse.Namespace) -> int:
    from revmine.eval.intent import load_intents
    from revmine.training.intent import fit_lexical, train_intent

    shared = shared_data()
    paths = {"arxivedits": (args.arxivedits_train or os.path.join(shared, "arxivedits", "train.json"),
                            args.arxivedits_dev or os.path.join(shared, "arxivedits", "dev.json")),
             "iterater": (args.iterater_train or os.path.join(shared, "iterater", "sent_level", "train.json"),
                          args.iterater_dev or os.path.join(shared, "iterater", "sent_level", "dev.json"))}
    taxonomies = ["arxivedits", "iterater"] if args.taxonomy in (None, "both") else [args.taxonomy]
    train, dev, sources = {}, {}, {}
    for tax in taxonomies:
        tr, dv = paths[tax]
        if not os.path.exists(tr):
            console.print(f"[red]error:[/red] training data not found: {escape(tr)} (pass --{tax}-train or set REVMINE_SHARED_DATA)")
            return 2
        try:
            train[tax] = load_intents(tr, tax)[: args.limit]
            if os.path.exists(dv):
                dev[tax] = load_intents(dv, tax)[: args.limit]
        except (OSError, ValueError, KeyError) as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}")
            return 2
        sources[tax] = os.path.relpath(tr, shared) if tr.startswith(shared) else os.path.basename(tr)
    out = args.out or os.path.join("revmine", "models", "weights", "intent")
    if args.cross_validate:
        return _cross_validate_intent(args, train, dev, out)
    if args.keep_encoder:
        if not os.path.exists(os.path.join(out, "config.json")):
            console.print(f"[red]error:[/red] --keep-encoder needs a trained model folder at {escape(out)}")
            return 2
        metrics = fit_lexical(out, train, dev or None)
    else:
        metrics = train_intent(out, train, dev or None, sources=sources, **given(args, "epochs", "class_weight_power"))
    console.print(f"intent model saved to {escape(out)}")
    print(json.dumps({t: {k: m[k] for k in ("accuracy", "macro_f1", "weighted_f1", "n")} for t, m in metrics.items()}))
    return 0


def _cross_validate_intent(args: argparse.Namespace, train: dict, dev: dict, model_dir: str) -> int:
    """k encoder trainings over train+dev with the lexical settings of the model in `model_dir` (--out),
    whose card then gets the fold figures."""
    from revmine.training.intent import cross_validate_mixed, lexical_choices, record_whole_model_cv

    if not os.path.exists(os.path.join(model_dir, "config.json")):
        console.print(f"[red]error:[/red] --cross-validate reads the lexical settings of a trained model at {escape(model_dir)}")
        return 2
    pools = {t: train[t] + dev.get(t, []) for t in train}
    only = args.only_folds
    if only and only[-1] > args.folds:
        console.print(f"[red]error:[/red] --only-folds {only[-1]} is past the {args.folds} folds")
        return 2
    result = cross_validate_mixed(pools, args.cross_validate, lexical_choices(model_dir), k=args.folds, only=only,
                                  **given(args, "epochs", "class_weight_power"))
    record_whole_model_cv(model_dir, result, dev if args.choose_mix else None)
    console.print(f"folds written to {escape(args.cross_validate)}; their summary is in the card of {escape(model_dir)}")
    print(json.dumps(result["summary"]))
    return 0


def register(sub) -> None:
    t = sub.add_parser("train", allow_abbrev=False, help="train a model")
    t.add_argument("what", choices=("aligner", "intent", "summarizer", "edits"))
    t.add_argument("--out", type=local_path, help="model folder to write (default: the shipped weights in revmine/models/weights)")
    t.add_argument("--iterater-train", help="IteraTeR train JSON lines (aligner: doc-level; intent: sent-level)")
    t.add_argument("--iterater-dev", help="IteraTeR dev JSON lines (scores go into the model card)")
    t.add_argument("--arxivedits-train", help="arXivEdits train JSON")
    t.add_argument("--arxivedits-dev", help="intent / edits: arXivEdits dev JSON (scores go into the model card)")
    t.add_argument("--folds", type=at_least(2), default=5,
                   help="edits, intent --cross-validate: cross-validation folds over train+dev (default 5)")
    t.add_argument("--cross-validate", metavar="JSON",
                   help="intent: train the whole model on k folds of train+dev (by paper or document) instead, "
                   "each scored at every mixing weight, with the lexical settings of --out; finished folds "
                   "are kept in JSON and skipped when it is run again")
    t.add_argument("--only-folds", metavar="I,J", type=numbers_at_least_1, help="intent --cross-validate: run only these folds (1-based) now")
    t.add_argument("--class-weight-power", type=non_negative,
                   help="intent: the encoder's loss weighs class c by (n_max / n_c) ** POWER (default 0.5; 1 balances "
                   "the classes fully)")
    t.add_argument("--choose-mix", action="store_true",
                   help="intent --cross-validate: set each mixing weight of --out to the folds' best, and score dev at it")
    t.add_argument("--taxonomy", choices=("arxivedits", "iterater", "both"), default="both",
                   help="intent: train one head, or both on a shared encoder (default)")
    t.add_argument("--limit", type=at_least(1), help="intent / summarizer / edits: use only the first N examples (smoke tests)")
    t.add_argument("--data", help="summarizer: folder with train.jsonl and dev.jsonl (default: data/summaries)")
    t.add_argument("--max-examples", type=at_least(1),
                   help="summarizer: cap on training rows, so one epoch fits in an hour on 2 CPU cores")
    t.add_argument("--eval-examples", type=at_least(1), help="summarizer: dev rows scored after training (default 300)")
    t.add_argument("--epochs", type=at_least(1), help="passes over the data (aligner: 40, intent: 4, summarizer: 1; summarizer runs of N > 1 also save epochK/ snapshots)")
    t.add_argument("--batch", type=at_least(1), help="summarizer: examples per step (default 8; training memory grows with "
                   "it, about 6.5 GB at 8 and 2 GB at 2)")
    t.add_argument("--low-memory", action="store_true",
                   help="summarizer: gradient checkpointing (recompute activations in backward: less memory, slower)")
    t.add_argument("--lr", type=non_negative, help="summarizer: peak learning rate (default 1e-3; warm-up then linear decay)")
    t.add_argument("--init-adapter", metavar="DIR",
                   help="summarizer: continue training this adapter folder (another epoch, new data) instead of a fresh one")
    t.add_argument("--wiki-dump", action="append", metavar="DUMP",
                   help="add silver blocks from a real revision dump (repeatable); measured in RESULTS")
    t.add_argument("--keep-encoder", action="store_true",
                   help="intent: keep the encoder in --out and refit only the lexical models and mixing weights")
    t.add_argument("--finetune-encoder", action="store_true",
                   help="LoRA-fine-tune MiniLM on aligned sentence pairs first (adapter saved in the model folder)")
    t.set_defaults(func=cmd_train)
