"""Node changes: nested nodes, renames, moves, template parameters and sections, with mwedittypes as the oracle."""
import json
from collections import Counter
import pathlib
import sys

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conftest import wikipedia_dumps
from revmine.eval.nodes import Agreement, from_mwedittypes_names, mwedittypes_counts, revmine_counts
from revmine.pipeline.clean import clean_wikitext
from revmine.pipeline.nodediff import node_changes

CASES = json.loads((pathlib.Path(__file__).parent / "data" / "mwedittypes_cases.json").read_text(encoding="utf-8"))


class _Key:
    wiki, year, pair_id = "w", 2020, "w:2"


def changes(old, new):
    return [(c.node_type, c.action, c.key) for c in _records(old, new)]


def _records(old, new):
    return node_changes(_Key(), clean_wikitext(old), clean_wikitext(new))


def _case_texts(case):
    old = CASES["bases"][case["base"]]
    out, pos = [], 0
    for start, end, replacement in case["edits"]:
        out += [old[pos:start], replacement]
        pos = end
    return old, "".join(out) + old[pos:]


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["name"] for c in CASES["cases"]])
def test_mwedittypes_suite_case(case):
    """Every before/after case of mwedittypes' own test suite: the same counts per node type and action."""
    old, new = _case_texts(case)
    assert revmine_counts(old, new) == from_mwedittypes_names(case["mwedittypes"])


def test_the_stored_oracle_is_what_mwedittypes_says_today():
    """The stored counts are mwedittypes' own: rerun it on the cases it can diff (not the recursion-limit one)."""
    pytest.importorskip("mwedittypes")
    for case in CASES["cases"]:
        if "note" in case and "recursion" in case["note"]:
            continue
        old, new = _case_texts(case)
        assert mwedittypes_counts(old, new)[0] == from_mwedittypes_names(case["mwedittypes"]), case["name"]


def test_real_pairs_agree_with_mwedittypes(shared_data):
    """A sample of real pairs from every dump; the full comparison is benchmarks/node_diff.py."""
    pytest.importorskip("mwedittypes")
    sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "benchmarks"))
    from node_diff import real_pairs

    result = Agreement()
    # every dump but the 1.05 GB Anarchism history, whose reading alone took 10 s
    for label, old, new in real_pairs([str(p) for p in wikipedia_dumps(full_history=False)], 200, max_chars=30_000):
        result.add(label, revmine_counts(old, new), *mwedittypes_counts(old, new))
    assert result.pairs >= 190
    for t, (agree, involved) in result.by_type_unmoved.items():
        if involved >= 10:
            assert agree / involved >= 0.9, (t, agree, involved, result.disagreements[:5])


# ---- nested nodes, each attributed to its container -----------------------------------------------------------

def test_nodes_nested_in_templates_tables_captions_and_galleries_are_found():
    recs = _records("{{Infobox person|spouse=[[Ann]]}}\nText.\n",
                    "{{Infobox person|spouse=[[Ann]] and [[Bob]]}}\nText.\n")
    assert {(r.node_type, r.action, r.key, r.container) for r in recs} == {
        ("template", "changed", "Infobox person", ""), ("wikilink", "added", "Bob", "template:Infobox person")}
    table = "Intro.\n{|\n|-\n| a || [[Cell link]]\n|}\n"
    recs = _records("Intro.\n", table)
    assert {(r.node_type, r.action, r.container) for r in recs} == {("table", "added", ""),
                                                                      ("wikilink", "added", "table")}
    caption = "[[File:Map.png|thumb|A map.<ref>Atlas, p. 4.</ref>]]\nText.\n"
    recs = _records("[[File:Map.png|thumb|A map.]]\nText.\n", caption)
    assert {(r.node_type, r.action, r.container) for r in recs} == {("media", "changed", ""),
                                                                      ("reference", "added", "media:Map.png")}
    gallery = "<gallery>\nFile:One.jpg|First [[Thing]]\nTwo.png\n</gallery>\n"
    recs = _records("Text.\n", "Text.\n" + gallery)
    assert {(r.node_type, r.action, r.key, r.container) for r in recs} == {
        ("gallery", "added", "gallery", ""), ("media", "added", "One.jpg", "gallery"),
        ("media", "added", "Two.png", "gallery"), ("wikilink", "added", "Thing", "media:One.jpg")}


def test_a_link_in_a_heading_is_a_node():
    assert set(changes("Intro.\n==Life==\nText.\n", "Intro.\n==[[Life]]==\nText.\n")) == {
        ("heading", "changed", "Life"), ("wikilink", "added", "Life")}


def test_interlanguage_links_are_their_own_type():
    assert changes("Text.\n[[fr:Texte]]\n", "Text.\n[[fr:Texte]]\n[[de:Text]]\n") == [
        ("interlanguage", "added", "de:Text")]


def test_a_shortcut_or_interwiki_shaped_like_a_language_code_is_a_link_in_the_text():
    """[[WP:NPOV]], [[MOS:DATE]] and [[mw:Help:Contents]] have the shape of an interlanguage link, but their
    prefixes are no Wikipedia language: MediaWiki shows them as links in the text. They were interlanguage
    nodes, and their words vanished from the sentence (talk and project pages are full of them)."""
    for link, prefix in (("[[WP:NPOV]]", "WP"), ("[[MOS:DATE]]", "MOS"), ("[[mw:Help:Contents]]", "mw"),
                         ("[[wmf:Privacy policy]]", "wmf")):
        doc = clean_wikitext(f"See {link} first.\n")
        assert doc.texts == [f"See {link[2:-2]} first."], doc.texts
        assert [c.node_type for c in node_changes(_Key(), clean_wikitext("See first.\n"), doc)] == ["wikilink"], prefix
    for code in ("de", "zh-min-nan", "simple", "be-tarask", "EN", "aa", "igl"):  # closed and recent wikis too
        assert [c.node_type for c in _records("Text.\n", f"Text.\n[[{code}:Title]]\n")] == ["interlanguage"], code


# ---- a change, not a removal plus an addition ----------------------------------------------------------------

def test_a_category_changed_to_another_is_one_change_with_the_old_name():
    (rec,) = _records("Text.\n[[Category:Painters]]\n", "Text.\n[[Category:Austrian painters]]\n")
    assert (rec.node_type, rec.action, rec.key, rec.old_key) == ("category", "changed", "Austrian painters", "Painters")


def test_an_unnamed_reference_whose_content_changed_is_one_change():
    (rec,) = _records("Claim.<ref>Smith 2001, p. 4.</ref>\n", "Claim.<ref>Smith 2001, p. 5.</ref>\n")
    assert (rec.node_type, rec.action) == ("reference", "changed") and rec.old_key != rec.key
    assert "p. 4." in rec.old_value and "p. 5." in rec.new_value


def test_two_templates_swapped_are_a_move():
    (rec,) = _records("Text.\n{{Commons category}}\n{{Authority control}}\n",
                      "Text.\n{{Authority control}}\n{{Commons category}}\n")
    assert (rec.node_type, rec.action) == ("template", "moved")  # either one moved past the other


def test_a_node_moved_to_another_section_is_a_move_and_its_nested_nodes_move_with_it():
    old = "{{Infobox|a=[[X]]}}\nLead.\n==Life==\nText.\n"
    new = "Lead.\n==Life==\n{{Infobox|a=[[X]]}}\nText.\n"
    recs = _records(old, new)
    assert [(r.node_type, r.action, r.section) for r in recs] == [("template", "moved", "Life")]


def test_an_unchanged_page_has_no_node_changes():
    text = CASES["bases"]["aigen"]
    assert changes(text, text) == []


# ---- template detail --------------------------------------------------------------------------------------------

def test_a_changed_template_names_its_parameters():
    (rec,) = _records("{{Cite web|url=http://a.org|title=A|date=2001}}\n",
                      "{{Cite web|url=http://a.org|title=B|access-date=2020}}\n")
    assert (rec.params_added, rec.params_removed, rec.params_changed) == (["access-date"], ["date"], ["title"])


def test_a_template_of_the_same_name_in_the_same_place_is_changed_however_much():
    # An intentional difference: mwedittypes calls this a removal plus an insertion.
    recs = _records("{{Redirect category shell|{{R from move}}{{R from CamelCase}}}}\n", "{{Redirect category shell}}\n")
    (rec,) = [r for r in recs if not r.container]
    assert (rec.key, rec.action, rec.params_removed) == ("Redirect category shell", "changed", ["1"])
    assert {(r.key, r.action, r.container) for r in recs if r.container} == {
        ("R from move", "removed", "template:Redirect category shell"),
        ("R from CamelCase", "removed", "template:Redirect category shell")}


# ---- sections --------------------------------------------------------------------------------------------------

def test_a_renamed_section_keeps_its_nodes():
    assert changes("Lead.\n==Works==\nSee [[Belvedere]].\n", "Lead.\n==Paintings==\nSee [[Belvedere]].\n") == [
        ("heading", "changed", "Paintings")]


def test_sections_added_removed_renamed_and_moved():
    base = "Lead.\n==Life==\nBorn.\n==Works==\nPaintings.\n"
    assert changes(base, base + "==Legacy==\nRemembered.\n") == [("heading", "added", "Legacy")]
    assert changes(base, "Lead.\n==Life==\nBorn.\n") == [("heading", "removed", "Works")]
    (rec,) = _records(base, base.replace("==Works==", "==Paintings=="))
    assert (rec.node_type, rec.action, rec.key, rec.old_key) == ("heading", "changed", "Paintings", "Works")
    (rec,) = _records(base, "Lead.\n==Works==\nPaintings.\n==Life==\nBorn.\n")
    assert (rec.node_type, rec.action) == ("heading", "moved")


def test_a_heading_whose_level_changed_is_changed():
    # An intentional difference: mwedittypes often calls this a removal plus an insertion.
    (rec,) = _records("Lead.\n==Life==\nBorn.\n", "Lead.\n===Life===\nBorn.\n")
    assert (rec.node_type, rec.action, rec.old_value, rec.new_value) == ("heading", "changed", "== Life ==",
                                                                         "=== Life ===")


# ---- a wiki's own namespace names ------------------------------------------------------------------------------

_ITWIKI = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="it">
<siteinfo><sitename>Wikipedia</sitename><dbname>itwiki</dbname>
<namespaces><namespace key="6" case="first-letter">File</namespace>
<namespace key="14" case="first-letter">Categoria</namespace></namespaces></siteinfo>
<page><title>Amen</title><ns>0</ns><id>7</id>
<revision><id>1</id><timestamp>2005-01-01T00:00:00Z</timestamp><contributor><username>A</username><id>1</id></contributor>
<text xml:space="preserve">Amen è una parola.</text></revision>
<revision><id>2</id><parentid>1</parentid><timestamp>2005-01-02T00:00:00Z</timestamp><contributor><username>B</username><id>2</id></contributor>
<text xml:space="preserve">Amen è una parola.
[[Categoria:Islam]]</text></revision>
</page></mediawiki>"""


def test_a_wikis_own_category_name_makes_a_category_not_a_link_and_text(tmp_path):
    """itwiki writes [[Categoria:Islam]]: read by the dump's siteinfo (and itwiki's alias table), it is a
    category, as [[Category:...]] is on English pages; the same text on a wiki without that name stays a link."""
    from revmine.pipeline.align import ClassicalAligner
    from revmine.pipeline.diff import DiffEngine
    from revmine.pipeline.pair import pair_revisions
    from revmine.pipeline.read import read_dump
    from revmine.schemas import NodeChange, RevisionPair, Sentence

    path = tmp_path / "itwiki.xml"
    path.write_text(_ITWIKI, encoding="utf-8")
    (pair,) = [r for r in pair_revisions(read_dump(str(path))) if isinstance(r, RevisionPair) and r.skip_reason is None]
    engine = DiffEngine(ClassicalAligner())
    records = engine.diff(pair)
    assert [(r.node_type, r.action, r.key) for r in records if isinstance(r, NodeChange)] == [
        ("category", "added", "Islam")]
    assert not [r for r in records if isinstance(r, Sentence)]  # no prose changed
    pair.namespaces, pair.wiki = None, "xxwiki"  # the same text on a wiki with English names only: a link,
    # cleaned apart from the itwiki sections in the shared cache
    assert [(r.node_type, r.key) for r in engine.diff(pair) if isinstance(r, NodeChange)] == [
        ("wikilink", "Categoria:Islam")]


_WIKTIONARY = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="en">
<siteinfo><sitename>Wiktionary</sitename><dbname>{dbname}</dbname><case>{case}</case>
<namespaces><namespace key="0" case="{case}" /><namespace key="14" case="{case}">Category</namespace></namespaces>
</siteinfo><page><title>apple</title><ns>0</ns><id>7</id>
<revision><id>1</id><timestamp>2005-01-01T00:00:00Z</timestamp><contributor><username>A</username><id>1</id></contributor>
<text xml:space="preserve">An [[apple]] is a fruit. {{{{en-noun}}}}</text></revision>
<revision><id>2</id><parentid>1</parentid><timestamp>2005-01-02T00:00:00Z</timestamp><contributor><username>B</username>
<id>2</id></contributor><text xml:space="preserve">An [[Apple]] is a fruit. {{{{En-noun}}}}</text></revision>
</page></mediawiki>"""


@pytest.mark.parametrize("dbname, case, changed", [
    ("enwiktionary", "case-sensitive", True),  # siteinfo says so
    ("xxwiki", "case-sensitive", True),  # any wiki whose siteinfo says so
    ("frwiktionary", "", True),  # every Wiktionary is case-sensitive, siteinfo or not
    ("enwiki", "first-letter", False),  # [[apple]] and [[Apple]] are one page
])
def test_a_case_sensitive_wiki_keeps_the_first_letter_of_titles(tmp_path, dbname, case, changed):
    """On a Wiktionary [[apple]] and [[Apple]] are two entries, and {{en-noun}} and {{En-noun}} two
    templates: a change between them was no change, since every title's first letter was capitalised."""
    from revmine.pipeline.align import ClassicalAligner
    from revmine.pipeline.diff import DiffEngine
    from revmine.pipeline.pair import pair_revisions
    from revmine.pipeline.read import read_dump
    from revmine.schemas import NodeChange, RevisionPair

    path = tmp_path / "dump.xml"
    path.write_text(_WIKTIONARY.format(dbname=dbname, case=case), encoding="utf-8")
    (pair,) = [r for r in pair_revisions(read_dump(str(path))) if isinstance(r, RevisionPair) and r.skip_reason is None]
    got = [(r.node_type, r.action, r.key, r.old_key) for r in DiffEngine(ClassicalAligner()).diff(pair)
           if isinstance(r, NodeChange)]
    # on a first-letter wiki the link is the same page, its text changed; the template is the same template
    assert got == ([("wikilink", "changed", "Apple", "apple"), ("template", "changed", "En-noun", "en-noun")]
                   if changed else [("wikilink", "changed", "Apple", None), ("template", "changed", "En-noun", None)])


def test_a_redirect_target_is_its_own_node():
    assert changes("Some text about [[Foo]].\n", "#REDIRECT [[Accessible_computing#History]]\n{{R from move}}\n") == [
        ("redirect", "added", "Accessible computing"), ("template", "added", "R from move"),
        ("wikilink", "removed", "Foo")]
    assert changes("#REDIRECT [[A]]\n", "#redirect:[[B|label]]\n") == [("redirect", "changed", "B")]
    assert changes("Text with #REDIRECT [[A]] inside.\n", "Text with #REDIRECT [[B]] inside.\n") == [
        ("wikilink", "changed", "B")]  # only at the start of a page


def test_a_languages_own_redirect_word_makes_a_redirect():
    """dewiki reads "#WEITERLEITUNG [[Ziel]]" as a redirect, itwiki "#RINVIA", jawiki "＃転送" (full-width), each
    beside "#REDIRECT", case-insensitive as MediaWiki's magic words are. They used to be a sentence and a link.
    On enwiki "#WEITERLEITUNG" is no magic word: the line stays text there, as MediaWiki renders it."""
    from revmine.pipeline.clean import Namespaces

    def added(wiki, text):
        names = Namespaces.of(None, wiki)
        new = clean_wikitext(text, names=names)
        old = clean_wikitext("Text.\n", names=names)
        return [(c.node_type, c.key) for c in node_changes(_Key(), old, new)], new.texts

    for wiki, text, target in (("dewiki", "#WEITERLEITUNG [[Berlin#Geschichte]]\n", "Berlin"),
                               ("dewikivoyage", "#weiterleitung:[[Berlin|Stadt]]\n", "Berlin"),
                               ("itwiki", "#RINVIA [[Amen]]\n", "Amen"),
                               ("itwiki", "#REDIRECT [[Amen]]\n", "Amen"),
                               ("jawiki", "＃転送 [[東京]]\n", "東京"),
                               ("ruwiki", "#перенаправление [[Москва]]\n", "Москва"),
                               ("ruwiki", "#ПЕРЕНАПР [[Москва]]\n", "Москва")):
        nodes, texts = added(wiki, text)
        assert nodes == [("redirect", target)] and not texts, (wiki, text, nodes, texts)
    nodes, texts = added("enwiki", "#WEITERLEITUNG [[Berlin]]\n")
    assert nodes == [("wikilink", "Berlin")] and texts
    nodes, texts = added("itwiki", "Testo: #RINVIA [[Amen]].\n")  # only at the start of a page
    assert nodes == [("wikilink", "Amen")] and texts


def test_a_languages_namespace_aliases_make_media_and_categories():
    """Old revisions use aliases that siteinfo does not list ("Immagine" on itwiki, "Bild" on dewiki);
    mwconstants' alias table for the wiki's language supplies them. On enwiki the same text is a link."""
    from revmine.pipeline.clean import Namespaces

    old, new = "Text.\n", ("Text.\n[[Immagine:Amen.jpg|thumb|Una foto]]\n[[CAT:Islam]]\n"
                           "<gallery>\nImmagine:Due.png|Altra\n</gallery>\n")
    it = Namespaces.of(None, "itwiki")
    got = {(c.node_type, c.key) for c in node_changes(_Key(), clean_wikitext(old, names=it), clean_wikitext(new, names=it))}
    assert got == {("media", "Amen.jpg"), ("category", "Islam"), ("gallery", "gallery"), ("media", "Due.png")}
    de = Namespaces.of(None, "dewiki")
    assert [c.node_type for c in node_changes(_Key(), clean_wikitext(old, names=de),
                                              clean_wikitext("Text.\n[[Bild:Karte.png|mini]]\n", names=de))] == ["media"]
    assert Namespaces.of(None, "enwiki") is Namespaces.of(None, "") and ("wikilink", "Bild:Karte.png") in {
        (c.node_type, c.key) for c in _records(old, "Text.\n[[Bild:Karte.png|mini]]\n")}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from("abc"), max_size=12), st.lists(st.sampled_from("abc"), max_size=12))
def test_shared_ends_are_found_as_a_plain_loop_finds_them(old, new):
    from revmine.pipeline.nodediff import _shared_run

    n, m = len(old), len(new)
    p = 0
    while p < n and p < m and old[p] == new[p]:
        p += 1
    s = 0
    while s < n - p and s < m - p and old[n - 1 - s] == new[m - 1 - s]:
        s += 1
    assert _shared_run(old, new, 0, 0, 1, min(n, m)) == p
    assert _shared_run(old, new, n - 1, m - 1, -1, min(n, m) - p) == s


def test_thousands_of_alike_nodes_are_matched_without_difflib_s_quadratic_matcher(monkeypatch):
    """12,000 nodes of two kinds, swapped in pairs: difflib's matcher took 29 s (four times as long at each
    doubling). Past MAX_DIFFLIB_ITEMS the node sequence is aligned by rapidfuzz, and nothing is lost: every
    node is still there, so the swap is a handful of moves, additions and removals at most."""
    import difflib

    from revmine.pipeline import seqdiff

    real = difflib.SequenceMatcher

    def bounded(junk, a, b, **kw):
        assert max(len(a), len(b)) <= seqdiff.MAX_DIFFLIB_ITEMS, f"difflib on {len(a)} x {len(b)} nodes"
        return real(junk, a, b, **kw)

    monkeypatch.setattr(seqdiff.difflib, "SequenceMatcher", bounded)
    old = clean_wikitext("Text. " + "{{a}} [[b]] " * 6_000)
    new = clean_wikitext("Text. " + "[[b]] {{a}} " * 6_000)
    changes = node_changes(_Key(), old, new)
    assert len(changes) <= 4 and all(c.action in ("moved", "added", "removed") for c in changes)


# ---- nodes are paired in place: an unchanged paragraph or line between them keeps them apart ----------------

@pytest.mark.parametrize("old, new", [
    ("Intro [[Alpha]] text.\n\nA plain paragraph.\n\nAnother one.\n\nEnd [[Gamma]] here.\n",
     "Intro text.\n\nA plain paragraph.\n\nAnother one.\n\nEnd [[Beta]] [[Gamma]] here.\n"),
    ("* [[Alpha]] one\n* two\n* three\n* [[Gamma]] four\n", "* one\n* two\n* three\n* [[Beta]] [[Gamma]] four\n"),
    ("{{Cite|a=1}} first.\n\nKept.\n\nLast.\n", "First.\n\nKept.\n\nLast {{Cite|a=2}}.\n"),
])
def test_a_node_removed_and_another_added_paragraphs_apart_are_not_one_change(old, new):
    """A link taken out of the lead and another put in three paragraphs on are a removal and an addition:
    an unchanged paragraph (or list line) between them anchors the match. mwedittypes says so for the list
    lines and calls the paragraphs' links one change; a same-named template is one change wherever it went
    (matched by name across the page), as before."""
    got = sorted((t, a) for t, a, _ in changes(old, new))
    kind = "template" if "Cite" in old else "wikilink"
    assert got == ([(kind, "changed")] if kind == "template" else [(kind, "added"), (kind, "removed")])


def test_a_node_replaced_in_its_paragraph_is_still_one_change():
    assert [(t, a) for t, a, _ in changes("A [[Alpha]] b.\n\nKept.\n", "A [[Beta]] b, now longer.\n\nKept.\n")] == [
        ("wikilink", "changed")]


_WORDS = ("river", "city", "music", "science", "people")


@st.composite
def _node(draw, kind=None):
    kind = kind or draw(st.sampled_from(sorted(_KINDS)))
    w = draw(st.sampled_from(_WORDS)).capitalize() + str(draw(st.integers(1, 30)))
    return kind, _KINDS[kind].format(w=w, v=draw(st.sampled_from(_WORDS)), t=w[:2])


# One node of each type, and nodes nested in templates, references, captions, tables and galleries
_KINDS = {"link": "[[{w}]]", "piped": "[[{w}|{v}]]", "template": "{{{{T{t}|a={v}}}}}", "ref": "<ref>{v} {w}</ref>",
          "named_ref": '<ref name="{t}">{v}</ref>', "ext": "[http://example.org/{w} {v}]", "cat": "[[Category:{w}]]",
          "media": "[[File:{w}.jpg|thumb|{v}]]", "interlanguage": "[[fr:{w}]]", "link_in_template": "{{{{Box{t}|x=[[{w}]]}}}}",
          "link_in_ref": "<ref>See [[{w}]]</ref>", "link_in_caption": "[[File:{w}.png|thumb|A [[{v}]] map]]",
          "table": "\n{{| class=wikitable\n| {w} || [[{v}]]\n|}}\n", "gallery": "\n<gallery>\nFile:{w}.jpg|{v}\n</gallery>\n"}


@st.composite
def _page(draw):
    """Paragraphs of words and nodes, under one or two headings: [[kind, text], ...] per paragraph."""
    paras = []
    for s in range(draw(st.integers(1, 2))):
        if s:
            eq = "=" * draw(st.integers(1, 3))  # level 1 ("= Head =") is a heading to the parser too
            paras.append([["heading", f"{eq} Head {draw(st.integers(1, 30))} {eq}"]])
        for _ in range(draw(st.integers(1, 3))):
            parts = []
            for _ in range(draw(st.integers(1, 5))):
                if draw(st.booleans()):
                    parts.append(list(draw(_node())))
                parts.append(["text", " ".join(draw(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4))) + "."])
            paras.append(parts)
    return paras


def _text(paras) -> str:
    return "\n\n".join(" ".join(s for _, s in parts) for parts in paras) + "\n"


@st.composite
def _node_edit(draw, paras, where=None):
    """`paras` with one node added, removed or changed (in paragraph `where`, if given)."""
    paras = [[list(p) for p in parts] for parts in paras]
    spots = [(i, j) for i, parts in enumerate(paras) for j, (k, _) in enumerate(parts) if k != "text"
             and (where is None or i == where)]
    texts = [(i, j) for i, parts in enumerate(paras) for j, (k, _) in enumerate(parts) if k == "text"
             and (where is None or i == where)]
    op = draw(st.sampled_from(["add"] if not spots else ["change"] if not texts else ["add", "remove", "change"]))
    if op == "add":
        i, j = draw(st.sampled_from(texts))
        paras[i].insert(j + 1, list(draw(_node())))
    else:
        i, j = draw(st.sampled_from(spots))
        kind = paras[i][j][0]
        if op == "remove":
            del paras[i][j]
        elif kind == "heading":
            eq = "=" * draw(st.integers(1, 3))
            paras[i][j] = ["heading", f"{eq} Head {draw(st.integers(31, 60))} {eq}"]
        else:
            paras[i][j] = list(draw(_node(kind)))
    return paras


def _moves_left_out(counts):
    return {t: {a: n for a, n in acts.items() if a != "moved"} for t, acts in counts.items()
            if any(a != "moved" for a in acts)}


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_any_single_node_edit_counts_as_mwedittypes_counts_it(data):
    """mwedittypes is the oracle: one node added, removed or changed anywhere in a generated page gives the
    same counts per node type and action from both tools."""
    pytest.importorskip("mwedittypes")
    base = data.draw(_page())
    old, new = _text(base), _text(data.draw(_node_edit(base)))
    assert revmine_counts(old, new) == _moves_left_out(mwedittypes_counts(old, new)[0]), (old, new)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_edits_an_unchanged_paragraph_apart_count_as_each_alone(data):
    """Two node edits with an unchanged paragraph between them report what each reports alone: nothing
    pairs across the anchor. (mwedittypes itself varies here, so revmine's single edits, checked against
    it above, are the oracle.) Edits that touch nodes of the same type and key are left out: an identical
    node is a move, and a same-named one a change, wherever they went."""
    base = data.draw(_page().filter(lambda p: len(p) >= 3))
    first = data.draw(st.integers(0, len(base) - 3))
    second = data.draw(st.integers(first + 2, len(base) - 1))
    one = data.draw(_node_edit(base, where=first))
    both = data.draw(_node_edit(one, where=second))
    two = [both[i] if i == second else base[i] for i in range(len(base))]
    alone = [_records(_text(base), _text(new)) for new in (one, two)]
    touched = [{(c.node_type, k) for c in recs for k in (c.key, c.old_key) if k} for recs in alone]
    assume(not touched[0] & touched[1])
    counted = [Counter((c.node_type, c.action) for c in recs) for recs in alone]
    assert Counter((t, a) for t, a, _ in changes(_text(base), _text(both))) == \
        counted[0] + counted[1], (_text(base), _text(both))


def test_two_identical_paragraphs_do_not_swap_and_move_an_unchanged_link():
    """A category added to the first of two identical paragraphs and to a third: difflib matched the unchanged
    second paragraph to the first, and its external link came out moved (found by the property test above)."""
    para = "[http://example.org/River1 river] river."
    old = f"{para}\n\n{para}\n\nriver.\n"
    new = f"{para} [[Category:River1]]\n\n{para}\n\nriver. [[Category:River2]]\n"
    assert Counter((t, a) for t, a, _ in changes(old, new)) == {("category", "added"): 2}
