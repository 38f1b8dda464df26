"""Which content edits the language model words better than the describer, on the summaries train split.

The summary stage sends a content edit to the model only where the model beat the describer's plain
content summary (`pipeline/describe.route`). This replays that comparison: N random train rows that
reach the model today, the model's output (or the describer's, where the faithfulness rule rejects it)
against the describer's content summary, ROUGE-L F1 per row against the editor's comment, grouped by the
edit's kind and number of word-level changes. The model trained on these rows, so where it gains nothing
here it cannot gain on new pages. It also scores stricter acceptance rules for the model's output.

    python benchmarks/summary_routing.py --rows 700 [--data data/summaries/train.jsonl]
    python benchmarks/summary_routing.py --kind copyedit --exact-changes   # every copyedit row, by its changes
    python benchmarks/summary_routing.py --rows 2000 --rejection   # every model row; is rejection predictable?
"""
from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import defaultdict

import torch

from revmine.eval.summaries import evidence
from revmine.models.summarizer import Summarizer, load_rows
from revmine.pipeline.describe import VOCABULARY, accept
from revmine.pipeline.summarize import input_sections
from revmine.runner.label import default_summarizer_dir

VERBS = frozenset("added add removed remove changed change fixed fix updated update moved move renamed rename "
                  "reverted revert restored expanded expand rewrote reworded copyedit copyedits linked unlinked".split())


def changes(row: dict) -> int:
    """The edit's number of word-level changes, as the model input lists them ("… | 71 more")."""
    edits = input_sections(row["input"]).get("edits", "")
    if not edits:
        return 0
    more = re.search(r"\|\s*(\d+) more\s*$", edits)
    shown = len([e for e in edits.split(" | ") if e.strip() and not re.fullmatch(r"\d+ more", e.strip())])
    return shown + (int(more.group(1)) if more else 0)


def kind(row: dict) -> str:
    """The edit's kind as the model input states it: expanded, copyedit, ..."""
    return input_sections(row["input"]).get("kind", "?").split()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/summaries/train.jsonl")
    ap.add_argument("--rows", type=int, default=700)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="write the per-row outputs here (.jsonl), to rescore without the model")
    ap.add_argument("--kind", help="only rows of this kind (expanded, copyedit, ...): every such row, unsampled")
    ap.add_argument("--exact-changes", action="store_true", help="group by 0, 1, 2, 3 and > 3 changes")
    ap.add_argument("--rejection", action="store_true",
                    help="also: can the input tell which outputs the faithfulness rule will reject (so the model "
                         "need not write them)? A logistic regression over input features, 5 folds in time order")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from rouge_score import rouge_scorer

    rows = [r for r in load_rows(args.data) if not r.get("describer")]
    if args.kind:
        rows = [r for r in rows if kind(r) == args.kind]
    else:
        rows = random.Random(args.seed).sample(rows, min(args.rows, len(rows)))
    started = time.time()
    raw = Summarizer(default_summarizer_dir()).generate([r["input"] for r in rows])
    print(f"{len(rows)} model rows of {args.data}, generated in {time.time() - started:.0f} s")
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)

    def score(text: str, ref: str) -> float:
        return scorer.score(ref, text)["rougeL"].fmeasure

    systems = {
        "model + fallback (shipped)": lambda r, o: accept(o, evidence(r), r["content"])[0],
        "the same, output must hold an edit verb": lambda r, o: (
            accept(o, evidence(r), r["content"])[0] if VERBS & set(o.lower().split()) else r["content"]),
        "the same, output must use the edit vocabulary for half its words": lambda r, o: (
            accept(o, evidence(r), r["content"])[0]
            if sum(w in VOCABULARY for w in o.lower().split()) * 2 >= len(o.split()) else r["content"]),
        "describer": lambda r, o: r["content"],
    }
    groups: dict = defaultdict(lambda: defaultdict(list))
    per_row = []  # each row's score by system
    for r, o in zip(rows, raw):
        n = changes(r)
        key = f"{kind(r)}, {(n if args.exact_changes else '≤ 3') if n <= 3 else '> 3'} changes"
        per_row.append({name: score(system(r, o), r["summary"]) for name, system in systems.items()})
        for name, s in per_row[-1].items():
            groups[key][name].append(s)
            groups["all"][name].append(s)
    if args.out:
        with open(args.out, "w") as f:
            for r, o in zip(rows, raw):
                f.write(json.dumps({"pair_id": r["pair_id"], "raw": o}) + "\n")
    names = list(systems)
    print("| train rows | n | " + " | ".join(names) + " | gain of the shipped system |")
    print("|---|---:|" + "---:|" * (len(names) + 1))
    for key in sorted(groups, key=lambda k: (k == "all", -len(groups[k][names[0]]))):
        means = [sum(groups[key][n]) / len(groups[key][n]) for n in names]
        print(f"| {key} | {len(groups[key][names[0]])} | " + " | ".join(f"{m:.3f}" for m in means)
              + f" | {means[0] - means[-1]:+.3f} |")
    if args.rejection:
        rejection(rows, raw, [s["model + fallback (shipped)"] for s in per_row], [s["describer"] for s in per_row])


def input_features(row: dict) -> list[float]:
    """What the model input says before generation: kind, sizes, node changes, sections of text."""
    import math

    s = input_sections(row["input"])
    nodes = s.get("nodes", "")
    new, old = len(s.get("new_text", "").split()), len(s.get("old_text", "").split())
    return [kind(row) == "copyedit", kind(row) == "expanded", math.log1p(new), math.log1p(old), math.log1p(max(new - old, 0)),
            nodes.count(";") + bool(nodes), "reference" in nodes, "link" in nodes, "template" in nodes,
            "image" in nodes, s.get("new_text", "").count("<sep>"), changes(row), bool(s.get("section")),
            math.log1p(len(row["input"]))]


def rejection(rows: list, raw: list, shipped_scores: list, describer_scores: list) -> None:
    """Whether the input predicts which outputs the faithfulness rule rejects, and what skipping the model
    where it predicts so would cost; the scores are each row's ROUGE-L of both systems, as the table has them."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from revmine.pipeline.describe import check

    order = sorted(range(len(rows)), key=lambda i: rows[i]["timestamp"])
    x = np.array([input_features(rows[i]) for i in order], dtype=float)
    y = np.array([any(check(raw[i], evidence(rows[i]))) for i in order])
    shipped, describer = np.array(shipped_scores)[order], np.array(describer_scores)[order]
    p = np.zeros(len(y))
    folds = np.array_split(np.arange(len(y)), 5)
    for k, test in enumerate(folds):
        train = np.concatenate([f for j, f in enumerate(folds) if j != k])
        p[test] = LogisticRegression(max_iter=2000).fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    print(f"\nrejected by the faithfulness rule: {y.mean():.3f} of {len(y)}; predicted from the input: "
          f"ROC AUC {roc_auc_score(y, p):.3f} (5 folds in time order)")
    for t in (0.5, 0.6, 0.7):
        skip = p >= t
        print(f"skip the model where p >= {t}: {skip.mean():.3f} of rows, {y[skip].mean() if skip.any() else 0:.3f} "
              f"of them rejected; ROUGE-L {np.where(skip, describer, shipped).mean():.4f} "
              f"(all to the model: {shipped.mean():.4f})")


if __name__ == "__main__":
    main()
