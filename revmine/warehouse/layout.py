"""Parquet layout of a warehouse directory.

    WAREHOUSE/
      <table>/wiki=<wiki>/year=<yyyy>/part-<source_key>-<n>.parquet   (tables partitioned by wiki, year)
      <table>/wiki=<wiki>/part-<source_key>-<n>.parquet                (quarantine, sources)
      _staging/<run_id>/...   files of a run in progress (same layout)
      _runs/<run_id>.json     manifest of a committed run: inputs, files, row counts, accounting
      catalog.duckdb          DuckDB views over the tables (see catalog.py)

Every file name carries the key of the input it came from, so re-running an input replaces its
files instead of duplicating rows. Paths go through Beam's FileSystems, so gs:// etc. work too.
"""
from __future__ import annotations

import json
import os
import posixpath
import shutil
import uuid
from typing import Iterable, NamedTuple, Optional, Sequence

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from revmine.schemas import TABLES, Table
from revmine.warehouse.catalog import CATALOG  # noqa: F401  (part of the layout)

STAGING = "_staging"
RUNS = "_runs"
ROWS_PER_FILE = 1_000_000
ROW_GROUP = 100_000


class PartitionKey(NamedTuple):
    """Group key for writing: a NamedTuple so Beam encodes it deterministically."""
    table: str
    wiki: str
    year: Optional[int]
    source_key: str

    def relpath(self) -> str:
        parts = [self.table, f"wiki={self.wiki}"]
        if self.year is not None:
            parts.append(f"year={self.year}")
        return "/".join(parts)


def partition_key(table: Table, record, source_key: str) -> PartitionKey:
    return PartitionKey(table.name, record.wiki, getattr(record, "year", None) if "year" in table.partition_by else None,
                        source_key)


def file_row(table: Table, record) -> tuple:
    """The values stored inside the Parquet file (partition columns live in the path)."""
    return tuple(getattr(record, n) for n in table.file_schema.names)


def _join(base: str, rel: str) -> str:
    return FileSystems.join(base, *rel.split("/")) if "://" in base else os.path.join(base, *rel.split("/"))


def write_partition(root: str, key: PartitionKey, rows: Iterable[tuple]) -> list[tuple[str, int]]:
    """Write rows of one partition as Parquet files under `root`; return [(path, n_rows)].

    Each file is written under a temporary name and renamed when complete, so a reader (or a
    killed run) never sees a half-written file.
    """
    table = TABLES[key.table]
    schema = table.file_schema
    directory = _join(root, key.relpath())
    FileSystems.mkdirs(directory) if not FileSystems.exists(directory) else None
    written: list[tuple[str, int]] = []
    batch: list[tuple] = []
    n_in_file = 0
    writer = handle = tmp = final = None
    shard = 0

    def open_file():
        nonlocal writer, handle, tmp, final, n_in_file, shard
        final = _join(directory, f"part-{key.source_key}-{shard:05d}-{uuid.uuid4().hex[:8]}.parquet")
        tmp = final + ".tmp"
        handle = FileSystems.create(tmp)
        writer = pq.ParquetWriter(handle, schema, compression="zstd")
        n_in_file = 0
        shard += 1

    def flush_batch():
        nonlocal batch, n_in_file
        if not batch:
            return
        if writer is None:
            open_file()
        cols = list(zip(*batch))
        arrays = [table.array(f.name, list(col)) for col, f in zip(cols, schema)]
        t = pa.Table.from_arrays(arrays, schema=schema)
        table.validate(t, file_only=True, where=f" ({final})")
        writer.write_table(t, row_group_size=ROW_GROUP)
        n_in_file += len(batch)
        batch = []

    def close_file():
        nonlocal writer
        if writer is None:
            return
        writer.close()
        handle.close()
        FileSystems.rename([tmp], [final])
        written.append((final, n_in_file))
        writer = None

    for row in rows:
        batch.append(row)
        if len(batch) >= ROW_GROUP:
            flush_batch()
            if n_in_file >= ROWS_PER_FILE:
                close_file()
    flush_batch()
    close_file()
    return written


def staging_dir(warehouse: str, run_id: str) -> str:
    return _join(warehouse, f"{STAGING}/{run_id}")


def list_parquet(root: str, table: str, source_keys: Optional[Sequence[str]] = None) -> list[str]:
    """All committed Parquet files of `table` (optionally only those from the given inputs)."""
    patterns = [_join(root, f"{table}/**/part-{k}-*.parquet") for k in source_keys] if source_keys is not None \
        else [_join(root, f"{table}/**/*.parquet")]
    paths: list[str] = []
    for result in FileSystems.match(patterns):
        paths.extend(m.path for m in result.metadata_list)
    return sorted(p for p in paths if not p.endswith(".tmp"))


def read_table(root: str, table: str, source_keys: Optional[Sequence[str]] = None) -> pa.Table:
    """Read a table (file columns plus hive partition columns) into Arrow, validating every file."""
    spec = TABLES[table]
    paths = list_parquet(root, table, source_keys)
    if not paths:
        return spec.schema.empty_table()
    for path in paths:
        spec.validate_parquet(path)
    partitioning = ds.partitioning(pa.schema([spec.schema.field(n) for n in spec.partition_by]), flavor="hive")
    dataset = ds.dataset(paths, schema=spec.schema, format="parquet", partitioning=partitioning,
                         partition_base_dir=_join(root, table))
    return dataset.to_table()


def commit_run(warehouse: str, run_id: str, source_keys: Sequence[str], manifest: dict) -> list[str]:
    """Move a run's staged files into the warehouse, replacing earlier files of the same inputs."""
    stage = staging_dir(warehouse, run_id)
    moved: list[str] = []
    for table in TABLES:
        old = list_parquet(warehouse, table, source_keys)
        staged = list_parquet(stage, table)
        if old:
            FileSystems.delete(old)
        targets = [warehouse + p[len(stage):] for p in staged]
        for t in targets:
            d = posixpath.dirname(t) if "://" in t else os.path.dirname(t)
            if not FileSystems.exists(d):
                FileSystems.mkdirs(d)
        if staged:
            FileSystems.rename(staged, targets)
        moved.extend(targets)
    runs = _join(warehouse, RUNS)
    if not FileSystems.exists(runs):
        FileSystems.mkdirs(runs)
    manifest = dict(manifest, files=[p[len(warehouse):].lstrip("/") for p in moved])
    with FileSystems.create(_join(runs, f"{run_id}.json")) as fh:
        fh.write(json.dumps(manifest, indent=2, default=str).encode())
    try:
        if "://" in stage:
            FileSystems.delete([stage])
        else:
            shutil.rmtree(stage)
            os.rmdir(os.path.dirname(stage)) if not os.listdir(os.path.dirname(stage)) else None
    except OSError:  # an empty staging dir left behind is harmless
        pass
    return moved
