"""Bad input never crashes, hangs or silently drops data: it is quarantined with file and position."""
import bz2
import gzip
import lzma
import re
from collections import Counter

import py7zr
import pytest

from helpers import assert_books_balance, read_all, reasons
from revmine.config import ReadConfig

N_SAMPLE = 25  # revisions in samples/samplewiki-history.xml


@pytest.fixture
def sample_xml(sample_dump) -> str:
    return sample_dump.read_text(encoding="utf-8")


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def many_pages(sample_xml: str, copies: int) -> str:
    """The sample's pages repeated with fresh page and revision ids: a multi-block compressed input."""
    head, rest = sample_xml.split("  <page>", 1)
    body = "  <page>" + rest.rsplit("</mediawiki>", 1)[0]
    parts = [head]
    for k in range(copies):
        shifted = re.sub(r"<(id|parentid)>(\d+)</\1>", lambda m: f"<{m[1]}>{int(m[2]) + 100000 * k}</{m[1]}>", body)
        parts.append(shifted)
    return "".join(parts) + "</mediawiki>\n"


def test_truncated_bz2_keeps_what_came_before(tmp_path, sample_xml):
    blob = bz2.compress(many_pages(sample_xml, 20).encode(), compresslevel=1)  # 100 kB blocks
    path = write(tmp_path, "trunc.xml.bz2", blob[: len(blob) * 2 // 3])
    out = read_all(path)
    assert "truncated_input" in reasons(out)
    assert not out["sources"][0].complete
    file_event = next(q for q in out["quarantine"] if q.level == "file")
    assert "trunc.xml.bz2" in file_event.detail and file_event.byte_offset > 0
    assert N_SAMPLE < len(out["revisions"]) < 20 * N_SAMPLE
    assert_books_balance(out)


def test_truncated_gz(tmp_path, sample_xml):
    blob = gzip.compress(sample_xml.encode())
    out = read_all(write(tmp_path, "trunc.xml.gz", blob[: len(blob) // 2]))
    assert "truncated_input" in reasons(out)
    assert 0 < len(out["revisions"]) < N_SAMPLE
    assert_books_balance(out)


def _deflate_damaged(data: bytes) -> bytes:
    """`data` gzipped, with 200 bytes in its middle third flipped where inflating them fails with zlib.error
    (most flips only break the CRC, which gzip reports as an OSError)."""
    import zlib

    blob = gzip.compress(data, compresslevel=1, mtime=0)
    for start in range(len(blob) // 3, 2 * len(blob) // 3):
        damaged = bytearray(blob)
        for i in range(start, start + 200):
            damaged[i] ^= 0x55
        try:
            gzip.decompress(bytes(damaged))
        except zlib.error:
            return bytes(damaged)
        except (OSError, EOFError):
            continue
    raise AssertionError("no flip of the middle third gave a deflate error")


def test_damaged_gz_keeps_what_came_before_and_stops_nothing(tmp_path, sample_xml):
    """Damaged deflate data inside a gzip member raises zlib.error, which is no OSError: it went past the
    reader's handlers and stopped the whole run. It is now a truncated_input event, like a cut file."""
    out = read_all(write(tmp_path, "damaged.xml.gz", _deflate_damaged(many_pages(sample_xml, 20).encode())))
    assert "truncated_input" in reasons(out) and not out["sources"][0].complete
    assert 0 < len(out["revisions"]) < 20 * N_SAMPLE
    assert_books_balance(out)
    from revmine.pipeline.arxiv import read_arxiv

    lines = "".join(f'{{"paper_id": "p{i}", "version": {v}, "text": "Text {i} {v}."}}\n' for i in range(3000) for v in (1, 2))
    records = list(read_arxiv(str(write(tmp_path, "damaged.jsonl.gz", _deflate_damaged(lines.encode())))))
    quarantined = [r.reason for r in records if type(r).__name__ == "Quarantine"]
    assert quarantined.count("truncated_input") == 1  # garbage inflated before the error: malformed lines
    assert not records[-1].complete and records[-1].revisions_read > 0


def test_truncated_7z_is_a_clear_file_error(tmp_path, sample_dump):
    full = tmp_path / "full.xml.7z"
    with py7zr.SevenZipFile(full, "w") as z:
        z.write(sample_dump, "sample.xml")
    data = full.read_bytes()
    out = read_all(write(tmp_path, "trunc.xml.7z", data[: len(data) // 2]))
    (event,) = [q for q in out["quarantine"] if q.level == "file"]
    assert event.reason == "truncated_input" and "trunc.xml.7z" in event.detail
    assert_books_balance(out)


def test_malformed_xml_resyncs_at_next_page(tmp_path, sample_xml):
    # Break one tag inside the second page: its remaining revisions are counted and quarantined,
    # the first and third pages are read normally.
    broken = sample_xml.replace("<title>Grace Hopper</title>", "<title>Grace Hopper</titel>", 1)
    out = read_all(write(tmp_path, "malformed.xml", broken))
    r = reasons(out)
    assert r["malformed_xml"] == 1 and r["malformed_xml_skipped"] == 1
    event = next(q for q in out["quarantine"] if q.reason == "malformed_xml")
    assert event.line is not None and event.byte_offset is not None and "malformed.xml" in event.detail
    titles = {rev.title for rev in out["revisions"]}
    assert titles == {"Lighthouse", "Talk:Lighthouse"}
    assert out["sources"][0].revisions_read == N_SAMPLE
    assert_books_balance(out)


def test_malformed_xml_inside_revision_quarantines_that_revision(tmp_path, sample_xml):
    broken = sample_xml.replace("<comment>copyedit</comment>", "<comment>copyedit</comment><</foo>", 1)
    out = read_all(write(tmp_path, "bad-rev.xml", broken))
    assert reasons(out)["malformed_xml"] == 2  # the open revision + the file-level event
    assert out["sources"][0].revisions_read == N_SAMPLE
    assert_books_balance(out)


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<mediawiki version="0.10"><page><title>X</title><ns>0</ns><id>1</id>
<revision><id>1</id><timestamp>2020-01-01T00:00:00Z</timestamp><text>&lol9;</text></revision></page></mediawiki>
"""


def test_entity_expansion_bomb_is_refused(tmp_path):
    out = read_all(write(tmp_path, "bomb.xml", BOMB))
    # The refusal, and the one <revision> of the input that was never parsed because of it.
    assert reasons(out) == {"dtd_forbidden": 1, "unparsed_revision": 1}
    event = next(q for q in out["quarantine"] if q.reason == "dtd_forbidden")
    assert "bomb.xml" in event.detail
    assert not out["revisions"]
    assert_books_balance(out)


def test_external_entity_is_refused(tmp_path):
    xxe = BOMB.split("[")[0] + '[<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n' + BOMB.split("]>\n", 1)[1].replace("&lol9;", "&xxe;")
    out = read_all(write(tmp_path, "xxe.xml", xxe))
    assert reasons(out) == {"dtd_forbidden": 1, "unparsed_revision": 1}
    assert all("root:" not in (r.text or "") for r in out["revisions"])


def test_ten_megabyte_revision_is_quarantined_not_fatal(tmp_path, sample_xml):
    huge = "x" * (10 * 1024 * 1024)
    data = sample_xml.replace("which focuses the light into a narrow, powerful beam",
                              "which focuses the light into a narrow, powerful beam " + huge, 1)
    out = read_all(write(tmp_path, "huge.xml", data))
    q = [q for q in out["quarantine"] if q.reason == "oversized_text"]
    assert len(q) == 1 and q[0].rev_id is not None and "max_text_bytes" in q[0].detail
    big = next(r for r in out["revisions"] if r.rev_id == q[0].rev_id)
    assert big.text is None and not big.has_text  # metadata kept, the text is not held in memory
    assert len(out["revisions"]) == N_SAMPLE
    assert_books_balance(out)
    # raising the limit lets it through
    out = read_all(write(tmp_path, "huge.xml", data), ReadConfig(max_text_bytes=32 * 1024 * 1024))
    assert not out["quarantine"]


def test_invalid_utf8_quarantines_only_the_affected_revision(tmp_path, sample_xml):
    data = sample_xml.encode().replace(b"Fresnel lens]]", b"Fresnel \xff\xfe lens]]", 1)
    out = read_all(write(tmp_path, "badutf8.xml", data))
    q = [q for q in out["quarantine"] if q.reason == "invalid_utf8"]
    assert len(q) == 1 and "byte" in q[0].detail
    assert len(out["revisions"]) == N_SAMPLE
    assert_books_balance(out)


def test_empty_page_is_reported(tmp_path, sample_xml):
    empty = "  <page>\n    <title>Ghost</title>\n    <ns>0</ns>\n    <id>999</id>\n  </page>\n</mediawiki>"
    out = read_all(write(tmp_path, "empty-page.xml", sample_xml.replace("</mediawiki>", empty)))
    (event,) = out["quarantine"]
    assert event.reason == "empty_page" and event.level == "page" and event.page_id == 999
    assert len(out["revisions"]) == N_SAMPLE
    assert_books_balance(out)


def test_duplicate_revision_ids(tmp_path, sample_xml):
    first = re.search(r"    <revision>.*?</revision>\n", sample_xml, re.S).group(0)
    data = sample_xml.replace(first, first + first, 1)
    out = read_all(write(tmp_path, "dup.xml", data))
    (event,) = out["quarantine"]
    assert event.reason == "duplicate_rev_id" and event.rev_id == 1007
    assert out["sources"][0].revisions_read == N_SAMPLE + 1
    assert_books_balance(out)


def _revision_view(out):
    return sorted((r.wiki, r.page_id, r.ns, r.title, r.rev_id, r.parent_id, r.timestamp, r.sha1, r.text)
                  for r in out["revisions"])


@pytest.mark.parametrize("declaration", ["", '<?xml version="1.0" encoding="UTF-8"?>\n',
                                         '\ufeff<?xml version="1.0" encoding="UTF-8"?>\n'])
def test_dumps_joined_with_cat_are_read_as_their_own_documents(tmp_path, sample_xml, declaration):
    # The second document's site info was skipped in a resync to its first <page>: its pages were filed
    # under the first document's wiki, with its namespaces, and a malformed_xml row was written.
    other = (sample_xml.replace("<dbname>samplewiki</dbname>", "<dbname>otherwiki</dbname>")
             .replace(">Talk</namespace>", ">Diskussion</namespace>").replace("<title>Talk:", "<title>Diskussion:"))
    assert other != sample_xml
    alone = _revision_view(read_all(write(tmp_path, "a.xml", sample_xml))) + _revision_view(
        read_all(write(tmp_path, "b.xml", other)))
    out = read_all(write(tmp_path, "joined.xml", sample_xml + declaration + other))
    assert _revision_view(out) == sorted(alone)
    assert not out["quarantine"] and out["sources"][0].revisions_read == 2 * N_SAMPLE
    assert {(r.wiki, r.ns) for r in out["revisions"] if r.title.startswith("Diskussion:")} == {("otherwiki", 1)}
    assert_books_balance(out)


def test_a_dump_joined_to_itself_lands_once(tmp_path, sample_xml):
    out = read_all(write(tmp_path, "twice.xml", sample_xml + sample_xml))
    assert len(out["revisions"]) == N_SAMPLE and reasons(out) == {"duplicate_rev_id": N_SAMPLE}
    assert_books_balance(out)


def test_junk_after_a_dump_is_still_reported(tmp_path, sample_xml):
    out = read_all(write(tmp_path, "junk.xml", sample_xml + "<oops/>\n"))
    assert reasons(out) == {"malformed_xml": 1} and len(out["revisions"]) == N_SAMPLE


def _archives(tmp_path, sample_xml):
    """The sample, and a second wiki's copy, in the archives other tools write: WikiTeam's 7z with title
    and image lists beside the XML, zip, and tar plain or compressed."""
    import io
    import tarfile
    import zipfile

    other = sample_xml.replace("<dbname>samplewiki</dbname>", "<dbname>otherwiki</dbname>")
    members = {"wiki/samplewiki-history.xml": sample_xml.encode(), "wiki/titles.txt": b"Lighthouse\n",
               "wiki/otherwiki-history.xml": other.encode(), "siteinfo.json": b"{}"}
    out = {}
    path = out["zip"] = tmp_path / "wikidump.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    for mode, name in (("w", "tar"), ("w:gz", "tar.gz"), ("w:bz2", "tar.bz2"), ("w:xz", "tar.xz")):
        path = out[name] = tmp_path / f"wikidump.{name}"
        with tarfile.open(path, mode) as t:
            for member, data in members.items():
                info = tarfile.TarInfo(member)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    path = out["7z"] = tmp_path / "wikidump.7z"
    with py7zr.SevenZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(data, name)
    return out


def test_zip_and_tar_archives_are_read_like_7z(tmp_path, sample_xml):
    # A zip was read as XML (one malformed_xml row, and its revisions never counted); a tar's headers went
    # into the XML, and a 7z holding anything beside the dump was refused as a truncated_input.
    alone = Counter(r.wiki for r in read_all(write(tmp_path, "a.xml", sample_xml))["revisions"])
    for kind, path in _archives(tmp_path, sample_xml).items():
        out = read_all(path)
        assert Counter(r.wiki for r in out["revisions"]) == {"samplewiki": alone["samplewiki"],
                                                            "otherwiki": alone["samplewiki"]}, kind
        assert not out["quarantine"] and out["sources"][0].complete, kind
        assert_books_balance(out)


def test_archives_of_compressed_dump_parts_are_read(tmp_path, sample_xml):
    # A tar bundling a dump's compressed parts (tar itself compresses nothing), a zip holding one compressed
    # dump, and a 7z of compressed parts (read raw before, or refused when other files lay beside them):
    # each part is decompressed as it is read.
    import io
    import tarfile
    import zipfile

    other = sample_xml.replace("<dbname>samplewiki</dbname>", "<dbname>otherwiki</dbname>").encode()
    parts = {"wiki-history1.xml.bz2": bz2.compress(sample_xml.encode()), "wiki-history2.xml.gz": gzip.compress(other),
             "md5sums.txt": b"0 wiki-history1.xml.bz2\n"}
    bundle = tmp_path / "parts.tar"
    with tarfile.open(bundle, "w") as t:
        for name, data in parts.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    single = tmp_path / "dump.zip"
    with zipfile.ZipFile(single, "w") as z:
        z.writestr("dump", bz2.compress(sample_xml.encode()))
    seven = tmp_path / "parts.7z"  # a 7z of compressed parts too (with an xz part, and a side file)
    with py7zr.SevenZipFile(seven, "w") as z:
        third = sample_xml.replace("<dbname>samplewiki</dbname>", "<dbname>thirdwiki</dbname>").encode()
        for name, data in {**parts, "wiki-history3.xml.xz": lzma.compress(third)}.items():
            z.writestr(data, name)
    for path, wikis in ((bundle, {"samplewiki": N_SAMPLE, "otherwiki": N_SAMPLE}), (single, {"samplewiki": N_SAMPLE}),
                        (seven, {"samplewiki": N_SAMPLE, "otherwiki": N_SAMPLE, "thirdwiki": N_SAMPLE})):
        out = read_all(path)
        assert Counter(r.wiki for r in out["revisions"]) == wikis and not out["quarantine"], path.name
        assert_books_balance(out)


def test_archives_without_a_dump_and_unread_codecs_say_so(tmp_path):
    import zipfile

    path = tmp_path / "lists.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("titles.txt", "x")
        z.writestr("images.txt", "y")
    zst = write(tmp_path, "dump.xml.zst", b"\x28\xb5\x2f\xfd" + bytes(64))
    for p, says in ((path, "no dump (.xml, .xml.gz"), (zst, "zstd -d")):
        out = read_all(p)
        (q,) = out["quarantine"]
        assert q.reason == "unsupported_input" and says in q.detail and not out["sources"][0].complete


def test_a_tar_gz_cut_short_keeps_what_came_before(tmp_path, sample_xml):
    import io
    import tarfile

    buf = io.BytesIO()
    data = many_pages(sample_xml, 20).encode()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo("big.xml")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    blob = buf.getvalue()
    out = read_all(write(tmp_path, "cut.tar.gz", blob[: len(blob) // 2]))
    assert reasons(out)["truncated_input"] >= 1 and len(out["revisions"]) > N_SAMPLE
    assert not out["sources"][0].complete
    assert_books_balance(out)


def test_empty_and_non_xml_files(tmp_path):
    for name, data in [("empty.xml", b""), ("garbage.xml.gz", b"\x1f\x8bnot really gzip")]:
        out = read_all(write(tmp_path, name, data))
        assert out["quarantine"] and all(name in q.detail for q in out["quarantine"])
        assert_books_balance(out)


def test_source_offsets_point_at_revision_tags(tmp_path, sample_xml):
    data = sample_xml.encode().replace(b"Fresnel lens]]", b"Fresnel \xff\xfe lens]]", 1)
    path = write(tmp_path, "offsets.xml", data)
    for r in read_all(path)["revisions"]:
        assert data[r.source_offset:r.source_offset + 10] == b"<revision>", r.rev_id


def test_invalid_utf8_in_page_title_reparses_the_page(tmp_path, sample_xml):
    data = sample_xml.encode().replace(b"<title>Grace Hopper</title>", b"<title>Grace \xc3\x28Hopper</title>", 1)
    out = read_all(write(tmp_path, "badtitle.xml", data))
    assert len(out["revisions"]) == N_SAMPLE and out["sources"][0].pages == 3
    assert {r.title for r in out["revisions"]} >= {"Grace ?(Hopper"}
    (event,) = out["quarantine"]
    assert event.level == "page" and event.page_id == 102 and event.reason == "invalid_utf8"
    assert_books_balance(out)


def test_invalid_utf8_deep_in_a_large_page(tmp_path, sample_xml):
    """A bad byte megabytes into the stream, after many chunks: only its revision is quarantined."""
    big = many_pages(sample_xml, 60).encode()  # ~2 MB: several 1 MiB chunks
    at = big.index(b"Fresnel lens]]", len(big) // 2)
    data = big[:at] + b"Fresnel \xe2\x82 lens]]" + big[at + len(b"Fresnel lens]]"):]
    out = read_all(write(tmp_path, "deep.xml.bz2", bz2.compress(data)))
    assert [q.reason for q in out["quarantine"]] == ["invalid_utf8"]
    assert len(out["revisions"]) == 60 * N_SAMPLE
    assert_books_balance(out)


def test_control_characters_are_repaired(tmp_path, sample_xml):
    data = sample_xml.encode().replace(b"copyedit", b"copy\x07edit", 1)
    out = read_all(write(tmp_path, "ctrl.xml", data))
    assert [q.reason for q in out["quarantine"]] == ["invalid_xml_char"]
    assert len(out["revisions"]) == N_SAMPLE
    assert_books_balance(out)


def test_invalid_bytes_between_pages(tmp_path, sample_xml):
    data = sample_xml.encode().replace(b"  </page>\n  <page>", b"  </page>\n \xff\xfe <page>", 1)
    out = read_all(write(tmp_path, "between.xml", data))
    assert len(out["revisions"]) == N_SAMPLE and out["sources"][0].pages == 3
    (event,) = out["quarantine"]  # repaired, and reported: nothing happens silently
    assert event.reason == "invalid_utf8" and event.n_revisions == 0 and event.byte_offset > 0
    assert_books_balance(out)


# ---- gold and dataset files that are not what the command expects ----------------------------------------

@pytest.mark.parametrize("args, content, says", [
    (["eval", "edits"], {"a": 1}, "not arXivEdits sentence-pair data"),
    (["eval", "edits"], [1, 2], "not arXivEdits sentence-pair data"),
    (["eval", "intent", "--taxonomy", "arxivedits"], {"a": {"sentence-1": 3}}, "not arXivEdits sentence-pair data"),
    (["eval", "summaries"], {"a": 1}, "row 1 is not a summaries-dataset row"),
    (["eval", "align"], [1, 2], "line 1 is not an IteraTeR doc-level revision"),
    (["eval", "align"], {"before_revision": "a"}, "line 1 is not an IteraTeR doc-level revision"),
])
def test_a_gold_file_of_the_wrong_shape_is_one_error_line(tmp_path, capsys, args, content, says):
    """Valid JSON of another shape raised TypeError or KeyError with a traceback; now exit 2 and one line."""
    import json

    from revmine.cli import main

    path = tmp_path / "gold.json"
    path.write_text(json.dumps(content))
    assert main([*args, "--data", str(path)]) == 2
    assert says in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("what", ["intent", "edits", "summarizer", "aligner"])
def test_training_data_of_the_wrong_shape_is_one_error_line(tmp_path, capsys, what):
    from revmine.cli import main

    (tmp_path / "gold.json").write_text('{"a": 1}')
    (tmp_path / "train.jsonl").write_text('{"a": 1}\n')
    args = {"intent": ["--taxonomy", "arxivedits", "--arxivedits-train", str(tmp_path / "gold.json")],
            "edits": ["--arxivedits-train", str(tmp_path / "gold.json")], "summarizer": ["--data", str(tmp_path)],
            "aligner": ["--iterater-train", str(tmp_path / "train.jsonl")]}[what]
    assert main(["train", what, *args, "--out", str(tmp_path / "model")]) == 2
    assert "error:" in capsys.readouterr().err and not (tmp_path / "model").exists()


@pytest.mark.parametrize("args, says", [
    (["query", "WH", "select 1", "--limit", "-1"], "--limit: must be at least 0, not -1"),
    (["eval", "edits", "--data", "x", "--cv-train", "y", "--folds", "1"], "--folds: must be at least 2, not 1"),
    (["eval", "summaries", "--data", "x", "--num-beams", "0"], "--num-beams: must be at least 1, not 0"),
    (["train", "edits", "--folds", "-3"], "--folds: must be at least 2, not -3"),
    (["train", "intent", "--only-folds", "1,x"], "--only-folds: 'x' is not a whole number"),
    (["train", "summarizer", "--batch", "0"], "--batch: must be at least 1, not 0"),
    (["train", "intent", "--class-weight-power", "nan"], "--class-weight-power: must be a finite number at least 0"),
    (["build", "summaries-dataset", "--dev-fraction", "1.5"], "--dev-fraction: must be between 0 and 1"),
    (["jobs", "run", "--wiki", "w", "--date", "1", "--workers", "0"], "--workers: must be at least 1, not 0"),
])
def test_a_count_out_of_range_is_a_usage_error(tmp_path, capsys, args, says):
    """A count of 0 or less went into the command: `--folds 1` ended in a ValueError traceback, `query --limit
    -1` in a duckdb TypeError, `--only-folds 9` ran nothing. Now argparse says which flag, and exits 2."""
    from revmine.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "wh") if a == "WH" else a for a in args])
    assert exc.value.code == 2
    assert says in " ".join(capsys.readouterr().err.split())



@pytest.mark.parametrize("command", [
    ["export", "training", "WH", "FILE/out"], ["export", "hub", "WH", "FILE/out"], ["report", "WH", "--out", "FILE/out"],
    ["build", "summaries-dataset", "--from-rows", "FILE"], ["build", "summaries-dataset", "--from-rows", "ROWS",
                                                            "--out", "FILE/out"],
])
def test_an_output_under_a_file_or_rows_that_are_not_json_is_one_error_line(tmp_path, capsys, command):
    """An output folder under a file gave a NotADirectoryError traceback, and --from-rows of a file that is
    not JSON lines a JSONDecodeError one."""
    import json

    from revmine.cli import main
    from trust_helpers import FAST_CONFIG

    (tmp_path / "fast.yaml").write_text(FAST_CONFIG)
    (tmp_path / "page.xml").write_text('<mediawiki><siteinfo><dbname>testwiki</dbname></siteinfo><page><title>A</title>'
                                       "<ns>0</ns><id>1</id><revision><id>1</id><timestamp>2020-01-01T00:00:00Z"
                                       "</timestamp><text>a</text></revision></page></mediawiki>")
    assert main(["run", "--input", str(tmp_path / "page.xml"), "--out", str(tmp_path / "wh"), "--config",
                 str(tmp_path / "fast.yaml")]) == 0
    (tmp_path / "file").write_text("not JSON\n")
    (tmp_path / "rows.jsonl").write_text(json.dumps({"wiki": "w", "page_id": 1, "pair_id": "w:1", "title": "T", "timestamp": 1, "input": "x",
                                                  "summary": "y"}) + "\n")
    capsys.readouterr()
    paths = {"WH": str(tmp_path / "wh"), "FILE": str(tmp_path / "file"), "ROWS": str(tmp_path / "rows.jsonl")}
    args = [paths.get(a.split("/")[0], a.split("/")[0]) + a[len(a.split("/")[0]):] for a in command]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err


def test_a_file_system_refusal_anywhere_in_a_command_is_one_error_line(tmp_path, capsys):
    """`train edits --out FILE/x` (and `eval summaries --sample-out FILE/s.md`, after scoring) ended in a
    NotADirectoryError traceback: any OSError that reaches the command line is now one line, exit 2."""
    from revmine.cli import main

    (tmp_path / "file").write_text("x")
    (tmp_path / "gold.json").write_text('{"a": {"sentence-1": "A b.", "sentence-2": "A c.", "sentence-1-tokens": '
                                        '["A", "b", "."], "sentence-2-tokens": ["A", "c", "."], "edits": []}}')
    assert main(["train", "edits", "--arxivedits-train", str(tmp_path / "gold.json"), "--out",
                 str(tmp_path / "file" / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Not a directory" in err and "Traceback" not in err


@pytest.mark.parametrize("args", [
    ["eval", "edits", "--data", "arxivedits/dev.json"],
    ["eval", "intent", "--taxonomy", "arxivedits", "--data", "arxivedits/dev.json"],
    ["eval", "align", "--data", "iterater/doc_level/dev.json", "--aligner", "provenance"],
])
def test_a_cross_validation_train_file_of_the_wrong_shape_is_one_error_line(shared_data, tmp_path, capsys, args):
    """--cv-train of another shape ended in a ValueError traceback after dev was scored."""
    from revmine.cli import main

    (tmp_path / "train.json").write_text("[1, 2]\n")
    argv = [str(shared_data / a) if a.endswith(".json") else a for a in args] + ["--cv-train", str(tmp_path / "train.json")]
    assert main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "train.json" in err and "Traceback" not in err


_SITEINFO = ('<siteinfo><sitename>W</sitename><dbname>samplewiki</dbname><case>first-letter</case>'
             '<namespaces><namespace key="0" case="first-letter" /></namespaces></siteinfo>')
_LOGGING = ('<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11">' + _SITEINFO +
            '<logitem><id>1</id><timestamp>2004-12-23T03:20:32Z</timestamp><contributor><username>A</username>'
            '<id>7</id></contributor><comment>moved</comment><type>move</type><action>move</action>'
            '<logtitle>Foo</logtitle><params xml:space="preserve">Bar</params></logitem>'
            '<logitem><id>2</id><timestamp>2004-12-24T03:20:32Z</timestamp><type>delete</type>'
            '<action>delete</action><logtitle>Baz</logtitle></logitem></mediawiki>')
_ABSTRACTS = ('<feed><doc><title>Wikipedia: Anarchism</title><url>https://en.wikipedia.org/wiki/Anarchism</url>'
              '<abstract>Anarchism is a political philosophy.</abstract><links /></doc></feed>')


@pytest.mark.parametrize("name,data,says", [
    ("enwiki-pages-logging.xml.gz", gzip.compress(_LOGGING.encode()), "2 <logitem> entries"),
    ("enwiki-abstract.xml", _ABSTRACTS, "root element is <feed>"),
    ("page.xml", "<html><body><p>Not found</p></body></html>", "root element is <html>"),
])
def test_a_file_of_another_kind_says_so_in_a_row(tmp_path, name, data, says):
    """A pages-logging dump, an abstracts dump or other XML holds no page history. It landed as an input read
    with 0 revisions, exit 0 and no row, as if the wiki had no edits."""
    out = read_all(write(tmp_path, name, data))
    (row,) = out["quarantine"]
    assert (row.level, row.reason, row.n_revisions) == ("file", "no_page_history", 0)
    assert says in row.detail and name in row.detail
    assert out["sources"][0].revisions_read == 0 and out["sources"][0].complete
    assert_books_balance(out)


def test_an_export_with_site_info_only_or_uploads_beside_pages_stays_silent(tmp_path, sample_xml):
    # A valid export with no pages is an empty wiki, not the wrong kind of file; <upload> and LiquidThreads'
    # <discussionthreadinginfo> (in WikiTeam's exports) are page elements the reader does not need.
    empty = read_all(write(tmp_path, "empty.xml", f'<mediawiki version="0.11">{_SITEINFO}</mediawiki>'))
    assert not empty["quarantine"] and not empty["revisions"]
    extras = ("<upload><timestamp>2012-01-01T00:00:00Z</timestamp><filename>Cat.jpg</filename><size>1</size>"
              "</upload><discussionthreadinginfo><ThreadSubject>x</ThreadSubject></discussionthreadinginfo></page>")
    out = read_all(write(tmp_path, "wikiteam.xml", sample_xml.replace("</page>", extras)))
    assert not out["quarantine"] and len(out["revisions"]) == N_SAMPLE
    assert_books_balance(out)


def test_an_html_error_page_saved_as_a_dump_is_named_for_what_it_is(tmp_path):
    # wget saves a server's 404 page under the dump's name. Its DOCTYPE is refused before anything is expanded,
    # as any DTD is; the row said "DOCTYPE 'html' declared" and named the file twice.
    name = "enwiki-latest-pages-meta-history1.xml"
    out = read_all(write(tmp_path, name, "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n"))
    (row,) = out["quarantine"]
    assert row.reason == "dtd_forbidden" and "an HTML page" in row.detail and row.detail.count(name) == 1


@pytest.mark.parametrize("outer", ["gz", "bz2", "xz"])
def test_a_dump_compressed_twice_is_read(tmp_path, sample_xml, outer):
    """A .gz served with `Content-Encoding: gzip` and saved as it came is gzip inside gzip. Its revisions were
    never counted: one malformed_xml row at byte 0, and the file was marked complete with 0 revisions."""
    wrap = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[outer]
    out = read_all(write(tmp_path, f"wiki-history.xml.{outer}", wrap(gzip.compress(sample_xml.encode()))))
    assert len(out["revisions"]) == N_SAMPLE and not out["quarantine"] and out["sources"][0].complete
    assert_books_balance(out)


def test_arxiv_json_lines_compressed_twice_are_read(tmp_path):
    import json

    from revmine.pipeline.arxiv import read_arxiv
    from revmine.schemas import RevisionPair

    lines = "".join(json.dumps({"paper_id": "p", "version": v, "text": f"Text {v}. More words."}) + "\n" for v in (1, 2))
    path = write(tmp_path, "papers.jsonl.gz", gzip.compress(gzip.compress(lines.encode())))
    assert [r.pair_id for r in read_arxiv(str(path)) if isinstance(r, RevisionPair)] == ["arxiv:p:v0-v1", "arxiv:p:v1-v2"]


def test_arxiv_timestamps_are_utc_on_a_machine_in_any_time_zone(tmp_path, monkeypatch):
    """A version's timestamp without an offset was read in the machine's local time: on a worker in Tokyo
    "2007-01-01T00:30:00" was 2006-12-31 15:30 UTC, and the pair was filed under 2006. arXiv's own form for
    versions ("Mon, 2 Apr 2007 19:18:42 GMT", as its metadata snapshot writes them) was a malformed record."""
    import json
    import time
    from datetime import datetime, timezone

    from revmine.pipeline.arxiv import read_arxiv
    from revmine.schemas import Quarantine, RevisionPair

    stamps = {"a": "2007-01-01T00:30:00", "b": "Mon, 2 Apr 2007 19:18:42 GMT", "c": "2007-04-02T21:18:42+02:00",
              "d": "2007-04-02 19:18:42Z", "e": 1175541522, "f": "April 2nd", "g": True}
    lines = "".join(json.dumps({"paper_id": p, "version": 1, "text": "One. Two.", "timestamp": ts}) + "\n"
                    for p, ts in stamps.items())
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        records = list(read_arxiv(str(write(tmp_path, "papers.jsonl", lines.encode()))))
    finally:
        monkeypatch.undo()
        time.tzset()
    got = {r.title: datetime.fromtimestamp(r.new_timestamp, timezone.utc) for r in records if isinstance(r, RevisionPair)}
    assert got["a"] == datetime(2007, 1, 1, 0, 30, tzinfo=timezone.utc)
    assert got["b"] == got["c"] == got["d"] == got["e"] == datetime(2007, 4, 2, 19, 18, 42, tzinfo=timezone.utc)
    assert [r.year for r in records if isinstance(r, RevisionPair) and r.title == "a"] == [2007]
    bad = [r.detail for r in records if isinstance(r, Quarantine)]
    assert len(bad) == 2 and "'April 2nd' is not ISO 8601" in bad[0] and "not a number or a string" in bad[1]


def _empty_text_of(xml: str, rev_id: int, attrs: str | None = None) -> str:
    """`xml` with revision `rev_id`'s <text> emptied: its attributes kept (bytes=, sha1=), or `attrs`."""
    i = xml.index(f"<id>{rev_id}</id>")
    j, k = xml.index("<text", i), xml.index("</text>", i)
    head = xml[j:xml.index(">", j)] if attrs is None else f"<text {attrs}"
    return xml[:j] + head + " />" + xml[k + len("</text>"):]


def test_an_empty_text_the_dump_says_is_not_empty_is_no_text(tmp_path, sample_xml):
    """`<text bytes="739" sha1="…"/>` (an exporter that could not load the text, a stub without its text id)
    was read as an empty text: the pair into it was a blanking of the whole page and the next pair a
    re-creation, 12 bogus sentence edits in the sample. mwxml reads such an element as no text; so does
    revmine now, and both pairs are skipped as pairs without text. A truly empty text stays one."""
    import mwxml

    from revmine.pipeline.fields import sha1_base36

    path = write(tmp_path, "wiki-history.xml", _empty_text_of(sample_xml, 1049).encode())
    out = read_all(path)
    rev = next(r for r in out["revisions"] if r.rev_id == 1049)
    assert not rev.has_text and rev.text is None and rev.text_bytes == 739
    oracle = next(r for p in mwxml.Dump.from_file(open(path, encoding="utf-8")) for r in p if r.id == 1049)
    assert oracle.text is None and oracle.bytes == 739
    skips = {p.new_rev_id: p.skip_reason for p in out["pairs"]}
    assert skips[1049] == "no_text" and skips[1056] == "parent_text_unavailable"
    assert_books_balance(out)
    empty = sha1_base36(b"")
    truly_empty = sample_xml.replace(f"<sha1>{rev.sha1}</sha1>", f"<sha1>{empty}</sha1>")
    for attrs in ('bytes="0" xml:space="preserve"', f'sha1="{empty}"', 'xml:space="preserve"', 'sha1="x"'):
        out = read_all(write(tmp_path, "empty.xml", _empty_text_of(truly_empty, 1049, attrs).encode()))
        rev = next(r for r in out["revisions"] if r.rev_id == 1049)
        assert rev.has_text and rev.text == "" and rev.text_bytes == 0, attrs


def test_a_json_document_is_read_as_one_whatever_its_entries(tmp_path):
    """A pretty-printed JSON document was read as arXivEdits pairs only if every entry was one; one bad
    entry, or an array of version records (`json.dump(records, indent=2)`), or another kind of document
    (the arXivEdits gold files) sent it to be read line by line: a malformed_record row per line ("{",
    "]", ...), 51 of them for a 7-entry document. Now a bad entry is one row and the good ones are read,
    an array's items are version records, and any other document is one file-level row."""
    import json

    from revmine.pipeline.arxiv import read_arxiv
    from revmine.schemas import Quarantine, RevisionPair, SourceStats

    def read(name, doc):
        records = list(read_arxiv(str(write(tmp_path, name, json.dumps(doc, indent=2).encode()))))
        stats = next(r for r in records if isinstance(r, SourceStats))
        pairs = [r for r in records if isinstance(r, RevisionPair)]
        rows = [r for r in records if isinstance(r, Quarantine)]
        assert stats.revisions_read == len(pairs) + sum(q.n_revisions for q in rows)
        return pairs, rows

    pairs, rows = read("pairs.json", {"good": {"simple": ["A b."], "complex": ["A c."]}, "bad": [1, 2],
                                      "worse": {"simple": [None], "complex": ["x"]}})
    assert [re.sub(r"-[0-9a-f]{8}:", ":", p.pair_id) for p in pairs] == ["arxiv:pairs-good:v0-v1", "arxiv:pairs-good:v1-v2"]
    assert sorted(r.detail.split(": ")[1] for r in rows) == ["'bad'", "'worse'"] and len(rows) == 2
    pairs, rows = read("versions.json", [{"paper_id": "p", "version": v, "text": f"A b. C {v}."} for v in (1, 2)]
                       + [{"paper": "x"}])
    assert [p.pair_id for p in pairs] == ["arxiv:p:v0-v1", "arxiv:p:v1-v2"]
    assert len(rows) == 1 and "item 3: " in rows[0].detail
    pairs, rows = read("gold.json", {str(i): {"sentence-1": "a", "sentence-2": "b"} for i in range(20)})
    assert not pairs and [(r.reason, r.level) for r in rows] == [("unsupported_input", "file")]
    assert "object of 20 key(s)" in rows[0].detail


def test_arxivedits_documents_of_the_same_name_in_two_folders_are_not_duplicates(tmp_path):
    """arXivEdits documents number their pairs ("0", "1", ...), and a pair was named by its file's stem and
    that number: train/pairs.json and dev/pairs.json gave their different first pairs the same id, and the
    second one's were quarantined as duplicates. The pair's sentences now take part in its name; the same
    pair in a file of the same name is still one."""
    import json

    from revmine.config import Config
    from revmine.runner.run import run

    docs = {"a": {"0": {"simple": ["The cat sat."], "complex": ["The cat sat down."]}},
            "b": {"0": {"simple": ["A dog ran."], "complex": ["A big dog ran."]}},
            "c": {"0": {"simple": ["The cat sat."], "complex": ["The cat sat down."]}, "1": {"simple": ["X."], "complex": ["Y."]}}}
    paths = []
    for folder, doc in docs.items():
        (tmp_path / folder).mkdir()
        paths.append(tmp_path / folder / "pairs.json")
        paths[-1].write_text(json.dumps(doc, indent=1))
    result = run([str(p) for p in paths], str(tmp_path / "wh"), Config.load("configs/fast.yaml"))
    # a's pair and c's first are the same pair in a file of the same name: it lands once
    assert result.accounting.balanced and result.accounting.quarantined == {"duplicate_rev_id": 2}
    assert result.accounting.revisions_read == 8
