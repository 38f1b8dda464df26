"""Splitting the extractor's span edits: the ceiling, and a learned choice, on arXivEdits' folds.

Annotators often split what difflib leaves as one run: "Also" -> "In addition ," is a substitution and an
inserted comma; an unrelated rewrite is a deletion and an insertion. For each edit the shipped extractor
(difflib runs joined by the merge model) outputs, the alternatives are: the edit whole; a deletion plus
an insertion; a substitution of the whole old side with a prefix or a suffix of the new side plus an
insertion of the rest (and the same with the sides swapped); and, for sides of equal length, one
substitution per token.

- Ceiling: each edit takes the alternative with the most gold edits less the non-gold ones.
- Learned: a logistic regression scores each alternative (kind, side lengths, similarity of the whole and
  of the substituted part, the split-off part's edge tokens) as "the best one"; the top score is kept, a
  split only when it scores `margin` above the edit whole. 5 folds of train+dev by paper, the merge model refitted on each
  fold's training part; every (C, margin) is printed with its fold F1s.

`--meaning` adds, for each alternative, the cosine of the MiniLM sentence embeddings of the two sides
(of the whole edit, and of the substituted part of a prefix or suffix split), as a value and in 5 bins.

    python benchmarks/span_splits.py [--data ../shared/data/arxivedits] [--meaning]
"""
from __future__ import annotations

import argparse
import os
from collections import defaultdict

from rapidfuzz.distance import Levenshtein

from revmine.eval.cv import group_folds, mean_sd
from revmine.eval.edits import gold_combinations, load_arxivedits
from revmine.pipeline.extract import _PUNCT, SpanEdit, _bin, _fold, _token_class, extract_edits, shipped_merger
from revmine.training.edits import _paper, fit_merger

HERE = os.path.dirname(os.path.abspath(__file__))
CS, MARGINS = (0.3, 1.0, 3.0), (-0.1, 0.0, 0.1)


class Meaning:
    """Unit-length MiniLM embeddings of the sides, computed once per distinct side; off, every cosine is None."""

    def __init__(self, on: bool):
        self.encoder, self.vectors = None, {}
        if on:
            from revmine.models.aligner import SentenceEncoder

            self.encoder = SentenceEncoder()

    def add(self, sides) -> None:
        todo = sorted({" ".join(s) for s in sides if s} - self.vectors.keys())
        if self.encoder is not None and todo:
            import torch

            with torch.no_grad():
                vectors = torch.nn.functional.normalize(self.encoder.encode(todo).float(), dim=-1)
            self.vectors.update(zip(todo, vectors))

    def cos(self, a, b):
        if self.encoder is None:
            return None
        return float((self.vectors[" ".join(a)] * self.vectors[" ".join(b)]).sum()) if a and b else 0.0


MEANING = Meaning(False)


def alternatives(e: SpanEdit) -> list[tuple[str, list[SpanEdit]]]:
    """(kind, edits) for each way of splitting `e`, the edit whole first."""
    out = [("whole", [e])]
    if e.type != "Substitute":
        return out
    (i1, i2), (j1, j2) = e.old, e.new
    out.append(("delins", [SpanEdit("Deletion", e.old, None), SpanEdit("Insertion", None, e.new)]))
    for k in range(j1 + 1, j2):  # the whole old side against part of the new side
        out.append(("prefix", [SpanEdit("Substitute", e.old, (j1, k)), SpanEdit("Insertion", None, (k, j2))]))
        out.append(("suffix", [SpanEdit("Insertion", None, (j1, k)), SpanEdit("Substitute", e.old, (k, j2))]))
    for k in range(i1 + 1, i2):
        out.append(("prefix", [SpanEdit("Substitute", (i1, k), e.new), SpanEdit("Deletion", (k, i2), None)]))
        out.append(("suffix", [SpanEdit("Deletion", (i1, k), None), SpanEdit("Substitute", (k, i2), e.new)]))
    if i2 - i1 == j2 - j1 > 1:
        out.append(("per_token", [SpanEdit("Substitute", (i1 + k, i1 + k + 1), (j1 + k, j1 + k + 1))
                                  for k in range(i2 - i1)]))
    return out


def _sides(fo, fn, e):
    return (fo[e.old[0]:e.old[1]] if e.old else []), (fn[e.new[0]:e.new[1]] if e.new else [])


def _sim(a, b) -> float:
    return Levenshtein.normalized_similarity(" ".join(a), " ".join(b)) if a and b else 0.0


def features(fo, fn, whole: SpanEdit, kind: str, edits: list[SpanEdit], frac: float) -> dict:
    o, n = _sides(fo, fn, whole)
    s = _sim(o, n)
    f = {f"kind={kind}": 1.0, f"kind_type={kind}{whole.type}": 1.0, f"kind_lo={kind}{_bin(len(o))}": 1.0,
         f"kind_ln={kind}{_bin(len(n))}": 1.0, f"kind_heavy={kind}{int(frac > 0.5)}": 1.0, "frac": frac,
         f"kind_sim={kind}{int(s * 5)}": 1.0, f"sim_{kind}": s}
    c = MEANING.cos(o, n)
    if c is not None:
        f.update({f"cos_{kind}": c, f"kind_cos={kind}{int(max(c, 0) * 5)}": 1.0})
    if kind in ("prefix", "suffix"):
        sub = next(x for x in edits if x.type == "Substitute")
        rest = next(x for x in edits if x.type != "Substitute")
        so, sn = _sides(fo, fn, sub)
        r = [t for side in _sides(fo, fn, rest) for t in side]
        f.update({f"{kind}_rest_len={_bin(len(r))}": 1.0, f"{kind}_rest_first={_token_class(r[0])}": 1.0,
                  f"{kind}_rest_last={_token_class(r[-1])}": 1.0, f"{kind}_rest={rest.type}": 1.0,
                  f"{kind}_rest_punct": float(all(_PUNCT.match(t) for t in r)), f"{kind}_sub_sim": _sim(so, sn),
                  f"{kind}_sub_sim={int(_sim(so, sn) * 5)}": 1.0, f"{kind}_sub_len={_bin(len(so))}_{_bin(len(sn))}": 1.0})
        c = MEANING.cos(so, sn)
        if c is not None:
            f.update({f"{kind}_sub_cos": c, f"{kind}_sub_cos={int(max(c, 0) * 5)}": 1.0})
    if kind == "per_token":
        sims = [_sim(*_sides(fo, fn, x)) for x in edits]
        f.update({"per_token_min": min(sims), "per_token_mean": sum(sims) / len(sims)})
    return f


def candidates(item: dict, merger) -> list[list[tuple[list[SpanEdit], dict]]]:
    """For each edit the extractor gives, its alternatives with their features."""
    old, new = item["sentence-1"].split(" "), item["sentence-2"].split(" ")
    fo, fn = _fold(old), _fold(new)
    pred = extract_edits(old, new, merger)
    MEANING.add(side for e in pred for _, edits in alternatives(e) for x in [e, *edits] for side in _sides(fo, fn, x))
    changed = sum(max(e.old[1] - e.old[0] if e.old else 0, e.new[1] - e.new[0] if e.new else 0) for e in pred)
    frac = changed / max(1, len(fo), len(fn))
    return [[(edits, features(fo, fn, e, kind, edits, frac)) for kind, edits in alternatives(e)] for e in pred]


def _key(e: SpanEdit):
    return e.type, e.old, e.new


def best(alts, gold) -> int:
    """The alternative with the most gold edits less non-gold ones; the whole edit on a tie."""
    scores = [sum(1 if _key(x) in gold else -1 for x in edits) for edits, _ in alts]
    return max(range(len(alts)), key=lambda i: (scores[i], i == 0))


def f1(items, preds) -> float:
    """Micro F1 against the best-matching gold combination of each pair (as revmine.eval.edits)."""
    tp = fp = fn = 0
    for item, pred in zip(items, preds):
        keys = {_key(e) for e in pred}
        got = max(((len(keys & g), len(keys - g), len(g - keys)) for g in gold_combinations(item) or [set()]),
                  key=lambda c: 2 * c[0] / (2 * c[0] + c[1] + c[2]) if sum(c) else 1.0)
        tp, fp, fn = tp + got[0], fp + got[1], fn + got[2]
    return 2 * tp / (2 * tp + fp + fn)


def main(argv=None) -> int:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "arxivedits"))
    ap.add_argument("--meaning", action="store_true", help="add the sides' MiniLM cosine to the features")
    args = ap.parse_args(argv)
    global MEANING
    MEANING = Meaning(args.meaning)
    if not os.path.exists(os.path.join(args.data, "train.json")):
        print(f"arXivEdits not found under {args.data}")
        return 2
    pool = load_arxivedits(os.path.join(args.data, "train.json")) + load_arxivedits(os.path.join(args.data, "dev.json"))
    golds = [set().union(*gold_combinations(it)) for it in pool]
    merger = shipped_merger()
    whole, ceiling = [], []
    for item, gold in zip(pool, golds):
        alts = candidates(item, merger)
        whole.append([e for a in alts for e in a[0][0]])
        ceiling.append([e for a in alts for e in a[best(a, gold)][0]])
    print(f"all {len(pool)} pairs, the shipped extractor: {f1(pool, whole):.4f}; "
          f"each edit split as the gold says (ceiling): {f1(pool, ceiling):.4f}")
    scores: dict = defaultdict(list)
    for fold in group_folds(pool, _paper, 5):
        held = set(fold)
        train = [i for i in range(len(pool)) if i not in held]
        fold_merger = fit_merger([pool[i] for i in train], 0.1, 0.5)
        x, y = [], []
        for i in train:
            for alts in candidates(pool[i], fold_merger):
                b = best(alts, golds[i])
                x += [f for _, f in alts]
                y += [int(j == b) for j in range(len(alts))]
        dv = DictVectorizer()
        matrix = dv.fit_transform(x)
        test = {i: candidates(pool[i], fold_merger) for i in fold}
        items = [pool[i] for i in fold]
        scores["the extractor's edits whole"].append(f1(items, [[e for a in test[i] for e in a[0][0]] for i in fold]))
        for c in CS:
            lr = LogisticRegression(C=c, max_iter=5000).fit(matrix, y)
            probs = {i: [lr.predict_proba(dv.transform([f for _, f in a]))[:, 1] for a in test[i]] for i in fold}
            for m in MARGINS:
                preds = [[e for a, p in zip(test[i], probs[i])
                          for e in a[max(range(len(a)), key=lambda k: p[k] - (m if k else 0))][0]] for i in fold]
                scores[f"learned split, C {c}, margin {m}"].append(f1(items, preds))
    for name, v in scores.items():
        mean, sd = mean_sd(v)
        print(f"{name:36} {mean:.4f} ± {sd:.4f}  folds {', '.join(f'{x:.3f}' for x in v)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
