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
from typing import Iterable, NamedTuple, Optional, Sequence

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from revmine.schemas import TABLES, Table
from revmine.schemas.names import is_url, is_wiki_name
from revmine.warehouse.lock import LOCK, staging_lock_path
from revmine.warehouse.catalog import CATALOG  # part of the layout

STAGING = "_staging"
RUNS = "_runs"
INPUTS = "_inputs.json"  # input path -> content key of the bytes last committed from it
ROWS_PER_FILE = 1_000_000
ROW_GROUP = 20_000  # rows buffered per partition before a row group is written


JOBS = "_jobs"  # the luigi jobs' markers


def is_warehouse(path: str) -> bool:
    """Whether a local folder holds a revmine warehouse: a committed run, an input index, a staged run, the
    jobs' markers, a catalog or a table. Commands that write into an existing warehouse check it first, so a mistyped
    folder is left alone."""
    try:
        names = set(os.listdir(path))
    except OSError:
        return False
    return bool(names & ({RUNS, INPUTS, STAGING, JOBS, CATALOG} | set(TABLES)))


class NotAWarehouse(ValueError):
    """A path no run writes into: a folder of other files and no warehouse, a file, or a folder that cannot
    be made."""


def check_new_or_warehouse(path: str) -> None:
    """NotAWarehouse unless `path` is missing, empty (hidden files aside) or a warehouse already: a run never
    spreads its tables among someone else's files (`--out ~`, `--out .` in a project folder)."""
    if is_url(path):
        return
    if os.path.lexists(path) and not os.path.isdir(path):
        raise NotAWarehouse(f"{path} is a file, not a folder; a warehouse goes into a new or empty folder")
    if not os.path.isdir(path) or is_warehouse(path):
        return
    others = sorted(n for n in os.listdir(path) if not n.startswith(".") and n != LOCK)
    if others:
        raise NotAWarehouse(f"{path} holds other files (e.g. {others[0]!r}) and no revmine warehouse; a warehouse "
                            "goes into a new or empty folder")


class PartitionKey(NamedTuple):
    """Where a record's rows go: table, hive partition (wiki, year) and the input it came from."""
    table: str
    wiki: str
    year: Optional[int]
    source_key: str

    def relpath(self) -> str:
        # Partition values become directory names: only validated names and integers may.
        if not is_wiki_name(self.wiki):
            raise ValueError(f"refusing to write {self.table} rows for wiki {self.wiki!r}: not a database name")
        if self.year is not None and not isinstance(self.year, int):
            raise ValueError(f"refusing to write {self.table} rows for year {self.year!r}")
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
    return FileSystems.join(base, *rel.split("/")) if is_url(base) else os.path.join(base, *rel.split("/"))


class PartitionedWriter:
    """Stream records of one input into partitioned Parquet files under `root`.

    Files are named `part-<source_key>-<seq>.parquet`, a deterministic function of the input and the
    order of its rows: when Beam retries a bundle, the retry rewrites the same names instead of adding
    duplicates. Each file is written under a temporary name and renamed when complete. Rows are
    buffered per partition and flushed as row groups, so memory stays bounded whatever the input size.
    """

    def __init__(self, root: str, source_key: str, row_group: int = ROW_GROUP, rows_per_file: int = ROWS_PER_FILE):
        self.root = root
        self.source_key = source_key
        self.row_group = row_group
        self.rows_per_file = rows_per_file
        self.open: dict[PartitionKey, _PartitionFile] = {}
        self.seq: dict[PartitionKey, int] = {}
        self.written: list[tuple[str, str, int]] = []

    def add(self, record) -> None:
        table = type(record).TABLE
        key = partition_key(table, record, self.source_key)
        f = self.open.get(key)
        if f is None:
            seq = self.seq.get(key, 0)
            self.seq[key] = seq + 1
            f = self.open[key] = _PartitionFile(self.root, key, table, seq)
        f.rows.append(file_row(table, record))
        if len(f.rows) >= self.row_group:
            f.flush()
            if f.n >= self.rows_per_file:
                self.written.append(f.close())
                del self.open[key]

    def close(self) -> list[tuple[str, str, int]]:
        """Finish every file; returns [(table, path, rows)]."""
        for f in self.open.values():
            self.written.append(f.close())
        self.open = {}
        return self.written


class _PartitionFile:
    def __init__(self, root: str, key: PartitionKey, table: Table, seq: int):
        directory = _join(root, key.relpath())
        make_dirs(directory)
        self.key, self.table = key, table
        self.final = _join(directory, f"part-{key.source_key}-{seq:05d}.parquet")
        self.tmp = self.final + ".tmp"
        self.rows: list[tuple] = []
        self.n = 0
        self.handle = self.writer = None

    def flush(self) -> None:
        if not self.rows:
            return
        if self.writer is None:
            self.handle = FileSystems.create(self.tmp)
            self.writer = pq.ParquetWriter(self.handle, self.table.file_schema, compression="zstd")
        schema = self.table.file_schema
        cols = list(zip(*self.rows))
        t = pa.Table.from_arrays([self.table.array(f.name, list(c)) for c, f in zip(cols, schema)], schema=schema)
        self.table.validate(t, file_only=True, where=f" ({self.final})")
        self.writer.write_table(t, row_group_size=len(self.rows))
        self.n += len(self.rows)
        self.rows = []

    def close(self) -> tuple[str, str, int]:
        self.flush()
        if self.writer is not None:
            self.writer.close()
            self.handle.close()
            FileSystems.rename([self.tmp], [self.final])
        return self.key.table, self.final, self.n


def make_dirs(directory: str) -> None:
    """`directory` made if missing. Workers of one run make the same partition folders at once (two inputs of
    one wiki and year, in `multi_processing`): Beam's mkdirs refuses a folder that exists, so the one that
    lost the race between the check and the make crashed the run."""
    if FileSystems.exists(directory):
        return
    try:
        FileSystems.mkdirs(directory)
    except (IOError, OSError):
        if not FileSystems.exists(directory):
            raise


def write_records(root: str, source_key: str, records: Iterable) -> list[tuple[str, str, int]]:
    """Write any mix of records (one input's worth) as partitioned Parquet; returns [(table, path, rows)]."""
    writer = PartitionedWriter(root, source_key)
    for rec in records:
        writer.add(rec)
    return writer.close()


def staging_dir(warehouse: str, run_id: str) -> str:
    return _join(warehouse, f"{STAGING}/{run_id}")


def absolute(path: str) -> str:
    """A local path made absolute; a URL as it is. The same input or warehouse, however it was named."""
    return path if is_url(path) else os.path.abspath(path)


def staging_root(warehouse: str) -> str:
    return _join(absolute(warehouse), STAGING)


def list_parquet(root: str, table: str, source_keys: Optional[Sequence[str]] = None) -> list[str]:
    """All committed Parquet files of `table` (optionally only those from the given inputs)."""
    patterns = [_join(root, f"{table}/**/part-{k}-*.parquet") for k in source_keys] if source_keys is not None \
        else [_join(root, f"{table}/**/*.parquet")]
    paths: list[str] = []
    for result in FileSystems.match(patterns):
        paths.extend(m.path for m in result.metadata_list)
    return sorted(p for p in paths if not p.endswith(".tmp"))


def arrow_paths(root: str, paths: Sequence[str]) -> tuple[Optional[pafs.FileSystem], list[str]]:
    """`paths` under `root` as pyarrow takes a list of files: paths of one file system. Local ones stay as
    they are; a remote root's URLs (gs://, s3://, hdfs://, file://, which pyarrow resolves itself) become
    paths of the file system of `root`, since pyarrow reads a list of URLs as local paths."""
    if not is_url(root):
        return None, list(paths)
    filesystem, base = pafs.FileSystem.from_uri(root)
    root = root.rstrip("/")
    if any(not p.startswith(root) for p in paths):
        raise ValueError(f"not under {root}: {next(p for p in paths if not p.startswith(root))}")
    return filesystem, [base.rstrip("/") + p[len(root):] for p in paths]


def read_table(root: str, table: str, source_keys: Optional[Sequence[str]] = None) -> pa.Table:
    """Read a table (file columns plus hive partition columns) into Arrow, validating every file."""
    spec = TABLES[table]
    paths = list_parquet(root, table, source_keys)
    if not paths:
        return spec.schema.empty_table()
    for path in paths:
        spec.validate_parquet(path)
    partitioning = ds.partitioning(pa.schema([spec.schema.field(n) for n in spec.partition_by]), flavor="hive")
    filesystem, (base_dir, *files) = arrow_paths(root, [_join(root, table), *paths])
    dataset = ds.dataset(files, schema=spec.schema, format="parquet", partitioning=partitioning,
                         partition_base_dir=base_dir, filesystem=filesystem)
    return dataset.to_table()


def staged_files(warehouse: str, run_id: str) -> list[str]:
    """Paths of a staged run's Parquet files, relative to its staging folder."""
    stage = staging_dir(warehouse, run_id)
    return sorted(p[len(stage):].lstrip("/") for t in TABLES for p in list_parquet(stage, t))


def commit_run(warehouse: str, run_id: str, source_keys: Sequence[str], manifest: dict,
               expected: Optional[Sequence[str]] = None) -> list[str]:
    """Move a run's staged files into the warehouse, replacing earlier files of the same inputs.

    `expected` (paths relative to the staging folder, from `staged_files` taken before the commit) makes
    a commit that was killed half-way safe to repeat: files it already moved are kept, not deleted as
    "earlier files", and the rest are moved now.
    """
    stage = staging_dir(warehouse, run_id)
    expected_targets = {_join(warehouse, rel) for rel in (expected or ())}
    moved: list[str] = []
    for table in TABLES:
        staged = list_parquet(stage, table)
        targets = [warehouse + p[len(stage):] for p in staged]
        keep = expected_targets | set(targets)  # a rename replaces a same-named file anyway
        old = [p for p in list_parquet(warehouse, table, source_keys) if p not in keep]
        if old:
            FileSystems.delete(old)
        for t in targets:
            make_dirs(posixpath.dirname(t) if is_url(t) else os.path.dirname(t))
        if staged:
            FileSystems.rename(staged, targets)
        moved.extend(targets)
    moved = sorted(set(moved) | {t for t in expected_targets if FileSystems.exists(t)})
    runs = _join(warehouse, RUNS)
    make_dirs(runs)
    manifest = dict(manifest, files=[p[len(warehouse):].lstrip("/") for p in moved])
    with FileSystems.create(_join(runs, f"{run_id}.json")) as fh:
        fh.write(json.dumps(manifest, indent=2, default=str).encode())
    try:
        if is_url(stage):
            FileSystems.delete([stage])
        else:
            shutil.rmtree(stage)
            if os.path.exists(staging_lock_path(stage)):
                os.remove(staging_lock_path(stage))
            os.rmdir(os.path.dirname(stage)) if not os.listdir(os.path.dirname(stage)) else None
    except OSError:  # an empty staging dir left behind is harmless
        pass
    return moved


def input_index(warehouse: str) -> dict[str, str]:
    """{input path: content key} of every input committed so far."""
    path = _join(warehouse, INPUTS)
    if not FileSystems.exists(path):
        return {}
    with FileSystems.open(path) as fh:
        return json.loads(fh.read().decode("utf-8"))


def write_input_index(warehouse: str, index: dict[str, str]) -> None:
    path = _join(warehouse, INPUTS)
    tmp = f"{path}.tmp-{os.getpid()}"
    with FileSystems.create(tmp) as fh:
        fh.write(json.dumps(index, indent=1, sort_keys=True).encode())
    if is_url(path):
        FileSystems.rename([tmp], [path])
    else:
        os.replace(tmp, path)
