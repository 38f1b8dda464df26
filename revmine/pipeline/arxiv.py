"""arXiv paper versions as a source: the same pairing, diff and edit stages as Wikipedia.

Two input formats:
- JSON lines `{"paper_id": ..., "version": 1 | "v1", "text": ..., ["timestamp": ISO, RFC 2822 or epoch]}`;
  versions of a paper are paired in version order (v1->v2, v2->v3, ...).
- arXivEdits paragraph pairs: `{"<id>": {"simple": [sentences], "complex": [sentences]}}` where
  "simple" is the older version and "complex" the newer.
Either may be compressed as one stream (gz, bz2, xz, lzma). Records carry wiki='arxiv' and pair_id
'arxiv:<paper>:v<old>-v<new>'; an arXivEdits pair's paper is '<file stem>-<key>-<digest of its sentences>'.
Lines that can't be read are quarantined (each counts as one revision read), so the books balance as for
dumps.
"""
from __future__ import annotations

import codecs
import email.utils
import hashlib
import io
import itertools
import json
import os
from datetime import datetime, timezone
from typing import Iterable, Iterator, Optional

from revmine.pipeline.accounting import unread_file
from revmine.pipeline.clean import given_sentences, text_sentences
from revmine.pipeline.decompress import CODEC_ERRORS, STREAMS, open_stream
from revmine.pipeline.fields import input_key, parse_timestamp, source_key
from revmine.schemas import Quarantine, RevisionPair, SourceStats
from revmine.schemas.names import EPOCH_RANGE, ID_RANGE, in_range, is_utf8

WIKI = "arxiv"
# arXiv numbers versions from 1; 0 stands for "no version" in a creation pair's id (arxiv:<paper>:v0-v1),
# so a version 0 would name two different pairs alike.
VERSION_RANGE = (1, ID_RANGE[1])
# Version texts held before the papers seen longest ago are paired and let go: memory stays bounded on a
# file of any size, as long as each paper's versions are near each other in it (as exporters write them).
HOLD_BYTES = 256 << 20
# A file whose first line is not JSON by itself is one JSON document (arXivEdits' pretty-printed format) if
# it ends within this many bytes; a larger one is read as JSON lines, in bounded memory.
DOCUMENT_BYTES = 256 << 20


def is_arxiv_input(path: str) -> bool:
    """JSON or JSON lines by name, compressed or not (`papers.jsonl.gz`, as arXiv sets are often shipped)."""
    name, ext = os.path.splitext(path.lower())
    if ext.lstrip(".") in STREAMS:
        name, ext = os.path.splitext(name)
    return ext in (".json", ".jsonl", ".ndjson")


def _paper_int(paper_id: str) -> int:
    return int(hashlib.sha1(paper_id.encode()).hexdigest()[:15], 16)  # stable 60-bit page id


def _version(v) -> int:
    return int(str(v).lower().lstrip("v"))


def _epoch(ts) -> Optional[int]:
    """Seconds since the epoch of a version's timestamp: a number (epoch seconds), or a string in ISO 8601 or
    MediaWiki's form (a time without an offset is UTC, as in dumps, never the machine's local time, which
    moved a version's year with the worker's time zone), or RFC 2822, arXiv's own form for versions
    ("Mon, 2 Apr 2007 19:18:42 GMT"). Anything else raises: the line is quarantined."""
    if ts is None:
        return None
    if isinstance(ts, bool) or not isinstance(ts, (int, float, str)):
        raise TypeError(f"timestamp {ts!r} is not a number or a string")
    if not isinstance(ts, str):
        return int(ts)  # OverflowError / ValueError for inf and nan: the line is quarantined
    parsed = parse_timestamp(ts)
    if parsed is None:
        try:
            parsed = email.utils.parsedate_to_datetime(ts)
        except (TypeError, ValueError, IndexError):
            raise ValueError(f"timestamp {ts[:60]!r} is not ISO 8601, MediaWiki's or RFC 2822 form") from None
        if parsed.tzinfo is None:  # RFC 2822's "-0000": UTC with no source of local time
            parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp())


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


def _quarantine(path: str, line: Optional[int], reason: str, detail: str, n_revisions: int = 1,
                level: str = "revision") -> Quarantine:
    return Quarantine(wiki=WIKI, level=level, reason=reason, detail=f"{path}: {detail}", source_file=path,
                      byte_offset=None, line=line, column=None, page_id=None, rev_id=None, stage="read",
                      n_revisions=n_revisions)


def read_arxiv(path: str, key: Optional[str] = None, hold_bytes: int = HOLD_BYTES) -> Iterator:
    """Yield RevisionPair (with sentences in flight), Quarantine and one SourceStats.
    `key`: the input's content key, when the caller computed it already.

    JSON lines are streamed, and a version is held as its text until its paper's pairs are made, where it
    is split into sentences once: holding every version's sentences took 7.6 times the file's size. Past
    `hold_bytes` of held text, the papers that went longest without a new version are paired and let go;
    a version of such a paper that comes later is quarantined (`paper_not_contiguous`), never paired
    with the wrong predecessor or taken for a creation."""
    try:
        fh, compression = open_stream(path)
    except OSError as exc:  # the same file-level row as an unreadable dump gets
        yield from unread_file(WIKI, path, key or input_key(path), "unreadable_file",
                               f"{path}: {type(exc).__name__}: {exc}")
        return
    papers: dict[str, list[dict]] = {}
    counts = {"read": 0, "size": 0, "format": "jsonl", "papers": 0}
    complete = True
    with fh:
        try:
            yield from _read_records(fh, path, papers, counts, hold_bytes)
        except CODEC_ERRORS as exc:  # a compressed file cut short or corrupt
            complete = False
            yield _quarantine(path, None, "truncated_input", f"input ends early: {type(exc).__name__}: {exc}; "
                              "the versions read before this point were kept", n_revisions=0, level="file")
    read, size, fmt = counts["read"], counts["size"], counts["format"]
    if compression in STREAMS:
        fmt = f"{fmt}.{compression}"
    for paper, versions in papers.items():
        yield from _paper_pairs(path, paper, versions)
    yield SourceStats(wiki=WIKI, source_file=path, source_key=key or source_key(path), compression=fmt, schema_version=None,
                      is_stub=False, pages=counts["papers"], revisions_read=read, bytes_decompressed=size,
                      complete=complete)


def _paper_pairs(path: str, paper: str, versions: list[dict]) -> Iterator:
    """The pairs of one paper's versions in version order; a version given twice is quarantined."""
    versions.sort(key=lambda v: v["version"])
    prev = None
    seen = set()
    for v in versions:
        if v["version"] in seen:
            yield _quarantine(path, None, "duplicate_version", f"paper {paper} has version {v['version']} twice")
            continue
        seen.add(v["version"])
        if "sentences" not in v:
            v["sentences"] = text_sentences(v.pop("text"))
            v["sentences_key"] = tuple(s.text for s in v["sentences"])
        yield _pair(paper, prev, v, path)
        prev = v
    versions.clear()  # this paper's texts and sentences can go


def _read_records(fh, path: str, papers: dict[str, list[dict]], counts: dict,
                  hold_bytes: int = HOLD_BYTES) -> Iterator:
    """Fill `papers` with the versions of `fh` (decompressed bytes), yield a quarantine row for each that
    cannot be read, and keep `counts` (versions read, bytes, format, papers) current, so that a stream cut
    short still reports what it gave. Past `hold_bytes` of held text, the papers longest without a new
    version are paired (yielded) and let go; only their ids are kept, to refuse a later version of one."""
    read = size = held = 0
    fmt = "jsonl"
    released: set[str] = set()
    try:
        # Binary lines end at b"\n" only, as JSON Lines does: str.splitlines would also cut at U+2028, U+0085
        # and other separators that JSON writers (ensure_ascii=False) leave unescaped inside strings.
        head = fh.readline()
        if head.startswith(codecs.BOM_UTF8):  # Windows tools write one; json refuses it
            head, size = head[len(codecs.BOM_UTF8):], len(codecs.BOM_UTF8)
        # A first line that is JSON by itself starts JSON lines: streamed, whatever its records hold (arXiv's
        # 4 GB metadata snapshot, with no paper_id, was read whole into memory to look for one document).
        # Otherwise the file may be one document spread over lines (arXivEdits' format), read whole when it
        # ends within DOCUMENT_BYTES; past that it is streamed as lines too.
        first = _json_value(head)
        if first is not _NOT_JSON:  # JSON lines, or an arXivEdits document written on one line
            ahead, whole = head, (head if _is_arxivedits(first) else None)
        else:
            ahead = head + _read_up_to(fh, DOCUMENT_BYTES)
            whole = ahead if len(ahead) - len(head) < DOCUMENT_BYTES else None
            if whole is None:
                ahead += fh.readline()  # to the end of the line the read-ahead stopped in
        streamed = whole is None
        where = "line"
        if streamed:
            lines: Iterable = itertools.chain(io.BytesIO(ahead), fh)
        else:
            size += len(whole)
            # a document on one line was parsed as the first line already
            doc = first if first is not _NOT_JSON else _json_document(whole)
            lines = whole.split(b"\n") if doc is _NOT_JSON else []
            if _is_arxivedits(doc):
                fmt, read = "arxivedits-json", 2 * len(doc)
                yield from _arxivedits_versions(path, doc, papers)
            elif isinstance(doc, list):  # version records written as one array (json.dump(records, indent=2))
                fmt, where, lines = "json-array", "item", doc  # items parsed already
            elif doc is not _NOT_JSON:  # a document of another kind: one row, not one per line of it
                yield _quarantine(path, None, "unsupported_input", f"a JSON {_shape(doc)}, neither arXivEdits "
                                  'paragraph pairs ({"<id>": {"simple": [...], "complex": [...]}}) nor version '
                                  'records ({"paper_id", "version", "text"}, as JSON lines or one array)',
                                  n_revisions=0, level="file")
        for lineno, raw_line in enumerate(lines, 1):
            if where == "line":
                size += len(raw_line) if streamed else 0
                line = raw_line.rstrip(b"\n").decode("utf-8", errors="replace")  # streamed lines keep their end
                if not line.strip():
                    continue
            read += 1
            try:
                rec = json.loads(line) if where == "line" else raw_line
                if not isinstance(rec, dict) or not {"paper_id", "version", "text"} <= rec.keys():
                    raise ValueError(_not_a_version(rec))
                paper, version, body = rec["paper_id"], _version(rec["version"]), rec["text"]
                if not isinstance(paper, (str, int)) or isinstance(paper, bool):
                    raise TypeError("paper_id is not a string or an integer")
                if not isinstance(body, str):
                    raise TypeError("text is not a string")
                paper, ts = str(paper), _epoch(rec.get("timestamp"))
                if not is_utf8(paper, body):  # "\ud800" is valid JSON but no UTF-8 text
                    raise ValueError("paper_id or text holds an unpaired surrogate (\\ud800-\\udfff)")
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, OverflowError, RecursionError) as exc:
                yield _quarantine(path, lineno, "malformed_record", f"{where} {lineno}: {type(exc).__name__}: {exc}"[:500])
                continue
            if not in_range(version, VERSION_RANGE) or (ts is not None and not in_range(ts, EPOCH_RANGE)):
                what = (f"version {version} is out of range (arXiv versions count from 1)"
                        if not in_range(version, VERSION_RANGE) else f"timestamp {ts} is out of range")
                yield _quarantine(path, lineno, "value_out_of_range", f"{where} {lineno}: {what}")
                continue
            if paper in released:
                yield _quarantine(path, lineno, "paper_not_contiguous", f"{where} {lineno}: version {version} of paper "
                                  f"{paper} comes after its other versions were paired and let go (more than "
                                  f"{hold_bytes:,} bytes of other papers' text came between); keep a paper's "
                                  "versions together, e.g. sort the file by paper_id")
                continue
            versions = papers.pop(paper, [])
            papers[paper] = versions  # last in the order: the papers first in it went longest without a version
            versions.append({"version": version, "ts": ts, "text": body, "bytes": len(body.encode("utf-8"))})
            held += versions[-1]["bytes"]
            while held > hold_bytes and len(papers) > 1:
                oldest = next(iter(papers))
                held -= sum(v["bytes"] for v in papers[oldest])
                released.add(oldest)
                yield from _paper_pairs(path, oldest, papers.pop(oldest))
    finally:
        counts.update(read=read, size=size, format=fmt, papers=len(papers) + len(released))


_NOT_JSON = object()


def _not_a_version(rec) -> str:
    """Why a JSON value is no version record, naming what it holds instead."""
    if not isinstance(rec, dict):
        return f"a JSON {type(rec).__name__}, not an object"
    missing = [f for f in ("paper_id", "version", "text") if f not in rec]
    fields = ", ".join(str(k)[:40] for k in itertools.islice(rec, 8)) + (", ..." if len(rec) > 8 else "")
    return (f"no {', '.join(missing)} field{'s' if len(missing) > 1 else ''}: a version record has paper_id, version and text "
            f"(this one has {fields or 'no field'})")


def _read_up_to(fh, n: int) -> bytes:
    """`n` bytes, or all that is left: a stream's read may return less before its end."""
    parts, got = [], 0
    while got < n and (chunk := fh.read(n - got)):
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _json_value(line: bytes):
    """The line as one JSON value, or _NOT_JSON."""
    try:
        return json.loads(line.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return _NOT_JSON


def _is_arxivedits(obj) -> bool:
    """Whether a parsed JSON value is an arXivEdits document ({"<id>": {"simple": [...], "complex": [...]}}):
    an object with a paragraph pair among its values. Its other values are malformed pairs, each a row: one
    bad entry sent the whole document to be read line by line, a malformed row per line of it."""
    return isinstance(obj, dict) and any(isinstance(v, dict) and ("simple" in v or "complex" in v)
                                         for v in obj.values())


def _json_document(data: bytes):
    """The file as one JSON object or array, or _NOT_JSON (then it is read as lines, each judged alone)."""
    if not data.lstrip()[:1] in (b"{", b"["):
        return _NOT_JSON
    try:
        return json.loads(data.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return _NOT_JSON


def _shape(doc) -> str:
    if isinstance(doc, dict):
        keys = ", ".join(str(k)[:40] for k in itertools.islice(doc, 5)) + (", ..." if len(doc) > 5 else "")
        return f"object of {len(doc):,} key(s) ({keys or 'none'})"
    return type(doc).__name__


def _arxivedits_versions(path: str, example: dict, papers: dict[str, list[dict]]) -> Iterator[Quarantine]:
    """Fill `papers` with the two versions of each pair of the document; quarantine the malformed ones."""
    stem = os.path.splitext(os.path.basename(path))[0]
    for key, item in example.items():
        if not isinstance(item, dict) or not {"simple", "complex"} & item.keys():
            yield _quarantine(path, None, "malformed_record", f"{key!r:.80}: not a paragraph pair "
                              '({"simple": [sentences], "complex": [sentences]})', n_revisions=2)
            continue
        old_s, new_s = item.get("simple") or [], item.get("complex") or []  # a side left out: no sentences
        if not all(isinstance(x, list) and all(isinstance(t, str) for t in x) for x in (old_s, new_s)):
            yield _quarantine(path, None, "malformed_record", f"{key!r:.80}: sentences are not lists of strings",
                              n_revisions=2)
            continue
        if not is_utf8(key, *old_s, *new_s):
            yield _quarantine(path, None, "malformed_record", f"{key!r:.80}: an unpaired surrogate (\\ud800-\\udfff)",
                              n_revisions=2)
            continue
        # The document's keys ("0", "1", ...) number its pairs and name no paper: with the file's name alone, a
        # pairs.json in another folder took the same ids, and its pairs were quarantined as duplicates of
        # pairs they did not equal. A digest of the pair's sentences tells them apart; the same pair in a
        # file of the same name is still one pair.
        digest = hashlib.sha1(json.dumps([old_s, new_s], ensure_ascii=False).encode()).hexdigest()[:8]
        papers[f"{stem}-{key}-{digest}"] = [{"version": v, "ts": None, "sentences": given_sentences(sents),
                                    "sentences_key": tuple(sents), "bytes": len(" ".join(sents).encode())}
                                   for v, sents in ((1, old_s), (2, new_s))]

