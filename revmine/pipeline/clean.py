"""Wikitext -> sections -> paragraphs -> sentences (with offsets), plus the structural nodes.

Cleaning keeps the text of links and drops templates, references, tables, files/images,
categories, interwiki links, comments and non-prose tags. It works section by section: a
revision is split at top-level headings, and each section is parsed (mwparserfromhell) and
cleaned once, then cached by its hash. Consecutive revisions share almost all sections, so
an edit usually costs one section parse instead of two whole-article parses.

Sentences are split with blingfire: on arXivEdits paragraphs it had the best boundary F1 of
the splitters we measured (0.942 vs syntok 0.918, pysbd 0.912), at ~44x the speed of pysbd
(see benchmarks/RESULTS.md).
"""
from __future__ import annotations

import bisect
import functools
import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, NamedTuple, Optional

import blingfire
import regex
from mwparserfromhell.definitions import PARSER_BLACKLIST
from mwparserfromhell.nodes import (Argument, Comment, ExternalLink, Heading, HTMLEntity, Tag, Template, Text,
                                    Wikilink)

from revmine.pipeline.wikiparse import MarkupTooCostly, check_cost, parse
from revmine.schemas.names import CASE_SENSITIVE, wiki_base

# Tags whose content is not prose. (ref is handled separately: it is also a node we track.)
_DROP_TAGS = frozenset({"math", "chem", "ce", "gallery", "timeline", "imagemap", "score", "syntaxhighlight", "source",
                        "pre", "code", "graph", "mapframe", "maplink", "references", "templatedata", "inputbox",
                        "categorytree", "hiero", "poem", "table", "noinclude", "includeonly", "onlyinclude", "div_table"})
_BREAK_TAGS = frozenset({"br", "hr", "p", "li", "dd", "dt", "tr", "td", "th"})
_MEDIA_PREFIXES = frozenset({"file", "image", "media"})  # namespace 6 and its classic aliases
_CATEGORY_PREFIXES = frozenset({"category"})
# A redirect page: MediaWiki reads "#REDIRECT [[Target]]" at the very start of the text, on every wiki,
# and the language's own magic words beside it ("#RINVIA [[Target]]" on itwiki, not on enwiki). The target
# is a node of its own, not a link in the prose.
_REDIRECT_TARGET = r"\s*:?\s*\[\[([^\[\]|#]*)(?:#[^\[\]|]*)?(?:\|[^\[\]]*)?\]\]"
_REDIRECT = re.compile(r"\s*#\s*REDIRECT" + _REDIRECT_TARGET, re.I)
# The localised redirect words of the largest Wikipedias' languages, as MediaWiki core defines them
# (languages/messages/Messages*.php, `$magicWords['redirect']`, all case-insensitive): dumps do not list
# magic words, and no Python package carries them. A language missing here knows the English word alone.
_REDIRECT_WORDS = {
    "ar": ("#تحويل",), "cs": ("#PŘESMĚRUJ",), "da": ("#OMDIRIGERING",), "de": ("#WEITERLEITUNG",),
    "es": ("#REDIRECCIÓN", "#REDIRECCION"), "fi": ("#OHJAUS", "#UUDELLEENOHJAUS"), "fr": ("#REDIRECTION",),
    "he": ("#הפניה",), "id": ("#ALIH",), "it": ("#RINVIA", "#RINVIO", "#RIMANDO"),
    "ja": ("#転送", "#リダイレクト", "＃転送", "＃リダイレクト"), "ko": ("#넘겨주기",), "nl": ("#DOORVERWIJZING",),
    "no": ("#OMDIRIGERING",), "pl": ("#PATRZ", "#PRZEKIERUJ", "#TAM"), "pt": ("#REDIRECIONAMENTO",),
    "ru": ("#ПЕРЕНАПРАВЛЕНИЕ", "#ПЕРЕНАПР"), "sv": ("#OMDIRIGERING",), "tr": ("#YÖNLENDİRME", "#YÖNLENDİR"),
    "uk": ("#ПЕРЕНАПРАВЛЕННЯ", "#ПЕРЕНАПР", "#ПЕРЕНАПРАВЛЕНИЕ"), "zh": ("#重定向", "#重新導向"),
}


# The page as MediaWiki shows it, not as another page transcludes it: <noinclude> and <onlyinclude> tags
# go and their content stays, <includeonly> goes with its content (to the end of the text when never
# closed). mwparserfromhell reads them as tags: their content was dropped, and an unclosed <noinclude>
# (33 revisions of the Anarchism history) was a sentence.
_INCLUDE_ONLY = re.compile(r"<includeonly\s*>.*?(?:</includeonly\s*>|\Z)", re.I | re.S)
_INCLUDE_WORD = re.compile("include", re.I)
_INCLUSION_TAG = re.compile(r"</?(?:noinclude|onlyinclude)\s*/?>|<includeonly\s*/>|</includeonly\s*>", re.I)


def _as_shown(raw: str) -> str:
    """`raw` without its transclusion markup, as MediaWiki renders the page itself; untouched inside
    <nowiki>, <pre> and the parser's other plain-text tags."""
    if not _INCLUDE_WORD.search(raw):
        return raw
    masked = _mask_opaque(raw)
    cuts = sorted(m.span() for pattern in (_INCLUDE_ONLY, _INCLUSION_TAG) for m in pattern.finditer(masked))
    parts, at = [], 0
    for start, end in cuts:
        if end > at:
            parts.append(raw[at:max(at, start)])
            at = end
    return "".join(parts) + raw[at:]


def _redirect_pattern(language: str) -> "re.Pattern":
    """The redirect line of a wiki in `language`: the English word, and the language's own."""
    words = _REDIRECT_WORDS.get(language, ())
    if not words:
        return _REDIRECT
    local = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))  # longest first: #ПЕРЕНАПР…
    return re.compile(r"\s*(?:#\s*REDIRECT|" + local + ")" + _REDIRECT_TARGET, re.I)


# Language-converter markup, read on wikis whose language MediaWiki converts between scripts or variants
# (zhwiki, srwiki, kkwiki, …; elsewhere "-{" is text): "-{zh-hans:计算机; zh-hant:電腦}-" shows one variant
# (the first, here), "-{text}-" and "-{R|text}-" the text as written, "-{T|…}-" (the page title), "-{H|…}-"
# (a hidden rule) and "-{-|…}-" nothing. Left in, the markup and every variant were prose.
_CONVERTER_LANGUAGES = frozenset({"ban", "crh", "gan", "iu", "kk", "ku", "shi", "sr", "tg", "tly", "uz", "zh"})
_CONVERTED = re.compile(r"-\{((?:(?!-\{|\}-).)*)\}-", re.S)  # innermost first: nesting is undone from inside
_VARIANT_CODE = r"[a-z]{2,3}(?:-[a-z]{2,4})?"
_VARIANT = re.compile(r"\s*(%s)\s*:" % _VARIANT_CODE)
_NEXT_RULE = re.compile(r";\s*(?=(?:[^;]*=>)?\s*%s\s*:)" % _VARIANT_CODE)
_CONVERTER_FLAGS = frozenset("ATRDH-N")


def _converted(body: str) -> str:
    """What MediaWiki shows for `-{body}-`."""
    flags, bar, rules = body.partition("|")
    tokens = [t.strip() for t in flags.split(";")] if bar else []
    if tokens and all(t in _CONVERTER_FLAGS or re.fullmatch(_VARIANT_CODE, t) for t in tokens):
        if {"T", "H", "-"} & set(tokens):
            return ""
        if "R" in tokens:
            return rules
    else:
        rules = body
    first = _NEXT_RULE.split(rules, maxsplit=1)[0].strip().rstrip(";")
    if "=>" in first:  # a one-way rule "from=>variant:to" shows its "from" text in place
        return first.split("=>", 1)[0].strip()
    m = _VARIANT.match(first)
    return first[m.end():].strip() if m else rules  # the first variant's text, or plain text as written


def _unconvert(raw: str, shown=_converted) -> str:
    """`raw` with its language-converter markup replaced by what MediaWiki shows (`shown` of each markup's
    body); untouched inside <nowiki>, <pre> and the parser's other plain-text tags."""
    for _ in range(8):  # nested markup unwinds one level a pass
        masked, parts, at = _mask_opaque(raw), [], 0
        for m in _CONVERTED.finditer(masked):
            parts += [raw[at:m.start()], shown(raw[m.start(1):m.end(1)])]
            at = m.end()
        if not parts:
            return raw
        raw = "".join(parts) + raw[at:]
    return raw


def _converter_left_open(s: str) -> bool:
    """Whether `s` holds a `-{` that no `}-` closes, as `_unconvert` matches them (counting the two would take
    the `}-` of `}}-{` for a closer)."""
    return "-{" in _unconvert(s, lambda body: "")


_INTERWIKI = re.compile(r"^:?\s*([a-z]{2,3}(?:-[a-z0-9]{2,8})*|simple)\s*:", re.I)
# Prefixes with the shape of a language code that are no Wikipedia language: shortcuts (WP:, WT: for the
# project namespaces, MOS: and CAT: pseudo-namespaces) and interwikis (mw:, wmf:, rfc:, irc:). MediaWiki
# shows such links in the text. A list of languages would do as well, but mwconstants' list lacks the
# closed Wikipedias (aa, ho, mo, …) and those opened since it was made (igl, kus, tig, …).
_NOT_LANGUAGES = frozenset({"wp", "wt", "mos", "cat", "mw", "wmf", "rfc", "irc"})
# A line that starts and ends with "=", as MediaWiki reads headings: level 1 ("= Title =") included, the
# level the lesser of the two runs ("== Title =" is level 1), and spaces or comments after it.
_HEADING_LINE = re.compile(r"(?m)^=(?=[^\n]*[^=\s])[^\n]*=[ \t]*(?:<!--(?:(?!-->)[^\n])*-->[ \t]*)*$")
_SPACES = re.compile(r"[ \t\u00a0]+")
# MediaWiki's behaviour switches ("__NOTOC__", "__INDEX__"; "__KEIN_INHALTSVERZEICHNIS__" on dewiki, "__بیفهرست__"
# on fawiki): MediaWiki takes them out of the page, and left in, each was a sentence of its own. Their
# localised names are not in dumps, so a name with no lower-case letter is taken for one (every localised
# switch is in capitals or a script without case); these English ones also in lower case, as MediaWiki
# matches them. "__init__" is prose.
_SWITCH = re.compile(r"__([^\W_](?:[\w\u200c\u200d]*?[^\W_])?)__")
_CASELESS_SWITCHES = frozenset({"TOC", "NOTOC", "FORCETOC", "NOGALLERY", "NOEDITSECTION", "NOTITLECONVERT", "NOTC",
                                "NOCONTENTCONVERT", "NOCC", "STATICREDIRECT"})


def _drop_switches(text: str) -> str:
    def keep(m: "re.Match") -> str:
        name = m.group(1)
        switch = name.upper() in _CASELESS_SWITCHES or (name == name.upper() and any(c.isalpha() for c in name))
        return "" if switch else m.group(0)

    return _SWITCH.sub(keep, text) if "__" in text else text


_HAS_WORD = re.compile(r"\w")
# Left in the text only where the markup is broken: a <ref> or </ref> the parser could not pair (a stray
# closing tag, say), and the empty brackets around a dropped bare link (`[[http://x]]` parses as "[",
# a link, "]"). MediaWiki prints these literally; they are never prose.
# Templates that stand for a character, and templates whose last (lang-xx: first) positional parameter is
# prose they wrap: "Anarchism.net{{ndash}}a pluralist resource" reads "Anarchism.net–a pluralist resource".
_CHAR_TEMPLATES = {"ndash": "–", "mdash": "—", "snd": " – ", "spnd": " – ", "spaced ndash": " – ", "nbsp": " ",
                   "'": "'", "spaces": " ", "·": " · ", "dot": " · ", "middot": "·", "en dash": "–", "em dash": "—"}
_WRAP_LAST = frozenset({"nowrap", "nobr", "lang", "transl", "small", "smaller", "big", "nobold", "noitalic", "sic"})
# Where a template or reference is dropped, a mark: between a word and the next word it becomes a space
# ("said so.<ref/>Next" reads "said so. Next"), anywhere else nothing.
_DROPPED = "\x00"
_DROPPED_SPACE = re.compile(r"(?<=\S)\x00+(?=\w)")
_STYLE = re.compile(r"'{2,5}")
# Tag patterns stop at "<": with "[^>]*" each "<ref" of "<ref name=\"" repeated (no ">" after it) scanned
# to the end of the text, time quadratic in its length (990 KB: 267 s in split_sections).
_STRAY_REF = re.compile(r"<\s*/?\s*ref\b[^<>]*>", re.I)
_EMPTY_BRACKETS = re.compile(r"\[\s*\]")
MAX_SECTION_CHARS = 1_000_000  # guard against pathological sections; larger ones are quarantined
_VALUE_CHARS = 500


class WikitextError(Exception):
    """Wikitext that could not be cleaned; the pair is quarantined with this reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Node:
    """A structural element of the wikitext, compared between revisions (cf. mwedittypes).

    Nodes compare by type, key and a digest of their whole value; `value` is only for display (at most
    500 characters), so a change past that point, in an infobox's last field say, is still a change.
    `container` (the node this one is nested in, as type:key) and a template's `params` ((name, digest)
    of each parameter) describe the node without being part of its identity."""
    type: str
    key: str
    value: str = field(compare=False)
    digest: str = ""
    container: str = field(default="", compare=False)
    params: tuple = field(default=(), compare=False)


@dataclass(frozen=True)
class Namespaces:
    """The link prefixes that make a File: or Category: link on one wiki: the canonical English names,
    which every wiki accepts; the wiki's own names from its dump's siteinfo ("Categoria", "Datei"); and
    the aliases of its language, which siteinfo does not list but old revisions use ("Immagine" on
    itwiki, "Bild" on dewiki), from mwconstants' table of Wikipedia namespace aliases. Also the redirect
    line the wiki's language reads ("#WEITERLEITUNG [[Ziel]]" on dewiki, beside "#REDIRECT")."""
    media: frozenset = _MEDIA_PREFIXES
    category: frozenset = _CATEGORY_PREFIXES
    redirect: "re.Pattern" = _REDIRECT
    converter: bool = False  # whether the wiki reads language-converter markup (-{…}-)
    first_letter: bool = True  # whether titles compare with their first letter capitalised (not on Wiktionary)

    def title(self, title: str) -> str:
        """A page title as the wiki compares titles: spaces for underscores and, but on a case-sensitive wiki
        (every Wiktionary: [[apple]] and [[Apple]] are two entries), the first letter capitalised."""
        return _norm_title(title, self.first_letter)

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def of(names: Optional[tuple], wiki: str = "") -> "Namespaces":
        """From (lower-case name, number) pairs, as the reader passes them on (a dump has one tuple),
        and the wiki's database name."""
        media, category = set(_MEDIA_PREFIXES), set(_CATEGORY_PREFIXES)
        for name, number in names or ():
            if number in (6, -2):  # namespace -2 (Media:) links a file as well
                media.add(name)
            elif number == 14:
                category.add(name)
        for local, info in _namespace_aliases(wiki_base(wiki)).items():
            canonical = info.get("canonical", local)
            side = media if canonical in ("File", "Media") else category if canonical == "Category" else None
            if side is not None:
                side.update(n.lower() for n in (local, *info.get("aliases", ())))
        language = wiki_base(wiki)
        case_sensitive = CASE_SENSITIVE in (names or ()) or wiki.endswith("wiktionary")
        got = Namespaces(frozenset(media), frozenset(category), _redirect_pattern(language),
                         language in _CONVERTER_LANGUAGES, not case_sensitive)
        return ENGLISH if got == ENGLISH else got


ENGLISH = Namespaces()


def _namespace_aliases(language: str) -> dict:
    """{local name: {'canonical': …, 'aliases': […]}} of one Wikipedia language; {} for one it lacks."""
    from mwconstants.constants.c_namespaces import NAMESPACE_ALIASES

    return NAMESPACE_ALIASES.get(language, {})


def _digest(text: str) -> str:
    return hashlib.blake2b(" ".join(text.split()).encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()


def make_node(type: str, key: str, full_value: str, container: str = "", params: tuple = ()) -> Node:
    """A node whose display value is shortened and whose digest covers all of `full_value`."""
    return Node(type, key, _short(full_value), _digest(full_value), container, params)


@dataclass(frozen=True)
class CleanSection:
    title: str
    text: str  # paragraphs joined by "\n"
    n_paragraphs: int
    sent_texts: tuple[str, ...]
    sent_spans: tuple[tuple[int, int, int], ...]  # (paragraph within section, start, end) in `text`
    nodes: tuple[Node, ...]
    level: int = 0  # heading level (2 for ==Title==); 0 for the lead
    heading: str = ""  # the heading's wikitext between the = signs (a link in it is part of the heading)
    # (digest of the block's raw text, how many of `nodes` it holds) for each block (see split_blocks), in
    # order: the node differ anchors on unchanged blocks, so nodes paragraphs apart are never paired
    blocks: tuple[tuple[str, int], ...] = ()


class SentenceRef(NamedTuple):
    """A sentence and where it sits. A named tuple, not a frozen dataclass: a pair with a page blanked and
    restored builds hundreds of them, and a frozen dataclass sets each field through object.__setattr__."""
    text: str
    section_idx: int
    section: str
    para_idx: int
    start: int
    end: int


class SentenceList:
    """Sentence texts of one revision, with their metadata built only on demand.

    A revision is mostly cached sections; materialising a SentenceRef for each of its ~500
    sentences per pair cost more than the diff itself, while only changed sentences are stored.
    """

    def __init__(self, texts: list[str], refs: Optional[list[SentenceRef]] = None):
        self.texts = texts
        self._refs = refs

    def __len__(self) -> int:
        return len(self.texts)

    def ref(self, i: int) -> SentenceRef:
        return self._refs[i]

    def locate(self, i: int) -> tuple:
        """`ref(i)` as a plain tuple in SentenceRef's field order: the diff builds one per changed sentence."""
        return self._refs[i]

    @classmethod
    def of(cls, refs: list[SentenceRef]) -> "SentenceList":
        return cls([r.text for r in refs], refs)


class CleanDoc(SentenceList):
    """A cleaned revision: its sections, their raw-text keys, and its sentences (offsets into `text`)."""

    def __init__(self, sections: list[CleanSection], section_keys: list, parsed: int):
        texts: list[str] = []
        self.first_sent: list[int] = []  # index of each section's first sentence
        self.char_base: list[int] = []  # offset of each section's text in the revision text
        self.para_base: list[int] = []
        pos = para = 0
        for sec in sections:
            self.first_sent.append(len(texts))
            self.char_base.append(pos)
            self.para_base.append(para)
            texts.extend(sec.sent_texts)
            if sec.text:
                pos += len(sec.text) + 1
            para += sec.n_paragraphs
        super().__init__(texts)
        self.sections = sections
        self.section_keys = section_keys  # each raw section's cache key, to find changed sections
        self.parsed = parsed  # sections parsed (cache misses)

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.sections if s.text)

    @property
    def sentences(self) -> list[SentenceRef]:
        return [self.ref(i) for i in range(len(self.texts))]

    def ref(self, i: int) -> SentenceRef:
        return SentenceRef._make(self.locate(i))

    def locate(self, i: int) -> tuple:
        s = bisect.bisect_right(self.first_sent, i) - 1
        while self.sections[s].sent_texts == () or i - self.first_sent[s] >= len(self.sections[s].sent_texts):
            s += 1  # skip sections without sentences that share the same first index
        sec = self.sections[s]
        para, a, b = sec.sent_spans[i - self.first_sent[s]]
        base = self.char_base[s]
        return sec.sent_texts[i - self.first_sent[s]], s, sec.title, self.para_base[s] + para, base + a, base + b


def split_sections(wikitext: str, balanced: Optional[Callable[[str], bool]] = None) -> list[str]:
    """Split raw wikitext before each heading line, never inside a template, table, comment or ref.

    A heading-like line inside `{{...}}`, `{|...|}` or `<!-- -->` would cut a node in two, so a piece
    whose brackets do not balance is merged with the next one. `balanced`: the check, when the caller
    knows a faster one (SectionCache.balanced).
    """
    balanced = balanced or _balanced
    masked = _mask_opaque(wikitext)  # once for the page: the heading scan and the look ahead read it
    bounds = [0] + [c for c in _heading_lines(masked) if c > 0] + [len(wikitext)]
    pieces: list[str] = []
    pending, start = "", 0
    for a, b in zip(bounds, bounds[1:]):
        pending += wikitext[a:b]
        if balanced(pending) or (b < len(wikitext) and _left_open_for_good(masked[start:b], masked, b)):
            pieces.append(pending)
            pending, start = "", b
    if pending:
        pieces.append(pending)
    return pieces


def _left_open_for_good(piece: str, text: str, at: int) -> bool:
    """Whether what `piece` leaves open (templates, tables, refs) stays open to the end of `text`: every
    closer after `at` has an opener of its own there. The parser reads such an opener as text, so the
    heading at `at` still starts a section; without this, one unclosed `{{` folds the rest of the page
    into one section. An open comment is not judged (it keeps merging). Both texts come with the parser's
    plain-text tags blanked (`_mask_opaque`)."""
    depth = _nest(piece)
    if depth is None:  # a comment never closed
        return False
    open_kinds = {k for k in ("{{", "{|", "<ref") if depth[k]}
    # A closer after `at` with no opener there may close the open one. Brackets inside a comment count
    # here: that only keeps merging.
    return _nest(text, at, hide_comments=False, stop_on=open_kinds) is not None


def heading_starts(text: str) -> list[int]:
    """Offsets of the heading lines, as `_HEADING_LINE.finditer` finds them outside the parser's plain-text
    tags (a "== x ==" line inside `<pre>`, `<nowiki>` or `<syntaxhighlight>` is text)."""
    return _heading_lines(_mask_opaque(text))


def _heading_lines(text: str) -> list[int]:
    """`heading_starts` of a text whose plain-text tags are blanked already. Only lines that start with "="
    can be headings, and `str.find` skips to them in C: the multiline regex alone tries every character,
    which took 5% of the diff stage on long articles."""
    out = [0] if text.startswith("=") and _HEADING_LINE.match(text, 0) else []
    i = text.find("\n=")
    while i >= 0:
        if _HEADING_LINE.match(text, i + 1):
            out.append(i + 1)
        i = text.find("\n=", i + 1)
    return out


_REF_OPEN = re.compile(r"<ref[^<>/]*>", re.I)
_REF_CLOSE = re.compile(r"</ref>", re.I)


_TABLE_CLOSE = re.compile(r"^[^\S\n]*\|\}", re.M)


def _unclosed_kinds(s: str) -> set:
    """The kinds `s` opens more often than it closes ('{{', '{|', '<!--', '<ref'), by counts alone. As in
    `_nest`, only a `|}` that starts its line closes a table."""
    out = {o for o, c in (("{{", "}}"), ("<!--", "-->")) if s.count(o) > s.count(c)}
    tables = s.count("{|")
    if tables and (tables > s.count("|}") or tables > len(_TABLE_CLOSE.findall(s))):
        out.add("{|")
    if len(_REF_OPEN.findall(s)) > len(_REF_CLOSE.findall(s)):
        out.add("<ref")
    return out


def _balanced(s: str) -> bool:
    """Section pieces: no more templates, tables, comments and refs opened than closed. A construct never
    closed is text to the parser, so a heading after it still starts a section. Closers inside the parser's
    plain-text tags (`<nowiki>}}</nowiki>`) close nothing, and neither does a closer before its opener (a
    stray `}}` does not close the template after it): counts alone are only the quick refusal."""
    return _balanced_masked(_mask_opaque(s))


def _balanced_masked(s: str) -> bool:
    """`_balanced` of a text whose plain-text tags are blanked already."""
    if _unclosed_kinds(s):
        return False
    depth = _nest(s)
    return depth is not None and not (depth["{{"] or depth["{|"] or depth["<ref"])


_BRACKET = re.compile(r"\{\{|\}\}|\{\||\|\}|\[\[|\]\]|<!--|<ref[^<>/]*>|</ref>", re.I)
_CLOSES = {"}}": "{{", "|}": "{|", "]]": "[["}


def _bracket(tok: str) -> tuple[str, bool]:
    """(kind, whether it closes) of a `_BRACKET` token other than `<!--`; kinds: '{{', '{|', '[[', '<ref'."""
    if tok in _CLOSES:
        return _CLOSES[tok], True
    if tok[0] == "<":
        return "<ref", tok[1] == "/"
    return tok, False


def _closed_in_order(s: str) -> bool:
    """Every template, table, comment, ref and `[[` link opened in `s` is closed after it. A closer with
    nothing open is text, as the parser reads it, so it closes nothing that opens later: counts alone would
    let `</ref><ref>` pass as balanced."""
    if not ("}}" in s or "|}" in s or "-->" in s or "</" in s or "]]" in s):
        return not ("{{" in s or "{|" in s or "<!--" in s or "[[" in s or _REF_OPEN.search(s))
    depth = _nest(s)
    return depth is not None and not any(depth.values())


def _nest(s: str, at: int = 0, hide_comments: bool = True, stop_on: Collection[str] = ()) -> Optional[dict]:
    """How many brackets of each kind are open after walking `s` from `at`; a closer with nothing open is
    text. None when such a closer is of a kind in `stop_on`, or when a comment that hides its brackets
    (`hide_comments`) never ends."""
    depth = {"{{": 0, "{|": 0, "[[": 0, "<ref": 0}
    m = _BRACKET.search(s, at)
    while m:
        if m.group() == "|}" and s[s.rfind("\n", 0, m.start()) + 1:m.start()].strip():
            pass  # the parser closes a table only at a line's start: mid-line "|}" is text
        elif m.group() != "<!--":
            kind, closes = _bracket(m.group())
            if not closes:
                depth[kind] += 1
            elif depth[kind]:
                depth[kind] -= 1
            elif kind in stop_on:
                return None
        elif hide_comments:
            end = s.find("-->", m.end())
            if end < 0:
                return None
            m = _BRACKET.search(s, end + 3)
            continue
        m = _BRACKET.search(s, m.end())
    return depth


def _unstyled(text: str) -> str:
    """Text without its bold and italic quotes. Four quotes are an apostrophe and a bold, as in MediaWiki."""
    return _STYLE.sub(lambda m: "'" if len(m.group()) == 4 else "", text)


def _joined(text: str) -> str:
    """Text with the marks of dropped nodes resolved (see _DROPPED)."""
    return _DROPPED_SPACE.sub(" ", text).replace(_DROPPED, "") if _DROPPED in text else text


def _norm_title(title: str, first_letter: bool = True) -> str:
    """Spaces for underscores, and (`first_letter`) the first letter capitalised, as MediaWiki compares titles."""
    t = " ".join(title.replace("_", " ").split())
    return t[:1].upper() + t[1:] if t and first_letter else t


def _short(s: str) -> str:
    s = " ".join(s.split())
    return s if len(s) <= _VALUE_CHARS else s[: _VALUE_CHARS - 1] + "…"


_GALLERY_FILE = re.compile(r"^\s*(?:(?:file|image)\s*:)?\s*([^|\n]*\.[A-Za-z0-9]{2,5})\s*(?:\|(.*))?$", re.I)


class _Renderer:
    """Walk a parsed section: collect prose text and structural nodes.

    Nodes inside other nodes (links in template parameters and table cells, references in captions,
    files in galleries) are collected too, each with the node that holds it as its container."""

    def __init__(self, names: Namespaces = ENGLISH):
        self.nodes: list[Node] = []
        self.container = ""
        self.names = names

    def render(self, code) -> str:
        out: list[str] = []
        self._walk(code, out, track=True)
        return "".join(out)

    def text_of(self, code) -> str:
        out: list[str] = []
        self._walk(code, out, track=False)
        return "".join(out)

    def _add(self, type: str, key: str, full_value: str, params: tuple = ()) -> None:
        self.nodes.append(make_node(type, key, _joined(full_value), self.container, params))

    def _inside(self, container: str, code) -> None:
        """Collect the nodes nested in `code` (its text is not prose) under `container`."""
        if code is None:
            return
        outer, self.container = self.container, container
        try:
            self._walk(code, [], track=True)
        finally:
            self.container = outer

    def _walk(self, code, out: list[str], track: bool) -> None:
        for node in code.nodes:
            if isinstance(node, Text):
                value = _drop_switches(node.value)
                out.append(_unstyled(value) if "''" in value else value)
            elif isinstance(node, Wikilink):
                self._wikilink(node, out, track)
            elif isinstance(node, Template):
                name = self.names.title(str(node.name).strip())
                if track:
                    self._add("template", name, str(node),
                              tuple((str(p.name).strip(), _digest(str(p.value))) for p in node.params))
                    for p in node.params:
                        self._inside(f"template:{name}", p.value)
                out.append(self._inline(name, node))
            elif isinstance(node, Tag):
                self._tag(node, out, track)
            elif isinstance(node, ExternalLink):
                if track:
                    self._add("external_link", str(node.url).strip(), str(node.title or ""))
                if node.title is not None and node.brackets:
                    self._walk(node.title, out, track=False)
            elif isinstance(node, HTMLEntity):
                out.append(node.normalize())
            elif isinstance(node, Heading):
                out.append("\n" + self.text_of(node.title).strip() + "\n")
            elif isinstance(node, (Comment, Argument)):
                continue

    def _inline(self, name: str, node: Template) -> str:
        """What a template shows inline, for the few that stand for a character or wrap prose; any
        other template is dropped, and leaves a mark so the words around it are not run together."""
        low = name.lower()
        if low in _CHAR_TEMPLATES:
            return _CHAR_TEMPLATES[low]
        positional = [p.value for p in node.params if not p.showkey]
        if positional and (low in _WRAP_LAST or low.startswith("lang-")):
            return self.text_of(positional[0] if low.startswith("lang-") else positional[-1])
        return _DROPPED

    def _wikilink(self, node: Wikilink, out: list[str], track: bool) -> None:
        target = str(node.title).strip()
        prefix = target.lstrip(":").split(":", 1)[0].strip().lower() if ":" in target else ""
        if prefix in self.names.media and not target.startswith(":"):
            if track:
                name = _norm_title(target.split(":", 1)[1])
                self._add("media", name, str(node.text or ""))
                self._inside(f"media:{name}", node.text)  # references and links in the caption
            return
        if prefix in self.names.category and not target.startswith(":"):
            if track:
                self._add("category", self.names.title(target.split(":", 1)[1].split("|")[0]), str(node.text or ""))
            return
        if _INTERWIKI.match(target) and not target.startswith(":") and " " not in prefix \
                and prefix not in _NOT_LANGUAGES:
            if track:  # an interlanguage link: a node of the page, but not part of its text
                lang, title = target.split(":", 1)
                self._add("interlanguage", f"{lang.strip().lower()}:{self.names.title(title)}", "")
            return
        label = self.text_of(node.text) if node.text is not None else target.lstrip(":").split("#")[0]
        if track:
            self._add("wikilink", self.names.title(target.split("#")[0].lstrip(":")) or target, label)
        out.append(label)

    def _tag(self, node: Tag, out: list[str], track: bool) -> None:
        name = str(node.tag).strip().lower()
        if node.wiki_markup == "{|" or name == "table":
            if track:
                self._add("table", "table", str(node))
                self._inside("table", node.contents)
            return
        if name == "ref":
            if track:
                ref_name = next((str(a.value).strip() for a in node.attributes if str(a.name).strip().lower() == "name"), "")
                content = str(node.contents or "").strip()
                key = ref_name or hashlib.sha1(content.encode()).hexdigest()[:12]
                self._add("reference", key, content)
                self._inside(f"reference:{key}", node.contents)  # links and templates inside a citation
            out.append(_DROPPED)
            return
        if name == "gallery":
            if track:
                self._gallery(node)
            return
        if name in _DROP_TAGS:
            return
        if name in _BREAK_TAGS:
            out.append("\n" if name in ("br", "hr", "p", "li", "dd", "dt", "tr") else " ")
        if node.contents is not None and not node.self_closing:
            self._walk(node.contents, out, track)

    def _gallery(self, node: Tag) -> None:
        """A gallery and its files: one `File:Name.jpg|caption` per line, the namespace optional."""
        contents = str(node.contents or "")
        self._add("gallery", "gallery", contents)
        outer, self.container = self.container, "gallery"
        try:
            for line in contents.split("\n"):
                m = _GALLERY_FILE.match(line)
                if m and m.group(1).strip():
                    raw_name = m.group(1)
                    prefix, colon, rest = raw_name.partition(":")
                    if colon and prefix.strip().lower() in self.names.media:  # a wiki's own File: name
                        raw_name = rest
                    name = _norm_title(raw_name)
                    caption = m.group(2) or ""
                    self._add("media", name, caption)
                    if caption:
                        self._inside(f"media:{name}", _guarded_parse(caption))
        finally:
            self.container = outer


def clean_section(raw: str, names: Namespaces = ENGLISH, blocks: Optional["BlockCache"] = None) -> CleanSection:
    """Parse and clean one raw section. Raises WikitextError for sections we refuse or cannot parse.

    With `blocks`, the section is cleaned block by block (lines, or runs of lines, whose markup balances;
    see split_blocks), each block once: an edit to one paragraph of a long section parses that paragraph,
    not the section. The result is the same CleanSection (tests/test_clean.py compares both on every shared dump)."""
    if len(raw) > MAX_SECTION_CHARS:
        raise WikitextError("section_too_large", f"a section of {len(raw):,} characters (limit {MAX_SECTION_CHARS:,})")
    if blocks is not None and not names.redirect.match(raw):  # a redirect page is short, and its target leads it
        parts = split_blocks(raw, blocks.balanced)
        if len(parts) > 1:
            return _joined_blocks([blocks.get(part, names, first=i == 0) for i, part in enumerate(parts)])
    return _clean_block(raw, names, first=True)


def _clean_block(raw: str, names: Namespaces, first: bool) -> CleanSection:
    """Parse and clean a section, or a block of one (`first`: the block that holds its heading)."""
    raw = _as_shown(raw)
    if names.converter and "-{" in raw:
        raw = _unconvert(raw)
    redirect = names.redirect.match(raw) if first else None
    try:
        # Bold and italics stay text and are stripped below: MediaWiki closes them at the end of a line and
        # reads <ref> before them, whereas mwparserfromhell lets an unclosed '' swallow the rest of the
        # paragraph, a </ref> included, and the citation then leaks into the prose.
        code = _guarded_parse(raw[redirect.end():] if redirect else raw)
    except WikitextError:
        raise
    except Exception as exc:  # mwparserfromhell raises ParserError and, on odd input, others
        raise WikitextError("unparseable_wikitext", f"{type(exc).__name__}: {exc}") from exc
    title, level, heading = "", 0, ""
    headings = code.filter_headings(recursive=False)
    r = _Renderer(names)
    if redirect:
        r._add("redirect", names.title(redirect.group(1)), redirect.group(0).strip())
    # the section's title is its heading only where the heading leads it ("=" on a line of its own and then
    # a heading is a line of text and a heading)
    lead = next((n for n in code.nodes if not isinstance(n, Text) or n.value.strip()), None) if first else None
    if headings and lead is headings[0]:
        title = _SPACES.sub(" ", _joined(r.text_of(headings[0].title))).strip()
        level, heading = headings[0].level, str(headings[0].title).strip()
        r._inside(f"heading:{title}", headings[0].title)  # links in a heading are nodes too
        code.remove(headings[0])
    try:
        text = r.render(code)
    except RecursionError as exc:
        raise WikitextError("unparseable_wikitext", "nesting too deep to walk") from exc
    paragraphs = []
    for line in text.split("\n"):
        line = _SPACES.sub(" ", _EMPTY_BRACKETS.sub("", _joined(_STRAY_REF.sub(_DROPPED, line)))).strip()
        if line and _HAS_WORD.search(line):
            paragraphs.append(line)
    sent_texts, sent_spans = [], []
    pos = 0
    for p_idx, para in enumerate(paragraphs):
        for a, b in _paragraph_sentences(para):
            sent = para[a:b]
            stripped = sent.strip()
            if stripped:
                a += len(sent) - len(sent.lstrip())
                sent_texts.append(stripped)
                sent_spans.append((p_idx, pos + a, pos + a + len(stripped)))
        pos += len(para) + 1
    return CleanSection(title, "\n".join(paragraphs), len(paragraphs), tuple(sent_texts), tuple(sent_spans),
                        tuple(r.nodes), level, heading, ((_digest(raw), len(r.nodes)),))


_BLOCK_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^<>]*?(/?)>")
_TAG_LEFT_OPEN = re.compile(r"<[/!a-zA-Z][^<>]*(?=<|$)")
_VOID_TAGS = frozenset({"br", "hr", "img", "wbr", "references", "ref"})  # ref: _closed_in_order checks it


# Tags whose content the parser reads as plain text (mwparserfromhell's own list): a `</poem>` or `}}`
# inside `<math>` closes nothing.
_OPAQUE_OPEN = re.compile(r"<(%s)\b[^<>]*?(?<!/)>" % "|".join(PARSER_BLACKLIST), re.IGNORECASE)


def _mask_opaque(s: str) -> str:
    """`s` with the content of each closed opaque tag blanked, so that the balance checks see what the parser
    sees. An opaque tag never closed is left as it is (the block checks count it as open)."""
    m = _OPAQUE_OPEN.search(s)
    if m is None:
        return s
    parts, at = [], 0
    while m:
        close = re.compile(r"</%s\s*>" % m.group(1), re.IGNORECASE).search(s, m.end())
        if close is None:  # text to the parser, as a tag never closed: the tags after it are still tags
            m = _OPAQUE_OPEN.search(s, m.end())
            continue
        parts += [s[at:m.end()], " " * (close.start() - m.end())]
        at = close.start()
        m = _OPAQUE_OPEN.search(s, close.end())
    return "".join(parts) + s[at:]


def _block_balanced(s: str) -> bool:
    """`_balanced`, and also links and every HTML-like tag closed, in order: a `<div>` or `<poem>` spanning
    a blank line would otherwise be parsed in two halves. Blocks only save parsing, so stricter is safe: an
    unclosed `<p>` or `{{` keeps the rest of the section in one block, which is only slower. Language-converter
    markup (`-{…}-`) is kept whole too, on every wiki, since blocks are cut before the wiki is known."""
    s = _mask_opaque(s) if "<" in s else s
    if not (_balanced_masked(s) and s.count("[[") <= s.count("]]") and _closed_in_order(s)):
        return False
    if "-{" in s and _converter_left_open(s):
        return False
    if "<" not in s:
        return True
    if _TAG_LEFT_OPEN.search(s):  # a tag whose attributes go on past the cut (`<script src="'` + newline)
        return False
    return not any(_open_tags(s).values())


def _open_tags(s: str) -> dict[str, int]:
    """How many of each HTML-like tag `s` opens and does not close (void and self-closing tags aside)."""
    depth: dict[str, int] = {}
    for close, name, selfclose in _BLOCK_TAG.findall(s):
        name = name.lower()
        if selfclose or name in _VOID_TAGS:
            continue
        if not close:
            depth[name] = depth.get(name, 0) + 1
        elif depth.get(name):  # a closing tag with none open is text
            depth[name] -= 1
    return depth


_MAX_OPEN_TRIES = 16

# Left-open constructs x characters above which a text's tokenizing is measured first (check_cost). Each
# construct the tokenizer cannot close sends it back over the rest of the text: at this figure the C
# tokenizer takes up to about 0.35 s. A real block with a few unclosed refs stays well under it; a long
# wikitable that closes everything it opens is not measured at all.
SUSPECT_SCANS = 5_000_000


def _left_open(s: str) -> int:
    """How many constructs `s` leaves open, order-aware where the bracket walk is: templates, tables,
    links and refs (`_nest`), other HTML-like tags, and `<` or `[` with no `>` or `]` to match."""
    depth = _nest(s)
    n = sum(depth.values()) if depth is not None else s.count("<!--")
    return n + max(0, s.count("<") - s.count(">")) + max(0, s.count("[") - s.count("]")) + sum(_open_tags(s).values())


def _guarded_parse(text: str):
    """`parse`, after `check_cost` where the text leaves many constructs open over many characters (a
    block, or an image caption parsed again on its own). Raises WikitextError("markup_too_costly") for
    text whose tokenizing would take time quadratic in its length."""
    # Short texts skip the estimate: they hold too few characters for either factor to grow large.
    if len(text) * len(text) > SUSPECT_SCANS and _left_open(text) * len(text) > SUSPECT_SCANS:
        try:
            check_cost(text)
        except MarkupTooCostly as exc:
            raise WikitextError("markup_too_costly", str(exc)) from exc
    return parse(text)


def split_blocks(raw: str, balanced: Callable[[str], bool] = _block_balanced) -> list[str]:
    """A section cut after each blank line, and each such block after each line end, wherever the text
    so far balances (`_block_balanced`, or `balanced` when the caller remembers its answers:
    BlockCache.balanced). An edit to one item of a list, or one line of a long block, then parses that line.

    Each check rescans the open block, so after `_MAX_OPEN_TRIES` failed checks in a row (an unclosed
    `<p>` at the top of a long section, say) the rest stays one block: the cost stays linear."""
    return [line for block in _cut(raw, "\n\n", balanced) for line in _cut(block, "\n", balanced)]


def _cut(raw: str, sep: str, balanced: Callable[[str], bool]) -> list[str]:
    """`raw` cut after each `sep` (and the newlines that follow it) where the text so far balances."""
    if sep not in raw:
        return [raw]
    out: list[str] = []
    start = tries = 0
    i = raw.find(sep)
    while i >= 0 and tries < _MAX_OPEN_TRIES:
        end = i + len(sep)
        while end < len(raw) and raw[end] == "\n":
            end += 1
        block = raw[start:end]
        if not block.strip():
            pass  # leading blank lines join the first block, which holds the heading
        elif balanced(block):
            out.append(block)
            start, tries = end, 0
        else:
            tries += 1
        i = raw.find(sep, end)
    if start < len(raw):
        out.append(raw[start:])
    return out


def _joined_blocks(parts: list[CleanSection]) -> CleanSection:
    """One section from its cleaned blocks: paragraphs and sentence offsets follow on, nodes in order."""
    texts, spans, sents, nodes, blocks = [], [], [], [], []
    pos = para = 0
    for p in parts:
        blocks.extend(p.blocks)
        if p.text:
            texts.append(p.text)
            spans.extend((i + para, a + pos, b + pos) for i, a, b in p.sent_spans)
            sents.extend(p.sent_texts)
            pos += len(p.text) + 1
            para += p.n_paragraphs
        nodes.extend(p.nodes)
    head = parts[0]
    return CleanSection(head.title, "\n".join(texts), para, tuple(sents), tuple(spans), tuple(nodes), head.level,
                        head.heading, tuple(blocks))


class LRU:
    """A bounded mapping that drops the least recently used entry, counting hits and misses."""

    def __init__(self, size: int):
        self.size = size
        self.data: OrderedDict = OrderedDict()
        self.hits = self.misses = 0
        # Texts refused as too costly to tokenize, (reason, detail) by key: a vandalised revision is the
        # new side of one pair and the old side of the next, and its refusal takes seconds to reach.
        self._refused: dict = {}

    def fetch(self, key, make: Callable[[], Any]) -> tuple[Any, bool]:
        """(value, made): the cached value for `key`, else `make()`, stored."""
        hit = self.data.get(key)
        if hit is not None:
            self.data.move_to_end(key)
            self.hits += 1
            return hit, False
        if key in self._refused:
            raise WikitextError(*self._refused[key])
        try:
            value = make()
        except WikitextError as exc:
            if exc.reason == "markup_too_costly":
                if len(self._refused) >= 64:
                    self._refused.clear()
                self._refused[key] = (exc.reason, exc.detail)
            raise
        self.misses += 1
        self.data[key] = value
        if len(self.data) > self.size:
            self.data.popitem(last=False)
        return value, True


class BlockCache(LRU):
    """LRU cache of cleaned blocks (see clean_section), keyed by their raw text (as SectionCache)."""

    def __init__(self, size: int = 16384):
        super().__init__(size)
        self._balanced: set = set()

    def balanced(self, block: str) -> bool:
        """`_block_balanced(block)`, remembering the blocks that passed: an edited section is split again
        whole, and all but one of its blocks were checked when the section was last split."""
        if block in self._balanced:
            return True
        if not _block_balanced(block):
            return False
        if len(self._balanced) >= self.size:
            self._balanced.clear()
        self._balanced.add(block)
        return True

    def get(self, raw: str, names: Namespaces, first: bool) -> CleanSection:
        return self.fetch((raw, first, names), lambda: _clean_block(raw, names, first))[0]


@functools.lru_cache(maxsize=8192)
def _paragraph_sentences(paragraph: str) -> tuple:
    """`split_sentences`, remembered: a block parsed again after an edit to one of its paragraphs still
    holds the others (65% of the paragraphs split on the full Anarchism history were split before)."""
    return tuple(split_sentences(paragraph))


def split_sentences(paragraph: str) -> list[tuple[int, int]]:
    """Sentence (start, end) character offsets within `paragraph` (blingfire).

    blingfire's own offsets wrapper maps bytes to characters in a Python loop (it was the top
    line of the profile); its sentences are substrings, so `str.find` recovers the offsets.
    """
    if not paragraph:
        return []
    out, pos, ascii_only = [], 0, paragraph.isascii()  # no other stop is ASCII
    for sent in blingfire.text_to_sentences(paragraph).split("\n"):
        if not sent:
            continue
        at = paragraph.find(sent, pos)
        if at < 0:  # blingfire normalised something: fall back to its exact offsets
            return [(int(a), int(b)) for a, b in blingfire.text_to_sentences_and_offsets(paragraph)[1]] or \
                [(0, len(paragraph))]
        if ascii_only:
            out.append((at, at + len(sent)))
        else:
            out.extend(_split_at_other_stops(paragraph, at, at + len(sent)))
        pos = at + len(sent)
    if len(out) > 1 and any(paragraph[a] in _QUOTE_CLOSERS for a, _ in out[1:]):
        return _closers_to_previous(paragraph, out)
    return out or [(0, len(paragraph))]


# Sentence ends that blingfire does not make: every Sentence_Terminal character of Unicode (UAX #29's
# STerm: the Devanagari and Bengali danda, the Armenian, Ethiopic, Myanmar, Khmer, Ol Chiki, Mongolian and
# Javanese full stops, …) but the 16 blingfire ends sentences at (so its abbreviation rules for "." stand)
# and the Myanmar comma U+104A; also the Tibetan shad. A paragraph of Hindi was one sentence. A stop
# followed by a space and more text ends a sentence. So does Greek's question mark, written as ";" (or
# U+037E), between a Greek word and a capital Greek letter.
_BLINGFIRE_STOPS = "!.?\u061f\u06d4\u2024\u203c\u203d\u2048\u2049\u3002\ufe52\uff01\uff0e\uff1f\uff61"
_OTHER_STOPS = regex.compile(r"(?V1)(?:[[\p{STerm}\u0f0d]--[%s\u104a]]+|\u037e)(?=\s+\S)"
                             r"|(?<=[\u0370-\u03ff\u1f00-\u1fff]);(?=\s+[\u0391-\u03a9\u0386\u0388-\u038f])"
                             % _BLINGFIRE_STOPS)


def _split_at_other_stops(paragraph: str, start: int, end: int) -> list[tuple[int, int]]:
    out = []
    for m in _OTHER_STOPS.finditer(paragraph, start, end):
        out.append((start, m.end()))
        start = m.end()
        while paragraph[start].isspace():
            start += 1
    out.append((start, end))
    return out


# Quotes and brackets, each with the one that closes it. blingfire splits "他说：“我来了。”然后他走了。"
# before the closing quote, and "« Je viens. » Puis" before the guillemet, so the next sentence began with
# a closer of the one before. A closer that closes an opener of the sentence before now ends that
# sentence, as UAX #29 keeps a terminator's closers with it ("「行きます。」と言った。" stays two sentences, as
# UAX #29 splits it). An opener after a stop ("我来了。“你好”他说。") opens the next sentence, where UAX #29
# would attach it to the last. A straight quote '"' opens and closes alike, so it never counts: blingfire
# places it well in Latin text.
_QUOTE_CLOSER = {"(": ")", "[": "]", "{": "}", "\u201c": "\u201d", "\u2018": "\u2019", "\u201e": "\u201c",
                 "\u201a": "\u2018", "\u00ab": "\u00bb", "\u00bb": "\u00ab", "\u2039": "\u203a",
                 "\u300c": "\u300d", "\u300e": "\u300f", "\uff08": "\uff09", "\u3010": "\u3011",
                 "\u3008": "\u3009", "\u300a": "\u300b", "\u3014": "\u3015", "\uff3b": "\uff3d",
                 "\u3016": "\u3017"}
_QUOTE_CLOSERS = frozenset(_QUOTE_CLOSER.values())


def _open_quotes(text: str) -> list[str]:
    """The quotes and brackets `text` leaves open, innermost last."""
    stack: list[str] = []
    for ch in text:
        if stack and ch == _QUOTE_CLOSER[stack[-1]]:
            stack.pop()
        elif ch in _QUOTE_CLOSER:
            stack.append(ch)
    return stack


def _closers_to_previous(paragraph: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`spans` with the closers that open a sentence but close quotes of the one before moved to it."""
    out = [spans[0]]
    for start, end in spans[1:]:
        stack = None
        while start < end:
            at = start
            while at < end and paragraph[at] in " \t\u00a0\u202f":  # French sets a space before »
                at += 1
            if at == end or paragraph[at] not in _QUOTE_CLOSERS:
                break
            if stack is None:
                stack = _open_quotes(paragraph[out[-1][0]:out[-1][1]])
            if not stack or paragraph[at] != _QUOTE_CLOSER[stack[-1]]:
                break
            stack.pop()
            out[-1] = (out[-1][0], at + 1)
            start = at + 1
            while start < end and paragraph[start].isspace():
                start += 1
        if start < end:
            out.append((start, end))
    return out


class SectionCache(LRU):
    """LRU cache of cleaned sections keyed by their raw wikitext (and the wiki's namespace names, where
    they are not English: the same text cleans differently on another wiki).

    The raw text itself is the key: Python caches a string's hash in the string, and a hit compares
    bytes, so no digest is computed (a blake2b of every section was 5% of the diff stage). The cache holds
    its sections' raw text, about as much again as their cleaned text."""

    def __init__(self, size: int = 4096):
        super().__init__(size)
        self._unbalanced: set = set()
        self.blocks = BlockCache(size)  # blocks of the sections that changed lately

    @staticmethod
    def key(raw: str, names: Namespaces = ENGLISH):
        return raw if names is ENGLISH else (raw, names)

    def balanced(self, raw: str, names: Namespaces = ENGLISH) -> bool:
        """`_balanced(raw)`, without counting brackets for a piece cleaned before: it was a whole section,
        so it balanced (unless it was the unbalanced rest at the end of a revision, remembered apart).
        Nearly every piece of a revision is such a piece."""
        key = self.key(raw, names)
        if key in self.data and key not in self._unbalanced:
            return True
        if _balanced(raw):
            return True
        if len(self._unbalanced) >= self.size:
            self._unbalanced.clear()
        self._unbalanced.add(key)
        return False

    def get(self, raw: str, names: Namespaces = ENGLISH) -> tuple:
        """(cache key, cleaned section, whether it was parsed now)."""
        key = self.key(raw, names)
        section, made = self.fetch(key, lambda: clean_section(raw, names, self.blocks))
        return key, section, made


def clean_wikitext(wikitext: str, cache: Optional[SectionCache] = None, names: Namespaces = ENGLISH) -> CleanDoc:
    """Clean a whole revision. Sentence offsets are into `CleanDoc.text`. `names`: the wiki's File: and
    Category: prefixes."""
    cache = cache or SectionCache()
    sections, keys = [], []
    parsed = 0
    for raw in split_sections(wikitext, lambda piece: cache.balanced(piece, names)):
        key, sec, was_parsed = cache.get(raw, names)
        parsed += was_parsed
        sections.append(sec)
        keys.append(key)
    return CleanDoc(sections, keys, parsed)


def text_sentences(text: str) -> list[SentenceRef]:
    """Sentences of plain text (arXiv): paragraphs are separated by blank lines; offsets into `text`."""
    out: list[SentenceRef] = []
    para_idx = 0
    for m in re.finditer(r"[^\n]+(?:\n(?!\s*\n)[^\n]+)*", text):
        para = m.group()
        if not _HAS_WORD.search(para):
            continue
        for a, b in split_sentences(para):
            sent = _SPACES.sub(" ", para[a:b].replace("\n", " ")).strip()
            if sent:
                out.append(SentenceRef(sent, 0, "", para_idx, m.start() + a, m.start() + b))
        para_idx += 1
    return out


def given_sentences(sentences: list[str]) -> list[SentenceRef]:
    """Sentences that arrive already split (arXivEdits format); offsets into their space-joined text."""
    out, pos = [], 0
    for s in sentences:
        out.append(SentenceRef(s, 0, "", 0, pos, pos + len(s)))
        pos += len(s) + 1
    return out
