"""Open a dump file of any container and stream its decompressed bytes.

The container is sniffed from magic bytes (file extensions lie), then read in a producer
thread: bz2, lzma and zlib release the GIL while they inflate, so decompression overlaps with
XML parsing on a second core. The queue is bounded, so memory stays flat whatever the file size.
"""
from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import os
import queue
import tarfile
import threading
import zipfile
import zlib
from typing import BinaryIO, Iterator, Optional

CHUNK = 1 << 20  # 1 MiB: large enough to amortise per-call overhead, small enough for flat memory
THREADED = {"bz2", "7z"}  # codecs slow enough that a producer thread pays for its GIL hand-offs

_MAGIC = [
    (b"BZh", "bz2"),
    (b"\x1f\x8b", "gz"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"PK\x03\x04", "zip"),
    (b"(\xb5/\xfd", "zstd"),
]
_STREAM_CODECS = ("gz", "bz2", "xz")  # what an archive member may itself be compressed with


def _codec_of(head: bytes) -> Optional[str]:
    """The container whose magic number `head` starts with (`_MAGIC`), or None."""
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


# Containers recognised only to say so: reading them needs a codec the standard library lacks.
UNREAD = {"zstd": "Zstandard-compressed input is not read; decompress it first (zstd -d FILE)"}
_TAR_MAGIC = (257, b"ustar")  # POSIX and GNU tar headers


class DecompressError(Exception):
    """Reading the container failed (truncated or corrupt). `offset` is decompressed bytes delivered."""

    def __init__(self, path: str, message: str, offset: int):
        super().__init__(f"{path}: {message} (after {offset:,} decompressed bytes)")
        self.path, self.message, self.offset = path, message, offset


class UnsupportedInput(ValueError):
    """A container revmine recognises but does not read, or an archive with no dump in it."""


_DUMP_NAMES = (".xml",)
# Members of zip and tar archives may be compressed dumps themselves (a tar bundling a dump's .xml.bz2 parts)
_COMPRESSED_DUMP_NAMES = (".xml", ".xml.gz", ".xml.bz2", ".xml.xz")


def dump_members(names: list[str], suffixes: tuple = _DUMP_NAMES) -> list[str]:
    """The members of an archive to read, in archive order: its dump files (WikiTeam's archives keep a
    history XML beside title lists, site info and image lists), or else its only file. Several dumps are
    read one after the other, each a document of its own."""
    files = [n for n in names if not n.endswith("/")]
    dumps = [n for n in files if n.lower().endswith(suffixes)]
    if dumps or len(files) == 1:
        return dumps or files
    raise UnsupportedInput(f"no dump ({', '.join(suffixes)}) among the archive's {len(files)} files: {files[:5]}")


def _member_stream(fh: BinaryIO) -> BinaryIO:
    """An archive member's bytes, decompressed when the member is itself a gz, bz2 or xz stream. Streams
    too: a .gz served with `Content-Encoding: gzip` and saved as it came is compressed twice."""
    name = _codec_of(fh.peek(6)[:6] if hasattr(fh, "peek") else b"")
    if name not in _STREAM_CODECS:
        return fh
    return {"gz": lambda: gzip.GzipFile(fileobj=fh, mode="rb"), "bz2": lambda: bz2.BZ2File(fh),
            "xz": lambda: lzma.LZMAFile(fh, format=lzma.FORMAT_XZ)}[name]()


class _PushDecoder:
    """Decompresses bytes as they are pushed (7z hands its members over in writes), streams joined one
    after another included (a multistream .bz2); `for_head` picks the codec from a member's first bytes."""

    def __init__(self, make):
        self.make, self.d = make, make()

    @classmethod
    def for_head(cls, head: bytes) -> Optional["_PushDecoder"]:
        name = _codec_of(head)
        if name not in _STREAM_CODECS:
            return None
        return cls({"gz": lambda: zlib.decompressobj(wbits=31), "bz2": bz2.BZ2Decompressor,
                    "xz": lambda: lzma.LZMADecompressor(format=lzma.FORMAT_XZ)}[name])

    def feed(self, data: bytes) -> bytes:
        out = []
        while data:
            out.append(self.d.decompress(data))
            if not self.d.eof:
                break
            data, self.d = self.d.unused_data, self.make()
        return b"".join(out)


def _is_tar(head: bytes) -> bool:
    at, magic = _TAR_MAGIC
    return head[at:at + len(magic)] == magic


class Position:
    """How far a reader is through the stored (compressed) bytes of a file, for progress and time left."""

    def __init__(self):
        self.fh: Optional[BinaryIO] = None
        self.total: Optional[int] = None

    def attach(self, fh: BinaryIO) -> None:
        self.fh = fh
        try:
            self.total = os.fstat(fh.fileno()).st_size
        except (AttributeError, OSError, ValueError):  # a remote file has no descriptor
            self.total = None

    @property
    def done(self) -> Optional[int]:
        try:
            return self.fh.tell() if self.fh is not None else None
        except (OSError, ValueError):  # closed, or not seekable
            return None


class NotARegularFile(OSError):
    """A local input that is a device, a FIFO or a socket: /dev/zero never ends, and a FIFO with no writer
    blocks its reader forever, so neither is opened (the input is quarantined as unreadable)."""


def open_raw(path: str) -> BinaryIO:
    """The file's bytes as stored: local paths directly, remote ones (gs://, s3://) through Beam."""
    if os.path.exists(path):
        if not os.path.isfile(path):
            raise NotARegularFile(f"{path} is not a regular file")
        return open(path, "rb")
    # Remote paths (gs://, s3://, hdfs://) go through Beam's filesystem layer on workers.
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def sniff_compression(path: str) -> str:
    with open_raw(path) as fh:
        head = fh.read(512)
    if _is_tar(head):
        return "tar"
    name = _codec_of(head)
    if name is not None:
        return name
    # .lzma ("alone" format) has no magic number; its first byte is the properties byte.
    if path.endswith(".lzma") or (len(head) >= 5 and head[0] == 0x5D and head[1:3] == b"\x00\x00"):
        return "lzma"
    return "xml"


def _stream_7z(path: str, put, position: Optional[Position] = None) -> None:
    import py7zr
    from py7zr.io import Py7zIO, WriterFactory

    class _QueueWriter(Py7zIO):
        """One member's bytes into the queue, decompressed when the member is a gz, bz2 or xz stream."""

        def __init__(self):
            self.n, self.head, self.decoder, self.sniffed = 0, b"", None, False

        def write(self, s):
            data, self.n = bytes(s), self.n + len(s)
            if not self.sniffed:  # the codec shows in the first 6 bytes
                self.head += data
                if len(self.head) < 6:
                    return len(s)
                data, self.head, self.sniffed = self.head, b"", True
                self.decoder = _PushDecoder.for_head(data)
            put(self.decoder.feed(data) if self.decoder else data)
            return len(s)

        def close(self):  # a member shorter than its sniff: as it is
            if self.head:
                put(self.head)
                self.head = b""

        def read(self, size=None):
            return b""

        def seek(self, offset, whence=0):
            return self.n

        def flush(self):
            pass

        def size(self):
            return self.n

    class _Factory(WriterFactory):
        def create(self, filename):
            return _QueueWriter()

    with open_raw(path) as raw, py7zr.SevenZipFile(raw, mode="r") as archive:
        if position is not None:
            position.attach(raw)
        archive.extract(targets=dump_members(archive.getnames(), _COMPRESSED_DUMP_NAMES), factory=_Factory())


def _open_decompressed(path: str, compression: str, position: Optional[Position] = None) -> BinaryIO:
    raw = open_raw(path)
    if position is not None:
        position.attach(raw)
    if compression == "bz2":
        return bz2.BZ2File(raw)  # handles multistream files
    if compression == "gz":
        return gzip.GzipFile(fileobj=raw)
    if compression in ("xz", "lzma"):
        return lzma.LZMAFile(raw, format=lzma.FORMAT_XZ if compression == "xz" else lzma.FORMAT_ALONE)
    return raw


STREAMS = ("gz", "bz2", "xz", "lzma")  # containers read as one stream (7z, zip and tar are archives of members)
# What the codecs raise on a stream cut short or damaged: gzip's deflate errors are zlib.error, no OSError.
CODEC_ERRORS = (EOFError, OSError, ValueError, lzma.LZMAError, zlib.error, tarfile.TarError, zipfile.BadZipFile)


def _chunks(path: str, compression: str, position: Optional[Position] = None) -> Iterator[bytes]:
    """The decompressed bytes of every container but 7z: a stream, a zip or tar archive's dump members,
    or a tar archive inside a stream (.tar.gz, .tar.bz2, .tar.xz)."""
    if compression in UNREAD:
        raise UnsupportedInput(UNREAD[compression])
    if compression == "zip":
        raw = open_raw(path)
        if position is not None:
            position.attach(raw)
        with raw, zipfile.ZipFile(raw) as archive:
            for name in dump_members(archive.namelist(), _COMPRESSED_DUMP_NAMES):
                with archive.open(name) as fh:
                    yield from _read_all(_member_stream(fh))
        return
    with _open_decompressed(path, compression, position) as outer:
        fh = _member_stream(outer) if compression in STREAMS else outer
        head = fh.read(512)  # a tar header's size: a stream cut short loses no more before its cut
        if not _is_tar(head):
            yield from [head] if head else []
            yield from _read_all(fh)
            return
    # Stream mode reads each member once, when reached: the .xml members as they come, and an archive
    # with none is read again only when it holds one file.
    files: list[str] = []
    with _open_decompressed(path, compression, position) as fh, tarfile.open(fileobj=fh, mode="r|") as archive:
        for member in archive:
            if member.isfile():
                files.append(member.name)
                if member.name.lower().endswith(_COMPRESSED_DUMP_NAMES):
                    yield from _read_all(_member_stream(archive.extractfile(member)), _TAR_READ)
    if any(n.lower().endswith(_COMPRESSED_DUMP_NAMES) for n in files):
        return
    (only,) = dump_members(files, _COMPRESSED_DUMP_NAMES)
    with _open_decompressed(path, compression, position) as fh, tarfile.open(fileobj=fh, mode="r|") as archive:
        for member in archive:
            if member.name == only:
                yield from _read_all(_member_stream(archive.extractfile(member)), _TAR_READ)


def _read_all(fh: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    read = getattr(fh, "read1", fh.read)
    while chunk := read(size):
        yield chunk


# A tar member is read through tarfile's stream, which fills each read whole: a stream cut short loses the
# read it ends in, so tar members go in smaller reads.
_TAR_READ = 1 << 16


def starts_like_markup(path: str) -> bool:
    """Whether a file's first decompressed bytes start XML or JSON (UTF-8 or UTF-16), or a tar archive: a
    compressed file whose name says nothing of what it holds. One that cannot be opened counts as markup, so
    that the reader says why in its row."""
    try:
        fh, _ = open_stream(path)
        with fh:
            head = fh.read(512)
    except Exception:  # noqa: BLE001 (each codec fails its own way on a damaged stream)
        return True
    if _is_tar(head):
        return True
    for bom in (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        head = head.removeprefix(bom)
    return head.replace(b"\x00", b"").lstrip()[:1] in (b"<", b"{", b"[")  # UTF-16 read byte by byte


def open_stream(path: str) -> tuple[BinaryIO, str]:
    """`path` opened for reading its decompressed bytes, and the container sniffed: gz, bz2, xz and lzma are
    decompressed on the fly; anything else is read as it is ("xml" for plain bytes)."""
    compression = sniff_compression(path)
    return (_member_stream(_open_decompressed(path, compression)) if compression in STREAMS else open_raw(path)), \
        compression


def iter_chunks(path: str, compression: str | None = None, threaded: bool | None = None,
                position: Optional[Position] = None) -> Iterator[bytes]:
    """Yield decompressed chunks of `path`. Raises DecompressError on truncation or corruption.
    `position`, if given, follows the stored bytes read so far.

    `threaded` (default: only for bz2 and 7z) decompresses on a producer thread. That pays only
    for slow codecs: for lzma/xz/gzip the GIL hand-offs cost more than the overlap gains (measured).
    """
    compression = compression or sniff_compression(path)
    if threaded is None:
        threaded = compression in THREADED
    if not threaded:
        yield from _iter_inline(path, compression, position)
        return
    q: queue.Queue = queue.Queue(maxsize=8)
    stop = threading.Event()
    _END = object()

    def put(item) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        raise _Stopped()

    def produce() -> None:
        try:
            if compression == "7z":
                _stream_7z(path, put, position)
            else:
                for chunk in _chunks(path, compression, position):
                    put(chunk)
            put(_END)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the consumer, which raises it with context
            try:
                put(exc)
            except _Stopped:
                pass

    thread = threading.Thread(target=produce, name=f"decompress:{os.path.basename(path)}", daemon=True)
    thread.start()
    delivered = 0
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, UnsupportedInput):
                raise item
            if isinstance(item, BaseException):
                raise DecompressError(path, f"{type(item).__name__}: {item}", delivered) from item
            delivered += len(item)
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class _Stopped(Exception):
    pass


def _iter_inline(path: str, compression: str, position: Optional[Position] = None) -> Iterator[bytes]:
    delivered = 0
    try:
        for chunk in _chunks(path, compression, position):
            delivered += len(chunk)
            yield chunk
    except UnsupportedInput:
        raise
    except CODEC_ERRORS as exc:
        raise DecompressError(path, f"{type(exc).__name__}: {exc}", delivered) from exc
