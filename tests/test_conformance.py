"""MediaWiki core's own import/export test dumps: every one runs, and where mwxml reads a file, revmine
reads the same pages and revisions (the README lists the differences that are on purpose)."""
import io
import json
import os

import pytest

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
