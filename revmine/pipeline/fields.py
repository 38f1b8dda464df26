"""Values of a dump as the warehouse stores them: the input's content key, MediaWiki's sha1, the wiki's
name, and numbers, timestamps and strings checked against what the columns hold."""
from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime, timezone
from typing import Optional

from revmine.schemas.names import ID_RANGE, NS_RANGE, in_range

KEY_HEX = 16  # 64 bits of SHA-256: no collision among the inputs of any warehouse in practice


def source_key(path: str) -> str:
    """An input's identity: SHA-256 of its bytes as stored (compressed), streamed, first 16 hex digits.

    The same bytes under any name give the same key; different bytes never share one."""
    from revmine.pipeline.decompress import open_raw

    h = hashlib.sha256()
    with open_raw(path) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:KEY_HEX]


def input_key(path: str) -> str:
    """`source_key`, or for an input that can't be read (it is quarantined) a key from its absolute path."""
    try:
        return source_key(path)
    except OSError:
        return hashlib.sha256(f"unreadable:{os.path.abspath(path)}".encode()).hexdigest()[:KEY_HEX]


# MediaWiki's default content model of a title with no <model> (dumps before schema 0.8): a page in the
# MediaWiki namespace, or a user subpage, is JavaScript, CSS or JSON by its suffix (ContentHandler).
_CODE_SUFFIX_MODELS = ((".js", "javascript"), (".css", "css"), (".json", "json"))
NS_USER, NS_MEDIAWIKI = 2, 8


def content_model(model: Optional[str], ns: Optional[int], title: Optional[str]) -> str:
    """The content model a revision's text has: the dump's `<model>`, or else MediaWiki's default for the title."""
    if model:
        return model
    if title and (ns == NS_MEDIAWIKI or (ns == NS_USER and "/" in title)):
        for suffix, name in _CODE_SUFFIX_MODELS:
            if title.endswith(suffix):
                return name
    return "wikitext"


def is_wikitext(model: Optional[str], fmt: Optional[str], ns: Optional[int], title: Optional[str]) -> bool:
    """Whether the text is wikitext, the only markup the cleaner, aligner and labels read. Extension models
    stored as wikitext (Wikisource's proofread-page) say so by their format."""
    return content_model(model, ns, title) == "wikitext" or (fmt or "").strip() == "text/x-wiki"


def sha1_base36(data: bytes) -> str:
    """MediaWiki's revision sha1: SHA-1 as a base-36 number, zero-padded to 31 digits."""
    return _base36(hashlib.sha1(data).digest())


def _base36(digest: bytes) -> str:
    n = int.from_bytes(digest, "big")
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


def wiki_from_file_name(name: str) -> Optional[str]:
    """enwiki-20261101-pages-meta-history1.xml.bz2 -> enwiki."""
    m = _WIKI_FROM_FILENAME.match(os.path.basename(name))
    return m.group(1) if m else None


def wiki_from_base_url(base: str) -> Optional[str]:
    m = re.match(r"https?://([a-z0-9-]+)\.([a-z]+)\.org/", base or "")
    if not m:
        return None
    lang, project = m.groups()
    if project == "wikimedia":
        return f"{lang}wiki"  # commons.wikimedia.org -> commonswiki, meta -> metawiki
    suffix = _PROJECT_SUFFIX.get(project)
    return f"{lang.replace('-', '_')}{suffix}" if suffix else None


def wiki_from_host(base: str) -> Optional[str]:
    """A database-name-shaped name for a wiki outside Wikimedia, from its base URL's host
    (https://minecraft.fandom.com/wiki/... -> minecraft_fandom_com). Special:Export before schema 0.10
    writes no <dbname>: two such wikis were both 'unknown', and the second one's revisions, whose ids the
    first had used, were quarantined as duplicates."""
    m = re.match(r"https?://([^/:?#]+)", (base or "").strip(), re.I)
    if not m:
        return None
    name = re.sub(r"[^a-z0-9]+", "_", m.group(1).lower().removeprefix("www.")).strip("_")
    if not name:
        return None
    return (name if name[0].isalpha() else f"w_{name}")[:64]


def to_int(value: Optional[str], bounds: Optional[tuple[int, int]] = ID_RANGE) -> Optional[int]:
    """The integer in `value`, or None when it is absent, not a number, or outside `bounds`."""
    if value is None:
        return None
    try:
        n = int(value.strip())
    except ValueError:
        return None
    return n if bounds is None or in_range(n, bounds) else None


def out_of_range(fields: dict, page_id_raw: Optional[str], ns_raw: Optional[str]) -> Optional[str]:
    """Say which number of a revision is a number but outside what the warehouse stores, if any."""
    for what, raw, bounds in (("revision <id>", fields.get("id"), ID_RANGE), ("page <id>", page_id_raw, ID_RANGE),
                              ("<ns>", ns_raw, NS_RANGE), ("<parentid>", fields.get("parentid"), ID_RANGE),
                              ("contributor <id>", fields.get("user_id"), ID_RANGE)):
        n = to_int(raw, None)
        if n is not None and not in_range(n, bounds):
            return f"{what} {raw.strip()[:40]} is outside [{bounds[0]}, {bounds[1]}]"
    return None


def parse_timestamp(raw: Optional[str]) -> Optional[datetime]:
    """A timestamp as an aware datetime in UTC, so that its year is the UTC year.

    Dumps write ISO 8601 in UTC, with or without the Z; other exporters write an offset, and MediaWiki's
    database form (TS_MW, `20010115123000`) is read as mwtypes reads it."""
    if raw is None:
        return None
    text = raw.strip()
    try:
        if len(text) == 14 and text.isascii() and text.isdigit():
            return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
        ts = datetime.fromisoformat(text)
        return ts.astimezone(timezone.utc) if ts.tzinfo is not None else ts.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        return None


def clip_bytes(value: str, limit: int) -> str:
    data = value.encode("utf-8")
    return value if len(data) <= limit else data[:limit].decode("utf-8", "ignore")
