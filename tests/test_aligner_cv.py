"""Cross-validation of the neural aligner's recipe: folds by document, a model per fold, every margin scored."""
import json

import pytest


def test_aligner_cross_validation_on_a_tiny_slice(shared_data, tmp_path):
    from revmine.training.aligner import cross_validate

    src = shared_data / "iterater" / "doc_level"
    lines = [line for line in (src / "train.json").read_text(encoding="utf-8").splitlines() if line.strip()]
    (tmp_path / "train.json").write_text("\n".join(lines[:8]) + "\n", encoding="utf-8")
    dev = [line for line in (src / "dev.json").read_text(encoding="utf-8").splitlines() if line.strip()][:4]
    (tmp_path / "dev.json").write_text("\n".join(dev) + "\n", encoding="utf-8")
    ids = [json.loads(line)["doc_id"] for line in lines[:8] + dev]
    cv = cross_validate(str(tmp_path / "train.json"), str(tmp_path / "dev.json"), k=2, epochs=2,
                        margins=(0.0, 1.0))
    assert cv["documents"] == 12 and cv["folds"] == 2 and len(set(ids)) >= 2
    assert cv["chosen_margin"] in (0.0, 1.0)
    for row in [*cv["by_margin"].values(), cv["classical"], cv["provenance"]]:
        assert len(row["f1"]["folds"]) == 2 and all(0 <= f <= 1 for f in row["f1"]["folds"])
        assert row["f1"]["mean"] == pytest.approx(sum(row["f1"]["folds"]) / 2, abs=1e-3)
    assert cv["neural"] == cv["by_margin"][str(cv["chosen_margin"])]
