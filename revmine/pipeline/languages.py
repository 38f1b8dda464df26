"""Which wikis' text the English models read: the MiniLM encoders and SmolLM2 learned English.

A wiki's language is read off its database name (itwiki, dewikivoyage); a name that gives no Wikipedia
language code (arXiv, commonswiki, a wiki of one's own) says nothing of its language, and is read.
"""
from __future__ import annotations

import functools
from typing import Optional, Sequence

from revmine.schemas.names import wiki_base


def languages_of(codes: Optional[Sequence[str]]) -> Optional[frozenset]:
    """A config's language list as a set; None (every wiki) stays None."""
    return None if codes is None else frozenset(codes)


def modelled(wiki: str, languages: Optional[frozenset]) -> bool:
    """Whether the English models may read `wiki`'s text: its language is in `languages` (None: every
    wiki's is), or its database name gives no Wikipedia language code."""
    if languages is None:
        return True
    code = wiki_base(wiki)
    return code in languages or code not in _wikipedia_languages()


@functools.cache
def _wikipedia_languages() -> frozenset:
    from mwconstants.constants.c_languages import WIKIPEDIA_LANGUAGES

    return frozenset(WIKIPEDIA_LANGUAGES)
