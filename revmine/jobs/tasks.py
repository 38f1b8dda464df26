"""Scheduled, incremental runs as luigi tasks: per wiki, dump date and dump file.

    DumpDate(wiki, date)                    wrapper: lists the date's files from dumpstatus.json
      ExportDate(wiki, date)                catalog refresh + Hub folder for the date, once all files are in
        LoadDump(wiki, date, file, sha1)    commit the staged run into the warehouse; manifest = completion
          StageDump(... )                   the Beam pipeline into _staging/<run_id>; books must balance
            FetchDump(... )                 download + verify the published SHA-1

Completion is always a file written by temp-then-rename, last:
- FetchDump: the verified dump file;
- StageDump: `_staging/<run_id>/_STAGED.json` (run_id is a function of wiki, file and checksum, so a
  rerun after a kill reuses the same folder, cleared first);
- LoadDump: `_jobs/<wiki>/loaded/<file>.<sha1>.json` with row counts and SHA-256 of every file it
  committed. It is keyed by the file's checksum, not the date, so a file that reappears unchanged in a
  later dump is already complete: a new date processes only new files.
A SIGKILL anywhere leaves either no marker (the task reruns; commit replaces the rows of the same input)
or a marker written after everything it vouches for.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import posixpath
import re
import urllib.parse
import urllib.request
from typing import Optional

import luigi

from revmine.schemas.names import check_wiki_name, is_plain_file_name, is_url
from revmine.warehouse.layout import JOBS
from revmine.warehouse.lock import warehouse_lock

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://dumps.wikimedia.org"
DEFAULT_JOB = "metahistorybz2dump"  # pages-meta-history*.xml.bz2; metahistory7zdump for the 7z files


def _write_json_atomic(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _hash_file(path: str, algo: str = "sha1") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _open_url(url: str, timeout: float = 60):
    # urllib handles https:// and file:// alike; tests point base_url at a file:// mirror.
    return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (the scheme is ours or the user's)


class UnsafeDumpStatus(ValueError):
    """dumpstatus.json names a file or URL that could lead outside the dumps folder or the dump server."""


def check_job_params(wiki: str, date: str) -> None:
    """wiki and date become path components: only a database name and an 8-digit date may."""
    check_wiki_name(wiki, "--wiki")
    if not re.fullmatch(r"\d{8}", date or ""):
        raise ValueError(f"--date {date!r} is not a dump date (YYYYMMDD)")


def url_under(base_url: str, url: str) -> bool:
    """True when `url` is on the same scheme and host as `base_url` and its path lies under the base path."""
    base, u = urllib.parse.urlsplit(base_url.rstrip("/") + "/"), urllib.parse.urlsplit(url)
    if (u.scheme, u.netloc) != (base.scheme, base.netloc) or u.query or u.fragment:
        return False
    path = posixpath.normpath(urllib.parse.unquote(u.path))
    root = posixpath.normpath(urllib.parse.unquote(base.path))
    return path.startswith(root.rstrip("/") + "/") and ".." not in urllib.parse.unquote(u.path).split("/")


def list_dump_files(base_url: str, wiki: str, date: str, job: str = DEFAULT_JOB) -> list[dict]:
    """Files of one dump job, from the date's dumpstatus.json: [{name, url, sha1, size}].

    Its names and URLs are data from the server: a name must be a plain file name and a URL must lie
    under `base_url`, or the whole listing is refused (UnsafeDumpStatus)."""
    check_job_params(wiki, date)
    status_url = f"{base_url.rstrip('/')}/{wiki}/{date}/dumpstatus.json"
    with _open_url(status_url) as fh:
        status = json.load(fh)
    entry = status.get("jobs", {}).get(job)
    if not entry:
        raise ValueError(f"{status_url}: no job {job!r} (jobs: {', '.join(status.get('jobs', {}))})")
    if entry.get("status") != "done":
        raise ValueError(f"{status_url}: job {job} is {entry.get('status')!r}, not done yet")
    out = []
    for name, f in sorted(entry.get("files", {}).items()):
        if not is_plain_file_name(name):
            raise UnsafeDumpStatus(f"{status_url}: file name {name[:200]!r} is not a plain file name; refused")
        rel = f.get("url") or f"/{wiki}/{date}/{name}"
        url = urllib.parse.urljoin(base_url.rstrip("/") + "/", str(rel).lstrip("/"))
        if not url_under(base_url, url):
            raise UnsafeDumpStatus(f"{status_url}: URL {str(rel)[:200]!r} of {name} is not under {base_url}; refused")
        out.append({"name": name, "url": url, "sha1": f.get("sha1"), "size": f.get("size")})
    return out


class DumpParams(luigi.Config):
    """Shared settings; set them in luigi.cfg under [DumpParams] or pass them on the command line."""
    warehouse = luigi.Parameter(default="warehouse")
    dumps_dir = luigi.Parameter(default="dumps")
    base_url = luigi.Parameter(default=DEFAULT_BASE_URL)
    job = luigi.Parameter(default=DEFAULT_JOB)
    config = luigi.OptionalParameter(default=None, description="revmine YAML config")
    runner_args = luigi.Parameter(default="", description="Beam flags, e.g. '--runner=DataflowRunner --project=p'")
    export_dir = luigi.OptionalParameter(default=None, description="write a Hub dataset folder per date here")


class DumpFileTask(luigi.Task):
    """One dump file of one wiki and date: the parameters Fetch, Stage and Load share."""
    wiki = luigi.Parameter()
    date = luigi.Parameter()
    filename = luigi.Parameter()
    url = luigi.Parameter()
    sha1 = luigi.OptionalParameter(default=None)


class FetchDump(DumpFileTask):

    def output(self):
        check_job_params(self.wiki, self.date)
        if not is_plain_file_name(self.filename):
            raise UnsafeDumpStatus(f"dump file name {self.filename!r} is not a plain file name")
        return luigi.LocalTarget(os.path.join(DumpParams().dumps_dir, self.wiki, self.date, self.filename))

    def run(self):
        if not url_under(DumpParams().base_url, self.url):
            raise UnsafeDumpStatus(f"{self.url} is not under the configured base URL {DumpParams().base_url}")
        final = self.output().path
        os.makedirs(os.path.dirname(final), exist_ok=True)
        part = final + ".part"
        h = hashlib.sha1()
        with _open_url(self.url) as src, open(part, "wb") as dst:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                h.update(chunk)
                dst.write(chunk)
        if self.sha1 and h.hexdigest() != self.sha1:
            os.remove(part)
            raise ValueError(f"{self.url}: SHA-1 {h.hexdigest()} does not match the published {self.sha1}")
        os.replace(part, final)


def run_id_for(wiki: str, filename: str, sha1: Optional[str]) -> str:
    return f"job-{wiki}-{hashlib.sha1(f'{filename}:{sha1}'.encode()).hexdigest()[:12]}"


class StageDump(DumpFileTask):

    def requires(self):
        return self.clone(FetchDump)

    @property
    def run_id(self) -> str:
        return run_id_for(self.wiki, self.filename, self.sha1)

    def output(self):
        from revmine.warehouse.layout import staging_dir

        return luigi.LocalTarget(os.path.join(staging_dir(os.path.abspath(DumpParams().warehouse), self.run_id),
                                              "_STAGED.json"))

    def run(self):
        import shlex

        from revmine.config import Config
        from revmine.runner.run import UnbalancedBooks, stage, unbalanced_message

        params = DumpParams()
        config = Config.load(params.config, **{"read.wiki": self.wiki})
        # supersede=False: parts stage in parallel, so a stub's committed files are not rewritten here
        staged = stage([self.input().path], params.warehouse, config, shlex.split(params.runner_args), self.run_id,
                       supersede=False)
        if not staged.accounting.balanced:  # fail the task: nothing reaches the warehouse
            raise UnbalancedBooks(unbalanced_message(staged))
        _write_json_atomic(self.output().path, {"run_id": staged.run_id, "paths": staged.paths, "keys": staged.keys,
                                                "files": staged.files, "accounting": staged.accounting.as_dict(),
                                                "input_keys": staged.input_keys, "duplicates": staged.duplicates})


class LoadDump(DumpFileTask):

    def requires(self):
        return self.clone(StageDump)

    def output(self):
        return luigi.LocalTarget(os.path.join(os.path.abspath(DumpParams().warehouse), JOBS, self.wiki, "loaded",
                                              f"{self.filename}.{self.sha1 or 'nosha1'}.json"))

    def run(self):
        from revmine.pipeline.accounting import Accounting
        from revmine.runner.run import Staged, commit

        with open(self.input().path, encoding="utf-8") as fh:
            info = json.load(fh)
        warehouse = os.path.abspath(DumpParams().warehouse)
        staged = Staged(info["run_id"], warehouse, info["paths"], info["keys"], Accounting.from_dict(info["accounting"]),
                        info["files"], info.get("input_keys", {}), info.get("duplicates", {}))
        with warehouse_lock(warehouse, wait=True, job=f"LoadDump {self.filename}"):  # commits one at a time
            files = commit(staged)
        manifest = {"wiki": self.wiki, "date": self.date, "file": self.filename, "sha1": self.sha1,
                    "run_id": staged.run_id, "loaded": dt.datetime.now(dt.timezone.utc).isoformat(),
                    "accounting": info["accounting"], "files": _file_manifest(warehouse, files)}
        manifest["rows"] = _rows_per_table(manifest["files"])
        _write_json_atomic(self.output().path, manifest)


def _file_manifest(warehouse: str, files: list[str]) -> list[dict]:
    import pyarrow.parquet as pq

    out = []
    for path in sorted(files):
        rel = os.path.relpath(path, warehouse)
        out.append({"path": rel, "table": rel.split(os.sep)[0], "rows": pq.ParquetFile(path).metadata.num_rows,
                    "sha256": _hash_file(path, "sha256")})
    return out


def _rows_per_table(files: list[dict]) -> dict:
    rows: dict[str, int] = {}
    for f in files:
        rows[f["table"]] = rows.get(f["table"], 0) + f["rows"]
    return rows


class ExportDate(luigi.Task):
    """All files of a date loaded: refresh the catalog, write the Hub folder (if export_dir is set)."""
    wiki = luigi.Parameter()
    date = luigi.Parameter()

    def requires(self):
        params = DumpParams()
        return [LoadDump(self.wiki, self.date, f["name"], f["url"], f["sha1"])
                for f in list_dump_files(params.base_url, self.wiki, self.date, params.job)]

    def output(self):
        return luigi.LocalTarget(os.path.join(os.path.abspath(DumpParams().warehouse), JOBS, self.wiki,
                                              "dates", f"{self.date}.json"))

    def run(self):
        from revmine.warehouse.catalog import build_catalog

        params = DumpParams()
        with warehouse_lock(os.path.abspath(params.warehouse), wait=True, job=f"ExportDate {self.date}"):
            build_catalog(os.path.abspath(params.warehouse))
        exported = None
        if params.export_dir:
            from revmine.warehouse.export import export_hub

            exported = os.path.join(params.export_dir, self.wiki, self.date)
            export_hub(params.warehouse, exported, repo_id=f"revmine-{self.wiki}")
        files = []
        for target in self.input():
            with open(target.path, encoding="utf-8") as fh:
                m = json.load(fh)
            files.append({"file": m["file"], "sha1": m["sha1"], "rows": m["rows"], "loaded_for_date": m["date"]})
        _write_json_atomic(self.output().path, {"wiki": self.wiki, "date": self.date, "files": files,
                                                "export": exported})


class DumpDate(luigi.WrapperTask):
    """Everything for one wiki and dump date."""
    wiki = luigi.Parameter()
    date = luigi.Parameter()

    def requires(self):
        return ExportDate(self.wiki, self.date)


class _OneLineFailures(logging.Filter):
    """A task failure as one line (what failed and why) instead of a traceback; -v keeps the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg, record.args = f"{record.getMessage()}: {type(exc).__name__}: {exc}", ()
            record.exc_info = record.exc_text = None
        message = record.getMessage()
        if "Traceback (most recent call last)" in message:  # luigi writes some tracebacks into the message
            lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
            record.msg, record.args = f"{lines[0].rstrip(':')}: {lines[-1]}", ()
        return True


def _luigi_logging(verbose: bool) -> None:
    """luigi's lines go through the caller's handlers once: luigi adds no handler of its own (that printed
    every line twice), shows no DEBUG lines unless verbose, and reports a failure in one line."""
    for name in ("luigi", "luigi-interface", "luigi.scheduler", "luigi.worker"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG if verbose else logging.INFO)
        for f in [f for f in logger.filters if isinstance(f, _OneLineFailures)]:
            logger.removeFilter(f)
        if not verbose:
            logger.addFilter(_OneLineFailures())


def run_jobs(wiki: str, date: str, workers: int = 1, scheduler_host: Optional[str] = None, verbose: bool = False,
             **params) -> bool:
    """Build DumpDate(wiki, date) on the local scheduler (or a luigid at scheduler_host)."""
    cfg = luigi.configuration.get_config()
    for k, v in params.items():
        if v is not None:
            if not cfg.has_section("DumpParams"):
                cfg.add_section("DumpParams")
            cfg.set("DumpParams", k, str(v))
    # luigi caches task and config instances by parameters; settings changed above must be seen.
    luigi.task_register.Register.clear_instance_cache()
    kwargs = {"scheduler_host": scheduler_host} if scheduler_host else {"local_scheduler": True}
    if not cfg.has_section("core"):
        cfg.add_section("core")
    cfg.set("core", "no_configure_logging", "true")
    _luigi_logging(verbose)
    result = luigi.build([DumpDate(wiki=wiki, date=date)], workers=workers, detailed_summary=True, **kwargs)
    return result.status.name in ("SUCCESS", "SUCCESS_WITH_RETRY")


def check_job_warehouse(warehouse: Optional[str]) -> None:
    """ValueError for a remote warehouse: the jobs keep their markers, lock and catalog beside the tables, as
    local files. Resolved as luigi would, without --warehouse: luigi.cfg's [DumpParams], else ./warehouse."""
    warehouse = warehouse or luigi.configuration.get_config().get("DumpParams", "warehouse", "warehouse")
    if is_url(warehouse):
        raise ValueError(f"the jobs need a local warehouse, not {warehouse}: they keep their markers, lock and "
                         "catalog beside the tables as files. Run them into a folder and copy it up, or use "
                         "`revmine run --out` for a remote one")


def clean_partial_downloads(dumps_dir: str) -> int:
    """Remove `.part` files a killed FetchDump left behind (they never count as complete)."""
    n = 0
    for root, _, files in os.walk(dumps_dir):
        for f in files:
            if f.endswith(".part"):
                os.remove(os.path.join(root, f))
                n += 1
    return n


__all__ = ["DumpDate", "ExportDate", "LoadDump", "StageDump", "FetchDump", "DumpParams", "run_jobs",
           "check_job_warehouse", "list_dump_files", "clean_partial_downloads"]
