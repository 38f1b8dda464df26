"""Command line: revmine run | query | eval | train | build | export | report | jobs | catalog.

Thin: each command is a module here that parses its flags and calls the library (`register` adds its
parser, `set_defaults(func=...)` names its handler). Unknown flags of `revmine run` go to Beam unchanged
(`--runner`, `--direct_num_workers`, ...).
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from revmine.cli import build, catalog, eval, export, jobs, query, report, run, train
from revmine.cli._common import console, setup_logging

COMMANDS = (run, query, eval, train, build, export, report, jobs, catalog)


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: otherwise Beam's --runner=X would be taken as an abbreviation of --runner-preset.
    p = argparse.ArgumentParser(prog="revmine", description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also show debug lines, Beam's INFO logs and the model libraries' warnings and bars")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    setup_logging(args.verbose)
    try:
        return args.func(args, rest) if args.command == "run" else args.func(args)
    except OSError as exc:
        # The file system said no (a path under a file, no permission, a full disk): one line, as for every
        # other error a person can fix; -v shows where it came from.
        if args.verbose:
            raise
        from rich.markup import escape

        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
