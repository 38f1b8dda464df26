"""MediaWiki core's own import/export test dumps: every one runs, and where mwxml reads a file, revmine
reads the same pages and revisions (the README lists the differences that are on purpose)."""
import io
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SHARED
from helpers import assert_books_balance, read_all
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
                rows.append((page.id, page.title, page.namespace, r.id, int(r.timestamp.unix()),
                             None if r.user is None else r.user.text, r.comment, bool(r.deleted.comment),
                             bool(r.deleted.user), bool(r.deleted.text), r.sha1))
    return rows


def _revmine_rows(path):
    return [(r.page_id, r.title, r.ns, r.rev_id, r.timestamp, r.user, r.comment, r.comment_deleted, r.user_deleted,
             r.text_deleted, r.sha1 if r.sha1_from_dump else None) for r in read_all(path)["revisions"]]


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
    assert _revmine_rows(path) == _mwxml_rows(path)


@needs_data
def test_mwxml_agreement_covers_the_files_it_reads(shared_data):
    readable = [n for n in FILES if _mwxml_readable(CONFORMANCE / n)]
    assert len(readable) == 21  # the rest are templates, stubs without sha1, or deliberately broken


# Text as editors write it, within MediaWiki's limits (the cut past them is a documented difference).
_FIELD = st.text(alphabet=st.one_of(st.characters(blacklist_categories=("Cs", "Cc")), st.sampled_from(" \n\t_")),
                 max_size=30)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


@st.composite
def _valid_dumps(draw):
    """Well-formed schema-0.10/0.11 dumps with random pages, contributors, comments, deletions and text."""
    import hashlib

    version = draw(st.sampled_from(["0.10", "0.11"]))
    out = [f'<mediawiki xmlns="http://www.mediawiki.org/xml/export-{version}/" version="{version}" xml:lang="en">\n'
           "<siteinfo><sitename>W</sitename><dbname>testwiki</dbname><base>http://w.example/wiki/Main</base>"
           "<generator>MediaWiki 1.41</generator><case>first-letter</case><namespaces>"
           '<namespace key="0" case="first-letter" /><namespace key="1" case="first-letter">Talk</namespace>'
           "</namespaces></siteinfo>\n"]
    rev_id, page_ids = 100, draw(st.lists(st.integers(1, 10 ** 6), unique=True, max_size=3))
    for pid in page_ids:
        title = draw(st.sampled_from(["Foo", "Talk:Foo bar", "Ünïcode_page", "A/B (c)"]) | _FIELD.filter(str.strip))
        out.append(f"<page><title>{_esc(title)}</title><ns>{1 if title.startswith('Talk:') else 0}</ns><id>{pid}</id>\n")
        parent = None
        for _ in range(draw(st.integers(1, 4))):
            rev_id += draw(st.integers(1, 50))
            ts = f"20{draw(st.integers(1, 26)):02d}-0{draw(st.integers(1, 9))}-1{draw(st.integers(0, 9))}T0{draw(st.integers(0, 9))}:00:00Z"
            parts = [f"<revision><id>{rev_id}</id>"] + ([f"<parentid>{parent}</parentid>"] if parent else [])
            parts.append(f"<timestamp>{ts}</timestamp>")
            who = draw(st.sampled_from(["user", "ip", "deleted"]))
            parts.append({"user": f"<contributor><username>{_esc(draw(_FIELD)) or 'U'}</username><id>{draw(st.integers(1, 99))}</id></contributor>",
                          "ip": f"<contributor><ip>192.0.2.{draw(st.integers(1, 254))}</ip></contributor>",
                          "deleted": '<contributor deleted="deleted" />'}[who])
            if draw(st.booleans()):
                parts.append("<minor />")
            comment = draw(st.sampled_from(["none", "text", "deleted"]))
            if comment == "text":
                parts.append(f"<comment>{_esc(draw(_FIELD))}</comment>")
            elif comment == "deleted":
                parts.append('<comment deleted="deleted" />')
            parts.append("<model>wikitext</model><format>text/x-wiki</format>")
            text = draw(_FIELD) * draw(st.sampled_from([1, 3]))
            sha1 = hashlib.sha1(text.encode()).hexdigest()
            if draw(st.integers(0, 5)):
                parts.append(f'<text bytes="{len(text.encode())}" xml:space="preserve">{_esc(text)}</text>')
            else:
                parts.append('<text deleted="deleted" />')
            parts.append(f"<sha1>{sha1}</sha1></revision>\n")
            out.append("".join(parts))
            parent = rev_id
        out.append("</page>\n")
    out.append("</mediawiki>\n")
    return "".join(out).encode("utf-8")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=_valid_dumps())
def test_any_valid_dump_reads_as_mwxml_reads_it(tmp_path_factory, data):
    """mwxml as the oracle on dumps no fixture holds: the same pages, revisions, users, comments, deleted
    flags and sha1s."""
    path = tmp_path_factory.mktemp("oracle") / "dump.xml"
    path.write_bytes(data)
    assert _revmine_rows(path) == _mwxml_rows(path)
