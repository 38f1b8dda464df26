"""Wikitext cleaning: what is dropped, what is kept, offsets, and inputs that must not hang or crash."""
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from revmine.pipeline import clean
from revmine.pipeline.clean import SectionCache, WikitextError, clean_section, clean_wikitext, split_sections, text_sentences

ARTICLE = """{{Infobox person
| name = Ada Lovelace
| birth_date = {{birth date|1815|12|10}}
}}
'''Ada Lovelace''' was an English [[mathematician]] and [[Writing|writer]].<ref name="toole">{{cite book|last=Toole|year=1998}}</ref> She is known for work on the [[Analytical Engine]].

[[File:Ada Lovelace portrait.jpg|thumb|Portrait of Ada]]
{| class="wikitable"
! Year !! Event
|-
| 1843 || Notes published
|}

== Early life ==
<!-- hidden comment -->She was born in London. Her father was [[Lord Byron]].{{citation needed|date=May 2020}}
See [http://example.org the archive] and &amp; more.

[[Category:1815 births]]
[[fr:Ada Lovelace]]
"""


def test_drops_structure_and_keeps_link_text():
    doc = clean_wikitext(ARTICLE)
    texts = [s.text for s in doc.sentences]
    assert texts == [
        "Ada Lovelace was an English mathematician and writer.",
        "She is known for work on the Analytical Engine.",
        "She was born in London.",
        "Her father was Lord Byron.",
        "See the archive and & more.",
    ]
    assert all(tok not in doc.text for tok in ("{{", "Infobox", "cite", "thumb", "1843", "Category", "fr:", "hidden"))


def test_sections_and_offsets():
    doc = clean_wikitext(ARTICLE)
    assert [(s.section_idx, s.section) for s in doc.sentences][2] == (1, "Early life")
    for s in doc.sentences:
        assert doc.text[s.start:s.end] == s.text


def test_nodes_are_collected():
    nodes = {(n.type, n.key) for sec in clean_wikitext(ARTICLE).sections for n in sec.nodes}
    assert {("template", "Infobox person"), ("template", "Citation needed"), ("wikilink", "Mathematician"),
            ("wikilink", "Writing"), ("reference", "toole"), ("media", "Ada Lovelace portrait.jpg"),
            ("category", "1815 births"), ("external_link", "http://example.org"), ("table", "table")} <= nodes


def test_heading_inside_template_does_not_split_it():
    text = "Intro.\n{{Quote box|\n== not a heading ==\n}}\n== Real ==\nBody text here."
    pieces = split_sections(text)
    assert len(pieces) == 2 and pieces[1].startswith("== Real")


def test_a_table_whose_first_line_holds_a_mid_line_closer_is_not_cut_at_the_heading_inside_it():
    """Only a "|}" that starts its line closes a table: the parser reads this table on past the heading."""
    import mwparserfromhell

    text = "Lead.\n{| a |}\nText.\n== H ==\nMore.\n|}\nEnd.\n"
    assert [type(n).__name__ for n in mwparserfromhell.parse(text).nodes] == ["Text", "Tag", "Text"]
    assert split_sections(text) == [text]
    closed = "Lead.\n{| a\n|}\nText.\n== H ==\nMore.\n"
    assert len(split_sections(closed)) == 2


def test_section_cache_reuses_unchanged_sections():
    cache = SectionCache()
    clean_wikitext(ARTICLE, cache)
    doc = clean_wikitext(ARTICLE.replace("born in London", "born in Marylebone, London"), cache)
    assert doc.parsed == 1 and cache.hits == 1  # the lead came from the cache; only "Early life" was parsed


def test_deeply_nested_templates_terminate():
    text = "Lead sentence here. " + "{{a|" * 300 + "x" + "}}" * 300 + " Tail sentence here."
    start = time.perf_counter()
    doc = clean_wikitext(text)
    assert time.perf_counter() - start < 10
    assert "Lead sentence here." in doc.text


def test_unclosed_tags_and_brackets_terminate():
    text = "Start of text. <ref>never closed [[link without end {{tmpl without end <div><span> '''bold\n\nNext para."
    start = time.perf_counter()
    doc = clean_wikitext(text * 50)
    assert time.perf_counter() - start < 10
    assert doc.sentences  # something readable survives


# Markup whose every opener stays open: mwparserfromhell's tokenizer goes back over the rest of the text
# from each one. The C tokenizer took 20 s, about 110 s, 10 s and 50 s on these (time quadratic in length).
BACKTRACKING = {"unclosed refs": "<ref>" * 20_000, "template parameters": "{{a|b=" * 12_000,
                "external links": "[http://x " * 10_000, "unterminated tags": '<ref name="' * 8_000,
                "closers before openers": "}}" * 6_000 + "{{a|b=" * 6_000}


@pytest.mark.parametrize("text", BACKTRACKING.values(), ids=BACKTRACKING)
def test_markup_that_makes_the_tokenizer_backtrack_is_refused_with_its_reason(text):
    with pytest.raises(WikitextError) as exc:
        clean_wikitext("Lead sentence.\n\n" + text)
    assert exc.value.reason == "markup_too_costly" and "reads for" in exc.value.detail


def test_open_markup_that_costs_little_is_cleaned_and_closed_markup_is_not_measured(monkeypatch):
    """Broken but cheap markup (a few unclosed constructs, or many over a short text) is cleaned as before,
    and a long table that closes what it opens never pays for the measurement."""
    broken = "Start of text. <ref>never closed [[link without end {{tmpl without end <div><span> x\n\nNext para."
    assert clean_wikitext(broken * 50).sentences
    assert clean_wikitext("Intro. <ref>open " + "A sentence with [[a link]] and {{tl|x}}. " * 3_000).sentences

    def measured(text):
        raise AssertionError("check_cost ran on a well-formed table")

    monkeypatch.setattr(clean, "check_cost", measured)
    table = '{| class="wikitable"\n' + "".join(f"|-\n| [[Link {i}|b]] || [http://x.org/{i} t] || {{{{flag|X}}}} "
                                               f'<ref name="r{i}">cite</ref>\n' for i in range(2_000)) + "|}\n"
    assert clean_wikitext(table).sections[0].nodes


_MARKUP = st.lists(st.sampled_from(["{{", "}}", "[[", "]]", "[", "]", "<ref>", "</ref>", '<ref name="', "<div>",
                                    "</div>", "{|", "\n|}", "|", "=", "<!--", "-->", "http://x.org ", "word ",
                                    "\n", "''", "&amp;", "<br/>", "\n==h==\n"]), max_size=40).map("".join)


@settings(max_examples=150, deadline=None)
@given(_MARKUP)
def test_the_counting_tokenizer_is_the_library_s(text):
    """The cost check counts reads in the library's Python tokenizer: it must still tokenize as the C one."""
    from mwparserfromhell.parser import CTokenizer

    from revmine.pipeline.wikiparse import _CountingTokenizer

    assert _CountingTokenizer(10 ** 9).tokenize(text, 0, True) == CTokenizer().tokenize(text, 0, True)


def test_splitting_an_unterminated_tag_run_takes_linear_time():
    """Tag patterns stop at "<": `<ref[^>/]*>` scanned to the end of the text from each "<ref" (990 KB of
    them: 267 s). A subprocess, so the old pattern fails by its timeout instead of stalling the suite."""
    code = "from revmine.pipeline.clean import split_sections; print(len(split_sections('<ref name=\"' * 90_000)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "1"


def test_an_opener_never_closed_does_not_swallow_the_sections_after_it():
    """An unclosed `{{` or `<ref>` is text to the parser, so later headings still start sections, as
    mwparserfromhell sees them; the templates and refs after it, closed on their own, do not change that."""
    import mwparserfromhell

    for broken in ("Lead {{Infobox broken\n", "Lead <ref>never closed\n"):
        text = broken + "== History ==\nOld times. {{cite|a}}\n== Today ==\nNew times.<ref>b</ref>\n"
        titles = [s.title for s in clean_wikitext(text).sections]
        assert titles[1:] == ["History", "Today"], titles
        assert len(mwparserfromhell.parse(text).filter_headings(recursive=False)) == 2
    # A closer later on may close it: the sections stay merged, as before.
    assert len(split_sections("Lead {{a|\n== H ==\nx }}\n== K ==\ny\n")) == 2


def test_huge_table_is_dropped_quickly():
    rows = "\n".join(f"|-\n| cell {i} || value {i} || [[Link {i}]]" for i in range(20000))
    text = "Before the table.\n{| class=\"wikitable\"\n" + rows + "\n|}\nAfter the table."
    start = time.perf_counter()
    doc = clean_wikitext(text)
    assert time.perf_counter() - start < 30
    assert [s.text for s in doc.sentences] == ["Before the table.", "After the table."]


def test_oversized_section_is_refused():
    from revmine.pipeline.clean import MAX_SECTION_CHARS, WikitextError

    with pytest.raises(WikitextError) as exc:
        clean_section("x" * (MAX_SECTION_CHARS + 1))
    assert exc.value.reason == "section_too_large"


def test_plain_text_sentences_have_offsets():
    text = "First paragraph. It has two sentences.\n\nSecond paragraph here."
    sents = text_sentences(text)
    assert [s.text for s in sents] == ["First paragraph.", "It has two sentences.", "Second paragraph here."]
    assert [s.para_idx for s in sents] == [0, 0, 1]
    assert all(text[s.start:s.end] == s.text for s in sents)


# ---- markup that must never reach a sentence (benchmarks/cleaning_fidelity.py counts it on Anarchism) -------

def _sentences(raw):
    from revmine.pipeline.clean import clean_section

    return list(clean_section(raw).sent_texts)


def test_a_stray_ref_tag_never_reaches_a_sentence():
    # A self-closed ref followed by the citation and a closing tag of its own: the parser pairs nothing.
    raw = 'Tucker argued so.<ref name="tp"/>Tucker, B. \'\'"[http://x.org Liberty or Authority]"\'\'</ref>. Instead.'
    assert not any("ref>" in s for s in _sentences(raw))
    assert _sentences("Aristippus said so.<ref>A website declaring that\n") == [
        "Aristippus said so.", "A website declaring that"]


def test_empty_brackets_around_a_dropped_bare_link_are_removed():
    raw = "Antifascism in France, 1933-39 [[http://melior.example.org/fascism.html]]\n"
    assert _sentences(raw) == ["Antifascism in France, 1933-39"]


def test_a_dash_template_keeps_the_words_apart():
    raw = "* [http://www.anarchism.net/ Anarchism.net]{{ndash}}a pluralist resource on anarchism\n"
    assert _sentences(raw) == ["Anarchism.net–a pluralist resource on anarchism"]


def test_dropped_nodes_between_words_leave_a_space_and_wrapping_templates_keep_their_text():
    assert _sentences("Word{{cn}}word here. It is {{nowrap|10 km}} long, {{lang|fr|la vie}}, {{lang-de|Leben}}.") == [
        "Word word here.", "It is 10 km long, la vie, Leben."]
    assert _sentences("He said so{{citation needed}}. Then left.") == ["He said so.", "Then left."]
    assert _sentences("A claim.<ref>Source.</ref>Next sentence here.") == ["A claim.", "Next sentence here."]


def test_an_unclosed_italic_inside_a_reference_does_not_leak_the_citation():
    # mwparserfromhell, reading '' as markup, gives up on the first <ref> and lets the italic run on.
    raw = ("Herbert.<ref>[[Anne Brown|Brown]], Anne [http://example.org/b.html ''Some Title: A Reading List], "
           "([[May 3]] [[2001]]).</ref> Critics of them say they are trying to \"jump on the train\", especially "
           "when they are seen with people who are usually thought of as rivals.<ref>Smith, Ian; Doe, Jo ''\n")
    assert _sentences(raw) == ["Herbert.", 'Critics of them say they are trying to "jump on the train", especially '
                               "when they are seen with people who are usually thought of as rivals.",
                               "Smith, Ian; Doe, Jo"]  # an unclosed <ref> is shown as text by MediaWiki too


def test_bold_and_italic_quotes_are_not_text():
    assert _sentences("'''Ada''''s''' work is ''well'' known.") == ["Ada's work is well known."]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["== A ==", "=== B ===", "=C=", "==", "text", "= x =", " == y ==", "==z== ",
                                 "==a=b==", "\r", "", "{{t|\n== in ==\n}}", "=\t="]), max_size=12),
       st.sampled_from(["\n", "\r\n", "\n\n"]))
def test_heading_starts_equal_the_regex_scan(lines, sep):
    """The str.find shortcut finds exactly the heading lines the multiline regex finds."""
    from revmine.pipeline.clean import _HEADING_LINE, heading_starts

    text = sep.join(lines)
    assert heading_starts(text) == [m.start() for m in _HEADING_LINE.finditer(text)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["= One =", "== Two ==", "=== Three ===", "== Noted == <!-- keep -->", "=== Uneven ==",
                                 "Some text.", "More words here.",
                                 "<pre>\n== In pre ==\n</pre>", "<nowiki>\n= In nowiki =\n</nowiki>",
                                 "<syntaxhighlight lang=ini>\n== In code ==\n</syntaxhighlight>",
                                 "<math>\n= x =\n</math>", "{{t|\n== In template ==\n}}", "<!--\n== In comment ==\n-->",
                                 "<ref>\n== In ref ==\n</ref>", "{{t|<nowiki>}}</nowiki>", "{{t|<pre>}}</pre>", "}}",
                                 "</ref>", ""]), max_size=12))
def test_sections_start_at_the_headings_the_parser_finds(lines):
    """mwparserfromhell as the oracle: on well-formed markup the sections lead with exactly its top-level
    headings. "= One =" (level 1), a heading with a comment after it and one with more "=" on one side
    were prose inside the section before it, a heading line inside <pre>,
    <nowiki>, <syntaxhighlight> or <math> started a section of its own, and a "}}" inside such a tag
    closed the template around it, so a heading inside the template started one too."""
    import mwparserfromhell

    from revmine.pipeline.clean import split_sections

    text = "\n".join(lines)
    ours = [c.heading for c in (clean_section(p) for p in split_sections(text)) if c.level]
    assert ours == [str(h.title).strip() for h in mwparserfromhell.parse(text).filter_headings(recursive=False)]


def test_the_cache_splits_sections_exactly_as_the_bracket_count_does():
    """The cache takes a piece it cleaned before as balanced; an unbalanced rest at the end of one revision
    must not be taken so in the next, where a later section closes its template."""
    cache = SectionCache()
    first = "Lead.\n== A ==\n{{Box|\n"
    second = first + "== B ==\n}}\n"
    for text in (first, second, first, second):
        doc = clean_wikitext(text, cache)
        assert doc.section_keys == clean_wikitext(text).section_keys
        assert len(doc.sections) == len(split_sections(text))


def _whole(section):
    return (section.title, section.text, section.n_paragraphs, section.sent_texts, section.sent_spans, section.level,
            section.heading, tuple((n.type, n.key, n.value, n.digest, n.container, n.params) for n in section.nodes))


@pytest.mark.parametrize("raw", [
    "== Life ==\nBorn here.<ref name=a>Smith.</ref>\n\nMoved [[London|there]].\n\n\n{{Infobox|a=1}} Later.\n",
    "Intro.\n\n<div style='x'>\nInside.\n\nStill inside.\n</div>\n\nAfter.\n",
    "Intro.\n\n{|\n| a\n\n| b\n|}\n\nAfter [[File:X.png|thumb|A\n\ncaption]].\n\nEnd.\n",
    "<p>Unclosed paragraph.\n\nNext one.\n\n<!-- a comment\n\nover a blank line -->Text.\n",
    "#REDIRECT [[Target]]\n\n{{R from move}}\n",
    # a ref whose name swallowed its ">" (URL-encoded by a bot): the parser reads on to the next "<",
    # past the blank line, so the blank line is no cut (the full Anarchism history has 7 such sections)
    "One.<ref name=a%26gt%3B Cite one.</ref>\n\nTwo.<ref name=b%26gt%3B Cite two.</ref>\n",
    "A list:\n* one <span title='x\n* two'>b</span>\n* three\n",
])
def test_a_section_cleaned_block_by_block_is_the_same_section(raw):
    from revmine.pipeline.clean import BlockCache

    assert _whole(clean_section(raw, blocks=BlockCache())) == _whole(clean_section(raw))


def test_block_by_block_cleaning_agrees_on_every_section_of_real_dumps(shared_data):
    """The differential check behind cleaning by blocks: every distinct section of these dumps (an old and a
    recent Anarchism slice, itwiki, aawiki, Commons, Simple English) cleans to the same CleanSection."""
    from revmine.pipeline.clean import BlockCache, WikitextError
    from revmine.pipeline.read import read_dump
    from revmine.schemas import Revision

    blocks, seen, compared = BlockCache(1024), set(), 0  # small: the suite's process keeps its peak memory
    for name in ("enwiki-Anarchism-revs-last-500.xml.bz2", "itwiki-Amen-history.xml.gz",
                 "aawiki-20260101-pages-meta-history.xml.7z", "commonswiki-sample-0.11.xml",
                 "simplewiki-sample-0.11.xml", "enwiki-Anarchism-revs-0000-0999.xml.bz2"):
        for rev in read_dump(str(shared_data / "wikipedia" / name)):
            if not isinstance(rev, Revision) or not rev.text or rev.source_ordinal % 4:
                continue
            for raw in split_sections(rev.text):
                if hash(raw) in seen:
                    continue
                seen.add(hash(raw))
                try:
                    expected = _whole(clean_section(raw))
                except WikitextError:
                    continue
                assert _whole(clean_section(raw, blocks=blocks)) == expected, (name, rev.rev_id, raw[:200])
                compared += 1
    assert compared > 1000 and blocks.hits > 0


def test_an_unclosed_tag_at_the_top_of_a_long_section_keeps_splitting_linear():
    from revmine.pipeline.clean import BlockCache, split_blocks

    raw = "<div>\n\n" + "Paragraph of text.\n\n" * 20_000 + "</div>\n\nAfter.\n"
    parts = split_blocks(raw)
    assert "".join(parts) == raw and len(parts) == 1  # given up after 16 open checks, not cut after </div>
    short = "<div>\n\nOne.\n\nTwo.\n\n</div>\n\nThree.\n\nFour.\n"
    assert split_blocks(short) == ["<div>\n\nOne.\n\nTwo.\n\n</div>\n\n", "Three.\n\n", "Four.\n"]
    assert _whole(clean_section(short, blocks=BlockCache())) == _whole(clean_section(short))


def test_no_block_ends_inside_a_tag_whose_content_is_text():
    # Inside <math>, <nowiki>, <pre> and the parser's other plain-text tags a closer closes nothing, so the
    # blocks are cut where the parser's nodes end.
    from revmine.pipeline.clean import split_blocks

    assert split_blocks("<poem><math></poem></math>\n\nA.\n\n</poem>\n\nB.") == [
        "<poem><math></poem></math>\n\nA.\n\n</poem>\n\n", "B."]
    assert split_blocks("{{a|<math>}}</math>\n\nb}}\n\nText.") == ["{{a|<math>}}</math>\n\nb}}\n\n", "Text."]
    # and what such a tag hides does not hold the rest of the section in one block
    assert split_blocks("<nowiki><ref></nowiki>\n\nText.\n\nMore.") == ["<nowiki><ref></nowiki>\n\n", "Text.\n\n",
                                                                          "More."]


_MARKUP = ["{{", "}}", "{{cite|a=", "[[", "]]", "[[File:X.png|thumb|", "<div>", "</div>", "<ref>", "</ref>",
           "<ref name=a/>", "\n\n", "\n", "\n\n\n", "== H ==\n", "Text here. ", "More words", "'''", "''", "{|", "|}",
           "|-", "<!--", "-->", "[http://x.org y]", "[http://x.org", "<p>", "|", "=", "* ", "<poem>", "</poem>", "<br>",
           "<math>", "</math>", "[[Category:C]]", "{{{1}}}", "<nowiki>", "</nowiki>", "<pre>", "</pre>", ":", ";",
           "#REDIRECT [[T]]", "<noinclude>", "</noinclude>", "<includeonly>", "</includeonly>", "<onlyinclude>"]


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(_MARKUP), max_size=40))
@example(["\n\n", "#REDIRECT [[T]]"])  # a redirect after blank lines still leads the page
@example(["=", "\n\n", "== H ==\n"])  # a lone "=" line before the heading: the heading does not lead
@example(["=", "\n", "== H ==\n"])
@example(["\n\n", "== H ==\n"])  # blank lines before a heading: the heading's block is still the first
@example(["</ref>", "<ref>", "\n\n", "</ref>"])  # a stray closer does not close what opens after it
@example(["}}", "{{", "\n\n", "}}"])
@example(["{|", "|}", "\n\n", "|}"])  # "|}" on the "{|" line closes nothing: the table runs on
@example(["]]", "[[", "\n\n", "]]"])
@example(["-->", "<!--", "\n\n", "-->"])
@example(["</div>", "<div>", "\n\n", "</div>"])
@example(["<poem>", "<math>", "</poem>", "</math>", "\n\n", "</poem>"])  # math's content is text: poem runs on
@example(["{{cite|a=", "<math>", "}}", "</math>", "\n\n", "}}"])
def test_any_markup_cleans_the_same_block_by_block(parts):
    from revmine.pipeline.clean import BlockCache, WikitextError

    raw = "".join(parts)
    try:
        expected = _whole(clean_section(raw))
    except WikitextError:
        return
    assert _whole(clean_section(raw, blocks=BlockCache())) == expected


_CONVERTER_MARKUP = _MARKUP + ["-{", "}-", "-{zh-hans:", "; zh-hant:", "H|", "R|", "=>", "-{[[T]]}-"]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(_CONVERTER_MARKUP), max_size=40))
@example(["-{zh-hans:", "\n\n", "; zh-hant:", "}-"])  # converter markup across a blank line stays one block
@example(["}}", "-{zh-hans:", "\n\n", "}-"])  # the "}-" of "}}-{" closes nothing (counting them said it did)
def test_language_converter_markup_cleans_the_same_block_by_block(parts):
    """On a wiki that reads `-{…}-`, cleaning block by block still equals cleaning the whole section."""
    from revmine.pipeline.clean import BlockCache, Namespaces, WikitextError

    raw, zh = "".join(parts), Namespaces.of(None, "zhwiki")
    try:
        expected = _whole(clean_section(raw, zh))
    except WikitextError:
        return
    assert _whole(clean_section(raw, zh, blocks=BlockCache())) == expected


def _tree(code) -> list:
    return [(type(n).__name__, str(n)) for n in code.filter(recursive=True)]


def _library_and_fast_trees(raw: str) -> tuple[list, list]:
    from revmine.pipeline import wikiparse

    fast = _tree(wikiparse.parse(raw))
    assert wikiparse.fast_path(False) > 0
    try:
        library = _tree(wikiparse.parse(raw))
    finally:
        wikiparse.fast_path(True)
    return library, fast


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(_MARKUP), max_size=40))
def test_the_parser_fast_path_builds_the_library_s_trees(parts):
    library, fast = _library_and_fast_trees("".join(parts))
    assert fast == library


def test_the_parser_fast_path_builds_the_library_s_trees_on_a_real_dump(shared_data):
    from revmine.pipeline.read import read_dump
    from revmine.schemas import Revision

    checked = 0
    for rev in read_dump(str(shared_data / "wikipedia" / "enwiki-Anarchism-revs-last-500.xml.bz2")):
        if isinstance(rev, Revision) and rev.text and rev.source_ordinal % 50 == 0:
            library, fast = _library_and_fast_trees(rev.text)
            assert fast == library and len(fast) > 100
            checked += 1
    assert checked >= 10


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.lists(st.sampled_from(_MARKUP), max_size=12).map("".join), max_size=8))
def test_the_block_cache_s_balance_check_is_the_plain_one(texts):
    from revmine.pipeline.clean import BlockCache, _block_balanced, split_blocks

    blocks = BlockCache(4)  # small: the memory is cleared along the way
    for raw in texts * 2:  # every text twice: the second time from memory
        assert blocks.balanced(raw) == _block_balanced(raw)
        assert split_blocks(raw, blocks.balanced) == split_blocks(raw)


@pytest.mark.parametrize("text, sentences", [
    ("__NOTOC__\nSome text here.\n", ["Some text here."]),
    ("Some text. __NOEDITSECTION__\n", ["Some text."]),
    ("__notoc__\nText here.\n", ["Text here."]),  # MediaWiki matches this one in any case
    ("__NOTOC____NOEDITSECTION__\nText.\n", ["Text."]),  # two side by side, as aawiki's main page has them
    ("__KEIN_INHALTSVERZEICHNIS__\nEin Satz hier.\n", ["Ein Satz hier."]),  # localised: dewiki
    ("__بیفهرست__\nمتن.\n", ["متن."]),  # localised, in a script without case: fawiki
    ("The __init__ method runs first.\n", ["The __init__ method runs first."]),  # prose, not a switch
    ("Use __ to mark __ things.\n", ["Use __ to mark __ things."]),
])
def test_behaviour_switches_are_not_prose(text, sentences):
    """MediaWiki takes `__NOTOC__`, `__TOC__`, `__INDEX__` and their localised names out of the page; each
    was a sentence of its own (the Anarchism history and aawiki's main page have them)."""
    assert clean_wikitext(text).texts == sentences


@pytest.mark.parametrize("text, sentences", [
    ("-{zh-hans:计算机; zh-hant:電腦}-是一种机器。\n", ["计算机是一种机器。"]),  # one variant: the first
    ("-{zh-cn:软件; zh-tw:軟體;}-很好。\n", ["软件很好。"]),
    ("-{A|zh-hans:计算机; zh-hant:電腦}-很好。\n", ["计算机很好。"]),
    ("这是-{[[计算机]]}-的文章。\n", ["这是计算机的文章。"]),  # text as written; the link still a link
    ("-{R|raw text}- here.\n", ["raw text here."]),
    ("-{T|zh-hans:标题; zh-hant:標題}-正文在此。\n", ["正文在此。"]),  # the page title: not shown in place
    ("-{H|zh-hans:计算机; zh-hant:電腦;}-正文。\n", ["正文。"]),  # a hidden rule
    ("-{电脑=>zh-tw:電腦;}-很好。\n", ["电脑很好。"]),  # one-way rule: its source text
    ("-{外-{内}-层}-。\n", ["外内层。"]),
    ("<nowiki>-{x}-</nowiki>保留。\n", ["-{x}-保留。"]),  # plain text inside nowiki
])
def test_language_converter_markup_shows_what_mediawiki_shows(text, sentences):
    """On zhwiki (and srwiki, kkwiki, … whose language MediaWiki converts), `-{…}-` shows one variant or the
    text as written; the markup and every variant were prose. On enwiki `-{` is text, as MediaWiki shows it."""
    from revmine.pipeline.clean import Namespaces

    assert clean_wikitext(text, names=Namespaces.of(None, "zhwiki")).texts == sentences
    en = Namespaces.of(None, "enwiki")
    assert clean_wikitext("-{Unconverted}- text.\n", names=en).texts == ["-{Unconverted}- text."]
    assert Namespaces.of(None, "srwiki").converter and not Namespaces.of(None, "zh_classicalwiki").converter


@pytest.mark.parametrize("paragraph, sentences", [
    ("यह पहला वाक्य है। यह दूसरा वाक्य है।", ["यह पहला वाक्य है।", "यह दूसरा वाक्य है।"]),  # Hindi danda
    ("এটি প্রথম বাক্য। এটি দ্বিতীয় বাক্য।", ["এটি প্রথম বাক্য।", "এটি দ্বিতীয় বাক্য।"]),  # Bengali
    ("Սա առաջին նախադասությունն է։ Սա երկրորդն է։", ["Սա առաջին նախադասությունն է։", "Սա երկրորդն է։"]),  # Armenian
    ("ይህ የመጀመሪያው ነው። ይህ ሁለተኛው ነው።", ["ይህ የመጀመሪያው ነው።", "ይህ ሁለተኛው ነው።"]),  # Ethiopic
    ("First one. Second one.", ["First one.", "Second one."]),
    ("अंत।", ["अंत।"]),
    ("Αυτή είναι η δεύτερη; Ναι, είναι.", ["Αυτή είναι η δεύτερη;", "Ναι, είναι."]),  # Greek question mark
    ("Ήταν α; β και γ μαζί.", ["Ήταν α; β και γ μαζί."]),  # a semicolon before a small letter: no end
    ("The angle θ; then x.", ["The angle θ; then x."]),
])
def test_sentences_end_at_the_full_stops_of_other_scripts(paragraph, sentences):
    """blingfire ends no sentence at the danda, the Armenian, Ethiopic, Myanmar, Khmer and Tibetan full stops
    or the Greek question mark: a paragraph of Hindi was one sentence."""
    from revmine.pipeline.clean import split_sentences

    assert [paragraph[a:b] for a, b in split_sentences(paragraph)] == sentences


@pytest.mark.parametrize("paragraph, sentences", [
    ("他说：“我来了。”然后他走了。", ["他说：“我来了。”", "然后他走了。"]),  # the closing quote with its stop
    ("这是第一句（注释。）这是第二句。", ["这是第一句（注释。）", "这是第二句。"]),
    ("彼は「行きます。」と言った。次の文です。", ["彼は「行きます。」", "と言った。", "次の文です。"]),  # as UAX #29
    ("Il a dit : « Je viens. » Puis il est parti.", ["Il a dit : « Je viens. »", "Puis il est parti."]),
    ("我来了。“你好”他说。", ["我来了。", "“你好”他说。"]),  # an opener after a stop opens the next sentence
    ("ᱱᱚᱶᱟ ᱯᱟᱹᱦᱤᱞ ᱠᱟᱱᱟ᱾ ᱱᱚᱶᱟ ᱫᱚᱥᱟᱨ ᱠᱟᱱᱟ᱾", ["ᱱᱚᱶᱟ ᱯᱟᱹᱦᱤᱞ ᱠᱟᱱᱟ᱾", "ᱱᱚᱶᱟ ᱫᱚᱥᱟᱨ ᱠᱟᱱᱟ᱾"]),  # Ol Chiki (satwiki)
    ("ꦲꦶꦏꦸ꧉ ꦲꦶꦏꦸ꧉", ["ꦲꦶꦏꦸ꧉", "ꦲꦶꦏꦸ꧉"]),  # Javanese pada lungsi
    ("ဤသည် ပထမ၊ စာကြောင်း ဖြစ်သည်။ ဒုတိယ ဖြစ်သည်။", ["ဤသည် ပထမ၊ စာကြောင်း ဖြစ်သည်။", "ဒုတိယ ဖြစ်သည်။"]),  # ၊ is a comma
    ('He said "Go home." Then he left.', ['He said "Go home."', "Then he left."]),
])
def test_a_sentence_keeps_the_closers_after_its_stop(paragraph, sentences):
    """blingfire split "他说：“我来了。”然后他走了。" before the closing quote and "« Je viens. » Puis" before the
    guillemet, so the next sentence began with the quote of the one before; and it ends no sentence at most
    of Unicode's sentence terminals (Ol Chiki, Javanese, Mongolian, …)."""
    from revmine.pipeline.clean import split_sentences

    assert [paragraph[a:b] for a, b in split_sentences(paragraph)] == sentences


_HAN = "北京是中国的首都上海最大城市你知道吗东京日本大阪"
_STOPS_OF_OTHER_SCRIPTS = "।॥։።፧။។᱾᠃꧉߹"


@st.composite
def _quoted_sentences(draw):
    """Han sentences, some ending in a quoted or bracketed clause with the stop inside the closer; or words
    of any letters ended by the sentence terminals of other scripts."""
    if draw(st.booleans()):
        out = []
        for _ in range(draw(st.integers(1, 6))):
            body, stop = draw(st.text(_HAN, min_size=1, max_size=6)), draw(st.sampled_from("。！？"))
            if draw(st.booleans()):
                opener, closer = draw(st.sampled_from(["“”", "「」", "『』", "（）", "《》"]))
                body += "：" + opener + draw(st.text(_HAN, min_size=1, max_size=6)) + stop + closer
            else:
                body += stop
            out.append(body)
        return "".join(out)
    words = st.text("abcdefghij", min_size=1, max_size=5)
    return " ".join(" ".join(draw(st.lists(words, min_size=1, max_size=4))) + draw(st.sampled_from(_STOPS_OF_OTHER_SCRIPTS))
                    for _ in range(draw(st.integers(1, 5))))


@settings(max_examples=300, deadline=None)
@given(_quoted_sentences())
def test_sentences_of_quotes_and_other_scripts_end_where_uax29_ends_them(text):
    """Differential against uniseg's Unicode sentence boundaries (UAX #29): wherever its rules apply as
    written (a stop, its closers, then a new sentence), the sentences are the same."""
    from uniseg.sentencebreak import sentences as uax29

    from revmine.pipeline.clean import split_sentences

    assert [text[a:b] for a, b in split_sentences(text)] == [s.strip() for s in uax29(text)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["-{", "}-", "a", "b ", "|", ";", " zh-hans:", "zh-hant:", "R|", "T|", "H|", "=>",
                                 "-", "{", "}", "<nowiki>", "</nowiki>", "\n"]), max_size=30))
def test_language_converter_markup_never_breaks_and_leaves_none_behind(parts):
    """Any arrangement of converter markup unwinds: nothing raises, and outside plain-text tags no complete
    `-{…}-` is left (up to 8 levels of nesting, as MediaWiki pages nest it at most one or two deep)."""
    from revmine.pipeline.clean import _CONVERTED, Namespaces, _unconvert

    raw = "".join(parts)
    out = _unconvert(raw)
    if "<nowiki>" not in raw and raw.count("-{") <= 8:
        assert _CONVERTED.search(out) is None
    try:  # and the section cleans, or is refused with a reason
        clean_section(raw, Namespaces.of(None, "zhwiki"))
    except WikitextError:
        pass


@pytest.mark.parametrize("text, sentences", [
    ("Intro here.\n<noinclude>\nShown on the page.\n", ["Intro here.", "Shown on the page."]),  # never closed
    ("Intro here.\n<noinclude>Shown on the page.</noinclude>\n", ["Intro here.", "Shown on the page."]),
    ("Intro.\n<onlyinclude>The lead sentence.</onlyinclude>\nMore text.\n", ["Intro.", "The lead sentence.", "More text."]),
    ("Intro.\n<includeonly>Only when transcluded.</includeonly>\nAfter.\n", ["Intro.", "After."]),
    ("Intro.\n<includeonly>Never closed.\nStill hidden.\n", ["Intro."]),
    ("<nowiki><noinclude></nowiki> is a tag.\n", ["<noinclude> is a tag."]),
    ("A <NoInclude>b</NOINCLUDE> c.\n", ["A b c."]),
])
def test_the_page_is_cleaned_as_mediawiki_shows_it_not_as_it_is_transcluded(text, sentences):
    """<noinclude> and <onlyinclude> content is shown on the page itself (it was dropped), <includeonly>
    content is not; an unclosed <noinclude> (33 revisions of the Anarchism history) was a sentence."""
    assert clean_wikitext(text).texts == sentences
