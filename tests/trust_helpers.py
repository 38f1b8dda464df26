"""Independent checks for the trust tests: a byte-scan count of <revision> tags, and a file-system snapshot."""
from __future__ import annotations

import bz2
import lzma
import os
import re
import zlib

# With or without a prefix of letters, digits, _ . - and any non-ASCII byte (written as the ASCII it excludes).
_TAG = re.compile(rb"<(?:[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x2c/:;<=>?@\x5b-\x5e\x60\x7b-\x7f]*:)?"
                  rb"revision[\s/>]")


def _tag16(enc: str) -> re.Pattern:
    """_TAG as UTF-16 code units: each ASCII character or class one unit, its NUL byte after it (LE) or
    before it (BE)."""
    def unit(c: bytes) -> bytes:
        return c + b"\x00" if enc.endswith("le") else b"\x00" + c
    wide = b"[\x00-\xff][\x01-\xff]" if enc.endswith("le") else b"[\x01-\xff][\x00-\xff]"  # not ASCII
    name = (b"(?:" + unit(b"[A-Za-z_]") + b"|" + wide + b")(?:" + unit(b"[A-Za-z0-9_.-]") + b"|" + wide + b")*"
            + unit(b":"))
    return re.compile(unit(b"<") + b"(?:" + name + b")?" + b"".join(unit(bytes([c])) for c in b"revision")
                      + unit(b"[\\s/>]"))


_TAG16 = {enc: _tag16(enc) for enc in ("utf-16-le", "utf-16-be")}

FAST_CONFIG = "diff:\n  aligner: classical\nlabel:\n  enabled: false\nsummarize:\n  enabled: false\n"


_STREAM_MAGIC = (b"BZh", b"\x1f\x8b", b"\xfd7zXZ\x00")


def decompressed(path) -> bytes:
    """The input's decompressed bytes, with the standard library (and py7zr): not revmine's reader. A
    stream inside a stream (a .gz saved with Content-Encoding: gzip) is decompressed again."""
    data = _decompressed_once(path, open(path, "rb").read())
    while data.startswith(_STREAM_MAGIC):
        data = _decompressed_once("", data)
    return data


def _decompressed_once(path, data: bytes) -> bytes:
    try:
        if data.startswith(b"BZh"):
            out = []
            while data:  # multistream files (pbzip2) are several bz2 streams back to back
                d = bz2.BZ2Decompressor()
                out.append(d.decompress(data))
                data = d.unused_data if d.eof else b""
            return b"".join(out)
        if data.startswith(b"\x1f\x8b"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)  # partial output if truncated
        if data.startswith(b"\xfd7zXZ\x00"):
            return lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(data)
        if data.startswith(b"7z\xbc\xaf\x27\x1c"):
            import io

            import py7zr

            import tempfile

            with tempfile.TemporaryDirectory() as tmp, py7zr.SevenZipFile(io.BytesIO(data)) as z:
                z.extractall(path=tmp)
                (member,) = [os.path.join(d, f) for d, _, fs in os.walk(tmp) for f in fs]
                return open(member, "rb").read()
        if str(path).endswith(".lzma"):
            return lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(data)
    except Exception:  # noqa: BLE001 (each decompressor, py7zr's too, fails its own way on damaged input)
        return b""  # a damaged container: callers compare against what the reader got out of it
    return data


def count_revision_tags(path) -> int:
    """<revision> start tags in the decompressed input, found by a byte scan (UTF-16 by its own pattern).

    Streamed in chunks (the Anarchism history is 1 GB of XML), with an overlap so that no tag is cut."""
    head = decompressed_head(path)
    pattern = _TAG16["utf-16-le"] if head.startswith((b"\xff\xfe", b"<\x00")) else \
        _TAG16["utf-16-be"] if head.startswith((b"\xfe\xff", b"\x00<")) else _TAG
    n, tail = 0, b""
    for chunk in decompressed_chunks(path):
        data = tail + chunk
        keep = max(len(data) - 200, 0)  # longer than any tag, a prefixed UTF-16 one too
        n += sum(1 for m in pattern.finditer(data) if m.start() < keep)
        tail = data[keep:]
    return n + len(pattern.findall(tail))


def decompressed_head(path) -> bytes:
    return next(iter(decompressed_chunks(path)), b"")


def decompressed_chunks(path, size: int = 1 << 20):
    """The decompressed stream in chunks, with the standard library; a damaged container ends it early."""
    raw = open(path, "rb").read(8)
    if raw.startswith(b"7z\xbc\xaf\x27\x1c") or str(path).endswith((".7z",)):
        yield decompressed(path)
        return
    if raw.startswith(b"BZh") or raw.startswith(b"\x1f\x8b"):
        yield decompressed(path)  # small here; truncated streams need the decompressor objects above
        return
    if raw.startswith(b"\xfd7zXZ\x00") or str(path).endswith(".lzma"):
        fmt = lzma.FORMAT_XZ if raw.startswith(b"\xfd7zXZ\x00") else lzma.FORMAT_ALONE
        with open(path, "rb") as fh:
            d = lzma.LZMADecompressor(fmt)
            try:
                for block in iter(lambda: fh.read(1 << 16), b""):
                    yield d.decompress(block)
            except (EOFError, lzma.LZMAError):
                return
        return
    with open(path, "rb") as fh:
        yield from iter(lambda: fh.read(size), b"")


def snapshot(root) -> set[str]:
    """Every path under `root`, for asserting that nothing appeared outside the places a run may write."""
    out = set()
    for dirpath, dirnames, files in os.walk(root):
        for name in dirnames + files:
            out.add(os.path.relpath(os.path.join(dirpath, name), root))
    return out
