"""`revmine catalog`: rebuild WAREHOUSE/catalog.duckdb, e.g. after moving the warehouse."""
from __future__ import annotations

import argparse
import os

from rich.markup import escape

from revmine.cli._common import console
from revmine.schemas.names import is_url


def cmd_catalog(args: argparse.Namespace) -> int:
    from revmine.warehouse.catalog import CatalogError, build_catalog
    from revmine.warehouse.layout import is_warehouse
    from revmine.warehouse.lock import warehouse_lock

    if not os.path.isdir(args.warehouse):
        console.print(f"[red]error:[/red] {escape(args.warehouse)} is not a folder"
                      + ("; copy a remote warehouse to one first" if is_url(args.warehouse) else ""))
        return 2
    if not is_warehouse(args.warehouse):  # a mistyped folder gets no catalog and no lock file
        console.print(f"[red]error:[/red] {escape(args.warehouse)} holds no revmine warehouse (no runs, no tables); "
                      "nothing was written")
        return 2
    with warehouse_lock(args.warehouse, wait=True, command="revmine catalog"):
        try:
            console.print(f"catalog: {escape(build_catalog(args.warehouse))}")
        except CatalogError as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}")
            return 2
    return 0


def register(sub) -> None:
    c = sub.add_parser("catalog", help="rebuild WAREHOUSE/catalog.duckdb (e.g. after moving the warehouse)")
    c.add_argument("warehouse")
    c.set_defaults(func=cmd_catalog)
