"""Hub export shards: one sort cut into shards as it is written (`export.write_shards`) against a sort per
shard (`ORDER BY ... LIMIT ... OFFSET`, the code before), in one process on one synthetic DuckDB table.

    python benchmarks/hub_shards.py [--rows 3000000] [--shard 500000]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time


def main(argv=None) -> int:
    import duckdb

    from revmine.warehouse.export import write_shards

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--shard", type=int, default=500_000)
    args = ap.parse_args(argv)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT (i % 7)::VARCHAR AS wiki, (i % 13)::SMALLINT AS year, i, "
                f"repeat('x', 50) AS s FROM range({args.rows}) r(i)")
    sql = "SELECT * FROM t ORDER BY wiki, year"
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        for k in range(0, args.rows, args.shard):
            path = os.path.join(tmp, f"old-{k // args.shard:05d}.parquet")
            con.execute(f"COPY ({sql} LIMIT {args.shard} OFFSET {k}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
        per_shard = time.perf_counter() - started
        started = time.perf_counter()
        files = write_shards(con, sql, os.path.join(tmp, "new"), rows=args.shard)
        one_sort = time.perf_counter() - started
    print(f"{args.rows:,} rows in shards of {args.shard:,}: a sort per shard {per_shard:.2f} s, "
          f"one sort cut as written {one_sort:.2f} s ({len(files)} files)")
    print(f"a sort per shard / one sort: {per_shard / one_sort:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
