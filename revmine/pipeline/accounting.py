"""The books of a run: every revision read ends up as exactly one pair (written or skipped) or
in quarantine. Computed from what was actually written, not from in-memory counters."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from revmine.schemas import Quarantine, SourceStats


@dataclass
class Accounting:
    revisions_read: int = 0
    pairs_written: int = 0
    skipped: Counter = field(default_factory=Counter)
    quarantined: Counter = field(default_factory=Counter)  # revisions, by reason
    events: Counter = field(default_factory=Counter)  # page/file events that account for no revision
    files: int = 0
    incomplete_files: int = 0
    # Diff stage: every written pair is diffed or quarantined at the clean stage.
    diffed: int = 0
    diff_quarantined: Counter = field(default_factory=Counter)
    diff_enabled: bool = True

    @property
    def accounted(self) -> int:
        return self.pairs_written + sum(self.skipped.values()) + sum(self.quarantined.values())

    @property
    def diff_balanced(self) -> bool:
        return not self.diff_enabled or self.pairs_written == self.diffed + sum(self.diff_quarantined.values())

    @property
    def balanced(self) -> bool:
        return self.revisions_read == self.accounted and self.diff_balanced

    @classmethod
    def from_tables(cls, sources: pa.Table, pairs: pa.Table, quarantine: pa.Table,
                    diffs: pa.Table | None = None) -> "Accounting":
        acc = cls()
        acc.diff_enabled = diffs is not None
        acc.diffed = diffs.num_rows if diffs is not None else 0
        acc.files = sources.num_rows
        acc.revisions_read = int(pc.sum(sources.column("revisions_read")).as_py() or 0)
        acc.incomplete_files = int(sources.num_rows - (pc.sum(sources.column("complete").cast(pa.int64())).as_py() or 0))
        for reason, n in _counts(pairs.column("skip_reason")):
            if reason is None:
                acc.pairs_written = n
            else:
                acc.skipped[reason] = n
        for row in quarantine.select(["reason", "n_revisions", "level"]).to_pylist():
            if row["n_revisions"]:
                acc.quarantined[row["reason"]] += row["n_revisions"]
            elif row["level"] == "pair":
                acc.diff_quarantined[row["reason"]] += 1
            else:
                acc.events[f"{row['level']}:{row['reason']}"] += 1
        return acc

    def as_dict(self) -> dict:
        return {"revisions_read": self.revisions_read, "pairs_written": self.pairs_written,
                "skipped": dict(self.skipped), "quarantined": dict(self.quarantined), "events": dict(self.events),
                "files": self.files, "incomplete_files": self.incomplete_files, "diffed": self.diffed,
                "diff_quarantined": dict(self.diff_quarantined), "diff_enabled": self.diff_enabled,
                "balanced": self.balanced}

    @classmethod
    def from_dict(cls, d: dict) -> "Accounting":
        """Inverse of as_dict (for books carried between job steps)."""
        return cls(revisions_read=d["revisions_read"], pairs_written=d["pairs_written"], skipped=Counter(d["skipped"]),
                   quarantined=Counter(d["quarantined"]), events=Counter(d["events"]), files=d["files"],
                   incomplete_files=d["incomplete_files"], diffed=d["diffed"],
                   diff_quarantined=Counter(d["diff_quarantined"]), diff_enabled=d.get("diff_enabled", True))

    def render(self):
        from rich.table import Table as RichTable

        t = RichTable(title="revmine accounting", show_lines=False)
        t.add_column("", style="bold")
        t.add_column("reason")
        t.add_column("revisions", justify="right")
        t.add_row("read", f"{self.files} file(s)", f"{self.revisions_read:,}")
        t.add_row("pairs written", "", f"{self.pairs_written:,}")
        for reason, n in sorted(self.skipped.items(), key=lambda kv: -kv[1]):
            t.add_row("skipped", reason, f"{n:,}")
        for reason, n in sorted(self.quarantined.items(), key=lambda kv: -kv[1]):
            t.add_row("quarantined", reason, f"{n:,}")
        for reason, n in sorted(self.events.items()):
            t.add_row("events (no revisions)", reason, f"{n:,} event(s)")
        ok = self.revisions_read == self.accounted
        status = "[green]balanced[/green]" if ok else f"[red]UNBALANCED: {self.accounted:,} accounted[/red]"
        t.add_row("total", status, f"{self.accounted:,}")
        if self.diff_enabled:
            t.add_section()
            t.add_row("pairs diffed", "sentences, alignments, edits", f"{self.diffed:,}")
            for reason, n in sorted(self.diff_quarantined.items()):
                t.add_row("pairs quarantined", reason, f"{n:,}")
            status = "[green]balanced[/green]" if self.diff_balanced else "[red]UNBALANCED[/red]"
            t.add_row("= pairs written", status, f"{self.diffed + sum(self.diff_quarantined.values()):,}")
        return t


def _counts(column: pa.ChunkedArray):
    vc = pc.value_counts(column)
    for item in vc.to_pylist():
        yield item["values"], item["counts"]


def unread_file(wiki: str, path: str, key: str, reason: str, detail: str) -> tuple[Quarantine, SourceStats]:
    """The records of an input that is not read: a file-level quarantine row with the reason, and its
    sources row (no revisions), so the books show the file."""
    return (Quarantine(wiki=wiki, level="file", reason=reason, detail=detail, source_file=path, byte_offset=None,
                       line=None, column=None, page_id=None, rev_id=None, stage="read", n_revisions=0),
            SourceStats(wiki=wiki, source_file=path, source_key=key, compression="unknown", schema_version=None,
                        is_stub=False, pages=0, revisions_read=0, bytes_decompressed=0, complete=False))
