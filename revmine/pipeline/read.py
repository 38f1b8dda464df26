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
import logging
import os
import re
import time
from typing import Iterator, Optional
from xml.parsers import expat

from revmine.config import ReadConfig
from revmine.pipeline.decompress import DecompressError, Position, UnsupportedInput, iter_chunks, sniff_compression
from revmine.pipeline.encoding import (MAX_TAG, REVISION_START, REVISION_START_TEXT, DeclaredTranscoder, TagCount,
                                       UTF16Transcoder, repair_utf8)
from revmine.pipeline.fields import (clip_bytes, input_key, out_of_range, parse_timestamp, sha1_base36,
                                     to_int, wiki_from_base_url, wiki_from_file_name, wiki_from_host)
from revmine.schemas import Quarantine, Revision, SourceStats
from revmine.schemas.names import CASE_SENSITIVE, ID_RANGE, NS_RANGE, is_wiki_name

log = logging.getLogger(__name__)

# A document may name its elements with a namespace prefix (<mw:mediawiki xmlns:mw="…">, as XML tools that
# re-serialise write it): the same dump to mwxml. Elements are read by their local names; the tags the reader
# looks for in raw bytes may carry any prefix, and the synthetic tags it resumes with carry the document's.
_PREFIX = rb"(?:([A-Za-z_][\w.-]{0,31}):)?"
_RESYNC_AT = re.compile(rb"<" + _PREFIX + rb"(page>|mediawiki[\s>])")  # a page, or a joined document
_RECENT = 1 << 16
_STAGE = "read"
# Revision-level rows written beside a stored copy of the revision (quarantined but stored without its text,
# or stored with a field cut): they go with that copy when a duplicate check takes it out.
ROWS_OF_A_STORED_COPY = ("oversized_text", "invalid_utf8", "invalid_xml_char", "field_truncated")

# Capture text of these elements; everything else is structure we don't need.
_CAPTURE = frozenset({"title", "ns", "id", "parentid", "timestamp", "username", "ip", "comment", "text",
                      "sha1", "model", "format", "dbname", "base", "namespace", "case"})
# Characters kept of a field with no MediaWiki limit of its own (ids, timestamps, sha1, model names):
# far above any legal value, and low enough that a hostile input can't grow one field without bound.
_OTHER_FIELD_CHARS = 1024


class DumpSecurityError(Exception):
    """The document declares a DTD: entity bombs and external entities are refused outright."""


class _Page:
    __slots__ = ("title", "ns", "ns_raw", "page_id", "page_id_raw", "n_revisions", "prev_rev_id", "offset")

    def __init__(self, offset: int):
        self.title: Optional[str] = None
        self.ns: Optional[int] = None
        self.ns_raw: Optional[str] = None
        self.page_id: Optional[int] = None
        self.page_id_raw: Optional[str] = None
        self.n_revisions = 0
        self.prev_rev_id: Optional[int] = None
        self.offset = offset


class _Rev:
    __slots__ = ("fields", "offset", "user_deleted", "comment_deleted", "text_deleted", "minor", "text_bytes_attr",
                 "text_sha1_attr", "stub_text", "text_chars", "has_text_elem", "overflow", "has_slots", "orphan")

    def __init__(self, offset: int):
        self.fields: dict[str, str] = {}
        self.offset = offset
        self.user_deleted = self.comment_deleted = self.text_deleted = self.minor = False
        self.text_bytes_attr: Optional[str] = None
        self.text_sha1_attr: Optional[str] = None
        self.stub_text = False
        self.text_chars = 0
        self.has_text_elem = False
        self.overflow: dict[str, int] = {}  # field -> characters seen, for fields cut at their cap
        self.has_slots = False  # schema 0.11 <content> slots beside the main text
        self.orphan = False  # outside any <page>


class DumpReader:
    """One pass over one dump file. Iterate it to get records; see module docstring."""

    def __init__(self, path: str, config: Optional[ReadConfig] = None, display_name: Optional[str] = None,
                 source_key: Optional[str] = None):
        self.path = path
        self.name = display_name or path
        self.cfg = config or ReadConfig()
        self.out: list = []
        self.wiki: Optional[str] = self.cfg.wiki
        self.bad_wiki: Optional[str] = None  # a <dbname> that is not a database name: every revision is quarantined
        self.key = source_key
        self.base: Optional[str] = None
        self.schema_version: Optional[str] = None
        self.namespaces: dict[str, int] = {}
        self.case_sensitive = False  # siteinfo's <case>: titles compared with their first letter as written
        self._names: Optional[tuple] = None  # the same tuple for every revision of the file
        self.ns_key: Optional[int] = None
        self.is_stub: Optional[bool] = None
        self.page: Optional[_Page] = None
        self.rev: Optional[_Rev] = None
        self.stack: list[str] = []
        self.buf: list[str] = []
        self.pages = 0
        self.revisions_read = 0
        self.root: Optional[str] = None  # the first document's root element, for a file with no pages
        self.log_items = 0  # <logitem> entries: a pages-logging dump, which holds no page history
        # Revision ids seen in this file, per wiki (about 60 bytes each): a duplicate on any page is quarantined.
        self.seen_rev_ids: dict[str, set[int]] = {}
        self.document_closed = False  # the root element ended: what follows can only be another document
        self.tags = TagCount()
        self.prefix = b""  # the elements' namespace prefix with its colon (b"mw:"), as last seen
        # <revision> start tags the raw count saw inside CDATA sections, comments and processing
        # instructions: text, not elements. Keyed by the section's stream offset, so that a section parsed
        # again after a repair is not counted twice.
        self.tags_in_text: dict[int, int] = {}
        self.cdata_start: Optional[int] = None
        self.cdata_tags = 0
        self.cdata_tail = ""
        self.cdata_chars = None  # the character handler that CDATA content also goes to
        self.field_cap = _OTHER_FIELD_CHARS
        self.field_chars = 0
        self.ordinal = 0
        self.parser_base = 0  # absolute stream offset of the current parser's byte 0
        self.transcoder: Optional[UTF16Transcoder | DeclaredTranscoder] = None
        self.complete = True
        self.resyncing = False
        self.resync_tail = b""
        self.recent = b""  # last bytes fed to the parser, for resync after an error
        # Raw chunks fed since the last point where parsing can restart (a <page> or <revision> boundary),
        # so that invalid bytes can be repaired and the page re-parsed from there without losing it.
        self.kept: list[tuple[int, bytes]] = []
        self.kept_bytes = 0
        self.safe_point = 0
        self.utf8_carry = b""
        self.resume_page = False
        self.bad_bytes: list[tuple[int, str]] = []  # (absolute offset, kind) of repaired bytes
        self._last_progress = self._started = time.monotonic()
        self.position = Position()

    # ---- public -------------------------------------------------------------------------
    def __iter__(self) -> Iterator:
        compression = "unknown"
        fed = 0
        try:
            compression = sniff_compression(self.path)
            self._new_parser()
            first = True
            for chunk in iter_chunks(self.path, compression, position=self.position):
                if first and UTF16Transcoder.detect(chunk):
                    self.transcoder = UTF16Transcoder(chunk)
                    self.tags = TagCount(self.transcoder.revision_pattern(), tag_bytes=2 * MAX_TAG)
                elif first and (declared := DeclaredTranscoder.detect(chunk)):
                    self.transcoder = DeclaredTranscoder(declared)
                first = False
                self.tags.feed(chunk)
                if self.transcoder is not None:
                    chunk = self.transcoder.feed(chunk)
                self._feed(chunk, fed)
                fed += len(chunk)
                self._maybe_progress(fed)
                yield from self._drain()
            if self.transcoder is not None:
                tail = self.transcoder.feed(b"", final=True)
                self._feed(tail, fed)
                fed += len(tail)
            if self.utf8_carry:  # an incomplete UTF-8 sequence at the very end
                self._feed(b"", fed, final=True)
            if self.resyncing:
                self._count_skipped(self.resync_tail)
            else:
                self.parser.Parse(b"", True)
        except UnsupportedInput as exc:
            self._fail_file("unsupported_input", str(exc))
        except DecompressError as exc:
            self._on_truncated(exc, fed)
        except expat.ExpatError as exc:
            self._on_truncated_xml(exc)
        except DumpSecurityError as exc:
            self._fail_file("dtd_forbidden", str(exc))
        except OSError as exc:
            self._fail_file("unreadable_file", f"{type(exc).__name__}: {exc}")
        self.tags.feed(b"")
        self._report_stray_bad_bytes(None)
        self._reconcile_with_input()
        self._report_no_history()
        yield from self._drain()
        if self.key is None:
            self.key = input_key(self.path)
        yield SourceStats(
            wiki=self.wiki or "unknown", source_file=self.name, source_key=self.key,
            compression=compression, schema_version=self.schema_version, is_stub=bool(self.is_stub),
            pages=self.pages, revisions_read=self.revisions_read, bytes_decompressed=fed, complete=self.complete)

    def _feed(self, data: bytes, start: int, final: bool = False) -> None:
        """Parse stream bytes [start, start+len(data)).

        Invalid bytes: repair them and re-parse from the last restart point (nothing is lost).
        Other malformed XML: record it and resync at the next <page>.
        """
        if self.utf8_carry:
            data, start = self.utf8_carry + data, start - len(self.utf8_carry)
            self.utf8_carry = b""
            if final:
                data, _, bad = repair_utf8(data, True)
                self.bad_bytes.extend((start + i, kind) for i, kind in bad)
        while data:
            if self.resyncing:
                data, start = self.resync_tail + data, start - len(self.resync_tail)
                m = _RESYNC_AT.search(data)
                if m is None:
                    keep = MAX_TAG - 1  # a tag may straddle the chunk boundary
                    self._count_skipped(data[:-keep])
                    self.resync_tail = data[-keep:]
                    return
                i = m.start()
                self._count_skipped(data[:i])
                self.resyncing, self.resync_tail = False, b""
                data, start = data[i:], start + i
                self.prefix = m.group(1) + b":" if m.group(1) else b""
                if m.group(2).startswith(b"mediawiki"):
                    self._new_document()
                    self._new_parser(base=start)
                else:
                    self._new_parser(b"<%smediawiki>" % self.prefix, base=start)
            try:
                self.parser.Parse(data, False)
            except expat.ExpatError as exc:
                repaired = self._repair(data, start)
                if repaired is not None:
                    data, start = repaired
                    continue
                err_abs = self.parser_base + max(self.parser.ErrorByteIndex, 0)
                # Expat may report an error inside bytes it buffered from the previous call.
                combined, cstart = self.recent + data, start - len(self.recent)
                another = self.document_closed and _starts_a_document(combined[max(err_abs - cstart, 0):])
                if not another:
                    self._on_malformed(exc, err_abs)
                # past the byte expat stopped at, unless that byte starts the next document
                rel = min(max(err_abs + (not another) - cstart, 0), len(combined))
                data, start = combined[rel:], cstart + rel
                self.recent, self.kept, self.kept_bytes = b"", [], 0
                self.resyncing = True
                if not data:
                    return
                continue
            self.recent = (self.recent + data)[-_RECENT:] if len(data) < _RECENT else data[-_RECENT:]
            self._keep(data, start)
            return

    def _keep(self, data: bytes, start: int) -> None:
        kept = self.kept
        kept.append((start, data))
        self.kept_bytes += len(data)
        while kept and kept[0][0] + len(kept[0][1]) <= self.safe_point:
            self.kept_bytes -= len(kept.pop(0)[1])
        if self.kept_bytes > max(2 * self.cfg.max_text_bytes, 8 << 20):
            # A huge revision: stop retaining; invalid bytes inside it fall back to resync.
            self.kept, self.kept_bytes = [], 0

    def _repair(self, data: bytes, start: int) -> Optional[tuple[bytes, int]]:
        """If the parse failed on invalid bytes, rewind to the restart point with those bytes replaced."""
        restart = self.safe_point
        cstart = self.kept[0][0] if self.kept else start
        if cstart > restart:  # the bytes from the restart point were not retained (a huge revision)
            return None
        combined = b"".join(c for _, c in self.kept) + data
        repaired, carry, bad = repair_utf8(combined[restart - cstart:], False)
        if not bad:
            return None
        self.bad_bytes.extend((restart + i, kind) for i, kind in bad)
        if self.rev is not None:  # the open revision is parsed again from its start
            self.revisions_read -= 1
            if self.page is not None:
                self.page.n_revisions -= 1
            self.rev = None
        prefix = b"<%smediawiki>" % self.prefix
        if self.page is not None and restart != self.page.offset:
            prefix += b"<%spage>" % self.prefix  # resume inside the page: keep its state
            self.resume_page = True
        elif self.page is not None:
            self.pages -= 1  # the page start is parsed again
            self.page = None
        self.kept, self.kept_bytes, self.recent = [], 0, b""
        self.utf8_carry = carry
        self._new_parser(prefix if restart else b"", base=restart)
        return repaired, restart

    def _new_document(self) -> None:
        """A second <mediawiki> document in the same file (dumps joined with `cat`): its own site info names
        its wiki and namespaces; the previous document's must not carry over to its pages."""
        self.wiki, self.bad_wiki, self.base = self.cfg.wiki, None, None
        self.namespaces, self._names, self.ns_key = {}, None, None
        self.case_sensitive = False
        self.page = self.rev = None
        self.document_closed = False

    # ---- parser setup -------------------------------------------------------------------
    def _new_parser(self, prefix: bytes = b"", base: int = 0) -> None:
        """A fresh expat parser for stream bytes from `base`, primed with synthetic `prefix` tags."""
        p = expat.ParserCreate(encoding="UTF-8")  # UTF-16 input is transcoded, so expat always sees UTF-8
        p.buffer_text = True
        p.buffer_size = 1 << 16
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        # Hardening in the spirit of defusedxml: a dump never has a DTD, so any DTD is refused.
        p.StartDoctypeDeclHandler = self._forbid_dtd
        p.EntityDeclHandler = self._forbid_entity
        p.ExternalEntityRefHandler = self._forbid_external
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.StartCdataSectionHandler = self._start_cdata
        p.EndCdataSectionHandler = self._end_cdata
        p.CommentHandler = self._markup_text
        p.ProcessingInstructionHandler = lambda target, data: self._markup_text(data)
        self.parser = p
        self.stack = []
        self.parser_base = base - len(prefix)
        self.safe_point = base
        if prefix:
            p.Parse(prefix, False)

    # The quarantine row names the file; these messages say what was found where.
    def _forbid_dtd(self, name, *args):
        if str(name).lower() == "html":  # a server's error page saved under the dump's name
            raise DumpSecurityError(f"line {self.parser.CurrentLineNumber}: an HTML page (<!DOCTYPE html>), not a "
                                    "MediaWiki XML export; download the dump again")
        raise DumpSecurityError(f"line {self.parser.CurrentLineNumber}: DOCTYPE {name!r} declared; MediaWiki dumps "
                                "have no DTD, so it is refused (entity expansion / external entity risk)")

    def _forbid_entity(self, name, *args):
        raise DumpSecurityError(f"line {self.parser.CurrentLineNumber}: entity {name!r} declared; refused")

    def _forbid_external(self, context, base, system_id, public_id):
        raise DumpSecurityError(f"external entity {system_id!r} referenced; refused")

    # ---- callbacks ----------------------------------------------------------------------
    def _start(self, name: str, attrs: dict) -> None:
        if ":" in name:  # a prefixed element: its local name (attributes of the dump carry no prefix)
            prefix, _, name = name.rpartition(":")
            if name in ("page", "mediawiki"):
                self.prefix = prefix.encode() + b":"
        elif name in ("page", "mediawiki"):
            self.prefix = b""
        if self.root is None:
            self.root = name
        self.stack.append(name)
        if name in _CAPTURE:
            if name == "text":
                if len(self.stack) > 1 and self.stack[-2] == "revision":
                    self._start_text(attrs)
                return  # a <text> inside a <content> slot: not the main text
            if name == "comment" and attrs.get("deleted") == "deleted" and self.rev is not None:
                self.rev.comment_deleted = True
            if name == "namespace":
                self.ns_key = to_int(attrs.get("key", "0"), NS_RANGE)
            self.buf = []
            self.field_cap = self._field_cap(name)
            self.field_chars = 0
            self.parser.CharacterDataHandler = self._field_chars
        elif name == "revision":
            self.revisions_read += 1
            # A field left open (a <revision> inside a <text>) must not go on writing into a revision.
            self.parser.CharacterDataHandler = None
            offset = self.parser_base + self.parser.CurrentByteIndex
            if self.rev is not None:  # the previous <revision> was never closed
                self._quarantine("revision", "unclosed_revision",
                                 f"<revision> at byte {self.rev.offset:,} is not closed before the next one",
                                 self.rev.offset, page_id=self.page.page_id if self.page else None,
                                 rev_id=to_int(self.rev.fields.get("id")))
            if self.page is not None:
                self.page.n_revisions += 1
            self.rev = _Rev(offset)
            self.rev.orphan = self.page is None  # counted, and quarantined when it ends
            self.safe_point = self.rev.offset
        elif name == "contributor":
            if self.rev is not None and attrs.get("deleted") == "deleted":
                self.rev.user_deleted = True
        elif name == "minor":
            if self.rev is not None:
                self.rev.minor = True
        elif name == "content":
            if self.rev is not None:
                self.rev.has_slots = True
        elif name == "page":
            if self.resume_page:  # synthetic <page> after a repair: the page state carries on
                self.resume_page = False
                return
            self.pages += 1
            self.page = _Page(self.parser_base + self.parser.CurrentByteIndex)
            self.safe_point = self.page.offset
        elif name == "mediawiki":
            self.schema_version = attrs.get("version", self.schema_version)
        elif name == "logitem":
            self.log_items += 1

    def _start_cdata(self) -> None:
        # MediaWiki never writes CDATA, but other exporters may: a text's "<revision>" is then literal.
        self.cdata_start = self.parser_base + self.parser.CurrentByteIndex
        self.cdata_tags, self.cdata_tail = 0, ""
        self.cdata_chars = self.parser.CharacterDataHandler
        self.parser.CharacterDataHandler = self._cdata_text

    def _cdata_text(self, data: str) -> None:
        # The tail is one character shorter than a tag, so a tag cut between two calls is counted once.
        seen = self.cdata_tail + data
        self.cdata_tags += len(REVISION_START_TEXT.findall(seen))
        self.cdata_tail = seen[-(MAX_TAG - 1):]
        if self.cdata_chars is not None:
            self.cdata_chars(data)

    def _end_cdata(self) -> None:
        self.parser.CharacterDataHandler = self.cdata_chars
        if self.cdata_tags and self.cdata_start is not None:
            self.tags_in_text[self.cdata_start] = self.cdata_tags
        self.cdata_start, self.cdata_chars = None, None

    def _markup_text(self, data: str) -> None:
        n = len(REVISION_START_TEXT.findall(data))
        if n:
            self.tags_in_text[self.parser_base + self.parser.CurrentByteIndex] = n

    def _field_cap(self, name: str) -> int:
        """Characters kept of a field: MediaWiki's own limit plus one (to see that it was passed)."""
        cfg = self.cfg
        if name == "comment":
            return cfg.max_comment_chars + 1
        if name in ("title", "username"):
            return max(cfg.max_title_bytes, cfg.max_user_bytes) + 1  # chars <= bytes
        return _OTHER_FIELD_CHARS

    def _field_chars(self, data: str) -> None:
        room = self.field_cap - self.field_chars
        if room > 0:
            self.buf.append(data if len(data) <= room else data[:room])
        self.field_chars += len(data)

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
        if ":" in name:
            name = name.rpartition(":")[2]
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
                if name != "text" and self.field_chars >= self.field_cap:
                    rev.overflow[key] = self.field_chars
            elif parent == "page" and self.page is not None:
                if name == "title":
                    self.page.title = value.replace("_", " ")  # MediaWiki's canonical form: "_" is a space
                elif name == "ns":
                    self.page.ns_raw = value
                    self.page.ns = to_int(value, NS_RANGE)
                elif name == "id":
                    self.page.page_id_raw = value
                    self.page.page_id = to_int(value, ID_RANGE)
            elif name == "namespace":
                self.namespaces[value.strip().lower()] = self.ns_key or 0
            elif name == "dbname":
                self._set_wiki(value.strip())
            elif name == "case" and parent == "siteinfo":
                self.case_sensitive = value.strip() == "case-sensitive"
            elif name == "base":
                self.base = value.strip()
        elif name == "revision":
            if self.rev is not None:
                self._finish_revision_safely(self.rev)
            self.rev = None
            self.parser.CharacterDataHandler = None  # nor into the next one, once this one is closed
            self.safe_point = self.parser_base + self.parser.CurrentByteIndex + len("</revision>")
        elif name == "page":
            page = self.page
            if page is not None and page.n_revisions == 0:
                self._quarantine("page", "empty_page", f"page {page.title!r} has no <revision>", page.offset,
                                 page_id=page.page_id, n_revisions=0)
            self.page = None
            self.safe_point = self.parser_base + self.parser.CurrentByteIndex + len("</page>")
            self._report_stray_bad_bytes(page)
        elif name == "mediawiki" and not stack:
            self.document_closed = True
        elif name == "siteinfo":
            self._resolve_wiki()
            self._names = tuple(sorted(self.namespaces.items())) + ((CASE_SENSITIVE,) if self.case_sensitive else ()) \
                or None

    # ---- revision assembly --------------------------------------------------------------
    def _set_wiki(self, name: str) -> None:
        """A wiki name from the dump is data: it names a partition only if it is a database name."""
        if self.wiki or not name:
            return
        if is_wiki_name(name):
            self.wiki = name
        else:
            self.bad_wiki = name
            self.wiki = "unknown"
            self._quarantine("file", "invalid_wiki_name", f"<dbname> {name[:80]!r} is not a MediaWiki database name; "
                             "its revisions are quarantined (pass --wiki to name the wiki)", None)

    def _resolve_wiki(self) -> None:
        if self.wiki:
            return
        self.wiki = wiki_from_file_name(self.name) or wiki_from_base_url(self.base or "")
        if self.wiki is None:
            self.wiki = wiki_from_host(self.base or "") or "unknown"
            log.warning("%s: no <dbname> and no Wikimedia base URL: its wiki is named %r%s (--wiki names it)",
                        self.name, self.wiki, " after its host" if self.wiki != "unknown" else
                        "; another such dump is the same wiki to revmine")

    def _finish_revision_safely(self, rev: _Rev) -> None:
        """One record that trips an unforeseen case is quarantined; it never ends the file or the run."""
        out = len(self.out)
        try:
            self._finish_revision(rev)
        except Exception as exc:  # noqa: BLE001 (any failure of one record must stay with that record)
            del self.out[out:]
            log.exception("%s: revision at byte %s could not be read", self.name, rev.offset)
            self._quarantine("revision", "internal_error", f"{type(exc).__name__}: {exc}", rev.offset,
                             page_id=self.page.page_id if self.page else None, rev_id=to_int(rev.fields.get("id")))

    def _finish_revision(self, rev: _Rev) -> None:
        if rev.orphan or self.page is None:
            self._quarantine("revision", "revision_outside_page", "<revision> outside any <page>", rev.offset,
                             rev_id=to_int(rev.fields.get("id")))
            return
        page = self.page
        if self.wiki is None:
            self._resolve_wiki()
        f = rev.fields
        where = dict(page_id=page.page_id, rev_id=to_int(f.get("id"), ID_RANGE))
        if self.bad_wiki is not None:
            self._quarantine("revision", "invalid_wiki_name",
                             f"<dbname> {self.bad_wiki[:80]!r} is not a MediaWiki database name "
                             "(lowercase letters, digits, '_'); pass --wiki to name it", rev.offset, **where)
            return
        too_big = out_of_range(f, page.page_id_raw, page.ns_raw)
        if too_big:
            self._quarantine("revision", "value_out_of_range", too_big, rev.offset, **where)
            return
        rev_id = where["rev_id"]
        if rev_id is None or page.page_id is None or page.title is None:
            what = "revision <id>" if rev_id is None else "page <id>/<title>"
            self._quarantine("revision", "malformed_revision", f"missing or non-numeric {what}", rev.offset, **where)
            return
        seen = self.seen_rev_ids.setdefault(self.wiki, set())
        if rev_id in seen:
            self._quarantine("revision", "duplicate_rev_id", f"revision {rev_id} appears twice in this file "
                             f"(again in page {page.page_id})", rev.offset, **where)
            return
        seen.add(rev_id)
        ts = parse_timestamp(f.get("timestamp"))
        if ts is None:
            self._quarantine("revision", "malformed_revision", f"bad <timestamp> {f.get('timestamp')!r:.80}",
                             rev.offset, **where)
            return
        over = self._over_limit(rev, page)
        if over and self.cfg.over_limit == "quarantine":
            self._quarantine("revision", "field_too_long", "; ".join(over), rev.offset, **where)
            return

        ns = page.ns if page.ns is not None else self._ns_from_title(page.title)
        parent_raw = to_int(f.get("parentid"), ID_RANGE)
        parent_from_dump = bool(parent_raw)
        parent_id = parent_raw if parent_raw else page.prev_rev_id
        page.prev_rev_id = rev_id

        problem = None
        text: Optional[str] = None
        content_sha1: Optional[str] = None
        has_text = rev.has_text_elem and not rev.text_deleted and not rev.stub_text
        if self.is_stub is None and rev.has_text_elem:
            self.is_stub = rev.stub_text
        # The main text's own sha1: with several slots, the revision's <sha1> hashes all of them together.
        sha1 = (rev.text_sha1_attr or (None if rev.has_slots else f.get("sha1")) or "").strip() or None
        sha1_from_dump = sha1 is not None
        text_bytes = to_int(rev.text_bytes_attr, ID_RANGE) if rev.text_bytes_attr not in (None, "-1") else None
        if has_text and rev.text_chars == 0 and text_bytes:
            # An empty <text> of a text the dump says is not empty (bytes="739"): an exporter that could not
            # load the text, or a stub without its text id. Read as "" it made a blanking of the page and a
            # re-creation in the next pair; mwxml reads it as no text too. (Not the <sha1>: exporters write
            # placeholders and hex digests there.)
            has_text = False
        if has_text:
            if rev.text_chars > self.cfg.max_text_bytes:
                problem = ("oversized_text", f"text has {rev.text_chars:,}+ characters, over max_text_bytes="
                                             f"{self.cfg.max_text_bytes:,}")
                has_text, text_bytes = False, None
            else:
                text = f.get("text", "")
                data = text.encode("utf-8")
                text_bytes = len(data)  # what is stored, whatever the bytes= attribute claims
                if text_bytes > self.cfg.max_text_bytes:
                    problem = ("oversized_text", f"text is {text_bytes:,} bytes, over max_text_bytes={self.cfg.max_text_bytes:,}")
                    text, has_text, text_bytes = None, False, None
                else:
                    # Every held text is hashed, <sha1> or not: reverts compare the texts' own digests, since
                    # an exporter's <sha1> can be a placeholder (mwxml's test dump gives one to every
                    # revision), which hid every revert. About 0.6 s per GB of text. Inline on purpose: a
                    # hashing thread measured slower (GIL hand-offs cost more than it saved).
                    content_sha1 = sha1_base36(data)
                    sha1 = sha1 or content_sha1
        rev_end = self.parser_base + self.parser.CurrentByteIndex
        if problem is None and self.bad_bytes:
            bad = [b for b in self.bad_bytes if rev.offset <= b[0] < rev_end]
            self.bad_bytes = [b for b in self.bad_bytes if not rev.offset <= b[0] < rev_end]  # rest: page report
            if bad:
                kind = bad[0][1]
                what = "invalid UTF-8" if kind == "invalid_utf8" else "XML-illegal control"
                problem = (kind, f"{len(bad)} {what} byte(s), first at byte {bad[0][0]:,} (replaced by '?')")
        user = f.get("username", f.get("ip"))
        is_anon = "ip" in f and "username" not in f
        title = page.title
        if over:  # truncated to MediaWiki's limits, and flagged by an event row below
            title = clip_bytes(title, self.cfg.max_title_bytes)
            user = clip_bytes(user, self.cfg.max_user_bytes) if user is not None else None
        # An empty <comment/> is no comment: MediaWiki never writes one, and mwxml reads it as none.
        comment = f.get("comment") or None
        if comment is not None and len(comment) > self.cfg.max_comment_chars:
            comment = comment[: self.cfg.max_comment_chars]
        revision = Revision(
            wiki=self.wiki, year=ts.year, page_id=page.page_id, ns=ns if ns is not None else 0, title=title,
            rev_id=rev_id, parent_id=parent_id, parent_from_dump=parent_from_dump, timestamp=int(ts.timestamp()),
            user=None if rev.user_deleted else user,
            user_id=None if (rev.user_deleted or is_anon) else to_int(f.get("user_id"), ID_RANGE),
            is_anon=is_anon, user_deleted=rev.user_deleted,
            comment=None if rev.comment_deleted else comment, comment_deleted=rev.comment_deleted,
            minor=rev.minor, sha1=sha1, sha1_from_dump=sha1_from_dump,
            text_bytes=None if rev.text_deleted else text_bytes, text_deleted=rev.text_deleted,
            has_text=has_text and problem is None, model=f.get("model"), format=f.get("format"),
            source_file=self.name, source_offset=rev.offset, source_ordinal=self.ordinal,
            text=text if problem is None else None, problem=problem[0] if problem else None,
            namespaces=self._names, content_sha1=content_sha1 if problem is None else None)
        self.ordinal += 1
        self.out.append(revision)
        if problem:
            self._quarantine("revision", problem[0], problem[1], rev.offset, **where)
        if over:
            self._quarantine("revision", "field_truncated", "; ".join(over) + " (truncated)", rev.offset,
                             n_revisions=0, **where)

    def _over_limit(self, rev: _Rev, page: _Page) -> list[str]:
        """Fields past MediaWiki's own maxima (title and user name 255 bytes, comment 500 characters)."""
        cfg, f, over = self.cfg, rev.fields, []
        if len(page.title.encode("utf-8")) > cfg.max_title_bytes:
            over.append(f"title over {cfg.max_title_bytes} bytes")
        user = f.get("username", f.get("ip"))
        if user is not None and len(user.encode("utf-8")) > cfg.max_user_bytes:
            over.append(f"user name over {cfg.max_user_bytes} bytes")
        if "comment" in rev.overflow or len(f.get("comment") or "") > cfg.max_comment_chars:
            n = rev.overflow.get("comment", len(f.get("comment") or ""))
            over.append(f"comment of {n:,} characters, over {cfg.max_comment_chars}")
        return over

    def _report_stray_bad_bytes(self, page: Optional[_Page]) -> None:
        """Bad bytes outside any revision (page header, whitespace) were repaired: say so, don't hide it."""
        if not self.bad_bytes:
            return
        bad, self.bad_bytes = self.bad_bytes, []
        kinds = sorted({kind for _, kind in bad})
        where = f"page {page.page_id} ({page.title!r})" if page is not None else "outside any page"
        self._quarantine("page" if page is not None else "file", kinds[0],
                         f"{len(bad)} bad byte(s) in {where}, first at byte {bad[0][0]:,}; replaced by '?'",
                         bad[0][0], page_id=page.page_id if page is not None else None, n_revisions=0)

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
        if self.rev is not None:
            self._quarantine("revision", reason, detail, self.rev.offset, page_id=self.page.page_id if self.page else None,
                             rev_id=to_int(self.rev.fields.get("id")), line=line, column=column)
        self.rev = None
        self.page = None

    def _on_malformed(self, exc: expat.ExpatError, err_abs: int) -> None:
        msg = f"malformed XML at line {exc.lineno}, column {exc.offset}, byte {err_abs:,}: {expat.ErrorString(exc.code)}"
        self._abandon_open_revision("malformed_xml", msg, exc.lineno, exc.offset)
        self._quarantine("file", "malformed_xml", msg + "; skipping to the next <page>", err_abs, line=exc.lineno,
                         column=exc.offset)

    def _reconcile_with_input(self) -> None:
        """Revisions in the input that the parser never reached are quarantined, so the books balance
        against the input itself, not only against what the parser saw."""
        missing = self.tags.n - sum(self.tags_in_text.values()) - self.revisions_read
        if missing > 0:
            self.complete = False
            self.revisions_read += missing
            self._quarantine("file", "unparsed_revision", f"{missing} <revision> start tag(s) in the input were never "
                             "reached by the XML parser (undecodable or misaligned bytes)", None, n_revisions=missing)

    def _report_no_history(self) -> None:
        """A whole file that parsed but holds no page and no revision is the wrong kind of file: a
        pages-logging or abstracts dump, or XML of another kind. One row says so, so that it does not land as
        an empty input that looks read. An export with site info and no pages is valid, and stays silent."""
        if self.pages or self.revisions_read or not self.complete or self.root is None:
            return
        if self.log_items:
            detail = (f"{self.log_items:,} <logitem> entries and no <page>: a pages-logging dump holds log "
                      "entries, not page histories; read a pages-meta-history or stub-meta-history dump")
        elif self.root != "mediawiki":
            detail = (f"the root element is <{self.root[:40]}>, not <mediawiki>: not a MediaWiki XML export "
                      "(abstracts and other XML hold no page histories)")
        else:
            return
        self._quarantine("file", "no_page_history", detail, None)

    def _count_skipped(self, skipped: bytes) -> None:
        # Revisions inside the skipped bytes were never parsed; count them so the books still balance.
        n = len(REVISION_START.findall(skipped))
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
            name = os.path.basename(self.name)
            # `extra` carries the figures themselves, for a console that draws a live bar instead of the line.
            log.info("%s", progress_line(name, self.revisions_read, self.pages, fed, self.position.done,
                                         self.position.total, now - self._started),
                     extra={PROGRESS: {"input": name, "done": self.position.done, "total": self.position.total,
                                       "revisions": self.revisions_read, "pages": self.pages}})


PROGRESS = "revmine_progress"  # the LogRecord attribute with a progress line's figures


def progress_line(name: str, revisions: int, pages: int, parsed: int, done: Optional[int], total: Optional[int],
                  elapsed: float) -> str:
    """'dump.xml.bz2: 41% of 584 KB read, 412 revisions (206/s), 1 pages, 6 MB parsed, about 3 s left'."""
    rate = f"{revisions / elapsed:,.0f}/s" if elapsed > 0 else "-"
    head = f"{name}: "
    tail = f"{revisions:,} revisions ({rate}), {pages:,} pages, {_size(parsed)} parsed"
    if not done or not total:
        return head + tail
    share = min(done / total, 1.0)
    left = elapsed * (1 - share) / share if share > 0 else None
    left_text = f", about {_duration(left)} left" if left is not None else ""
    return head + f"{share:.0%} of {_size(total)} read, " + tail + left_text


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} GB"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _starts_a_document(data: bytes) -> bool:
    """Whether bytes after a closed root begin another dump: its XML declaration or its <mediawiki> tag
    (after a byte-order mark, which each file joined by `cat` may start with)."""
    head = data.lstrip().removeprefix(codecs.BOM_UTF8)
    m = _RESYNC_AT.match(head)
    return head.startswith(b"<?xml") or (m is not None and m.group(2).startswith(b"mediawiki"))


def read_dump(path: str, config: Optional[ReadConfig] = None, display_name: Optional[str] = None,
              source_key: Optional[str] = None) -> Iterator:
    """Yield Revision / Quarantine records for one dump file, then its SourceStats.

    `source_key`: the input's content key when the caller has it already; else it is computed."""
    return iter(DumpReader(path, config, display_name, source_key))
