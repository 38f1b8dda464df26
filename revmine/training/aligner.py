"""Train the neural CRF aligner on changed blocks, exactly as the pipeline will present them.

Supervision (see README "Aligner training data"):
- IteraTeR doc-level train: gold links derived by mapping characters through the edit actions
  (eval/align.py); documents are hash-matched like the pipeline does and each changed block
  becomes one training example.
- arXivEdits train: its sentence pairs are aligned by construction; consecutive pairs of a paper form
  a block, and sentences of other papers are inserted as unaligned distractors (negatives).
"""
from __future__ import annotations

import json
import logging
import os
import random
import time
from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from revmine.eval.align import AlignDoc, load_iterater_docs
from revmine.models.aligner import (AlignerConfig, NeuralCRFModel, SentenceEncoder, block_features, pad_blocks,
                                    save_model)
from revmine.pipeline.diff import sentence_opcodes

log = logging.getLogger(__name__)


@dataclass
class Block:
    old: list[str]
    new: list[str]
    links: set[tuple[int, int]]
    source: str


def blocks_from_docs(docs: list[AlignDoc], source: str) -> list[Block]:
    out = []
    for d in docs:
        for tag, i1, i2, j1, j2 in sentence_opcodes(d.old, d.new):
            if tag == "equal" or i1 == i2 or j1 == j2:
                continue
            links = {(i - i1, j - j1) for i, j in d.gold if i1 <= i < i2 and j1 <= j < j2}
            out.append(Block(d.old[i1:i2], d.new[j1:j2], links, source))
    return out


def blocks_from_arxivedits(path: str, rng: random.Random, size: int = 3) -> list[Block]:
    data = json.load(open(path, encoding="utf-8"))
    items = [v for v in (data.values() if isinstance(data, dict) else data) if v["sentence-1"] != v["sentence-2"]]
    pool = [v["sentence-2"] for v in items]
    by_paper: dict[str, list[dict]] = {}
    for v in items:
        by_paper.setdefault(v["arxiv-id"], []).append(v)
    out = []
    for pairs in by_paper.values():
        for k in range(0, len(pairs), size):
            chunk = pairs[k:k + size]
            old = [p["sentence-1"] for p in chunk]
            new = [p["sentence-2"] for p in chunk]
            links = {(i, i) for i in range(len(chunk))}
            if rng.random() < 0.5:  # an inserted sentence from elsewhere: must stay unaligned
                at = rng.randrange(len(new) + 1)
                new.insert(at, rng.choice(pool))
                links = {(i, j + (j >= at)) for i, j in links}
            out.append(Block(old, new, links, "arxivedits"))
    return out


def blocks_from_wiki_dump(path: str, max_blocks: int = 600, max_side: int = 6, sure: float = 0.85) -> list[Block]:
    """Silver blocks from real revision pairs: only blocks the classical aligner decides unambiguously.

    Reverts and reverted edits are left out (vandalism). A block is kept when every link the classical
    DP makes has similarity >= `sure`, and no unlinked old x new pair is similar above 0.5; everything
    else is too uncertain to teach from.
    """
    from rapidfuzz import fuzz

    from revmine.pipeline.align import ClassicalAligner
    from revmine.pipeline.clean import SectionCache, clean_wikitext
    from revmine.pipeline.pair import pair_revisions
    from revmine.pipeline.read import read_dump
    from revmine.schemas import RevisionPair

    classical, cache, out = ClassicalAligner(), SectionCache(), []
    for pair in pair_revisions(read_dump(path)):
        if not isinstance(pair, RevisionPair) or pair.skip_reason or pair.is_revert or pair.is_reverted:
            continue
        old = clean_wikitext(pair.old_text, cache).texts
        new = clean_wikitext(pair.new_text, cache).texts
        for tag, i1, i2, j1, j2 in sentence_opcodes(old, new):
            if tag == "equal" or not (0 < i2 - i1 <= max_side and 0 < j2 - j1 <= max_side):
                continue
            bo, bn = old[i1:i2], new[j1:j2]
            aligned = classical.align(bo, bn)
            links = {link for a in aligned for link in a.pairs}
            if any(a.old and a.new and a.score < sure for a in aligned):
                continue
            if any(fuzz.ratio(bo[i].lower(), bn[j].lower()) > 50 for i in range(len(bo)) for j in range(len(bn))
                   if (i, j) not in links):
                continue
            out.append(Block(bo, bn, links, "wikipedia-silver"))
            if len(out) >= max_blocks:
                return out
    return out


def tags_for(block: Block) -> tuple[list[int], list[int]]:
    """Gold CRF tags per direction: 1 + first linked index, 0 (NULL) when unlinked."""
    fwd = [1 + min((j for i2, j in block.links if i2 == i), default=-1) for i in range(len(block.old))]
    bwd = [1 + min((i for i, j2 in block.links if j2 == j), default=-1) for j in range(len(block.new))]
    return fwd, bwd


def featurize(blocks: list[Block], encoder: SentenceEncoder) -> list[torch.Tensor]:
    texts = sorted({s for b in blocks for s in b.old + b.new})
    embeddings = dict(zip(texts, encoder.encode(texts).cpu()))
    return block_features([(b.old, b.new) for b in blocks], embeddings)


def finetune_encoder(encoder: SentenceEncoder, blocks: list[Block], out_dir: str, rng: random.Random,
                     epochs: int = 1, batch: int = 32, lr: float = 2e-4, rank: int = 8) -> int:
    """LoRA-fine-tune MiniLM so that aligned (changed) sentences embed close, others apart.

    In-batch contrastive loss (multiple-negatives ranking, both directions) over the aligned pairs whose
    texts differ: the pairs the cosine feature must get right. Only the adapter (a few hundred KB) is
    saved, into `out_dir`. Returns the number of training pairs.
    """
    from peft import LoraConfig, get_peft_model

    pairs = sorted({(b.old[i], b.new[j]) for b in blocks for i, j in b.links if b.old[i] != b.new[j]})
    rng.shuffle(pairs)
    model = get_peft_model(encoder.model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.1,
                                                     target_modules=["query", "value"]))
    model.train()
    encoder.model = model
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    for epoch in range(epochs):
        total = 0.0
        for k in range(0, len(pairs) - 1, batch):
            chunk = pairs[k:k + batch]
            if len(chunk) < 2:
                continue
            a = encoder.encode([p[0] for p in chunk], batch_size=batch, grad=True)
            b = encoder.encode([p[1] for p in chunk], batch_size=batch, grad=True)
            logits = a @ b.T * 20.0
            target = torch.arange(len(chunk), device=logits.device)
            loss = (torch.nn.functional.cross_entropy(logits, target)
                    + torch.nn.functional.cross_entropy(logits.T, target)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(chunk)
        log.info("encoder epoch %d: contrastive loss %.3f over %d pairs", epoch, total / max(len(pairs), 1), len(pairs))
    model.eval()
    model.save_pretrained(out_dir)
    return len(pairs)


MARGINS = (float("-inf"), -1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0)  # union margins tried (-inf: plain union)


def fit_crf(feats: list[torch.Tensor], tags: list[tuple], epochs: int, lr: float, batch: int, rng: random.Random,
            device) -> NeuralCRFModel:
    """The emission head and both CRFs, trained on precomputed block features."""
    model = NeuralCRFModel()
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    order = list(range(len(feats)))
    for epoch in range(epochs):
        rng.shuffle(order)
        total = 0.0
        for k in range(0, len(order), batch):
            idx = order[k:k + batch]
            loss = _batch_loss(model, [feats[i] for i in idx], [tags[i][0] for i in idx], [tags[i][1] for i in idx], device)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        if epoch % 10 == 0 or epoch == epochs - 1:
            log.info("aligner epoch %d: loss %.2f", epoch, total / max(1, len(feats)))
    return model


def cross_validate(iterater_train: str, iterater_dev: str, arxivedits_train: Optional[str] = None, k: int = 5,
                   epochs: int = 40, lr: float = 0.01, batch: int = 64, seed: int = 13,
                   device: Optional[torch.device] = None, margins: Sequence[float] = MARGINS) -> dict:
    """k-fold cross-validation of the shipped recipe over IteraTeR doc-level train+dev, folds by document
    (every revision of a document in one fold): a model per fold, trained on the other folds' documents
    and every arXivEdits block, scored on its fold at each union margin, next to the classical and
    provenance aligners (no training).
    The margin with the best mean changed-sentence F1 is the cross-validated choice."""
    import tempfile

    from revmine.eval.align import score_alignment
    from revmine.eval.cv import group_folds, mean_sd
    from revmine.models.aligner import NeuralAligner
    from revmine.pipeline.align import ClassicalAligner, ProvenanceAligner

    rng = random.Random(seed)
    torch.manual_seed(seed)
    encoder = SentenceEncoder(device=device)
    docs = load_iterater_docs(iterater_train) + load_iterater_docs(iterater_dev)
    folds = group_folds(docs, lambda d: d.doc_id, k)
    per_doc = [blocks_from_docs([d], "iterater") for d in docs]
    extra = blocks_from_arxivedits(arxivedits_train, rng) if arxivedits_train else []
    flat = [b for bs in per_doc for b in bs] + extra
    feats = dict(zip(map(id, flat), featurize(flat, encoder)))  # MiniLM once; each fold refits the head
    rules = {"classical": ClassicalAligner(), "provenance": ProvenanceAligner()}
    scores: dict = {name: [] for name in rules}
    for f, fold in enumerate(folds):
        held = set(fold)
        train = [b for i, bs in enumerate(per_doc) if i not in held for b in bs] + extra
        model = fit_crf([feats[id(b)] for b in train], [tags_for(b) for b in train], epochs, lr, batch, rng,
                        encoder.device)
        test_docs = [docs[i] for i in fold]
        with tempfile.TemporaryDirectory() as folder:
            save_model(model, AlignerConfig(), folder, "")
            aligner = NeuralAligner(folder, device=encoder.device)
            for margin in margins:
                aligner.config.union_margin = margin
                scores.setdefault(margin, []).append(score_alignment(test_docs, aligner))
        for name, rule in rules.items():
            scores[name].append(score_alignment(test_docs, rule))
        log.info("aligner CV fold %d/%d: %d test documents", f + 1, k, len(test_docs))

    def summary(rows: list[dict]) -> dict:
        out = {}
        for metric in ("f1", "changed_f1"):
            m, s = mean_sd([r[metric] for r in rows])
            out[metric] = {"mean": round(m, 4), "sd": round(s, 4), "folds": [round(r[metric], 4) for r in rows]}
        return out

    table = {str(m): summary(scores[m]) for m in margins}
    chosen = max(margins, key=lambda m: table[str(m)]["changed_f1"]["mean"])
    return {"folds": k, "documents": len(docs), "by_margin": table, "chosen_margin": chosen,
            "neural": table[str(chosen)], **{name: summary(scores[name]) for name in rules}}


def _batch_loss(model: NeuralCRFModel, feats, tags_f, tags_b, device) -> torch.Tensor:
    loss = 0.0
    for crf, fs, tags in ((model.crf_fwd, feats, tags_f), (model.crf_bwd, [f.transpose(0, 1) for f in feats], tags_b)):
        x, valid, mask, tag_mask = (t.to(device) for t in pad_blocks(fs))
        T = x.shape[1]
        y = torch.tensor([t + [0] * (T - len(t)) for t in tags], device=device)
        loss = loss + crf(model.head(x, valid), y, mask, tag_mask)
    return loss


def train_aligner(out_dir: str, iterater_train: str, arxivedits_train: Optional[str] = None,
                  iterater_dev: Optional[str] = None, epochs: int = 40, lr: float = 0.01, batch: int = 64,
                  seed: int = 13, device: Optional[torch.device] = None, finetune: bool = False,
                  wiki_dumps: Sequence[str] = (), cv_folds: int = 5) -> dict:
    """Train, evaluate on dev if given, save the model folder; returns the scores.

    The union margin is chosen by `cv_folds`-fold cross-validation over train+dev (`cross_validate`)
    when there is a dev file and enough documents; otherwise on the first 200 train documents."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    started = time.time()
    encoder = SentenceEncoder(device=device)
    train_docs = load_iterater_docs(iterater_train)
    blocks = blocks_from_docs(train_docs, "iterater")
    if arxivedits_train:
        blocks += blocks_from_arxivedits(arxivedits_train, rng)
    for dump in wiki_dumps:
        blocks += blocks_from_wiki_dump(dump)
    log.info("aligner: %d training blocks (%s)", len(blocks),
             {s: sum(b.source == s for b in blocks) for s in {b.source for b in blocks}})
    adapter = None
    encoder_note = "all-MiniLM-L6-v2, frozen (embeddings feed the emission head)"
    if finetune:
        adapter = "encoder-lora"
        n_pairs = finetune_encoder(encoder, blocks, os.path.join(out_dir, adapter), rng)
        encoder_note = f"all-MiniLM-L6-v2 + LoRA r=8 (query, value), contrastive on {n_pairs} aligned changed pairs"
    feats = featurize(blocks, encoder)
    tags = [tags_for(b) for b in blocks]
    dev = encoder.device
    model = fit_crf(feats, tags, epochs, lr, batch, rng, dev)
    config = AlignerConfig(adapter=adapter, training={
        "data": {"iterater_doc_train": _name(iterater_train), "arxivedits_train": _name(arxivedits_train),
                 "wikipedia_silver": [_name(d) for d in wiki_dumps]},
        "blocks": len(blocks), "epochs": epochs, "lr": lr, "seed": seed,
        "encoder": encoder_note,
        "seconds": round(time.time() - started, 1)})
    save_model(model, config, out_dir, "")
    from revmine.eval.align import score_alignment
    from revmine.models.aligner import NeuralAligner
    from revmine.pipeline.align import ClassicalAligner

    aligner = NeuralAligner(out_dir, device=dev)
    tune_docs = train_docs[:200]
    cv = None
    if iterater_dev and cv_folds >= 2 and len({d.doc_id for d in train_docs}) >= cv_folds:
        # The margin with the best changed-sentence F1 over folds of train+dev, each fold's model trained
        # without it; dev alone is only reported.
        cv = cross_validate(iterater_train, iterater_dev, arxivedits_train, k=cv_folds, epochs=epochs, lr=lr,
                            batch=batch, seed=seed, device=device)
        config.union_margin = cv["chosen_margin"]
        config.training["selection"] = (f"union margin by {cv_folds}-fold cross-validation over IteraTeR "
                                        "doc-level train+dev, folds by document")
    else:  # no dev to pool: the margin with the best changed F1 on TRAIN documents (never dev)
        best = None
        for margin in MARGINS:
            aligner.config.union_margin = margin
            f1 = score_alignment(tune_docs, aligner)["changed_f1"]
            log.info("aligner: union_margin %s -> train changed F1 %.4f", margin, f1)
            if best is None or f1 > best[1]:
                best = (margin, f1)
        config.union_margin = best[0]
        config.training["selection"] = "union margin by changed F1 on the first 200 train documents"
    aligner.config.union_margin = config.union_margin
    metrics = {"train_subset(200 docs)": {"neural": score_alignment(tune_docs, aligner),
                                          "classical": score_alignment(tune_docs, ClassicalAligner())}}
    if iterater_dev:
        docs = load_iterater_docs(iterater_dev)
        metrics["dev"] = {"neural": score_alignment(docs, aligner), "classical": score_alignment(docs, ClassicalAligner())}
    if cv is not None:
        metrics["cv"] = {"folds": cv["folds"], "documents": cv["documents"], "union_margin": cv["chosen_margin"],
                         "neural": cv["neural"], "classical": cv["classical"]}
    config.metrics = metrics
    save_model(model, config, out_dir, model_card(config))
    return metrics


def _name(path: Optional[str]) -> Optional[str]:
    """Data files are recorded relative to the shared data folder, never as a machine's absolute path."""
    if path is None:
        return None
    parts = path.replace("\\", "/").split("/")
    return "/".join(parts[-3:])


def _cascade_note(share: Optional[float]) -> str:
    if share is None:
        return "Links: the CRF's alone."
    return (f"Links: where at least {share} of either sentence's characters come from the other under a word-level "
            "longest-common-subsequence diff of the block (the criterion that defines the IteraTeR gold links, applied "
            "to the aligner's own diff), the link is kept, and the CRF links only the sentences those links leave "
            "out. Blocks of more than 48 sentences a side take those links alone.")


def model_card(config: AlignerConfig) -> str:
    rows = "\n".join(f"| {split} | {name} | {s['f1']} | {s['changed_precision']} | {s['changed_recall']} | {s['changed_f1']} |"
                     for split, by_name in config.metrics.items() if split != "cv" for name, s in by_name.items())
    cv = config.metrics.get("cv")
    if cv:
        rows += "\n" + "\n".join(
            f"| {cv['folds']}-fold CV of train+dev ({cv['documents']} docs, by document; mean ± sd) | {name} | "
            f"{cv[name]['f1']['mean']} ± {cv[name]['f1']['sd']} | – | – | "
            f"{cv[name]['changed_f1']['mean']} ± {cv[name]['changed_f1']['sd']} |" for name in ("neural", "classical"))
    return f"""# revmine neural CRF sentence aligner

Emission head (MLP over MiniLM bi-encoder cosine + string features) and two jump-distance CRFs
(old->new, new->old), merged by **{config.merge}**. The encoder is `{config.base_encoder}`; this folder holds
only the head and CRF weights (`model.safetensors`, a few KB){' and a LoRA adapter' if config.adapter else ''}.

## Training data
{json.dumps(config.training, indent=2)}

Gold for IteraTeR is derived by mapping characters through the annotated edit actions
(revmine/eval/align.py); arXivEdits sentence pairs are aligned by construction, with sentences from
other papers inserted as unaligned negatives. Only changed blocks (after hash-matching) are used,
because that is all the aligner sees in the pipeline.

Union margin (links found in one direction only must beat NULL by this much): {config.union_margin}.
{_cascade_note(config.provenance_share)}
Selection: {config.training.get("selection", "on the train subset")}.

## Scores (IteraTeR doc-level, `revmine eval align`)
| split | aligner | overall F1 | changed P | changed R | changed F1 |
|---|---|---:|---:|---:|---:|
{rows}

Reproduce: `revmine train aligner` (defaults to ../shared/data; about 10 minutes on 2 CPU cores, the 5-fold cross-validation included).
"""
