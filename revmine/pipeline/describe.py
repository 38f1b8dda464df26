"""Edit summaries from the structured diff alone, and the faithfulness rule every summary must keep.

The describer writes a summary wherever the structure determines the edit, in Wikipedia's edit-summary
conventions: reverts, pure link / category / reference / template / media / section changes, typo fixes
and whitespace. It names only what is in the edit, so it can never misstate one. A content edit is
described by `describe_content` (its changes spelled out or quoted), except the few kinds the language
model words better (`route`); `describe_content` is also the fallback when the model's output is rejected.

Faithfulness: a summary may use only the words of the changed spans, the names of the changed nodes and
sections, and a fixed vocabulary of edit verbs and objects (`VOCABULARY`). A summary that copies six or
more consecutive words of the article that the edit did not change is a copy.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from rapidfuzz.distance import OSA

from revmine.pipeline.summarize import PairDiff, clip_words, edit_kind, input_sections, node_key, pair_skip_reason

__all__ = ["describe", "describe_content", "route", "Evidence", "check", "accept", "VOCABULARY"]

MAX_ITEMS = 3
SPELL_EDITS, SPELL_WORDS = 4, 8
QUOTE_EDITS, QUOTE_WORDS = 2, 8
# The model writes a content edit only where it beat the describer on the summaries train split, its own
# training data: expansions and copyedits of at most this many word-level changes (ROUGE-L +0.051 and
# +0.045). Removals, plain additions, rewrites and larger edits gained at most 0.008 there
# (benchmarks/summary_routing.py; benchmarks/RESULTS.md).
MODEL_MAX_EDITS = 3
MODEL_KINDS = frozenset({"expanded text", "copyedit"})
COPY_WORDS = 6
_WORD = re.compile(r"\w+", re.UNICODE)

# Edit verbs and objects, and the function words a summary needs around them.
VOCABULARY = frozenset("""
added add adds removed remove removes changed change changes fixed fix fixes updated update moved move
renamed rename reverted revert revision revisions to last version by restored typo typos spelling copyedit
copyedits link links linked unlinked wikilink external category categories cat reference references ref refs
citation citations cite template templates image images file files media caption gallery table tables
section sections heading headings interwiki interlanguage whitespace formatting format expanded expand
rewrote rewritten reworded text words word sentence sentences paragraph punctuation parameter parameters and or of in
on the a an from with for into more other as at its it no redirect redirects redirected page target
""".split())

_NOUN = {"wikilink": ("link", "links"), "external_link": ("external link", "external links"),
         "category": ("category", "categories"), "reference": ("reference", "references"),
         "template": ("template", "templates"), "media": ("image", "images"), "table": ("table", "tables"),
         "gallery": ("gallery", "galleries"), "heading": ("section", "sections"),
         "interlanguage": ("interwiki", "interwikis"), "redirect": ("redirect", "redirects")}


def describe(d: PairDiff) -> Optional[str]:
    """A summary when the structured diff determines the edit, else None (a content edit)."""
    p = d.pair
    if p is not None and p.is_revert:
        return (f"Reverted to revision {p.reverted_to_rev_id}" if p.reverted_to_rev_id else "Reverted edits")
    if not d.old and not d.new:
        return _describe_nodes(d.nodes) if d.nodes else "whitespace and formatting"
    redirects = [n for n in d.nodes if n.node_type == "redirect"]
    if redirects:
        # A page made into a redirect: MediaWiki's own autosummary names the redirect, not the text and
        # links it replaced. A redirect removed or retargeted is described with the other node changes.
        return _item(redirects[0]) if redirects[0].action == "added" else _describe_nodes(d.nodes)
    typo = _typos(d)
    if typo and not any(not n.container for n in d.nodes):
        return typo
    return None


def route(pair, d: PairDiff, model: bool, unsummarised: str = "content_edit_unsummarised") -> Optional[tuple]:
    """(summary, path, skip reason) for a pair the model need not see, or None: it goes to the model.

    The describer writes what the structure determines; reverted and bot edits never reach the model
    (the describer's plain content summary); without a model, content edits get `unsummarised` as their
    skip reason."""
    reason = pair_skip_reason(pair)
    if reason:
        return None, None, reason
    text = describe(d)
    if text is not None:
        return text, "describer", None
    if pair.is_reverted or pair.is_bot or not _needs_model(d):
        return describe_content(d), "describer", None
    return None if model else (None, None, unsummarised)


def _needs_model(d: PairDiff) -> bool:
    """Whether the model words this content edit better than `describe_content`, as measured on the
    summaries train split: not for a few short word changes, which are spelled out as well as the model
    words them (ROUGE-L 0.190 against 0.191 on 240 rows), nor for edits of more than MODEL_MAX_EDITS
    word-level changes or of a kind outside MODEL_KINDS (benchmarks/RESULTS.md)."""
    edits = d.word_edits
    if _spelled(edits) or len(edits) > MODEL_MAX_EDITS or _punctuation_only(edits):
        return False
    return edit_kind(d.old, d.new, edits) in MODEL_KINDS


def describe_content(d: PairDiff) -> str:
    """A plain summary of a content edit. A few short word-level changes are spelled out, as editors write
    them ("changed 1840 to 1846; added citation needed"); a larger edit by its first changes, each cut to
    a few words ("added In 1840 Proudhon published …; removed the"); a change of punctuation alone as
    such; else by its kind and section ("rewrote text in History"). Node changes follow."""
    edits = d.word_edits
    text = _spelled(edits) or _quoted(edits) or ("changed punctuation" if _punctuation_only(edits) else None)
    if not text:
        text = edit_kind(d.old, d.new, edits) + (f" in {d.section}" if d.section else "")
    nodes = _describe_nodes(d.nodes) if d.nodes else ""
    return text + (f"; {nodes}" if nodes else "")


def _spelled(word_level: Sequence[tuple[str, str]]) -> Optional[str]:
    """'changed X to Y; added Z' when the edit is at most SPELL_EDITS word-level changes of at most
    SPELL_WORDS words a side. (Chosen on the summaries train split: ROUGE-L against editors' comments
    0.090 with the kind-and-section phrase alone, 0.129 with this; benchmarks/RESULTS.md.)"""
    edits = _wordy(word_level)
    if not edits or len(edits) > SPELL_EDITS or any(max(len(a.split()), len(b.split())) > SPELL_WORDS for a, b in edits):
        return None
    return _phrases(edits)


def _wordy(word_level: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The word-level changes with their edge punctuation stripped; punctuation alone is no phrase."""
    edits = [(a.strip(" ,;:"), b.strip(" ,;:")) for a, b in word_level]
    return [(a, b) for a, b in edits if _WORD.search(a + b)]


def _phrases(edits: Sequence[tuple[str, str]]) -> str:
    """'changed X to Y; added Z; removed W'."""
    return "; ".join(f"changed {a} to {b}" if a and b else (f"added {b}" if b else f"removed {a}") for a, b in edits)


def _punctuation_only(word_level: Sequence[tuple[str, str]]) -> bool:
    return bool(word_level) and not any(_WORD.search(a + b) for a, b in word_level)


def _quoted(word_level: Sequence[tuple[str, str]]) -> Optional[str]:
    """The first QUOTE_EDITS word-level changes, each cut to QUOTE_WORDS words. (Chosen on the summaries
    train split, no model involved: ROUGE-L 0.130 with the kind and section for such edits, 0.146 with
    this; one change 0.145, cut to 4 or 6 words 0.141-0.144; benchmarks/RESULTS.md.)"""
    edits = [(clip_words(a, QUOTE_WORDS), clip_words(b, QUOTE_WORDS)) for a, b in _wordy(word_level)]
    return _phrases([(a, b) for a, b in edits if _WORD.search(a + b)][:QUOTE_EDITS]) or None  # words may lie past the cut


def _typos(d: PairDiff) -> Optional[str]:
    """'typo: X → Y' when every word-level change swaps one word for a close spelling."""
    if len(d.old) != len(d.new) or len(d.old) > 3:  # a typo fix changes a few sentences in place
        return None
    edits = d.word_edits
    if not edits or len(edits) > 4:
        return None
    for a, b in edits:
        if not a or not b or len(a.split()) != 1 or len(b.split()) != 1 or not _WORD.search(a + b):
            return None  # "," -> ";" is punctuation, not a spelling
        # a transposition ("teh" -> "the") is one step, as in Damerau's distance
        if a.lower() == b.lower() or OSA.distance(a.lower(), b.lower()) > max(1, min(len(a), len(b)) // 4):
            return None
    if len(edits) == 1:
        a, b = edits[0]
        return f"typo: {a} → {b}"
    return "typos: " + ", ".join(f"{a} → {b}" for a, b in edits)


def _name(node_type: str, key: Optional[str]) -> str:
    """What an editor would call the node in a summary: as in the model input, with a template's or a
    category's markup."""
    name = node_key(node_type, key)
    if name and node_type == "template":
        return "{{" + name + "}}"
    if name and node_type == "category":
        return f"[[Category:{name}]]"
    return name


def _describe_nodes(nodes: Sequence) -> str:
    """'added [[Category:X]]; removed link to Y; updated {{Infobox}} (population)' for top-level nodes."""
    top = [n for n in nodes if not n.container] or list(nodes)
    items: list[str] = []
    seen: set = set()
    unnamed: Counter = Counter()  # nodes without a name (unnamed references) are counted
    for n in top:
        name = _name(n.node_type, n.key)
        if not name:
            unnamed[(n.action, n.node_type)] += 1
        elif (k := (n.action, n.node_type, name, n.old_key)) not in seen:
            seen.add(k)
            items.append(_item(n))
    for action, typ in dict.fromkeys((n.action, n.node_type) for n in top):  # in order of first appearance
        count = unnamed[(action, typ)]
        if not count:
            continue
        noun = _NOUN.get(typ, (typ, typ + "s"))[count > 1]
        items.append(f"{action} {count} {noun}" if count > 1 else f"{action} {noun}")
    more = len(items) - MAX_ITEMS
    return "; ".join(items[:MAX_ITEMS]) + (f"; {more} other change{'s' if more > 1 else ''}" if more > 0 else "")


def _item(n) -> str:
    name = _name(n.node_type, n.key)
    if n.node_type == "wikilink":
        if n.action == "changed" and n.old_key:
            return f"changed link {n.old_key} to {n.key}"
        return {"added": f"linked {name}", "removed": f"unlinked {name}", "moved": f"moved link to {name}"}.get(
            n.action, f"changed link to {name}")
    if n.node_type == "redirect":  # MediaWiki's autosummary wording
        if n.action == "changed" and n.old_key:
            return f"changed redirect target from [[{n.old_key}]] to [[{n.key}]]"
        return {"added": f"redirected page to [[{n.key}]]", "removed": f"removed redirect to [[{n.key}]]"}.get(
            n.action, f"updated redirect to [[{n.key}]]")
    if n.node_type == "heading":
        if n.action == "changed" and n.old_key:
            return f"renamed section {n.old_key} to {n.key}"
        return f"{n.action} section {name}" if n.action != "changed" else f"changed heading {name}"
    noun = _NOUN.get(n.node_type, (n.node_type, ""))[0]
    if n.action == "changed" and n.old_key and n.node_type not in ("reference",):
        old = _name(n.node_type, n.old_key)
        # a template or category name says what it is
        return f"changed {old} to {name}" if n.node_type in ("template", "category") else \
            f"changed {noun} {old} to {name}"
    if n.action == "changed" and n.node_type == "template":
        params = (n.params_changed or []) + (n.params_added or []) + (n.params_removed or [])
        return f"updated {name}" + (f" ({', '.join(params[:3])})" if params else "")
    verb = {"changed": "updated"}.get(n.action, n.action)
    if n.node_type in ("template", "category"):
        return f"{verb} {name}"
    if name == n.node_type:  # a table or gallery is keyed by its type: "updated table", not "table table"
        name = ""
    return f"{verb} {noun} {name}".strip()


# ---- faithfulness ------------------------------------------------------------------------------

def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text or "")]


@dataclass
class Evidence:
    """What a summary of one edit may draw on: the changed spans, the names of its nodes and sections,
    and the changed sentences (for the copy rule)."""
    spans: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, d: PairDiff) -> "Evidence":
        spans = [t for a, b in d.word_edits for t in (a, b) if t]
        names = [x for n in d.nodes for x in (n.key, n.old_key, _name(n.node_type, n.key), *(n.params_added or []),
                                              *(n.params_removed or []), *(n.params_changed or [])) if x]
        names += list(d.sections) + ([d.section] if d.section else [])
        if d.pair is not None:
            names.append(str(d.pair.reverted_to_rev_id or ""))
        return cls(spans, names, list(d.old) + list(d.new))

    @classmethod
    def of_input(cls, text: str) -> "Evidence":
        """From a model input (`<edits>`, `<nodes>`, `<old_text>`, `<new_text>`): what the model saw."""
        sec = input_sections(text)
        spans = re.findall(r'"([^"]*)"', sec.get("edits", ""))
        names = [sec.get("nodes", ""), sec.get("section", "")]
        sentences = [s for k in ("old_text", "new_text") for s in sec.get(k, "").split("<sep>")]
        return cls(spans, names, sentences)


def check(summary: str, ev: Evidence) -> tuple[bool, bool]:
    """(unfaithful, copied) for one summary."""
    allowed = set(VOCABULARY)
    for text in ev.spans + ev.names:
        allowed.update(_words(text))
    words = _words(summary)
    unfaithful = any(w not in allowed and not w.isdigit() for w in words)
    span_grams = {g for t in ev.spans for g in _grams(_words(t))}
    text_grams = {g for s in ev.sentences for g in _grams(_words(s))}
    copied = any(g in text_grams and g not in span_grams for g in _grams(words))
    return unfaithful, copied


def accept(text: str, ev: Evidence, fallback: str) -> tuple[str, str]:
    """(summary, path) for a model output: the output itself, or `fallback` (the describer's) when it
    breaks the faithfulness rule or copies article text. The pipeline and its evaluation both decide so."""
    unfaithful, copied = check(text, ev)
    return (fallback, "describer") if unfaithful or copied else (text, "model")


def _grams(words: Sequence[str], n: int = COPY_WORDS) -> Iterable[tuple]:
    return (tuple(words[i:i + n]) for i in range(len(words) - n + 1))
