"""Vectorizer settings of the lexical intent models, scored on the whole model's cross-validation folds.

The lexical models read character n-grams (`char_wb` 1–4, min_df 2) and word n-grams (1–2) of the
edited spans (`O: old N: new`). Each variant below changes one setting or the span text, refits both lexical models on every fold's
training part (the helper first, at the shipped C and helper weight) and mixes them with the fold
encoders' kept held-out probabilities (`revmine train intent --cross-validate
benchmarks/intent_cv_kept.json`), so no encoder is trained: about 25 s a variant. Prints, per variant
and taxonomy, the fold mean ± sd of the taxonomy's figure at mixing weights 0 (lexical alone), 0.3, 0.4
(shipped) and 0.5.

    python benchmarks/intent_lexical_grid.py [--cv benchmarks/intent_cv_kept.json] [--data ../shared/data] [VARIANT ...]
"""
from __future__ import annotations

import argparse
import collections
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = {
    "shipped": ({}, {}),
    "char 1-5": ({"ngram_range": (1, 5)}, {}),
    "char 2-5": ({"ngram_range": (2, 5)}, {}),
    "char (across words) 1-4": ({"analyzer": "char"}, {}),
    "char min_df 1": ({"min_df": 1}, {}),
    "char min_df 3": ({"min_df": 3}, {}),
    "word 1-3": ({}, {"ngram_range": (1, 3)}),
    "word 1-1": ({}, {"ngram_range": (1, 1)}),
    "word min_df 2": ({}, {"min_df": 2}),
    # the span text itself: which side of the edit each word came from
    "+ del_/add_ words": ({}, {}, lambda e, base: f"{base(e)} {_one_sided(e)}"),
    "side-marked words": ({}, {}, lambda e, base: " ".join(["O:", *_marked(e.old_text, 0), "N:", *_marked(e.new_text, 1)])),
    "+ side-marked words": ({}, {}, lambda e, base: " ".join([base(e), *_marked(e.old_text, 0), *_marked(e.new_text, 1)])),
}


def _one_sided(e) -> str:
    """The words only one side has (with multiplicity), as del_w and add_w."""
    old, new = collections.Counter(e.old_text.lower().split()), collections.Counter(e.new_text.lower().split())
    return " ".join(["del_" + w for w in (old - new).elements()] + ["add_" + w for w in (new - old).elements()])


def _marked(text: str, side: int) -> list[str]:
    return [w + "\u2080\u2081"[side] for w in text.split()]
WEIGHTS = (0.0, 0.3, 0.4, 0.5)


def main(argv=None) -> int:
    import json

    from revmine.eval.cv import mean_sd
    from revmine.models import lexical
    from revmine.models.intent import TAXONOMIES
    from revmine.training.intent import SELECT_BY, _mixed_reports, fold_lexical, kept_folds

    from intent_calibration import train_dev_pools  # benchmarks/ is on the path when a script here runs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cv", default=os.path.join(HERE, "intent_cv_kept.json"))
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data"))
    ap.add_argument("variants", nargs="*", help=f"of: {', '.join(VARIANTS)} (default: all)")
    args = ap.parse_args(argv)
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}")
    pools = train_dev_pools(args.data)
    if pools is None:
        return 2
    with open(args.cv, encoding="utf-8") as fh:
        choices = json.load(fh)["choices"]
    folds = list(kept_folds(pools, args.cv))
    shipped = dict(lexical.CHAR), dict(lexical.WORD)
    span_text = lexical.span_text
    for name in args.variants or list(VARIANTS):
        char, word, *text = VARIANTS[name]
        lexical.span_text = (lambda e, f=text[0]: f(e, span_text)) if text else span_text
        for settings, base, change in ((lexical.CHAR, shipped[0], char), (lexical.WORD, shipped[1], word)):
            settings.clear()
            settings.update(base, **change)
        scores: dict = {t: {w: [] for w in WEIGHTS} for t in pools}
        for _, train, test, neural in folds:
            models = fold_lexical(train, choices)
            for t in pools:
                for w, report in _mixed_reports(neural[t], models[t], test[t], TAXONOMIES[t], WEIGHTS).items():
                    scores[t][w].append(report[SELECT_BY[t]])
        for t in pools:
            cells = ", ".join(f"{w}: {m:.4f} ± {s:.4f}" for w, (m, s) in
                              ((w, mean_sd(v)) for w, v in scores[t].items()))
            print(f"{name:24} {t:10} {SELECT_BY[t]:11} {len(folds)} folds  {cells}", flush=True)
    lexical.span_text = span_text
    for settings, base in zip((lexical.CHAR, lexical.WORD), shipped):  # the shipped settings again
        settings.clear()
        settings.update(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
