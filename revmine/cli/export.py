"""`revmine export hub|training`: a Hugging Face dataset folder, or CoEdIT / Edisum training sets."""
from __future__ import annotations

import argparse
import json

from rich.markup import escape

from revmine.cli._common import console


def repo_id(text: str) -> str:
    """An argparse type: a Hub repo id as huggingface_hub accepts it ('name' or 'namespace/name'); it is
    written into the dataset card and its link, and names the repo to push to."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(". Use `repo_type`")[0]) from None
    return text


def cmd_export(args: argparse.Namespace) -> int:
    from revmine.warehouse import export

    if args.push and not args.repo_id:
        console.print("[red]error:[/red] --push needs --repo-id")
        return 2
    try:
        if args.what == "hub":
            counts = export.export_hub(args.warehouse, args.out, args.repo_id, force=args.force)
            console.print(f"Hub dataset folder written to {escape(args.out)}: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
            if args.push:
                console.print(f"pushed: {escape(export.push_hub(args.out, args.repo_id))}")
            print(json.dumps(counts))
            return 0
        counts = export.export_training(args.warehouse, args.out, args.format, force=args.force)
    except (OSError, ValueError) as exc:  # OUT under a file or unwritable, the warehouse missing, a bad target
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    console.print(f"{args.format} training set written to {escape(args.out)}")
    for name in export.thin_splits(counts):
        console.print(f"[yellow]warning:[/yellow] split {name!r} has {counts[name]:,} of {sum(counts.values()):,} "
                      "rows: splits are by page, and this warehouse has too few pages for a usable split")
    print(json.dumps(counts))
    return 0


def register(sub) -> None:
    x = sub.add_parser("export", allow_abbrev=False, help="export a warehouse: Hub dataset folder or training sets")
    x.add_argument("what", choices=("hub", "training"))
    x.add_argument("warehouse")
    x.add_argument("out")
    x.add_argument("--repo-id", type=repo_id, help="hub: dataset repo id for the card (and --push)")
    x.add_argument("--push", action="store_true", help="hub: upload with huggingface_hub (token from $HF_TOKEN only)")
    x.add_argument("--format", choices=("coedit", "edisum"), default="coedit", help="training: which format")
    x.add_argument("--force", action="store_true",
                   help="replace OUT even if it holds files that are not an earlier revmine export "
                        "(never the warehouse itself)")
    x.set_defaults(func=cmd_export)
