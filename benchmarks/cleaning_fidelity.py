"""Markup left in cleaned sentences: counts per pattern over a warehouse's `sentences` table, with examples.

    revmine run --input ../shared/data/wikipedia/enwiki-Anarchism-history-2001-2010.xml.lzma --out /tmp/anwh \
        --config configs/fast.yaml
    python benchmarks/cleaning_fidelity.py /tmp/anwh

Each pattern is something MediaWiki would never show as text in a well-formed page. Counts include
markup the editors themselves broke (an unclosed `[[`, say), which MediaWiki prints literally too.
"""
from __future__ import annotations

import argparse
import os
import sys

import duckdb

PATTERNS = {"</ref>": "%</ref>%", "<ref": "%<ref%", "{{": "%{{%", "}}": "%}}%", "[[": "%[[%", "]]": "%]]%",
            "[http": "%[http%", "[]": "%[]%", "{|": "%{|%", "|}": "%|}%"}
# Markup broken in the source: the sentence holds an opener without its closer or the reverse (an unclosed
# `[[link`, a `<ref name="x` without its `>`). Well-formed markup is parsed, so what remains that is
# balanced would be a cleaning fault.
PAIRS = {"</ref>": ("<ref", "</ref>"), "<ref": ("<ref", ">"), "{{": ("{{", "}}"), "}}": ("{{", "}}"),
         "[[": ("[[", "]]"), "]]": ("[[", "]]"), "[http": ("[http", "]"), "[]": ("[", "]"), "{|": ("{|", "|}"),
         "|}": ("{|", "|}")}


def broken(text: str, pattern: str) -> bool:
    """Whether `text` shows the pattern's markup unbalanced, i.e. broken in the source."""
    opener, closer = PAIRS[pattern]
    if pattern == "<ref":
        return any(">" not in tail for tail in text.split("<ref")[1:])
    if pattern == "[http":
        return any("]" not in tail for tail in text.split("[http")[1:])
    return text.count(opener) != text.count(closer)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("warehouse")
    ap.add_argument("--examples", type=int, default=1)
    args = ap.parse_args(argv)
    con = duckdb.connect(os.path.join(args.warehouse, "catalog.duckdb"), read_only=True)
    total = con.execute("SELECT count(*) FROM sentences").fetchone()[0]
    print(f"sentences: {total:,}")
    print("| pattern | sentences | share | of them, markup broken in the source | example |\n|---|---:|---:|---:|---|")
    for name, like in PATTERNS.items():
        texts = [t for (t,) in con.execute("SELECT text FROM sentences WHERE text LIKE ?", [like]).fetchall()]
        n = len(texts)
        n_broken = sum(broken(t, name) for t in texts)
        ex = con.execute("SELECT text FROM sentences WHERE text LIKE ? ORDER BY pair_id LIMIT ?",
                         [like, args.examples]).fetchall()
        sample = "; ".join(e[0][max(0, e[0].find(name) - 40): e[0].find(name) + 40].replace("|", "\\|") for e in ex)
        print(f"| `{name}` | {n:,} | {n / max(total, 1):.4%} | {n_broken:,} | {sample} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
