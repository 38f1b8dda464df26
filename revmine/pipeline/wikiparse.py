"""mwparserfromhell, with the builder's hottest helper made cheap.

`mwparserfromhell.utils.parse_anything` runs four `from … import` statements on every call, before it
looks at its argument, and the builder calls it for every attribute of every node it makes (a link's
title and text, a tag's name and contents), nearly always with a Wikicode or a Node. On the cleaned
blocks of the full Anarchism history those imports were 30% of the parse (6.0 s → 4.2 s without them),
so `fast_path()` puts a function in front of it that returns those two cases as the library does and
hands every other value to the library's own function. tests/test_clean.py checks the trees against
the unpatched library.

The library's tokenizer also backtracks from every construct that never closes to the end of the text:
`<ref name="` or `{{a|b=` repeated takes time quadratic in the text (96 KB of the first: 57 s; 1 MB: hours),
and one vandalised revision would stall a worker. `check_cost` measures that work before the C tokenizer
runs; clean.py decides which texts need it.
"""
from __future__ import annotations

import sys

import mwparserfromhell
import mwparserfromhell.utils
from mwparserfromhell.nodes import Node
from mwparserfromhell.parser.tokenizer import Tokenizer
from mwparserfromhell.smart_list import SmartList
from mwparserfromhell.wikicode import Wikicode

__all__ = ["parse", "fast_path", "library_parse_anything", "check_cost", "MarkupTooCostly"]

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


# Reads a character the check allows beyond _MIN_READS. Real text takes 0.3-2 (a 371 KB wikitable 1.2);
# markup that makes the tokenizer backtrack takes hundreds. The check reads about 1 M a second, so it
# refuses such a text in 2 s plus 6 us a character.
READS_PER_CHAR = 6
_MIN_READS = 2_000_000


class MarkupTooCostly(ValueError):
    """The text would make the tokenizer backtrack over it again and again (time quadratic in its length)."""


class _OverBudget(Exception):
    pass


class _CountingTokenizer(Tokenizer):
    """The library's pure-Python tokenizer (the same algorithm as its C one), stopped after `budget` reads."""

    def __init__(self, budget: int):
        super().__init__()
        self.left = budget

    def _read(self, delta=0, *, strict=False):
        self.left -= 1
        if self.left < 0:
            raise _OverBudget
        return Tokenizer._read(self, delta, strict=strict)


def check_cost(text: str) -> None:
    """Raise MarkupTooCostly when tokenizing `text` takes more than _MIN_READS + READS_PER_CHAR reads a
    character, counted by the library's Python tokenizer. A count, unlike a timeout, gives the same answer
    on every machine. The check is about 15x slower than the C tokenizer, so callers run it only on text
    they suspect (clean.py: many constructs left open over a long text)."""
    budget = READS_PER_CHAR * len(text) + _MIN_READS
    try:
        _CountingTokenizer(budget).tokenize(text, 0, True)
    except _OverBudget:
        raise MarkupTooCostly(f"markup that makes the tokenizer backtrack: over {budget:,} reads for "
                              f"{len(text):,} characters") from None
    except Exception:  # noqa: BLE001 - a failure of its own is the C tokenizer's to report, not the check's
        return


def parse(text: str):
    """`mwparserfromhell.parse(text, skip_style_tags=True)`: bold and italics stay text (see clean.py)."""
    return mwparserfromhell.parse(text, skip_style_tags=True)


fast_path()
