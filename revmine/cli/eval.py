"""`revmine eval edits|align|intent|summaries`: score a stage against gold data; the last line is JSON."""
from __future__ import annotations

import argparse
import json
import os

from revmine.cli._common import console


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
    print(f"unfaithful (names what the edit does not hold): {result['unfaithful']:.1%}; "
          f"copied (6+ words of unchanged article text): {result['copied']:.1%}")
    if args.sample_out:
        with open(args.sample_out, "w", encoding="utf-8") as fh:
            fh.write(sample_markdown(result["examples"], title=f"Edit summaries: 20 random examples from {os.path.basename(args.data)}"))
        console.print(f"sample written to {args.sample_out}")
    print(json.dumps({k: result[k] for k in ("rouge1", "rouge2", "rougeL", "unfaithful", "copied", "n")}))
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


def register(sub) -> None:
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
    e.set_defaults(func=cmd_eval)
