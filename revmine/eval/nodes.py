"""Node changes compared with mwedittypes, Wikimedia's structured wikitext diff, as an oracle.

Both tools are reduced to counts per (node type, action) for each revision pair; a pair agrees on a
type when the counts of every action of that type are equal. mwedittypes is a dev dependency and is
imported only here, when a comparison runs.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Optional

from revmine.pipeline.clean import SectionCache, clean_wikitext
from revmine.pipeline.nodediff import node_changes

# mwedittypes' names for the node types both tools report, and for their actions
TYPES = {"Template": "template", "Wikilink": "wikilink", "ExternalLink": "external_link", "Reference": "reference",
         "Category": "category", "Media": "media", "Table": "table", "Gallery": "gallery", "Heading": "heading"}
ACTIONS = {"insert": "added", "remove": "removed", "change": "changed", "move": "moved"}

Counts = dict[str, dict[str, int]]


@dataclass(frozen=True)
class _Key:
    wiki: str = "w"
    year: int = 0
    pair_id: str = "p"


def revmine_counts(old: str, new: str, cache: Optional[SectionCache] = None) -> Counts:
    """{node_type: {action: n}} from revmine's node diff, in the types mwedittypes tells apart."""
    cache = cache or SectionCache()
    out: dict = defaultdict(Counter)
    changes = node_changes(_Key(), clean_wikitext(old, cache), clean_wikitext(new, cache))
    for c in _redirects_as_links(changes):
        # mwedittypes counts an interlanguage link ([[fr:Paris]]) and a redirect's target as wikilinks
        out["wikilink" if c.node_type in ("interlanguage", "redirect") else c.node_type][c.action] += 1
    return {t: dict(a) for t, a in sorted(out.items())}


def _redirects_as_links(changes: list) -> list:
    """Changes without the pairs that are one unchanged link to mwedittypes: a redirect to X removed and
    a link to X added (a redirect turned into an article that links X), or the other way round."""
    opposite = {"added": "removed", "removed": "added"}
    drop: set[int] = set()
    for j, r in enumerate(changes):
        if r.node_type != "redirect" or r.action not in opposite:
            continue
        match = next((i for i, c in enumerate(changes) if i not in drop and c.node_type == "wikilink"
                      and c.key == r.key and c.action == opposite[r.action]), None)
        if match is not None:
            drop.update((match, j))
    return [c for i, c in enumerate(changes) if i not in drop]


def mwedittypes_counts(old: str, new: str, lang: str = "en") -> tuple[Counts, Counts]:
    """{node_type: {action: n}} from mwedittypes' StructuredEditTypes, in revmine's names: as it reports
    them, and with revmine's two documented conventions applied (a heading or a template removed and
    inserted under the same name is one change)."""
    from mwedittypes import StructuredEditTypes

    diff = StructuredEditTypes("wikitext", old, new, lang=lang).get_diff()
    edits = [e for e in diff["node-edits"] if e.type in TYPES]
    # a moved section: revmine reports its heading
    moved_sections = sum(c.count for c in diff.get("context", []) if c.type == "Section" and c.edittype == "move")
    return _counts(edits, moved_sections), _counts(_same_name_is_a_change(edits), moved_sections)


def _counts(edits: list, moved_sections: int) -> Counts:
    out: dict = defaultdict(Counter)
    for edit in edits:
        out[TYPES[edit.type]][ACTIONS.get(edit.edittype, edit.edittype)] += 1
    if moved_sections:
        out["heading"]["moved"] += moved_sections
    return {t: dict(a) for t, a in sorted(out.items())}


def _same_name_is_a_change(edits: list) -> list:
    """mwedittypes' edits with a removed and an inserted heading or template of the same name merged into
    one change (the name compared without brackets and spacing)."""
    def name(e) -> tuple:
        return e.type, " ".join(str(e.name or "").replace("[[", "").replace("]]", "").split()).lower()

    inserted: dict = defaultdict(list)
    for e in edits:
        if e.type in ("Heading", "Template") and e.edittype == "insert":
            inserted[name(e)].append(e)
    merged, out = set(), []
    for e in edits:
        if e.type in ("Heading", "Template") and e.edittype == "remove" and inserted.get(name(e)):
            merged.add(id(inserted[name(e)].pop(0)))
            out.append(e._replace(edittype="change"))
            continue
        out.append(e)
    return [e for e in out if id(e) not in merged]


def from_mwedittypes_names(counts: Counts) -> Counts:
    """Counts written with mwedittypes' names ({'Template': {'change': 1}}) in revmine's."""
    out = {TYPES[t]: {ACTIONS[a]: n for a, n in acts.items()} for t, acts in sorted(counts.items()) if t in TYPES}
    if "move" in counts.get("Section", {}):
        out.setdefault("heading", {})["moved"] = counts["Section"]["move"]
    return dict(sorted(out.items()))


@dataclass
class Agreement:
    """Per node type: pairs where either tool reports that type, and pairs where both report the same
    counts for every action; per (type, action) likewise."""
    pairs: int = 0
    by_type: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))  # type -> [agree, involved]
    # the same, with those conventions and moves left out: "moved" is where the two tools differ most
    by_type_unmoved: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    # the same, against mwedittypes with revmine's documented conventions applied
    by_type_conventions: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    by_action: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))  # (type, action) -> [agree, involved]
    disagreements: list = field(default_factory=list)  # (pair label, type, ours, theirs)

    def add(self, label: str, ours: Counts, theirs: Counts, theirs_conventions: Optional[Counts] = None) -> None:
        self.pairs += 1
        conv = theirs if theirs_conventions is None else theirs_conventions
        for t in set(ours) | set(conv):
            self.by_type_conventions[t][1] += 1
            self.by_type_conventions[t][0] += ours.get(t, {}) == conv.get(t, {})
        for t in set(ours) | set(theirs) | set(conv):
            a, b = ours.get(t, {}), theirs.get(t, {})
            agree = a == b
            self.by_type[t][1] += 1
            self.by_type[t][0] += agree
            if not agree:
                self.disagreements.append((label, t, a, b))
            a_still = {k: v for k, v in a.items() if k != "moved"}
            b_still = {k: v for k, v in conv.get(t, {}).items() if k != "moved"}
            if a_still or b_still:
                self.by_type_unmoved[t][1] += 1
                self.by_type_unmoved[t][0] += a_still == b_still
            for act in set(a) | set(b):
                self.by_action[(t, act)][1] += 1
                self.by_action[(t, act)][0] += a.get(act, 0) == b.get(act, 0)

    def table(self) -> str:
        """Markdown: agreement per node type, then per type and action."""
        def share(counts: dict, t: str) -> str:
            agree, involved = counts.get(t, (0, 0))
            return f"{agree / involved if involved else 1:.1%}"

        lines = ["| node type | pairs with a change of that type | same counts | agreement | "
                 "with revmine's conventions | conventions, moves left out |", "|---|---:|---:|---:|---:|---:|"]
        for t in sorted(self.by_type, key=lambda t: -self.by_type[t][1]):
            agree, involved = self.by_type[t]
            lines.append(f"| {t} | {involved} | {agree} | {share(self.by_type, t)} | "
                         f"{share(self.by_type_conventions, t)} | {share(self.by_type_unmoved, t)} |")
        lines += ["", "| node type | action | pairs | same count | agreement |", "|---|---|---:|---:|---:|"]
        for (t, act) in sorted(self.by_action, key=lambda k: (-self.by_type[k[0]][1], k[1])):
            agree, involved = self.by_action[(t, act)]
            lines.append(f"| {t} | {act} | {involved} | {agree} | {agree / involved:.1%} |")
        return "\n".join(lines)


def compare(pairs: Iterable[tuple[str, str, str]], lang: str = "en") -> Agreement:
    """Agreement over (label, old wikitext, new wikitext) triples."""
    result = Agreement()
    cache = SectionCache()
    for label, old, new in pairs:
        result.add(label, revmine_counts(old, new, cache), *mwedittypes_counts(old, new, lang))
    return result
