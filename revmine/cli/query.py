"""`revmine query`: read-only SQL over a warehouse, printed as a table, CSV or JSON lines."""
from __future__ import annotations

import argparse
import json
import math
import sys

from rich.console import Console
from rich.markup import escape

from revmine.cli._common import at_least, console


# Control characters (C0 but line feed and tab, DEL, C1) as `\x1b`-style escapes in the table: stored text
# (an arXiv line's "\u001b[2J", an XML 1.0 dump's C1 characters) reaches the terminal, which would obey it.
_VISIBLE = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if chr(c) not in "\n\t"}


def _shown(value) -> str:
    return "NULL" if value is None else str(value).translate(_VISIBLE)


def _json_safe(value):
    """NaN and infinities as null: JSON has no such numbers, and jq and JSON.parse refuse Python's NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


# Rows a table shows when no --limit is given: a terminal table of every sentence of a dump helps nobody
# and took minutes and gigabytes to draw; CSV and JSON stream every row.
TABLE_ROWS = 200


def cmd_query(args: argparse.Namespace) -> int:
    from revmine.warehouse.catalog import QueryRefused, query_batches

    try:
        with query_batches(args.warehouse, args.sql, args.limit) as (cols, batches):
            _print(args, cols, batches)
    except (FileNotFoundError, QueryRefused) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    except Exception as exc:  # duckdb errors carry the useful message
        console.print(f"[red]query failed:[/red] {escape(str(exc))}")
        return 1
    return 0


def _print(args: argparse.Namespace, cols: list, batches) -> None:
    if args.format == "json":
        for rows in batches:
            for row in rows:
                print(json.dumps(_json_safe(dict(zip(cols, row))), default=str, ensure_ascii=False, allow_nan=False))
    elif args.format == "csv":
        import csv

        w = csv.writer(sys.stdout)
        w.writerow(cols)
        for rows in batches:
            w.writerows(rows)
    else:
        from rich.table import Table
        from rich.text import Text

        shown = args.limit if args.limit is not None else TABLE_ROWS
        t = Table(show_edge=True, header_style="bold")
        for c in cols:
            t.add_column(Text(_shown(c)), overflow="fold")
        n = 0
        for rows in batches:
            for row in rows[: max(shown - n, 0)]:
                # Text, not str: stored values are shown as stored, never read as rich markup or :emoji: codes.
                t.add_row(*(Text(_shown(v)) for v in row))
            n += len(rows)  # the rest is counted, not kept
        out = Console(width=max(Console().width, 160))
        out.print(t)
        out.print(f"{n:,} row(s)" + (f", the first {shown:,} shown (--limit N shows N; --format csv or json gives "
                                     "every row)" if n > shown else ""))


def register(sub) -> None:
    q = sub.add_parser("query", allow_abbrev=False, help="run SQL against a warehouse and print a table")
    q.add_argument("warehouse")
    q.add_argument("sql")
    q.add_argument("--format", choices=("table", "csv", "json"), default="table")
    q.add_argument("--limit", type=at_least(0), default=None, help="fetch at most this many rows")
    q.set_defaults(func=cmd_query)
