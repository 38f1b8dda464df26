"""Run the Beam pipeline end to end: identify the inputs, stage, check the books, commit, catalog.

Inputs are identified by their content (see `read.source_key`): the same bytes listed twice are read
once, and a file whose bytes changed at the same path replaces the rows its earlier bytes left.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from revmine import __version__
from revmine.config import Config
from revmine.pipeline.accounting import Accounting, unread_file
from revmine.pipeline.arxiv import WIKI as ARXIV
from revmine.pipeline.fields import input_key
from revmine.runner import beam as graph
from revmine.runner.compose import StageClock, expand_inputs
from revmine.runner.label import check_model_folders
from revmine.schemas.names import is_url, is_utf8, url_scheme
from revmine.warehouse.catalog import build_catalog, has_pattern_char
from revmine.warehouse.duplicates import (RemoteUnchecked, connect, find_duplicates, held_revisions,
                                          remove_duplicates, retire_superseded, superseded_events)
from revmine.warehouse.layout import (NotAWarehouse, PartitionedWriter, absolute, check_new_or_warehouse, commit_run,
                                      input_index, read_table, staged_files, staging_dir, staging_root,
                                      write_input_index, write_records)
from revmine.warehouse.lock import clean_dead_staging, staging_lock, warehouse_lock

log = logging.getLogger(__name__)


class UnbalancedBooks(RuntimeError):
    pass


@dataclass
class RunResult:
    run_id: str
    warehouse: str
    accounting: Accounting
    files: list[str]
    duplicates: dict[str, str] = field(default_factory=dict)
    timings: dict[str, tuple[float, int]] = field(default_factory=dict)  # stage -> (worker seconds, items)


def new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


@dataclass
class Staged:
    """A pipeline run written to its staging folder, with its books, not yet in the warehouse."""
    run_id: str
    warehouse: str
    paths: list[str]
    keys: list[str]
    accounting: Accounting
    files: Optional[list[str]] = None  # staged Parquet files, relative to the staging folder
    input_keys: dict[str, str] = field(default_factory=dict)  # input path -> content key
    duplicates: dict[str, str] = field(default_factory=dict)  # path skipped -> the path with the same bytes
    timings: dict[str, tuple[float, int]] = field(default_factory=dict)  # stage -> (worker seconds, items)


def identify_inputs(paths: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Content keys of the inputs: ({path: key} for the paths to read, {skipped path: first path with its bytes})."""
    keys: dict[str, str] = {}
    first_with: dict[str, str] = {}
    duplicates: dict[str, str] = {}
    for path in paths:
        key = input_key(path)  # an unreadable input is quarantined by the reader, under this key
        if key in first_with:
            duplicates[path] = first_with[key]
            log.warning("%s has the same bytes as %s: read once", path, first_with[key])
            continue
        first_with[key] = path
        keys[path] = key
    return keys, duplicates


@contextlib.contextmanager
def private_tempdir(parent: str) -> Iterator[str]:
    """Point temporary files (Beam's beam-temp-* folders, worker scratch) at a folder removed afterwards."""
    os.makedirs(parent, exist_ok=True)
    path = tempfile.mkdtemp(prefix="tmp-", dir=parent)
    saved_env, saved_dir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = path, path
    try:
        yield path
    finally:
        tempfile.tempdir = saved_dir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        shutil.rmtree(path, ignore_errors=True)


def stage(inputs: Sequence[str], warehouse: str, config: Optional[Config] = None,
          beam_args: Sequence[str] = (), run_id: Optional[str] = None, supersede: bool = True) -> Staged:
    """Run the Beam pipeline over `inputs` into WAREHOUSE/_staging/<run_id>, and read back its books.

    `supersede`: a better copy (with its text, then with its parent) replaces a committed copy of the same
    revision (a stub's, a current-revisions dump's), by staging that input's files rewritten. Only for a stage
    committed before any other commit (`run`, under its lock): the jobs stage in parallel, and a second
    stage's rewrite of the same file would undo the first's.

    A staging folder left behind by a killed run with the same id is cleared first, so a rerun starts clean."""
    config = config or Config()
    run_id = run_id or new_run_id()
    paths = input_paths(inputs)
    check_text_path(warehouse)
    warehouse = absolute(warehouse)
    # Names first that can be stored: of two inputs with the same bytes, the one read is one with a text name
    keys, duplicates = identify_inputs(sorted(paths, key=lambda path: not is_utf8(path)))
    unnamed = {path: keys.pop(path) for path in list(keys) if not is_utf8(path)}
    stage_dir = staging_dir(warehouse, run_id)
    with staging_lock(stage_dir, run_id):
        if not is_url(stage_dir) and os.path.exists(stage_dir):
            shutil.rmtree(stage_dir)
        for path, key in unnamed.items():
            _refuse_unnamed(stage_dir, path, key)
        options = PipelineOptions(list(beam_args))
        log.info("run %s: %d input(s) -> %s", run_id, len(keys), warehouse)
        local = not is_url(stage_dir)
        checked = local or _reachable(warehouse)
        input_keys = {absolute(p): k for p, k in keys.items()}
        replaced = _replaced_keys(warehouse, input_keys) if checked else []
        # Revisions stored already are read and paired (a new revision's parent may be one) but not diffed:
        # the duplicate check below takes them out of this run anyway.
        held = (held_revisions(warehouse, set(keys.values()) | set(replaced))
                if checked and config.diff.enabled else None)
        scratch = os.path.join(stage_dir, "_tmp") if local else tempfile.gettempdir()
        with private_tempdir(scratch):
            with beam.Pipeline(options=options) as p:
                graph.build(p, list(keys.items()), stage_dir, config, held)
        if local:
            shutil.rmtree(scratch, ignore_errors=True)
        superseded: dict = {}
        if checked:
            dups, superseded = find_duplicates(warehouse, stage_dir, list(keys.values()), replaced,
                                               supersede=local and supersede)
            if dups:
                log.warning("%d revision(s) already stored from another input: quarantined as duplicate_rev_id",
                            remove_duplicates(stage_dir, dups))
            for new_file, event in superseded_events(superseded):
                write_records(stage_dir, f"{input_keys.get(new_file, next(iter(keys.values())))}-new", [event])
        sources = read_table(stage_dir, "sources")
        acc = Accounting.from_tables(sources, read_table(stage_dir, "revision_pairs"),
                                     read_table(stage_dir, "quarantine"),
                                     read_table(stage_dir, "diffs") if config.diff.enabled else None)
        if superseded:  # after the books: these files hold other inputs' rows
            log.info("%d revision(s) stored without their text or parent are replaced by better copies",
                     retire_superseded(warehouse, stage_dir, superseded))
        _say_current_only(sources)
        files = staged_files(warehouse, run_id)
        timings = StageClock.read(stage_dir) if local else {}
    return Staged(run_id, warehouse, list(keys), sorted(set(keys.values()) | set(unnamed.values())), acc, files,
                  input_keys, duplicates, timings)


def _say_current_only(sources) -> None:
    """A dump with one revision per page (pages-articles, pages-meta-current) lands with nothing diffed and
    every pair skipped; say why once, since the accounting alone reads like a failed run."""
    for row in sources.select(["source_file", "wiki", "pages", "revisions_read"]).to_pylist():
        if row["wiki"] != ARXIV and row["pages"] and row["revisions_read"] == row["pages"]:
            log.warning("%s: every page holds one revision, so there is no edit to diff (a current-revisions dump, "
                        "such as pages-articles or pages-meta-current?); edits come from pages-meta-history dumps",
                        os.path.basename(row["source_file"]))


def _reachable(warehouse: str) -> bool:
    """Whether the duplicate check can read a remote warehouse here; if not, the run says what it will miss."""
    try:
        connect(warehouse).close()
        return True
    except RemoteUnchecked as exc:
        log.warning("%s: %s, so revisions that other inputs stored already are not looked for, and a dump read "
                    "again as another file lands twice. Install fsspec's file system for it, or stage into a "
                    "local warehouse, to have them quarantined as duplicate_rev_id", warehouse, exc)
        return False


class BadBeamFlags(ValueError):
    """Beam flags that Beam would refuse only once the warehouse folder was made (or with its whole usage)."""


def check_beam_args(beam_args: Sequence[str]) -> None:
    """BadBeamFlags, in one line, for a flag value Beam's parser refuses or a runner it cannot name."""
    from apache_beam.runners.runner import create_runner

    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):  # argparse prints the usage of every Beam option
            runner = PipelineOptions(list(beam_args)).get_all_options().get("runner")
    except SystemExit:
        raise BadBeamFlags(said.getvalue().strip().splitlines()[-1].split("error: ", 1)[-1]) from None
    if runner:
        try:
            create_runner(runner)
        except ValueError as exc:
            raise BadBeamFlags(f"{str(exc).split('. Valid values')[0]}: give a runner's name (DirectRunner, "
                               "DataflowRunner, FlinkRunner, PortableRunner, ...) or its class path") from None


def direct_runner(beam_args: Sequence[str]) -> bool:
    """Whether the run's workers are processes of this machine (Beam's DirectRunner, its default)."""
    runner = PipelineOptions(list(beam_args)).get_all_options().get("runner")
    return runner is None or runner.rsplit(".", 1)[-1].lower() in ("directrunner", "direct")


def check_text_path(path: str, what: str = "the warehouse") -> None:
    """ValueError for a warehouse path that is not text (not UTF-8 on disk: every file name and row holds it)
    or that holds a pattern character: a warehouse's files are found by pattern (Beam's match, DuckDB's
    read_parquet), and in `runs/wh[1]` the pattern `wh[1]/edits/**` matches `wh1`, so a run found none of
    the files it had just staged, committed nothing, and said its books balanced."""
    if not is_utf8(path):
        raise ValueError(f"{what}: {os.fsencode(path).decode('utf-8', 'backslashreplace')} is not a UTF-8 path; "
                         "choose a folder whose name is")
    if has_pattern_char(absolute(path)):  # the folders above it count too: patterns are absolute
        raise ValueError(f"{what}: {absolute(path)} holds a pattern character (*, ? or [), and the warehouse's "
                         "files are found by pattern; choose a folder whose path has none")


def _refuse_unnamed(stage_dir: str, path: str, key: str) -> None:
    """An input whose name is not text is not read: a file-level row (its name with the odd bytes as \\xNN)
    and its sources row are staged under its content key, so the books show it."""
    shown = os.fsencode(path).decode("utf-8", "backslashreplace")
    writer = PartitionedWriter(stage_dir, key)
    for rec in unread_file("unknown", shown, key, "invalid_file_name",
                           f"{shown}: the file name is not UTF-8; rename the file to read it"):
        writer.add(rec)
    writer.close()
    log.warning("%s: the file name is not UTF-8, so the file is not read (quarantined as invalid_file_name)", shown)


def _replaced_keys(warehouse: str, ours: dict[str, str], index: Optional[dict[str, str]] = None) -> list[str]:
    """Keys of the bytes these input paths held before, that no other committed input path still holds."""
    index = input_index(warehouse) if index is None else index
    still_used = {k for p, k in index.items() if p not in ours} | set(ours.values())
    return sorted({index[p] for p in ours if p in index and index[p] not in still_used})


def commit(staged: Staged) -> list[str]:
    """Move a staged run into the warehouse and refresh the catalog. The caller holds the warehouse lock.

    Rows of the same content are replaced; so are the rows an input path's earlier bytes left, unless
    another input path still has those bytes."""
    index = input_index(staged.warehouse)
    ours = staged.input_keys
    replaced = _replaced_keys(staged.warehouse, ours, index)
    manifest = {"run_id": staged.run_id, "revmine_version": __version__, "inputs": staged.paths,
                "source_keys": staged.keys, "input_keys": ours, "replaced_keys": replaced,
                "duplicates": staged.duplicates, "finished": dt.datetime.now(dt.timezone.utc).isoformat(),
                "accounting": staged.accounting.as_dict()}
    files = commit_run(staged.warehouse, staged.run_id, staged.keys + replaced, manifest, staged.files)
    write_input_index(staged.warehouse, {**index, **ours})
    if not is_url(staged.warehouse):
        build_catalog(staged.warehouse)
    return files


def unbalanced_message(staged: Staged) -> str:
    acc = staged.accounting
    return (f"run {staged.run_id}: read {acc.revisions_read:,} revisions, accounted for {acc.accounted:,}; "
            f"{acc.pairs_written:,} pairs written, {acc.diffed:,} diffed")


class NoFileSystem(ValueError):
    """A URL whose scheme no file system of Beam's serves here."""


def check_scheme(path: str, what: str) -> None:
    """NoFileSystem, in one line, for a URL that Beam cannot open here (it raised a ValueError from deep
    inside the first call that touched it)."""
    if not is_url(path):
        return
    try:
        FileSystems.get_filesystem(path)
    except ValueError:
        scheme = url_scheme(path)
        raise NoFileSystem(f"{what} {path}: no file system for {scheme}:// here (gs:// needs apache-beam[gcp], "
                           "s3:// apache-beam[aws]; download an http(s) dump first, as `revmine jobs` does)") from None


def input_paths(inputs: Sequence[str]) -> list[str]:
    """The input files `inputs` name (folders and patterns expanded); FileNotFoundError if there are none,
    or one of them is missing; NoFileSystem for a URL nothing here can open. A broken link (common in
    mirrored dump folders) is there but cannot be opened, as a file without read permission: it is kept,
    the reader gives it an `unreadable_file` row, and the other inputs are read."""
    for item in inputs:
        check_scheme(item, "input")
    paths = expand_inputs(inputs)
    if not paths:
        raise FileNotFoundError(f"no dump files found in {list(inputs)}")
    missing = [p for p in paths if not (FileSystems.exists(p) if is_url(p) else os.path.lexists(p))]
    if missing:
        raise FileNotFoundError(f"input not found: {missing[0]}")
    return paths


def run(inputs: Sequence[str], warehouse: str, config: Optional[Config] = None,
        beam_args: Sequence[str] = (), run_id: Optional[str] = None, wait: bool = False) -> RunResult:
    """Process `inputs` into `warehouse`, holding its lock throughout (WarehouseBusy if another run has it,
    unless `wait`). A run whose books don't balance is not committed: UnbalancedBooks."""
    paths = input_paths(inputs)  # a mistyped input creates no warehouse folder
    check_scheme(warehouse, "warehouse")
    check_text_path(warehouse)
    check_new_or_warehouse(warehouse)
    check_beam_args(beam_args)
    if direct_runner(beam_args):
        check_model_folders(config or Config())
    if not is_url(warehouse):
        try:
            os.makedirs(warehouse, exist_ok=True)
        except OSError as exc:  # under a file, no permission, a read-only disk
            raise NotAWarehouse(f"cannot make the warehouse folder {warehouse}: {exc.strerror or exc}") from exc
    with warehouse_lock(warehouse, wait=wait, run=run_id or "revmine run"):
        for path in clean_dead_staging(staging_root(warehouse)):
            log.info("removed %s, left by a run that was killed", path)
        staged = stage(paths, warehouse, config, beam_args, run_id)  # expanded: folders are not walked twice
        if not staged.accounting.balanced:
            raise UnbalancedBooks(f"{unbalanced_message(staged)}; nothing was committed (staged files are in "
                                  f"{staging_dir(staged.warehouse, staged.run_id)} until the next run)")
        files = commit(staged)
    return RunResult(staged.run_id, staged.warehouse, staged.accounting, files, staged.duplicates, staged.timings)
