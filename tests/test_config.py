"""A configuration validates itself when loaded: wrong types, unknown keys and unknown values fail at once,
in one line that names the file, the key, the value and what is allowed; the CLI exits 2, no traceback."""
import glob
import os
import pathlib

import pytest

from revmine.cli import main
from revmine.config import Config, ConfigError

CONFIGS = sorted(str(p) for p in (pathlib.Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS)
def test_shipped_configs_validate(path):
    Config.load(path)


@pytest.mark.parametrize("yaml_text,expected", [
    ("diff:\n  max_batch: \"64\"\n", "diff.max_batch: Input should be a valid integer (got '64')"),
    ("pair:\n  revert_radius: fifteen\n", "pair.revert_radius: Input should be a valid integer (got 'fifteen')"),
    ("diff:\n  aligner: nueral\n", "diff.aligner: Input should be 'neural', 'provenance' or 'classical' (got 'nueral')"),
    ("read:\n  over_limit: drop\n", "read.over_limit: Input should be 'truncate' or 'quarantine' (got 'drop')"),
    ("label:\n  enabled: sometimes\n", "label.enabled: Input should be a valid boolean (got 'sometimes')"),
    ("diff:\n  align_threshold: \"0.5\"\n", "diff.align_threshold: Input should be a valid number (got '0.5')"),
    ("bogus:\n  x: 1\n", "unknown key 'bogus' (allowed: read, pair, diff, label, summarize)"),
    ("diff:\n  nope: 1\n", "unknown key 'diff.nope' (allowed: enabled, aligner, aligner_model,"),
    ("source:\n  wiki: enwiki\n", "unknown key 'source'"),
    ("pair:\n  bot_pattern: \"(\"\n", "pair.bot_pattern: missing ), unterminated subpattern"),
    ("- 1\n", "expected a mapping of sections"),
    ("read: [\n", "not valid YAML"),
    # values a run cannot use: a radius of 0 stopped the run inside Beam (mwreverts' TypeError), and a
    # negative text limit quarantined every revision
    ("pair:\n  revert_radius: 0\n", "pair.revert_radius: Input should be greater than or equal to 1 (got 0)"),
    ("read:\n  max_text_bytes: -1\n", "read.max_text_bytes: Input should be greater than or equal to 1 (got -1)"),
    ("summarize:\n  batch_size: 0\n", "summarize.batch_size: Input should be greater than or equal to 1 (got 0)"),
    ("diff:\n  align_threshold: 1.5\n", "diff.align_threshold: Input should be less than or equal to 1 (got 1.5)"),
])
def test_bad_config_fails_at_load_in_one_line(tmp_path, capsys, sample_dump, yaml_text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        Config.load(str(path))
    message = str(err.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message
    assert main(["run", "--input", str(sample_dump), "--out", str(tmp_path / "wh"), "--config", str(path)]) == 2
    out = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in out and " ".join(expected.split()) in out
    assert not (tmp_path / "wh").exists()


def test_overrides_are_validated_too():
    with pytest.raises(ConfigError, match="diff.max_batch"):
        Config.load(None, **{"diff.max_batch": "two"})


def test_defaults_live_in_the_library():
    from revmine.config import DiffConfig

    assert Config.load(None) == Config() and Config().diff == DiffConfig()


def test_the_command_line_is_quiet_by_default_and_verbose_with_v(monkeypatch):
    """Deprecation notices and weight-loading bars of the model libraries say nothing about a run."""
    import logging
    import warnings

    from revmine.cli._common import setup_logging

    for verbose, shown in ((False, 0), (True, 1)):
        monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("default")
            setup_logging(verbose)
            warnings.warn_explicit("`past_key_values` is deprecated", FutureWarning, "modeling_utils.py", 1,
                                   module="transformers.modeling_utils")
        assert len(seen) == shown
        assert (os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS") == "1") != verbose
        assert logging.getLogger("revmine").isEnabledFor(logging.DEBUG) == verbose
    logging.getLogger("revmine").setLevel(logging.INFO)


def test_run_help_points_to_the_fast_preset(capsys):
    from revmine.cli import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "configs/fast.yaml" in capsys.readouterr().out


@pytest.mark.parametrize("text, says", [
    ("- a\n", "a runner preset is a mapping with one key, runner_args"),
    ("runner_args: --x\n", "runner_args: expected a list of Beam flags"),
    ("runner_args: [1, 2]\n", "runner_args: expected a list of Beam flags"),
    ("runner_args: [\n", "not valid YAML"),
])
def test_a_bad_runner_preset_is_one_error_line(tmp_path, capsys, sample_dump, text, says):
    """A preset that was a list, a string or numbers ended in AttributeError, argparse's ValueError or a
    TypeError traceback."""
    (tmp_path / "preset.yaml").write_text(text)
    assert main(["run", "--input", str(sample_dump), "--out", str(tmp_path / "wh"),
                 "--runner-preset", str(tmp_path / "preset.yaml")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert says in err and "Traceback" not in err and not (tmp_path / "wh").exists()


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "configs", "runners", "*.yaml"))))
def test_shipped_runner_presets_load(path):
    from revmine.config import load_runner_preset
    from revmine.runner.run import check_beam_args

    flags = load_runner_preset(path)
    assert flags[0].startswith("--runner=")
    check_beam_args(flags)  # Beam parses the flags and can create the runner they name


def test_every_engine_the_readme_names_has_a_preset():
    presets = {os.path.basename(p) for p in glob.glob(os.path.join(os.path.dirname(__file__), "..", "configs", "runners",
                                                                   "*.yaml"))}
    assert {"dataflow.yaml", "flink.yaml", "spark.yaml", "dask.yaml", "direct.yaml"} <= presets


@pytest.mark.parametrize("flag, says", [
    ("--runner=Nope", "Unexpected pipeline runner: Nope"),
    ("--direct_num_workers=abc", "argument --direct_num_workers: invalid int value: 'abc'"),
])
def test_beam_flags_beam_refuses_are_one_line_before_the_warehouse_is_made(tmp_path, capsys, sample_dump, flag, says):
    """An unknown runner was a ValueError traceback and a bad flag value Beam's whole usage, both after the
    warehouse folder, its lock and a staging folder were made."""
    assert main(["run", "--input", str(sample_dump), "--out", str(tmp_path / "wh"), flag]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert says in err and "Traceback" not in err and "usage:" not in err and not (tmp_path / "wh").exists()


def test_a_model_folder_the_config_names_must_hold_a_readable_model(tmp_path, capsys, sample_dump):
    """`label.model: /path/typo` ran the whole input without intents (one warning, NULL labels, exit 0),
    and a damaged weights file failed every worker in setup with Beam's traceback (exit 1). Both are one
    line and exit 2 now, for `run` and `jobs run`, before a warehouse folder is made. Only for the
    DirectRunner: a remote runner's workers may hold a path the launcher does not."""
    import shutil

    from revmine.runner.label import default_intent_dir
    from revmine.runner.run import direct_runner

    damaged = tmp_path / "intent"
    shutil.copytree(default_intent_dir(), damaged)
    (damaged / "adapter" / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    for folder, said in ((tmp_path / "typo", "holds no trained model (no heads.safetensors)"),
                         (damaged, "adapter_model.safetensors cannot be read")):
        path = tmp_path / "named.yaml"
        path.write_text(f"label:\n  model: {folder}\nsummarize:\n  enabled: false\n")
        for args in (["run", "--input", str(sample_dump), "--out", str(tmp_path / "wh")],
                     ["jobs", "run", "--wiki", "testwiki", "--date", "20261101", "--warehouse", str(tmp_path / "wh")]):
            assert main(args + ["--config", str(path)]) == 2
            out = "".join(capsys.readouterr().err.split())  # rich wraps long paths anywhere
            assert "Traceback" not in out and "".join(f"label.model: {folder}".split()) in out
            assert "".join(said.split()) in out and out.count("error:") == 1
            assert not (tmp_path / "wh").exists()
    assert direct_runner([]) and direct_runner(["--runner", "DirectRunner"]) and direct_runner(["--runner=direct"])
    assert not direct_runner(["--runner=DataflowRunner"]) and not direct_runner(["--runner", "PortableRunner"])
