"""`revmine run`: stream dumps through the Beam pipeline into a warehouse."""
from __future__ import annotations

import argparse
import shlex

from rich.console import Console
from rich.markup import escape

from revmine.cli._common import console, live_progress
from revmine.schemas.names import is_url


def cmd_run(args: argparse.Namespace, beam_args: list[str]) -> int:
    from revmine.config import Config, load_runner_preset
    from revmine.runner.label import ModelFolderError
    from revmine.runner.run import BadBeamFlags, NoFileSystem, UnbalancedBooks, check_text_path, run
    from revmine.schemas.names import check_wiki_name
    from revmine.warehouse.catalog import CatalogError
    from revmine.warehouse.duplicates import UnreadableWarehouse
    from revmine.warehouse.layout import NotAWarehouse
    from revmine.warehouse.lock import WarehouseBusy

    live = live_progress()
    overrides = {"read.wiki": args.wiki} if args.wiki else {}
    if live is not None:
        overrides["read.progress_seconds"] = 0.5  # a live bar redraws in place, so it can update often
    try:
        if args.wiki:
            check_wiki_name(args.wiki, "--wiki")
        check_text_path(args.out, "--out")
        config = Config.load(args.config, **overrides)
        if args.runner_preset:  # flags on the command line win
            beam_args = load_runner_preset(args.runner_preset) + list(beam_args)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    try:
        try:
            result = run(args.input, args.out, config, beam_args, wait=args.wait)
        finally:
            if live is not None:
                live.stop()
    except UnbalancedBooks as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        return 3
    except (FileNotFoundError, NoFileSystem, WarehouseBusy, UnreadableWarehouse, NotAWarehouse, BadBeamFlags,
            ModelFolderError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    except CatalogError as exc:  # raised after the run's rows were committed
        console.print(f"[red]error:[/red] the run's rows are in the warehouse, but {escape(str(exc))}")
        return 2
    for skipped, first in result.duplicates.items():
        console.print(f"[yellow]{escape(skipped)}[/yellow] has the same bytes as {escape(first)}: read once")
    Console().print(result.accounting.render())
    if result.timings:
        Console().print(timing_table(result.timings))
    if is_url(result.warehouse):  # no catalog is built there: DuckDB's file cannot live in a bucket
        console.print(f"warehouse: {escape(result.warehouse)}  (run {result.run_id}; no catalog for a remote "
                      "warehouse: copy it to a folder and run `revmine catalog FOLDER`)", soft_wrap=True)
        return 0
    # quoted for the shell (a path may hold spaces or quotes), escaped for rich ("[x]" is markup), and not
    # wrapped, so the command can be copied whole
    console.print(f"warehouse: {escape(result.warehouse)}  (run {result.run_id}; query with "
                  f"`revmine query {escape(shlex.quote(result.warehouse))} \"SELECT ...\"`)", soft_wrap=True)
    return 0


def timing_table(timings: dict):
    """The per-stage time table printed after a run: worker seconds, items and rate per stage."""
    from rich.table import Table

    table = Table(title="time per stage (summed over workers)")
    for col in ("stage", "seconds", "items", "items/s", "share"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    total = sum(s for s, _ in timings.values()) or 1.0
    for stage, (seconds, items) in sorted(timings.items(), key=lambda kv: -kv[1][0]):
        table.add_row(stage, f"{seconds:,.1f}", f"{items:,}", f"{items / seconds:,.1f}" if seconds else "-",
                      f"{seconds / total:.0%}")
    return table


def register(sub) -> None:
    r = sub.add_parser("run", allow_abbrev=False, help="stream dumps through the Beam pipeline into a warehouse",
                       description="Unknown flags are passed to Beam, e.g. --runner=DataflowRunner "
                                   "--direct_num_workers=2 --setup_file=./setup.py")
    # "extend": a second --input adds to the first instead of silently replacing it
    r.add_argument("--input", nargs="+", action="extend", required=True, metavar="DUMP",
                   help="dump files, directories or globs (.xml .bz2 .gz .7z .xz .lzma; arXiv .jsonl .json, also compressed); "
                        "may be given more than once")
    r.add_argument("--out", required=True, metavar="WAREHOUSE", help="warehouse directory")
    r.add_argument("--config", help="YAML config (see configs/). The default runs every stage, neural aligner, "
                                    "intents and summaries included; configs/fast.yaml turns the neural stages off "
                                    "and is 5-7x faster on CPU (500 long revisions on 2 bf16 cores: 22-37 s against 4-7 s)")
    r.add_argument("--wiki", help="override the wiki name found in the dump")
    r.add_argument("--runner-preset", metavar="YAML", help="Beam flags from a preset (configs/runners/*.yaml)")
    r.add_argument("--wait", action="store_true",
                   help="if another run is writing to the warehouse, wait for it instead of failing at once")
    r.set_defaults(func=cmd_run)
