"""difflib's opcodes between two sequences of hashables, with a bound on the work for long ones.

difflib's matcher (autojunk off) is quadratic and worse on long, repetitive sequences: a 40,000-token
"sentence" of 50 distinct words took 16 s a pair in the span-edit extractor, and 12,000 nodes of two kinds
29 s in the node differ, four times as long at each doubling. Past `MAX_DIFFLIB_ITEMS` the opcodes come
from rapidfuzz's bit-parallel Levenshtein alignment (C++, Hirschberg's bounded memory; 160,000 tokens in
4 s), joined into difflib's shape. Below it nothing changes, so the figures tuned on difflib's output
(arXivEdits sentences stay under 200 tokens) hold.
"""
from __future__ import annotations

import difflib
from typing import Sequence

from rapidfuzz.distance import Indel, Levenshtein

MAX_DIFFLIB_ITEMS = 2_000
# An LCS holds a bit per item pair: 60k x 60k words took 470 MB. Past this many pairs (6 MB) an LCS is not
# computed, and the bounded-memory alignments above are used instead.
MAX_LCS_CELLS = 50_000_000

# Scripts written without spaces between words (`regex` classes): their diffs go character by character,
# in span edits and in the aligner's word diff, as mwedittypes tokenises them.
UNSPACED_SCRIPTS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}"


def opcodes(a: Sequence, b: Sequence, lcs: bool = False) -> list[tuple]:
    """difflib-style opcodes: alternating equal stretches and single non-equal runs, covering both sides.
    rapidfuzz compares items by hash, so two different items with one 64-bit hash would count as equal.

    `lcs`: the equal stretches are a longest common subsequence (rapidfuzz's Indel alignment), up to
    MAX_LCS_CELLS item pairs. difflib takes the longest contiguous match first, and where an item repeats (two
    identical paragraphs) that match can pair the wrong copies and leave items unmatched that an LCS keeps."""
    lcs = lcs and len(a) * len(b) <= MAX_LCS_CELLS
    if not lcs and max(len(a), len(b)) <= MAX_DIFFLIB_ITEMS:
        return difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    out: list = []
    for tag, i1, i2, j1, j2 in (Indel if lcs else Levenshtein).opcodes(a, b):
        if tag != "equal" and out and out[-1][0] != "equal":  # adjacent changes are one run, as in difflib
            _, i1, _, j1, _ = out.pop()
        if tag != "equal":
            tag = "replace" if i1 < i2 and j1 < j2 else ("delete" if i1 < i2 else "insert")
        out.append((tag, i1, i2, j1, j2))
    return out
