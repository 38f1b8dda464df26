"""Run the Beam pipeline end to end: stage, check the books, commit, catalog."""
from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from typing import Optional, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from revmine import __version__
from revmine.config import Config
from revmine.pipeline import beam as graph
from revmine.pipeline.accounting import Accounting
from revmine.pipeline.read import source_key
from revmine.warehouse.catalog import build_catalog
from revmine.warehouse.layout import commit_run, read_table, staged_files, staging_dir

log = logging.getLogger(__name__)


class UnbalancedBooks(RuntimeError):
    pass


@dataclass
class RunResult:
    run_id: str
    warehouse: str
    accounting: Accounting
    files: list[str]


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


def stage(inputs: Sequence[str], warehouse: str, config: Optional[Config] = None,
          beam_args: Sequence[str] = (), run_id: Optional[str] = None) -> Staged:
    """Run the Beam pipeline over `inputs` into WAREHOUSE/_staging/<run_id>, and read back its books.

    A staging folder left behind by a killed run with the same id is cleared first, so a rerun starts clean."""
    config = config or Config()
    run_id = run_id or new_run_id()
    paths = graph.expand_inputs(inputs)
    if not paths:
        raise FileNotFoundError(f"no dump files found in {list(inputs)}")
    missing = [p for p in paths if "://" not in p and not any(c in p for c in "*?[") and not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(f"input not found: {missing[0]}")
    warehouse = os.path.abspath(warehouse) if "://" not in warehouse else warehouse
    stage_dir = staging_dir(warehouse, run_id)
    if "://" not in stage_dir and os.path.exists(stage_dir):
        shutil.rmtree(stage_dir)
    options = PipelineOptions(list(beam_args))
    log.info("run %s: %d input(s) -> %s", run_id, len(paths), warehouse)
    with beam.Pipeline(options=options) as p:
        graph.build(p, paths, stage_dir, config)
    acc = Accounting.from_tables(read_table(stage_dir, "sources"), read_table(stage_dir, "revision_pairs"),
                                 read_table(stage_dir, "quarantine"),
                                 read_table(stage_dir, "diffs") if config.diff.enabled else None)
    return Staged(run_id, warehouse, paths, sorted({source_key(p) for p in paths}), acc,
                  staged_files(warehouse, run_id))


def commit(staged: Staged) -> list[str]:
    """Move a staged run into the warehouse (replacing earlier rows of the same inputs) and refresh the catalog."""
    manifest = {"run_id": staged.run_id, "revmine_version": __version__, "inputs": staged.paths,
                "source_keys": staged.keys, "finished": dt.datetime.now(dt.timezone.utc).isoformat(),
                "accounting": staged.accounting.as_dict()}
    files = commit_run(staged.warehouse, staged.run_id, staged.keys, manifest, staged.files)
    if "://" not in staged.warehouse:
        build_catalog(staged.warehouse)
    return files


def unbalanced_message(staged: Staged) -> str:
    acc = staged.accounting
    return (f"run {staged.run_id}: read {acc.revisions_read:,} revisions, accounted for {acc.accounted:,}; "
            f"{acc.pairs_written:,} pairs written, {acc.diffed:,} diffed")


def run(inputs: Sequence[str], warehouse: str, config: Optional[Config] = None,
        beam_args: Sequence[str] = (), run_id: Optional[str] = None) -> RunResult:
    """Process `inputs` into `warehouse`. Raises UnbalancedBooks (after committing) if the books don't balance."""
    staged = stage(inputs, warehouse, config, beam_args, run_id)
    files = commit(staged)
    result = RunResult(staged.run_id, staged.warehouse, staged.accounting, files)
    if not staged.accounting.balanced:
        raise UnbalancedBooks(f"{unbalanced_message(staged)}; see {staged.warehouse}/_runs/{staged.run_id}.json")
    return result
