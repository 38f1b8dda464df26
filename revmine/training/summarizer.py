"""Training the summarizer: a LoRA adapter on SmolLM2 over {input, summary} rows, scored on dev with the
shared metrics; writes the adapter (fp16), summarizer.json and the card."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import time
from typing import Optional, Sequence

import torch

from revmine.models import write_card
from revmine.models.aligner import default_device, native_bf16
from revmine.models.summarizer import (Summarizer, SummarizerConfig, _load_base, prompt_ids,
                                       read_config)

log = logging.getLogger(__name__)


def _encode_example(tok, input_text: str, summary: str, max_input: int, max_target: int = 40):
    src = prompt_ids(tok, input_text, max_input)
    tgt = tok(" " + summary, add_special_tokens=False)["input_ids"][:max_target] + [tok.convert_tokens_to_ids("<|im_end|>")]
    return src + tgt, [-100] * len(src) + tgt


def target_loss(model, batch: Sequence[tuple[list, list]], pad: int, device) -> torch.Tensor:
    """Mean cross-entropy over the summary tokens of (ids, labels) examples.

    Rows are left-padded so every summary ends its row, and logits are computed for the last positions
    only: the full (batch, length, 49k-vocabulary) logits and their gradient were most of the training
    memory (8.8 GB at batch 8). Explicit position ids keep left padding from shifting positions."""
    L = max(len(ids) for ids, _ in batch)
    ids = torch.tensor([[pad] * (L - len(x)) + x for x, _ in batch], device=device)
    labels = torch.tensor([[-100] * (L - len(y)) + y for _, y in batch], device=device)
    att = torch.tensor([[0] * (L - len(x)) + [1] * len(x) for x, _ in batch], device=device)
    pos = (att.cumsum(-1) - 1).clamp(min=0)
    keep = max(sum(t != -100 for t in y) for _, y in batch) + 1
    logits = model(input_ids=ids, attention_mask=att, position_ids=pos, logits_to_keep=keep).logits
    # the logit at position t predicts token t + 1
    return torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                                             labels[:, L - keep + 1:].reshape(-1), ignore_index=-100)


def train_summarizer(out_dir: str, train_rows: Sequence[dict], dev_rows: Sequence[dict] = (), epochs: int = 1,
                     batch: int = 8, lr: float = 1e-3, seed: int = 13, max_examples: Optional[int] = 6000,
                     eval_examples: int = 300, device: Optional[torch.device] = None,
                     sources: Optional[dict] = None, threads: Optional[int] = None,
                     init_adapter: Optional[str] = None, low_memory: bool = False) -> dict:
    """LoRA-fine-tune SmolLM2 on {input, summary} rows; save the adapter, config and card; return dev scores.

    `init_adapter` continues training a saved adapter (another epoch, or new data) instead of starting
    from fresh LoRA weights; its rank and targets are kept and its training record is carried along."""
    from collections import Counter

    from peft import LoraConfig, PeftModel, get_peft_model

    rng = random.Random(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    device = device or default_device()
    started = time.time()
    config = SummarizerConfig()
    rows = list(train_rows)
    rng.shuffle(rows)
    if max_examples:
        rows = rows[:max_examples]
    config.most_frequent_train_comment = Counter(r["summary"] for r in train_rows).most_common(1)[0][0] if train_rows else ""
    tok, base = _load_base(device)
    prior = None
    if init_adapter:
        prior = read_config(init_adapter)
        if prior.prompt_version != config.prompt_version:
            raise ValueError(f"{init_adapter} was trained on input format {prior.prompt_version}, the data is {config.prompt_version}")
        config = dataclasses.replace(config, lora_rank=prior.lora_rank, lora_dropout=prior.lora_dropout,
                                     lora_targets=prior.lora_targets)
        model = PeftModel.from_pretrained(base, init_adapter, is_trainable=True)  # fp16 file, fp32 LoRA layers
    else:
        model = get_peft_model(base, LoraConfig(r=config.lora_rank, lora_alpha=2 * config.lora_rank, lora_dropout=config.lora_dropout,
                                                target_modules=config.lora_targets, task_type="CAUSAL_LM"))
    if low_memory:  # keep each layer's input only and recompute the rest in backward: less memory, more time
        model.base_model.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    examples = [_encode_example(tok, r["input"], r["summary"], config.max_input_tokens) for r in rows]
    # Batches of similar length (shuffled in chunks) waste little compute on padding.
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    batches = [order[k:k + batch] for k in range(0, len(order), batch)]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    total = max(1, epochs * len(batches))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, total // 20)) * (1 - s / total))
    pad = tok.pad_token_id
    autocast = native_bf16(device)
    model.train()
    step = 0
    for epoch in range(epochs):
        rng.shuffle(batches)
        loss_sum = 0.0
        for b in batches:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                loss = target_loss(model, [examples[i] for i in b], pad, device)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item()
            step += 1
            if step % 50 == 0:
                log.info("summarizer step %d/%d: loss %.3f (%.0fs)", step, total, loss_sum / 50, time.time() - started)
                loss_sum = 0.0
        if epoch + 1 < epochs:  # a snapshot per epoch, so one run tells whether the last epoch helped
            snapshot = os.path.join(out_dir, f"epoch{epoch + 1}")
            model.save_pretrained(snapshot)
            _store_half(os.path.join(snapshot, "adapter_model.safetensors"))
            _write(snapshot, dataclasses.replace(config, training={"epoch": epoch + 1, "of": epochs}))
            log.info("summarizer epoch %d done (%.0fs)", epoch + 1, time.time() - started)
    model.eval()
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    _store_half(os.path.join(out_dir, "adapter_model.safetensors"))
    if os.path.exists(os.path.join(out_dir, "README.md")):
        os.remove(os.path.join(out_dir, "README.md"))  # peft's empty template; ours is written below
    config.training = {"sources": sources or {}, "examples": len(rows), "available": len(train_rows), "epochs": epochs,
                       "batch": batch, "lr": lr, "seed": seed, "seconds": round(time.time() - started),
                       "device": str(device), "bf16_autocast": autocast, "torch_threads": torch.get_num_threads(),
                       "gradient_checkpointing": low_memory}
    if prior is not None:
        config.training["continued_from"] = {"adapter": init_adapter, "training": prior.training}
    _write(out_dir, config)
    metrics = {}
    if dev_rows:
        from revmine.models.metrics import evaluate

        metrics = evaluate(Summarizer(out_dir, device=device), list(dev_rows)[:eval_examples] if eval_examples else dev_rows,
                           config.most_frequent_train_comment)
        config.metrics = {"dev": {k: v for k, v in metrics.items() if k != "examples"}}
        _write(out_dir, config)
    return metrics


def _store_half(path: str) -> None:
    """Rewrite the adapter in fp16: half the size in git (4.9 MB for rank 8 on all seven projections),
    and loading casts it back into the fp32 LoRA layers. The weights are small (|w| < 1) and well inside
    fp16's range; generation runs in bf16 or fp16 anyway."""
    from safetensors.torch import load_file, save_file

    tensors = {k: v.half() if v.is_floating_point() else v for k, v in load_file(path).items()}
    save_file(tensors, path, metadata={"format": "pt"})


def _write(out_dir: str, config: SummarizerConfig) -> None:
    write_card(out_dir, config, model_card(config), "summarizer.json")


def _decoding(config: SummarizerConfig) -> str:
    return "Greedy decoding" if config.num_beams <= 1 else f"Beam search with {config.num_beams} beams"


def model_card(config: SummarizerConfig) -> str:
    dev = config.metrics.get("dev", {})
    rows = "\n".join(f"| {name} | {s['rouge1']} | {s['rouge2']} | {s['rougeL']} |" for name, s in dev.get("systems", {}).items())
    return f"""# revmine edit summarizer (Edisum-style)

A LoRA adapter (rank {config.lora_rank} on {', '.join(config.lora_targets)}) for {config.base_model}.
It writes a one-line edit summary from the changed sentences of a revision pair, in the prompt format
`{config.prompt_version}` (revmine/pipeline/summarize.py). {_decoding(config)}, at most {config.max_new_tokens} new tokens.

## Training data
Real Wikipedia revision pairs with human edit comments, filtered as Edisum does (article edits only;
no reverts, bots or trivial comments; autocomments stripped; only edits that change sentences). Dev
holds whole pages absent from train and the latest edits of the other pages. One epoch, the recipe of
the previous adapter (a second epoch lowered dev ROUGE-L there); no hyperparameter was chosen on dev.
The adapter file is fp16; on CPU the merged model runs in bf16 where the CPU supports it.
{json.dumps(config.training, indent=2)}

In the pipeline an output that breaks the faithfulness rule (pipeline/describe.py) is replaced by the
describer's summary; `revmine eval summaries` scores that system, by seen and unseen page, next to four
baselines (benchmarks/RESULTS.md).

## Raw model output on the first dev rows (ROUGE F1 against the human comment, n = {dev.get('n', 0)})
| system | ROUGE-1 | ROUGE-2 | ROUGE-L |
|---|---:|---:|---:|
{rows}

Reproduce: `revmine build summaries-dataset` then `revmine train summarizer`.
"""
