"""`revmine report`: an HTML page of plots over a warehouse."""
from __future__ import annotations

import argparse

from rich.markup import escape

from revmine.cli._common import console


def cmd_report(args: argparse.Namespace) -> int:
    from revmine.warehouse.report import build_report

    try:
        path = build_report(args.warehouse, args.out, args.wiki, force=args.force)
    except (OSError, ValueError) as exc:  # OUT under a file or unwritable, the warehouse missing, a bad target
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    console.print(f"report: {escape(path)}")
    return 0


def register(sub) -> None:
    rp = sub.add_parser("report", allow_abbrev=False, help="HTML page with plots over a warehouse")
    rp.add_argument("warehouse")
    rp.add_argument("--out", required=True, help="folder for index.html and the PNGs")
    rp.add_argument("--wiki", help="only this wiki (database name, e.g. enwiki); default: every wiki, a panel each")
    rp.add_argument("--force", action="store_true",
                    help="write into --out even if it holds files that are not an earlier report")
    rp.set_defaults(func=cmd_report)
