"""Small helpers shared by tests: read a dump fully, and check the books on raw records."""
from __future__ import annotations

from collections import Counter

from revmine.pipeline.pair import pair_revisions
from revmine.pipeline.read import read_dump
from revmine.schemas import Quarantine, Revision, RevisionPair, SourceStats


def read_all(path, config=None, pair_config=None, keep_text=True):
    """Run reader + pairer; return dict of lists by record type (texts dropped unless keep_text)."""
    out = {"revisions": [], "pairs": [], "quarantine": [], "sources": []}
    for rec in pair_revisions(read_dump(str(path), config), pair_config):
        key = {Revision: "revisions", RevisionPair: "pairs", Quarantine: "quarantine", SourceStats: "sources"}[type(rec)]
        if not keep_text:
            if key == "revisions":
                rec.text = None
            elif key == "pairs":
                rec.old_text = rec.new_text = None
        out[key].append(rec)
    return out


def assert_books_balance(out) -> None:
    (stats,) = out["sources"]
    accounted = len(out["pairs"]) + sum(q.n_revisions for q in out["quarantine"])
    assert stats.revisions_read == accounted, (stats.revisions_read, accounted, Counter(q.reason for q in out["quarantine"]))


def reasons(out) -> Counter:
    return Counter(q.reason for q in out["quarantine"])
