"""Node changes between two cleaned revisions: added, removed, changed (in place or renamed) and moved.

Only sections whose raw text differs are compared; their nodes, nested ones included, are laid out in
document order, each block (paragraph or line, see clean.split_blocks) led by a marker of its text, and
matched as a sequence (difflib, shared ends trimmed first). An unchanged block is thus an anchor that no
pairing below crosses in place:

1. an identical node removed in one place and added in another is a move;
2. in a replaced stretch, a removed and an added node of the same type are one change: same key first,
   then in order, so a link, category or heading changed to another one, or an unnamed reference whose
   content changed (keyed by a hash of it), is a rename (`old_key`) rather than a removal plus an addition;
3. what is left pairs by type and key anywhere in the page (a template moved and edited), else it is an
   addition or a removal.

A changed template says which parameters were added, removed or changed. Headings are compared over
all sections, so a section added, removed, renamed or moved is reported as a `heading` change.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from operator import attrgetter
from typing import Optional, Sequence

from revmine.pipeline.clean import CleanDoc, Node
from revmine.pipeline.seqdiff import opcodes
from revmine.schemas import NodeChange

__all__ = ["node_changes", "sequence_opcodes", "template_params"]


def sequence_opcodes(old: Sequence, new: Sequence, lcs: bool = False) -> list[tuple]:
    """difflib opcodes over two sequences of hashables (seqdiff.opcodes: bounded work on long ones), with the
    common prefix and suffix matched first.

    Consecutive revisions share almost everything; trimming the shared ends in a plain loop
    leaves difflib only the middle, where it is quadratic in the worst case.
    """
    n, m = len(old), len(new)
    p = _shared_run(old, new, 0, 0, 1, min(n, m))
    s = _shared_run(old, new, n - 1, m - 1, -1, min(n, m) - p)
    ops = [("equal", 0, p, 0, p)] if p else []
    if p < n - s or p < m - s:
        for tag, i1, i2, j1, j2 in opcodes(old[p:n - s], new[p:m - s], lcs):
            ops.append((tag, i1 + p, i2 + p, j1 + p, j2 + p))
    if s:
        ops.append(("equal", n - s, n, m - s, m))
    return ops


def _shared_run(a: Sequence, b: Sequence, i: int, j: int, step: int, limit: int) -> int:
    """How many items a[i], a[i+step], … equal b[j], b[j+step], … in a row, at most `limit`. By bisection
    over slices, which compare in C (and shared items are mostly the same objects): a loop in Python over
    a page's 500 sentences cost more than the difflib call after it."""
    def same(lo: int, hi: int) -> bool:  # items lo..hi-1 of the run
        if step == 1:
            return a[i + lo:i + hi] == b[j + lo:j + hi]
        return a[i - hi + 1:i - lo + 1] == b[j - hi + 1:j - lo + 1]

    if limit <= 0 or same(0, limit):
        return max(limit, 0)
    lo, hi = 0, limit - 1  # the run is at least lo long and at most hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if same(lo, mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


class _Item:
    """One node occurrence on one side, with the section that holds it; `match` is its counterpart."""
    __slots__ = ("node", "section", "match", "action")

    def __init__(self, node: Node, section: str):
        self.node, self.section = node, section
        self.match: Optional[_Item] = None
        self.action = ""


def template_params(old: Node, new: Node) -> tuple[list[str], list[str], list[str]]:
    """(added, removed, changed) parameter names of a template; a repeated name keeps its last value,
    as MediaWiki does."""
    before, after = dict(old.params), dict(new.params)
    added = [n for n in after if n not in before]
    removed = [n for n in before if n not in after]
    changed = [n for n in after if n in before and before[n] != after[n]]
    return added, removed, changed


def _changed_sections(old: CleanDoc, new: CleanDoc) -> tuple[list[int], list[int]]:
    """Indices of the sections on each side whose raw text has no twin on the other side."""
    gone = Counter(old.section_keys) - Counter(new.section_keys)
    came = Counter(new.section_keys) - Counter(old.section_keys)
    out = []
    for keys, left in ((old.section_keys, gone), (new.section_keys, came)):
        idx = []
        for i, k in enumerate(keys):
            if left.get(k, 0) > 0:
                left[k] -= 1
                idx.append(i)
        out.append(idx)
    return out[0], out[1]


def _anchors(titles: list[str], other: list[str]) -> list[str]:
    """For each section, its title if the other side has it too, else the anchor of the section before."""
    shared = set(other)
    out, anchor = [], ""
    for t in titles:
        if t in shared:
            anchor = t
        out.append(anchor)
    return out


_BY_VALUE, _BY_KEY, _BY_TYPE = attrgetter("type", "key", "digest"), attrgetter("type", "key"), attrgetter("type")


def _pair(olds: list[_Item], news: list[_Item], action: str, same_key: bool, same_value: bool = False) -> None:
    """Match unmatched items of the same type (and key, if `same_key`; and digest, if `same_value`) in order."""
    # Node's equality is its type, key and digest; attrgetter builds the tuple in C
    group = _BY_VALUE if same_value else _BY_KEY if same_key else _BY_TYPE
    waiting: dict = defaultdict(list)
    for o in olds:
        if o.match is None:
            waiting[group(o.node)].append(o)
    for n in news:
        if n.match is None:
            queue = waiting.get(group(n.node))
            if queue:
                o = queue.pop(0)
                o.match, n.match, o.action, n.action = n, o, action, action


def _laid_out(doc: CleanDoc, idx: list[int], anchor: list[str]) -> tuple[list, list]:
    """The nodes of sections `idx` in document order as (node, section title), each block of a section
    led by a marker (None) whose identity is the block's text, and the identities to match them by.

    A node's identity is a plain tuple (what Node's equality compares), so difflib hashes and compares in
    C rather than through the dataclass's generated methods. The markers make an unchanged paragraph or
    line an anchor: a link removed from one paragraph and another added three paragraphs on are a removal
    and an addition, not one changed link."""
    seq: list = []
    ids: list = []
    for i in idx:
        section = doc.sections[i]
        at = 0
        for digest, n in section.blocks or (("", len(section.nodes)),):
            seq.append(None)
            ids.append(("\n", anchor[i], digest))
            for node in section.nodes[at:at + n]:
                seq.append((node, section.title))
                ids.append((anchor[i], node.type, node.key, node.digest))
            at += n
    return seq, ids


def _match(old_seq: list[Optional[tuple[Node, str]]], new_seq: list[Optional[tuple[Node, str]]], old_ids: Sequence,
           new_ids: Sequence) -> tuple[list[_Item], list[_Item]]:
    """The (node, section) items of the stretches where `old_ids` and `new_ids` differ, matched as the
    module docstring says; unmatched items keep `match` None."""
    olds: list[_Item] = []
    news: list[_Item] = []
    blocks: list[tuple[list[_Item], list[_Item]]] = []
    for tag, i1, i2, j1, j2 in sequence_opcodes(old_ids, new_ids, lcs=True):
        if tag != "equal":
            bo = [_Item(*x) for x in old_seq[i1:i2] if x is not None]  # block markers are no nodes
            bn = [_Item(*x) for x in new_seq[j1:j2] if x is not None]
            olds.extend(bo)
            news.extend(bn)
            blocks.append((bo, bn))
    _pair(olds, news, "moved", same_key=True, same_value=True)  # 1. gone from one place, back in another
    for bo, bn in blocks:  # 2. edited in place
        _pair(bo, bn, "changed", same_key=True)
        _pair(bo, bn, "changed", same_key=False)
    _pair(olds, news, "changed", same_key=True)  # 3. edited and moved
    return olds, news


def node_changes(key, old: CleanDoc, new: CleanDoc) -> list[NodeChange]:
    """NodeChange records for one pair; `key` carries wiki, year and pair_id."""
    headings, renamed = heading_changes(key, old, new)
    old_idx, new_idx = _changed_sections(old, new)
    # A node is matched in place within its section, so one that went to another section is a move even
    # where the order of the page's nodes is unchanged. A renamed section keeps its nodes, and a section
    # that exists on one side only counts as part of the one before it (a section split in two, or
    # merged back, moves nothing).
    old_anchor = _anchors([renamed.get(s.title, s.title) for s in old.sections], [s.title for s in new.sections])
    new_anchor = _anchors([s.title for s in new.sections], [renamed.get(s.title, s.title) for s in old.sections])
    old_seq, old_ids = _laid_out(old, old_idx, old_anchor)
    new_seq, new_ids = _laid_out(new, new_idx, new_anchor)
    olds, news = _match(old_seq, new_seq, old_ids, new_ids)
    common = dict(wiki=key.wiki, year=key.year, pair_id=key.pair_id)
    moved_containers = {f"{n.node.type}:{n.node.key}" for n in news if n.action == "moved"}
    out: list[NodeChange] = []
    for n in news:
        node = n.node
        if n.action == "moved":
            if node.container in moved_containers:
                continue  # it moved with the node that holds it
            out.append(NodeChange(**common, node_type=node.type, action="moved", key=node.key, old_value=node.value,
                                  new_value=node.value, section=n.section, container=node.container))
        elif n.action == "changed":
            before = n.match.node
            added, removed, changed = template_params(before, node) if node.type == "template" else ([], [], [])
            out.append(NodeChange(**common, node_type=node.type, action="changed", key=node.key,
                                  old_value=before.value, new_value=node.value, section=n.section,
                                  container=node.container, old_key=before.key if before.key != node.key else None,
                                  params_added=added, params_removed=removed, params_changed=changed))
        else:
            out.append(NodeChange(**common, node_type=node.type, action="added", key=node.key, old_value=None,
                                  new_value=node.value, section=n.section, container=node.container))
    for o in olds:
        if o.match is None:
            out.append(NodeChange(**common, node_type=o.node.type, action="removed", key=o.node.key,
                                  old_value=o.node.value, new_value=None, section=o.section,
                                  container=o.node.container))
    return out + headings


def heading_changes(key, old: CleanDoc, new: CleanDoc) -> tuple[list[NodeChange], dict[str, str]]:
    """Sections added, removed, renamed or moved, told by their headings (the lead has none); and the
    new title of each renamed section."""
    # a heading is its title, its markup and its level: ==History== turned into ===History=== or into
    # ==[[History]]== is a changed heading
    if [(s.title, s.level, s.heading) for s in old.sections if s.title] == \
            [(s.title, s.level, s.heading) for s in new.sections if s.title]:
        return [], {}  # most edits: checked without building a Node per heading
    before = [Node("heading", s.title, "=" * s.level, f"{s.level}:{s.heading}") for s in old.sections if s.title]
    after = [Node("heading", s.title, "=" * s.level, f"{s.level}:{s.heading}") for s in new.sections if s.title]
    if before == after:
        return [], {}
    olds, news = _match([(h, h.key) for h in before], [(h, h.key) for h in after], before, after)
    common = dict(wiki=key.wiki, year=key.year, pair_id=key.pair_id, node_type="heading")
    out = []
    for n in news:
        title, before = n.node.key, n.match.node if n.match else None
        if n.action == "changed":
            out.append(NodeChange(**common, action="changed", key=title, old_value=_heading(before),
                                  new_value=_heading(n.node), section=title,
                                  old_key=before.key if before.key != title else None))
        else:
            action = n.action or "added"
            out.append(NodeChange(**common, action=action, key=title, old_value=_heading(before),
                                  new_value=_heading(n.node), section=title))
    out.extend(NodeChange(**common, action="removed", key=o.node.key, old_value=_heading(o.node), new_value=None,
                          section=o.node.key) for o in olds if o.match is None)
    return out, {n.match.node.key: n.node.key for n in news if n.action == "changed" and n.match.node.key != n.node.key}


def _heading(node: Optional[Node]) -> Optional[str]:
    return f"{node.value} {node.key} {node.value}" if node is not None else None
