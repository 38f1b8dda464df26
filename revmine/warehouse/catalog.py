"""DuckDB catalog: one view per table over its Parquet files, queryable without revmine.

    duckdb WAREHOUSE/catalog.duckdb "SELECT count(*) FROM revision_pairs"

Views use absolute paths, so the catalog opens from any folder. A warehouse moved or copied elsewhere
keeps a catalog naming the old folder's files: `connect` notices and builds it again in place (or, where
the folder cannot be written, says to run `revmine catalog WAREHOUSE`), so nothing reads the old copy.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import uuid
from typing import Iterator, Optional

import duckdb
import pyarrow as pa

from revmine.schemas import TABLES, Table
from revmine.schemas.names import is_url

log = logging.getLogger(__name__)
CATALOG = "catalog.duckdb"

_DUCK_TYPES = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.int32(): "INTEGER", pa.int16(): "SMALLINT",
               pa.bool_(): "BOOLEAN", pa.float64(): "DOUBLE", pa.float32(): "FLOAT",
               pa.timestamp("s", tz="UTC"): "TIMESTAMPTZ", pa.timestamp("ms", tz="UTC"): "TIMESTAMPTZ"}
# `revmine query` runs only statements that read: COPY, EXPORT, ATTACH, INSTALL, SET ... are refused.
READ_ONLY_STATEMENTS = {"SELECT", "EXPLAIN"}


class CatalogError(ValueError):
    """The warehouse's Parquet files cannot all be read, so the catalog is not (re)built."""


class QueryRefused(ValueError):
    """A statement that could write, attach or reconfigure: `revmine query` only reads."""


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_list(t):
        return _duck_type(t.value_type) + "[]"
    return _DUCK_TYPES[t]


def _empty_view(table: Table) -> str:
    cols = ", ".join(f"CAST(NULL AS {_duck_type(f.type)}) AS \"{f.name}\"" for f in table.schema)
    return f"SELECT {cols} WHERE false"


def parquet_source(warehouse: str, table: Table, options: str = "") -> Optional[str]:
    """`read_parquet(...)` over a table's files with its partition columns typed (and `options`, such as
    `file_row_number = true`), or None when the table has no file yet."""
    root = os.path.abspath(os.path.join(warehouse, table.name))
    glob = os.path.join(root, *(["*"] * len(table.partition_by)), "*.parquet")
    if not (os.path.isdir(root) and any(f.endswith(".parquet") for _, _, fs in os.walk(root) for f in fs)):
        return None
    glob_sql = glob.replace("'", "''")
    # union_by_name: files written before a column was added read it as NULL
    return (f"read_parquet('{glob_sql}', hive_partitioning = true, union_by_name = true, "
            f"hive_types = {{'wiki': VARCHAR{', year: SMALLINT' if 'year' in table.partition_by else ''}}}"
            f"{', ' + options if options else ''})")


def _view_sql(warehouse: str, table: Table, con: duckdb.DuckDBPyConnection) -> str:
    source = parquet_source(warehouse, table)
    if source is None:
        return _empty_view(table)
    # a column that no file has yet (a warehouse written wholly by an earlier version) is a typed NULL, so
    # the view still binds
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    cols = ", ".join(f"\"{f.name}\"" if f.name in present else f"CAST(NULL AS {_duck_type(f.type)}) AS \"{f.name}\""
                     for f in table.schema)  # declared column order, partitions included
    return f"SELECT {cols} FROM {source}"


def has_pattern_char(path: str) -> bool:
    """Whether a path holds a character that Beam's match and DuckDB's read_parquet read as a pattern: a
    warehouse there cannot find its own files (`wh[1]/edits/**` matches `wh1`)."""
    return any(c in path for c in "*?[")


def build_catalog(warehouse: str) -> str:
    """(Re)create WAREHOUSE/catalog.duckdb with a view per table; returns its path.

    Built under a name private to this process, then renamed over the old one: readers and a
    concurrent builder never see a catalog without its views."""
    if has_pattern_char(os.path.abspath(warehouse)):
        raise CatalogError(f"{os.path.abspath(warehouse)}: the path holds a pattern character (*, ? or [), so "
                           "the catalog's views would not find the warehouse's files; move it to a folder whose "
                           "path has none")
    path = os.path.join(warehouse, CATALOG)
    tmp = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    con = duckdb.connect(tmp)
    try:
        con.execute("SET TimeZone = 'UTC'")
        for table in TABLES.values():
            try:
                con.execute(f"CREATE OR REPLACE VIEW {table.name} AS {_view_sql(warehouse, table, con)}")
            except duckdb.Error as exc:  # a damaged Parquet file (a copy cut short): duckdb names it
                raise CatalogError(f"{warehouse}: the {table.name} table cannot be read, so no catalog was "
                                   f"built: {str(exc).splitlines()[0]}") from exc
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        for leftover in (tmp, tmp + ".wal"):
            if os.path.exists(leftover):
                os.remove(leftover)
        raise
    con.close()
    os.replace(tmp, path)
    if os.path.exists(tmp + ".wal"):
        os.remove(tmp + ".wal")
    return path


def connect(warehouse: str, read_only: bool = True, sandbox: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the catalog. `sandbox`: the file system is closed except for reading the warehouse itself,
    and the setting is locked, so the SQL run on this connection cannot change it back."""
    if is_url(warehouse):  # DuckDB's catalog file cannot live in a bucket, so none is built there
        raise FileNotFoundError(f"{warehouse} is remote and has no catalog: copy it to a folder and run "
                                "`revmine catalog FOLDER`, or point DuckDB's httpfs at its Parquet folders")
    path = os.path.join(warehouse, CATALOG)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: is {warehouse!r} a revmine warehouse? "
                                f"(run `revmine run ... --out {warehouse}` or `revmine catalog {warehouse}`)")
    con = duckdb.connect(path, read_only=read_only)
    elsewhere = _foreign_files(con, warehouse)
    if elsewhere:
        con.close()
        log.warning("%s names files under %s (the warehouse was moved or copied): building it again", path, elsewhere)
        try:
            build_catalog(warehouse)
        except OSError as exc:
            raise FileNotFoundError(f"{path} names files under {elsewhere}, not under {warehouse} (the warehouse was "
                                    f"moved or copied), and it cannot be rebuilt here ({exc}); run `revmine catalog "
                                    f"{warehouse}` where it can be written") from exc
        con = duckdb.connect(path, read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    if sandbox:
        # Both spellings: the views name files by absolute path, which may pass through a symlink.
        roots = sorted({os.path.join(os.path.realpath(warehouse), ""), os.path.join(os.path.abspath(warehouse), "")})
        con.execute("SET allowed_directories = ?", [roots])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    return con


_PARQUET_GLOB = re.compile(r"read_parquet\('((?:[^']|'')*)'")


def _foreign_files(con: duckdb.DuckDBPyConnection, warehouse: str) -> Optional[str]:
    """The folder a view reads outside `warehouse` (a catalog built before the warehouse moved), or None."""
    roots = (os.path.join(os.path.abspath(warehouse), ""), os.path.join(os.path.realpath(warehouse), ""))
    for (sql,) in con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall():
        for glob in _PARQUET_GLOB.findall(sql or ""):
            glob = glob.replace("''", "'")
            if not glob.startswith(roots):
                return os.path.dirname(glob.split("*")[0].rstrip("/"))
    return None


def check_read_only(sql: str, con: duckdb.DuckDBPyConnection) -> None:
    """Raise QueryRefused unless every statement in `sql` only reads."""
    for stmt in con.extract_statements(sql):
        kind = stmt.type.name
        if kind not in READ_ONLY_STATEMENTS:
            raise QueryRefused(f"{kind} statements are refused: `revmine query` only reads the warehouse "
                               f"(allowed: {', '.join(sorted(READ_ONLY_STATEMENTS))}). To export, use "
                               "`revmine export`, or open the catalog with duckdb yourself.")


def query(warehouse: str, sql: str, limit: Optional[int] = None) -> tuple[list[str], list[tuple]]:
    """Run read-only SQL over the catalog, with no file access outside the warehouse."""
    with query_batches(warehouse, sql, limit) as (cols, batches):
        return cols, [row for batch in batches for row in batch]


@contextlib.contextmanager
def query_batches(warehouse: str, sql: str, limit: Optional[int] = None, batch: int = 10_000):
    """(columns, an iterator of row batches) of read-only SQL over the catalog, at most `limit` rows in all:
    a result larger than memory (every sentence of a dump) streams."""
    con = connect(warehouse, sandbox=True)
    try:
        check_read_only(sql, con)
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description] if cur.description else []
        yield cols, fetch_batches(cur, batch, limit)
    finally:
        con.close()


def fetch_batches(cur, batch: int = 10_000, limit: Optional[int] = None) -> Iterator[list]:
    """The rows of an executed DuckDB statement, `batch` at a time and at most `limit` in all: a result
    larger than memory streams."""
    left = limit
    while left is None or left > 0:
        rows = cur.fetchmany(batch if left is None else min(batch, left))
        if not rows:
            return
        left = None if left is None else left - len(rows)
        yield rows
