"""`revmine jobs run`: scheduled, incremental runs per wiki and dump date (luigi)."""
from __future__ import annotations

import argparse

from rich.markup import escape

from revmine.cli._common import at_least, console


def cmd_jobs(args: argparse.Namespace) -> int:
    import shlex

    from revmine.jobs.tasks import check_job_params, check_job_warehouse, run_jobs
    from revmine.warehouse.layout import check_new_or_warehouse

    from revmine.config import Config, check_beam_flags

    try:
        check_job_params(args.wiki, args.date)
        if args.runner_args:  # split in each task; an unbalanced quote would fail every one of them
            try:
                flags = shlex.split(args.runner_args)
            except ValueError as exc:
                raise ValueError(f"--runner-args: {exc} in {args.runner_args!r}") from None
            check_beam_flags(flags, "--runner-args")
        check_job_warehouse(args.warehouse)
        if args.warehouse:
            check_new_or_warehouse(args.warehouse)
        config = Config.load(args.config)  # a bad config fails here, in one line, not inside a luigi task
        from revmine.runner.label import check_model_folders
        from revmine.runner.run import direct_runner

        if direct_runner(shlex.split(args.runner_args or "")):
            check_model_folders(config)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    ok = run_jobs(args.wiki, args.date, workers=args.workers, scheduler_host=args.scheduler_host,
                  verbose=getattr(args, "verbose", False),
                  warehouse=args.warehouse, dumps_dir=args.dumps_dir, base_url=args.base_url, job=args.job,
                  config=args.config, runner_args=args.runner_args, export_dir=args.export_dir)
    return 0 if ok else 1


def register(sub) -> None:
    j = sub.add_parser("jobs", allow_abbrev=False, help="scheduled, incremental runs per wiki and dump date (luigi)")
    j.add_argument("action", choices=("run",))
    j.add_argument("--wiki", required=True, help="e.g. simplewiki")
    j.add_argument("--date", required=True, help="dump date, e.g. 20261101")
    j.add_argument("--workers", type=at_least(1), default=1, help="luigi workers (files processed in parallel)")
    j.add_argument("--scheduler-host", help="use the luigid at this host instead of the local scheduler")
    j.add_argument("--warehouse", help="warehouse directory (default: luigi.cfg [DumpParams] or ./warehouse)")
    j.add_argument("--dumps-dir", help="where fetched dumps are kept (default: ./dumps)")
    j.add_argument("--base-url", help="dump server (default https://dumps.wikimedia.org; file:// works)")
    j.add_argument("--job", help="dumpstatus job whose files to process (default metahistorybz2dump)")
    j.add_argument("--config", help="revmine YAML config for the pipeline")
    j.add_argument("--runner-args", help="Beam flags as one string, e.g. '--runner=DataflowRunner --project=p'")
    j.add_argument("--export-dir", help="write a Hub dataset folder per date under this folder")
    j.set_defaults(func=cmd_jobs)
