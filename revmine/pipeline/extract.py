"""Span-level edits between two aligned token sequences: Insertion, Deletion, Substitute.

The base is difflib's matcher over case-folded tokens: each maximal run of non-matching tokens is one
edit (arXivEdits F1 0.679 ± 0.016 over 5 folds of train+dev, 0.749 dev; case folding was worth +2
points, since annotators treat "Observe" -> "observe" as unchanged). Annotators often join two such
runs across one unchanged word ("decomposition of unity" -> "resolution of identity" is one
substitution), but a blanket merge rule loses more than it gains. So a small linear model
(`MergeModel`, weights in models/weights/span-merge) scores every run and every chain of runs one
token apart, and a dynamic programme keeps the segmentation with the highest expected gain: 0.692 ±
0.017 over the folds (better in each), 0.764 dev. Splitting runs (into a deletion and an insertion,
or at similar tokens) gained nothing across folds (benchmarks/RESULTS.md).
"""
from __future__ import annotations

import functools
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import regex
from rapidfuzz.distance import Levenshtein

from revmine.pipeline.seqdiff import UNSPACED_SCRIPTS, opcodes

# Words, with their combining marks (a Hindi or Thai vowel sign is no \w, and was a token of its own);
# one token per character in scripts written without spaces between words (Han, kana, and with their marks
# Thai, Lao, Khmer, Myanmar, Tibetan), as mwedittypes splits them; otherwise any other non-space
# character. Needs the `regex` package: the standard library has no \p{…} classes. ASCII text, most of
# it, takes the standard library's pattern, which tokenises it the same and three times as fast.
_WORD_CHAR = r"[[\w\p{M}\p{N}]--[%s]]" % UNSPACED_SCRIPTS
_TOKEN = regex.compile(r"(?V1)[%s]\p{M}*|%s+(?:[-'’.]%s+)*|[^\w\s]\p{M}*" % (UNSPACED_SCRIPTS, _WORD_CHAR, _WORD_CHAR))
_ASCII_TOKEN = re.compile(r"\w+(?:[-'.]\w+)*|[^\w\s]")


def _tokens(text: str):
    return (_ASCII_TOKEN if text.isascii() else _TOKEN).finditer(text)


_PUNCT = re.compile(r"^[^\w\s]+$")
# Words whose presence at an edge or in a gap tells merges apart; other tokens fall into coarse classes.
_FUNCTION_WORDS = frozenset("the a an of in on to for with by and or as at from is are was were be been this that "
                            "these which it its we our can not".split())
# The merge model ships with the other weights (package data of revmine.models); reading a file is no import.
SHIPPED_MERGER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", "weights",
                              "span-merge")


@dataclass(frozen=True)
class SpanEdit:
    type: str  # Insertion | Deletion | Substitute
    old: Optional[tuple[int, int]]  # token span [start, end) in the old sequence
    new: Optional[tuple[int, int]]


def count_tokens(text: str) -> int:
    return sum(1 for _ in _tokens(text))


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Word and punctuation tokens with character offsets."""
    return [(m.group(), m.start(), m.end()) for m in _tokens(text)]


def char_span(tokens: Sequence[tuple[str, int, int]],
              span: Optional[tuple[int, int]]) -> tuple[Optional[int], Optional[int]]:
    """Character [start, end) of the token span [i, j) over `tokenize` output; (None, None) for no span."""
    if not span:
        return None, None
    return tokens[span[0]][1], tokens[span[1] - 1][2]


def _fold(tokens: Sequence[str]) -> list[str]:
    folded = " ".join(tokens).casefold().split(" ")
    return folded if len(folded) == len(tokens) else [t.casefold() for t in tokens]


@dataclass(frozen=True)
class MergeModel:
    """Logistic regression over `unit_features`: the probability that a candidate edit is a gold edit.

    `extract_edits` keeps the candidates that maximise the sum of (probability - threshold)."""
    weights: Mapping[str, float]
    bias: float
    threshold: float = 0.5
    max_gap: int = 1  # merge runs at most this many unchanged tokens apart...
    max_chain: int = 4  # ...and at most this many runs into one edit
    info: Mapping = field(default_factory=dict)

    def prob(self, feats: Mapping[str, float]) -> float:
        w = self.weights
        z = self.bias + sum(w.get(k, 0.0) * v for k, v in feats.items())
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def save(self, model_dir: str) -> None:
        from safetensors.numpy import save_file
        import numpy as np

        os.makedirs(model_dir, exist_ok=True)
        names = sorted(self.weights)
        save_file({"coef": np.array([self.weights[n] for n in names], dtype=np.float32),
                   "intercept": np.array([self.bias], dtype=np.float32)}, os.path.join(model_dir, "model.safetensors"))
        with open(os.path.join(model_dir, "config.json"), "w", encoding="utf-8") as fh:
            json.dump({"features": names, "threshold": self.threshold, "max_gap": self.max_gap,
                       "max_chain": self.max_chain, **dict(self.info)}, fh, indent=2)

    @classmethod
    def load(cls, model_dir: str) -> "MergeModel":
        from safetensors.numpy import load_file

        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as fh:
            cfg = json.load(fh)
        t = load_file(os.path.join(model_dir, "model.safetensors"))
        names = cfg.pop("features")
        return cls(dict(zip(names, (float(x) for x in t["coef"]))), float(t["intercept"][0]), cfg.pop("threshold"),
                   cfg.pop("max_gap"), cfg.pop("max_chain"), cfg)


@functools.lru_cache(maxsize=None)
def shipped_merger() -> Optional[MergeModel]:
    """The committed merge model, or None (plain difflib runs) where the package was built without it."""
    return MergeModel.load(SHIPPED_MERGER) if os.path.exists(os.path.join(SHIPPED_MERGER, "config.json")) else None


def _edit(i1: int, i2: int, j1: int, j2: int) -> SpanEdit:
    if i1 < i2 and j1 < j2:
        return SpanEdit("Substitute", (i1, i2), (j1, j2))
    return SpanEdit("Deletion", (i1, i2), None) if i1 < i2 else SpanEdit("Insertion", None, (j1, j2))


def _bin(x: int) -> str:
    return str(next(e for e in (21, 13, 8, 5, 3, 2, 1, 0) if x >= e))


def _token_class(t: str) -> str:
    if t in _FUNCTION_WORDS or (t.startswith("[") and t.endswith("]")):  # arXivEdits masks: [MATH], [REF]…
        return t
    if _PUNCT.match(t):
        return "P" + t
    return "NUM" if t[:1].isdigit() else "W"


def _side_features(f: dict, name: str, toks: Sequence[str]) -> None:
    if not toks:
        f[name + "_none"] = 1.0
        return
    f[f"{name}_len={_bin(len(toks))}"] = 1.0
    f[f"{name}_first={_token_class(toks[0])}"] = 1.0
    f[f"{name}_last={_token_class(toks[-1])}"] = 1.0
    f[name + "_allpunct"] = float(all(_PUNCT.match(t) for t in toks))
    f[name + "_hasmask"] = float(any(t.startswith("[") for t in toks))


def unit_features(fo: Sequence[str], fn: Sequence[str], e: SpanEdit, kind: str, context: Mapping[str, float]) -> dict:
    """Features of one candidate edit over case-folded tokens: its kind ("keep": one difflib run, "merge":
    a chain of runs), type, side lengths and edge tokens, how alike its sides are, and `context`."""
    f = {f"src={kind}": 1.0, f"type={e.type}": 1.0, f"src_type={kind}{e.type}": 1.0, **context}
    o = fo[e.old[0]:e.old[1]] if e.old else []
    n = fn[e.new[0]:e.new[1]] if e.new else []
    _side_features(f, "o", o)
    _side_features(f, "n", n)
    if o and n:
        sim = Levenshtein.normalized_similarity(" ".join(o), " ".join(n))
        f["sim"] = sim
        f[f"sim_bin={int(sim * 5)}"] = 1.0
        f[f"src_sim={kind}{int(sim * 5)}"] = 1.0
        f["lenratio"] = math.log((len(o) + 1) / (len(n) + 1))
        so, sn = set(o), set(n)
        f["jaccard"] = len(so & sn) / len(so | sn)
        f[f"pair_len={_bin(len(o))}_{_bin(len(n))}"] = 1.0
    return f


def candidate_units(fo: Sequence[str], fn: Sequence[str], runs: Sequence[tuple], max_gap: int,
                    max_chain: int, all_features: bool = False) -> list[tuple[int, int, SpanEdit, Optional[dict]]]:
    """(first run, end run, edit, features) for each difflib run alone and each chain of up to `max_chain`
    runs whose gaps are at most `max_gap` tokens on both sides. A run that can join no neighbour stands
    alone whatever its score, so it gets no features (None) unless `all_features` (training, where such
    runs still teach the model what a gold edit looks like)."""
    changed = sum(max(i2 - i1, j2 - j1) for _, i1, i2, j1, j2 in runs)
    frac = changed / max(1, len(fo), len(fn))
    base = {"changed_frac": frac, "heavy": float(frac > 0.5), f"nruns={_bin(len(runs))}": 1.0}
    near = _near(runs, max_gap)
    units = []
    for b, (_, i1, i2, j1, j2) in enumerate(runs):
        e = _edit(i1, i2, j1, j2)
        if not (all_features or (b and near[b - 1]) or (b < len(near) and near[b])):
            units.append((b, b + 1, e, None))
            continue
        gl = runs[b][1] - runs[b - 1][2] if b else 99
        gr = runs[b + 1][1] - i2 if b + 1 < len(runs) else 99
        units.append((b, b + 1, e, unit_features(fo, fn, e, "keep", {**base, f"gapL={_bin(min(gl, 9))}": 1.0,
                                                                       f"gapR={_bin(min(gr, 9))}": 1.0})))
        for a in range(b - 1, max(-1, b - max_chain), -1):
            if not near[a]:
                break
            gaps = [t for x in range(a, b) for t in fo[runs[x][2]:runs[x + 1][1]]]
            ctx = {**base, f"ngap={_bin(len(gaps))}": 1.0, f"nmerge={b - a + 1}": 1.0,
                   "gapfunc": float(all(g in _FUNCTION_WORDS or _PUNCT.match(g) for g in gaps))}
            ctx.update({f"gaptok={_token_class(g)}": 1.0 for g in gaps})
            e = _edit(runs[a][1], i2, runs[a][3], j2)
            units.append((a, b + 1, e, unit_features(fo, fn, e, "merge", ctx)))
    return units


def _near(runs: Sequence[tuple], max_gap: int) -> list[bool]:
    """For each run but the last: whether the next run is at most `max_gap` unchanged tokens away on both sides."""
    return [runs[k + 1][1] - runs[k][2] <= max_gap and runs[k + 1][3] - runs[k][4] <= max_gap
            for k in range(len(runs) - 1)]


def difflib_runs(fo: Sequence[str], fn: Sequence[str], old: Optional[Sequence[str]] = None,
                 new: Optional[Sequence[str]] = None) -> list[tuple]:
    """difflib's non-matching opcodes between two case-folded token sequences.

    With the original tokens (`old`, `new`), a stretch of matched tokens whose case changed ("Universe" ->
    "universe") and that no other run touches is a replacement too: matching on folded tokens keeps
    difflib from tearing a sentence apart over a capital, but the change is an edit (arXivEdits annotates
    it). A capital next to another change usually belongs to it (a sentence's new first word), and as a
    run of its own it cost more than it gained on arXivEdits train+dev: F1 of plain runs 0.679, with
    every case change 0.671, with the untouched ones 0.685."""
    ops = opcodes(fo, fn)
    runs = [op for op in ops if op[0] != "equal"]
    if old is None or new is None:
        return runs
    near = {i for _, i1, i2, _, _ in runs for i in range(i1 - 1, i2 + 1)}  # old tokens a run touches
    for tag, i1, i2, j1, _ in ops:
        if tag != "equal":
            continue
        start = None
        for k in range(i2 - i1 + 1):
            differs = k < i2 - i1 and old[i1 + k] != new[j1 + k]
            if differs and start is None:
                start = k
            elif not differs and start is not None:
                if not near.intersection(range(i1 + start, i1 + k)):
                    runs.append(("replace", i1 + start, i1 + k, j1 + start, j1 + k))
                start = None
    return sorted(runs, key=lambda r: (r[1], r[3]))


def choose_units(n_runs: int, units: Sequence[tuple[int, int, SpanEdit, float]]) -> list[SpanEdit]:
    """The edits of the cover of runs 0..n_runs-1 by units (first, end, edit, gain) with the highest total gain."""
    ending: dict[int, list] = {}
    for u in units:
        ending.setdefault(u[1], []).append(u)
    best: list = [(0.0, [])] + [None] * n_runs
    for end in range(1, n_runs + 1):
        for a, _, e, gain in ending.get(end, ()):
            if best[a] is not None:
                v = best[a][0] + gain
                if best[end] is None or v > best[end][0] + 1e-12:
                    best[end] = (v, best[a][1] + [e])
    return best[n_runs][1]


def extract_edits(old: Sequence[str], new: Sequence[str], merger: Optional[MergeModel] = None) -> list[SpanEdit]:
    """Edits that turn token sequence `old` into `new`: difflib's runs, joined where `merger` says so."""
    # Tokens never contain spaces, so one casefold over the joined text replaces a per-token loop.
    fo, fn = _fold(old), _fold(new)
    runs = difflib_runs(fo, fn, old, new)
    if merger is None or not any(_near(runs, merger.max_gap)):  # every run stands alone: no choice to make
        return [_edit(i1, i2, j1, j2) for _, i1, i2, j1, j2 in runs]
    units = candidate_units(fo, fn, runs, merger.max_gap, merger.max_chain)
    return choose_units(len(runs), [(a, b, e, 0.0 if f is None else merger.prob(f) - merger.threshold)
                                    for a, b, e, f in units])


def edits_between(old_text: str, new_text: str) -> list[dict]:
    """Edit fields (see schemas.Edit) for one alignment: span edits, or a whole-sentence edit."""
    if not old_text or not new_text:
        typ, text = ("Insertion", new_text) if not old_text else ("Deletion", old_text)
        n_tok = count_tokens(text)
        side_tok = (0, n_tok)
        side_chr = (0, len(text))
        old_side = side_tok if typ == "Deletion" else (None, None)
        new_side = side_tok if typ == "Insertion" else (None, None)
        return [dict(type=typ, granularity="sentence",
                     old_token_start=old_side[0], old_token_end=old_side[1],
                     new_token_start=new_side[0], new_token_end=new_side[1],
                     old_char_start=side_chr[0] if typ == "Deletion" else None,
                     old_char_end=side_chr[1] if typ == "Deletion" else None,
                     new_char_start=side_chr[0] if typ == "Insertion" else None,
                     new_char_end=side_chr[1] if typ == "Insertion" else None,
                     old_text=old_text, new_text=new_text)]
    if old_text == new_text:
        return []
    ot, nt = tokenize(old_text), tokenize(new_text)
    out = []
    for e in extract_edits([t[0] for t in ot], [t[0] for t in nt], shipped_merger()):
        oc, nc = char_span(ot, e.old), char_span(nt, e.new)
        out.append(dict(type=e.type, granularity="span",
                        old_token_start=e.old[0] if e.old else None, old_token_end=e.old[1] if e.old else None,
                        new_token_start=e.new[0] if e.new else None, new_token_end=e.new[1] if e.new else None,
                        old_char_start=oc[0], old_char_end=oc[1], new_char_start=nc[0], new_char_end=nc[1],
                        old_text=old_text[oc[0]:oc[1]] if e.old else "", new_text=new_text[nc[0]:nc[1]] if e.new else ""))
    return out
