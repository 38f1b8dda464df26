"""Edit-intent gold data (arXivEdits, IteraTeR) as `EditInput`s, and classification metrics.

Every source becomes the same shape the pipeline produces: an old and a new sentence (context) with
character spans marking the edited text on each side, the edit type, and a gold label.
- arXivEdits: each gold edit of `edits-combination-0..2` (token spans into the space-tokenised
  sentences); edits with a null intention are skipped. An edit repeated across combinations with the
  same label counts once.
- IteraTeR sent_level: one label per sentence pair; its changed spans come from revmine's own token
  diff (pipeline.extract), all marked. The `others` label is outside the 5-class taxonomy and skipped.
- IteraTeR doc_level: each edit action, in the sentence around it; the new side is the old sentence
  with the action applied.
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Sequence

from revmine.models.intent_types import ARXIVEDITS, ITERATER, TAXONOMIES, EditInput, Span, coarse  # noqa: F401
from revmine.models.metrics import classification_report  # noqa: F401
from revmine.pipeline.extract import extract_edits, tokenize

def _token_char_spans(tokens: Sequence[str]) -> list[Span]:
    spans, pos = [], 0
    for t in tokens:
        spans.append((pos, pos + len(t)))
        pos += len(t) + 1
    return spans


def load_arxivedits_intents(path: str) -> list[EditInput]:
    from revmine.eval.edits import load_arxivedits

    out, seen = [], set()
    for item in load_arxivedits(path):
        old_tok, new_tok = item["sentence-1"].split(" "), item["sentence-2"].split(" ")
        old_sp, new_sp = _token_char_spans(old_tok), _token_char_spans(new_tok)
        for k in ("edits-combination-0", "edits-combination-1", "edits-combination-2"):
            for e in (item.get(k) or {}).values():
                if not e.get("intention"):
                    continue
                o, n = e.get("sentence-1-token-indices"), e.get("sentence-2-token-indices")
                key = (item["sentence-1"], item["sentence-2"], tuple(o or ()), tuple(n or ()), e["intention"])
                if key in seen:
                    continue
                seen.add(key)
                out.append(EditInput(
                    item["sentence-1"], item["sentence-2"],
                    ((old_sp[o[0]][0], old_sp[o[1] - 1][1]),) if o and o[1] > o[0] else (),
                    ((new_sp[n[0]][0], new_sp[n[1] - 1][1]),) if n and n[1] > n[0] else (),
                    e["type"], e["intention"], str(item.get("arxiv-id", ""))))
    return out


def diff_spans(old: str, new: str) -> tuple[tuple[Span, ...], tuple[Span, ...], str]:
    """Character spans of every changed token run between two sentences (revmine's token diff)."""
    ot, nt = tokenize(old), tokenize(new)
    os_, ns_, types = [], [], set()
    for e in extract_edits([t[0] for t in ot], [t[0] for t in nt]):
        types.add(e.type)
        if e.old:
            os_.append((ot[e.old[0]][1], ot[e.old[1] - 1][2]))
        if e.new:
            ns_.append((nt[e.new[0]][1], nt[e.new[1] - 1][2]))
    typ = types.pop() if len(types) == 1 else ("Mixed" if types else "Substitute")
    return tuple(os_), tuple(ns_), typ


def _read_lines(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_iterater_intents(path: str) -> list[EditInput]:
    """IteraTeR sent_level or doc_level JSON lines (told apart by their fields)."""
    rows = _read_lines(path)
    if not rows:
        return []
    if "before_sent" in rows[0]:
        out = []
        for r in rows:
            if r.get("labels") not in ITERATER:
                continue
            old, new = r["before_sent"].strip(), r["after_sent"].strip()
            o, n, typ = diff_spans(old, new)
            out.append(EditInput(old, new, o, n, typ, r["labels"], str(r.get("doc_id", ""))))
        return out
    if "edit_actions" not in rows[0]:
        raise ValueError(f"{path}: not IteraTeR data (expected sent_level 'before_sent' or doc_level 'edit_actions')")
    out = []
    for r in rows:
        before = r["before_revision"]
        for a in r["edit_actions"]:
            if a.get("major_intent") not in ITERATER:
                continue
            s, e = a["start_char_pos"], a["end_char_pos"]
            lo = max(before.rfind(". ", 0, s) + 2, before.rfind("\n", 0, s) + 1, 0)
            hi_dot, hi_nl = before.find(". ", e), before.find("\n", e)
            hi = min([x for x in (hi_dot + 1 if hi_dot >= 0 else -1, hi_nl) if x >= 0] or [len(before)])
            old = before[lo:hi]
            after = a.get("after") or ""
            new = before[lo:s] + after + before[e:hi]
            typ = {"A": "Insertion", "D": "Deletion", "R": "Substitute"}.get(a["type"], "Substitute")
            out.append(EditInput(old, new, ((s - lo, e - lo),) if e > s else (),
                                 ((s - lo, s - lo + len(after)),) if after else (), typ, a["major_intent"],
                                 str(r.get("doc_id", ""))))
    return out


def load_intents(path: str, taxonomy: str) -> list[EditInput]:
    if taxonomy == "arxivedits":
        return load_arxivedits_intents(path)
    if taxonomy == "iterater":
        return load_iterater_intents(path)
    raise ValueError(f"unknown taxonomy {taxonomy!r} (known: {', '.join(TAXONOMIES)})")


def label_counts(examples: Sequence[EditInput]) -> Counter:
    return Counter(e.label for e in examples)
