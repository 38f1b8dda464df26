"""DuckDB catalog: one view per table over its Parquet files, queryable without revmine.

    duckdb WAREHOUSE/catalog.duckdb "SELECT count(*) FROM revision_pairs"

Views use absolute paths; after moving a warehouse, run `revmine catalog WAREHOUSE` to refresh.
"""
from __future__ import annotations

import os
from typing import Optional

import duckdb
import pyarrow as pa

from revmine.schemas import TABLES, Table
CATALOG = "catalog.duckdb"

_DUCK_TYPES = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.int32(): "INTEGER", pa.int16(): "SMALLINT",
               pa.bool_(): "BOOLEAN", pa.float64(): "DOUBLE", pa.float32(): "FLOAT",
               pa.timestamp("s", tz="UTC"): "TIMESTAMPTZ"}


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_list(t):
        return _duck_type(t.value_type) + "[]"
    return _DUCK_TYPES[t]


def _empty_view(table: Table) -> str:
    cols = ", ".join(f"CAST(NULL AS {_duck_type(f.type)}) AS \"{f.name}\"" for f in table.schema)
    return f"SELECT {cols} WHERE false"


def _view_sql(warehouse: str, table: Table) -> str:
    root = os.path.abspath(os.path.join(warehouse, table.name))
    depth = len(table.partition_by)
    glob = os.path.join(root, *(["*"] * depth), "*.parquet")
    has_files = os.path.isdir(root) and any(f.endswith(".parquet") for _, _, fs in os.walk(root) for f in fs)
    if not has_files:
        return _empty_view(table)
    cols = ", ".join(f"\"{n}\"" for n in table.columns)  # declared column order, partitions included
    glob_sql = glob.replace("'", "''")
    return (f"SELECT {cols} FROM read_parquet('{glob_sql}', hive_partitioning = true, "
            f"hive_types = {{'wiki': VARCHAR{', year: SMALLINT' if 'year' in table.partition_by else ''}}})")


def build_catalog(warehouse: str) -> str:
    """(Re)create WAREHOUSE/catalog.duckdb with a view per table; returns its path."""
    path = os.path.join(warehouse, CATALOG)
    tmp = path + ".tmp"
    if os.path.exists(tmp):
        os.remove(tmp)
    con = duckdb.connect(tmp)
    try:
        con.execute("SET TimeZone = 'UTC'")
        for table in TABLES.values():
            con.execute(f"CREATE OR REPLACE VIEW {table.name} AS {_view_sql(warehouse, table)}")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, path)  # readers never see a half-built catalog
    return path


def connect(warehouse: str, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    path = os.path.join(warehouse, CATALOG)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: is {warehouse!r} a revmine warehouse? "
                                f"(run `revmine run ... --out {warehouse}` or `revmine catalog {warehouse}`)")
    con = duckdb.connect(path, read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    return con


def query(warehouse: str, sql: str, limit: Optional[int] = None) -> tuple[list[str], list[tuple]]:
    con = connect(warehouse)
    try:
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchmany(limit) if limit else cur.fetchall()
        return cols, rows
    finally:
        con.close()
