"""Calibrated and stacked mixing of the intent model's two parts, on the whole model's folds.

The shipped label is argmax(encoder^mix x lexical^(1 - mix)) with one weight per taxonomy chosen on
folds. This compares it with three ways to fit more to the same held-out probabilities: a bias per
class (coordinate ascent on the taxonomy's figure), a prior correction p / prior^a (one parameter), and
a multinomial logistic regression over both parts' log-probabilities (stacking). Each is fitted on the
other kept folds' held-out probabilities and scored on the fold it never saw, so every row is a fold
estimate. The encoder part comes from a kept-probability run (`revmine train intent --cross-validate
benchmarks/intent_cv_kept.json`), the lexical part is refitted per fold; no encoder is trained.

    python benchmarks/intent_calibration.py [--cv benchmarks/intent_cv_kept.json] [--data ../shared/data]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BIAS_GRID = [x / 4 for x in range(-6, 7)]
PRIOR_GRID = (-0.3, -0.15, 0.0, 0.15, 0.3, 0.5)


def train_dev_pools(data: str):
    """Train+dev intent examples per taxonomy, the pools the whole model's folds were cut from; None, with
    a message, when the gold is missing."""
    from revmine.eval.intent import load_intents

    files = {"arxivedits": ("arxivedits/train.json", "arxivedits/dev.json"),
             "iterater": ("iterater/sent_level/train.json", "iterater/sent_level/dev.json")}
    if not all(os.path.exists(os.path.join(data, f)) for pair in files.values() for f in pair):
        print(f"the arXivEdits and IteraTeR gold is not at {data}", file=sys.stderr)
        return None
    return {t: sum((load_intents(os.path.join(data, f), t) for f in pair), []) for t, pair in files.items()}


def main(argv=None) -> int:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from revmine.eval.cv import mean_sd
    from revmine.models.intent import TAXONOMIES
    from revmine.models.metrics import classification_report
    from revmine.training.intent import SELECT_BY, fold_lexical, kept_folds

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cv", default=os.path.join(HERE, "intent_cv_kept.json"))
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data"))
    args = ap.parse_args(argv)
    pools = train_dev_pools(args.data)
    if pools is None:
        return 2
    with open(args.cv, encoding="utf-8") as fh:
        cv = json.load(fh)

    # Held-out log-probabilities of both parts, per kept fold.
    folds: dict[int, dict] = {}
    for i, train, test, neural in kept_folds(pools, args.cv):
        lexical = fold_lexical(train, cv["choices"])
        folds[i] = {t: (np.log(np.clip(neural[t].numpy(), 1e-9, None)),
                        np.log(np.clip(lexical[t].predict_proba(test[t]).numpy(), 1e-9, None)),
                        [e.label for e in test[t]]) for t in pools}
    if len(folds) < 2:
        print(f"{args.cv}: fewer than two folds kept their encoder probabilities", file=sys.stderr)
        return 2

    rows = collections.defaultdict(dict)
    for tax, labels in ((t, TAXONOMIES[t]) for t in pools):
        metric, mix = SELECT_BY[tax], float(cv["choices"][tax]["mix"])

        def score(logp, gold):
            return classification_report(gold, [labels[j] for j in logp.argmax(1)], labels)[metric]

        def part(ids, mixed=True):
            neural = np.concatenate([folds[i][tax][0] for i in ids])
            lexical = np.concatenate([folds[i][tax][1] for i in ids])
            gold = sum((folds[i][tax][2] for i in ids), [])
            return (mix * neural + (1 - mix) * lexical if mixed else np.hstack([neural, lexical])), gold

        for i in folds:
            test, gold = part([i])
            fit, fit_gold = part([j for j in folds if j != i])
            rows[tax].setdefault("product of experts (shipped)", []).append(score(test, gold))
            bias, best = np.zeros(len(labels)), score(fit, fit_gold)
            for _ in range(3):
                for k in range(len(labels)):
                    for g in BIAS_GRID:
                        trial = bias.copy()
                        trial[k] = g
                        if (s := score(fit + trial, fit_gold)) > best + 1e-9:
                            best, bias = s, trial
            rows[tax].setdefault("+ a bias per class", []).append(score(test + bias, gold))
            counts = collections.Counter(fit_gold)
            log_prior = np.log([(counts[lab] + 1) / (len(fit_gold) + len(labels)) for lab in labels])
            a = max(PRIOR_GRID, key=lambda a: (score(fit - a * log_prior, fit_gold), -abs(a)))
            rows[tax].setdefault("+ prior correction p / prior^a", []).append(score(test - a * log_prior, gold))
            x, y = part([j for j in folds if j != i], mixed=False)
            stack = LogisticRegression(C=0.1, max_iter=3000).fit(x, y)
            proba = np.full((len(gold), len(labels)), -np.inf)
            proba[:, [labels.index(c) for c in stack.classes_]] = stack.predict_log_proba(part([i], mixed=False)[0])
            rows[tax].setdefault("stacked logistic regression (C 0.1)", []).append(score(proba, gold))

    print(f"{len(folds)} folds of {args.cv} (folds {', '.join(map(str, folds))}); each fitted on the others\n")
    print("| mixing | " + " | ".join(f"{t} {SELECT_BY[t]}" for t in rows) + " |")
    print("|---|" + "---:|" * len(rows))
    for name in rows[next(iter(rows))]:
        cells = []
        for tax in rows:
            m, s = mean_sd(rows[tax][name])
            cells.append(f"{m:.3f} ± {s:.3f} ({', '.join(f'{v:.3f}' for v in rows[tax][name])})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
