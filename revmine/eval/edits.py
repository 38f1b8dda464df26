"""Span-edit extraction scored on arXivEdits (Jiang et al., 2022).

An extracted edit is correct when its type, old token span [start, end) and new token span all equal
a gold edit's. Each pair is scored against whichever non-empty gold combination
(`edits-combination-0..2`) gives it the best F1; counts are then summed over pairs (micro P/R/F1).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

from revmine.pipeline.extract import SpanEdit, extract_edits, shipped_merger

EditKey = tuple[str, Optional[tuple[int, int]], Optional[tuple[int, int]]]


def load_arxivedits(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    items = list(data.values()) if isinstance(data, dict) else list(data) if isinstance(data, list) else []
    if not items or not all(isinstance(i, dict) and isinstance(i.get("sentence-1"), str)
                            and isinstance(i.get("sentence-2"), str) for i in items):
        raise ValueError(f"{path}: not arXivEdits sentence-pair data (expected 'sentence-1', 'sentence-2', "
                         "'edits-combination-0..2')")
    return items


def gold_combinations(item: dict) -> list[set[EditKey]]:
    out = []
    for k in ("edits-combination-0", "edits-combination-1", "edits-combination-2"):
        combo = item.get(k) or {}
        if not combo:
            continue
        out.append({(e["type"], _span(e.get("sentence-1-token-indices")), _span(e.get("sentence-2-token-indices")))
                    for e in combo.values()})
    return out


def _span(v) -> Optional[tuple[int, int]]:
    return (int(v[0]), int(v[1])) if v else None


def _key(e: SpanEdit) -> EditKey:
    return e.type, e.old, e.new


@dataclass
class EditScores:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    n_pairs: int = 0
    by_type: dict = field(default_factory=lambda: {t: Counter() for t in ("Insertion", "Deletion", "Substitute")})

    @staticmethod
    def _prf(tp, fp, fn):
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    def summary(self) -> dict:
        p, r, f = self._prf(self.tp, self.fp, self.fn)
        return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "n_pairs": self.n_pairs}

    def per_type(self) -> dict:
        return {t: dict(zip(("precision", "recall", "f1"), (round(x, 4) for x in self._prf(c["tp"], c["fp"], c["fn"]))),
                        n_gold=c["tp"] + c["fn"]) for t, c in self.by_type.items()}


def score_edits(items: Iterable[dict],
                extractor: Optional[Callable[[Sequence[str], Sequence[str]], list[SpanEdit]]] = None) -> EditScores:
    """Micro P/R/F1 of `extractor` (default: the pipeline's, difflib runs joined by the shipped merge model)."""
    if extractor is None:
        merger = shipped_merger()
        extractor = lambda old, new: extract_edits(old, new, merger)  # noqa: E731
    s = EditScores()
    for item in items:
        old, new = item["sentence-1"].split(" "), item["sentence-2"].split(" ")
        pred = {_key(e) for e in extractor(old, new)}
        best = None
        for gold in gold_combinations(item) or [set()]:
            tp = len(pred & gold)
            fp, fn = len(pred) - tp, len(gold) - tp
            f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 1.0
            if best is None or f1 > best[0]:
                best = (f1, tp, fp, fn, gold)
        _, tp, fp, fn, gold = best
        s.tp, s.fp, s.fn, s.n_pairs = s.tp + tp, s.fp + fp, s.fn + fn, s.n_pairs + 1
        for t in s.by_type:
            p_t = {e for e in pred if e[0] == t}
            g_t = {e for e in gold if e[0] == t}
            s.by_type[t]["tp"] += len(p_t & g_t)
            s.by_type[t]["fp"] += len(p_t - g_t)
            s.by_type[t]["fn"] += len(g_t - p_t)
    return s
