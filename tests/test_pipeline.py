"""The Beam pipeline end to end, the warehouse, the catalog and the CLI."""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import duckdb
import pytest

from revmine.cli import main
from revmine.config import Config
from revmine.pipeline.accounting import Accounting
from revmine.runner.run import run
from revmine.warehouse.layout import read_table


@pytest.fixture(scope="module")
def sample_warehouse(tmp_path_factory, sample_dump):
    out = tmp_path_factory.mktemp("wh")
    result = run([str(sample_dump)], str(out))
    return out, result


def test_books_balance_on_the_sample(sample_warehouse):
    out, result = sample_warehouse
    acc = result.accounting
    assert acc.balanced and acc.revisions_read == 25
    assert acc.pairs_written == 21 and acc.skipped == {"page_creation": 3, "identical_text": 1}
    manifest = json.loads(next((out / "_runs").glob("*.json")).read_text())
    assert manifest["accounting"]["balanced"] and manifest["files"]
    assert not (out / "_staging").exists()


def test_books_that_do_not_balance_are_detected(sample_warehouse):
    out, _ = sample_warehouse
    pairs = read_table(str(out), "revision_pairs")
    acc = Accounting.from_tables(read_table(str(out), "sources"), pairs.slice(1), read_table(str(out), "quarantine"))
    assert not acc.balanced and acc.accounted == 24


def test_plain_duckdb_can_query_without_revmine(sample_warehouse):
    out, _ = sample_warehouse
    code = ("import duckdb; c = duckdb.connect(%r, read_only=True); "
            "print(c.execute('select count(*) from revision_pairs where is_revert').fetchone()[0])") % str(out / "catalog.duckdb")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "2"
    assert "revmine" not in res.stderr


def test_partitioned_by_wiki_and_year(sample_warehouse):
    out, _ = sample_warehouse
    years = sorted(p.name for p in (out / "revision_pairs" / "wiki=samplewiki").iterdir())
    con = duckdb.connect(str(out / "catalog.duckdb"), read_only=True)
    expected = con.execute("select distinct 'year=' || year(new_timestamp) from revision_pairs order by 1").fetchall()
    assert years == [y for (y,) in expected] and len(years) >= 3
    assert con.execute("select count(*) from quarantine").fetchone()[0] == 0  # empty table is still a typed view


def test_rerun_replaces_instead_of_duplicating(tmp_path, sample_dump, monkeypatch):
    """Also: the second run in this process borrows the first one's models from the shelf, with their
    caches emptied, and its rows are the same as a run that loaded them."""
    import revmine.models.intent as intent
    from revmine.runner import shelf

    loads, init = [], intent.IntentClassifier.__init__
    monkeypatch.setattr(intent.IntentClassifier, "__init__", lambda self, *a, **k: loads.append(1) or init(self, *a, **k))
    shelf.clear()
    run([str(sample_dump)], str(tmp_path))
    first = _rows(tmp_path)
    assert set(shelf.idle()) == {"aligner", "intent", "summarizer"} and len(loads) == 1
    assert shelf._idle["intent"][1]._cache  # it labelled edits, and remembers them until lent again
    run([str(sample_dump)], str(tmp_path))
    assert len(loads) == 1 and _rows(tmp_path) == first
    con = duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True)
    assert con.execute("select count(*), count(distinct new_rev_id) from revision_pairs").fetchone() == (25, 25)
    assert con.execute("select count(intent) from edits").fetchone()[0] > 0  # the lent models ran
    assert con.execute("select count(summary) from summaries").fetchone()[0] > 0


def test_the_shelf_lends_a_model_to_one_worker_at_a_time():
    from revmine.runner import shelf

    class Model:
        cleared = 0

        def clear_caches(self):
            self.cleared += 1

    shelf.clear()
    assert shelf.model("intent", "a", Model) is not shelf.model("intent", "a", Model)  # outside a worker: never shelved
    with shelf.borrowing() as first:
        one = shelf.model("intent", "a", Model)
    with shelf.borrowing() as second:  # a worker set up while the first still holds its model
        assert shelf.model("intent", "a", Model) is not one
    shelf.give_back(first)
    shelf.give_back(second)  # the model given back last of each kind stays
    with shelf.borrowing() as third:
        again = shelf.model("intent", "a", Model)
        assert again is not one and again.cleared == 1  # lent with its caches emptied
        assert shelf.model("intent", "b", Model).cleared == 0  # another folder or precision: loaded anew
    assert shelf.idle() == {}
    shelf.give_back(third)
    assert shelf.idle() == {"intent": "b"}
    shelf.clear()


def test_cli_run_and_query(tmp_path, sample_dump, capsys):
    wh = tmp_path / "wh"
    assert main(["run", "--input", str(sample_dump), "--out", str(wh), "--direct_num_workers=1",
                 "--direct_running_mode=in_memory"]) == 0
    assert "balanced" in capsys.readouterr().out
    assert main(["query", str(wh), "select title, count(*) as edits from revision_pairs group by 1 order by 2 desc",
                 "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == {"title": "Lighthouse", "edits": 13}
    assert main(["query", str(tmp_path / "nope"), "select 1"]) == 2


def test_cli_reports_missing_input(tmp_path):
    assert main(["run", "--input", str(tmp_path / "missing.xml"), "--out", str(tmp_path / "wh")]) == 2


# The default config but summaries, the slowest stage, for tests about other things (summaries are tested in
# tests/test_summaries.py and by the default runs here).
_NO_SUMMARIES = Config.load(None, **{"summarize.enabled": False})


def test_bad_inputs_do_not_stop_the_run(tmp_path, sample_dump):
    """Good and bad files in one run: the good ones land, the bad ones are quarantined, books balance."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(sample_dump, inputs / "good.xml")
    (inputs / "empty.xml").write_bytes(b"")
    (inputs / "broken.xml.bz2").write_bytes(b"BZh91AY&SY" + b"\x00" * 50)
    (inputs / "bomb.xml").write_text('<!DOCTYPE x [<!ENTITY a "aaaa">]><mediawiki/>')
    result = run([str(inputs)], str(tmp_path / "wh"), _NO_SUMMARIES)
    acc = result.accounting
    assert acc.balanced and acc.pairs_written == 21 and acc.files == 4 and acc.incomplete_files == 3
    con = duckdb.connect(str(tmp_path / "wh" / "catalog.duckdb"), read_only=True)
    reasons = dict(con.execute("select reason, count(*) from quarantine group by 1").fetchall())
    assert set(reasons) == {"truncated_input", "dtd_forbidden"}


def test_runner_preset_and_config(tmp_path, sample_dump, capsys):
    root = sample_dump.parent.parent
    assert main(["run", "--input", str(sample_dump), "--out", str(tmp_path / "wh"), "--config",
                 str(root / "configs" / "sample.yaml"), "--runner-preset", str(root / "configs" / "runners" / "direct.yaml"),
                 "--direct_num_workers=1", "--direct_running_mode=in_memory"]) == 0
    assert "balanced" in capsys.readouterr().out


def test_config_rejects_unknown_keys(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pair:\n  revert_raduis: 3\n")
    with pytest.raises(ValueError, match="revert_raduis"):
        Config.load(str(bad))


def test_beam_flags_pass_through_unchanged():
    from revmine.cli import build_parser

    args, rest = build_parser().parse_known_args(
        ["run", "--input", "x.xml", "--out", "wh", "--runner=PortableRunner", "--job_endpoint=embed", "--setup_file=./setup.py"])
    assert args.runner_preset is None
    assert rest == ["--runner=PortableRunner", "--job_endpoint=embed", "--setup_file=./setup.py"]


def test_portable_runner_loopback(tmp_path, sample_dump):
    """The portability layer Flink and Spark use: pickling and coders survive it."""
    result = run([str(sample_dump)], str(tmp_path / "wh"),
                 beam_args=["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"])
    assert result.accounting.balanced and result.accounting.pairs_written == 21


def test_diff_tables_are_filled_for_wiki_and_arxiv(tmp_path, sample_dump, shared_data):
    result = run([str(sample_dump), str(shared_data / "arxivedits" / "pipeline_example_input.json")], str(tmp_path),
                 _NO_SUMMARIES)
    acc = result.accounting
    assert acc.balanced and acc.diffed == acc.pairs_written == 23
    con = duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True)
    counts = dict(con.execute("""
        select 'sentences', count(*) from sentences union all select 'alignments', count(*) from alignments
        union all select 'edits', count(*) from edits union all select 'node_changes', count(*) from node_changes
        union all select 'diffs', count(*) from diffs""").fetchall())
    assert all(n > 0 for n in counts.values()), counts
    sources = dict(con.execute("select source, count(*) from edits group by 1").fetchall())
    assert set(sources) == {"wikipedia", "arxiv"}
    # every edit joins back to its pair and alignment
    orphans = con.execute("""select count(*) from edits e left join revision_pairs p using (wiki, pair_id)
                             where p.pair_id is null""").fetchone()[0]
    assert orphans == 0
    typo = con.execute("""select e.old_text, e.new_text from edits e join revision_pairs p using (wiki, pair_id)
                          where p.comment = 'Fix typo'""").fetchall()
    assert typo == [("navigatonal", "navigational")]


def test_diff_stage_can_be_switched_off(tmp_path, sample_dump):
    result = run([str(sample_dump)], str(tmp_path), Config.load(None, **{"diff.enabled": False}))
    assert result.accounting.balanced and result.accounting.diffed == 0
    con = duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True)
    assert con.execute("select count(*) from edits").fetchone()[0] == 0


def test_cli_eval_edits_prints_json_last(shared_data, capsys):
    assert main(["eval", "edits", "--data", str(shared_data / "arxivedits" / "dev.json")]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last)
    assert set(result) == {"precision", "recall", "f1", "n_pairs", "rule_f1"} and result["f1"] >= result["rule_f1"] >= 0.70


def test_beam_batches_pairs_and_writes_what_the_pure_path_yields(tmp_path, sample_dump):
    """Pairs go read -> BatchElements -> diff in the graph; the rows equal the pure function's, in any batch size."""
    import apache_beam as beam

    from revmine.runner import beam as graph
    from revmine.runner import compose
    from revmine.schemas import Edit

    config = Config.load(None, **{"diff.aligner": "classical", "diff.max_batch": 3,
                                  "label.enabled": False, "summarize.enabled": False})
    p = beam.Pipeline()
    graph.build(p, [(str(sample_dump), "samplekey")], str(tmp_path / "stage"), config)
    labels = [t.full_label for t in p._current_transform().parts]
    assert "PairBatches" in labels and "DiffWrite" in labels
    from revmine.runner.run import private_tempdir

    with private_tempdir(str(tmp_path / "scratch")):  # as `revmine run` does: Beam's beam-temp-* stays out of /tmp
        p.run().wait_until_finish()
    engine = compose.build_engine(config)
    expected = sorted((e.pair_id, e.old_text, e.new_text) for e in compose.process_file(str(sample_dump), config, engine)
                      if isinstance(e, Edit))
    got = sorted(zip(*(read_table(str(tmp_path / "stage"), "edits").select(["pair_id", "old_text", "new_text"])
                       .to_pydict().values())))
    assert got == expected and len(got) > 10


def test_a_batch_goes_out_early_when_its_texts_are_large(sample_dump, monkeypatch):
    """Pairs are diffed diff.max_batch at a time, or fewer once their texts reach diff.max_batch_chars, so
    a page of huge revisions keeps few pairs in memory."""
    from revmine.runner import compose

    sizes = []
    real = compose.diff_batch
    monkeypatch.setattr(compose, "diff_batch", lambda engine, pairs, *a: sizes.append(len(pairs)) or real(engine, pairs, *a))
    for chars, expected in ((10**9, [21]), (1, [1] * 21)):
        sizes.clear()
        config = Config.load(None, **{"diff.aligner": "classical", "diff.max_batch_chars": chars,
                                      "label.enabled": False, "summarize.enabled": False})
        list(compose.process_file(str(sample_dump), config, compose.build_engine(config)))
        assert sizes == expected


def test_direct_runner_multi_processing_two_workers(tmp_path, sample_dump, shared_data):
    """Workers in separate processes: pickling of DoFns, configs and records, and per-worker setup of the
    aligner and intent models (summaries, the slowest stage, have tests of their own)."""
    inputs = [str(sample_dump), str(shared_data / "wikipedia" / "enwiki-20211201-pages-meta-history-AccessibleComputing.xml")]
    result = run(inputs, str(tmp_path / "wh"), _NO_SUMMARIES,
                 beam_args=["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    reference = run(inputs, str(tmp_path / "ref"), _NO_SUMMARIES)
    assert result.accounting.balanced and result.accounting.as_dict() == reference.accounting.as_dict()
    got = read_table(str(tmp_path / "wh"), "edits").num_rows
    assert got == read_table(str(tmp_path / "ref"), "edits").num_rows > 0


def test_the_readme_opens_the_catalog_with_duckdb_alone(sample_warehouse, tmp_path):
    """The README's way to query a warehouse without revmine's CLI, run as the README writes it."""
    out, _ = sample_warehouse
    code = ("import duckdb; print(duckdb.connect('wh/catalog.duckdb', read_only=True)"
            ".sql('SELECT count(*) FROM revision_pairs'))")
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    assert f'python -c "{code}"' in readme
    (tmp_path / "wh").symlink_to(out)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "25" in done.stdout, done.stderr


def _rows(wh):
    con = duckdb.connect(str(wh / "catalog.duckdb"), read_only=True)
    tables = {"revision_pairs": "*", "sentences": "*", "alignments": "*", "edits": "*", "node_changes": "*",
              "diffs": "*", "quarantine": "wiki, reason, rev_id, page_id"}
    return {t: con.execute(f"select {cols} from {t} order by all").fetchall() for t, cols in tables.items()}


def test_dask_runner_on_a_local_cluster_gives_the_direct_runners_rows(tmp_path, sample_dump):
    """Beam's DaskRunner on a dask.distributed LocalCluster with two worker processes, two inputs."""
    distributed = pytest.importorskip("distributed")

    other = tmp_path / "otherwiki-history.xml"
    other.write_text(sample_dump.read_text(encoding="utf-8").replace("samplewiki", "otherwiki"), encoding="utf-8")
    inputs = [str(sample_dump), str(other)]
    config = Config.load(None, **{"diff.aligner": "classical", "label.enabled": False, "summarize.enabled": False})
    direct = run(inputs, str(tmp_path / "direct"), config)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask = run(inputs, str(tmp_path / "dask"), config,
                   beam_args=["--runner=apache_beam.runners.dask.dask_runner.DaskRunner",
                              f"--dask_client_address={cluster.scheduler_address}"])
        assert len(cluster.workers) == 2
        distributed.default_client().close()  # the runner's client, before its cluster goes
    assert dask.accounting.balanced and dask.accounting.pairs_written == direct.accounting.pairs_written == 42
    assert _rows(tmp_path / "dask") == _rows(tmp_path / "direct")


def test_progress_says_how_far_how_fast_and_how_long(shared_data, caplog):
    """A compressed input's progress: share of its stored bytes read, rate, and time left."""
    from revmine.config import ReadConfig
    from revmine.pipeline.read import progress_line, read_dump

    with caplog.at_level("INFO", logger="revmine.pipeline.read"):
        n = sum(1 for _ in read_dump(str(shared_data / "wikipedia" / "enwiki-Anarchism-revs-0000-0999.xml.bz2"),
                                     ReadConfig(progress_seconds=0.0)))
    assert n > 1000
    lines = [r.getMessage() for r in caplog.records if "% of 584.1 KB read" in r.getMessage()]
    assert lines and all("/s)" in ln and "left" in ln for ln in lines[:-1])
    assert progress_line("x.xml", 10, 1, 2_000_000, None, None, 2.0) == \
        "x.xml: 10 revisions (5/s), 1 pages, 2.0 MB parsed"
    assert progress_line("x.bz2", 10, 1, 4_000, 250, 1_000, 2.0).endswith("about 6 s left")


def test_a_run_reports_the_time_of_each_stage(tmp_path, sample_dump, capsys):
    config = Config.load(None, **{"diff.aligner": "classical", "summarize.enabled": False})
    result = run([str(sample_dump)], str(tmp_path / "wh"), config)
    assert set(result.timings) == {"read, pair and write", "diff (clean, align, span edits, node changes)",
                                   "intent labels"}
    assert result.timings["read, pair and write"][1] == 25 and result.timings[
        "diff (clean, align, span edits, node changes)"][1] == 21
    assert not (tmp_path / "wh" / "_timings").exists()
    assert main(["run", "--input", str(sample_dump), "--out", str(tmp_path / "wh2"), "--config",
                 str(pathlib.Path(__file__).parents[1] / "configs" / "fast.yaml")]) == 0
    assert "time per stage" in capsys.readouterr().out


def test_input_given_twice_reads_both(tmp_path, capsys):
    """`--input a --input b` is two inputs: argparse's default would keep only b, and a would vanish with
    no row saying so."""
    from trust_helpers import FAST_CONFIG

    cfg = tmp_path / "fast.yaml"
    cfg.write_text(FAST_CONFIG)
    for name, paper in (("a.jsonl", "2101.00001"), ("b.jsonl", "2101.00002")):
        (tmp_path / name).write_text("".join(json.dumps({"paper_id": paper, "version": v, "text": f"Text {v}."}) + "\n"
                                             for v in (1, 2)))
    wh = tmp_path / "wh"
    assert main(["run", "--input", str(tmp_path / "a.jsonl"), "--input", str(tmp_path / "b.jsonl"),
                 "--out", str(wh), "--config", str(cfg)]) == 0
    capsys.readouterr()
    assert main(["query", str(wh), "select source_file from sources order by 1", "--format", "json"]) == 0
    files = [json.loads(line)["source_file"] for line in capsys.readouterr().out.splitlines()]
    assert [os.path.basename(f) for f in files] == ["a.jsonl", "b.jsonl"]


def test_query_limit_0_fetches_no_rows(sample_warehouse, capsys):
    wh, _ = sample_warehouse
    assert main(["query", str(wh), "select 1 as one", "--limit", "0", "--format", "json"]) == 0
    assert capsys.readouterr().out == ""


def test_query_json_lines_are_json_even_for_nan(sample_warehouse, capsys):
    """A NaN or an infinity was printed as Python's NaN / Infinity, which jq and JSON.parse refuse."""
    wh, _ = sample_warehouse
    assert main(["query", str(wh), "select 'nan'::double as n, ['inf'::double, 1.0] as l", "--format", "json"]) == 0

    def refuse(name):
        raise ValueError(name)

    assert json.loads(capsys.readouterr().out, parse_constant=refuse) == {"n": None, "l": [None, 1.0]}
