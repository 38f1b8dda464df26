"""A revision id lands once per wiki: across the inputs of a run, and against what is committed already.

The reader quarantines a revision id seen twice in one file. Here, after a run is staged and before
it is committed, the same holds across files: the copy that was there first (committed, or from the
input listed first) stays, and every later copy is taken out of its input's staged rows (revision,
pair and the pair's diff rows) and becomes a quarantine row with reason `duplicate_rev_id`. The books
still balance: each revision read is one pair or one quarantine row either way.

DuckDB does the search out of core, reading only the rev_id column of the Parquet files.
"""
from __future__ import annotations

import os
import re
from collections import defaultdict

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from revmine.schemas import TABLES, Quarantine
from revmine.warehouse.layout import list_parquet, write_records

_KEY = re.compile(r"part-([0-9a-z]+)-")
# Tables whose rows belong to one revision: the column that names it, and how.
_BY_REV = {"revisions": "rev_id", "revision_pairs": "new_rev_id"}
_BY_PAIR = ("sentences", "alignments", "edits", "node_changes", "diffs", "summaries")


def _key_of(path: str) -> str:
    return _KEY.search(os.path.basename(path)).group(1)


def _wiki_of(path: str) -> str:
    return next(p[5:] for p in path.split(os.sep) if p.startswith("wiki="))


def find_duplicates(warehouse: str, stage_dir: str, keys_in_order: list[str], replaced: list[str]) -> dict:
    """{staged key: [(wiki, rev_id, source_file, first_file)]} for revision ids another input has already."""
    staged = list_parquet(stage_dir, "revisions")
    if not staged:
        return {}
    skip = set(keys_in_order) | set(replaced)
    committed = [p for p in list_parquet(warehouse, "revisions") if _key_of(p) not in skip]
    scan = (f"SELECT wiki, rev_id, source_file, regexp_extract(parse_filename(filename), '{_KEY.pattern}', 1) AS key "
            "FROM read_parquet({}, hive_partitioning = true, hive_types = {{'wiki': VARCHAR, 'year': SMALLINT}}, "
            "filename = true)")
    con = duckdb.connect()
    try:
        con.register("ranks", pa.table({"key": list(keys_in_order), "rank": list(range(1, len(keys_in_order) + 1))}))
        sources, params = "SELECT * FROM s", {"staged": staged}
        committed_cte = ""
        if committed:
            committed_cte = (f", c AS (SELECT x.*, 0 AS rank FROM ({scan.format('$committed')}) x "
                             "SEMI JOIN s USING (wiki, rev_id))")
            sources += " UNION ALL SELECT * FROM c"
            params["committed"] = committed
        rows = con.execute(f"""
            WITH s AS (SELECT x.*, ranks.rank FROM ({scan.format('$staged')}) x JOIN ranks USING (key))
                 {committed_cte},
                 a AS ({sources}),
                 g AS (SELECT wiki, rev_id FROM a GROUP BY ALL HAVING count(DISTINCT key) > 1)
            SELECT wiki, rev_id, rank, key, source_file FROM a SEMI JOIN g USING (wiki, rev_id)
            ORDER BY wiki, rev_id, rank, key""", params).fetchall()
    finally:
        con.close()
    out: dict = defaultdict(list)
    first: dict = {}
    for wiki, rev_id, rank, key, source_file in rows:
        kept = first.setdefault((wiki, rev_id), (key, source_file))
        if key != kept[0] and rank > 0:
            out[key].append((wiki, rev_id, source_file, kept[1]))
    return dict(out)


def remove_duplicates(stage_dir: str, duplicates: dict) -> int:
    """Take each later copy out of its input's staged rows and quarantine it; returns how many."""
    n = 0
    for key, dups in duplicates.items():
        revs = {(w, r) for w, r, _, _ in dups}
        pairs = {f"{w}:{r}" for w, r in revs}
        for table in list(_BY_REV) + list(_BY_PAIR) + ["quarantine"]:
            for path in list_parquet(stage_dir, table, [key]):
                wiki = _wiki_of(path)
                ids = pa.array([r for w, r in revs if w == wiki], type=pa.int64())
                t = pq.read_table(path, partitioning=None)
                if table in _BY_REV:
                    keep = pc.invert(pc.is_in(t.column(_BY_REV[table]), value_set=ids))
                elif table == "quarantine":  # a pair-level row of a removed pair goes with it
                    hit = pc.and_(pc.equal(t.column("level"), "pair"), pc.is_in(t.column("rev_id"), value_set=ids))
                    keep = pc.invert(pc.fill_null(hit, False))
                else:
                    keep = pc.invert(pc.is_in(t.column("pair_id"), value_set=pa.array(sorted(pairs), type=pa.string())))
                kept = t.filter(keep)
                if kept.num_rows != t.num_rows:
                    TABLES[table].validate(kept, file_only=True, where=f" ({path})")
                    pq.write_table(kept, path, compression="zstd")
        write_records(stage_dir, f"{key}-dup", [
            Quarantine(wiki=w, level="revision", reason="duplicate_rev_id",
                       detail=f"{source}: revision {r} is already in {first}; this copy is not stored",
                       source_file=source, byte_offset=None, line=None, column=None, page_id=None, rev_id=r,
                       stage="commit", n_revisions=1) for w, r, source, first in dups])
        n += len(dups)
    return n
