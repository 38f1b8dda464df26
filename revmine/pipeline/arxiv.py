"""arXiv paper versions as a source: the same pairing, diff and edit stages as Wikipedia.

Two input formats:
- JSON lines `{"paper_id": ..., "version": 1 | "v1", "text": ..., ["timestamp": ISO or epoch]}`;
  versions of a paper are paired in version order (v1->v2, v2->v3, ...).
- arXivEdits paragraph pairs: `{"<id>": {"simple": [sentences], "complex": [sentences]}}` where
  "simple" is the older version and "complex" the newer.
Records carry wiki='arxiv' and pair_id 'arxiv:<paper>:v<old>-v<new>'. Lines that can't be read are
quarantined (each counts as one revision read), so the books balance as for dumps.
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from typing import Iterator, Optional

from revmine.pipeline.clean import given_sentences, text_sentences
from revmine.pipeline.decompress import open_raw
from revmine.pipeline.fields import input_key, source_key
from revmine.schemas import Quarantine, RevisionPair, SourceStats
from revmine.schemas.names import EPOCH_RANGE, ID_RANGE, in_range

WIKI = "arxiv"


def is_arxiv_input(path: str) -> bool:
    name = path.lower()
    return name.endswith((".json", ".jsonl", ".ndjson"))


def _paper_int(paper_id: str) -> int:
    return int(hashlib.sha1(paper_id.encode()).hexdigest()[:15], 16)  # stable 60-bit page id


def _version(v) -> int:
    return int(str(v).lower().lstrip("v"))


def _epoch(ts) -> Optional[int]:
    if ts is None:
        return None
    if isinstance(ts, (int, float)):
        return int(ts)  # OverflowError / ValueError for inf and nan: the line is quarantined
    return int(datetime.fromisoformat(str(ts).replace("Z", "+00:00")).astimezone(timezone.utc).timestamp())


def _pair(paper: str, old: Optional[dict], new: dict, path: str) -> RevisionPair:
    new_ts = new.get("ts")
    year = datetime.fromtimestamp(new_ts, timezone.utc).year if new_ts is not None else 0
    reason = None
    if old is None:
        reason = "page_creation"
    elif old["sentences_key"] == new["sentences_key"]:
        reason = "identical_text"
    return RevisionPair(
        wiki=WIKI, year=year, pair_id=f"arxiv:{paper}:v{old['version'] if old else 0}-v{new['version']}",
        page_id=_paper_int(paper), ns=0, title=paper, old_rev_id=old["version"] if old else None,
        new_rev_id=new["version"], old_timestamp=old.get("ts") if old else None, new_timestamp=new_ts,
        comment=None, user=None, user_id=None, is_anon=False, minor=False, is_bot=False, is_revert=False,
        reverted_to_rev_id=None, is_reverted=False, reverted_by_rev_id=None,
        old_bytes=old["bytes"] if old else None, new_bytes=new["bytes"],
        size_delta=(new["bytes"] - old["bytes"]) if old else None, skip_reason=reason, source_file=path,
        old_sentences=old["sentences"] if (old and reason is None) else None,
        new_sentences=new["sentences"] if reason is None else None)


def _quarantine(path: str, line: Optional[int], reason: str, detail: str, n_revisions: int = 1) -> Quarantine:
    return Quarantine(wiki=WIKI, level="revision", reason=reason, detail=f"{path}: {detail}", source_file=path,
                      byte_offset=None, line=line, column=None, page_id=None, rev_id=None, stage="read",
                      n_revisions=n_revisions)


def read_arxiv(path: str, key: Optional[str] = None) -> Iterator:
    """Yield RevisionPair (with sentences in flight), Quarantine and one SourceStats.
    `key`: the input's content key, when the caller computed it already."""
    try:
        with open_raw(path) as fh:
            raw = fh.read()
    except OSError as exc:  # the same file-level row as an unreadable dump gets
        yield Quarantine(wiki=WIKI, level="file", reason="unreadable_file", detail=f"{path}: {type(exc).__name__}: {exc}",
                         source_file=path, byte_offset=None, line=None, column=None, page_id=None, rev_id=None,
                         stage="read", n_revisions=0)
        yield SourceStats(wiki=WIKI, source_file=path, source_key=key or input_key(path), compression="unknown",
                          schema_version=None, is_stub=False, pages=0, revisions_read=0, bytes_decompressed=0,
                          complete=False)
        return
    read = 0
    papers: dict[str, list[dict]] = {}
    fmt = "jsonl"
    text = raw.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    example = None
    if stripped.startswith("{"):
        try:
            obj = json.loads(text)
            if isinstance(obj, dict) and obj and all(isinstance(v, dict) and "simple" in v for v in obj.values()):
                example = obj
        except (json.JSONDecodeError, RecursionError):  # not one document: read as lines, each judged alone
            pass
    if example is not None:
        fmt = "arxivedits-json"
        stem = os.path.splitext(os.path.basename(path))[0]
        for key, item in example.items():
            read += 2
            paper = f"{stem}-{key}"
            old_s, new_s = item.get("simple") or [], item.get("complex") or []
            if not all(isinstance(x, list) and all(isinstance(t, str) for t in x) for x in (old_s, new_s)):
                yield _quarantine(path, None, "malformed_record", f"{key!r:.80}: sentences are not lists of strings",
                                  n_revisions=2)
                continue
            versions = []
            for v, sents in ((1, old_s), (2, new_s)):
                versions.append({"version": v, "ts": None, "sentences": given_sentences(sents),
                                 "sentences_key": tuple(sents), "bytes": len(" ".join(sents).encode())})
            papers[paper] = versions
    else:
        # JSON Lines ends a record at "\n" only: str.splitlines would also cut at U+2028, U+0085 and other
        # separators that JSON writers (ensure_ascii=False) leave unescaped inside strings.
        for lineno, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            read += 1
            try:
                rec = json.loads(line)
                paper, version, body = rec["paper_id"], _version(rec["version"]), rec["text"]
                if not isinstance(paper, (str, int)) or isinstance(paper, bool):
                    raise TypeError("paper_id is not a string or an integer")
                if not isinstance(body, str):
                    raise TypeError("text is not a string")
                paper, ts = str(paper), _epoch(rec.get("timestamp"))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, OverflowError, RecursionError) as exc:
                yield _quarantine(path, lineno, "malformed_record", f"line {lineno}: {type(exc).__name__}: {exc}"[:500])
                continue
            if not in_range(version, ID_RANGE) or (ts is not None and not in_range(ts, EPOCH_RANGE)):
                what = f"version {version}" if not in_range(version, ID_RANGE) else f"timestamp {ts}"
                yield _quarantine(path, lineno, "value_out_of_range", f"line {lineno}: {what} is out of range")
                continue
            sents = text_sentences(body)
            papers.setdefault(paper, []).append({"version": version, "ts": ts, "sentences": sents,
                                                 "sentences_key": tuple(s.text for s in sents),
                                                 "bytes": len(body.encode())})
    for paper, versions in papers.items():
        versions.sort(key=lambda v: v["version"])
        prev = None
        seen = set()
        for v in versions:
            if v["version"] in seen:
                yield _quarantine(path, None, "duplicate_version", f"paper {paper} has version {v['version']} twice")
                continue
            seen.add(v["version"])
            yield _pair(paper, prev, v, path)
            prev = v
    yield SourceStats(wiki=WIKI, source_file=path, source_key=key or source_key(path), compression=fmt, schema_version=None,
                      is_stub=False, pages=len(papers), revisions_read=read, bytes_decompressed=len(raw), complete=True)
