"""What an input may put into a path or a column: wiki names, plain file names, value ranges.

Names that come from inputs (a dump's <dbname>, a file name in dumpstatus.json) are data. They reach
the file system only after one of these checks, so no input can name a path outside the warehouse.
"""
from __future__ import annotations

import re
from typing import Optional

# MediaWiki database names: lowercase ASCII letters, digits and underscores (enwiki, zh_min_nanwiki).
_WIKI_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
# A file name with no directory part: what a dump server publishes (enwiki-20261101-pages-...xml.bz2).
_PLAIN_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}")
# A URL's scheme (RFC 3986): gs://, s3://, file://. A local path with "://" further on is still a local path.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")

INT64_MAX = (1 << 63) - 1
ID_RANGE = (0, INT64_MAX)  # page, revision and user ids: unsigned in MediaWiki, int64 in Parquet
NS_RANGE = (-(1 << 31), (1 << 31) - 1)  # namespace numbers: int32
# Seconds since the epoch for years 1..9999, what Parquet's timestamp[ms] and Python's datetime both hold.
EPOCH_RANGE = (-62135596800, 253402300799)


# Wiki database names are <language or project><suffix>: enwiki, dewikivoyage, commonswiki, zh_min_nanwiki.
PROJECT_SUFFIXES = ("wiki", "wiktionary", "wikibooks", "wikinews", "wikiquote", "wikisource", "wikiversity",
                    "wikivoyage")


# In a dump's (namespace name, number) pairs, the entry that says the wiki compares titles case-sensitively
# (siteinfo `<case>case-sensitive</case>`, as every Wiktionary): no namespace name can hold a "#".
CASE_SENSITIVE = ("#case-sensitive", 0)


def wiki_base(wiki: str) -> str:
    """The database name without its project suffix, with '-' for '_': 'it' for itwiki and itwikivoyage,
    'zh-min-nan' for zh_min_nanwiki, 'commons' for commonswiki; the name itself when it has no suffix."""
    for suffix in sorted(PROJECT_SUFFIXES, key=len, reverse=True):
        if wiki.endswith(suffix) and len(wiki) > len(suffix):
            return wiki[: -len(suffix)].replace("_", "-")
    return wiki.replace("_", "-")


def is_wiki_name(name: Optional[str]) -> bool:
    return isinstance(name, str) and _WIKI_NAME.fullmatch(name) is not None


def check_wiki_name(name: str, where: str = "wiki name") -> str:
    """Return `name` if it has the form of a MediaWiki database name, else raise ValueError."""
    if not is_wiki_name(name):
        raise ValueError(f"{where} {name!r} is not a MediaWiki database name "
                         "(lowercase ASCII letters, digits and '_', starting with a letter, at most 64)")
    return name


def is_url(path: str) -> bool:
    """A path with a scheme (gs://bucket/dump.xml.bz2): opened through Beam's file systems, never through
    os.path, local locks or local folders."""
    return _URL.match(path) is not None


def url_scheme(path: str) -> str:
    """The scheme of a URL (`gs` of gs://bucket/x)."""
    return path.split("://", 1)[0]


def is_plain_file_name(name: Optional[str]) -> bool:
    return isinstance(name, str) and _PLAIN_FILE_NAME.fullmatch(name) is not None and ".." not in name


def is_utf8(*texts: str) -> bool:
    """Whether every text can be stored as a string column: a lone surrogate (a JSON "\\ud800" escape, or a
    file name in another encoding than UTF-8, which os.fsdecode maps to surrogates) has no UTF-8 form."""
    try:
        for t in texts:
            t.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def in_range(value: Optional[int], bounds: tuple[int, int]) -> bool:
    return value is not None and bounds[0] <= value <= bounds[1]
