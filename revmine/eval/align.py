"""Sentence alignment scored on IteraTeR doc-level revisions (Du et al., 2022).

Gold alignments are derived, not annotated. IteraTeR gives the before-document's sentences
(`sents_char_pos`) and character-level edit actions (A/D/R with `start_char_pos`/`end_char_pos`
into the before text). Every before character is mapped through the edits into the after text:
unchanged characters map exactly; a replaced span maps proportionally onto its replacement; deleted
characters map nowhere. After-document sentences are split with the pipeline's splitter. Before
sentence i and after sentence j are aligned when at least half of the (non-space) characters of
either one come from the other. That yields 1-1, 1-n (splits), n-1 (merges), and leaves inserted
and deleted sentences unaligned.

Scores are P/R/F1 over alignment links (i, j), once over all links and once over *changed* links only,
those whose two texts differ (identical sentences are trivially aligned by hash).
"""
from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from typing import Optional

from revmine.pipeline.align import Aligner, align_blocks
from revmine.pipeline.clean import text_sentences
from revmine.pipeline.diff import sentence_opcodes


@dataclass
class AlignDoc:
    doc_id: str
    old: list[str]
    new: list[str]
    gold: set[tuple[int, int]]


def load_iterater_docs(path: str) -> list[AlignDoc]:
    """IteraTeR doc-level JSON lines, each with its gold alignment; ValueError naming the first line of
    another shape."""
    docs = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    docs.append(derive_alignment(json.loads(line)))
                except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
                    raise ValueError(f"{path}: line {n} is not an IteraTeR doc-level revision ({type(exc).__name__}: "
                                     f"{exc})") from exc
    return docs


def _char_map(before: str, edits: list[dict]) -> list[Optional[int]]:
    """Position in the after text of every before character (None: deleted)."""
    out: list[Optional[int]] = [None] * len(before)
    delta = 0
    pos = 0
    for e in sorted(edits, key=lambda e: (e["start_char_pos"], e["end_char_pos"])):
        s, t = e["start_char_pos"], e["end_char_pos"]
        for c in range(pos, s):
            out[c] = c + delta
        after_len = len(e.get("after") or "")
        if e["type"] == "R" and t > s and after_len:
            for k, c in enumerate(range(s, t)):
                out[c] = s + delta + int(k * after_len / (t - s))
        delta += after_len - (t - s)
        pos = max(pos, t)
    for c in range(pos, len(before)):
        out[c] = c + delta
    return out


def derive_alignment(doc: dict) -> AlignDoc:
    before, after = doc["before_revision"], doc["after_revision"]
    bounds = list(doc["sents_char_pos"]) + [len(before)]
    old_spans = [(a, b) for a, b in zip(bounds, bounds[1:]) if before[a:b].strip()]
    new_refs = text_sentences(after)
    new_starts = [r.start for r in new_refs]
    cmap = _char_map(before, doc["edit_actions"])
    weights: dict[tuple[int, int], int] = {}
    old_len = []
    for i, (a, b) in enumerate(old_spans):
        n = 0
        for c in range(a, b):
            if before[c].isspace():
                continue
            n += 1
            p = cmap[c]
            if p is None:
                continue
            j = bisect.bisect_right(new_starts, p) - 1
            if j >= 0 and p < new_refs[j].end:
                weights[(i, j)] = weights.get((i, j), 0) + 1
        old_len.append(n)
    new_len = [sum(not ch.isspace() for ch in r.text) for r in new_refs]
    gold = {(i, j) for (i, j), w in weights.items() if w >= 0.5 * old_len[i] or w >= 0.5 * new_len[j]}
    old = [" ".join(before[a:b].split()) for a, b in old_spans]
    return AlignDoc(str(doc.get("doc_id")), old, [r.text for r in new_refs], gold)


def predict_links(aligner: Aligner, old: list[str], new: list[str]) -> set[tuple[int, int]]:
    """Links as the pipeline makes them: identical sentences by hash, the aligner on changed blocks."""
    links = set()
    spans = []
    for tag, i1, i2, j1, j2 in sentence_opcodes(old, new):
        if tag == "equal":
            links.update((i1 + k, j1 + k) for k in range(i2 - i1))
        else:
            spans.append((i1, i2, j1, j2))
    blocks = [(old[i1:i2], new[j1:j2]) for i1, i2, j1, j2 in spans]
    for (i1, _, j1, _), aligned in zip(spans, align_blocks(aligner, blocks)):
        for a in aligned:
            links.update((i1 + x, j1 + y) for x, y in a.pairs)
    return links


def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 4)}


def score_alignment(docs: list[AlignDoc], aligner: Aligner) -> dict:
    c = {"all": [0, 0, 0], "changed": [0, 0, 0]}
    for d in docs:
        pred = predict_links(aligner, d.old, d.new)
        for name, keep in (("all", lambda l: True), ("changed", lambda l: d.old[l[0]] != d.new[l[1]])):
            g = {l for l in d.gold if keep(l)}
            p = {l for l in pred if keep(l)}
            c[name][0] += len(g & p)
            c[name][1] += len(p - g)
            c[name][2] += len(g - p)
    out = {"all": _prf(*c["all"]), "changed": _prf(*c["changed"])}
    return {"precision": out["all"]["precision"], "recall": out["all"]["recall"], "f1": out["all"]["f1"],
            "changed_precision": out["changed"]["precision"], "changed_recall": out["changed"]["recall"],
            "changed_f1": out["changed"]["f1"], "n_docs": len(docs), "n_gold_links": sum(len(d.gold) for d in docs),
            "n_changed_gold_links": c["changed"][0] + c["changed"][2], "aligner": getattr(aligner, "name", "?")}
