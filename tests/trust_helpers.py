"""Independent checks for the trust tests: a byte-scan count of <revision> tags, and a file-system snapshot."""
from __future__ import annotations

import bz2
import lzma
import os
import re
import zlib

_TAG = re.compile(rb"<revision[\s/>]")
_TAG16 = {enc: re.compile(b"|".join(re.escape(f"<revision{c}".encode(enc)) for c in (">", "/", " ", "\t", "\n", "\r")))
          for enc in ("utf-16-le", "utf-16-be")}

FAST_CONFIG = "diff:\n  aligner: classical\nlabel:\n  enabled: false\nsummarize:\n  enabled: false\n"


def decompressed(path) -> bytes:
    """The input's decompressed bytes, with the standard library (and py7zr): not revmine's reader."""
    data = open(path, "rb").read()
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

            with py7zr.SevenZipFile(io.BytesIO(data)) as z:
                return next(iter(z.readall().values())).read()
        if str(path).endswith(".lzma"):
            return lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(data)
    except (EOFError, OSError, lzma.LZMAError, ValueError):
        return b""  # a damaged container: callers compare against what the reader got out of it
    return data


def count_revision_tags(path) -> int:
    """<revision> start tags in the decompressed input, found by a byte scan (UTF-16 by its own pattern)."""
    data = decompressed(path)
    if data.startswith((b"\xff\xfe", b"<\x00")):
        return len(_TAG16["utf-16-le"].findall(data))
    if data.startswith((b"\xfe\xff", b"\x00<")):
        return len(_TAG16["utf-16-be"].findall(data))
    return len(_TAG.findall(data))


def snapshot(root) -> set[str]:
    """Every path under `root`, for asserting that nothing appeared outside the places a run may write."""
    out = set()
    for dirpath, dirnames, files in os.walk(root):
        for name in dirnames + files:
            out.add(os.path.relpath(os.path.join(dirpath, name), root))
    return out
