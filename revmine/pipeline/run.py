"""Run the Beam pipeline end to end: stage, check the books, commit, catalog."""
from __future__ import annotations

import datetime as dt
import logging
import os
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
from revmine.warehouse.layout import commit_run, read_table, staging_dir

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


def run(inputs: Sequence[str], warehouse: str, config: Optional[Config] = None,
        beam_args: Sequence[str] = (), run_id: Optional[str] = None) -> RunResult:
    """Process `inputs` into `warehouse`. Raises UnbalancedBooks (after committing) if the books don't balance."""
    config = config or Config()
    run_id = run_id or new_run_id()
    paths = graph.expand_inputs(inputs)
    if not paths:
        raise FileNotFoundError(f"no dump files found in {list(inputs)}")
    missing = [p for p in paths if "://" not in p and not any(c in p for c in "*?[") and not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(f"input not found: {missing[0]}")
    warehouse = os.path.abspath(warehouse) if "://" not in warehouse else warehouse
    stage = staging_dir(warehouse, run_id)
    options = PipelineOptions(list(beam_args))
    log.info("run %s: %d input(s) -> %s", run_id, len(paths), warehouse)
    with beam.Pipeline(options=options) as p:
        graph.build(p, paths, stage, config)
    keys = sorted({source_key(p) for p in paths})
    acc = Accounting.from_tables(read_table(stage, "sources"), read_table(stage, "revision_pairs"),
                                 read_table(stage, "quarantine"),
                                 read_table(stage, "diffs") if config.diff.enabled else None)
    manifest = {"run_id": run_id, "revmine_version": __version__, "inputs": paths, "source_keys": keys,
                "finished": dt.datetime.now(dt.timezone.utc).isoformat(), "accounting": acc.as_dict()}
    files = commit_run(warehouse, run_id, keys, manifest)
    if "://" not in warehouse:
        build_catalog(warehouse)
    result = RunResult(run_id, warehouse, acc, files)
    if not acc.balanced:
        raise UnbalancedBooks(f"run {run_id}: read {acc.revisions_read:,} revisions, accounted for {acc.accounted:,}; "
                              f"{acc.pairs_written:,} pairs written, {acc.diffed:,} diffed; "
                              f"see {warehouse}/_runs/{run_id}.json")
    return result
