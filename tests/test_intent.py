"""Edit-intent classification: gold loaders, features, metrics, training on a tiny slice, pipeline labels."""
import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from revmine.eval.intent import (ARXIVEDITS, ITERATER, EditInput, classification_report, coarse, diff_spans,
                                 load_intents)
from revmine.models.intent import FEATURES, features, marked


def _edit(old, new):
    o, n, typ = diff_spans(old, new)
    return EditInput(old, new, o, n, typ)


def feats(old, new):
    return dict(zip(FEATURES, features(_edit(old, new))))


def test_features_separate_typo_format_and_content():
    typo = feats("The resutls are shown below .", "The results are shown below .")
    assert typo["lev_1_2"] == 1 and typo["sub"] == 1 and typo["char_sim"] > 0.7
    # revmine's own diff is case-folded (no edit here), but gold spans can be case-only changes
    case = dict(zip(FEATURES, features(EditInput("Monte Carlo", "monte carlo", ((0, 11),), ((0, 11),), "Substitute"))))
    assert case["case_only"] == 1
    fmt = feats("where x is the mass .", "where $x$ is the mass .")
    assert fmt["format_chars"] == 1
    content = feats("We study the model .", "We study the model and prove that it converges in two dimensions .")
    assert content["ins"] == 1 and content["new_len"] > content["old_len"] and content["lev_1_2"] == 0
    hyphen = feats("an under performed baseline", "an under-performed baseline")
    assert hyphen["space_hyphen_only"] == 1


def test_marking_brackets_the_span_and_crops_context():
    e = _edit("a b c d e f g h i j k l m n o p", "a b c d e f g X i j k l m n o p")
    assert marked(e.new, e.new_spans, window=2) == "… f g [ X ] i j …"
    assert marked(e.old, e.old_spans, window=20) == "a b c d e f g [ h ] i j k l m n o p"


def test_coarse_view():
    assert {coarse(x) for x in ARXIVEDITS} == {"Content", "Improve-grammar-Typo", "Format", "Language"}


def test_report_matches_hand_computed_scores():
    r = classification_report(["a", "a", "b", "c"], ["a", "b", "b", "c"], ["a", "b", "c"])
    assert r["accuracy"] == 0.75 and r["n"] == 4
    assert r["per_class"]["a"]["f1"] == pytest.approx(2 / 3) and r["per_class"]["b"]["precision"] == 0.5
    assert r["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert r["weighted_f1"] == pytest.approx((2 / 3 * 2 + 2 / 3 + 1) / 4)


def test_gold_loaders(shared_data):
    arx = load_intents(str(shared_data / "arxivedits" / "train.json"), "arxivedits")
    assert len(arx) == 1254 and {e.label for e in arx} == set(ARXIVEDITS)
    e = next(x for x in arx if x.type == "Substitute")
    assert e.old_text and e.new_text and e.old_text in e.old
    sent = load_intents(str(shared_data / "iterater" / "sent_level" / "dev.json"), "iterater")
    assert len(sent) == 385 and {x.label for x in sent} == set(ITERATER)  # 'others' (15) is skipped
    doc = load_intents(str(shared_data / "iterater" / "doc_level" / "dev.json"), "iterater")
    assert len(doc) == 385 and all(x.old_spans or x.new_spans for x in doc)
    with pytest.raises(ValueError):
        load_intents(str(shared_data / "arxivedits" / "dev.json"), "iterater")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, shared_data):
    """Both heads trained on a tiny slice: proves the code path, not the quality."""
    from revmine.cli import main

    out = tmp_path_factory.mktemp("intent")
    assert main(["train", "intent", "--out", str(out), "--limit", "24", "--epochs", "1"]) == 0
    return out


@pytest.mark.slow
def test_train_writes_a_small_model_with_a_card(tiny_model):
    cfg = json.loads((tiny_model / "config.json").read_text())
    assert set(cfg["taxonomies"]) == {"arxivedits", "iterater"}
    assert cfg["metrics"]["dev"]["iterater"]["n"] == 24
    size = sum(p.stat().st_size for p in tiny_model.rglob("*") if p.is_file())
    assert size < 8_000_000, size
    card = (tiny_model / "README.md").read_text()
    assert "Training data" in card and "Cross-validated" in card
    assert "arxivedits" in cfg["training"]["lexical_cv"]  # the IteraTeR slice has too few documents for 5 folds
    for cv in cfg["training"]["lexical_cv"].values():  # C chosen by folds of train+dev, as the card says
        assert cv["by_C"][str(cv["chosen_C"])]["mean"] == max(v["mean"] for v in cv["by_C"].values())


@pytest.mark.slow
def test_tiny_model_mixes_in_a_lexical_model(tiny_model):
    cfg = json.loads((tiny_model / "config.json").read_text())
    assert set(cfg["mix"]) == {"arxivedits", "iterater"} and all(0 <= w <= 1 for w in cfg["mix"].values())
    assert (tiny_model / "lexical-iterater.safetensors").exists() and (tiny_model / "lexical-arxivedits.json").exists()
    assert "encoder_only" in cfg["metrics"]["dev"]["arxivedits"]


@pytest.mark.slow
def test_whole_model_cross_validation_holds_out_papers_and_resumes(tiny_model, shared_data, tmp_path, monkeypatch):
    """One fold of the whole recipe on a tiny slice: trained without its held-out papers, scored at every
    mixing weight, written at once; a second run finds the fold done and trains nothing."""
    import revmine.training.intent as training
    from revmine.eval.cv import group_folds

    pools = {"arxivedits": load_intents(str(shared_data / "arxivedits" / "train.json"), "arxivedits")[:40],
             "iterater": load_intents(str(shared_data / "iterater" / "sent_level" / "train.json"), "iterater")[:40]}
    seen = []
    real_train = training.train_intent
    monkeypatch.setattr(training, "train_intent", lambda out, train, *a, **k: seen.append(train) or real_train(out, train, *a, **k))
    out = tmp_path / "cv.json"
    choices = training.lexical_choices(str(tiny_model))
    result = training.cross_validate_mixed(pools, str(out), choices, k=2, only=[1], epochs=1)
    held = {pools["arxivedits"][i].group for i in group_folds(pools["arxivedits"], lambda e: e.group, 2)[0]}
    assert held and not held & {e.group for e in seen[0]["arxivedits"]}  # no held-out paper in training
    fold = json.loads(out.read_text())["by_fold"]["1"]
    assert set(fold["arxivedits"]["by_mix"]) == {str(w / 10) for w in range(11)}
    assert fold["arxivedits"]["n"] + len(seen[0]["arxivedits"]) == 40
    summary = result["summary"]["arxivedits"]
    assert summary["at_shipped_mix"]["folds"] == [fold["arxivedits"]["by_mix"][str(choices["arxivedits"]["mix"])]["weighted_f1"]]
    again = training.cross_validate_mixed(pools, str(out), choices, k=2, only=[1], epochs=1)
    assert len(seen) == 1 and again["summary"] == result["summary"]
    with pytest.raises(ValueError, match="class weight power"):  # one recipe per file: no mixed folds
        training.cross_validate_mixed(pools, str(out), choices, k=2, only=[2], epochs=1, class_weight_power=1.0)
    assert len(seen) == 1
    # the fold encoder's held-out probabilities are kept: other lexical settings are scored without training
    import numpy as np
    kept = np.load(tmp_path / "cv.encoder.npz")
    assert kept["1/arxivedits"].shape == (fold["arxivedits"]["n"], len(ARXIVEDITS)) and "2/iterater" not in kept
    same = training.rescore_lexical(pools, str(out), choices)
    assert same["by_fold"]["1"] == {t: v for t, v in fold.items() if t != "seconds"} and len(seen) == 1
    other = training.rescore_lexical(pools, str(out), {t: dict(c, C=c["C"] * 30) for t, c in choices.items()})
    assert other["by_fold"]["1"]["arxivedits"]["by_mix"]["1.0"] == fold["arxivedits"]["by_mix"]["1.0"]  # encoder alone
    assert other["by_fold"]["1"] != same["by_fold"]["1"]
    with pytest.raises(ValueError):
        training.rescore_lexical({t: p[:30] for t, p in pools.items()}, str(out), choices)
    # the model card reports the folds beside the lexical model's
    import shutil
    card_dir = tmp_path / "model"
    shutil.copytree(tiny_model, card_dir)
    training.record_whole_model_cv(str(card_dir), result)
    card = (card_dir / "README.md").read_text()
    assert "the whole model (encoder refitted per fold), weighted_f1 over 1 of 2 folds" in card
    # choosing the mix by the folds: the weight moves to the best fold mean, and dev is scored at it
    dev = {t: load_intents(str(shared_data / "arxivedits" / "dev.json"), t)[:24] for t in ("arxivedits",)}
    training.record_whole_model_cv(str(card_dir), result, dev)
    cfg = json.loads((card_dir / "config.json").read_text())
    best = float(result["summary"]["arxivedits"]["best_mix"])
    assert cfg["mix"]["arxivedits"] == best and cfg["metrics"]["dev"]["arxivedits"]["n"] == 24
    card = (card_dir / "README.md").read_text()
    assert "by the whole model's folds" in card and f"at the mix they chose, {best} (shipped)" in card
    # the encoder-skipping threshold, scored on the same kept fold: "never" is the mix alone, and a higher
    # threshold skips no more edits; the choice follows the rule and lands in the config and the card
    skip = training.skip_encoder_cv(pools, str(out), choices)
    never, mixed = skip["by_threshold"]["None"], fold["arxivedits"]["by_mix"][str(choices["arxivedits"]["mix"])]
    assert skip["folds"] == 1 and never["arxivedits"]["folds"] == [mixed["weighted_f1"]]
    shares = [skip["by_threshold"][str(at)]["iterater"]["skipped"] for at in training.SKIP_GRID]
    assert shares == sorted(shares, reverse=True) and never["iterater"]["skipped"] == 0
    assert skip["chosen"] == training.choose_skip(skip["by_threshold"])
    if skip["chosen"] is not None:
        at = skip["by_threshold"][str(skip["chosen"])]
        assert all(at[t]["mean"] >= never[t]["mean"] for t in never)
    training.record_skip_encoder(str(card_dir), skip)
    assert json.loads((card_dir / "config.json").read_text())["skip_encoder_at"] == skip["chosen"]
    assert training.choose_skip({"None": {"a": {"mean": 0.5}}, "0.6": {"a": {"mean": 0.5}},
                                 "0.5": {"a": {"mean": 0.49}}, "0.7": {"a": {"mean": 0.51}}}) == 0.6


def test_a_repeated_edit_is_classified_once_with_the_same_probabilities(tiny_model, shared_data, monkeypatch):
    from revmine.models.intent import IntentClassifier

    dev = load_intents(str(shared_data / "arxivedits" / "dev.json"), "arxivedits")[:24]
    # fp32: in bf16 a row's probabilities move in the third decimal with its batch-mates
    fresh = IntentClassifier(str(tiny_model), precision="fp32").predict_proba(dev)
    clf = IntentClassifier(str(tiny_model), precision="fp32")
    encoded: list[int] = []
    original = clf.encoder_proba
    monkeypatch.setattr(clf, "encoder_proba", lambda ex, bs=64: encoded.append(len(ex)) or original(ex, bs))
    first = clf.predict_proba(dev[:16])
    again = clf.predict_proba(dev[8:] + dev[:4])  # 8 repeats from the last call, 4 from its start, 8 new
    assert encoded == [len({(e.old, e.new, e.old_spans, e.new_spans, e.type) for e in dev[:16]}), 8]
    for tax in fresh:
        assert torch.allclose(first[tax], fresh[tax][:16], atol=1e-5)
        assert torch.allclose(again[tax], torch.cat([fresh[tax][8:], fresh[tax][:4]]), atol=1e-5)


def test_the_encoder_is_skipped_where_every_lexical_model_is_sure(tiny_model, shared_data, monkeypatch):
    """One encoder pass labels both taxonomies, so an edit skips it only when both lexical models give their
    top label at least `skip_encoder_at`: it then takes their probabilities and names them as its source;
    every other edit gets the mix it gets with no threshold."""
    from revmine.models.intent import IntentClassifier, _key

    dev = load_intents(str(shared_data / "arxivedits" / "dev.json"), "arxivedits")[:24]
    full = IntentClassifier(str(tiny_model), precision="fp32")
    assert full.config.skip_encoder_at is None  # a freshly trained model runs the encoder for every edit
    mixed = full.predict_proba(dev)
    lexical = {t: m.predict_proba(dev) for t, m in full.lexical.items()}
    least = torch.stack([p.max(-1).values for p in lexical.values()]).min(0).values
    clf = IntentClassifier(str(tiny_model), precision="fp32")
    clf.config.skip_encoder_at = float(least.median())
    sure = (least >= clf.config.skip_encoder_at).tolist()
    assert 0 < sum(sure) < len(dev)
    encoded: list = []
    original = clf.encoder_proba
    monkeypatch.setattr(clf, "encoder_proba", lambda ex, bs=64: encoded.extend(ex) or original(ex, bs))
    labels, source = clf.predict_with_source(dev)
    assert {_key(e) for e in encoded} == {_key(e) for e, s in zip(dev, sure) if not s}
    assert source == [clf.lexical_name if s else clf.name for s in sure]
    probs = clf.predict_proba(dev)
    for tax in probs:
        want = torch.stack([lexical[tax][i] if s else mixed[tax][i] for i, s in enumerate(sure)])
        assert torch.allclose(probs[tax], want, atol=1e-5)
        assert [lab for lab, _ in labels[tax]] == [clf.config.taxonomies[tax][j] for j in want.argmax(-1).tolist()]


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list("ab É\t\n.-_1'ŉ\u00a0\u2003ßİ")), max_size=40),
       st.sampled_from([("char_wb", (1, 4)), ("char_wb", (2, 5)), ("word", (1, 2)), ("word", (2, 3))]))
def test_span_vectorizer_grams_are_sklearns(text, settings_):
    """The loaded lexical models' n-grams, against scikit-learn's analyzer of the same settings: short words,
    runs of whitespace, non-breaking spaces and case folds that change a string's length included."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from revmine.models.lexical import SpanVectorizer

    analyzer, ngrams = settings_
    ours = SpanVectorizer(analyzer, ngrams, {}, [])
    assert ours.grams(text) == TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams).build_analyzer()(text)


def test_a_loaded_lexical_model_reads_spans_as_sklearn_does_without_importing_it(shared_data):
    """The shipped lexical models, loaded: their tf-idf matrices equal scikit-learn's vectorizers rebuilt from
    the same vocabulary and idf, on dev edits of both taxonomies; and loading them imports no scikit-learn
    (its import was 0.75 s of every run's start-up)."""
    import subprocess
    import sys

    from sklearn.feature_extraction.text import TfidfVectorizer

    from revmine.models.lexical import CHAR, WORD, LexicalIntent, span_text
    from revmine.runner.label import default_intent_dir

    texts = [span_text(e) for e in load_intents(str(shared_data / "arxivedits" / "dev.json"), "arxivedits")]
    texts += [span_text(e) for e in load_intents(str(shared_data / "iterater" / "sent_level" / "dev.json"), "iterater")]
    for tax in ("arxivedits", "iterater"):
        model = LexicalIntent.load(default_intent_dir(), tax)
        for ours, settings_ in ((model.char, CHAR), (model.word, WORD)):
            theirs = TfidfVectorizer(**settings_, vocabulary=ours.vocabulary_)
            theirs.idf_ = ours.idf_
            got, want = ours.transform(texts), theirs.transform(texts)
            assert got.shape == want.shape and abs(got - want).max() < 1e-12
    code = ("import sys; from revmine.models.lexical import LexicalIntent; "
            f"LexicalIntent.load({default_intent_dir()!r}, 'arxivedits'); print('sklearn' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_lexical_model_learns_and_round_trips(tmp_path, shared_data):
    """Fitted on the full arXivEdits train split (seconds): it must clear a real bar on dev, and a
    save/load round trip must give the same probabilities. Classes missing from training get ~0."""
    from revmine.models.lexical import LexicalIntent

    train = load_intents(str(shared_data / "arxivedits" / "train.json"), "arxivedits")
    dev = load_intents(str(shared_data / "arxivedits" / "dev.json"), "arxivedits")
    model = LexicalIntent(ARXIVEDITS).fit(train)
    probs = model.predict_proba(dev)
    pred = [ARXIVEDITS[j] for j in probs.argmax(-1).tolist()]
    assert classification_report([e.label for e in dev], pred, ARXIVEDITS)["weighted_f1"] > 0.72
    model.save(str(tmp_path), "arxivedits")
    again = LexicalIntent.load(str(tmp_path), "arxivedits").predict_proba(dev)
    assert (again - probs).abs().max() < 1e-5
    partial = LexicalIntent(ARXIVEDITS).fit([e for e in train if e.label in ("Content", "Format")][:40])
    p = partial.predict_proba(dev[:5])
    assert p[:, [0, 2]].sum(-1).min() > 0.999


def test_lexical_model_with_an_iterater_helper(tmp_path, shared_data):
    """The IteraTeR lexical model's probabilities as features lift the arXivEdits model on dev, and the
    helper is saved by name and loaded back with it."""
    from revmine.models.intent import TAXONOMIES
    from revmine.models.lexical import LexicalIntent

    from revmine.runner.label import default_intent_dir

    train = load_intents(str(shared_data / "arxivedits" / "train.json"), "arxivedits")
    dev = load_intents(str(shared_data / "arxivedits" / "dev.json"), "arxivedits")
    helper = LexicalIntent.load(default_intent_dir(), "iterater")  # fitted on IteraTeR train alone
    assert helper.labels == list(TAXONOMIES["iterater"]) and helper.helper is None
    alone = LexicalIntent(ARXIVEDITS).fit(train)
    helped = LexicalIntent(ARXIVEDITS, helper=helper, helper_name="iterater", helper_weight=3.0).fit(train)

    def wf1(model):
        pred = [ARXIVEDITS[j] for j in model.predict_proba(dev).argmax(-1).tolist()]
        return classification_report([e.label for e in dev], pred, ARXIVEDITS)["weighted_f1"]

    assert wf1(helped) > wf1(alone) + 0.005
    helper.save(str(tmp_path), "iterater")
    helped.save(str(tmp_path), "arxivedits")
    again = LexicalIntent.load(str(tmp_path), "arxivedits")
    assert again.helper_name == "iterater" and again.helper is not None
    assert (again.predict_proba(dev) - helped.predict_proba(dev)).abs().max() < 1e-5
    assert LexicalIntent(ARXIVEDITS, helper=helper, helper_weight=0.0).helper is None  # weight 0: no helper


@pytest.mark.slow
def test_eval_intent_cli_ends_with_json(tiny_model, shared_data, capsys):
    from revmine.cli import main

    assert main(["eval", "intent", "--taxonomy", "arxivedits", "--model", str(tiny_model),
                 "--data", str(shared_data / "arxivedits" / "dev.json")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    last = json.loads(out[-1])
    assert set(last) >= {"accuracy", "macro_f1", "weighted_f1", "n"} and last["n"] == 449
    assert any(line.startswith("Improve-grammar-Typo") for line in out)
    assert main(["eval", "intent", "--taxonomy", "iterater", "--model", str(tiny_model),
                 "--data", str(shared_data / "arxivedits" / "dev.json")]) == 2


def test_encoder_batches_go_by_the_token_length_of_the_marked_windows(tiny_model):
    """The encoder reads each sentence cropped to a window around its spans, so a long sentence can be a
    short input. Batches are formed by the inputs' own token counts (the least padding for batches of
    that size), and every row's probabilities are those it gets alone."""
    from revmine.models.intent import IntentClassifier, _encode

    words = [f"w{i}" for i in range(200)]
    sentence = lambda n: " ".join(words[:n]) + "."  # noqa: E731

    def edit(n: int, at: int) -> EditInput:
        old = sentence(n)
        new = old.replace(f" w{at} ", f" changed{at} ", 1)
        return _edit(old, new)

    # by characters: 10, 20, 28, 200 words; by window tokens: 10, 20, 13 (span at the start), 25
    examples = [edit(200, 100), edit(28, 1), edit(20, 10), edit(10, 5)]
    clf = IntentClassifier(str(tiny_model), precision="fp32")
    widths: list[tuple[int, int]] = []
    hook = clf.model.encoder.register_forward_pre_hook(
        lambda module, args, kwargs: widths.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        batched = clf.encoder_proba(examples, batch_size=2)
    finally:
        hook.remove()
    lengths = sorted(len(ids) for ids in _encode(examples, clf.tokenizer, clf.config)["input_ids"])
    least = sum(max(lengths[k:k + 2]) * len(lengths[k:k + 2]) for k in range(0, len(lengths), 2))
    assert sum(rows * width for rows, width in widths) == least, (widths, lengths)
    alone = [clf.encoder_proba([e], batch_size=1) for e in examples]
    for tax, probs in batched.items():
        assert torch.allclose(probs, torch.cat([a[tax] for a in alone]), atol=1e-5)


@pytest.fixture(scope="module")
def shipped_fp32():
    """The committed intent model in fp32, loaded once: its cache lets a second test reuse the dev passes."""
    from revmine.models.intent import IntentClassifier
    from revmine.runner.label import default_intent_dir

    return IntentClassifier(default_intent_dir(), precision="fp32")


@pytest.mark.slow
def test_shipped_model_reproduces_its_card(shared_data, shipped_fp32):
    """The committed intent model, in fp32, on both dev sets: the figures its card reports, with the mixing
    weights and the encoder-skipping threshold the whole model's five folds chose (dev only reports), and no
    lower than those figures allow."""
    clf = shipped_fp32
    assert clf.lexical["arxivedits"].helper is clf.lexical["iterater"]  # one model, read once
    cv = clf.config.training["whole_model_cv"]
    assert cv["folds_done"] == cv["folds"] == 5
    assert clf.config.training["mix_selection"].startswith("best fold mean over 5 of 5 folds")
    skip = clf.config.training["skip_encoder_cv"]
    assert skip["folds"] == 5 and clf.config.skip_encoder_at == skip["chosen"]
    assert all(skip["at_chosen"][t]["mean"] >= skip["never"][t]["mean"] for t in skip["never"])
    got = {}
    for tax, path, metric in (("arxivedits", "arxivedits/dev.json", "weighted_f1"),
                              ("iterater", "iterater/sent_level/dev.json", "macro_f1")):
        assert clf.config.mix[tax] == float(cv[tax]["best_mix"])
        dev = load_intents(str(shared_data / path), tax)
        pred = [lab for lab, _ in clf.predict(dev)[tax]]
        got[tax] = classification_report([e.label for e in dev], pred, clf.config.taxonomies[tax])[metric]
        assert abs(got[tax] - clf.config.metrics["dev"][tax]["skip_encoder"][metric]) < 0.002, (tax, got[tax])
    assert got["arxivedits"] >= 0.775 and got["iterater"] >= 0.58, got


def test_int8_encoder_on_a_cpu_without_bf16_keeps_the_labels(shared_data, shipped_fp32, monkeypatch):
    """"auto" on a CPU without native bf16 quantises the shipped encoder's linear layers to int8; on dev
    edits of both taxonomies it must give the fp32 model's labels nearly everywhere."""
    from revmine.models import aligner
    from revmine.models.intent import IntentClassifier
    from revmine.runner.label import default_intent_dir

    monkeypatch.setattr(aligner, "native_bf16", lambda device: False)
    exact = shipped_fp32
    auto = IntentClassifier(default_intent_dir())

    def quantised(clf) -> int:
        return sum(type(m).__module__.startswith("torch.ao.nn.quantized") for m in clf.model.encoder.modules())

    assert quantised(exact) == 0 and quantised(auto) >= 36  # 6 layers x (q, k, v, out, up, down)
    for tax, path, metric in (("arxivedits", "arxivedits/dev.json", "weighted_f1"),
                              ("iterater", "iterater/sent_level/dev.json", "macro_f1")):
        dev = load_intents(str(shared_data / path), tax)  # all of it: half of it moves by 0.03 either way
        a, b = exact.predict_proba(dev)[tax], auto.predict_proba(dev)[tax]
        same = (a.argmax(-1) == b.argmax(-1)).float().mean().item()
        labels = exact.config.taxonomies[tax]
        scores = [classification_report([e.label for e in dev], [labels[i] for i in p.argmax(-1)], labels)[metric]
                  for p in (a, b)]
        # all of dev: 96.0% and 94.3% the same labels; weighted F1 0.774 -> 0.771, macro F1 0.575 -> 0.592
        assert same >= 0.92 and scores[1] >= scores[0] - 0.02, (tax, same, scores)


@pytest.mark.slow
def test_pipeline_labels_every_edit(tmp_path, sample_dump, tiny_model):
    import duckdb

    from revmine.config import Config
    from revmine.runner.run import run

    config = Config.load(None, **{"diff.aligner": "classical", "label.model": str(tiny_model),
                                  "summarize.enabled": False})
    assert run([str(sample_dump)], str(tmp_path), config).accounting.balanced
    con = duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True)
    n, unlabelled, bad = con.execute(f"""
        select count(*), count(*) filter (where intent is null or intent_iterater is null),
               count(*) filter (where intent not in {tuple(ARXIVEDITS)} or intent_iterater not in {tuple(ITERATER)}
                                or intent_coarse is null or intent_iterater_score not between 0 and 1)
        from edits""").fetchone()
    assert n > 10 and unlabelled == 0 and bad == 0
    # whole sentences added or removed: the rule; everything else: the classifier, with its probability
    by_path = dict(con.execute("""
        select granularity = 'sentence' and type in ('Insertion', 'Deletion') as whole,
               list_distinct(list(intent_model || ':' || coalesce(intent_score::varchar, 'null')
                                  .regexp_replace('^0\\..*|^1\\.0*$', 'p')))
        from edits group by 1""").fetchall())
    assert by_path[True] == ["rule:whole-sentence:null"]
    assert by_path[False] == [f"intent-minilm-lora@{tiny_model.name}:p"]


def test_pipeline_without_intent_model_says_so_once(tmp_path, sample_dump, caplog, monkeypatch):
    """No intent model shipped (a package built without its weights): one warning, labels NULL. (A folder
    the config names that holds none stops the run instead: tests/test_config.py.)"""
    import duckdb

    from revmine.config import Config
    from revmine.runner import label
    from revmine.runner.run import run

    monkeypatch.setattr(label, "default_intent_dir", lambda: str(tmp_path / "none"))
    config = Config.load(None, **{"diff.aligner": "classical", "summarize.enabled": False})
    with caplog.at_level("WARNING"):
        run([str(sample_dump)], str(tmp_path / "wh"), config)
    assert sum("revmine train intent" in r.getMessage() for r in caplog.records) == 1
    con = duckdb.connect(str(tmp_path / "wh" / "catalog.duckdb"), read_only=True)
    assert con.execute("select count(*) filter (where intent is not null), count(*) from edits").fetchone()[0] == 0


def test_whole_sentence_rule_follows_iterater_gold_and_can_be_turned_off(tiny_model):
    """The rule's labels are the majority of IteraTeR's whole-sentence gold; with the rule off, the
    classifier labels whole sentences too."""
    from revmine.models.intent import IntentClassifier
    from revmine.models.intent_types import WHOLE_SENTENCE
    from revmine.runner.label import Labeler, label_edits
    from revmine.schemas import Alignment, Edit

    assert {t: v[:2] for t, v in WHOLE_SENTENCE.items()} == {"Deletion": ("Content", "coherence"),
                                                            "Insertion": ("Content", "meaning-changed")}
    text = "A new sentence about mutualism."
    align = Alignment(wiki="w", year=2001, source="wikipedia", pair_id="w:1", align_idx=0, old_idx=[], new_idx=[3], links=[],
                      kind="insert", score=0.0, method="neural-crf", old_text="", new_text=text)

    def edit():
        return Edit(wiki="w", year=2001, source="wikipedia", pair_id="w:1", align_idx=0, edit_idx=0, type="Insertion",
                    granularity="sentence", old_token_start=None, old_token_end=None, new_token_start=0,
                    new_token_end=6, old_char_start=None, old_char_end=None, new_char_start=0,
                    new_char_end=len(text), old_text="", new_text=text)

    clf = IntentClassifier(str(tiny_model))
    ruled, classified = edit(), edit()
    assert label_edits(Labeler(clf, True), [align, ruled]) == 1
    assert (ruled.intent, ruled.intent_iterater, ruled.intent_model, ruled.intent_score) == \
        ("Content", "meaning-changed", "rule:whole-sentence", None)
    assert label_edits(Labeler(clf, False), [align, classified]) == 1
    assert classified.intent_model == clf.name and 0 <= classified.intent_score <= 1


def test_encoder_batches_fit_the_device(shipped_fp32):
    """Without a batch size, the classifier's encoder takes 64 edits per forward on CPU (256 on CUDA: the
    width comes from `encoder_batch`, tested with the aligner's encoder)."""
    edits = [_edit(f"The tower was built in {1800 + i}.", f"The tower was finished in {1800 + i}.")
             for i in range(70)]
    widths = []
    hook = shipped_fp32.model.encoder.register_forward_pre_hook(
        lambda module, args, kwargs: widths.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    try:
        shipped_fp32.encoder_proba(edits)
    finally:
        hook.remove()
    assert widths == [64, 6]


@pytest.mark.slow
def test_a_soup_of_trainings_from_one_initialisation_is_their_mean(shared_data, tmp_path, monkeypatch):
    """Members trained from one initialisation with other batch orders differ; their soup, one LoRA adapter of
    the summed rank, merges to exactly the mean of the members' merged weights and heads."""
    import revmine.training.intent as training
    from revmine.models.intent import IntentClassifier

    monkeypatch.setattr(training, "fit_lexical", lambda *a, **k: {})
    train = {"arxivedits": load_intents(str(shared_data / "arxivedits" / "train.json"), "arxivedits")[:12],
             "iterater": load_intents(str(shared_data / "iterater" / "sent_level" / "train.json"), "iterater")[:12]}
    members = [str(tmp_path / f"seed{s}") for s in (14, 15)]
    for s, out in zip((14, 15), members):
        training.train_intent(out, {t: list(v) for t, v in train.items()}, None, epochs=1, order_seed=s,
                              device=torch.device("cpu"))
    training.soup(members, str(tmp_path / "soup"))
    cpu = torch.device("cpu")
    states = [IntentClassifier(d, device=cpu, precision="fp32").model.state_dict()
              for d in (*members, str(tmp_path / "soup"))]
    floats = [k for k, v in states[0].items() if v.is_floating_point()]
    assert any(not torch.equal(states[0][k], states[1][k]) for k in floats)  # the batch order moved them apart
    assert max((states[2][k] - (states[0][k] + states[1][k]) / 2).abs().max().item() for k in floats) < 1e-5
    cfg = json.loads((tmp_path / "soup" / "config.json").read_text())
    assert cfg["lora_rank"] == 32 and cfg["training"]["soup_of"] == [14, 15]
    probs = IntentClassifier(str(tmp_path / "soup"), device=cpu, precision="fp32").encoder_proba(train["iterater"][:4])
    assert probs["iterater"].shape == (4, len(ITERATER))


def test_a_model_folder_that_lost_a_weight_is_refused_not_filled_at_random(tmp_path):
    """The intent heads were loaded with strict=False and peft only warns of missing adapter weights, so a
    heads or adapter file that lost a tensor (a bad copy, a hand edit) loaded with that tensor left at its
    random or zero start, and every label with it. Now the folder is refused and the missing weight named."""
    import shutil

    from safetensors.torch import load_file, save_file

    from revmine.models.intent import IntentClassifier
    from revmine.runner.label import default_intent_dir

    cpu = torch.device("cpu")
    for file, lost in (("heads.safetensors", "norm.weight"), ("adapter/adapter_model.safetensors", None)):
        folder = tmp_path / file.replace("/", "-")
        shutil.copytree(default_intent_dir(), folder)
        tensors = load_file(folder / file)
        lost = lost or next(k for k in tensors if "lora_B" in k)
        del tensors[lost]
        save_file(tensors, folder / file, metadata={"format": "pt"})
        with pytest.raises(ValueError, match="norm.weight" if file.startswith("heads") else "incomplete"):
            IntentClassifier(str(folder), device=cpu)
    assert IntentClassifier(default_intent_dir(), device=cpu).model is not None  # the shipped folder loads
