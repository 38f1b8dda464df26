"""Stream MediaWiki XML export dumps (schemas 0.3-0.11, full history or stub) into records.

`read_dump(path)` yields `Revision` (text attached in memory), `Quarantine` for anything bad,
and one `SourceStats` last. Memory is bounded by one revision plus a few decompressed chunks.

Why expat directly (not mwxml or ElementTree): we need the byte offset of every <revision>
for provenance, explicit suppression flags, DTD/entity hardening, and the ability to resync
at the next <page> after malformed XML instead of abandoning the file. Expat gives all of
that at C speed with a handful of Python callbacks per revision.
"""
from __future__ import annotations

import codecs
import hashlib
import logging
import os
import re
import time
from datetime import datetime
from typing import Iterator, Optional
from xml.parsers import expat

from revmine.config import ReadConfig
from revmine.pipeline.decompress import DecompressError, iter_chunks, sniff_compression
from revmine.schemas import Quarantine, Revision, SourceStats

log = logging.getLogger(__name__)

_PAGE_TAG = b"<page>"
_REVISION_TAG = b"<revision>"
_SYNTHETIC_ROOT = b"<mediawiki>"
_RECENT = 1 << 16
_REPLACEMENT = "\ufffd".encode()
_STAGE = "read"

# Capture text of these elements; everything else is structure we don't need.
_CAPTURE = frozenset({"title", "ns", "id", "parentid", "timestamp", "username", "ip", "comment", "text",
                      "sha1", "model", "format", "dbname", "base", "namespace"})


class DumpSecurityError(Exception):
    """The document declares a DTD: entity bombs and external entities are refused outright."""


def source_key(path: str) -> str:
    """Stable short key for an input: its base name and size (same file => same key)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        size = -1
    digest = hashlib.sha1(f"{os.path.basename(path)}:{size}".encode()).hexdigest()[:10]
    return digest


def sha1_base36(data: bytes) -> str:
    """MediaWiki's revision sha1: SHA-1 as a base-36 number, zero-padded to 31 digits."""
    n = int.from_bytes(hashlib.sha1(data).digest(), "big")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(digits[r])
    return "".join(reversed(out)).rjust(31, "0")


_WIKI_FROM_FILENAME = re.compile(r"^([a-z][a-z0-9_]*?(?:wiki|wiktionary|wikibooks|wikinews|wikiquote|wikisource|wikiversity|wikivoyage))[-_.]")
_PROJECT_SUFFIX = {"wikipedia": "wiki", "wiktionary": "wiktionary", "wikibooks": "wikibooks", "wikinews": "wikinews",
                   "wikiquote": "wikiquote", "wikisource": "wikisource", "wikiversity": "wikiversity",
                   "wikivoyage": "wikivoyage"}


def wiki_from_base_url(base: str) -> Optional[str]:
    m = re.match(r"https?://([a-z0-9-]+)\.([a-z]+)\.org/", base or "")
    if not m:
        return None
    lang, project = m.groups()
    if project == "wikimedia":
        return f"{lang}wiki"  # commons.wikimedia.org -> commonswiki, meta -> metawiki
    suffix = _PROJECT_SUFFIX.get(project)
    return f"{lang.replace('-', '_')}{suffix}" if suffix else None


class _UTF8Sanitizer:
    """Turn the raw byte stream into valid UTF-8 for expat, remembering where bytes were replaced.

    Invalid UTF-8 would make expat abort the whole file; instead each bad sequence becomes U+FFFD
    and its position (in the stream expat sees) is reported so the enclosing revision is quarantined.
    Valid UTF-8 passes through untouched (an incomplete trailing sequence is carried to the next
    chunk). UTF-16 input (detected per XML 1.0 appendix F) is transcoded.
    """

    def __init__(self, first: bytes):
        enc = "utf-8"
        if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            enc = "utf-16"
        elif first.startswith(b"<\x00?\x00"):
            enc = "utf-16-le"
        elif first.startswith(b"\x00<\x00?"):
            enc = "utf-16-be"
        self.encoding = enc
        self.strict = codecs.getincrementaldecoder(enc)("strict")
        self.carry = b""  # incomplete multi-byte sequence held back from the last chunk
        self.out_pos = 0  # bytes emitted so far (expat's coordinates)
        self.bad_positions: list[int] = []

    def feed(self, chunk: bytes, final: bool = False) -> bytes:
        if self.encoding == "utf-8":
            if not self.carry and chunk.isascii():
                out = chunk  # the common case: nothing to check
            else:
                total = self.carry + chunk
                try:
                    self.strict.decode(chunk, final)
                    pending = self.strict.getstate()[0]
                    out = total[: len(total) - len(pending)]
                    self.carry = pending
                except UnicodeDecodeError:
                    out = self._replace(total, final)
        else:
            out = self._replace(chunk, final)
        self.out_pos += len(out)
        return out

    def _replace(self, data: bytes, final: bool) -> bytes:
        # Slow path: decode with replacement and record where U+FFFD landed.
        dec = codecs.getincrementaldecoder(self.encoding)("replace")
        if self.encoding != "utf-8":
            dec = self.strict if getattr(self.strict, "errors", "") == "replace" else self._utf16_replacing()
        text = dec.decode(data, final)
        if self.encoding == "utf-8":
            self.carry = dec.getstate()[0]
            self.strict = codecs.getincrementaldecoder("utf-8")("strict")
            self.strict.setstate((self.carry, 0))
        out = text.encode("utf-8")
        i = out.find(_REPLACEMENT)
        while i >= 0:
            self.bad_positions.append(self.out_pos + i)
            i = out.find(_REPLACEMENT, i + 3)
        return out

    def _utf16_replacing(self):
        self.strict = codecs.getincrementaldecoder(self.encoding)("replace")
        return self.strict


class _Page:
    __slots__ = ("title", "ns", "page_id", "n_revisions", "seen", "prev_rev_id", "offset")

    def __init__(self, offset: int):
        self.title: Optional[str] = None
        self.ns: Optional[int] = None
        self.page_id: Optional[int] = None
        self.n_revisions = 0
        self.seen: set[int] = set()  # duplicate detection is per page: bounded by the page, not the dump
        self.prev_rev_id: Optional[int] = None
        self.offset = offset


class _Rev:
    __slots__ = ("fields", "offset", "user_deleted", "comment_deleted", "text_deleted", "minor", "text_bytes_attr",
                 "text_sha1_attr", "stub_text", "text_chars", "has_text_elem")

    def __init__(self, offset: int):
        self.fields: dict[str, str] = {}
        self.offset = offset
        self.user_deleted = self.comment_deleted = self.text_deleted = self.minor = False
        self.text_bytes_attr: Optional[str] = None
        self.text_sha1_attr: Optional[str] = None
        self.stub_text = False
        self.text_chars = 0
        self.has_text_elem = False


class DumpReader:
    """One pass over one dump file. Iterate it to get records; see module docstring."""

    def __init__(self, path: str, config: Optional[ReadConfig] = None, display_name: Optional[str] = None):
        self.path = path
        self.name = display_name or path
        self.cfg = config or ReadConfig()
        self.out: list = []
        self.wiki: Optional[str] = self.cfg.wiki
        self.base: Optional[str] = None
        self.schema_version: Optional[str] = None
        self.namespaces: dict[str, int] = {}
        self.ns_key: Optional[int] = None
        self.is_stub: Optional[bool] = None
        self.page: Optional[_Page] = None
        self.rev: Optional[_Rev] = None
        self.stack: list[str] = []
        self.buf: list[str] = []
        self.pages = 0
        self.revisions_read = 0
        self.ordinal = 0
        self.parser_base = 0  # absolute stream offset of the current parser's byte 0
        self.sanitizer: Optional[_UTF8Sanitizer] = None
        self.complete = True
        self.resyncing = False
        self.resync_tail = b""
        self.recent = b""  # last bytes fed to the parser, for resync after an error
        self._last_progress = time.monotonic()

    # ---- public -------------------------------------------------------------------------
    def __iter__(self) -> Iterator:
        compression = "unknown"
        fed = 0
        try:
            compression = sniff_compression(self.path)
            self._new_parser()
            for raw in iter_chunks(self.path, compression):
                if self.sanitizer is None:
                    self.sanitizer = _UTF8Sanitizer(raw)
                chunk = self.sanitizer.feed(raw)
                self._feed(chunk, fed)
                fed += len(chunk)
                self._maybe_progress(fed)
                yield from self._drain()
            if self.sanitizer is not None:
                tail = self.sanitizer.feed(b"", final=True)
                self._feed(tail, fed)
                fed += len(tail)
            if self.resyncing:
                self._count_skipped(self.resync_tail)
            else:
                self.parser.Parse(b"", True)
        except DecompressError as exc:
            self._on_truncated(exc, fed)
        except expat.ExpatError as exc:
            self._on_truncated_xml(exc)
        except DumpSecurityError as exc:
            self._fail_file("dtd_forbidden", str(exc))
        except OSError as exc:
            self._fail_file("unreadable_file", f"{type(exc).__name__}: {exc}")
        yield from self._drain()
        yield SourceStats(
            wiki=self.wiki or "unknown", source_file=self.name, source_key=source_key(self.path),
            compression=compression, schema_version=self.schema_version, is_stub=bool(self.is_stub),
            pages=self.pages, revisions_read=self.revisions_read, bytes_decompressed=fed, complete=self.complete)

    def _feed(self, data: bytes, start: int) -> None:
        """Parse stream bytes [start, start+len(data)); after malformed XML, resync at the next <page>."""
        while data:
            if self.resyncing:
                data, start = self.resync_tail + data, start - len(self.resync_tail)
                i = data.find(_PAGE_TAG)
                if i < 0:
                    keep = len(_REVISION_TAG) - 1  # a tag may straddle the chunk boundary
                    self._count_skipped(data[:-keep])
                    self.resync_tail = data[-keep:]
                    return
                self._count_skipped(data[:i])
                self.resyncing, self.resync_tail = False, b""
                data, start = data[i:], start + i
                self._new_parser(synthetic_root=True, base=start)
            try:
                self.parser.Parse(data, False)
            except expat.ExpatError as exc:
                err_abs = self.parser_base + max(self.parser.ErrorByteIndex, 0)
                self._on_malformed(exc, err_abs)
                # Expat may report an error inside bytes it buffered from the previous call.
                combined, cstart = self.recent + data, start - len(self.recent)
                rel = min(max(err_abs + 1 - cstart, 0), len(combined))
                data, start = combined[rel:], cstart + rel
                self.recent = b""
                self.resyncing = True
                if not data:
                    return
                continue
            self.recent = (self.recent + data)[-_RECENT:] if len(data) < _RECENT else data[-_RECENT:]
            return

    # ---- parser setup -------------------------------------------------------------------
    def _new_parser(self, synthetic_root: bool = False, base: int = 0) -> None:
        p = expat.ParserCreate(encoding="UTF-8")  # the sanitizer hands expat UTF-8, whatever the file declared
        p.buffer_text = True
        p.buffer_size = 1 << 16
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        # Hardening in the spirit of defusedxml: a dump never has a DTD, so any DTD is refused.
        p.StartDoctypeDeclHandler = self._forbid_dtd
        p.EntityDeclHandler = self._forbid_entity
        p.ExternalEntityRefHandler = self._forbid_external
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self.parser = p
        self.stack = []
        self.parser_base = base
        if synthetic_root:
            self.parser_base = base - len(_SYNTHETIC_ROOT)
            p.Parse(_SYNTHETIC_ROOT, False)

    def _forbid_dtd(self, name, *args):
        raise DumpSecurityError(f"{self.name}: line {self.parser.CurrentLineNumber}: DOCTYPE {name!r} declared; "
                                "MediaWiki dumps have no DTD, so it is refused (entity expansion / external entity risk)")

    def _forbid_entity(self, name, *args):
        raise DumpSecurityError(f"{self.name}: line {self.parser.CurrentLineNumber}: entity {name!r} declared; refused")

    def _forbid_external(self, context, base, system_id, public_id):
        raise DumpSecurityError(f"{self.name}: external entity {system_id!r} referenced; refused")

    # ---- callbacks ----------------------------------------------------------------------
    def _start(self, name: str, attrs: dict) -> None:
        self.stack.append(name)
        if name in _CAPTURE:
            if name == "text":
                self._start_text(attrs)
                return
            if name == "comment" and attrs.get("deleted") == "deleted" and self.rev is not None:
                self.rev.comment_deleted = True
            if name == "namespace":
                self.ns_key = int(attrs.get("key", "0"))
            self.buf = []
            self.parser.CharacterDataHandler = self.buf.append
        elif name == "revision":
            if self.page is None:
                return
            self.revisions_read += 1
            self.page.n_revisions += 1
            self.rev = _Rev(self.parser_base + self.parser.CurrentByteIndex)
        elif name == "contributor":
            if self.rev is not None and attrs.get("deleted") == "deleted":
                self.rev.user_deleted = True
        elif name == "minor":
            if self.rev is not None:
                self.rev.minor = True
        elif name == "page":
            self.pages += 1
            self.page = _Page(self.parser_base + self.parser.CurrentByteIndex)
        elif name == "mediawiki":
            self.schema_version = attrs.get("version", self.schema_version)

    def _start_text(self, attrs: dict) -> None:
        rev = self.rev
        if rev is None:
            return
        rev.has_text_elem = True
        if attrs.get("deleted") == "deleted":
            rev.text_deleted = True
        rev.text_bytes_attr = attrs.get("bytes")
        rev.text_sha1_attr = attrs.get("sha1")
        if "location" in attrs or "id" in attrs:
            rev.stub_text = True  # stub dumps point at the text store instead of embedding it
        self.buf = []
        self.parser.CharacterDataHandler = self._text_chars

    def _text_chars(self, data: str) -> None:
        rev = self.rev
        rev.text_chars += len(data)
        if rev.text_chars <= self.cfg.max_text_bytes:  # chars <= bytes, so this never drops a legal text
            self.buf.append(data)

    def _end(self, name: str) -> None:
        stack = self.stack
        stack.pop()
        if name in _CAPTURE:
            self.parser.CharacterDataHandler = None
            value = "".join(self.buf)
            self.buf = []
            parent = stack[-1] if stack else ""
            rev = self.rev
            if rev is not None and parent in ("revision", "contributor"):
                key = "user_id" if (parent == "contributor" and name == "id") else name
                rev.fields[key] = value
            elif parent == "page" and self.page is not None:
                if name == "title":
                    self.page.title = value
                elif name == "ns":
                    self.page.ns = _to_int(value)
                elif name == "id":
                    self.page.page_id = _to_int(value)
            elif name == "namespace":
                self.namespaces[value.strip().lower()] = self.ns_key or 0
            elif name == "dbname":
                self.wiki = self.wiki or value.strip() or None
            elif name == "base":
                self.base = value.strip()
        elif name == "revision":
            if self.rev is not None:
                self._finish_revision(self.rev)
            self.rev = None
        elif name == "page":
            page = self.page
            if page is not None and page.n_revisions == 0:
                self._quarantine("page", "empty_page", f"page {page.title!r} has no <revision>", page.offset,
                                 page_id=page.page_id, n_revisions=0)
            self.page = None
        elif name == "siteinfo":
            self._resolve_wiki()

    # ---- revision assembly --------------------------------------------------------------
    def _resolve_wiki(self) -> None:
        if self.wiki:
            return
        m = _WIKI_FROM_FILENAME.match(os.path.basename(self.name))
        self.wiki = (m.group(1) if m else None) or wiki_from_base_url(self.base or "") or "unknown"

    def _finish_revision(self, rev: _Rev) -> None:
        page = self.page
        if self.wiki is None:
            self._resolve_wiki()
        f = rev.fields
        rev_id = _to_int(f.get("id"))
        if rev_id is None or page.page_id is None or page.title is None:
            what = "revision <id>" if rev_id is None else "page <id>/<title>"
            self._quarantine("revision", "malformed_revision", f"missing or non-numeric {what}", rev.offset,
                             page_id=page.page_id, rev_id=rev_id)
            return
        if rev_id in page.seen:
            self._quarantine("revision", "duplicate_rev_id", f"revision {rev_id} appears twice in page {page.page_id}",
                             rev.offset, page_id=page.page_id, rev_id=rev_id)
            return
        page.seen.add(rev_id)
        try:
            ts = datetime.fromisoformat(f["timestamp"].strip())
        except (KeyError, ValueError):
            self._quarantine("revision", "malformed_revision", f"bad <timestamp> {f.get('timestamp')!r}", rev.offset,
                             page_id=page.page_id, rev_id=rev_id)
            return

        ns = page.ns if page.ns is not None else self._ns_from_title(page.title)
        parent_raw = _to_int(f.get("parentid"))
        parent_from_dump = bool(parent_raw)
        parent_id = parent_raw if parent_raw else page.prev_rev_id
        page.prev_rev_id = rev_id

        problem = None
        text: Optional[str] = None
        has_text = rev.has_text_elem and not rev.text_deleted and not rev.stub_text
        if self.is_stub is None and rev.has_text_elem:
            self.is_stub = rev.stub_text
        sha1 = (f.get("sha1") or rev.text_sha1_attr or "").strip() or None
        sha1_from_dump = sha1 is not None
        text_bytes = _to_int(rev.text_bytes_attr) if rev.text_bytes_attr not in (None, "-1") else None
        if has_text:
            if rev.text_chars > self.cfg.max_text_bytes:
                problem = ("oversized_text", f"text has {rev.text_chars:,}+ characters, over max_text_bytes="
                                             f"{self.cfg.max_text_bytes:,}")
                has_text = False
            else:
                text = f.get("text", "")
                data = text.encode("utf-8")
                text_bytes = len(data)
                if text_bytes > self.cfg.max_text_bytes:
                    problem = ("oversized_text", f"text is {text_bytes:,} bytes, over max_text_bytes={self.cfg.max_text_bytes:,}")
                    text, has_text = None, False
                elif sha1 is None:
                    sha1 = sha1_base36(data)
        rev_end = self.parser_base + self.parser.CurrentByteIndex
        if problem is None and self.sanitizer is not None and self.sanitizer.bad_positions:
            bad = [b for b in self.sanitizer.bad_positions if rev.offset <= b < rev_end]
            self.sanitizer.bad_positions = [b for b in self.sanitizer.bad_positions if b >= rev_end]
            if bad:
                problem = ("invalid_utf8", f"{len(bad)} invalid UTF-8 sequence(s), first at byte {bad[0]:,} "
                                           "(replaced by U+FFFD)")
        user = f.get("username", f.get("ip"))
        is_anon = "ip" in f and "username" not in f
        revision = Revision(
            wiki=self.wiki, year=ts.year, page_id=page.page_id, ns=ns if ns is not None else 0, title=page.title,
            rev_id=rev_id, parent_id=parent_id, parent_from_dump=parent_from_dump, timestamp=int(ts.timestamp()),
            user=None if rev.user_deleted else user, user_id=None if (rev.user_deleted or is_anon) else _to_int(f.get("user_id")),
            is_anon=is_anon, user_deleted=rev.user_deleted,
            comment=None if rev.comment_deleted else f.get("comment"), comment_deleted=rev.comment_deleted,
            minor=rev.minor, sha1=sha1, sha1_from_dump=sha1_from_dump,
            text_bytes=None if rev.text_deleted else text_bytes, text_deleted=rev.text_deleted,
            has_text=has_text and problem is None, model=f.get("model"), format=f.get("format"),
            source_file=self.name, source_offset=rev.offset, source_ordinal=self.ordinal,
            text=text if problem is None else None, problem=problem[0] if problem else None)
        self.ordinal += 1
        self.out.append(revision)
        if problem:
            self._quarantine("revision", problem[0], problem[1], rev.offset, page_id=page.page_id, rev_id=rev_id)

    def _ns_from_title(self, title: str) -> int:
        prefix, sep, _ = title.partition(":")
        if not sep:
            return 0
        return self.namespaces.get(prefix.strip().lower(), 0)

    # ---- failure handling ---------------------------------------------------------------
    def _quarantine(self, level: str, reason: str, detail: str, offset: Optional[int], *, page_id=None, rev_id=None,
                    n_revisions: Optional[int] = None, line=None, column=None) -> None:
        if n_revisions is None:
            n_revisions = 1 if level == "revision" else 0
        self.out.append(Quarantine(
            wiki=self.wiki or "unknown", level=level, reason=reason, detail=f"{self.name}: {detail}",
            source_file=self.name, byte_offset=offset, line=line, column=column, page_id=page_id, rev_id=rev_id,
            stage=_STAGE, n_revisions=n_revisions))

    def _abandon_open_revision(self, reason: str, detail: str, line=None, column=None) -> None:
        """The revision being parsed can't be finished: account for it instead of dropping it."""
        if self.rev is not None and self.page is not None:
            self._quarantine("revision", reason, detail, self.rev.offset, page_id=self.page.page_id,
                             rev_id=_to_int(self.rev.fields.get("id")), line=line, column=column)
        self.rev = None
        self.page = None

    def _on_malformed(self, exc: expat.ExpatError, err_abs: int) -> None:
        msg = f"malformed XML at line {exc.lineno}, column {exc.offset}, byte {err_abs:,}: {expat.ErrorString(exc.code)}"
        self._abandon_open_revision("malformed_xml", msg, exc.lineno, exc.offset)
        self._quarantine("file", "malformed_xml", msg + "; skipping to the next <page>", err_abs, line=exc.lineno,
                         column=exc.offset)

    def _count_skipped(self, skipped: bytes) -> None:
        # Revisions inside the skipped bytes were never parsed; count them so the books still balance.
        n = skipped.count(_REVISION_TAG)
        if n:
            self.revisions_read += n
            self._quarantine("file", "malformed_xml_skipped", f"{n} <revision> element(s) skipped while resyncing",
                             None, n_revisions=n)

    def _on_truncated(self, exc: DecompressError, fed: int) -> None:
        self.complete = False
        msg = f"input ends early: {exc.message} at decompressed byte {fed:,}"
        self._abandon_open_revision("truncated_input", msg)
        self._quarantine("file", "truncated_input", msg + "; revisions before this point were kept", fed)

    def _on_truncated_xml(self, exc: expat.ExpatError) -> None:
        self.complete = False
        msg = f"XML ends early at line {exc.lineno}, column {exc.offset}: {expat.ErrorString(exc.code)}"
        self._abandon_open_revision("truncated_input", msg, exc.lineno, exc.offset)
        self._quarantine("file", "truncated_input", msg, None, line=exc.lineno, column=exc.offset)

    def _fail_file(self, reason: str, detail: str) -> None:
        self.complete = False
        self._abandon_open_revision(reason, detail)
        self._quarantine("file", reason, detail, None)

    def _drain(self) -> Iterator:
        out, self.out = self.out, []
        yield from out

    def _maybe_progress(self, fed: int) -> None:
        now = time.monotonic()
        if now - self._last_progress >= self.cfg.progress_seconds:
            self._last_progress = now
            log.info("%s: %s revisions, %s pages, %.0f MB parsed", os.path.basename(self.name),
                     f"{self.revisions_read:,}", f"{self.pages:,}", fed / 1e6)


def _to_int(value: Optional[str]) -> Optional[int]:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def read_dump(path: str, config: Optional[ReadConfig] = None, display_name: Optional[str] = None) -> Iterator:
    """Yield Revision / Quarantine records for one dump file, then its SourceStats."""
    return iter(DumpReader(path, config, display_name))
