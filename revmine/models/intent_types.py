"""What the intent models read and predict: the two label sets, one edit as the models see it, and the
hand features that both the cross-encoder and the lexical model use."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional

from rapidfuzz.distance import Levenshtein

ARXIVEDITS = ["Content", "Improve-grammar-Typo", "Format", "Lang-accurate-spefific",  # (sic), as in the data
              "Lang-professional-Improve-style", "Lang-improve-readability-Simplify", "Lang-other"]
ITERATER = ["clarity", "fluency", "coherence", "style", "meaning-changed"]
TAXONOMIES = {"arxivedits": ARXIVEDITS, "iterater": ITERATER}


def coarse(label: Optional[str]) -> Optional[str]:
    """arXivEdits' 4-way view: every Lang-* label becomes Language."""
    return "Language" if label and label.startswith("Lang-") else label


Span = tuple[int, int]


@dataclass
class EditInput:
    old: str  # old sentence (context)
    new: str  # new sentence
    old_spans: tuple[Span, ...]  # character spans of the edited text in `old` (none for an insertion)
    new_spans: tuple[Span, ...]
    type: str  # Insertion | Deletion | Substitute (or "Mixed" for several spans)
    label: Optional[str] = None
    group: str = ""  # document/paper id: keeps related examples together when splitting

    @property
    def old_text(self) -> str:
        return " ".join(self.old[s:e] for s, e in self.old_spans)

    @property
    def new_text(self) -> str:
        return " ".join(self.new[s:e] for s, e in self.new_spans)


_FORMAT = re.compile(r"[\\$^_{}~]|\[MATH\]|\[CITATION\]|\[REF\]|\[URL\]|\(\s*\)|<[^>]+>")
_WORD = re.compile(r"\w+", re.UNICODE)
FEATURES = ["ins", "del", "sub", "mixed", "old_len", "new_len", "char_sim", "lev_1_2", "case_only", "punct_only",
            "space_hyphen_only", "stem_shared", "digits", "format_chars", "span_share", "whole_sentence"]


def features(e: EditInput) -> list[float]:
    o, n = e.old_text, e.new_text
    on, nn_ = len(_WORD.findall(o)), len(_WORD.findall(n))
    dist = Levenshtein.distance(o, n)
    ow, nw = _WORD.findall(o.lower()), _WORD.findall(n.lower())
    stem = bool(ow and nw and len(ow) == len(nw) == 1 and len(ow[0]) > 3 and ow[0][:4] == nw[0][:4] and ow[0] != nw[0])
    squash = lambda s: re.sub(r"[\s\-–]", "", s)  # noqa: E731
    total = max(len(e.old) + len(e.new), 1)
    return [
        float(e.type == "Insertion"), float(e.type == "Deletion"), float(e.type == "Substitute"),
        float(e.type not in ("Insertion", "Deletion", "Substitute")),
        math.log1p(on), math.log1p(nn_),
        Levenshtein.normalized_similarity(o, n) if o and n else 0.0,
        float(bool(o and n) and 0 < dist <= 2),
        float(o != n and o.lower() == n.lower()),
        float(bool(o or n) and not _WORD.search(o + n)),
        float(o != n and squash(o) == squash(n)),
        float(stem),
        float(any(c.isdigit() for c in o + n)),
        float(bool(_FORMAT.search(o + " " + n))),
        (len(o) + len(n)) / total,
        float((not e.old_spans or e.old_spans == ((0, len(e.old)),)) and (not e.new_spans or e.new_spans == ((0, len(e.new)),))),
    ]


# Labels of a whole sentence added or removed (an Edit of granularity 'sentence'), by edit type:
# (arXivEdits label, IteraTeR label, IteraTeR score). arXivEdits annotates intents only inside aligned
# sentence pairs, so it has no gold for these; adding or removing a sentence adds or removes content in
# its taxonomy. IteraTeR's whole-sentence gold (sent- and doc-level, train and dev): 50 of 55 deletions
# are coherence, 8 of 9 insertions meaning-changed; the score is that share. On the last 500 revisions
# of Anarchism (1,030 distinct whole-sentence edits) the shipped encoder agrees with these labels on
# 96% of edits for each taxonomy, at about 1/100 of the cost (benchmarks/RESULTS.md).
WHOLE_SENTENCE = {"Deletion": ("Content", "coherence", round(50 / 55, 4)),
                  "Insertion": ("Content", "meaning-changed", round(8 / 9, 4))}
WHOLE_SENTENCE_MODEL = "rule:whole-sentence"
