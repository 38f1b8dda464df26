"""Lexical intent model: a logistic regression over character and word n-grams of the edited spans.

Why it sits beside the MiniLM cross-encoder: with ~1.3k (arXivEdits) and ~3.2k (IteraTeR) training
edits, most of the intent is in the surface form of the span itself ("teh"→"the" is a typo, "[MATH]" or
"\\cite" is format, "in order to"→"to" is simplification). Char 1–4-grams see spelling and markup, word
1–2-grams see which words moved, and the 16 hand features (edit type, lengths, similarity) come along.
On dev it beats the fine-tuned encoder alone; mixing the two beats both (benchmarks/RESULTS.md).

A model may take a helper: the other taxonomy's lexical model, whose class probabilities (times a
weight) join the features. IteraTeR's labels (fluency, clarity, coherence, style, meaning-changed) are
auxiliary supervision for arXivEdits: over 5 folds of arXivEdits train+dev its weighted F1 goes from
0.731 to 0.740 (better in 4 of 5 folds), and on dev from 0.771 to 0.790. The other way round it loses
(0.566 to 0.560), so IteraTeR's model has none.

Stored without pickle: vocabularies and settings in `lexical-<taxonomy>.json`, idf weights and the
classifier in `lexical-<taxonomy>.safetensors`. scikit-learn fits the vectorizers; a loaded model reads
them with `SpanVectorizer`, the same transform without importing scikit-learn.
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from typing import Optional, Sequence

import numpy as np
import torch

from revmine.models.intent_types import EditInput, features

CHAR = {"analyzer": "char_wb", "ngram_range": (1, 4), "min_df": 2, "sublinear_tf": True}
WORD = {"analyzer": "word", "ngram_range": (1, 2), "sublinear_tf": True}


def span_text(e: EditInput) -> str:
    return f"O: {e.old_text} N: {e.new_text}"


class SpanVectorizer:
    """`TfidfVectorizer.transform` with a fitted vocabulary and idf (lowercase, `char_wb` or `word` n-grams,
    sublinear tf, l2 norm), written out because importing scikit-learn took 0.75 s of every pipeline run's
    start-up; tests/test_intent.py checks it against scikit-learn's analyzers and matrices."""

    _SPACES = re.compile(r"\s\s+")
    _TOKEN = re.compile(r"(?u)\b\w\w+\b")

    def __init__(self, analyzer: str, ngram_range: tuple, vocabulary: dict, idf, sublinear_tf: bool = True, **_):
        if analyzer not in ("char_wb", "word"):
            raise ValueError(f"SpanVectorizer reads char_wb and word n-grams, not {analyzer}")
        self.analyzer, self.ngram_range, self.sublinear_tf = analyzer, tuple(ngram_range), sublinear_tf
        self.vocabulary_, self.idf_ = vocabulary, np.asarray(idf, dtype=np.float64)

    def grams(self, text: str) -> list[str]:
        """The n-grams scikit-learn's analyzer of the same settings gives, in its order."""
        text, (lo, hi) = text.lower(), self.ngram_range
        out: list[str] = []
        if self.analyzer == "char_wb":
            for word in self._SPACES.sub(" ", text).split():
                word = f" {word} "
                for n in range(lo, hi + 1):
                    out += [word[i:i + n] for i in range(max(len(word) - n, 0) + 1)]
                    if len(word) <= n:  # a word as short as n is counted once, whatever larger n follow
                        break
            return out
        tokens = self._TOKEN.findall(text)
        for n in range(lo, hi + 1):
            out += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
        return out

    def transform(self, texts: Sequence[str]):
        import scipy.sparse as sp

        indptr, indices, counts = [0], [], []
        for text in texts:
            row = Counter(j for j in map(self.vocabulary_.get, self.grams(text)) if j is not None)
            cols = sorted(row)
            indices += cols
            counts += [row[j] for j in cols]
            indptr.append(len(indices))
        tf = np.asarray(counts, dtype=np.float64)
        if self.sublinear_tf:
            tf = np.log(tf) + 1.0
        x = sp.csr_matrix((tf * self.idf_[np.asarray(indices, dtype=np.int64)], indices, indptr),
                          shape=(len(texts), len(self.idf_)))
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.diags(1.0 / norms) @ x


class LexicalIntent:
    def __init__(self, labels: Sequence[str], C: float = 1.0, helper: Optional["LexicalIntent"] = None,
                 helper_name: Optional[str] = None, helper_weight: float = 0.0):
        self.labels, self.C = list(labels), C
        # The helper's probabilities are features; with weight 0 (or no helper) the model stands alone.
        self.helper = helper if helper_weight else None
        self.helper_name, self.helper_weight = (helper_name, helper_weight) if self.helper else (None, 0.0)
        self.char = self.word = None  # fitted by `fit`, or read by `load`
        self.coef = np.zeros((len(self.labels), 0), dtype=np.float32)
        self.intercept = np.zeros(len(self.labels), dtype=np.float32)

    def _matrix(self, examples: Sequence[EditInput], fit: bool = False, helper_proba: Optional[torch.Tensor] = None):
        import scipy.sparse as sp

        texts = [span_text(e) for e in examples]
        parts = [(v.fit_transform if fit else v.transform)(texts) for v in (self.char, self.word)]
        parts.append(sp.csr_matrix(np.array([features(e) for e in examples], dtype=np.float64).reshape(len(texts), -1)))
        if self.helper is not None:
            given = self.helper.predict_proba(examples) if helper_proba is None else helper_proba
            parts.append(sp.csr_matrix(self.helper_weight * given.double().numpy()))
        return sp.hstack(parts).tocsr()

    def fit(self, examples: Sequence[EditInput]) -> "LexicalIntent":
        """Balanced class weights: rare classes (IteraTeR style, arXivEdits Lang-other) still get a say."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.char, self.word = TfidfVectorizer(**CHAR), TfidfVectorizer(**WORD)
        x = self._matrix(examples, fit=True)
        y = [self.labels.index(e.label) for e in examples]
        lr = LogisticRegression(C=self.C, max_iter=3000, class_weight="balanced").fit(x, y)
        # Classes absent from `examples` (tiny slices) keep zero weight and a very low bias.
        self.coef = np.zeros((len(self.labels), x.shape[1]), dtype=np.float32)
        self.intercept = np.full(len(self.labels), -30.0, dtype=np.float32)
        if len(lr.classes_) == 1:  # sklearn refuses one class; nothing to learn but the prior
            self.intercept[lr.classes_[0]] = 0.0
            return self
        coef, bias = (lr.coef_, lr.intercept_) if len(lr.classes_) > 2 else (
            np.vstack([-lr.coef_, lr.coef_]) / 2, np.concatenate([-lr.intercept_, lr.intercept_]) / 2)
        self.coef[lr.classes_] = coef
        self.intercept[lr.classes_] = bias
        return self

    def predict_proba(self, examples: Sequence[EditInput], helper_proba: Optional[torch.Tensor] = None) -> torch.Tensor:
        """[n, classes] probabilities. `helper_proba`: the helper's own probabilities for `examples`, where
        the caller has them already (a classifier labelling both taxonomies), so they are not made twice."""
        if not examples:
            return torch.zeros(0, len(self.labels))
        logits = self._matrix(examples, helper_proba=helper_proba) @ self.coef.T + self.intercept
        return torch.from_numpy(np.asarray(logits, dtype=np.float32)).softmax(-1)

    def save(self, model_dir: str, taxonomy: str) -> None:
        from safetensors.torch import save_file

        meta = {"labels": self.labels, "C": self.C, "helper": self.helper_name, "helper_weight": self.helper_weight,
                "char_vocabulary": {k: int(v) for k, v in self.char.vocabulary_.items()},
                "word_vocabulary": {k: int(v) for k, v in self.word.vocabulary_.items()}}
        with open(os.path.join(model_dir, f"lexical-{taxonomy}.json"), "w", encoding="utf-8") as fh:
            json.dump(meta, fh, ensure_ascii=False)
        save_file({"char_idf": torch.from_numpy(self.char.idf_.astype(np.float32)),
                   "word_idf": torch.from_numpy(self.word.idf_.astype(np.float32)),
                   "coef": torch.from_numpy(self.coef), "intercept": torch.from_numpy(self.intercept)},
                  os.path.join(model_dir, f"lexical-{taxonomy}.safetensors"))

    @classmethod
    def load(cls, model_dir: str, taxonomy: str, loaded: Optional[dict] = None) -> "LexicalIntent":
        """The model of `taxonomy` in `model_dir`, with its helper; `loaded` (taxonomy -> model) shares
        models already loaded, so a helper that is also a model of its own is read once."""
        from safetensors.torch import load_file

        loaded = {} if loaded is None else loaded
        if taxonomy in loaded:
            return loaded[taxonomy]
        with open(os.path.join(model_dir, f"lexical-{taxonomy}.json"), encoding="utf-8") as fh:
            meta = json.load(fh)
        tensors = load_file(os.path.join(model_dir, f"lexical-{taxonomy}.safetensors"))
        helper = meta.get("helper")
        self = cls(meta["labels"], meta["C"], cls.load(model_dir, helper, loaded) if helper else None, helper,
                   meta.get("helper_weight", 0.0))
        for name, settings in (("char", CHAR), ("word", WORD)):  # min_df: fit only
            setattr(self, name, SpanVectorizer(**settings, vocabulary=meta[f"{name}_vocabulary"],
                                               idf=tensors[f"{name}_idf"].double().numpy()))
        self.coef, self.intercept = tensors["coef"].numpy(), tensors["intercept"].numpy()
        loaded[taxonomy] = self
        return self

    @staticmethod
    def exists(model_dir: str, taxonomy: str) -> bool:
        return os.path.exists(os.path.join(model_dir, f"lexical-{taxonomy}.safetensors"))
