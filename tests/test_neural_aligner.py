"""The neural CRF aligner: shipped weights, training on a tiny slice, fallback, pipeline and eval CLI."""
import json
import logging
import os

import pytest

from revmine.config import Config
from revmine.runner.compose import build_aligner, default_aligner_dir


@pytest.fixture(scope="module")
def aligner():
    a = build_aligner(Config())
    assert a.name == "neural-crf", "the shipped weights should load"
    return a


def test_shipped_weights_have_a_model_card():
    folder = default_aligner_dir()
    assert os.path.getsize(os.path.join(folder, "model.safetensors")) < 1_000_000
    card = open(os.path.join(folder, "README.md")).read()
    assert "Training data" in card and "changed F1" in card
    cfg = json.load(open(os.path.join(folder, "config.json")))
    assert cfg["metrics"]["dev"]["neural"]["f1"] >= 0.95


def test_aligns_an_edited_block(aligner):
    old = ["The lighthouse was built in 1850 by local fishermen.", "It was painted red."]
    new = ["The lighthouse was built in 1852 by fishermen from the village.", "A museum opened in 2001.",
           "It was painted red and white."]
    got = {(a.old, a.new) for a in aligner.align(old, new)}
    assert ((0,), (0,)) in got and ((1,), (2,)) in got and ((), (1,)) in got
    assert all(a.method == "neural-crf" for a in aligner.align(old, new))


def test_batched_blocks_match_one_by_one(aligner):
    blocks = [(["A cat sat on the mat."], ["A cat sat on a mat."]),
              (["One.", "Two sentences here."], ["Two sentences here, now longer."]), ([], ["New."])]
    assert aligner.align_many(blocks) == [aligner.align(o, n) for o, n in blocks]


def test_blocks_the_provenance_links_settle_skip_the_encoder_with_the_same_result():
    """The CRF only links sentences the provenance rule left unlinked on both sides, so a block where every
    old (or every new) sentence is linked already needs neither the encoder nor the CRF."""
    settled = (["The lighthouse was built in 1850 by local fishermen.", "It was painted red."],
               ["The lighthouse was built in 1852 by local fishermen.", "It was painted red and white."])
    # a paraphrase moved past an edited sentence: the word diff carries none of its characters
    open_ = (["Storms were frequent on that coast.", "The lighthouse was built in 1850."],
             ["The lighthouse was built in 1852.", "The coast saw many gales every winter."])
    fast, full = build_aligner(Config()), build_aligner(Config())
    full.skip_settled = False
    blocks = [settled, open_, settled]
    assert fast.align_many(blocks) == full.align_many(blocks)
    assert fast.encoder.passes == len(set(open_[0] + open_[1])) < full.encoder.passes


def test_precision_is_configured_and_fp32_ignores_batch_mates(aligner):
    """auto: bf16 where the CPU does it natively (fp16 on CUDA), embeddings within rounding of fp32; fp32:
    a sentence embeds the same alone as in a batch of longer ones."""
    import torch

    fp32 = build_aligner(Config.load(None, **{"diff.precision": "fp32"}))
    assert (aligner.encoder.precision, fp32.encoder.precision) == ("auto", "fp32")
    texts = ["A cat sat.", "The lighthouse was built in 1850 by local fishermen from the village nearby."]
    exact = fp32.encoder.encode(texts)
    assert torch.allclose(fp32.encoder.encode(texts[:1]), exact[:1], atol=1e-5)
    assert (aligner.encoder.encode(texts) * exact).sum(-1).min() > 0.99  # cosine: unit vectors


def test_missing_weights_fall_back_once(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        a = build_aligner(Config.load(None, **{"diff.aligner_model": str(tmp_path)}))
    assert a.name == "provenance"
    assert sum("revmine train aligner" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.slow
def test_pipeline_runs_with_the_neural_aligner(tmp_path, sample_dump):
    import duckdb

    from revmine.runner.run import run

    result = run([str(sample_dump)], str(tmp_path))
    assert result.accounting.balanced
    con = duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True)
    methods = {m for (m,) in con.execute("select distinct method from alignments").fetchall()}
    assert methods == {"neural-crf"}


@pytest.mark.slow
def test_train_on_a_tiny_slice(tmp_path, shared_data):
    from revmine.training.aligner import train_aligner

    src = shared_data / "iterater" / "doc_level" / "train.json"
    tiny = tmp_path / "tiny.json"
    tiny.write_text("".join(open(src).readlines()[:12]))
    metrics = train_aligner(str(tmp_path / "model"), str(tiny), None, str(tiny), epochs=2, cv_folds=3)
    assert set(metrics) == {"train_subset(200 docs)", "dev", "cv"}  # 7 documents: 3 folds
    assert metrics["cv"]["folds"] == 3 and len(metrics["cv"]["neural"]["changed_f1"]["folds"]) == 3
    card = (tmp_path / "model" / "README.md").read_text()
    assert "3-fold CV of train+dev" in card and "cross-validation" in card
    assert (tmp_path / "model" / "model.safetensors").exists()
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["union_margin"] == metrics["cv"]["union_margin"]


@pytest.mark.slow
def test_eval_align_cli(shared_data, capsys):
    from revmine.cli import main

    assert main(["eval", "align", "--data", str(shared_data / "iterater" / "doc_level" / "dev.json")]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["aligner"] == "neural-crf" and result["f1"] >= 0.95
    assert {"changed_precision", "changed_recall", "changed_f1"} <= set(result)


def test_wikipedia_silver_blocks_are_unambiguous(sample_dump):
    from revmine.training.aligner import blocks_from_wiki_dump

    blocks = blocks_from_wiki_dump(str(sample_dump))
    assert blocks and all(b.source == "wikipedia-silver" for b in blocks)
    typo = next(b for b in blocks if any("navigatonal" in s for s in b.old))
    assert typo.links == {(0, 0)}
    # the vandal edit and its revert are never used for training
    assert not any("really cool" in s for b in blocks for s in b.old + b.new)


def test_encoder_batches_fit_the_device(aligner):
    """Without a batch size, 64 sentences per forward on CPU and 256 on CUDA, where 64 left an H200 mostly
    idle between forwards (benchmarks/gpu.py)."""
    import torch

    from revmine.models.aligner import encoder_batch

    assert (encoder_batch(torch.device("cpu")), encoder_batch(torch.device("cuda"))) == (64, 256)
    widths = []
    hook = aligner.encoder.model.register_forward_pre_hook(
        lambda module, args, kwargs: widths.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    try:
        aligner.encoder.encode([f"Sentence number {i}." for i in range(130)])
        aligner.encoder.encode(["One.", "Two.", "Three."], batch_size=2)
    finally:
        hook.remove()
    assert widths == [64, 64, 2, 2, 1]


def test_the_engine_aligns_other_languages_with_the_provenance_rule():
    """diff.languages (default en, simple): the neural aligner's encoder learned English, so the engine
    hands other wikis' blocks to the provenance rule; null keeps the neural aligner for every wiki."""
    from revmine.runner.compose import build_engine

    engine = build_engine(Config())
    assert engine.aligner.name == "neural-crf" and engine.other_languages.name == "provenance"
    assert engine._reads("enwiki") and engine._reads("arxiv") and not engine._reads("itwiki")
    assert build_engine(Config.load(None, **{"diff.languages": None}))._reads("itwiki")
    assert build_engine(Config.load(None, **{"diff.aligner": "classical"})).other_languages is None
