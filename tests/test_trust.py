"""Every input lands exactly once or is quarantined with its reason, and nothing outside the warehouse
is touched: content identity, names as data, empty tables, one writer, a read-only query, safe exports."""
import bz2
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SHARED, wikipedia_dumps
from helpers import assert_books_balance, read_all, reasons
from revmine.cli import main
from revmine.config import Config, ReadConfig
from revmine.runner.run import run
from revmine.schemas import TABLES
from trust_helpers import FAST_CONFIG, count_revision_tags, snapshot

HEAD = '<mediawiki version="0.11"><siteinfo><dbname>{db}</dbname></siteinfo>\n'


def page(page_id, rev_ids, title=None, ns="0", text="Some text here. Another sentence.", comment="c"):
    revs = "".join(f"<revision><id>{r}</id><timestamp>2020-01-0{1 + i % 9}T00:00:00Z</timestamp>"
                   f"<contributor><username>U</username><id>1</id></contributor><comment>{comment}</comment>"
                   f"<text bytes=\"1\">{text} {r}</text></revision>\n" for i, r in enumerate(rev_ids))
    return f"<page><title>{title or f'P{page_id}'}</title><ns>{ns}</ns><id>{page_id}</id>\n{revs}</page>\n"


def dump(*pages, db="testwiki") -> str:
    return HEAD.format(db=db) + "".join(pages) + "</mediawiki>\n"


@pytest.fixture
def fast(tmp_path):
    path = tmp_path / "fast.yaml"
    path.write_text(FAST_CONFIG)
    return Config.load(str(path))


def _count(wh, sql):
    con = duckdb.connect(str(wh / "catalog.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


# ---- any table may be empty ------------------------------------------------------------------------

_DUCK = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.int32(): "INTEGER", pa.int16(): "SMALLINT",
         pa.bool_(): "BOOLEAN", pa.float64(): "DOUBLE", pa.timestamp("ms", tz="UTC"): "TIMESTAMP WITH TIME ZONE"}


def _declared(t):
    return _declared(t.value_type) + "[]" if pa.types.is_list(t) else _DUCK[t]


def test_every_table_empty_gives_views_with_the_declared_types(tmp_path):
    from revmine.warehouse.catalog import build_catalog

    build_catalog(str(tmp_path))
    con = duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True)
    for name, table in TABLES.items():
        got = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {name}").fetchall()]
        assert got == [(f.name, _declared(f.type)) for f in table.schema], name
        assert con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] == 0


def test_arxiv_only_run_into_a_fresh_warehouse_builds_the_catalog(tmp_path, fast):
    data = tmp_path / "example.json"
    data.write_text(json.dumps({"p1": {"simple": ["A first sentence.", "Kept."], "complex": ["A 1st sentence.", "Kept."]}}))
    wh = tmp_path / "wh"
    run([str(data)], str(wh), fast)
    assert _count(wh, "select count(*) from revision_pairs where wiki = 'arxiv' and skip_reason is null") == 1
    assert _count(wh, "select count(*) from revisions") == 0  # empty, yet a typed view


def test_quarantine_only_warehouse_builds_the_catalog(tmp_path, fast):
    bad = tmp_path / "bad.xml"
    bad.write_text(dump(page(1, ["x"])))  # a non-numeric revision id: quarantined, nothing else
    wh = tmp_path / "wh"
    run([str(bad)], str(wh), fast)
    assert _count(wh, "select count(*) from quarantine") == 1
    assert _count(wh, "select count(*) from revision_pairs") == 0


# ---- names from inputs are data, never paths --------------------------------------------------------

def test_dbname_cannot_write_outside_the_warehouse(tmp_path, fast):
    area = tmp_path / "area"
    area.mkdir()
    evil = area / "evil.xml"
    evil.write_text(dump(page(1, [10, 11]), db="x/../../../../elsewhere"))
    wh = area / "wh"
    before = snapshot(tmp_path)
    result = run([str(evil)], str(wh), fast)
    appeared = {p for p in snapshot(tmp_path) - before if not p.startswith("area/wh")}
    assert not appeared
    assert result.accounting.balanced and result.accounting.quarantined["invalid_wiki_name"] == 2
    assert _count(wh, "select count(*) from quarantine where reason = 'invalid_wiki_name' and level = 'file'") == 1
    assert not any("elsewhere" in p for p in snapshot(wh))


@pytest.mark.parametrize("db", ["EnWiki", "en-wiki", "../x", "a b", "wiki\u00e9", "x" * 65, "1wiki"])
def test_a_wiki_name_must_be_a_database_name(tmp_path, db):
    path = tmp_path / "d.xml"
    path.write_text(dump(page(1, [5]), db=db.replace("&", "&amp;")))
    out = read_all(path)
    assert not out["revisions"] and reasons(out)["invalid_wiki_name"] == 2  # the file event and its revision
    assert_books_balance(out)


def test_wiki_override_is_checked_too(tmp_path, sample_dump, capsys):
    assert main(["run", "--input", str(sample_dump), "--out", str(tmp_path / "wh"), "--wiki", "../up"]) == 2
    assert "not a MediaWiki database name" in capsys.readouterr().err
    assert not (tmp_path / "wh").exists()


def test_the_printed_query_command_names_an_odd_warehouse_path_exactly(tmp_path, sample_dump, capsys):
    """A warehouse path with a space, quotes and shell syntax (`$HOME`, `{a,b}`, `:x:`) is printed as it is,
    and the query command the run suggests gives that path back when a shell splits it. (Rich markup needs
    a `[`, which a warehouse path may not hold: its files are found by pattern.)"""
    import shlex

    (tmp_path / "fast.yaml").write_text(FAST_CONFIG)
    wh = tmp_path / "it's a $HOME {a,b} :x: warehouse"
    assert main(["run", "--input", str(sample_dump), "--out", str(wh), "--config", str(tmp_path / "fast.yaml")]) == 0
    assert _count(wh, "SELECT count(*) FROM revisions") == 25
    printed = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("warehouse: "))
    hint = printed[printed.index("query with `") + len("query with `"):]
    argv = shlex.split(hint[:hint.index("`")])
    assert argv[:2] == ["revmine", "query"] and argv[2] == str(wh) and f"warehouse: {wh} " in printed


def test_a_file_name_that_is_not_utf8_is_quarantined_and_the_run_goes_on(tmp_path, fast):
    """A Latin-1 file name reaches Python as lone surrogates, which Beam's string coder could not encode:
    the whole run stopped. The file is now not read: a file-level row names it with the odd byte as \\xNN,
    the books balance, the other inputs land, and a second run replaces rather than adds."""
    folder = tmp_path / "in"
    folder.mkdir()
    odd_xml, odd_jsonl = os.fsdecode(bytes(folder) + b"/caf\xe9.xml"), os.fsdecode(bytes(folder) + b"/r\xe9sum\xe9.jsonl")
    with open(odd_xml, "w") as fh:
        fh.write(dump(page(1, [10, 11])))
    with open(odd_jsonl, "w") as fh:
        fh.write(json.dumps({"paper_id": "p", "version": 1, "text": "A."}) + "\n")
    (folder / "good.xml").write_text(dump(page(2, [20, 21])))
    wh = tmp_path / "wh"
    for _ in range(2):
        result = run([str(folder)], str(wh), fast)
        assert result.accounting.balanced and result.accounting.revisions_read == 2
    assert _count(wh, "SELECT count(*) FROM revision_pairs") == 2
    assert sorted(_rows(wh, "SELECT source_file FROM quarantine WHERE reason = 'invalid_file_name' AND level = 'file'")) == \
        [f"{folder}/caf\\xe9.xml", f"{folder}/r\\xe9sum\\xe9.jsonl"]


def _rows(wh, sql):
    con = duckdb.connect(str(wh / "catalog.duckdb"), read_only=True)
    try:
        return [r[0] for r in con.execute(sql).fetchall()]
    finally:
        con.close()


def test_a_warehouse_path_that_is_not_utf8_is_refused_before_anything_is_written(tmp_path, sample_dump, capsys):
    """Every warehouse file name and row holds the path; a Latin-1 one stopped the run with a traceback."""
    wh = os.fsdecode(bytes(tmp_path) + b"/entrep\xf4t")
    assert main(["run", "--input", str(sample_dump), "--out", wh]) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps the line
    assert "entrep\\xf4t is not a UTF-8 path" in err
    assert not os.path.exists(wh)


def test_a_warehouse_path_with_a_pattern_character_is_refused_before_anything_is_written(tmp_path, sample_dump,
                                                                                        monkeypatch, capsys):
    """`--out runs/wh[1]`: the run staged its files, then looked for them by pattern (`wh[1]/edits/**`, which
    matches `wh1`), found none, committed nothing and said its books balanced, exit 0: 25 revisions gone.
    Such a path (or one under such a folder) is refused now, exit 2 and nothing written; a warehouse copied
    there says why its catalog cannot be built."""
    import shutil

    out = tmp_path / "runs" / "wh[1]"
    assert main(["run", "--input", str(sample_dump), "--out", str(out), "--config", "configs/fast.yaml"]) == 2
    assert "pattern character" in " ".join(capsys.readouterr().err.split()) and not (tmp_path / "runs").exists()
    (tmp_path / "exp[2]").mkdir()
    monkeypatch.chdir(tmp_path / "exp[2]")
    assert main(["run", "--input", str(sample_dump), "--out", "wh", "--config",
                 str(Path(__file__).parents[1] / "configs" / "fast.yaml")]) == 2
    assert os.listdir(tmp_path / "exp[2]") == []
    good = tmp_path / "good"
    assert main(["run", "--input", str(sample_dump), "--out", str(good), "--config",
                 str(Path(__file__).parents[1] / "configs" / "fast.yaml")]) == 0
    shutil.copytree(good, tmp_path / "copy[1]")
    capsys.readouterr()
    assert main(["query", str(tmp_path / "copy[1]"), "SELECT count(*) FROM revisions"]) != 0
    assert "pattern character" in " ".join(capsys.readouterr().err.split())


def test_two_wikis_outside_wikimedia_without_a_dbname_are_two_wikis(tmp_path, fast, sample_dump, caplog):
    """Special:Export before schema 0.10 writes no <dbname>. Two such wikis (say two Fandom wikis) were both
    `unknown`, so the second one's revisions, whose ids the first had used, were quarantined as duplicates:
    25 of 50 lost. Each is now named after its base URL's host, and the run says so."""
    import logging
    import re

    xml = re.sub(r"<dbname>.*?</dbname>\s*", "", sample_dump.read_text())
    paths = []
    for host in ("minecraft.fandom.com", "www.wiki.example.org:8080"):
        path = tmp_path / f"{host.split('.')[0]}-export.xml"
        path.write_text(re.sub(r"<base>.*?</base>", f"<base>https://{host}/wiki/Main_Page</base>", xml))
        paths.append(str(path))
    with caplog.at_level(logging.WARNING):
        result = run(paths, str(tmp_path / "wh"), fast)
    assert result.accounting.balanced and not result.accounting.quarantined
    assert _count(tmp_path / "wh", "SELECT list(DISTINCT wiki ORDER BY wiki) FROM revisions") == [
        "minecraft_fandom_com", "wiki_example_org"]
    assert _count(tmp_path / "wh", "SELECT count(*) FROM revisions") == 50
    assert "named 'minecraft_fandom_com' after its host" in caplog.text


def test_a_copied_warehouse_reads_its_own_files_not_the_original_s(tmp_path, fast, sample_dump):
    """The catalog's views name files by absolute path: a copy's catalog read the original's files (the
    report and exports, silently; `revmine query` failed in its sandbox). The copy's catalog is now built
    again on first use, so each warehouse reads only itself."""
    import shutil

    from revmine.warehouse.catalog import connect, query

    first, copy = tmp_path / "first", tmp_path / "copy"
    run([str(sample_dump)], str(first), fast)
    shutil.copytree(first, copy)
    (tmp_path / "more.xml").write_text(dump(page(7, [70, 71, 72])))
    run([str(tmp_path / "more.xml")], str(first), fast)  # the original moves on
    assert query(str(copy), "SELECT count(*) FROM revision_pairs")[1] == [(25,)]
    con = connect(str(copy))
    try:
        assert con.execute("SELECT count(*) FROM revision_pairs").fetchone() == (25,)
    finally:
        con.close()
    assert query(str(first), "SELECT count(*) FROM revision_pairs")[1] == [(28,)]


def test_a_damaged_parquet_file_is_named_in_one_line_and_the_catalog_is_left_as_it_was(tmp_path, fast, sample_dump,
                                                                                        capsys):
    """A part file cut short (a copy interrupted, a full disk) made `revmine catalog` and every later run end in
    a duckdb traceback, and left a half-built catalog file behind each time."""
    wh = tmp_path / "wh"
    run([str(sample_dump)], str(wh), fast)
    part = sorted((wh / "revision_pairs").rglob("*.parquet"))[0]
    part.write_bytes(part.read_bytes()[:100])
    before = (wh / "catalog.duckdb").read_bytes()
    assert main(["catalog", str(wh)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "the revision_pairs table cannot be read" in err and part.name in err.replace(" ", "")
    (tmp_path / "more.xml").write_text(dump(page(7, [70, 71])))
    assert main(["run", "--input", str(tmp_path / "more.xml"), "--out", str(wh), "--config",
                 str(tmp_path / "fast.yaml")]) == 2
    # the check of stored revisions reads the pairs too (which copy of a revision found its parent): the run
    # stops before it commits, as it does for a damaged revisions file
    err = " ".join(capsys.readouterr().err.split())
    assert "the revision_pairs table cannot be read" in err and "nothing was committed" in err
    assert (wh / "catalog.duckdb").read_bytes() == before
    assert not [p for p in os.listdir(wh) if ".tmp-" in p]



def test_a_damaged_revisions_file_stops_the_next_run_in_one_line_before_it_commits(tmp_path, fast, sample_dump,
                                                                                  capsys):
    """The check for revisions already stored reads every committed revisions file: one cut short ended the
    next run in a duckdb traceback."""
    wh = tmp_path / "wh"
    run([str(sample_dump)], str(wh), fast)
    part = sorted((wh / "revisions").rglob("*.parquet"))[0]
    part.write_bytes(part.read_bytes()[:100])
    committed = {p for p in snapshot(wh) if not p.startswith(("_staging", "_lock"))}
    (tmp_path / "more.xml").write_text(dump(page(7, [70, 71])))
    assert main(["run", "--input", str(tmp_path / "more.xml"), "--out", str(wh), "--config",
                 str(tmp_path / "fast.yaml")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "the revisions table cannot be read" in err and "nothing was committed" in err and "Traceback" not in err
    assert {p for p in snapshot(wh) if not p.startswith(("_staging", "_lock"))} == committed

def test_a_file_named_like_a_pattern_is_read_and_a_mistyped_input_creates_no_warehouse(tmp_path, fast, sample_dump,
                                                                                       capsys):
    """"dump[1].xml" was taken for a glob (matching dump1.xml) and reported as no dump found; an input that
    was not found still left an empty warehouse folder with a lock file."""
    import shutil

    odd = tmp_path / "dump[1].xml"
    shutil.copy(sample_dump, odd)
    assert run([str(odd)], str(tmp_path / "wh"), fast).accounting.revisions_read == 25
    assert main(["run", "--input", str(tmp_path / "dump[2].xml"), "--out", str(tmp_path / "typo")]) == 2
    assert "no dump files found" in capsys.readouterr().err and not (tmp_path / "typo").exists()


# ---- content identity -------------------------------------------------------------------------------

def test_redownloaded_complete_file_replaces_the_truncated_one(tmp_path, fast):
    pages, revs = 16, 20  # 2 kB a revision, 100 kB a bz2 block: half the file ends mid-history
    xml = dump(*(page(p, range(p * 100, p * 100 + revs), text="Words " * 300) for p in range(1, pages + 1)))
    blob = bz2.compress(xml.encode(), compresslevel=1)
    path = tmp_path / "testwiki-history.xml.bz2"
    path.write_bytes(blob[: len(blob) // 2])
    wh = tmp_path / "wh"
    first = run([str(path)], str(wh), fast)
    assert 0 < first.accounting.pairs_written + sum(first.accounting.skipped.values()) < pages * revs
    path.write_bytes(blob)  # downloaded again, complete, to the same path
    run([str(path)], str(wh), fast)
    assert _count(wh, "select count(*) from revision_pairs") == pages * revs
    assert _count(wh, "select count(distinct new_rev_id) from revision_pairs") == pages * revs
    assert _count(wh, "select count(*) from sources") == 1


def test_same_name_and_size_with_different_bytes_never_collide(tmp_path, fast):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = tmp_path / "a" / "x.xml", tmp_path / "b" / "x.xml"
    a.write_text(dump(page(1, [11, 12])))
    b.write_text(dump(page(2, [21, 22])))
    assert a.stat().st_size == b.stat().st_size
    wh = tmp_path / "wh"
    run([str(a), str(b)], str(wh), fast)  # within one run
    assert _count(wh, "select count(*) from revision_pairs") == 4
    wh2 = tmp_path / "wh2"
    run([str(a)], str(wh2), fast)  # across runs
    run([str(b)], str(wh2), fast)
    assert _count(wh2, "select count(*) from revision_pairs") == 4


def test_the_same_bytes_listed_twice_are_read_once(tmp_path, fast, sample_dump, capsys):
    copy = tmp_path / "copy.xml"
    shutil.copy(sample_dump, copy)
    wh = tmp_path / "wh"
    result = run([str(sample_dump), str(sample_dump), str(copy)], str(wh), fast)
    assert result.accounting.files == 1 and result.accounting.revisions_read == 25
    assert set(result.duplicates) == {str(sample_dump), str(copy)}
    assert _count(wh, "select count(*) from revision_pairs") == 25
    assert main(["run", "--input", str(sample_dump), str(sample_dump), "--out", str(wh), "--config",
                 str(tmp_path / "fast.yaml")]) == 0
    assert "read once" in capsys.readouterr().err


def test_the_same_bytes_twice_with_two_worker_processes(tmp_path, fast, sample_dump):
    result = run([str(sample_dump), str(sample_dump)], str(tmp_path / "wh"), fast,
                 ["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    assert result.accounting.balanced and result.accounting.revisions_read == 25


# ---- wikitext that would stall a worker -------------------------------------------------------------

def test_a_revision_whose_markup_makes_the_parser_backtrack_quarantines_its_pairs(tmp_path, fast, monkeypatch):
    """A vandalised revision (an unterminated tag repeated: minutes in mwparserfromhell's tokenizer) costs
    its two pairs, each a pair-level quarantine row with the reason, and the run goes on. Its text is
    measured once, not again as the next pair's old side."""
    from revmine.pipeline import clean

    measured = []
    monkeypatch.setattr(clean, "check_cost", lambda t, check=clean.check_cost: (measured.append(len(t)), check(t)))
    vandal = "&lt;ref name=&quot;" * 8_000
    text = dump(page(1, [5, 6, 7, 8])).replace("Some text here. Another sentence. 6", vandal, 1)
    path = tmp_path / "v.xml"
    path.write_text(text)
    result = run([str(path)], str(tmp_path / "wh"), fast)
    assert result.accounting.balanced and result.accounting.pairs_written == 3
    assert result.accounting.diff_quarantined == {"markup_too_costly": 2}  # 5 -> 6 and 6 -> 7
    assert _count(tmp_path / "wh", "SELECT count(*) FROM quarantine WHERE reason = 'markup_too_costly' "
                                   "AND level = 'pair' AND stage = 'clean' AND rev_id IN (6, 7)") == 2
    assert _count(tmp_path / "wh", "SELECT count(*) FROM diffs") == 1  # 7 -> 8
    assert len(measured) == 1


# ---- duplicate revision ids ---------------------------------------------------------------------------

def test_a_revision_id_on_two_pages_is_quarantined(tmp_path):
    path = tmp_path / "d.xml"
    path.write_text(dump(page(1, [5, 6]), page(2, [7, 5])))
    out = read_all(path)
    assert reasons(out) == {"duplicate_rev_id": 1}
    assert [r.rev_id for r in out["revisions"]] == [5, 6, 7]
    assert_books_balance(out)


def test_cleaned_texts_of_different_pages_never_mix():
    from revmine.pipeline.clean import ENGLISH
    from revmine.pipeline.diff import DiffEngine

    engine = DiffEngine()
    one = engine._doc("testwiki", 5, "The first page says this.", ENGLISH)
    other = engine._doc("testwiki", 5, "A second page says something else.", ENGLISH)
    assert one is not other and one.texts != other.texts


# ---- the books are checked against the input ------------------------------------------------------------

def test_unclosed_revision_followed_by_another_is_quarantined(tmp_path):
    xml = dump(page(1, [5, 6])).replace("</revision>", "", 1)
    path = tmp_path / "d.xml"
    path.write_text(xml)
    out = read_all(path)
    assert reasons(out)["unclosed_revision"] == 1
    assert out["sources"][0].revisions_read == count_revision_tags(path) == 2
    assert_books_balance(out)


def test_revision_outside_any_page_is_counted_and_quarantined(tmp_path):
    orphan = "<revision><id>99</id><timestamp>2020-01-01T00:00:00Z</timestamp><text>x</text></revision>\n"
    path = tmp_path / "d.xml"
    path.write_text(dump(page(1, [5]), orphan, page(2, [6])))
    out = read_all(path)
    assert reasons(out) == {"revision_outside_page": 1}
    assert out["sources"][0].revisions_read == count_revision_tags(path) == 3
    assert_books_balance(out)


def _without_declaration(path) -> str:
    text = path.read_text(encoding="utf-8")
    return text.split("?>", 1)[1].lstrip() if text.startswith("<?xml") else text


def test_utf16le_without_bom_and_one_bad_code_unit_loses_nothing_silently(tmp_path, sample_dump):
    data = _without_declaration(sample_dump).encode("utf-16-le")
    cut = len(data) // 3 | 1  # drop one byte at an odd offset: every later code unit is misaligned
    path = tmp_path / "d16.xml"
    path.write_bytes(data[:cut] + data[cut + 1:])
    out = read_all(path)
    assert out["sources"][0].revisions_read == count_revision_tags(path) == 25
    assert not out["sources"][0].complete
    assert 0 < len(out["revisions"]) < 25
    assert_books_balance(out)


def test_utf16le_without_bom_or_declaration_is_read(tmp_path, sample_dump):
    data = _without_declaration(sample_dump).encode("utf-16-le")
    path = tmp_path / "d16.xml"
    path.write_bytes(data)
    out = read_all(path)
    assert len(out["revisions"]) == 25 and not out["quarantine"]


def test_text_bytes_is_the_length_of_the_stored_text(tmp_path):
    path = tmp_path / "d.xml"
    path.write_text(dump(page(1, [5], text="h\u00e9")))  # bytes="1" in the file; the text is 5 bytes
    (rev,) = read_all(path)["revisions"]
    assert rev.text_bytes == len(rev.text.encode("utf-8")) == 5
    (dropped,) = read_all(path, ReadConfig(max_text_bytes=4))["revisions"]  # text quarantined as oversized
    assert dropped.text is None and dropped.text_bytes is None  # not the bytes="1" the file claims


# ---- one bad record never stops a run ----------------------------------------------------------------------

@pytest.mark.parametrize("field,value", [("rev", str(2 ** 63)), ("page", str(2 ** 64)), ("ns", str(2 ** 31)),
                                         ("parent", str(2 ** 63))])
def test_out_of_range_numbers_quarantine_the_record(tmp_path, field, value):
    xml = dump(page(1, [5, 6]))
    if field == "rev":
        xml = xml.replace("<id>6</id>", f"<id>{value}</id>")
    elif field == "page":
        xml = xml.replace("<id>1</id>\n", f"<id>{value}</id>\n")
    elif field == "ns":
        xml = xml.replace("<ns>0</ns>", f"<ns>{value}</ns>")
    else:
        xml = xml.replace("<id>6</id>", f"<id>6</id><parentid>{value}</parentid>")
    path = tmp_path / "big.xml"
    path.write_text(xml)
    out = read_all(path)
    bad = [q for q in out["quarantine"] if q.reason == "value_out_of_range"]
    assert bad and all("big.xml" in q.detail and q.byte_offset is not None for q in bad)
    assert_books_balance(out)


def test_out_of_range_values_do_not_stop_the_other_files(tmp_path, fast, sample_dump):
    big = tmp_path / "big.xml"
    big.write_text(dump(page(1, [5, 2 ** 63])).replace("<ns>0</ns>", f"<ns>{2 ** 31}</ns>"))
    arxiv = tmp_path / "papers.jsonl"
    arxiv.write_text(json.dumps({"paper_id": "p", "version": 1, "text": "One.", "timestamp": 1e18}) + "\n" +
                     json.dumps({"paper_id": "p", "version": 2 ** 70, "text": "Two."}) + "\n")
    result = run([str(big), str(arxiv), str(sample_dump)], str(tmp_path / "wh"), fast)
    assert result.accounting.balanced and result.accounting.quarantined["value_out_of_range"] == 4
    assert result.accounting.pairs_written == 21  # the sample's pairs, as on their own


def test_over_limit_fields_are_truncated_and_flagged_in_bounded_memory(tmp_path):
    import psutil

    comment = "a" * (64 << 20)  # 64 MB, from a few kB of bz2
    xml = dump(page(1, [5], comment=comment, title="T" * 300))
    path = tmp_path / "huge.xml.bz2"
    path.write_bytes(bz2.compress(xml.encode()))
    del xml, comment
    proc = psutil.Process()
    before = proc.memory_info().rss
    out = read_all(path)
    assert proc.memory_info().rss - before < 48 << 20  # the comment is never held whole
    (rev,) = out["revisions"]
    assert len(rev.comment) == 500 and len(rev.title.encode()) == 255
    (flag,) = out["quarantine"]
    assert flag.reason == "field_truncated" and flag.n_revisions == 0 and "67,108,864" in flag.detail
    assert_books_balance(out)
    quarantined = read_all(path, ReadConfig(over_limit="quarantine"))
    assert not quarantined["revisions"] and reasons(quarantined) == {"field_too_long": 1}


# ---- one writer per warehouse ---------------------------------------------------------------------------------

def test_a_second_run_fails_at_once_with_the_reason(tmp_path, sample_dump, capsys):
    from revmine.warehouse.lock import warehouse_lock

    wh = tmp_path / "wh"
    with warehouse_lock(str(wh), run="the first run"):
        assert main(["run", "--input", str(sample_dump), "--out", str(wh)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "is in use (run the first run, pid" in err
    assert not (wh / "_runs").exists()


def test_concurrent_catalog_builds_never_leave_a_catalog_without_views(tmp_path, sample_dump, fast):
    from revmine.warehouse.catalog import build_catalog

    wh = tmp_path / "wh"
    run([str(sample_dump)], str(wh), fast)
    errors = []

    def build():
        try:
            for _ in range(5):
                build_catalog(str(wh))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _count(wh, "select count(*) from revision_pairs") == 25
    assert not [f for f in os.listdir(wh) if ".tmp" in f]


def test_a_killed_runs_staging_is_cleaned_and_no_temp_folder_is_left(tmp_path, sample_dump, fast):
    wh = tmp_path / "wh"
    dead = wh / "_staging" / "20260101T000000Z-dead00" / "revisions"
    dead.mkdir(parents=True)
    (dead / "part-x-00000.parquet.tmp").write_bytes(b"half")
    temp_before = set(os.listdir(tempfile.gettempdir()))
    run([str(sample_dump)], str(wh), fast)
    assert not (wh / "_staging").exists()
    assert not {n for n in set(os.listdir(tempfile.gettempdir())) - temp_before if n.startswith(("beam", "tmp"))}


# ---- revmine query cannot touch the file system ---------------------------------------------------------------

@pytest.fixture(scope="module")
def query_wh(tmp_path_factory, sample_dump):
    wh = tmp_path_factory.mktemp("q") / "wh"
    cfg = wh.parent / "fast.yaml"
    cfg.write_text(FAST_CONFIG)
    run([str(sample_dump)], str(wh), Config.load(str(cfg)))
    return wh


@pytest.mark.parametrize("sql", ["COPY (SELECT 1) TO '{out}'", "COPY revisions TO '{part}'", "EXPORT DATABASE '{dir}'",
                                 "ATTACH '{dir}/x.duckdb' AS x", "INSTALL httpfs",
                                 "SET enable_external_access = true", "SELECT 1; COPY (SELECT 1) TO '{out}'"])
def test_query_refuses_statements_that_write(query_wh, tmp_path, sql, capsys):
    part = next((query_wh / "revisions").rglob("*.parquet"))
    size = part.stat().st_size
    text = sql.format(out=tmp_path / "o.csv", part=part, dir=tmp_path / "exp")
    assert main(["query", str(query_wh), text]) == 2
    assert "only reads" in capsys.readouterr().err
    assert part.stat().st_size == size and not (tmp_path / "o.csv").exists() and not (tmp_path / "exp").exists()


@pytest.mark.parametrize("fn", ["read_csv('/etc/passwd')", "read_text('/etc/hostname')", "glob('/etc/*')"])
def test_query_cannot_read_outside_the_warehouse(query_wh, fn, capsys):
    assert main(["query", str(query_wh), f"SELECT * FROM {fn}"]) == 1
    assert "root:" not in capsys.readouterr().out


def test_query_prints_values_exactly_as_stored(query_wh, capsys):
    value = "[[a]] [b] [/ref] :x: [bold]b[/bold]"
    assert main(["query", str(query_wh), f"SELECT '{value}' AS v"]) == 0
    assert value in capsys.readouterr().out


def test_query_shows_control_characters_instead_of_sending_them_to_the_terminal(query_wh, capsys):
    """Stored text went to the terminal raw: an arXiv line's "\\u001b[2J" cleared the screen and
    "\\u001b]0;...\\u0007" retitled the window (XML 1.0 dumps may carry C1 characters too). The table shows
    them as escapes; line feeds and tabs stay, and CSV and JSON keep the data as stored."""
    assert main(["query", str(query_wh), "SELECT 'a' || chr(27) || '[2J' || chr(7) || chr(13) || chr(155) || 'b'"
                 " || chr(10) || 'c' AS v"]) == 0
    out = capsys.readouterr().out
    assert not {chr(c) for c in [*range(32), 127, *range(128, 160)]} - {"\n"} & set(out)
    assert "a\\x1b[2J\\x07\\x0d\\x9bb" in out and "c" in out
    assert main(["query", str(query_wh), "SELECT chr(27) AS v", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"v": "\x1b"}


# ---- exports never destroy data ------------------------------------------------------------------------------

def test_query_tables_show_a_screenful_and_csv_and_json_stream_every_row(query_wh, capsys):
    """`revmine query WH "SELECT * FROM sentences"` fetched every row into memory and drew all of them as one
    table: minutes and gigabytes for a dump's sentences. A table now shows the first 200 rows and counts
    the rest; --limit shows more, and CSV and JSON stream every row in batches."""
    from revmine.warehouse import catalog

    assert main(["query", str(query_wh), "SELECT i FROM range(1000) t(i)"]) == 0
    out = capsys.readouterr().out
    assert "│ 199 │" in out and "│ 200 │" not in out
    assert "1,000 row(s), the first 200 shown" in " ".join(out.split())
    assert main(["query", str(query_wh), "SELECT i FROM range(1000) t(i)", "--limit", "300"]) == 0
    out = capsys.readouterr().out
    assert "│ 299 │" in out and "300 row(s)" in out and "shown" not in out
    assert main(["query", str(query_wh), "SELECT i FROM range(25000) t(i)", "--format", "csv"]) == 0
    assert capsys.readouterr().out.split() == ["i", *map(str, range(25000))]
    with catalog.query_batches(str(query_wh), "SELECT i FROM range(25000) t(i)", limit=24000) as (cols, batches):
        assert cols == ["i"] and [len(b) for b in batches] == [10_000, 10_000, 4_000]


def test_paths_and_messages_with_markup_are_printed_as_they_are(query_wh, tmp_path, capsys):
    """`revmine report WH --out 'out[/ref]'` wrote the report, then crashed printing where (rich's MarkupError:
    the path was read as markup), and a path with `[b]` lost its brackets in every message. Paths and error
    texts are printed as they are."""
    for out in ("rep[/ref]", "rep [b]x"):
        assert main(["report", str(query_wh), "--out", str(tmp_path / out)]) == 0
        assert "".join(f"report: {tmp_path / out}/index.html".split()) in "".join(capsys.readouterr().err.split())
    assert main(["export", "training", str(query_wh), str(tmp_path / "t[/i]"), "--format", "edisum"]) == 0
    assert "".join(f"written to {tmp_path / 't[/i]'}".split()) in "".join(capsys.readouterr().err.split())


def test_export_into_the_warehouse_is_refused(query_wh, capsys):
    before = snapshot(query_wh)
    for target in (query_wh, query_wh / "sub", query_wh.parent):
        assert main(["export", "hub", str(query_wh), str(target), "--force"]) == 2
        assert main(["export", "training", str(query_wh), str(target), "--force"]) == 2
    assert snapshot(query_wh) == before


def test_an_export_or_report_to_a_url_is_refused_and_writes_nothing(query_wh, tmp_path, monkeypatch, capsys):
    """Given gs://bucket/out, the exports and the report wrote a local folder ./gs:/bucket/out and said they
    had written gs://bucket/out."""
    monkeypatch.chdir(tmp_path)
    for command in (["export", "hub", str(query_wh), "gs://bucket/out"],
                    ["export", "training", str(query_wh), "gs://bucket/out"],
                    ["report", str(query_wh), "--out", "gs://bucket/report"]):
        assert main(command) == 2
        assert "is a URL" in " ".join(capsys.readouterr().err.split())
    assert os.listdir(tmp_path) == []


def test_export_replaces_only_its_own_folders(query_wh, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    for what in ("hub", "training"):
        assert main(["export", what, str(query_wh), str(foreign)]) == 2
        assert (foreign / "thesis.tex").read_text() == "precious"
    out = tmp_path / "out"
    assert main(["export", "hub", str(query_wh), str(out)]) == 0
    assert main(["export", "hub", str(query_wh), str(out)]) == 0  # an earlier export of its own
    assert (out / ".revmine-export").exists()
    assert main(["export", "training", str(query_wh), str(tmp_path / "train")]) == 0
    assert main(["export", "training", str(query_wh), str(tmp_path / "train")]) == 0
    assert main(["export", "hub", str(query_wh), str(foreign), "--force"]) == 0
    assert not (foreign / "thesis.tex").exists()


def test_a_revision_id_in_two_files_of_one_wiki_lands_once(tmp_path, fast):
    a, b, c = tmp_path / "a.xml", tmp_path / "b.xml", tmp_path / "c.xml"
    a.write_text(dump(page(1, [5, 6], text="Alpha page words.")))
    b.write_text(dump(page(2, [7, 6, 8], text="Beta page words.")))  # revision 6 again, on another page
    c.write_text(dump(page(3, [9, 5])))  # committed in a later run: 5 is in the warehouse already
    wh = tmp_path / "wh"
    result = run([str(a), str(b)], str(wh), fast)
    assert result.accounting.balanced and result.accounting.quarantined["duplicate_rev_id"] == 1
    later = run([str(c)], str(wh), fast)
    assert later.accounting.balanced and later.accounting.quarantined["duplicate_rev_id"] == 1
    assert _count(wh, "select count(*) from revision_pairs") == _count(wh, "select count(distinct new_rev_id) from revision_pairs") == 5
    assert _count(wh, "select count(*) from revisions") == 5
    assert _count(wh, "select count(*) from sentences where pair_id = 'testwiki:6' and text like '%Alpha%'") > 0
    assert _count(wh, "select count(*) from sentences where pair_id = 'testwiki:6' and text like '%Beta%'") == 0
    assert _count(wh, "select count(*) from revision_pairs where new_rev_id = 6 and page_id = 1") == 1
    assert _count(wh, "select count(*) from quarantine where reason = 'duplicate_rev_id'") == 2



def _all_rows(wh) -> dict:
    """Every table's rows, but the diffs' count of sections parsed: the parent of a pair whose own parent
    pair was not diffed is parsed, not found in the section cache."""
    from revmine.warehouse.layout import read_table

    return {t: sorted(str({k: v for k, v in row.items() if k != "sections_parsed"})
                      for row in read_table(str(wh), t).to_pylist()) for t in TABLES}


def test_revisions_stored_already_are_not_diffed_again_and_the_rows_are_the_same(tmp_path, fast, monkeypatch):
    """A monthly full-history dump repeats every revision of the month before. Their pairs were diffed
    (and labelled and summarised) again, only for the duplicate check to take them out before the commit:
    the month's run cost as much as the first. Now only the new pairs are diffed, and every table ends
    with the same rows as when all were."""
    import revmine.runner.run as run_module
    from revmine.warehouse.duplicates import HeldRevisions

    month1, month2 = tmp_path / "m1.xml", tmp_path / "m2.xml"
    month1.write_text(dump(page(1, [1, 2, 3, 4]), page(2, [10, 11])))
    month2.write_text(dump(page(1, [1, 2, 3, 4, 5, 6]), page(2, [10, 11, 12]), page(3, [20, 21])))
    diff = "diff (clean, align, span edits, node changes)"

    def months(wh):
        first = run([str(month1)], str(wh), fast)
        return first, run([str(month2)], str(wh), fast)

    first, second = months(tmp_path / "wh")
    assert first.timings[diff][1] == 4  # 1-2, 2-3, 3-4, 10-11
    assert second.accounting.balanced and second.accounting.quarantined["duplicate_rev_id"] == 6
    assert second.timings[diff][1] == 4  # only the new pairs: 4-5, 5-6, 11-12, 20-21
    monkeypatch.setattr(run_module, "held_revisions", lambda warehouse, skip: HeldRevisions({}))
    _, every = months(tmp_path / "every")
    assert every.timings[diff][1] == 8
    assert _all_rows(tmp_path / "wh") == _all_rows(tmp_path / "every")
    assert _count(tmp_path / "wh", "select count(*) from revision_pairs") == 11  # 6 + 5 new (20 a creation)
    assert _count(tmp_path / "wh", "select count(*) from diffs") == 8


def _stub_of(xml: str) -> str:
    """The stub dump of a full-text one: each <text> points at the text store instead of holding it."""
    import re

    n = iter(range(1, 10**6))
    return re.sub(r"<text([^>]*)>.*?</text>", lambda m: f'<text{m.group(1)} id="{next(n)}" />', xml, flags=re.S)


def test_a_dump_with_the_text_replaces_a_stub_of_the_same_revisions(tmp_path, fast, sample_dump):
    """A stub dump run first (metadata is cheap to mine), then the full-text dump of the same wiki: every
    revision of the second was quarantined as duplicate_rev_id and never diffed, so the warehouse could
    never hold an edit of them. The copy that holds the text is the one kept now, committed or not; the
    stub's rows go, with one event row that says so. A stub after the text, or beside it in one run,
    lands as duplicates as before."""
    stub = tmp_path / "wiki-stub-meta-history.xml"
    stub.write_text(_stub_of(sample_dump.read_text()))
    wh = tmp_path / "wh"
    run([str(stub)], str(wh), fast)
    assert _count(wh, "select count(*) from revisions where has_text") == 0
    result = run([str(sample_dump)], str(wh), fast)
    assert result.accounting.balanced and not result.accounting.quarantined
    assert _count(wh, "select count(*) from revisions") == _count(wh, "select count(distinct rev_id) from revisions") == 25
    assert _count(wh, "select count(*) from revisions where has_text") == 25
    assert _count(wh, "select count(*) from revision_pairs") == 25
    assert _count(wh, "select count(*) from revision_pairs where skip_reason is null") == 21
    run([str(sample_dump)], str(tmp_path / "alone"), fast)
    assert _count(wh, "select count(*) from edits") == _count(tmp_path / "alone", "select count(*) from edits") > 0
    assert _count(wh, "select list(reason) from quarantine") == ["superseded_copy"]
    # the stub again: its copies are duplicates of the ones with text
    again = run([str(stub.rename(tmp_path / "wiki-stub-again.xml"))], str(wh), fast)
    assert again.accounting.quarantined == {"duplicate_rev_id": 25}
    assert _count(wh, "select count(*) from revisions where has_text") == 25
    # both in one run, the stub listed first: the text is kept
    both = run([str(tmp_path / "wiki-stub-again.xml"), str(sample_dump)], str(tmp_path / "wh2"), fast)
    assert both.accounting.balanced
    assert _count(tmp_path / "wh2", "select count(*) from revisions where has_text") == 25
    assert _count(tmp_path / "wh2", "select count(*) from revision_pairs where skip_reason is null") == 21


def _current_of(xml: str) -> str:
    """The current-revisions dump of a full history: each page's last revision alone, its <parentid> kept."""
    import re

    def last(m):
        revs = re.findall(r"<revision>.*?</revision>", m.group(0), flags=re.S)
        return re.sub(r"<revision>.*</revision>", lambda _: revs[-1], m.group(0), flags=re.S)

    return re.sub(r"<page>.*?</page>", last, xml, flags=re.S)


def test_a_history_replaces_a_current_dump_s_copies_of_the_last_revisions(tmp_path, fast, sample_dump):
    """pages-meta-current first (or listed first), then the full history: the current dump's copy of each
    page's last revision, whose pair has no parent in its file, was kept, and the history's pair into that
    revision, the page's last edit, was quarantined with the duplicate. On aawiki's dumps, 205 of 645 edits
    were lost that way. The copy whose pair found its parent is kept now."""
    current = tmp_path / "wiki-pages-meta-current.xml"
    current.write_text(_current_of(sample_dump.read_text()))
    run([str(sample_dump)], str(tmp_path / "alone"), fast)
    diffed = _count(tmp_path / "alone", "select count(*) from revision_pairs where skip_reason is null")
    run([str(current)], str(tmp_path / "wh"), fast)
    later = run([str(sample_dump)], str(tmp_path / "wh"), fast)
    assert later.accounting.balanced and later.accounting.events == {"file:superseded_copy": 1}
    both = run([str(current), str(sample_dump)], str(tmp_path / "wh2"), fast)
    assert both.accounting.balanced
    for wh in ("wh", "wh2"):
        assert _count(tmp_path / wh, "select count(*) from revision_pairs where skip_reason is null") == diffed
        assert _count(tmp_path / wh, "select count(*) - count(distinct rev_id) from revisions") == 0
        assert _count(tmp_path / wh, "select count(*) from revisions") == 25


def test_held_revisions_are_those_of_other_inputs(tmp_path, fast):
    """The ids the pre-check holds are the committed revisions of other inputs, per wiki: an input read
    again (with another config, say) is diffed again in full, and its own revisions do not count."""
    from revmine.warehouse.duplicates import held_revisions

    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    a.write_text(dump(page(1, [3, 900_001]), page(5, [2 ** 62])))  # one huge id: no 2**59-byte bitmap
    b.write_text(dump(page(2, [7]), db="otherwiki"))
    wh = tmp_path / "wh"
    result = run([str(a), str(b)], str(wh), fast)
    assert result.accounting.balanced
    key_a = next(k for p, k in json.loads((wh / "_inputs.json").read_text()).items() if p.endswith("a.xml"))
    held = held_revisions(str(wh), set())
    assert ("testwiki", None, 3) in held and ("testwiki", None, 900_001) in held and ("otherwiki", None, 7) in held
    assert ("testwiki", None, 7) not in held and ("otherwiki", None, 3) not in held
    assert ("testwiki", None, 2) not in held
    assert ("testwiki", None, 2 ** 62) in held and ("testwiki", None, 2 ** 62 - 1) not in held
    assert ("testwiki", None, 900_002) not in held and ("testwiki", None, -1) not in held and len(held) == 4
    small = held_revisions(str(wh), {key_a})
    assert ("otherwiki", None, 7) in small and small.held["otherwiki"][0] == "bits"
    assert ("testwiki", None, 3) not in small
    again = run([str(a)], str(wh), fast)  # the same bytes again: its own pairs are diffed again
    assert again.timings["diff (clean, align, span edits, node changes)"][1] == 1


def _versions(path, paper, texts):
    path.write_text("".join(json.dumps({"paper_id": paper, "version": v, "text": t}) + "\n"
                            for v, t in enumerate(texts, 1)))


def test_arxiv_versions_stored_already_are_not_diffed_again(tmp_path, fast):
    """A paper's versions exported again with a newer one: the stored versions' pairs were diffed again
    before the duplicate check took them out. Only the new version's pair is diffed now; another paper's
    version of the same number is not taken for it."""
    from revmine.warehouse.duplicates import held_revisions

    first, again = tmp_path / "a.jsonl", tmp_path / "c.jsonl"
    _versions(first, "2101.00001", ["We study cats. Cats are nice.", "We study dogs. Cats are nice."])
    _versions(again, "2101.00001", ["We study cats. Cats are nice.", "We study dogs. Cats are nice.",
                                    "We study dogs. Cats are very nice."])
    other = tmp_path / "b.jsonl"
    _versions(other, "2101.00002", ["Old words here.", "New words here.", "Newer words here."])
    wh = tmp_path / "wh"
    assert run([str(first)], str(wh), fast).accounting.balanced
    held = held_revisions(str(wh), set())
    paper = _count(wh, "select any_value(page_id) from revision_pairs")
    assert ("arxiv", paper, 2) in held and ("arxiv", paper, 3) not in held and ("arxiv", paper + 1, 2) not in held
    later = run([str(again), str(other)], str(wh), fast)
    assert later.accounting.balanced and later.accounting.quarantined["duplicate_rev_id"] == 2
    assert later.timings["diff (clean, align, span edits, node changes)"][1] == 3  # v2-v3, and the other paper's 2
    assert _count(wh, "select count(*) from diffs") == _count(wh, "select count(distinct pair_id) from diffs") == 4



def test_an_arxiv_version_in_two_files_lands_once(tmp_path, fast):
    """A paper's versions exported again with a newer one: the pairs of the versions already stored landed a
    second time under the same pair id. Versions of other papers with the same numbers are not touched."""
    first, again, other = tmp_path / "a.jsonl", tmp_path / "c.jsonl", tmp_path / "b.jsonl"
    _versions(first, "2101.00001", ["We study cats. Cats are nice.", "We study dogs. Cats are nice."])
    _versions(other, "2101.00002", ["Old words here.", "New words here."])
    _versions(again, "2101.00001", ["We study cats. Cats are nice.", "We study dogs. Cats are nice.",
                                    "We study dogs. Cats are very nice."])
    wh = tmp_path / "wh"
    assert run([str(first), str(other)], str(wh), fast).accounting.balanced
    later = run([str(again)], str(wh), fast)
    assert later.accounting.balanced and later.accounting.quarantined["duplicate_rev_id"] == 2
    assert _count(wh, "select count(*) from revision_pairs") == _count(wh, "select count(distinct pair_id) from revision_pairs") == 5
    assert _count(wh, "select count(*) from revision_pairs where source_file like '%c.jsonl'") == 1  # v2-v3 only
    assert _count(wh, "select count(*) from diffs") == _count(wh, "select count(distinct pair_id) from diffs") == 3
    # within one run, the input listed first keeps its copy
    wh2 = tmp_path / "wh2"
    both = run([str(again), str(first)], str(wh2), fast)
    assert both.accounting.balanced and both.accounting.quarantined["duplicate_rev_id"] == 2
    assert _count(wh2, "select count(*) from revision_pairs where source_file like '%a.jsonl'") == 0


def test_an_arxiv_version_0_is_out_of_range_not_a_pair_named_like_a_creation(tmp_path, fast):
    """Versions 0 and 1 of a paper gave the pairs arxiv:p:v0-v0 and arxiv:p:v0-v1, where "v0" meant no
    version in the one and version 0 in the other."""
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"paper_id": "p", "version": v, "text": f"Text {v}."}) + "\n" for v in (0, 1, 2)))
    wh = tmp_path / "wh"
    result = run([str(path)], str(wh), fast)
    assert result.accounting.balanced and result.accounting.quarantined["value_out_of_range"] == 1
    assert [r[0] for r in duckdb.connect(str(wh / "catalog.duckdb"), read_only=True).execute(
        "select pair_id from revision_pairs order by 1").fetchall()] == ["arxiv:p:v0-v1", "arxiv:p:v1-v2"]


def test_compressed_arxiv_json_lines_are_read_and_a_cut_one_is_quarantined(tmp_path, fast):
    """`papers.jsonl.gz` (arXiv sets are often shipped compressed) was taken for an XML dump: one
    malformed_xml row and not a version read. A compressed file cut short keeps what came before it."""
    import gzip
    import lzma

    plain = tmp_path / "p.jsonl"
    _versions(plain, "2101.00001", ["We study cats.", "We study dogs.", "We study dogs and cats."])
    data = plain.read_bytes()
    (tmp_path / "p.jsonl.gz").write_bytes(gzip.compress(data))
    (tmp_path / "p.jsonl.bz2").write_bytes(bz2.compress(data))
    (tmp_path / "p.jsonl.xz").write_bytes(lzma.compress(data))
    for name in ("p.jsonl.gz", "p.jsonl.bz2", "p.jsonl.xz"):
        wh = tmp_path / f"wh-{name}"
        acc = run([str(tmp_path / name)], str(wh), fast).accounting
        assert acc.balanced and acc.revisions_read == 3 and acc.pairs_written == 2 and not acc.quarantined, name
    long = tmp_path / "long.jsonl"
    long.write_text("".join(json.dumps({"paper_id": f"p{i}", "version": v, "text": f"Text {i} {v} " * 50}) + "\n"
                            for i in range(200) for v in (1, 2)))
    (tmp_path / "cut.jsonl.gz").write_bytes(gzip.compress(long.read_bytes())[:3000])
    result = run([str(tmp_path / "cut.jsonl.gz")], str(tmp_path / "wh-cut"), fast)
    assert result.accounting.balanced and result.accounting.incomplete_files == 1
    assert result.accounting.events["file:truncated_input"] == 1 and result.accounting.revisions_read > 0

# ---- jobs: names and URLs from dumpstatus.json are data ----------------------------------------------------

def _mirror(root, files):
    d = root / "mirror" / "testwiki" / "20261101"
    d.mkdir(parents=True)
    (d / "real.xml.bz2").write_bytes(bz2.compress(dump(page(1, [5, 6])).encode()))
    (d / "dumpstatus.json").write_text(json.dumps({"jobs": {"metahistorybz2dump": {"status": "done", "files": files}}}))
    return f"file://{root / 'mirror'}"


@pytest.mark.parametrize("name,url", [("../../../escaped.xml.bz2", "/testwiki/20261101/real.xml.bz2"),
                                      ("ok.xml.bz2", "file:///etc/passwd"),
                                      ("ok.xml.bz2", "/testwiki/20261101/../../../../etc/passwd"),
                                      ("ok.xml.bz2", "https://elsewhere.example/x.bz2"), ("sub/dir.bz2", None)])
def test_jobs_refuse_names_and_urls_that_leave_their_folders(tmp_path, name, url):
    files = {name: {"size": 1, "sha1": None, **({"url": url} if url else {})}}
    base = _mirror(tmp_path, files)
    before = snapshot(tmp_path)
    args = ["jobs", "run", "--wiki", "testwiki", "--date", "20261101", "--warehouse", str(tmp_path / "wh"),
            "--dumps-dir", str(tmp_path / "dumps"), "--base-url", base]
    assert main(args) == 1
    assert {p for p in snapshot(tmp_path) - before if not p.startswith(("dumps", "wh"))} == set()
    assert not [p for p in snapshot(tmp_path / "dumps") if os.path.isfile(tmp_path / "dumps" / p)] \
        if (tmp_path / "dumps").exists() else True


def test_jobs_check_wiki_and_date(tmp_path, capsys):
    assert main(["jobs", "run", "--wiki", "../x", "--date", "20261101", "--warehouse", str(tmp_path / "wh")]) == 2
    assert main(["jobs", "run", "--wiki", "testwiki", "--date", "../../1", "--warehouse", str(tmp_path / "wh")]) == 2
    assert "not a MediaWiki database name" in capsys.readouterr().err
    assert not (tmp_path / "wh").exists()


# ---- the books against the input, on every real dump and corrupted variants of them ------------------------

# The 1.05 GB Anarchism history is left to tests/test_read_shared_dumps.py, which checks its books against
# the revision count the data's README states (its tag count): reading it again here took 13 s of the suite.
WIKIPEDIA_FILES = [p.relative_to(SHARED / "wikipedia").as_posix() for p in wikipedia_dumps(full_history=False)]


@pytest.mark.parametrize("name", WIKIPEDIA_FILES)
def test_books_equal_the_tag_count_on_every_shared_dump(shared_data, name):
    path = shared_data / "wikipedia" / name
    out = read_all(path, keep_text=False)
    assert out["sources"][0].revisions_read == count_revision_tags(path)
    assert_books_balance(out)


@pytest.mark.parametrize("name", WIKIPEDIA_FILES)
def test_books_equal_the_tag_count_on_corrupted_shared_dumps(shared_data, tmp_path, name):
    from trust_helpers import decompressed

    xml = decompressed(shared_data / "wikipedia" / name)
    data = bytearray(xml)
    for k in range(1, 8):  # flip bits at seven places through the file, then cut off its last tenth
        at = len(data) * k // 8
        data[at] ^= 0x24
    packed = bz2.compress(xml)
    variants = {"flipped.xml": bytes(data[: len(data) * 9 // 10]), "cut.xml.bz2": packed[: len(packed) // 2]}
    for fname, blob in variants.items():
        path = tmp_path / fname
        path.write_bytes(blob)
        out = read_all(path, keep_text=False)
        assert out["sources"][0].revisions_read == count_revision_tags(path), fname
        assert_books_balance(out)


def test_query_works_through_a_symlinked_warehouse(query_wh, tmp_path):
    link = tmp_path / "link"
    os.symlink(query_wh, link)
    assert main(["catalog", str(link)]) == 0  # views now name files through the link
    assert main(["query", str(link), "SELECT count(*) FROM revisions"]) == 0
    assert main(["catalog", str(query_wh)]) == 0


def test_a_lock_left_by_a_run_that_died_before_writing_is_removed(tmp_path, sample_dump, fast):
    wh = tmp_path / "wh"
    (wh / "_staging").mkdir(parents=True)
    (wh / "_staging" / "20260101T000000Z-dead01.lock").write_text("{}")
    run([str(sample_dump)], str(wh), fast)
    assert not (wh / "_staging").exists()


# ---- inputs that are not files ----------------------------------------------------------------------------

def test_a_device_or_a_fifo_given_as_input_is_quarantined_not_read(tmp_path):
    """/dev/zero never ends and a FIFO with no writer blocks its reader forever (the content key alone
    hashed /dev/zero until killed). Each is one file-level `unreadable_file` row; the other inputs land.
    A subprocess, so the old behaviour fails by its timeout instead of stalling the suite."""
    import subprocess
    import sys

    fifos = [tmp_path / "pipe.xml", tmp_path / "pipe.jsonl"]
    for f in fifos:
        os.mkfifo(f)
    devices = [p for p in ("/dev/zero",) if os.path.exists(p)]
    (tmp_path / "fast.yaml").write_text(FAST_CONFIG)
    wh = tmp_path / "wh"
    sample = os.path.join(os.path.dirname(__file__), "..", "samples", "samplewiki-history.xml")
    code = ("import sys; from revmine.cli import main; sys.exit(main(['run', '--input', *sys.argv[1:-2], "
            "'--out', sys.argv[-2], '--config', sys.argv[-1]]))")
    subprocess.run([sys.executable, "-c", code, *map(str, fifos), *devices, sample, str(wh), str(tmp_path / "fast.yaml")],
                   capture_output=True, timeout=120, check=True)
    assert _count(wh, "SELECT count(*) FROM quarantine WHERE level = 'file' AND reason = 'unreadable_file'") == \
        len(fifos) + len(devices)
    assert _count(wh, "SELECT count(*) FROM revision_pairs") == 25


def test_catalog_of_a_folder_that_is_no_warehouse_writes_nothing(tmp_path, capsys):
    """`revmine catalog ~/papers` (a mistyped warehouse) wrote a lock file and an empty catalog there."""
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    assert main(["catalog", str(folder)]) == 2
    assert "holds no revmine warehouse" in " ".join(capsys.readouterr().err.split())
    assert sorted(os.listdir(folder)) == ["thesis.tex"]


def test_catalog_rebuilds_a_warehouse_whose_catalog_was_deleted(query_wh, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(query_wh, copy)
    (copy / "catalog.duckdb").unlink()
    assert main(["catalog", str(copy)]) == 0
    assert _count(copy, "select count(*) from revision_pairs") == _count(query_wh, "select count(*) from revision_pairs")


def test_a_run_into_a_folder_of_other_files_is_refused_and_an_empty_one_is_taken(tmp_path, fast, sample_dump,
                                                                                 capsys):
    """`--out .` in a project folder, or `--out ~`, spread the tables, a lock and a catalog among the user's
    files. A folder with files and no warehouse is refused before anything is written; a new folder, an
    empty one (a `.gitkeep` aside) and a warehouse are written as before."""
    from revmine.warehouse.layout import NotAWarehouse

    project = tmp_path / "project"
    project.mkdir()
    (project / "thesis.tex").write_text("precious")
    (tmp_path / "fast.yaml").write_text(FAST_CONFIG)
    assert main(["run", "--input", str(sample_dump), "--out", str(project), "--config", str(tmp_path / "fast.yaml")]) == 2
    assert "holds other files" in " ".join(capsys.readouterr().err.split())
    with pytest.raises(NotAWarehouse):
        run([str(sample_dump)], str(project), fast)
    assert main(["jobs", "run", "--wiki", "testwiki", "--date", "20261101", "--warehouse", str(project)]) == 2
    assert sorted(os.listdir(project)) == ["thesis.tex"]
    for out, says in ((project / "thesis.tex", "is a file, not a folder"), (project / "thesis.tex" / "wh", "cannot make")):
        assert main(["run", "--input", str(sample_dump), "--out", str(out), "--config", str(tmp_path / "fast.yaml")]) == 2
        assert says in " ".join(capsys.readouterr().err.split())  # one line: these were tracebacks
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / ".gitkeep").write_text("")
    assert run([str(sample_dump)], str(kept), fast).accounting.pairs_written == 21
    assert run([str(sample_dump)], str(kept), fast).accounting.pairs_written == 21  # a warehouse now


def test_a_report_never_overwrites_files_it_did_not_write(query_wh, tmp_path, capsys):
    """`revmine report --out site` replaced the site's own index.html. Like an export, a report goes into a
    new or empty folder or an earlier report, never into the warehouse; --force writes over other files."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>my site</h1>")
    assert main(["report", str(query_wh), "--out", str(site)]) == 2
    assert "not a revmine report" in " ".join(capsys.readouterr().err.split())
    assert (site / "index.html").read_text() == "<h1>my site</h1>"
    before = snapshot(query_wh)
    assert main(["report", str(query_wh), "--out", str(query_wh / "report")]) == 2
    assert snapshot(query_wh) == before
    out = tmp_path / "report"
    assert main(["report", str(query_wh), "--out", str(out)]) == 0
    assert main(["report", str(query_wh), "--out", str(out)]) == 0  # an earlier report is replaced
    assert main(["report", str(query_wh), "--out", str(site), "--force"]) == 0
    assert "revmine report" in (site / "index.html").read_text()


def test_a_warehouse_written_before_a_column_existed_still_gets_a_catalog(query_wh, tmp_path):
    """Files written by an earlier version lack a column added since. One such file among newer ones read
    as NULL, but a table with no file holding the column failed to bind, so neither `revmine catalog` nor
    any later run could build the catalog."""
    import pyarrow.parquet as pq

    old = tmp_path / "old"
    shutil.copytree(query_wh, old)
    for part in (old / "alignments").rglob("*.parquet"):
        pq.write_table(pq.read_table(part, partitioning=None).drop(["links"]), part)
    assert main(["catalog", str(old)]) == 0
    n = _count(query_wh, "select count(*) from alignments")
    assert n > 0 and _count(old, "select count(*) from alignments") == n
    assert _count(old, "select count(links) from alignments") == 0


# ---- a remote warehouse ------------------------------------------------------------------------------

def test_a_remote_warehouse_stores_a_revision_once(tmp_path, fast, capsys):
    """A warehouse at a URL (gs://, s3://; here file://, through Beam's file systems as those are): a run
    ended in a crash when it read its staged books back, since pyarrow read the list of URLs as local
    paths; and the duplicate check did not run there, so a dump read again as another file landed twice.
    Now both runs commit, the later copy of a revision is quarantined, and its pair is not diffed."""
    import remote_fs  # noqa: F401  (registers the file:// scheme with Beam)
    from revmine.warehouse.layout import read_table

    a, c = tmp_path / "a.xml", tmp_path / "c.xml"
    a.write_text(dump(page(1, [5, 6], text="Alpha page words.")))
    c.write_text(dump(page(3, [9, 5, 10])))  # revision 5 is in the warehouse already
    wh = tmp_path / "wh"
    url = "file://" + str(wh)
    first = run([str(a)], url, fast)
    assert first.accounting.balanced and first.accounting.pairs_written == 1
    later = run([str(c)], url, fast)
    assert later.accounting.balanced and later.accounting.quarantined["duplicate_rev_id"] == 1
    for where in (url, str(wh)):  # the same rows, read through the URL and as the folder it names
        pairs = read_table(where, "revision_pairs").to_pylist()
        assert sorted(p["new_rev_id"] for p in pairs) == [5, 6, 9, 10]  # 5 and 9 as page creations
        assert sorted(d["pair_id"] for d in read_table(where, "diffs").to_pylist()) == ["testwiki:10", "testwiki:6"]
    assert [r["rev_id"] for r in read_table(str(wh), "revisions").to_pylist()].count(5) == 1
    (dup,) = [q for q in read_table(str(wh), "quarantine").to_pylist() if q["reason"] == "duplicate_rev_id"]
    assert dup["rev_id"] == 5 and "a.xml" in dup["detail"]
    assert not list(tmp_path.glob("file:*")) and not os.path.exists("file:")  # no folder named after the URL
    assert main(["run", "--input", str(a), "--out", url, "--config", str(tmp_path / "fast.yaml")]) == 0
    printed = capsys.readouterr().err  # the run's lines go to stderr, its tables to stdout
    assert "revmine query" not in printed and "revmine catalog FOLDER" in printed  # no catalog there to query
    for command in (["query", url, "SELECT 1"], ["export", "training", url, str(tmp_path / "out")],
                    ["catalog", url]):  # one line that says what to do, which works
        assert main(command) == 2
        said = " ".join(capsys.readouterr().err.split())  # as rich wrapped it
        assert "revmine catalog FOLDER" in said or "copy a remote warehouse" in said, said


def test_a_remote_warehouse_that_cannot_be_read_here_is_said_so(caplog):
    """Where fsspec has no file system for the warehouse's scheme (gcsfs not installed, say), the run
    cannot look for revisions stored already, and says what that costs instead of failing."""
    from revmine.runner.run import _reachable
    from revmine.warehouse.duplicates import RemoteUnchecked, connect

    with pytest.raises(RemoteUnchecked, match="nosuchfs://"):
        connect("nosuchfs://bucket/wh")
    assert not _reachable("nosuchfs://bucket/wh")
    assert "lands twice" in caplog.text and "nosuchfs://bucket/wh" in caplog.text


def test_a_wikimedia_dump_folder_reads_its_dumps_and_leaves_its_tables(tmp_path, fast, sample_dump, caplog):
    """A mirrored dump folder holds SQL tables (page.sql.gz: several GB, read through in search of a <page>),
    the multistream index, title lists in text, the namespaces as JSON and dumpstatus.json. Each was read as
    a dump (a malformed_xml row, or a malformed_record per JSON line); now only the dumps are, and the run
    says which files it left."""
    import gzip
    import logging

    from revmine.runner.compose import expand_inputs

    folder = tmp_path / "enwiki" / "20260101"
    folder.mkdir(parents=True)
    history = folder / "enwiki-20260101-pages-meta-history1.xml-p1p2.bz2"
    history.write_bytes(bz2.compress(sample_dump.read_bytes()))
    others = {"enwiki-20260101-page.sql.gz": gzip.compress(b"INSERT INTO `page` VALUES (1,0,'A');\n"),
              "enwiki-20260101-pages-articles-multistream-index.txt.bz2": bz2.compress(b"600:10:AccessibleComputing\n"),
              "enwiki-20260101-siteinfo-namespaces.json.gz": gzip.compress(b'{"query": {"namespaces": {}}}\n'),
              "dumpstatus.json": b'{\n "jobs": {}, "version": "0.8"\n}\n',
              "enwiki-20260101-md5sums.txt": b"0 x\n",
              # its name says nothing of what it holds: its first bytes tell
              "enwiki-20260101-all-titles-in-ns0.gz": gzip.compress(b"page_title\nAnarchism\n")}
    for name, data in others.items():
        (folder / name).write_bytes(data)
    with caplog.at_level(logging.INFO, logger="revmine.runner.compose"):
        assert expand_inputs([str(tmp_path / "enwiki")]) == [str(history)]
    assert "6 file(s) that are not dumps left unread" in caplog.text
    result = run([str(tmp_path / "enwiki")], str(tmp_path / "wh"), fast)
    assert result.accounting.balanced and result.accounting.files == 1 and not result.accounting.events
    assert result.accounting.revisions_read == 25 and not result.accounting.quarantined


def test_revmine_s_own_outputs_in_an_input_folder_are_not_read_as_inputs(tmp_path, fast, sample_dump, caplog):
    """A warehouse put beside its dumps (`--input data --out data/wh`): the second run read the warehouse's
    `_inputs.json` and run manifests as arXiv inputs (rows of their own), and an Edisum export's
    `train.jsonl` in the folder as paper versions. A folder's warehouses, exports and reports are left."""
    import logging

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(sample_dump, data / "wiki-history.xml")
    from revmine.warehouse.export import export_training

    run([str(data)], str(data / "wh"), fast)
    assert export_training(str(data / "wh"), str(data / "edisum"), "edisum")["train"] > 0
    with caplog.at_level(logging.INFO, logger="revmine.runner.compose"):
        again = run([str(data)], str(data / "wh"), fast)
    assert again.accounting.files == 1 and not again.accounting.events and not again.accounting.quarantined
    assert "2 revmine warehouse(s), export(s) or report(s) left unread (edisum, wh)" in caplog.text


def test_hidden_folders_and_files_in_an_input_folder_are_not_read(tmp_path, sample_dump):
    """A mirror's `.snapshots/` (btrfs, snapper) held an older copy of every dump, and each was read: the
    same revisions again, quarantined as duplicates, or first and winning. Hidden folders and files are left
    now, as `.git/` and editors' backups should be; a hidden folder named as the input is still read."""
    from revmine.runner.compose import expand_inputs

    mirror = tmp_path / ".mirror"
    (mirror / ".snapshots" / "1").mkdir(parents=True)
    shutil.copy(sample_dump, mirror / "wiki-history.xml")
    shutil.copy(sample_dump, mirror / ".snapshots" / "1" / "wiki-history.xml")
    shutil.copy(sample_dump, mirror / ".wiki-history.xml.swp.xml")
    assert expand_inputs([str(mirror)]) == [str(mirror / "wiki-history.xml")]
    assert expand_inputs([str(mirror / ".wiki-history.xml.swp.xml")]) == [str(mirror / ".wiki-history.xml.swp.xml")]


def test_two_workers_making_one_partition_folder_do_not_crash_the_run(tmp_path, monkeypatch, sample_dump):
    """With `--direct_num_workers=2 --direct_running_mode=multi_processing`, two inputs of one wiki and year
    make the same partition folder at once: one worker checked that it was missing, the other made it, and
    Beam's mkdirs then refused it ("File exists"): the run crashed, about one try in two. Here the other
    worker's folder is made between the check and the make."""
    from apache_beam.io.filesystems import FileSystems

    from revmine.pipeline.read import read_dump
    from revmine.warehouse import layout

    real_exists = FileSystems.exists

    def racing_exists(path):
        if "wiki=" in path and not real_exists(path):
            os.makedirs(path)  # the other worker, just now
            return False
        return real_exists(path)

    monkeypatch.setattr(layout.FileSystems, "exists", staticmethod(racing_exists))
    writer = layout.PartitionedWriter(str(tmp_path / "stage"), "0123456789abcdef")
    for rec in read_dump(str(sample_dump)):
        writer.add(rec)
    assert sum(rows for _, _, rows in writer.close()) >= 25


def test_a_broken_link_in_an_input_folder_is_one_row_and_the_other_files_are_read(tmp_path, fast, sample_dump):
    """Mirrored dump folders keep links (`latest/` into a dated folder, a part not yet fetched). One broken
    link failed the whole run before it began ("input not found", exit 2), naming a file nobody had typed.
    Now it is an `unreadable_file` row, as a file without read permission is, and the dumps beside it land;
    a path typed wrong is still refused at once."""
    import duckdb

    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "wiki-history.xml.bz2").write_bytes(bz2.compress(sample_dump.read_bytes()))
    (folder / "wiki-history2.xml.bz2").symlink_to(tmp_path / "not-fetched.xml.bz2")
    (folder / "loop").symlink_to(folder)  # a link back up the tree is not walked into
    result = run([str(folder)], str(tmp_path / "wh"), fast)
    assert result.accounting.balanced and result.accounting.revisions_read == 25 and result.accounting.files == 2
    rows = duckdb.connect(str(tmp_path / "wh" / "catalog.duckdb"), read_only=True).execute(
        "SELECT reason, source_file FROM quarantine").fetchall()
    assert rows == [("unreadable_file", str(folder / "wiki-history2.xml.bz2"))]
    with pytest.raises(FileNotFoundError, match="input not found"):
        run([str(folder / "wiki-histroy.xml.bz2")], str(tmp_path / "wh2"), fast)
    assert not (tmp_path / "wh2").exists()


def test_a_remote_folder_is_read_as_a_local_one_is(tmp_path, fast, sample_dump):
    """An input URL naming a folder (a prefix, in an object store) was taken for a file: the run read
    nothing from it and quarantined it as unreadable. Now its dumps are read, as a local folder's are,
    and a file's URL is still that file."""
    import remote_fs  # noqa: F401  (registers the file:// scheme with Beam)
    from revmine.runner.compose import expand_inputs

    folder = tmp_path / "dumps"
    (folder / "more").mkdir(parents=True)
    shutil.copy(sample_dump, folder / "a.xml")
    (folder / "more" / "b.xml").write_text(dump(page(1, [5, 6])))
    (folder / "notes.txt").write_text("not a dump")
    url = "file://" + str(folder)
    assert expand_inputs([url + "/"]) == expand_inputs([url]) == [url + "/a.xml", url + "/more/b.xml"]
    assert expand_inputs([url + "/a.xml"]) == [url + "/a.xml"]
    result = run([url], str(tmp_path / "wh"), fast)
    assert result.accounting.balanced and result.accounting.files == 2 and not result.accounting.events
    for missing in (url + "/gone.xml", url + "/gone/"):  # as a missing local path is: one line, nothing written
        assert main(["run", "--input", missing, "--out", str(tmp_path / "wh2")]) == 2
        assert not (tmp_path / "wh2").exists()


@pytest.mark.parametrize("argv", [["train", "intent", "--out", "gs://bucket/model"],
                                  ["build", "summaries-dataset", "--out", "gs://bucket/data"],
                                  ["eval", "summaries", "--sample-out", "s3://bucket/sample.md"]])
def test_outputs_written_locally_refuse_a_url(argv, tmp_path, monkeypatch, capsys):
    """A URL given where revmine writes with the local file system became a folder named after it."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and "is a URL" in " ".join(capsys.readouterr().err.split())
    assert os.listdir(tmp_path) == []


def test_a_remote_warehouse_has_one_writer_at_a_time(tmp_path, fast, sample_dump, capsys):
    """A remote warehouse had no lock: two runs at once each checked for stored revisions before the other
    committed, and both committed. Now a run finds the other's lock object and refuses, naming its holder
    and what to delete if that holder is dead; a finished run leaves no lock behind."""
    import remote_fs  # noqa: F401  (registers the file:// scheme with Beam)
    from revmine.warehouse.lock import RemoteLock, WarehouseBusy, warehouse_lock

    url = "file://" + str(tmp_path / "wh")
    assert run([str(sample_dump)], url, fast).accounting.balanced
    assert not (tmp_path / "wh" / "_lock").exists()
    with warehouse_lock(url, run="other"):
        with pytest.raises(WarehouseBusy, match="run other"):
            warehouse_lock(url).acquire()
        assert main(["run", "--input", str(sample_dump), "--out", url, "--config", str(tmp_path / "fast.yaml")]) != 0
        said = " ".join(capsys.readouterr().err.split())
        assert "in use" in said and f"delete {url}/_lock" in said
    assert not (tmp_path / "wh" / "_lock").exists()
    taken = RemoteLock(url + "/_lock").acquire()  # a lock another run took in the same instant is not released
    (tmp_path / "wh" / "_lock").write_text('{"run": "same instant"}')
    taken.release()
    assert (tmp_path / "wh" / "_lock").exists()


def test_a_killed_runs_staging_in_a_remote_warehouse_is_removed_by_the_next_run(tmp_path, fast, sample_dump):
    """A staging folder left in a bucket by a killed run stayed there for good (the clean-up looked for
    local flocks). Under the remote lock every staging folder is a dead run's, but a finished stage
    waiting for its commit, which stays."""
    import remote_fs  # noqa: F401  (registers the file:// scheme with Beam)

    url = "file://" + str(tmp_path / "wh")
    dead = tmp_path / "wh" / "_staging" / "20260101T000000Z-dead00" / "sources" / "wiki=testwiki"
    dead.mkdir(parents=True)
    (dead / "part-0123456789abcdef-00000.parquet").write_bytes(b"cut short")
    waiting = tmp_path / "wh" / "_staging" / "20260101T000000Z-wait00"
    waiting.mkdir(parents=True)
    (waiting / "_STAGED.json").write_text("{}")
    assert run([str(sample_dump)], url, fast).accounting.balanced
    left = sorted(str(p.relative_to(tmp_path / "wh" / "_staging")) for p in (tmp_path / "wh" / "_staging").rglob("*")
                  if p.is_file())  # the file:// stand-in keeps empty folders, which an object store has not
    assert left == ["20260101T000000Z-wait00/_STAGED.json"]


@pytest.mark.parametrize("where", ["input", "out"])
def test_a_url_no_file_system_here_can_open_is_one_line(where, tmp_path, sample_dump, capsys, monkeypatch):
    """An https:// dump, or a gs:// warehouse without Beam's GCP extras, ended in Beam's traceback."""
    monkeypatch.chdir(tmp_path)
    url = "https://dumps.example.org/x.xml.bz2" if where == "input" else "nofs://bucket/wh"
    argv = ["run", "--input", url if where == "input" else str(sample_dump),
            "--out", url if where == "out" else str(tmp_path / "wh")]
    assert main(argv) == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "no file system for" in said and "Traceback" not in said
    assert os.listdir(tmp_path) == []


def test_a_local_path_with_a_scheme_separator_inside_is_local(tmp_path, sample_dump):
    """Any "://" in a path made it a URL: a warehouse at `runs/a://b` (Linux allows colons; Beam's file systems
    take it for the local path it is) was written, but without its catalog, and said to be remote."""
    from revmine.schemas.names import is_url

    assert [is_url(p) for p in ("gs://b/x", "file:///tmp/w", "s3+x.y-z://b", "runs/a://b", "/t/x", "C:\\w", "")] \
        == [True, True, True, False, False, False, False]
    weird = tmp_path / "in:" / "sample.xml"
    weird.parent.mkdir()
    shutil.copy(sample_dump, weird)
    (tmp_path / "fast.yaml").write_text(FAST_CONFIG)
    assert main(["run", "--input", f"{tmp_path}/in://sample.xml", "--out", f"{tmp_path}/wh://x",
                 "--config", str(tmp_path / "fast.yaml")]) == 0
    (manifest,) = [json.loads(p.read_text()) for p in (tmp_path / "wh:" / "x" / "_runs").iterdir()]
    assert manifest["accounting"]["balanced"] and manifest["accounting"]["revisions_read"] == 25
    assert (tmp_path / "wh:" / "x" / "catalog.duckdb").is_file()


def test_a_current_revisions_dump_says_why_nothing_was_diffed(tmp_path, fast, sample_dump, caplog):
    """pages-articles and pages-meta-current hold one revision per page: every pair is a page creation or
    lacks its parent, and the run ended with 0 pairs diffed and no word of why."""
    import logging

    current = tmp_path / "testwiki-20260101-pages-meta-current.xml"
    current.write_text(dump(page(1, [11]), page(2, [22]), page(3, [33])))
    with caplog.at_level(logging.WARNING, logger="revmine.runner.run"):
        result = run([str(current)], str(tmp_path / "wh"), fast)
    assert result.accounting.balanced and result.accounting.diffed == 0
    assert "testwiki-20260101-pages-meta-current.xml: every page holds one revision" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="revmine.runner.run"):
        assert run([str(sample_dump)], str(tmp_path / "wh2"), fast).accounting.diffed > 0
    assert "every page holds one revision" not in caplog.text


def test_a_run_whose_every_revision_is_quarantined_with_its_metadata_commits(tmp_path, fast, sample_dump):
    """Every text above read.max_text_bytes (a dump of large data pages): the revisions are stored without
    text and quarantined, and no pair is written. The duplicate check passed duckdb a file list its query
    did not use, duckdb refused it, and the run stopped with "the revisions table cannot be read" and
    nothing committed (exit 2). In a warehouse that holds pairs already, and in an empty one."""
    import copy

    small = copy.deepcopy(fast)
    small.read.max_text_bytes = 10
    for wh in (tmp_path / "empty", tmp_path / "used"):
        if wh.name == "used":
            other = tmp_path / "other.xml"  # another wiki's pairs already committed
            other.write_text(sample_dump.read_text().replace("<dbname>samplewiki</dbname>", "<dbname>otherwiki</dbname>"))
            run([str(other)], str(wh), fast)
        result = run([str(sample_dump)], str(wh), small)
        assert result.accounting.balanced and result.accounting.quarantined == {"oversized_text": 25}
        assert _count(wh, "select count(*) from revisions where wiki = 'samplewiki'") == 25


def test_a_duplicate_of_a_revision_stored_without_its_text_is_counted_once(tmp_path, fast, sample_dump):
    """A revision stored without its text (over read.max_text_bytes, or with an invalid UTF-8 byte) has a
    quarantine row beside its revisions row. When another input held it too, the duplicate check took the
    later copy's revisions row out and added a duplicate_rev_id row, but left the first row: the copy was
    counted twice ("read 50 revisions, accounted for 75") and the run committed nothing (exit 3)."""
    import copy

    text = sample_dump.read_bytes()
    bad = text.replace(b"navigatonal", b"navig\xffatonal", 1)
    assert bad != text
    copies = []
    for i, data in enumerate((bad, bad.replace(b"Fix typo", b"Fix typo!", 1))):
        copies.append(tmp_path / f"copy{i}.xml")
        copies[-1].write_bytes(data)
    result = run([str(p) for p in copies], str(tmp_path / "bytes"), fast)
    assert result.accounting.balanced and result.accounting.quarantined["duplicate_rev_id"] == 25
    assert result.accounting.quarantined["invalid_utf8"] == 1

    small = copy.deepcopy(fast)
    small.read.max_text_bytes = 10
    result = run([str(sample_dump), str(copies[1])], str(tmp_path / "small"), small)
    assert result.accounting.balanced
    assert result.accounting.quarantined == {"oversized_text": 25, "duplicate_rev_id": 25}


def _run_copies(tmp: Path, runs: list, data: dict, config, file_name) -> set:
    """Each run's copies written under `tmp` and run into tmp/wh, one run after the other (each raises
    unless its books balance); the names of the copies run."""
    seen: set = set()
    for n, names in enumerate(runs):
        paths = []
        for name in names:
            paths.append(tmp / f"run{n}-{file_name(name)}")
            paths[-1].write_bytes(data[name])
        run([str(p) for p in paths], str(tmp / "wh"), config)
        seen |= set(names)
    return seen


# the pairs written from the sample history alone (its 25 revisions: 3 page creations, a null edit)
_HISTORY_PAIRS = [1014, 1021, 1028, 1035, 1042, 1049, 1056, 1063, 1070, 1084, 1091, 1105, 1112, 1119, 1126, 1133,
                  1140, 1147, 1154, 1168, 1175]


def _copies_of(xml: str) -> dict:
    """Copies of one wiki's history that people put side by side: each as bytes."""
    import re

    revs = re.findall(r"<revision>.*?</revision>", xml, flags=re.S)
    whole = xml.encode()
    return {"history": whole,
            "again": xml.replace("</siteinfo>", "</siteinfo>\n<!-- fetched again -->", 1).encode(),
            "repeat": xml.replace(revs[2], revs[2] + revs[2], 1).encode(),  # a revision twice in one page
            "stub": _stub_of(xml).encode(),
            "current": _current_of(xml).encode(),
            "bad_byte": whole.replace(b"navigatonal", b"navig\xffatonal", 1),
            "cut": whole[: len(whole) * 2 // 3],
            "bz2": bz2.compress(whole),
            "other_wiki": xml.replace("<dbname>samplewiki</dbname>", "<dbname>otherwiki</dbname>", 1).encode(),
            "newest_first": re.sub(r"<page>.*?</page>", lambda m: re.sub(  # Special:Export with dir=desc
                r"(<revision>.*</revision>)", lambda r: "".join(reversed(re.findall(r"<revision>.*?</revision>",
                                                                                   r.group(1), flags=re.S))),
                m.group(0), flags=re.S), xml, flags=re.S).encode()}


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(runs=st.lists(st.lists(st.sampled_from(["history", "again", "repeat", "stub", "current", "bad_byte", "cut",
                                                 "bz2", "newest_first", "other_wiki"]),
                              min_size=1, max_size=3, unique=True), min_size=1, max_size=2),
       small=st.booleans())
def test_any_copies_in_any_order_land_each_revision_once(sample_dump, runs, small):
    """Copies of one history (fetched again, compressed, newest first, a stub, a current dump, one with a bad
    byte, one cut short, one repeating a revision) and another wiki's with the same ids, any of them in one
    run or two, in any order, texts held or all over read.max_text_bytes: every run balances and commits,
    each revision is stored once and none vanishes, each pair is written once, a revision whose text any
    copy held is stored with it, and every edit of the history is written."""
    import copy
    import re

    config = Config.load(None, **{"diff.aligner": "classical", "label.enabled": False, "summarize.enabled": False})
    if small:
        config = copy.deepcopy(config)
        config.read.max_text_bytes = 10
    xml = sample_dump.read_text()
    data = _copies_of(xml)
    wiki_of = {name: "otherwiki" if name == "other_wiki" else "samplewiki" for name in data}
    texts = {name: (bz2.decompress(b) if name == "bz2" else b).decode(errors="replace") for name, b in data.items()}
    ids = {name: {f"{wiki_of[name]}:{r}" for r in re.findall(r"<revision>\s*<id>(\d+)</id>", text)}
           for name, text in texts.items()}
    with tempfile.TemporaryDirectory() as tmp:
        seen = _run_copies(Path(tmp), runs, data, config, lambda name: f"{name}.xml{'.bz2' if name == 'bz2' else ''}")
        wh = Path(tmp) / "wh"
        stored = _count(wh, "select coalesce(list(wiki || ':' || rev_id), []) from revisions")
        assert len(stored) == len(set(stored))  # the same ids in another wiki are other revisions
        expected = set().union(*(ids[name] for name in seen - {"cut"}))  # the copies read whole
        assert expected <= set(stored) <= ids["history"] | ids["other_wiki"]
        pairs = _count(wh, "select coalesce(list(wiki || ':' || new_rev_id), []) from revision_pairs")
        assert len(pairs) == len(set(pairs))
        full_texts = {"samplewiki": {"history", "again", "repeat", "bz2", "newest_first"}, "otherwiki": {"other_wiki"}}
        for wiki, full in full_texts.items():
            if not small and seen & full:  # every text of this wiki was held by a copy
                assert _count(wh, f"select count(*) from revisions where wiki = '{wiki}' and not has_text") == 0
                # and every edit of the history is there to diff, as from the history alone
                written = _count(wh, "select coalesce(list(new_rev_id order by new_rev_id), []) from revision_pairs "
                                     f"where wiki = '{wiki}' and skip_reason is null")
                assert written == _HISTORY_PAIRS


def test_an_arxiv_version_is_paired_with_the_version_before_it_whatever_input_came_first(tmp_path, fast):
    """An input that lacks v2 pairs v1 with v3: one pair holding two edits. With another input that has v2,
    in the same run (listed after it) or a later one, the pair into v3 was the gapped one's copy and the
    v2-v3 pair a duplicate: the edit v2 made never appeared on its own. Now the consecutive pair is kept
    and a committed gapped one is replaced (one superseded_copy row); a gapped copy after it is a duplicate."""
    def lines(versions):
        return "".join(json.dumps({"paper_id": f"p{i}", "version": v, "text": f"Paper {i}. Version {v} says {'so ' * v}much.",
                                   "timestamp": f"2020-01-0{v}T00:00:00Z"}) + "\n" for i in range(3) for v in versions)

    gapped, whole = tmp_path / "crawl-1.jsonl", tmp_path / "crawl-2.jsonl"
    gapped.write_text(lines((1, 3)))
    whole.write_text(lines((1, 2, 3)))
    consecutive = [f"arxiv:p{i}:v{v - 1}-v{v}" for i in range(3) for v in (1, 2, 3)]
    query = "select list(pair_id order by pair_id) from revision_pairs"
    for name, runs in (("one", [[gapped, whole]]), ("two", [[gapped], [whole]]), ("after", [[whole], [gapped]])):
        wh = tmp_path / name
        for inputs in runs:
            assert run([str(p) for p in inputs], str(wh), fast).accounting.balanced
        assert _count(wh, query) == consecutive
        assert _count(wh, "select count(distinct pair_id) from edits") == 6  # v1-v2 and v2-v3 of 3 papers
        events = _count(wh, "select count(*) from quarantine where reason = 'superseded_copy'")
        assert events == (1 if name == "two" else 0)


def _arxiv_copies() -> dict:
    """Copies of one crawl of arXiv version records: each as bytes, and the versions it holds whole."""
    import gzip

    def lines(versions, text=lambda i, v: f"Paper {i}. Version {v} says {'so ' * v}much.", order=1):
        recs = [{"paper_id": f"p{i}", "version": v, "text": text(i, v), "timestamp": f"2020-01-0{v}T00:00:00Z"}
                for i in range(3) for v in versions]
        return "".join(json.dumps(r) + "\n" for r in recs[::order]).encode()

    whole = lines((1, 2, 3))
    return {"crawl": whole,
            "newest_first": lines((1, 2, 3), order=-1),
            "gapped": lines((1, 3)),  # a crawl that missed v2
            "early": lines((1, 2)),  # before v3 appeared
            "gz": gzip.compress(whole),
            "cut": whole[: len(whole) * 2 // 3],
            "array": json.dumps([json.loads(x) for x in whole.decode().splitlines()], indent=2).encode()}


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(runs=st.lists(st.lists(st.sampled_from(["crawl", "newest_first", "gapped", "early", "gz", "cut", "array"]),
                              min_size=1, max_size=3, unique=True), min_size=1, max_size=2))
def test_any_copies_of_arxiv_versions_land_each_pair_once(fast, runs):
    """arXiv version records fetched again, newest first, compressed, as one JSON array, cut short, from a
    crawl that missed a version or came before the last one; any of them in one run or two, in any order:
    every run balances and commits, each version's pair is stored once, and where any copy held the versions
    before it, a version is paired with the one just before it."""
    data = _arxiv_copies()
    suffix = {"gz": ".jsonl.gz", "array": ".json"}
    with tempfile.TemporaryDirectory() as tmp:
        seen = _run_copies(Path(tmp), runs, data, fast, lambda name: name + suffix.get(name, ".jsonl"))
        wh = Path(tmp) / "wh"
        pairs = _count(wh, "select coalesce(list(pair_id order by pair_id), []) from revision_pairs")
        versions = _count(wh, "select coalesce(list((page_id, new_rev_id)), []) from revision_pairs")
        assert len(versions) == len(set(versions))
        if seen & {"crawl", "newest_first", "gz", "array"}:  # some copy held every version whole
            assert pairs == [f"arxiv:p{i}:v{v - 1}-v{v}" for i in range(3) for v in (1, 2, 3)]
        elif "early" in seen:
            assert {f"arxiv:p{i}:v{v - 1}-v{v}" for i in range(3) for v in (1, 2)} <= set(pairs)
