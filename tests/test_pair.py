"""Pairing: parents, identity reverts (mwreverts convention), bots, skips."""
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import read_all
from revmine.config import PairConfig
from revmine.pipeline.pair import pair_revisions
from revmine.schemas import Revision, RevisionPair


def by_rev(out):
    return {p.new_rev_id: p for p in out["pairs"]}


def test_every_unquarantined_revision_gets_one_pair(sample_dump):
    out = read_all(sample_dump)
    assert sorted(p.new_rev_id for p in out["pairs"]) == sorted(r.rev_id for r in out["revisions"])


def test_vandalism_and_its_revert_are_flagged(sample_dump):
    pairs = by_rev(read_all(sample_dump))
    vandal, revert = pairs[1035], pairs[1042]
    assert vandal.is_anon and vandal.is_reverted and vandal.reverted_by_rev_id == 1042
    assert revert.is_revert and revert.reverted_to_rev_id == 1028 and revert.size_delta == -vandal.size_delta
    assert sum(p.is_revert for p in pairs.values()) == 2  # plus the typo introduced and fixed on Grace Hopper


def _revision(rev_id, sha1, parent):
    return Revision(wiki="w", year=2020, page_id=1, ns=0, title="T", rev_id=rev_id, parent_id=parent,
                    parent_from_dump=True, timestamp=1_600_000_000 + rev_id, user="u", user_id=1, is_anon=False,
                    user_deleted=False, comment="c", comment_deleted=False, minor=False, sha1=sha1,
                    sha1_from_dump=True, text_bytes=1, text_deleted=False, has_text=True, model=None, format=None,
                    source_file="f", source_offset=0, source_ordinal=rev_id, text=sha1)


def _pairs(shas, radius):
    revs = [_revision(i + 1, s, i or None) for i, s in enumerate(shas)]
    return {p.new_rev_id: p for p in pair_revisions(revs, PairConfig(revert_radius=radius)) if isinstance(p, RevisionPair)}


def test_revert_radius_is_configurable():
    # A -> B -> C -> A: the revert spans two revisions (B, C).
    shas = ["a", "b", "c", "a"]
    wide = _pairs(shas, radius=2)
    assert wide[4].is_revert and wide[4].reverted_to_rev_id == 1
    assert wide[2].is_reverted and wide[3].is_reverted and wide[2].reverted_by_rev_id == 4
    narrow = _pairs(shas, radius=1)
    assert not any(p.is_revert or p.is_reverted for p in narrow.values())


def test_self_revert_of_nothing_is_not_a_revert():
    # A -> A is a null edit (skipped as identical text), not a revert: nothing was undone.
    pairs = _pairs(["a", "a"], radius=15)
    assert not pairs[2].is_revert and pairs[2].skip_reason == "identical_text"


def test_revert_time_window(sample_dump):
    # Both reverts in the sample come days after the reverted edit; a one-hour window excludes them.
    pairs = read_all(sample_dump, pair_config=PairConfig(revert_max_seconds=3600))["pairs"]
    assert not any(p.is_revert for p in pairs)


def test_bots_by_pattern_and_list(sample_dump):
    pairs = by_rev(read_all(sample_dump))
    assert {p.user for p in pairs.values() if p.is_bot} == {"CategoryBot", "AnomieBOT"}
    cfg = PairConfig(bot_users=["Lampwick"], not_bot_users=["CategoryBot"])
    pairs = read_all(sample_dump, pair_config=cfg)["pairs"]
    assert {p.user for p in pairs if p.is_bot} == {"Lampwick", "AnomieBOT"}


def test_bot_pattern_avoids_common_false_positives():
    is_bot = PairConfig().bot_matcher()
    assert all(map(is_bot, ["ClueBot NG", "SmackBot", "Cydebot", "AnomieBOT", "Bot1058", "Yobot", "citation_bot"]))
    assert not any(map(is_bot, ["Abbott", "Botticelli fan", "Robotics Dan", None, ""]))


def test_skip_reasons_and_texts(sample_dump):
    pairs = by_rev(read_all(sample_dump))
    assert pairs[1007].skip_reason == "page_creation" and pairs[1007].old_rev_id is None
    assert pairs[1077].skip_reason == "identical_text"  # a null edit
    edit = pairs[1014]
    assert edit.skip_reason is None and edit.minor and edit.comment == "Fix typo"
    assert "navigatonal" in edit.old_text and "navigational" in edit.new_text


def test_suppressed_comment_is_null_not_empty(sample_dump):
    pairs = by_rev(read_all(sample_dump))
    assert pairs[1084].comment is None


def test_parentid_pointing_back_in_history(tmp_path, sample_dump):
    """A <parentid> that is not the previous revision (e.g. after a history merge) is honoured."""
    xml = sample_dump.read_text().replace("<parentid>1014</parentid>", "<parentid>1007</parentid>", 1)
    path = tmp_path / "merge.xml"
    path.write_text(xml)
    pairs = by_rev(read_all(path))
    assert pairs[1021].old_rev_id == 1007 and pairs[1021].skip_reason is None


def test_missing_parent_is_a_skip_not_a_crash(tmp_path, sample_dump):
    xml = sample_dump.read_text().replace("<parentid>1014</parentid>", "<parentid>4</parentid>", 1)
    path = tmp_path / "orphan.xml"
    path.write_text(xml)
    assert by_rev(read_all(path))[1021].skip_reason == "parent_not_found"


def test_reverts_agree_with_mwreverts_on_the_shared_dumps(shared_data):
    """mwreverts' own `detect` over each page's (sha1, rev_id) sequence is the oracle: the same reverting
    revisions, the same revisions they restored, and the same reverted ones, on every shared dump but the
    1 GB history (benchmarks cover that one; it agrees as well: 2,298 reverts, 3,810 reverted)."""
    from collections import defaultdict

    import mwreverts

    from revmine.pipeline.read import read_dump

    checked = 0
    for path in sorted(p for p in (shared_data / "wikipedia").iterdir() if p.is_file() and "history-2001" not in p.name):
        revisions, pairs = defaultdict(list), {}
        for rec in pair_revisions(read_dump(str(path))):
            if isinstance(rec, Revision) and rec.sha1 is not None:
                revisions[(rec.wiki, rec.page_id)].append(rec)
            elif isinstance(rec, RevisionPair):
                pairs[rec.new_rev_id] = rec
        reverting, reverted = {}, set()
        for seq in revisions.values():
            for rv in mwreverts.detect(((r.sha1, r.rev_id) for r in seq), radius=PairConfig().revert_radius):
                reverting[rv.reverting] = rv.reverted_to
                reverted.update(rv.reverteds)
        assert {p.new_rev_id: p.reverted_to_rev_id for p in pairs.values() if p.is_revert} == {
            k: v for k, v in reverting.items() if k in pairs}, path.name
        assert {p.new_rev_id for p in pairs.values() if p.is_reverted} == {k for k in reverted if k in pairs}, path.name
        checked += len(reverting)
    assert checked > 150


@settings(max_examples=400, deadline=None)
@given(shas=st.lists(st.sampled_from("abcde"), min_size=1, max_size=30), radius=st.integers(1, 15))
def test_reverts_agree_with_mwreverts_on_any_history(shas, radius):
    """mwreverts.detect as the oracle on random checksum sequences (few distinct texts, so reverts, chains
    of reverts and reverts of reverts are common), at any radius."""
    import mwreverts

    pairs = _pairs(shas, radius)
    expected = list(mwreverts.detect(((s, i + 1) for i, s in enumerate(shas)), radius=radius))
    assert {k: p.reverted_to_rev_id for k, p in pairs.items() if p.is_revert} == {
        rv.reverting: rv.reverted_to for rv in expected}
    reverted = {r for rv in expected for r in rv.reverteds}
    assert {k for k, p in pairs.items() if p.is_reverted} == {k for k in reverted if k in pairs}


def _code_page(title, ns, model, fmt, texts):
    revs = []
    for i, text in enumerate(texts):
        r = _revision(i + 1, f"s{i}", i or None)
        r.title, r.ns, r.model, r.format, r.text = title, ns, model, fmt, text
        revs.append(r)
    return [p for p in pair_revisions(revs) if isinstance(p, RevisionPair)]


def test_code_and_data_pages_are_not_diffed_as_prose():
    # A user script, a stylesheet, a Lua module, a JSON or Wikidata page: the cleaner would read code as
    # sentences (`alert("test")` -> `alert("test2")` an edit, "[[" in a JS string a wikilink) and the
    # labels would call it a typo fix. Each pair says why it has no diff.
    for title, ns, model, fmt in (("User:A/common.js", 2, "javascript", "text/javascript"),
                                  ("MediaWiki:Common.css", 8, "css", "text/css"),
                                  ("Module:Citation", 828, "Scribunto", "text/plain"),
                                  ("Q42", 0, "wikibase-item", "application/json"),
                                  ("MediaWiki:Gadgets-definition.json", 8, "json", "application/json")):
        pairs = _code_page(title, ns, model, fmt, ['alert("test");', 'alert("test2");'])
        assert pairs[1].skip_reason == "not_wikitext" and pairs[1].new_text is None, title
    # A page whose model changed (wikitext -> JSON) is not diffed either.
    revs = _code_page("Project:X.json", 4, "wikitext", "text/x-wiki", ["a", "{}"])
    assert revs[1].skip_reason is None
    r1, r2 = (_revision(1, "a", None), _revision(2, "b", 1))
    r2.model, r2.format = "json", "application/json"
    pairs = [p for p in pair_revisions([r1, r2]) if isinstance(p, RevisionPair)]
    assert pairs[1].skip_reason == "not_wikitext"


def test_dumps_without_model_get_mediawikis_default_model():
    # Before schema 0.8 a dump has no <model>: MediaWiki makes user subpages and MediaWiki-namespace pages
    # ending .js, .css or .json code, and everything else wikitext (an article named "Node.js" included).
    assert _code_page("User:A/monobook.js", 2, None, None, ["a", "b"])[1].skip_reason == "not_wikitext"
    assert _code_page("MediaWiki:Common.css", 8, None, None, ["a", "b"])[1].skip_reason == "not_wikitext"
    for title, ns in (("Node.js", 0), ("User:Foo.js", 2), ("User talk:A/x.js", 3), ("MediaWiki:Welcome", 8)):
        assert _code_page(title, ns, None, None, ["a", "b"])[1].skip_reason is None, title
    # Wikisource's page model is wikitext in all but name: its format says so.
    assert _code_page("Page:Book.djvu/1", 104, "proofread-page", "text/x-wiki", ["a", "b"])[1].skip_reason is None


def test_code_pages_of_a_real_dump_are_not_mined(shared_data):
    """aawiki's user scripts and JSON page: no sentence, edit or node change comes from them."""
    from revmine.config import Config
    from revmine.runner.compose import build_engine, process_file
    from revmine.schemas import DiffStats, Edit, NodeChange, Sentence

    path = shared_data / "wikipedia" / "aawiki-20260101-pages-meta-history.xml.7z"
    if not path.exists():
        import pytest
        pytest.skip(f"{path} not present")
    config = Config.load("configs/fast.yaml")
    code, skipped, diffed = set(), set(), set()
    for rec in process_file(str(path), config, build_engine(config)):
        if isinstance(rec, Revision) and rec.model not in (None, "wikitext"):
            code.add(f"{rec.wiki}:{rec.rev_id}")
        elif isinstance(rec, RevisionPair) and rec.skip_reason == "not_wikitext":
            skipped.add(rec.pair_id)
        elif isinstance(rec, (Edit, NodeChange, Sentence, DiffStats)):
            diffed.add(rec.pair_id)
    assert len(code) >= 20 and not code & diffed
    assert skipped and skipped <= code


def _newest_first(xml: str, drop_parents: bool = False) -> str:
    """The dump with each page's revisions written newest first (Special:Export with dir=desc)."""
    import re

    def flip(m):
        page = m.group(0)
        revs = re.findall(r"\s*<revision>.*?</revision>", page, flags=re.S)
        start, end = page.index(revs[0]), page.rindex("</revision>") + len("</revision>")
        return page[:start] + "".join(reversed(revs)) + page[end:]

    out = re.sub(r"<page>.*?</page>", flip, xml, flags=re.S)
    return re.sub(r"\s*<parentid>\d+</parentid>", "", out) if drop_parents else out


def _pair_view(out):
    return sorted((p.new_rev_id, p.old_rev_id, p.skip_reason, p.is_revert, p.reverted_to_rev_id, p.is_reverted,
                   p.size_delta) for p in out["pairs"])


def test_a_dump_written_newest_first_pairs_as_the_oldest_first_one(tmp_path, sample_dump):
    # Every <parentid> pointed forward (all parent_not_found), and the page creations, which have none,
    # were paired with their child as parent; without <parentid> every diff ran backwards.
    xml = sample_dump.read_text()
    expected = _pair_view(read_all(sample_dump))
    for name, drop in (("desc.xml", False), ("desc-noparent.xml", True)):
        path = tmp_path / name
        path.write_text(_newest_first(xml, drop))
        out = read_all(path)
        assert _pair_view(out) == expected, name
        assert {r.rev_id: r.parent_id for r in out["revisions"]} == {p[0]: p[1] for p in expected}, name


def test_a_newest_first_page_longer_than_the_window_loses_nothing(tmp_path, sample_dump):
    path = tmp_path / "desc.xml"
    path.write_text(_newest_first(sample_dump.read_text()))
    out = read_all(path, pair_config=PairConfig(reorder_window=3))
    assert sorted(p.new_rev_id for p in out["pairs"]) == sorted(r.rev_id for r in out["revisions"])
    assert len(out["pairs"]) == 25
    # Pairs within a held block keep their parents; a block's oldest revision finds its parent only later.
    assert sum(p.skip_reason == "parent_not_found" for p in out["pairs"]) <= 25 // 3
    path.write_text(_newest_first(sample_dump.read_text(), drop_parents=True))
    out = read_all(path, pair_config=PairConfig(reorder_window=3))
    # Without <parentid>, such a revision is not taken for a page creation.
    assert sum(p.skip_reason == "page_creation" for p in out["pairs"]) == 3


def test_ids_out_of_time_order_are_not_taken_for_a_newest_first_page(tmp_path, sample_dump):
    # Imported histories (early Wikipedia's, MediaWiki's InterleavedMulti import test) carry a lower id
    # on a later revision; written in time order, the page is paired as written.
    revs = [_revision(1, "a", None), _revision(2, "b", 1), _revision(3, "c", 2)]
    revs[1].rev_id, revs[2].parent_id = 900, 900
    for r in revs:
        r.parent_from_dump = False
    pairs = [p for p in pair_revisions(revs) if isinstance(p, RevisionPair)]
    assert [(p.new_rev_id, p.old_rev_id) for p in pairs] == [(1, None), (900, 1), (3, 900)]


@settings(max_examples=200, deadline=None)
@given(shas=st.lists(st.sampled_from("abcde"), min_size=1, max_size=30), radius=st.integers(1, 15),
       with_parents=st.booleans())
def test_any_history_newest_first_gives_the_same_pairs(shas, radius, with_parents):
    def pairs(order):
        revs = [_revision(i + 1, s, i or None) for i, s in enumerate(shas)]
        for r in revs:
            r.parent_from_dump = with_parents
            if not with_parents:  # as the reader infers it: the previous revision in file order
                r.parent_id = None
        revs = order(revs)
        if not with_parents:
            for prev, r in zip([None] + revs, revs):
                r.parent_id = prev.rev_id if prev else None
        return sorted((p.new_rev_id, p.old_rev_id, p.skip_reason, p.is_revert, p.reverted_to_rev_id, p.is_reverted)
                      for p in pair_revisions(revs, PairConfig(revert_radius=radius)) if isinstance(p, RevisionPair))

    assert pairs(lambda r: r[::-1]) == pairs(list)


def test_a_placeholder_sha1_does_not_make_edits_identical(tmp_path, sample_dump):
    # An exporter that writes one <sha1> for every revision (or a wrong one) made every pair identical_text.
    import re

    placeholder = "phoiac9h4m842xq45sp7s6u21eteeq1"
    xml = re.sub(r"<sha1>[^<]*</sha1>", f"<sha1>{placeholder}</sha1>", sample_dump.read_text())
    xml = re.sub(r'sha1="[^"]*"', f'sha1="{placeholder}"', xml)
    path = tmp_path / "placeholder.xml"
    path.write_text(xml)
    got = {p.new_rev_id: p.skip_reason for p in read_all(path)["pairs"]}
    assert got == {p.new_rev_id: p.skip_reason for p in read_all(sample_dump)["pairs"]}


def test_reverts_are_found_when_the_dump_writes_a_placeholder_sha1(sample_dump, tmp_path):
    """Some exporters write one <sha1> on every revision (mwxml's own test dump does) or none that fits
    the text. Reverts were detected on the dump's <sha1>: with a placeholder, the sample's revert and the
    edit it reverts were no revert at all. Where the text is held, its own digest decides now, and the
    flags are those of the true sha1s."""
    import re

    placeholder = re.sub(r"<sha1>[0-9a-z]+</sha1>", "<sha1>g9chqqg94myzq11c56ixvq7o1yg75n9</sha1>",
                         re.sub(r' sha1="[0-9a-z]+"', "", sample_dump.read_text()))
    (tmp_path / "placeholder.xml").write_text(placeholder)
    flags = [{p.new_rev_id: (p.is_revert, p.reverted_to_rev_id, p.is_reverted, p.reverted_by_rev_id)
              for p in read_all(path)["pairs"]} for path in (sample_dump, tmp_path / "placeholder.xml")]
    assert flags[0] == flags[1] and sum(f[0] for f in flags[1].values()) == 2
