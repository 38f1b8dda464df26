"""Cross-validation folds split by source document."""
import pytest

from revmine.eval.cv import fmt, group_folds, mean_sd


def test_folds_keep_each_document_whole_and_stay_balanced():
    items = [{"doc": d} for d in range(30) for _ in range(1 + d % 4)]
    folds = group_folds(items, lambda it: it["doc"], k=5)
    assert sorted(i for f in folds for i in f) == list(range(len(items)))  # a partition
    for f in folds:
        others = {items[i]["doc"] for g in folds if g is not f for i in g}
        assert not {items[i]["doc"] for i in f} & others
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 4
    assert group_folds(items, lambda it: it["doc"], k=5) == folds  # deterministic
    with pytest.raises(ValueError):
        group_folds(items[:3], lambda it: it["doc"], k=5)


def test_mean_and_sd():
    assert mean_sd([0.7, 0.8]) == pytest.approx((0.75, 0.0707), abs=1e-4)
    assert fmt([0.5]) == "0.500 ± 0.000"


def test_eval_edits_reports_the_fold_mean(shared_data, capsys):
    import json

    from revmine.cli import main

    data = shared_data / "arxivedits"
    assert main(["eval", "edits", "--data", str(data / "dev.json"), "--cv-train", str(data / "train.json")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    last = json.loads(out[-1])
    assert 0.6 < last["cv_f1_mean"] < last["f1"] and last["cv_folds"] == 5
    assert any("folds by paper" in line for line in out)


def test_lexical_intent_cross_validation_keeps_papers_whole(shared_data):
    from revmine.eval.intent import load_intents
    from revmine.training.intent import cross_validate_lexical

    pool = load_intents(str(shared_data / "arxivedits" / "dev.json"), "arxivedits")[:160]
    cv = cross_validate_lexical(pool, "arxivedits", k=3, cs=(0.3, 3.0))
    assert cv["metric"] == "weighted_f1" and cv["examples"] == 160 and cv["chosen_C"] in (0.3, 3.0)
    for row in cv["by_C"].values():
        assert len(row["folds"]) == 3 and all(0 < f <= 1 for f in row["folds"])
    assert cv["by_C"][str(cv["chosen_C"])]["mean"] == max(r["mean"] for r in cv["by_C"].values())
