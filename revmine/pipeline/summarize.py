"""Edisum-style edit summaries: model inputs from a pair's diff, comment cleaning, and the dataset builder.

Input format (Edisum, Šakota et al. 2024): the changed old sentences after an `<old_text>` marker and the
changed new sentences after `<new_text>`, joined by `<sep>`. Compact structure lines go first, so truncation
never cuts them: `<section>`, the section edited (the comment's `/* section */` marker, else the heading
of the first changed sentence); `<kind>`, what the word counts say the edit is (added, removed, expanded,
copyedit, rewrote); `<intents>`, the edits' intents when the intent stage ran; `<edits>`, the word-level changes (`"specially" → "especially" | +"in 1921"`), because a
135M model reads the change far better spelled out than by comparing two long sentences, and editors
name the changed words ("changed specially to especially"); and `<nodes>`, the structural changes
(templates, links, references, categories), because many summaries name them ("added citation").
Sides are capped in characters, so the prompt stays short on CPU.

Which pairs make training data (Edisum's filters, stated as code in `dataset_row`):
- real text edits of articles (namespace 0; talk and user pages hold conversations, not edit
  descriptions): not a page creation or identical text, not an identity revert, not later reverted,
  not by a bot;
- a human comment that says something once `/* section */` autocomments and link markup are stripped:
  not empty, not a revert/undo message, not a bare "typo"/"rv"/"ce"-style token, at most 30 words;
- a diff with at least one changed sentence: edits that only touch markup (templates, links,
  references) have no sentence to summarise. (A model could learn to summarise node changes too,
  but their comments are dominated by tool tags; we keep them out and say so in the summaries table.)
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Optional, Sequence
from urllib.parse import urlsplit

from revmine.pipeline.extract import char_span, extract_edits, tokenize
from revmine.schemas import Edit, NodeChange, RevisionPair, Sentence

PROMPT_VERSION = "edisum-v4"  # v2: no hash keys for unnamed refs, links by host; v3: <edits> line first;
# v4: <section>, <kind> and <intents> lines
SEP = " <sep> "
MAX_SIDE_CHARS = 500
MAX_NODES = 6
MAX_EDITS = 4
EDIT_WORDS = 8
_MARKER = re.compile(r"<(section|kind|intents|edits|nodes|old_text|new_text)>")

_AUTOCOMMENT = re.compile(r"/\*.*?\*/")
_LINK = re.compile(r"\[\[(?:[^\[\]|]*\|)?([^\[\]]*)\]\]")
_REVERT = re.compile(r"^(rv|rvv|rvt|revert|reverted|reverting|undo|undid|undone|rollback|restore|restored|"
                     r"reverted edits? by|revert(?:ed)? to|undid revision|vandal|vandalism)\b", re.I)
_TRIVIAL = re.compile(r"^(typo|typos|typo fix|fix typo|fixed typo|sp|spelling|ce|c/e|copyedit|copy edit|minor|m|"
                      r"fix|fixes|fixed|edit|edits|update|updated|changes|tweak|\W*)\W*$", re.I)


def clean_comment(comment: Optional[str], max_words: int = 30) -> Optional[str]:
    """The human part of an edit comment, or None when there is none worth learning from."""
    if not comment:
        return None
    text = _LINK.sub(r"\1", _AUTOCOMMENT.sub(" ", comment))
    text = re.sub(r"\s+", " ", text).strip(" -–:;,.→←")
    if not text or _REVERT.match(text) or _TRIVIAL.match(text) or len(text.split()) > max_words:
        return None
    return text


def comment_section(comment: Optional[str]) -> Optional[str]:
    """The section name of a `/* section */` autocomment, which MediaWiki writes when a section is edited."""
    m = _AUTOCOMMENT.search(comment or "")
    return (m.group(0)[2:-2].strip() or None) if m else None


def _cap(parts: Sequence[str], limit: int) -> str:
    out, used = [], 0
    for p in parts:
        if used + len(p) > limit:
            if not out:
                out.append(p[:limit].rsplit(" ", 1)[0] + " …")
            break
        out.append(p)
        used += len(p) + len(SEP)
    return SEP.join(out)


_HASH_KEY = re.compile(r"[0-9a-f]{12}")


def node_key(node_type: str, key: Optional[str]) -> str:
    """What a reader would call the node. Unnamed references are keyed by a content hash that means
    nothing to a reader (a model trained on it learns to copy hex strings), so they keep no key; a link
    is named by its host, as editors write "add www.example.org"."""
    if node_type == "reference" and _HASH_KEY.fullmatch(key or ""):
        return ""
    if node_type == "external_link":
        return urlsplit(key).netloc or key
    return key or ""


def node_summary(nodes: Iterable[NodeChange]) -> str:
    # Nodes nested in a template, table, caption or gallery change with their container, which is named
    # already; those inside a reference (the citation template it holds) say what the reference is.
    counts = Counter((n.action, n.node_type, node_key(n.node_type, n.key)) for n in nodes
                     if not n.container or n.container.startswith("reference:"))
    items = [f"{a} {t} {k}".strip() + (f" x{c}" if c > 1 else "") for (a, t, k), c in counts.most_common(MAX_NODES)]
    return "; ".join(items)


def clip_words(text: str, n: int = EDIT_WORDS) -> str:
    """The first n words of `text`, with " …" where it goes on."""
    return _first_words(text, n) + (" …" if len(text.split()) > n else "")


def word_edits(old: Sequence[str], new: Sequence[str]) -> list[tuple[str, str]]:
    """(removed text, inserted text) for each word-level change between the changed sentences."""
    o, n = " ".join(old), " ".join(new)
    ot, nt = tokenize(o), tokenize(n)
    out = []
    for e in extract_edits([t[0] for t in ot], [t[0] for t in nt]):
        (os_, oe), (ns_, ne) = char_span(ot, e.old), char_span(nt, e.new)
        out.append((o[os_:oe] if e.old else "", n[ns_:ne] if e.new else ""))
    return out


def edit_summary(old: Sequence[str], new: Sequence[str], edits: Optional[list] = None) -> str:
    """The `<edits>` line: `"a" → "b"` for a substitution, `+"b"` for an insertion, `-"a"` for a deletion.
    `edits`: `word_edits(old, new)`, when the caller has it already."""
    items = [f'"{clip_words(a)}" → "{clip_words(b)}"' if a and b else (f'+"{clip_words(b)}"' if b else f'-"{clip_words(a)}"')
             for a, b in (word_edits(old, new) if edits is None else edits)]
    more = len(items) - MAX_EDITS
    return " | ".join(items[:MAX_EDITS]) + (f" | {more} more" if more > 0 else "")


def edit_kind(old: Sequence[str], new: Sequence[str], edits: Optional[list] = None) -> str:
    """What the word counts say a content edit is: added, expanded, removed, copyedit or rewrote text.
    `edits`: `word_edits(old, new)`, when the caller has it already."""
    old_words = sum(len(s.split()) for s in old)
    new_words = sum(len(s.split()) for s in new)
    edits = (word_edits(old, new) if edits is None else edits) if old and new else []
    if not old or (edits and all(not a for a, _ in edits)):
        return "expanded text" if new_words > 1.5 * old_words + 5 else "added text"
    if not new or (edits and all(not b for _, b in edits)) or old_words > 1.5 * new_words + 5:
        return "removed text"
    if new_words > 1.5 * old_words + 5:
        return "expanded text"
    changed = sum(len((a + " " + b).split()) for a, b in edits)
    return "copyedit" if changed <= 6 else "rewrote text"


def intent_summary(intents: Iterable[str]) -> str:
    """'Content x3; Language' from the edits' coarse intents, most frequent first."""
    return "; ".join(f"{k}" + (f" x{c}" if c > 1 else "") for k, c in Counter(i for i in intents if i).most_common())


def summary_input(old: Sequence[str], new: Sequence[str], nodes: Iterable[NodeChange] = (),
                  section: Optional[str] = None, intents: Iterable[str] = (), edits: Optional[list] = None) -> str:
    """The model input for one pair: section, kind and intents of the edit, word edits, node changes,
    changed old and new sentences. `edits`: `word_edits(old, new)`, when the caller has it already."""
    edits = word_edits(old, new) if edits is None else edits  # both lines read it: one diff
    head = (f"<section> {section} " if section else "") + f"<kind> {edit_kind(old, new, edits)}"
    if (its := intent_summary(intents)):
        head += f" <intents> {its}"
    head += f" <edits> {edit_summary(old, new, edits)}"
    ns = node_summary(nodes)
    if ns:
        head += f" <nodes> {ns}"
    return f"{head} <old_text> {_cap(old, MAX_SIDE_CHARS)} <new_text> {_cap(new, MAX_SIDE_CHARS)}"


def input_sections(text: str) -> dict[str, str]:
    """The marked sections of a model input, by marker name (any order; inputs of every prompt version)."""
    parts = _MARKER.split(text)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


@dataclass
class PairDiff:
    """What the summary stage needs from one pair's diff records."""
    pair: Optional[RevisionPair]
    old: list[str]
    new: list[str]
    nodes: list[NodeChange]
    sections: list[str] = field(default_factory=list)  # headings of the changed sentences, in order
    intents: list[str] = field(default_factory=list)  # coarse intents of the labelled edits

    @property
    def section(self) -> Optional[str]:
        """The section edited: the comment's `/* section */` marker, else the first changed heading."""
        marked = comment_section(self.pair.comment) if self.pair is not None else None
        return marked or next((s for s in self.sections if s), None)

    @cached_property
    def word_edits(self) -> list[tuple[str, str]]:
        """`word_edits(old, new)`, computed once: the input, the describer and the checks all read it."""
        return word_edits(self.old, self.new)

    @property
    def input(self) -> str:
        return summary_input(self.old, self.new, self.nodes, self.section, self.intents, self.word_edits)


def group_diffs(records: Iterable, pairs: Sequence[RevisionPair] = ()) -> dict[str, PairDiff]:
    """Changed sentences and node changes per pair_id, from a stream of diff records."""
    by_id: dict[str, PairDiff] = {p.pair_id: PairDiff(p, [], [], []) for p in pairs}
    sents: dict[str, list[Sentence]] = defaultdict(list)
    for r in records:
        if isinstance(r, Sentence):
            sents[r.pair_id].append(r)
        elif isinstance(r, NodeChange):
            by_id.setdefault(r.pair_id, PairDiff(None, [], [], [])).nodes.append(r)
        elif isinstance(r, Edit) and r.intent_coarse:
            by_id.setdefault(r.pair_id, PairDiff(None, [], [], [])).intents.append(r.intent_coarse)
    for pid, ss in sents.items():
        d = by_id.setdefault(pid, PairDiff(None, [], [], []))
        for s in sorted(ss, key=lambda s: s.sent_idx):
            (d.old if s.side == "old" else d.new).append(s.text)
            if s.section not in d.sections:
                d.sections.append(s.section)
    return by_id


def pair_skip_reason(pair: RevisionPair) -> Optional[str]:
    """Why a pair gets no summary whatever its diff: its own skip reason, or a page outside the articles."""
    if pair.skip_reason:
        return pair.skip_reason
    if pair.ns != 0:
        return "not_article"  # talk and user pages hold conversations; the model learnt article edits
    return None


def skip_reason(d: PairDiff) -> Optional[str]:
    """Why a pair makes no training row (None: it can)."""
    if d.pair is not None and (reason := pair_skip_reason(d.pair)):
        return reason
    if not d.old and not d.new:
        return "only_node_changes" if d.nodes else "no_text_change"
    return None


def edisum_candidate(pair: RevisionPair) -> bool:
    """Edisum's filter on a pair: an article edit (namespace 0), not a revert, not reverted, not by a bot."""
    return pair.ns == 0 and not (pair.is_revert or pair.is_reverted or pair.is_bot)


# `edisum_candidate` as SQL over revision_pairs (aliased p), for exports from the warehouse.
EDISUM_CANDIDATE_SQL = "p.ns = 0 AND NOT p.is_revert AND NOT p.is_reverted AND NOT p.is_bot"


def dataset_row(d: PairDiff) -> Optional[dict]:
    """A training example, or None when the pair fails Edisum's filters (see the module docstring)."""
    p = d.pair
    if p is None or skip_reason(d) or not edisum_candidate(p):
        return None
    summary = clean_comment(p.comment)
    if summary is None:
        return None
    return {"pair_id": p.pair_id, "wiki": p.wiki, "page_id": p.page_id, "title": p.title,
            "timestamp": p.new_timestamp, "input": d.input, "summary": summary, "raw_comment": p.comment,
            "section": d.section}


def time_split(rows: list[dict], dev_fraction: float = 0.1, gap_seconds: int = 86_400) -> tuple[list, list]:
    """The latest `dev_fraction` of edits (by time) are dev. Train edits of a dev page made within
    `gap_seconds` before the cut are dropped, so one edit burst never lands on both sides."""
    rows = sorted(rows, key=lambda r: (r["timestamp"] or 0, r["pair_id"]))
    cut = int(len(rows) * (1 - dev_fraction))
    train, dev = rows[:cut], rows[cut:]
    if dev:
        t0 = dev[0]["timestamp"] or 0
        dev_pages = {(r["wiki"], r["page_id"]) for r in dev}
        train = [r for r in train if not ((r["wiki"], r["page_id"]) in dev_pages and (r["timestamp"] or 0) > t0 - gap_seconds)]
    return train, dev


def page_split(rows: list[dict], dev_fraction: float = 0.1, seed: str = "revmine") -> tuple[list, list]:
    """(train, dev) where dev holds whole pages absent from train (rows marked `seen: False`) and the
    latest edits of the other pages (`seen: True`, by `time_split`).

    Pages are taken in an order fixed by a hash of (wiki, page id) until the unseen rows reach half of
    dev (`dev_fraction / 2` of all rows). A dominant page (a quarter of all rows or more) is never held
    out: a single long history must stay in train."""
    import hashlib

    per_page = Counter((r["wiki"], r["page_id"]) for r in rows)
    total = len(rows)
    minor = {k: n for k, n in per_page.items() if n < total / 4}
    want = dev_fraction * total / 2
    order = sorted(minor, key=lambda k: hashlib.blake2b(f"{seed}:{k[0]}:{k[1]}".encode(), digest_size=8).hexdigest())
    unseen, got = set(), 0
    for k in order:
        if got >= want:
            break
        unseen.add(k)
        got += minor[k]
    held = [dict(r, seen=False) for r in rows if (r["wiki"], r["page_id"]) in unseen]
    rest = [r for r in rows if (r["wiki"], r["page_id"]) not in unseen]
    seen_fraction = max(0.0, (dev_fraction * total - len(held)) / max(len(rest), 1))
    train, dev = time_split(rest, seen_fraction)
    return train, [dict(r, seen=True) for r in dev] + held


# ---- baselines ----------------------------------------------------------------------------------

def _first_words(text: str, n: int = 6) -> str:
    words = text.split()
    return " ".join(words[:n])


def template_summary(input_text: str) -> str:
    """Extractive baseline: "changed X to Y", "added: <first words>", "removed: <first words>"."""
    sec = input_sections(input_text)
    if "old_text" not in sec or "new_text" not in sec:
        return "edited"
    old = [s.strip() for s in sec["old_text"].split("<sep>") if s.strip()]
    new = [s.strip() for s in sec["new_text"].split("<sep>") if s.strip()]
    if old and new:
        edits = word_edits(old[:1], new[:1])
        if edits:
            a, b = edits[0]
            if a and b:
                return f"changed {a} to {b}"
            return f"added: {_first_words(b)}" if b else f"removed: {_first_words(a)}"
        return "edited"
    if new:
        return f"added: {_first_words(new[0])}"
    if old:
        return f"removed: {_first_words(old[0])}"
    return "edited"


# ---- dataset from dumps -------------------------------------------------------------------------

def dedupe(rows: Iterable[dict]) -> list[dict]:
    seen, out = set(), []
    for r in rows:
        key = (r["input"], r["summary"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out
