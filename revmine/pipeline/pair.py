"""Pair each revision with its parent and flag reverts, bots and skips.

`pair_revisions(records, config)` consumes the reader's stream (revisions of a page are
contiguous in a dump) and yields every input record unchanged plus one `RevisionPair` per
`Revision` the reader did not quarantine. State is per page and bounded: the last
`parent_window` revisions (to resolve <parentid>) and `revert_radius` pending pairs (a pair is
held until no later revision within the radius can still revert it).
"""
from __future__ import annotations

from collections import OrderedDict, deque
from typing import Iterable, Iterator, Optional

import mwreverts

from revmine.config import PairConfig
from revmine.pipeline.fields import is_wikitext
from revmine.schemas import Revision, RevisionPair

# Skip reasons, in the order they are tested.
PAGE_CREATION = "page_creation"
NO_TEXT = "no_text"  # stub dump
TEXT_DELETED = "text_deleted"
PARENT_NOT_FOUND = "parent_not_found"
PARENT_TEXT_UNAVAILABLE = "parent_text_unavailable"
NOT_WIKITEXT = "not_wikitext"  # JavaScript, CSS, JSON, Lua, Wikidata entities: code and data, not prose
IDENTICAL_TEXT = "identical_text"
SKIP_REASONS = (PAGE_CREATION, NO_TEXT, TEXT_DELETED, PARENT_NOT_FOUND, PARENT_TEXT_UNAVAILABLE, NOT_WIKITEXT,
                IDENTICAL_TEXT)


def skip_reason(rev: Revision, parent: Optional[Revision]) -> Optional[str]:
    """Why the pair (parent -> rev) has no text diff to mine, or None for a real text edit."""
    if rev.parent_id is None:
        return PARENT_NOT_FOUND if rev.parent_unknown else PAGE_CREATION
    if rev.text_deleted:
        return TEXT_DELETED
    if not rev.has_text:
        return NO_TEXT
    if parent is None:
        return PARENT_NOT_FOUND
    if not parent.has_text:
        return PARENT_TEXT_UNAVAILABLE
    if not all(is_wikitext(r.model, r.format, r.ns, r.title) for r in (rev, parent)):
        return NOT_WIKITEXT
    # The texts themselves where both are held: an exporter's <sha1> can be wrong or a placeholder, and a
    # real edit must not be skipped for it.
    if rev.text is not None and parent.text is not None:
        if rev.text == parent.text:
            return IDENTICAL_TEXT
    elif rev.sha1 is not None and rev.sha1 == parent.sha1:
        return IDENTICAL_TEXT
    return None


class _PageState:
    def __init__(self, cfg: PairConfig):
        self.window: OrderedDict[int, Revision] = OrderedDict()
        self.detector = mwreverts.Detector(radius=cfg.revert_radius)
        self.pending: deque[RevisionPair] = deque()
        self.by_rev: dict[int, RevisionPair] = {}


class Pairer:
    def __init__(self, config: Optional[PairConfig] = None):
        self.cfg = config or PairConfig()
        self.is_bot = self.cfg.bot_matcher()
        self.page_key: Optional[tuple] = None
        self.state: Optional[_PageState] = None

    def feed(self, rev: Revision) -> Iterator[RevisionPair]:
        key = (rev.wiki, rev.page_id, rev.source_file)
        if key != self.page_key:
            yield from self.flush()
            self.page_key, self.state = key, _PageState(self.cfg)
        st = self.state
        parent = st.window.get(rev.parent_id) if rev.parent_id is not None else None
        if rev.problem is None:
            pair = self._make_pair(rev, parent)
            self._detect_revert(st, rev, pair)
            st.pending.append(pair)
            st.by_rev[rev.rev_id] = pair
        elif rev.sha1 is not None:
            self._detect_revert(st, rev, None)
        st.window[rev.rev_id] = rev
        if len(st.window) > self.cfg.parent_window:
            st.window.popitem(last=False)
        # A pair can be emitted once `radius` newer revisions have passed: nothing can revert it now.
        while len(st.pending) > self.cfg.revert_radius:
            yield self._release(st)

    def flush(self) -> Iterator[RevisionPair]:
        st = self.state
        if st is not None:
            while st.pending:
                yield self._release(st)
        self.state = None
        self.page_key = None

    def _release(self, st: _PageState) -> RevisionPair:
        pair = st.pending.popleft()
        st.by_rev.pop(pair.new_rev_id, None)
        return pair

    def _detect_revert(self, st: _PageState, rev: Revision, pair: Optional[RevisionPair]) -> None:
        checksum = rev.content_sha1 or rev.sha1  # the text's own digest where it is held (see the reader)
        if checksum is None:
            return
        revert = st.detector.process(checksum, (rev.rev_id, rev.timestamp))
        if revert is None:
            return
        reverting_id, reverting_ts = revert.reverting
        max_s = self.cfg.revert_max_seconds
        if max_s is not None and reverting_ts - revert.reverted_to[1] > max_s:
            return
        if pair is not None:
            pair.is_revert = True
            pair.reverted_to_rev_id = revert.reverted_to[0]
        for reverted_id, _ in revert.reverteds:
            victim = st.by_rev.get(reverted_id)
            if victim is not None and not victim.is_reverted:
                victim.is_reverted = True
                victim.reverted_by_rev_id = reverting_id

    def _make_pair(self, rev: Revision, parent: Optional[Revision]) -> RevisionPair:
        reason = skip_reason(rev, parent)
        old_bytes = parent.text_bytes if parent is not None else None
        new_bytes = rev.text_bytes
        return RevisionPair(
            wiki=rev.wiki, year=rev.year, pair_id=f"{rev.wiki}:{rev.rev_id}", page_id=rev.page_id, ns=rev.ns, title=rev.title,
            old_rev_id=rev.parent_id, new_rev_id=rev.rev_id,
            old_timestamp=parent.timestamp if parent is not None else None, new_timestamp=rev.timestamp,
            comment=rev.comment, user=rev.user, user_id=rev.user_id, is_anon=rev.is_anon, minor=rev.minor,
            is_bot=self.is_bot(rev.user), is_revert=False, reverted_to_rev_id=None, is_reverted=False,
            reverted_by_rev_id=None, old_bytes=old_bytes, new_bytes=new_bytes,
            size_delta=(new_bytes - old_bytes) if (new_bytes is not None and old_bytes is not None) else None,
            skip_reason=reason, source_file=rev.source_file,
            old_text=parent.text if reason is None else None, new_text=rev.text if reason is None else None,
            namespaces=rev.namespaces)


def pair_revisions(records: Iterable, config: Optional[PairConfig] = None) -> Iterator:
    """Pass every record through and add a RevisionPair after each pairable Revision's window closes."""
    cfg = config or PairConfig()
    pairer = Pairer(cfg)
    for rec in in_history_order(records, cfg.reorder_window):
        yield rec
        if isinstance(rec, Revision):
            yield from pairer.feed(rec)
    yield from pairer.flush()


def in_history_order(records: Iterable, window: int) -> Iterator:
    """The records with each page's revisions oldest first, as MediaWiki's dumps write them.

    Other exporters may write a page newest first (Special:Export and the API's export with the newest
    revision first): every <parentid> then points forward, and a parent inferred from file order (dumps
    without <parentid>) is the child, so each diff would run backwards and reverts be found in reverse. A
    page whose first revision names the second as its parent, or failing parent ids is newer than the
    second, is held, `window` revisions at a time, and released in reverse file order, with file-order
    parents inferred again in that order. Ids alone do not say it: imported histories carry ids out of
    time order. Pages in order pass through as they come, one revision late."""
    key, held, descending = None, [], False
    for rec in records:
        if not isinstance(rec, Revision):
            yield rec
            continue
        page = (rec.wiki, rec.page_id, rec.source_file)
        if page != key:
            yield from _oldest_first(held, descending, last=True)
            key, held, descending = page, [rec], False
            continue
        if len(held) == 1 and not descending:
            descending = _newest_first(held[0], rec)
            if not descending:
                yield held.pop()
        if not descending:
            yield rec
            continue
        if len(held) >= window:  # full, and the page goes on
            yield from _oldest_first(held, True, last=False)
            held = []
        held.append(rec)
    yield from _oldest_first(held, descending, last=True)


def _newest_first(first: Revision, second: Revision) -> bool:
    if first.parent_from_dump and first.parent_id == second.rev_id:
        return True
    if second.parent_from_dump and second.parent_id == first.rev_id:
        return False
    return (second.timestamp, second.rev_id) < (first.timestamp, first.rev_id)


def _oldest_first(held: list, descending: bool, last: bool) -> Iterator[Revision]:
    """`held` in history order. For a block of a newest-first page that is not its last, the oldest
    revision's file-order parent comes only with the next block: it is unknown, not a creation."""
    if not descending:
        yield from held
        return
    prev = None
    for rev in reversed(held):
        if not rev.parent_from_dump:
            rev.parent_id, rev.parent_unknown = prev, prev is None and not last
        prev = rev.rev_id
        yield rev
