"""MediaWiki core's own import/export test dumps: every one runs, and where mwxml reads a file, revmine
reads the same pages and revisions (the README lists the differences that are on purpose)."""
import io
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SHARED
from helpers import assert_books_balance, read_all, reasons
from revmine.cli import main
from trust_helpers import FAST_CONFIG, count_revision_tags, decompressed

CONFORMANCE = SHARED / "conformance" / "mediawiki-core"
FILES = sorted(p.name for p in CONFORMANCE.glob("*.xml")) if CONFORMANCE.is_dir() else []
# Small real dumps mwxml reads too (the Anarchism history is left to the benchmark: 1 GB of XML).
WIKIPEDIA = ["enwiki-20211201-pages-meta-history-AccessibleComputing.xml", "simplewiki-sample-0.11.xml",
             "commonswiki-sample-0.11.xml", "enwiki-20140102.tiny.xml.gz", "compression-matrix/article-pyrus.xml",
             "compression-matrix/article-pyrus-utf16.xml", "compression-matrix/article-pear.xml",
             "compression-matrix/pair-0.10.xml"]
needs_data = pytest.mark.skipif(not FILES, reason=f"conformance dumps not found at {CONFORMANCE} (set REVMINE_SHARED_DATA)")


@needs_data
@pytest.mark.parametrize("name", FILES)
def test_books_balance_against_the_input(name):
    out = read_all(CONFORMANCE / name)
    assert out["sources"][0].revisions_read == count_revision_tags(CONFORMANCE / name)
    assert_books_balance(out)


@needs_data
def test_every_conformance_dump_runs_with_exit_0_and_balanced_books(tmp_path):
    cfg = tmp_path / "fast.yaml"
    cfg.write_text(FAST_CONFIG)
    wh = tmp_path / "wh"
    assert main(["run", "--input", *(str(CONFORMANCE / n) for n in FILES), "--out", str(wh), "--config", str(cfg)]) == 0
    (manifest,) = [json.loads(p.read_text()) for p in (wh / "_runs").iterdir()]
    assert manifest["accounting"]["balanced"]
    assert len(manifest["inputs"]) + len(manifest["duplicates"]) == len(FILES)


def _mwxml_rows(path):
    import mwxml

    rows = []
    with io.BytesIO(decompressed(path)) as fh:
        for page in mwxml.Dump.from_file(fh):
            for r in page:
                if r.slots is not None and "main" not in r.slots.contents:
                    # Slots but no main <text> (MediaWiki's MissingMainTextField test): mwxml drops the
                    # revision's <model> and <format> with the main slot; revmine keeps them, and no text.
                    model = fmt = NO_MAIN_SLOT
                    text = None
                else:
                    # mwxml gives None for an empty <text/>; revmine keeps the empty text (None: no text).
                    model, fmt = r.model, r.format
                    text = "" if r.text is None and not r.deleted.text else r.text
                rows.append((page.id, page.title, page.namespace, r.id, r.parent_id, int(r.timestamp.unix()),
                             None if r.user is None else r.user.text, None if r.user is None else r.user.id,
                             r.comment, bool(r.deleted.comment), bool(r.deleted.user), bool(r.deleted.text),
                             bool(r.minor), model, fmt, text, r.sha1))
    return rows


NO_MAIN_SLOT = "(no main slot)"


def _agree(path):
    """revmine's rows and mwxml's, with mwxml's one representational gap carried over to revmine's."""
    mine, theirs = _revmine_rows(path), _mwxml_rows(path)
    mine = [m[:13] + t[13:15] + m[15:] if t[13] == NO_MAIN_SLOT else m for m, t in zip(mine, theirs)] + mine[len(theirs):]
    return mine, theirs


def _revmine_rows(path):
    return [(r.page_id, r.title, r.ns, r.rev_id, r.parent_id if r.parent_from_dump else None, r.timestamp, r.user,
             r.user_id, r.comment, r.comment_deleted, r.user_deleted, r.text_deleted, r.minor, r.model, r.format,
             r.text, r.sha1 if r.sha1_from_dump else None) for r in read_all(path)["revisions"]]


def _mwxml_readable(path) -> bool:
    try:
        _mwxml_rows(path)
        return True
    except Exception:  # noqa: BLE001 (mwxml rejects templates, stubs without sha1 and broken files)
        return False


@pytest.mark.parametrize("name", [f"conformance/mediawiki-core/{n}" for n in FILES] + [f"wikipedia/{n}" for n in WIKIPEDIA])
def test_same_pages_and_revisions_as_mwxml(shared_data, name):
    path = shared_data / name
    if not _mwxml_readable(path):
        pytest.skip(f"mwxml cannot read {os.path.basename(name)}")
    mine, theirs = _agree(path)
    assert mine == theirs


@needs_data
def test_mwxml_agreement_covers_the_files_it_reads(shared_data):
    readable = [n for n in FILES if _mwxml_readable(CONFORMANCE / n)]
    assert len(readable) == 21  # the rest are templates, stubs without sha1, or deliberately broken


# Text as editors write it, within MediaWiki's limits (the cut past them is a documented difference), with
# what an XML writer must escape or may hide in a CDATA section.
_FIELD = st.lists(st.one_of(st.characters(blacklist_categories=("Cs", "Cc")), st.sampled_from(" \n\t_"),
                            st.sampled_from(["<revision>", "<page>", "]]>", "&amp;", "\r\n"])), max_size=30).map("".join)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("\r", "&#13;")


@st.composite
def _char_data(draw, value: str) -> str:
    """`value` as XML character data, written as MediaWiki does or as another XML writer might."""
    how = draw(st.sampled_from(["escaped", "cdata", "references", "comment"]))
    if how == "cdata" and "]]>" not in value and "\r" not in value:
        return f"<![CDATA[{value}]]>"
    if how == "references":
        return "".join(f"&#{ord(c)};" if draw(st.booleans()) else _esc(c) for c in value)
    if how == "comment" and value:
        cut = draw(st.integers(0, len(value)))
        return _esc(value[:cut]) + "<!-- a <revision> in a comment -->" + _esc(value[cut:])
    return _esc(value)


# Markup between elements that carries no data: whitespace, comments and processing instructions.
_BETWEEN = st.sampled_from(["", "", "\n  ", "\r\n", "<!-- note -->", "<!-- <revision> -->", "<?php echo 1; ?>"])


@st.composite
def _valid_dumps(draw):
    """Well-formed schema-0.10/0.11 dumps with random pages, contributors, comments, deletions and text,
    written with CDATA, character references, comments and processing instructions as well as plainly, in
    UTF-8 or a declared legacy encoding."""
    import hashlib

    version = draw(st.sampled_from(["0.10", "0.11"]))
    out = [f'<mediawiki xmlns="http://www.mediawiki.org/xml/export-{version}/" version="{version}" xml:lang="en">\n'
           "<siteinfo><sitename>W</sitename><dbname>testwiki</dbname><base>http://w.example/wiki/Main</base>"
           "<generator>MediaWiki 1.41</generator><case>first-letter</case><namespaces>"
           '<namespace key="0" case="first-letter" /><namespace key="1" case="first-letter">Talk</namespace>'
           f"</namespaces></siteinfo>{draw(_BETWEEN)}\n"]
    rev_id, page_ids = 100, draw(st.lists(st.integers(1, 10 ** 6), unique=True, max_size=3))
    for pid in page_ids:
        title = draw(st.sampled_from(["Foo", "Talk:Foo bar", "Ünïcode_page", "A/B (c)"]) | _FIELD.filter(str.strip))
        title = title.replace("\r", "")  # MediaWiki titles hold no line breaks; XML turns a raw CR into LF
        out.append(f"<page>{draw(_BETWEEN)}<title>{draw(_char_data(title))}</title><ns>"
                   f"{1 if title.startswith('Talk:') else 0}</ns><id>{pid}</id>{draw(_BETWEEN)}\n")
        parent = None
        for _ in range(draw(st.integers(1, 4))):
            rev_id += draw(st.integers(1, 50))
            date = (draw(st.integers(2001, 2026)), draw(st.integers(1, 12)), draw(st.integers(1, 28)), draw(st.integers(0, 23)))
            # ISO 8601 as dumps write it, or MediaWiki's database form, which mwxml reads too
            ts = draw(st.sampled_from(["{:04d}-{:02d}-{:02d}T{:02d}:00:00Z", "{:04d}{:02d}{:02d}{:02d}0000"])).format(*date)
            parts = [f"<revision>{draw(_BETWEEN)}<id>{rev_id}</id>"] + ([f"<parentid>{parent}</parentid>"] if parent else [])
            parts.append(f"<timestamp>{ts}</timestamp>{draw(_BETWEEN)}")
            who = draw(st.sampled_from(["user", "ip", "deleted"]))
            name = draw(_FIELD).replace("\r", "") or "U"
            parts.append({"user": f"<contributor><username>{draw(_char_data(name))}</username><id>{draw(st.integers(1, 99))}</id></contributor>",
                          "ip": f"<contributor><ip>192.0.2.{draw(st.integers(1, 254))}</ip></contributor>",
                          "deleted": '<contributor deleted="deleted" />'}[who])
            if draw(st.booleans()):
                parts.append(draw(st.sampled_from(["<minor />", "<minor/>", "<minor></minor>"])))
            comment = draw(st.sampled_from(["none", "text", "deleted"]))
            if comment == "text":
                parts.append(f"<comment>{draw(_char_data(draw(_FIELD)))}</comment>")
            elif comment == "deleted":
                parts.append('<comment deleted="deleted" />')
            parts.append("<model>wikitext</model><format>text/x-wiki</format>")
            text = draw(_FIELD) * draw(st.sampled_from([1, 3]))
            sha1 = hashlib.sha1(text.encode()).hexdigest()
            q = draw(st.sampled_from(['"', "'"]))
            if draw(st.integers(0, 5)):
                parts.append(f"<text bytes={q}{len(text.encode())}{q} xml:space={q}preserve{q}>{draw(_char_data(text))}</text>")
            else:
                parts.append('<text deleted="deleted" />')
            parts.append(f"<sha1>{sha1}</sha1>{draw(_BETWEEN)}</revision>\n")
            out.append("".join(parts))
            parent = rev_id
        out.append(f"</page>{draw(_BETWEEN)}\n")
    out.append("</mediawiki>\n")
    # Older exporters declare a legacy encoding; what it cannot hold they write as character references.
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "iso-8859-1", "windows-1252"]))
    if encoding == "utf-8":
        return "".join(out).encode("utf-8")
    return f'<?xml version="1.0" encoding="{encoding}"?>\n{"".join(out)}'.encode(encoding, "xmlcharrefreplace")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=_valid_dumps())
def test_any_valid_dump_reads_as_mwxml_reads_it(tmp_path_factory, data):
    """mwxml as the oracle on dumps no fixture holds: the same pages, revisions, parents, users, comments,
    deleted flags, minor flags, models, texts and sha1s; and a valid dump has nothing to quarantine (a
    "<revision>" inside a CDATA section or a comment is text, not a revision the parser missed)."""
    path = tmp_path_factory.mktemp("oracle") / "dump.xml"
    path.write_bytes(data)
    mine, theirs = _agree(path)
    assert mine == theirs
    assert not reasons(read_all(path))


def test_a_timestamp_with_an_offset_is_stored_in_utc_and_partitioned_by_its_utc_year(tmp_path):
    """Exporters other than MediaWiki may write an offset: 02:00 at +05:00 on New Year's Day is 21:00 UTC
    the day before, so the revision belongs to the year 2000 partition."""
    path = tmp_path / "offset.xml"
    path.write_text('<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10"><siteinfo>'
                    "<dbname>testwiki</dbname></siteinfo><page><title>A</title><ns>0</ns><id>1</id>"
                    "<revision><id>1</id><timestamp>2001-01-01T02:00:00+05:00</timestamp><text>a</text></revision>"
                    "<revision><id>2</id><timestamp>20010101000000</timestamp><text>b</text></revision>"
                    "</page></mediawiki>")
    out = read_all(path)
    assert not out["quarantine"]
    assert [(r.year, r.timestamp) for r in out["revisions"]] == [(2000, 978296400), (2001, 978307200)]
    assert [p.year for p in out["pairs"]] == [2000, 2001]


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "windows-1252"])
def test_a_dump_in_a_declared_legacy_encoding_is_read_as_declared(tmp_path, encoding):
    """The declaration's encoding was overridden with UTF-8, so every accented character was an invalid
    byte: titles read "Caf?" and each revision with one was quarantined as invalid_utf8."""
    doc = (f'<?xml version="1.0" encoding="{encoding}"?>\n<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" '
           'version="0.10"><siteinfo><dbname>testwiki</dbname></siteinfo><page><title>Café</title><ns>0</ns><id>1</id>'
           "<revision><id>1</id><timestamp>2020-01-01T00:00:00Z</timestamp><contributor><username>José</username>"
           "<id>2</id></contributor><text>Crème brûlée à la carte, 5 €.</text></revision>"
           "<revision><id>2</id><timestamp>2020-01-02T00:00:00Z</timestamp><text>Crème brûlée, 5 €.</text></revision>"
           "</page></mediawiki>")
    path = tmp_path / "legacy.xml"
    path.write_bytes(doc.encode(encoding, "xmlcharrefreplace"))  # Latin-1 has no €: a character reference
    out = read_all(path)
    assert not out["quarantine"]
    assert [(r.title, r.user, r.text) for r in out["revisions"]] == [
        ("Café", "José", "Crème brûlée à la carte, 5 €."), ("Café", None, "Crème brûlée, 5 €.")]
    mine, theirs = _agree(path)
    assert mine == theirs


def _prefixed(xml: str, prefix: str = "mw") -> str:
    """The dump with every element named through a namespace prefix (<mw:page>), as XML tools that
    re-serialise with a prefix write it; texts are left as they are."""
    import re

    head, rest = xml.split("<mediawiki xmlns=", 1)
    xml = f"{head}<{prefix}:mediawiki xmlns:{prefix}=" + rest
    parts = re.split(r"(<text[^>]*>.*?</text>)", xml, flags=re.S)

    def tags(s):
        return re.sub(r"<(/?)(?![a-z]+:)([a-zA-Z])", rf"<\1{prefix}:\2", s)

    out = []
    for p in parts:
        if p.startswith("<text"):
            open_end = p.index(">") + 1
            out.append(tags(p[:open_end]) + p[open_end:p.rindex("</text>")] + f"</{prefix}:text>")
        else:
            out.append(tags(p))
    return "".join(out)


def test_a_dump_whose_elements_carry_a_namespace_prefix_reads_as_mwxml_reads_it(tmp_path, sample_dump):
    # <mw:page> is <page> to any namespace-aware reader. The reader saw no element it knew: 0 revisions,
    # no quarantine row, and books that "balanced" because the raw tag count found no <revision> either.
    xml = _prefixed(sample_dump.read_text())
    assert "<mw:revision>" in xml and "<revision>" not in xml
    path = tmp_path / "prefixed.xml"
    path.write_text(xml)
    mine, theirs = _agree(path)
    assert mine == theirs and len(mine) == 25
    assert mine == _revmine_rows(sample_dump)
    out = read_all(path)
    assert not out["quarantine"] and out["revisions"][0].wiki == "samplewiki"
    path.write_bytes(b"\xef\xbb\xbf" + xml.encode())  # and after a byte-order mark
    assert _revmine_rows(path) == mine
    # A break inside the second page resyncs at the next <mw:page>, and the books still count every revision.
    broken = xml.replace("<mw:title>Grace Hopper</mw:title>", "<mw:title>Grace Hopper</mw:titel>", 1)
    path.write_text(broken)
    out = read_all(path)
    assert reasons(out)["malformed_xml"] == 1 and {r.title for r in out["revisions"]} == {"Lighthouse", "Talk:Lighthouse"}
    assert out["sources"][0].revisions_read == 25
    assert_books_balance(out)
