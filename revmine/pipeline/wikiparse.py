"""mwparserfromhell, with the builder's hottest helper made cheap.

`mwparserfromhell.utils.parse_anything` runs four `from … import` statements on every call, before it
looks at its argument, and the builder calls it for every attribute of every node it makes (a link's
title and text, a tag's name and contents), nearly always with a Wikicode or a Node. On the cleaned
blocks of the full Anarchism history those imports were 30% of the parse (6.0 s → 4.2 s without them),
so `fast_path()` puts a function in front of it that returns those two cases as the library does and
hands every other value to the library's own function. tests/test_clean.py checks the trees against
the unpatched library.
"""
from __future__ import annotations

import sys

import mwparserfromhell
import mwparserfromhell.utils
from mwparserfromhell.nodes import Node
from mwparserfromhell.smart_list import SmartList
from mwparserfromhell.wikicode import Wikicode

__all__ = ["parse", "fast_path", "library_parse_anything"]

library_parse_anything = getattr(mwparserfromhell.utils.parse_anything, "library", mwparserfromhell.utils.parse_anything)


def _parse_anything(value, *args, **kwargs):
    # every other argument passes through as given, so a later release's new ones reach the library
    if isinstance(value, Wikicode):
        return value
    if isinstance(value, Node):
        return Wikicode(SmartList([value]))
    return library_parse_anything(value, *args, **kwargs)


_parse_anything.library = library_parse_anything  # type: ignore[attr-defined]


def fast_path(on: bool = True) -> int:
    """Put `_parse_anything` (or, with `on` false, the library's own) wherever mwparserfromhell's modules
    imported `parse_anything`; the number of modules changed."""
    want, old = (_parse_anything, library_parse_anything) if on else (library_parse_anything, _parse_anything)
    n = 0
    for name, module in list(sys.modules.items()):
        if (name == "mwparserfromhell" or name.startswith("mwparserfromhell.")) and \
                getattr(module, "parse_anything", None) is old:
            module.parse_anything = want
            n += 1
    return n


def parse(text: str):
    """`mwparserfromhell.parse(text, skip_style_tags=True)`: bold and italics stay text (see clean.py)."""
    return mwparserfromhell.parse(text, skip_style_tags=True)


fast_path()
