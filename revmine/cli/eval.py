"""`revmine eval edits|align|intent|summaries`: score a stage against gold data; the last line is JSON."""
from __future__ import annotations

import argparse
import json
import os

from rich.markup import escape

from revmine.cli._common import at_least, console, local_path


def cmd_eval(args: argparse.Namespace) -> int:
    try:
        return _eval(args)
    except ValueError as exc:  # a gold or train file of another shape (the loaders name file and row)
        if getattr(args, "verbose", False):
            raise
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2


def _check_cv_train(args: argparse.Namespace) -> None:
    """Read --cv-train first (ValueError if it is of another shape), so a wrong file fails before dev is scored."""
    if not getattr(args, "cv_train", None):
        return
    if args.task == "align":
        from revmine.eval.align import load_iterater_docs

        load_iterater_docs(args.cv_train)
    elif args.task == "intent" and args.taxonomy:
        from revmine.eval.intent import load_intents

        load_intents(args.cv_train, args.taxonomy)
    elif args.task == "edits":
        from revmine.eval.edits import load_arxivedits

        load_arxivedits(args.cv_train)


def _eval(args: argparse.Namespace) -> int:
    """Print a human-readable breakdown, then one JSON line (the machine-readable result) last."""
    _check_cv_train(args)
    if args.task == "edits":
        from revmine.eval.edits import load_arxivedits, score_edits
        from revmine.pipeline.extract import MergeModel, extract_edits, shipped_merger

        try:
            items = load_arxivedits(args.data)
            merger = MergeModel.load(args.model) if args.model else shipped_merger()
        except (OSError, ValueError, KeyError) as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}")
            return 2
        scores = score_edits(items, lambda old, new: extract_edits(old, new, merger))
        for typ, row in scores.per_type().items():
            print(f"{typ:<11} precision={row['precision']:.4f} recall={row['recall']:.4f} f1={row['f1']:.4f} "
                  f"gold={row['n_gold']}")
        result = scores.summary()
        result["rule_f1"] = score_edits(items, extract_edits).summary()["f1"]
        print(f"plain difflib runs, no merge model: f1={result['rule_f1']:.4f}")
        if args.cv_train:
            result.update(_cv_edits(args, items, merger))
        print(json.dumps(result))
        return 0
    if args.task == "align":
        from revmine.config import Config
        from revmine.eval.align import load_iterater_docs, score_alignment
        from revmine.runner.compose import build_aligner

        try:
            docs = load_iterater_docs(args.data)
        except (OSError, ValueError) as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))} (expected IteraTeR doc-level JSON lines)")
            return 2
        overrides = {"diff.aligner": args.aligner}
        if args.model:
            overrides["diff.aligner_model"] = args.model
        result = score_alignment(docs, build_aligner(Config.load(None, **overrides)))
        print(f"all links:     P={result['precision']:.4f} R={result['recall']:.4f} F1={result['f1']:.4f} "
              f"({result['n_gold_links']} gold)")
        print(f"changed links: P={result['changed_precision']:.4f} R={result['changed_recall']:.4f} "
              f"F1={result['changed_f1']:.4f} ({result['n_changed_gold_links']} gold)")
        if args.cv_train:
            result["cv"] = _cv_align(args)
        print(json.dumps(result))
        return 0
    if args.task == "intent":
        return _eval_intent(args)
    if args.task == "summaries":
        return _eval_summaries(args)
    raise AssertionError(args.task)


def _cv_edits(args: argparse.Namespace, dev_items: list, merger) -> dict:
    """Plain difflib runs and the merge model's recipe (refitted on each fold's rest, at the model's C and
    threshold) on k folds of train+dev, split by arXiv paper."""
    from revmine.eval.cv import fmt, mean_sd
    from revmine.eval.edits import load_arxivedits
    from revmine.training.edits import cross_validate_merger

    pool = load_arxivedits(args.cv_train) + dev_items
    settings = ({"cs": (merger.info.get("C", 0.1),), "thresholds": (merger.threshold,)} if merger else {"cs": ()})
    cv = cross_validate_merger(pool, args.folds, **settings)
    print(f"{args.folds}-fold cross-validation over train+dev ({len(pool)} pairs, folds by paper), F1 mean ± sd:")
    print(f"  plain difflib runs: {fmt(cv['rule'])} (folds: {', '.join(f'{f:.3f}' for f in cv['rule'])})")
    out = {"cv_rule_f1_mean": round(mean_sd(cv["rule"])[0], 4), "cv_folds": args.folds}
    for setting, f1s in cv["by_setting"].items():
        print(f"  merge model, {setting}: {fmt(f1s)} (folds: {', '.join(f'{f:.3f}' for f in f1s)})")
        m, s = mean_sd(f1s)
        out.update(cv_f1_mean=round(m, 4), cv_f1_sd=round(s, 4))
    return out


def _cv_align(args: argparse.Namespace) -> dict:
    """The neural aligner's recipe retrained on k folds of train+dev (by document), at each union margin."""
    from revmine.cli._common import shared_data
    from revmine.training.aligner import cross_validate

    arx = os.path.join(shared_data(), "arxivedits", "train.json")
    cv = cross_validate(args.cv_train, args.data, arx if os.path.exists(arx) else None, k=args.folds)
    print(f"{args.folds}-fold cross-validation over train+dev ({cv['documents']} documents, folds by document), "
          f"F1 mean ± sd:")
    print(f"{'union margin':>14} {'all links':>16} {'changed links':>16}")
    for margin, row in cv["by_margin"].items():
        mark = "  <- chosen" if margin == str(cv["chosen_margin"]) else ""
        print(f"{margin:>14} {row['f1']['mean']:.3f} ± {row['f1']['sd']:.3f}    "
              f"{row['changed_f1']['mean']:.3f} ± {row['changed_f1']['sd']:.3f}{mark}")
    for name in ("provenance", "classical"):
        c = cv[name]
        print(f"{name:>14} {c['f1']['mean']:.3f} ± {c['f1']['sd']:.3f}    "
              f"{c['changed_f1']['mean']:.3f} ± {c['changed_f1']['sd']:.3f}")
    return cv


def _summary_rows(path: str) -> list[dict]:
    """A prepared split (JSON lines from `build summaries-dataset`) or a dump, turned into rows."""
    from revmine.models.summarizer import load_rows
    from revmine.pipeline.summarize import dedupe
    from revmine.runner.compose import dataset_rows

    if path.endswith((".jsonl", ".json")):
        return load_rows(path)
    return dedupe(row for _, rows in dataset_rows([path]) for row in rows)  # the inputs the adapter was trained on


def _eval_summaries(args: argparse.Namespace) -> int:
    from revmine.eval.summaries import SYSTEM, check_rows, evaluate, sample_markdown
    from revmine.models.summarizer import Summarizer, load_rows
    from revmine.runner.label import default_summarizer_dir

    model_dir = args.model or default_summarizer_dir()
    if not os.path.exists(os.path.join(model_dir, "summarizer.json")):
        console.print(f"[red]error:[/red] no summarizer at {escape(model_dir)}; train one with `revmine train summarizer`")
        return 2
    train_path = args.train or os.path.join(os.path.dirname(args.data), "train.jsonl")
    try:
        rows = check_rows(_summary_rows(args.data), args.data)
        train = check_rows(load_rows(train_path), train_path) if os.path.exists(train_path) else []
    except (OSError, ValueError, KeyError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    if args.limit:
        rows = rows[: args.limit]
    if not rows:
        console.print(f"[red]error:[/red] {escape(args.data)} has no pairs with a usable human comment")
        return 2
    if not train:
        console.print(f"[yellow]warning:[/yellow] no training split at {escape(train_path)}: the most-frequent and retrieval "
                      "baselines have nothing to draw on, and every page counts as unseen")
    pages = {(r["wiki"], r["page_id"]) for r in train}
    rows = [dict(r, seen=(r["wiki"], r["page_id"]) in pages) for r in rows]  # seen: the page is in train
    summarizer = Summarizer(model_dir)
    if args.num_beams:  # decoding is the adapter's setting; this measures another without retraining
        summarizer.config.num_beams = args.num_beams
    result = evaluate(summarizer, rows, train)
    for subset, block in result["subsets"].items():
        print(f"{subset} pages (n={result['n'][subset]}){'  <- pages absent from train' if subset == 'unseen' else ''}")
        print(f"  {'system':<42} {'ROUGE-1':>8} {'ROUGE-2':>8} {'ROUGE-L':>8} {'R-Lsum':>8} {'BLEU-4':>8}")
        for name, sc in block["systems"].items():
            print(f"  {name:<42} {sc['rouge1']:>8.4f} {sc['rouge2']:>8.4f} {sc['rougeL']:>8.4f} "
                  f"{sc['rougeLsum']:>8.4f} {sc['bleu4']:>8.4f}")
        print(f"  revmine ROUGE-L against the best baseline ({block['best_baseline']}): "
              f"{block['rougeL_vs_best_baseline']}x; the model wrote {block['model_share']:.1%} of the summaries")
        for name, f in block["faithfulness"].items():
            print(f"  {name}: unfaithful (names what the edit does not hold) {f['unfaithful']:.1%}, "
                  f"copied (6+ words of unchanged article text) {f['copied']:.1%}")
    if args.sample_out:
        unseen = [e for e in result["examples"] if not e["seen"]] or result["examples"]
        which = "pages absent from train" if unseen is not result["examples"] else "dev"
        with open(args.sample_out, "w", encoding="utf-8") as fh:
            some = "20 random examples" if len(unseen) > 20 else f"all {len(unseen)} examples"
            fh.write(sample_markdown(unseen, title=f"Edit summaries: {some} from {which} "
                                                    f"({os.path.basename(args.data)})"))
        console.print(f"sample written to {escape(args.sample_out)}")
    key = "unseen" if "unseen" in result["subsets"] else "all"
    block = result["subsets"][key]
    print(json.dumps({"subset": key, "n": result["n"][key], **block["systems"][SYSTEM],
                      "rougeL_vs_best_baseline": block["rougeL_vs_best_baseline"], **block["faithfulness"][SYSTEM]}))
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
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    model_dir = args.model or default_intent_dir()
    if not os.path.exists(os.path.join(model_dir, "heads.safetensors")):
        console.print(f"[red]error:[/red] no intent model at {escape(model_dir)}; train one with `revmine train intent`")
        return 2
    clf = IntentClassifier(model_dir)
    if args.taxonomy not in clf.taxonomies:
        console.print(f"[red]error:[/red] {escape(model_dir)} has no {args.taxonomy} head (it has {escape(str(clf.taxonomies))})")
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
    if args.cv_train:
        result["cv_lexical"] = _cv_intent(args, examples, model_dir)
    print(json.dumps(result))
    return 0


def _cv_intent(args: argparse.Namespace, dev_examples: list, model_dir: str) -> dict:
    """The lexical intent model on k folds of train+dev (by document or paper), for each C, then with the
    model folder's helper (the other taxonomy's lexical model) where this taxonomy takes one."""
    from revmine.eval.intent import load_intents
    from revmine.models.lexical import LexicalIntent
    from revmine.training.intent import HELPERS, cross_validate_lexical

    pool = load_intents(args.cv_train, args.taxonomy) + dev_examples
    name = HELPERS.get(args.taxonomy)
    helper = LexicalIntent.load(model_dir, name) if name and LexicalIntent.exists(model_dir, name) else None
    cv = cross_validate_lexical(pool, args.taxonomy, k=args.folds, helper=helper, helper_name=name if helper else None)
    print(f"lexical model alone, {args.folds}-fold cross-validation over train+dev ({len(pool)} edits, folds by "
          f"{'paper' if args.taxonomy == 'arxivedits' else 'document'}), {cv['metric']} mean ± sd:")

    def show(label: str, row: dict, chosen: bool) -> None:
        mark = "  <- chosen" if chosen else ""
        print(f"  {label:<22} {row['mean']:.3f} ± {row['sd']:.3f} (folds: {', '.join(f'{x:.3f}' for x in row['folds'])}){mark}")

    for c, row in cv["by_C"].items():
        show(f"C={c}", row, c == str(cv["chosen_C"]) and not cv.get("chosen_helper_weight"))
    for w, row in cv.get("helper_cv", {}).items():
        if float(w):
            show(f"+ {name} x{w}", row, float(w) == cv["chosen_helper_weight"])
    return cv


def register(sub) -> None:
    e = sub.add_parser("eval", allow_abbrev=False, help="score a stage against gold data; last line is JSON")
    e.add_argument("task", choices=("edits", "align", "intent", "summaries"),
                   help="edits: span-edit extraction on arXivEdits JSON; align: sentence alignment on IteraTeR "
                        "doc-level; intent: edit intents on arXivEdits JSON or IteraTeR sent/doc-level; "
                        "summaries: ROUGE against editors' comments on a dump or a prepared .jsonl split")
    e.add_argument("--data", required=True, help="gold file, e.g. ../shared/data/arxivedits/dev.json")
    e.add_argument("--aligner", choices=("neural", "provenance", "classical"), default="neural",
                   help="align: which aligner")
    e.add_argument("--model", help="align / intent: model folder (default: the shipped weights)")
    e.add_argument("--taxonomy", choices=("arxivedits", "iterater"), help="intent: which label set to score")
    e.add_argument("--train", help="summaries: train split, for the most-frequent and retrieval baselines and to tell "
                   "seen pages from unseen (default: train.jsonl beside --data)")
    e.add_argument("--sample-out", type=local_path, metavar="MD", help="summaries: write 20 random examples side by side here")
    e.add_argument("--limit", type=at_least(1), help="summaries: score only the first N rows")
    e.add_argument("--num-beams", type=at_least(1), help="summaries: beam width for this run (default: the adapter's)")
    e.add_argument("--cv-train", metavar="JSON", help="edits: also score k folds of this train file plus --data, "
                   "split by paper (the fold mean ± sd); align: also retrain the neural aligner on k folds of "
                   "this IteraTeR doc-level train file plus --data, split by document, and score each fold; intent: "
                   "the lexical model on k folds of this train file plus --data, for each C")
    e.add_argument("--folds", type=at_least(2), default=5, help="folds for --cv-train (default 5)")
    e.set_defaults(func=cmd_eval)
