"""Bytes before XML: invalid UTF-8 repaired in place, UTF-16 transcoded, and <revision> tags counted.

The counts here are the input's own, taken before any parsing, so the reader's books can be checked
against what the file holds and not only against what the parser reached.
"""
from __future__ import annotations

import codecs
import re

# A <revision> start tag, with or without a namespace prefix (<mw:revision>, as XML tools that re-serialise
# with a prefix write it). The prefix is bounded so that a tag cut between two chunks is still found.
# A prefix may hold any letter (expat reads <ŭw:revision> as a revision), so a non-ASCII byte counts.
REVISION_START = re.compile(rb"<(?:[A-Za-z_\x80-\xff][\w.\x80-\xff-]{0,31}:)?revision[\s/>]")
REVISION_START_TEXT = re.compile(r"<(?:[^\W\d][\w.-]{0,31}:)?revision[ \t\n\r\f\v/>]")  # the same, in parsed text
MAX_TAG = 44  # the longest such tag


def _qmark(err: UnicodeDecodeError):
    # One "?" per bad byte: the repaired stream keeps exactly the original byte offsets.
    return "?" * (err.end - err.start), err.end


codecs.register_error("revmine-qmark", _qmark)
_XML_ILLEGAL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # control bytes XML 1.0 forbids


def repair_utf8(data: bytes, final: bool) -> tuple[bytes, bytes, list[tuple[int, str]]]:
    """Replace invalid UTF-8 and XML-illegal control bytes by b"?" (same length).

    Returns (repaired bytes, incomplete trailing sequence held back, [(offset, kind)]).
    """
    bad: list[tuple[int, str]] = []
    dec = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        dec.decode(data, final)
        out, carry = data, dec.getstate()[0]
    except UnicodeDecodeError:
        dec = codecs.getincrementaldecoder("utf-8")("revmine-qmark")
        text = dec.decode(data, final)
        carry = dec.getstate()[0]
        out = text.encode("utf-8")
        bad.extend((i, "invalid_utf8") for i in range(len(out)) if out[i] == 0x3F and data[i] != 0x3F)
    if carry:
        out = out[: len(out) - len(carry)]
    if _XML_ILLEGAL.search(out):
        bad.extend((m.start(), "invalid_xml_char") for m in _XML_ILLEGAL.finditer(out))
        out = _XML_ILLEGAL.sub(b"?", out)
    return out, carry, sorted(bad)


_DECLARATION = re.compile(rb'^(?:\xef\xbb\xbf)?<\?xml[^>]*?\sencoding\s*=\s*["\']([A-Za-z][A-Za-z0-9._-]*)["\']')


class DeclaredTranscoder:
    """A dump whose XML declaration names another single-byte or ASCII-compatible encoding (ISO-8859-1,
    windows-1252, Shift_JIS, ... as older exporters write) is transcoded to UTF-8 for expat, which is told
    the stream is UTF-8 so that invalid bytes can be repaired. Offsets are in the UTF-8 stream."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        self.decoder = codecs.getincrementaldecoder(encoding)("replace")

    @staticmethod
    def detect(first: bytes):
        """The codec the declaration names, when it is neither UTF-8 nor plain ASCII and keeps markup ASCII
        (so the raw <revision> count still holds); None otherwise, and for a name Python does not know."""
        m = _DECLARATION.match(first)
        if not m:
            return None
        try:
            name = codecs.lookup(m.group(1).decode("ascii")).name
        except LookupError:
            return None
        if name in ("utf-8", "ascii") or name.startswith(("utf-16", "utf-32")):
            return None
        try:
            ascii_safe = "<revision>".encode(name) == b"<revision>" and b"<revision>".decode(name) == "<revision>"
        except (UnicodeError, LookupError):
            return None
        return name if ascii_safe else None

    def feed(self, chunk: bytes, final: bool = False) -> bytes:
        return self.decoder.decode(chunk, final).encode("utf-8")


class UTF16Transcoder:
    """UTF-16 dumps (XML 1.0 appendix F) are transcoded to UTF-8 for expat; offsets are in the UTF-8 stream."""

    def __init__(self, first: bytes):
        self.big_endian = first.startswith((codecs.BOM_UTF16_BE, b"\x00<"))
        enc = "utf-16" if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else \
            ("utf-16-be" if self.big_endian else "utf-16-le")
        self.decoder = codecs.getincrementaldecoder(enc)("replace")

    @staticmethod
    def detect(first: bytes) -> bool:
        # A BOM, or (without one) the first markup character as a 2-byte unit: "<" then NUL, or NUL then "<".
        return first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, b"<\x00", b"\x00<"))

    def revision_pattern(self) -> re.Pattern:
        """REVISION_START in this stream's code units: a <revision> start tag, prefixed (<mw:revision>) or
        not. Prefixed tags went uncounted, so the books of a damaged prefixed UTF-16 dump could not see
        what the parser missed."""
        def unit(c: bytes) -> bytes:  # one ASCII character (or class) as a code unit
            return b"\x00" + c if self.big_endian else c + b"\x00"
        other = b"[\x01-\xff][\x00-\xff]" if self.big_endian else b"[\x00-\xff][\x01-\xff]"  # a unit past ASCII
        prefix = (b"(?:" + unit(b"[A-Za-z_]") + b"|" + other + b")(?:" + unit(b"[A-Za-z0-9_.-]") + b"|" + other
                  + b"){0,31}" + unit(b":"))
        name = b"".join(unit(re.escape(bytes([c]))) for c in b"revision")
        return re.compile(unit(b"<") + b"(?:" + prefix + b")?" + name + unit(b"[ \t\n\r\f\v/>]"))

    def feed(self, chunk: bytes, final: bool = False) -> bytes:
        return self.decoder.decode(chunk, final).encode("utf-8")


class TagCount:
    """Counts <revision> start tags in the raw decompressed bytes, independently of the XML parser.

    The parser counts what it reaches; this count is what the input holds. Revisions the parser never
    reached (inside bytes it could not decode, say) are the difference, and are quarantined as such."""

    def __init__(self, pattern: re.Pattern = REVISION_START, tag_bytes: int = MAX_TAG):
        self.pattern, self.overlap = pattern, tag_bytes - 1
        self.n = 0
        self.tail = b""

    def feed(self, chunk: bytes) -> None:
        """Count the tags in `chunk`; b"" ends the stream."""
        data = self.tail + chunk
        # A tag starting in the last overlap bytes may be cut off: it is counted with the next chunk.
        keep = max(len(data) - self.overlap, 0) if chunk else len(data)
        self.n += sum(1 for m in self.pattern.finditer(data) if m.start() < keep)
        self.tail = data[keep:]
