"""The intent encoder skipped where both lexical models are sure: labels on the whole model's folds.

Both taxonomies' labels come from one encoder pass, so an edit can skip the encoder only when both
lexical models are sure of it. For each threshold, an edit whose two lexical models' top probabilities
both reach it takes the lexical labels; the rest take the shipped mix. Scored on the kept folds of
`revmine train intent --cross-validate benchmarks/intent_cv_kept.json` (the encoder's held-out
probabilities are kept; both lexical models are refitted per fold, so no encoder is trained: about 30 s).
Prints, per threshold, the fold mean ± sd of each taxonomy's figure and the share of edits that skip the
encoder, and the threshold chosen: the lowest at which no taxonomy's fold mean falls below the
encoder-for-every-edit one. `--write` records it in a model folder (config.json and card) with dev scored again in fp32 (dev
only reports).

`--nested` also scores the selection itself: the mixing weight, and the threshold with it, chosen on four
folds and scored on the fifth.

    python benchmarks/intent_skip.py [--cv benchmarks/intent_cv_kept.json] [--data ../shared/data] [--nested] [--write revmine/models/weights/intent]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None) -> int:
    from revmine.training.intent import record_skip_encoder, skip_encoder_cv

    from intent_calibration import train_dev_pools  # benchmarks/ is on the path when a script here runs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cv", default=os.path.join(HERE, "intent_cv_kept.json"))
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data"))
    ap.add_argument("--write", metavar="MODEL_DIR", help="record the chosen threshold in this intent model folder")
    ap.add_argument("--nested", action="store_true",
                    help="also estimate the selection itself: the mixing weight (and threshold) chosen on four folds, "
                         "scored on the fifth")
    args = ap.parse_args(argv)
    pools = train_dev_pools(args.data)
    if pools is None:
        return 2
    with open(args.cv, encoding="utf-8") as fh:
        choices = json.load(fh)["choices"]
    result = skip_encoder_cv(pools, args.cv, choices)
    if not result["folds"]:
        print(f"{args.cv}: no fold kept its encoder probabilities", file=sys.stderr)
        return 2
    taxes = list(pools)
    print(f"{result['folds']} kept folds of {args.cv}\n")
    print("| lexical models both at least | " + " | ".join(
        f"{t} {result['by_threshold']['None'][t]['metric']}, fold mean ± sd | {t} edits skipping the encoder"
        for t in taxes) + " |")
    print("|---|" + "---:|---:|" * len(taxes))
    for at, row in result["by_threshold"].items():
        cells = [c for t in taxes for c in (f"{row[t]['mean']:.4f} ± {row[t]['sd']:.4f}", f"{row[t]['skipped']:.0%}")]
        print(f"| {'never (the encoder for every edit)' if at == 'None' else at} | " + " | ".join(cells) + " |")
    print(f"\nchosen (the lowest threshold at which no taxonomy's fold mean falls below never's): {result['chosen']}")
    if args.nested:
        nested(pools, args.cv, choices, result["chosen"])
    if args.write:
        from revmine.eval.intent import load_intents

        dev = {"arxivedits": load_intents(os.path.join(args.data, "arxivedits", "dev.json"), "arxivedits"),
               "iterater": load_intents(os.path.join(args.data, "iterater", "sent_level", "dev.json"), "iterater")}
        record_skip_encoder(args.write, result, dev)
        print(f"recorded in {args.write}")
    return 0


def nested(pools: dict, cv: str, choices: dict, chosen) -> None:
    """What the model's selection is worth on a fold that chose nothing. For each fold, the other four
    choose as the shipped model was chosen: each taxonomy's mixing weight by the best fold mean (a tie to
    the weight nearer 0.5), then the threshold by `choose_skip` over both taxonomies. The choice is
    scored on the fold left out. The fold means above are optimistic by the difference."""
    from revmine.eval.cv import mean_sd
    from revmine.models.intent import TAXONOMIES
    from revmine.models.metrics import classification_report
    from revmine.training.intent import SELECT_BY, SKIP_GRID, choose_skip, lexical_sure_folds, skipping_labels

    mixes = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    grid: dict = {}  # (taxonomy, mix, threshold) -> {fold: figure}
    for i, tax, neural, lex, sure, gold in lexical_sure_folds(pools, cv, choices):
        labels = TAXONOMIES[tax]
        for mix in mixes:
            for at in (*SKIP_GRID, None):
                pred, _ = skipping_labels(neural, lex, sure, mix, at)
                grid.setdefault((tax, mix, at), {})[i] = classification_report(
                    gold, [labels[j] for j in pred], labels)[SELECT_BY[tax]]
    folds = sorted(grid[next(iter(grid))])
    got: dict = {}
    for f in folds:
        others = lambda key: round(sum(v for g, v in grid[key].items() if g != f) / (len(folds) - 1), 4)  # noqa: E731
        mix = {t: max(mixes, key=lambda m: (others((t, m, None)), -abs(m - 0.5))) for t in pools}
        at = choose_skip({str(a): {t: {"mean": others((t, mix[t], a))} for t in pools} for a in (*SKIP_GRID, None)})
        for t in pools:
            got.setdefault((t, "mix"), []).append(grid[(t, mix[t], None)][f])
            got.setdefault((t, "both"), []).append(grid[(t, mix[t], at)][f])
    print("\nnested: the selection made on four folds, scored on the fifth (fold mean ± sd)\n")
    print("| taxonomy | shipped choice, on the folds that made it | mix chosen per fold | mix, then threshold, chosen per fold |")
    print("|---|---:|---:|---:|")
    for t in pools:
        shipped = list(grid[(t, float(choices[t]["mix"]), chosen)].values())
        print(f"| {t} | {'%.4f ± %.4f' % mean_sd(shipped)} | {'%.4f ± %.4f' % mean_sd(got[(t, 'mix')])} | "
              f"{'%.4f ± %.4f' % mean_sd(got[(t, 'both')])} |")


if __name__ == "__main__":
    sys.exit(main())
