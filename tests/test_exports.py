"""Exports of a real run: Hub dataset folder (loads offline with `datasets`), training sets, HTML report."""
import json

import pytest

from revmine.warehouse.export import INSTRUCTIONS, split_of


@pytest.fixture(scope="module")
def real_warehouse(tmp_path_factory, shared_data, sample_dump):
    """A real run: a small enwiki history plus our sample, with the shipped intent model. No export reads the
    model's summaries (Edisum rows pair the diff with the editor's comment), so the summarizer, whose run has
    tests of its own, stays off."""
    from revmine.config import Config
    from revmine.runner.run import run

    out = tmp_path_factory.mktemp("real")
    config = Config.load(None, **{"diff.aligner": "classical", "summarize.enabled": False})
    result = run([str(shared_data / "wikipedia" / "enwiki-20140102.tiny.xml.gz"), str(sample_dump)], str(out), config)
    assert result.accounting.balanced
    return out


@pytest.mark.slow
def test_hub_folder_loads_offline_with_datasets(real_warehouse, tmp_path, monkeypatch):
    import datasets
    import yaml

    from revmine.cli import main

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    out = tmp_path / "hub"
    assert main(["export", "hub", str(real_warehouse), str(out), "--repo-id", "someone/revmine-test"]) == 0
    card = (out / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["license"] == "cc-by-sa-4.0"
    configs = {c["config_name"] for c in header["configs"]}
    assert {"revision_pairs", "edits", "sentences", "alignments"} <= configs
    assert "enwiki-20140102.tiny.xml.gz" in card
    # datasets reads HF_HOME when it is imported, so the cache folder is passed: a shared cache can hand back
    # an earlier run's rows for a file at the same path
    cache = str(tmp_path / "hf" / "datasets")
    edits = datasets.load_dataset(str(out), "edits", split="train", cache_dir=cache)
    pairs = datasets.load_dataset("parquet", data_dir=str(out / "revision_pairs"), split="train", cache_dir=cache)
    import duckdb

    con = duckdb.connect(str(real_warehouse / "catalog.duckdb"), read_only=True)
    assert len(edits) == con.execute("select count(*) from edits").fetchone()[0] > 0
    assert len(pairs) == con.execute("select count(*) from revision_pairs").fetchone()[0]
    assert {"wiki", "year", "pair_id", "intent"} <= set(edits.column_names)


@pytest.mark.parametrize("args, says", [
    (["--repo-id", "../../etc"], "--repo-id: Repo id must be in the form"),
    (["--repo-id", "me/my data"], "--repo-id: Repo id must use alphanumeric chars"),
    (["--push"], "--push needs --repo-id"),
])
def test_a_bad_repo_id_is_refused_before_anything_is_written(tmp_path, capsys, args, says):
    """A repo id went into the card's title and link unchecked ('../../etc' included), and --push without one
    was refused only after the folder was written."""
    from revmine.cli import main

    out = tmp_path / "hub"
    try:
        assert main(["export", "hub", str(tmp_path / "wh"), str(out), *args]) == 2
    except SystemExit as exc:
        assert exc.code == 2
    assert says in " ".join(capsys.readouterr().err.split())
    assert not out.exists()


def test_push_takes_the_token_from_the_environment_only(real_warehouse, tmp_path, monkeypatch, capsys, caplog):
    import huggingface_hub

    from revmine.cli import main

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    out = tmp_path / "hub"
    assert main(["export", "hub", str(real_warehouse), str(out), "--repo-id", "me/x", "--push"]) == 2
    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("token", token))

        def create_repo(self, repo_id, **kw):
            calls.append(("create", repo_id, kw.get("repo_type")))

        def upload_folder(self, **kw):
            calls.append(("upload", kw["repo_id"], kw["folder_path"]))
            return "https://huggingface.co/datasets/me/x/commit/abc"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    secret = "hf_secret_value_123"
    monkeypatch.setenv("HF_TOKEN", secret)
    assert main(["export", "hub", str(real_warehouse), str(out), "--repo-id", "me/x", "--push"]) == 0
    assert ("token", secret) in calls and ("create", "me/x", "dataset") in calls
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err + caplog.text


@pytest.mark.parametrize("fmt, fields", [("coedit", {"instruction", "source", "target"}), ("edisum", {"input", "summary"})])
def test_training_sets_split_by_page_and_deduplicated(real_warehouse, tmp_path, fmt, fields):
    from revmine.cli import main

    out = tmp_path / fmt
    assert main(["export", "training", str(real_warehouse), str(out), "--format", fmt]) == 0
    splits = {s: [json.loads(line) for line in (out / f"{s}.jsonl").read_text().splitlines()] for s in ("train", "dev", "test")}
    rows = [r for rs in splits.values() for r in rs]
    assert rows, f"no {fmt} rows from a real run"
    assert all(fields <= set(r) for r in rows)
    keys = [tuple(r[f] for f in sorted(fields)) for r in rows]
    assert len(keys) == len(set(keys))
    pages = {s: {(r["wiki"], r["page_id"]) for r in rs} for s, rs in splits.items()}
    assert not (pages["train"] & pages["dev"]) and not (pages["train"] & pages["test"]) and not (pages["dev"] & pages["test"])
    for s, rs in splits.items():
        assert all(split_of(r["wiki"], r["page_id"]) == s for r in rs)
    if fmt == "coedit":
        assert {r["instruction"] for r in rows} <= set(INSTRUCTIONS.values())
        assert all(r["source"] != r["target"] for r in rows)


def test_report_renders(real_warehouse, tmp_path):
    from revmine.cli import main

    out = tmp_path / "report"
    assert main(["report", str(real_warehouse), "--out", str(out)]) == 0
    html = (out / "index.html").read_text()
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 7 and all(p.stat().st_size > 5000 for p in pngs)
    assert all(p.name in html for p in pngs) and "revision pairs" in html
    assert "<td>enwiki</td>" in html  # the per-wiki table
    assert main(["report", str(real_warehouse), "--out", str(tmp_path / "one"), "--wiki", "enwiki"]) == 0
    assert main(["report", str(real_warehouse), "--out", str(tmp_path / "none"), "--wiki", "nosuchwiki"]) == 2


def test_hub_shards_hold_every_row_once_in_the_tables_order(tmp_path):
    """Shards are cut from one sort as it is written (one sort per shard with LIMIT/OFFSET was quadratic in a
    table's size): every row once, in files named in the query's order."""
    import duckdb
    import pyarrow.parquet as pq

    from revmine.warehouse.export import write_shards

    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT ['b', 'a', 'c'][i % 3 + 1] AS wiki, i FROM range(9000) r(i)")
    files = write_shards(con, "SELECT * FROM t ORDER BY wiki, i", str(tmp_path / "t"), rows=2048)
    assert len(files) == 5 and [f.rsplit("/", 1)[1] for f in files] == [f"part-{i:05d}.parquet" for i in range(5)]
    assert sorted(str(p) for p in (tmp_path / "t").iterdir()) == files
    got = [tuple(r.values()) for f in files for r in pq.read_table(f).to_pylist()]
    assert got == con.execute("SELECT * FROM t ORDER BY wiki, i").fetchall()


def test_coedit_rows_come_only_from_article_edits_that_stand(real_warehouse, tmp_path):
    """No revert, reverted edit, bot edit or page outside the article namespace becomes a rewrite example."""
    import duckdb

    from revmine.warehouse.export import coedit_rows

    rows = list(coedit_rows(str(real_warehouse)))
    assert rows
    con = duckdb.connect(str(real_warehouse / "catalog.duckdb"), read_only=True)
    flags = {pid: (ns, rv, rd, bot) for pid, ns, rv, rd, bot in con.execute(
        "SELECT pair_id, ns, is_revert, is_reverted, is_bot FROM revision_pairs").fetchall()}
    assert all(flags[r["pair_id"]] == (0, False, False, False) for r in rows)
    # the warehouse does hold such pairs with span edits: the filter is what keeps them out
    assert con.execute("""SELECT count(*) FROM edits e JOIN revision_pairs p USING (wiki, pair_id)
                          WHERE e.granularity = 'span' AND (p.ns <> 0 OR p.is_revert OR p.is_reverted OR p.is_bot)
                       """).fetchone()[0] > 0


def test_a_split_left_nearly_empty_is_warned_about(capsys):
    from revmine.warehouse.export import thin_splits

    assert thin_splits({"train": 632, "dev": 1, "test": 2}) == ["dev", "test"]
    assert thin_splits({"train": 900, "dev": 50, "test": 50}) == []
    assert thin_splits({"train": 10, "dev": 0, "test": 0}) == ["dev", "test"]


def test_the_card_says_what_each_table_and_column_is_and_which_languages(real_warehouse, tmp_path):
    import yaml

    from revmine.cli import main
    from revmine.warehouse.export import languages

    out = tmp_path / "hub"
    assert main(["export", "hub", str(real_warehouse), str(out)]) == 0
    card = (out / "README.md").read_text()
    assert "Revision(" not in card and "RevisionPair(" not in card  # no dataclass signatures
    assert "| `is_reverted` | bool |" in card and "https://github.com/)" not in card
    assert yaml.safe_load(card.split("---")[1])["language"] == ["en"]  # enwiki and the sample's enwiki
    assert languages(["aawiki", "enwiki", "simplewiki", "elwikivoyage", "commonswiki", "arxiv"]) == [
        "aa", "el", "en", "multilingual"]


def test_the_card_names_languages_by_iso_code_where_a_wiki_name_does_not():
    """Wikimedia's own codes went into the card as they are: alswiki (Alemannic) was tagged Tosk Albanian
    (`als`), nrmwiki (Norman) Narom, and zh_min_nanwiki `zh-min-nan`, bat_smgwiki `bat-smg`, which are no
    language codes the Hub's language filter knows."""
    from revmine.warehouse.export import languages

    wikis = {"alswiki": "gsw", "nrmwiki": "nrf", "zh_min_nanwiki": "nan", "zh_yuewiki": "yue", "zh_classicalwiki": "lzh",
             "bat_smgwiki": "sgs", "be_x_oldwiki": "be", "fiu_vrowiki": "vro", "roa_rupwiki": "rup",
             "roa_tarawiki": "nap", "map_bmswiki": "jv", "nds_nlwiki": "nds", "cbk_zamwiki": "cbk", "alswiktionary": "gsw"}
    for wiki, code in wikis.items():
        assert languages([wiki]) == [code], wiki
    assert languages(["dewiki", "dewikivoyage"]) == ["de"]


def test_coedit_instructions_need_a_confident_intent(real_warehouse):
    import duckdb

    from revmine.warehouse.export import INSTRUCTION_MIN_PROB, coedit_rows

    rows = list(coedit_rows(str(real_warehouse)))
    con = duckdb.connect(str(real_warehouse / "catalog.duckdb"), read_only=True)
    scores = {(pid, old): s for pid, old, s in con.execute(
        """SELECT a.pair_id, a.old_text, min(e.intent_score) FROM alignments a
           JOIN edits e USING (wiki, pair_id, align_idx) GROUP BY ALL""").fetchall()}
    assert rows and all(scores[(r["pair_id"], r["source"])] >= INSTRUCTION_MIN_PROB for r in rows)
    # the threshold keeps some edits out that the intent alone would have let in
    assert con.execute(f"""SELECT count(*) FROM edits WHERE granularity = 'span' AND intent IN
                           ({', '.join(repr(k) for k in INSTRUCTIONS)}) AND intent_score < {INSTRUCTION_MIN_PROB}
                        """).fetchone()[0] > 0


def test_the_instruction_threshold_sweep():
    import sys as _sys

    _sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "benchmarks"))
    from instruction_threshold import sweep

    predicted = [("Format", 0.9), ("Format", 0.3), ("Improve-grammar-Typo", 0.6), ("Content-Addition", 0.99)]
    gold = ["Format", "Improve-grammar-Typo", "Improve-grammar-Typo", "Format"]
    rows = {t: (n, p, r) for t, n, p, r in sweep(predicted, gold, [0.0, 0.5])}
    assert rows[0.0] == (3, 2 / 3, 2 / 4) and rows[0.5] == (2, 1.0, 2 / 4)
