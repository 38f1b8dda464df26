"""A revision lands once: a wiki's revision id once per wiki, an arXiv paper's version once per paper,
across the inputs of a run and against what is committed already.

The reader quarantines a revision id seen twice in one file, and the arXiv reader a paper's version seen
twice in one file. Here, after a run is staged and before it is committed, the same holds across files
(a dump downloaded again as another file, a paper's versions exported again with a newer one): the copy
that was there first (committed, or from the input listed first) stays, and every later copy is taken out
of its input's staged rows (revision, pair and the pair's diff rows) and becomes a quarantine row with
reason `duplicate_rev_id`. The books still balance: each revision read is one pair or one quarantine row
either way. One exception: a copy that holds the text beats one that does not (a stub dump's). A stub
mined first and the full-text dump after it would otherwise never give an edit; the stub's committed
rows of those revisions are taken out instead, with one `superseded_copy` event row. So is a copy whose
pair lacks its parent (a current-revisions dump's copy of a page's last revision) where the full history
has it: keeping it cost the history's pair into that revision, the page's last edit.

DuckDB does the search out of core, reading only the identifying columns of the Parquet files.

Before a run, `held_revisions` gives the revisions stored already (a wiki's revision ids, arXiv papers'
versions), so the read sends none of their pairs to the diff stage: they would be diffed, labelled and
summarised only to be taken out here. A monthly full-history dump repeats every earlier revision, and
diffing it all again was the whole cost of the month's run.
"""
from __future__ import annotations

import os
import re
from collections import defaultdict
from typing import Optional

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from revmine.pipeline.arxiv import WIKI as ARXIV
from revmine.pipeline.pair import PARENT_NOT_FOUND, PARENT_TEXT_UNAVAILABLE
from revmine.pipeline.read import ROWS_OF_A_STORED_COPY
from revmine.schemas import TABLES, Quarantine
from revmine.schemas.names import is_url, url_scheme
from revmine.warehouse.layout import list_parquet, write_records

_KEY = re.compile(r"part-([0-9a-z]+)-")
_HIVE = "hive_partitioning = true, hive_types = {'wiki': VARCHAR, 'year': SMALLINT}"
# Tables whose rows a later copy of a revision takes out: its revision row (wikis only), its pair (by
# pair id, for wikis and arXiv alike) and the pair's diff rows; then its pair-level quarantine rows.
_BY_REV = ("revisions", "revision_pairs")
_BY_PAIR = ("sentences", "alignments", "edits", "node_changes", "diffs", "summaries")
# A pair skipped for these found no parent text in its own file: a current-revisions dump's copy of a page's
# last revision. Where another input has that revision with its parent, that copy is the better one.
_ORPHANED_SQL = f"('{PARENT_NOT_FOUND}', '{PARENT_TEXT_UNAVAILABLE}')"


def _consecutive_sql(new_version: str) -> str:
    """Whether an arXiv pair is from the version just before (v2-v3, or a paper's first version), not one
    across a missing version (v1-v3, from an input that lacks v2): such a copy is kept, and held, before it."""
    return f"coalesce(old_rev_id = {new_version} - 1, true)"


# What names one revision, and where it is found: a wiki's revision id in its revisions table; an arXiv
# paper's version (the paper as page id) in its pairs, since arXiv inputs have no revisions rows.
_IDENTITIES = (
    ("revisions", "rev_id", "NULL::BIGINT AS page_id, NULL::VARCHAR AS pair_id, has_text", ("rev_id",),
     lambda wiki: wiki != ARXIV),
    ("revision_pairs", "new_rev_id AS rev_id", "page_id, pair_id, true AS has_text, old_rev_id", ("page_id", "rev_id"),
     lambda wiki: wiki == ARXIV),
)


class UnreadableWarehouse(ValueError):
    """A committed Parquet file cannot be read, so a run cannot be checked against it: nothing is committed."""


def _unreadable(warehouse: str, table: str, exc: Exception) -> UnreadableWarehouse:
    named = re.search(r"[/\\]([a-z_]+)[/\\]wiki=", str(exc))  # a query over two tables: the file says which
    table = named.group(1) if named and named.group(1) in TABLES else table
    return UnreadableWarehouse(f"{warehouse}: the {table} table cannot be read, so this run's revisions cannot be "
                               f"checked against it and nothing was committed: {str(exc).splitlines()[0]}")


class RemoteUnchecked(RuntimeError):
    """A remote warehouse whose files DuckDB cannot reach here: fsspec has no file system for its scheme."""


def connect(warehouse: str) -> duckdb.DuckDBPyConnection:
    """DuckDB for the warehouse's Parquet files. A remote warehouse's go through fsspec (gcsfs for gs://,
    s3fs for s3://), which DuckDB reads without its httpfs extension (a download, which workers without
    the internet cannot make); RemoteUnchecked, naming what to install, where fsspec has none."""
    con = duckdb.connect()
    if is_url(warehouse):
        import fsspec

        scheme = url_scheme(warehouse)
        try:
            con.register_filesystem(fsspec.filesystem(scheme))
        except (ImportError, ValueError) as exc:
            con.close()
            raise RemoteUnchecked(f"{scheme}:// files cannot be read here ({str(exc).splitlines()[0]})") from exc
    return con


def _key_of(path: str) -> str:
    return _KEY.search(os.path.basename(path)).group(1)


def _wiki_of(path: str) -> str:
    return next(p[5:] for p in path.split(os.sep) if p.startswith("wiki="))


def _committed(warehouse: str, table: str, wanted, skip: set) -> list[str]:
    """The committed Parquet files of `table` for the wikis `wanted` accepts, but those of the keys in `skip`."""
    return [p for p in list_parquet(warehouse, table) if wanted(_wiki_of(p)) and _key_of(p) not in skip]


def find_duplicates(warehouse: str, stage_dir: str, keys_in_order: list[str], replaced: list[str],
                    supersede: bool = True) -> tuple[dict, dict]:
    """({staged key: [(wiki, rev_id, source_file, first_file, page_id, pair_id)]} for revisions another input
    has already (page_id and pair_id are set for arXiv versions, None for wiki revisions), and {committed
    key: [(wiki, rev_id, source_file, new_file, pair_id)]} for committed copies that a better staged copy
    replaces: the copy kept, committed or not, is one that holds its text (not a stub dump's), then one whose
    pair found its parent (not a current-revisions dump's); for an arXiv version, one paired with the version
    before it (not across a missing one). Unless `supersede` is off (a remote warehouse, whose committed files
    are not rewritten; jobs, which stage in parallel): then a committed copy stays."""
    skip = set(keys_in_order) | set(replaced)
    out: dict = defaultdict(list)
    superseded: dict = defaultdict(list)
    con = connect(warehouse)
    try:
        con.register("ranks", pa.table({"key": list(keys_in_order), "rank": list(range(1, len(keys_in_order) + 1))}))
        for table, rev_id, extra, ident, wanted in _IDENTITIES:
            staged = [p for p in list_parquet(stage_dir, table) if wanted(_wiki_of(p))]
            if not staged:
                continue
            committed = _committed(warehouse, table, wanted, skip)
            by = ", ".join(("wiki",) + ident)
            scan = (f"SELECT wiki, {rev_id}, {extra}, source_file, "
                    f"regexp_extract(parse_filename(filename), '{_KEY.pattern}', 1) AS key "
                    "FROM read_parquet({}, " + _HIVE.replace("{", "{{").replace("}", "}}") + ", filename = true)")
            sources, params, committed_cte = "SELECT * FROM s", {"staged": staged}, ""
            if committed:
                committed_cte = (f", c AS (SELECT x.*, 0 AS rank FROM ({scan.format('$committed')}) x "
                                 f"SEMI JOIN s USING ({by}))")
                sources += " UNION ALL SELECT * FROM c"
                params["committed"] = committed
            better, pairs_cte, copies = "", "", "a"
            if supersede and table == "revisions":
                # The copy to keep: one with its text, then one whose pair found its parent in its own file
                # (a current-revisions dump's copy of a page's last revision has none, and keeping it cost
                # the history's pair into that revision, the page's last edit).
                pair_files = ([p for p in list_parquet(stage_dir, "revision_pairs") if wanted(_wiki_of(p))]
                              + _committed(warehouse, "revision_pairs", wanted, skip))
                if pair_files:  # duckdb refuses a parameter the query does not use
                    params["pairs"] = pair_files
                pairs_cte = (", q AS (SELECT wiki, new_rev_id AS rev_id, skip_reason, regexp_extract(parse_filename("
                             f"filename), '{_KEY.pattern}', 1) AS key FROM read_parquet($pairs, {_HIVE}, "
                             "filename = true, union_by_name = true) WHERE new_rev_id IN (SELECT rev_id FROM s))"
                             if pair_files else ", q AS (SELECT NULL::VARCHAR AS wiki, NULL::BIGINT AS rev_id, "
                             "NULL::VARCHAR AS skip_reason, NULL::VARCHAR AS key WHERE false)")
                copies = "(SELECT a.*, q.skip_reason FROM a LEFT JOIN q USING (wiki, rev_id, key)) a"
                better = ("coalesce(has_text, true)::INT * 2 "
                          f"+ (coalesce(skip_reason, '') NOT IN {_ORPHANED_SQL})::INT DESC,")
            elif table == "revision_pairs":
                # An arXiv version's pair from its predecessor before one across a gap (v1-v3 from an input
                # that lacks v2): the gapped pair holds two edits in one. A committed one is replaced only
                # where committed files are rewritten.
                better = ("" if supersede else "(rank = 0) DESC, ") + f"{_consecutive_sql('rev_id')} DESC,"
            try:
                rows = con.execute(f"""
                    WITH s AS (SELECT x.*, ranks.rank FROM ({scan.format('$staged')}) x JOIN ranks USING (key))
                         {committed_cte},
                         a AS ({sources}),
                         g AS (SELECT {by} FROM a GROUP BY ALL HAVING count(DISTINCT key) > 1)
                         {pairs_cte}
                    SELECT wiki, rev_id, page_id, pair_id, rank, key, source_file FROM {copies} SEMI JOIN g USING ({by})
                    ORDER BY wiki, page_id NULLS FIRST, rev_id, {better} rank, key""", params).fetchall()
            except duckdb.Error as exc:  # a damaged part file (a copy cut short): duckdb names it
                raise _unreadable(warehouse, table, exc) from exc
            first: dict = {}
            for wiki, rev, page_id, pair_id, rank, key, source_file in rows:
                kept = first.setdefault((wiki, page_id, rev), (key, source_file))
                if key != kept[0] and rank > 0:
                    out[key].append((wiki, rev, source_file, kept[1], page_id, pair_id))
                elif key != kept[0]:  # committed without text or parent, and this run has a better copy
                    superseded[key].append((wiki, rev, source_file, kept[1], pair_id or f"{wiki}:{rev}"))
    finally:
        con.close()
    return dict(out), dict(superseded)


class HeldRevisions:
    """Revisions committed already. A wiki's revision ids: one bit per id up to the wiki's largest (12.5 MB
    for ids reaching 100 million), or, where the ids are sparser than one in 64 (a dump's odd huge id), the
    sorted ids. arXiv versions, which are named by paper and version: the sorted (paper, version) pairs."""

    def __init__(self, held: dict[str, tuple[str, np.ndarray]],
                 versions: Optional[tuple[np.ndarray, np.ndarray]] = None):
        self.held = held  # wiki -> ("bits", bitmap) | ("ids", sorted ids)
        self.versions = versions or (_NO_IDS, _NO_IDS)  # arXiv: page ids (sorted) and their versions

    def __contains__(self, item: tuple[str, Optional[int], int]) -> bool:
        wiki, page_id, rev_id = item
        if wiki == ARXIV:
            pages, versions = self.versions
            lo, hi = np.searchsorted(pages, page_id, "left"), np.searchsorted(pages, page_id, "right")
            return bool((versions[lo:hi] == rev_id).any())
        kind, a = self.held.get(wiki, ("ids", _NO_IDS))
        if kind == "bits":
            return 0 <= rev_id < 8 * len(a) and bool(a[rev_id >> 3] >> (rev_id & 7) & 1)
        at = int(np.searchsorted(a, rev_id))
        return at < len(a) and int(a[at]) == rev_id

    def __len__(self) -> int:
        return len(self.versions[0]) + sum(int(np.unpackbits(a).sum()) if kind == "bits" else len(a)
                                           for kind, a in self.held.values())


_NO_IDS = np.zeros(0, dtype=np.int64)


def held_revisions(warehouse: str, skip: set) -> HeldRevisions:
    """The revisions committed in `warehouse` by inputs whose keys are not in `skip` (this run's own keys
    and the keys it replaces): exactly those `find_duplicates` would find already stored. Memory: at most
    8 bytes a committed wiki revision, 16 an arXiv version."""
    (revisions, *_, is_wiki), (pairs, *_, is_arxiv) = _IDENTITIES  # where find_duplicates looks, and for whom
    committed, papers = _committed(warehouse, revisions, is_wiki, skip), _committed(warehouse, pairs, is_arxiv, skip)
    con = connect(warehouse)
    bits: dict = {}
    ids: dict = {}
    versions = None
    table = revisions  # the one being read, for the message if it cannot be
    try:
        if committed:
            # A copy that find_duplicates would replace is not held, so the better copy is diffed: one without
            # text (a stub dump's), or whose pair did not find its parent (a current-revisions dump's).
            scan, params = f"FROM read_parquet($files, {_HIVE}) WHERE rev_id >= 0 AND coalesce(has_text, true)", \
                {"files": committed}
            orphans = _committed(warehouse, "revision_pairs", is_wiki, skip)
            if orphans:
                scan += (f" AND (wiki, rev_id) NOT IN (SELECT wiki, new_rev_id FROM read_parquet($pairs, {_HIVE}, "
                         f"union_by_name = true) WHERE skip_reason IN {_ORPHANED_SQL} AND new_rev_id IS NOT NULL)")
                params["pairs"] = orphans
            sizes = con.execute(f"SELECT wiki, max(rev_id), count(*) {scan} GROUP BY wiki", params).fetchall()
            bits = {wiki: np.zeros(top // 8 + 1, dtype=np.uint8) for wiki, top, n in sizes if top // 8 <= 8 * n}
            ids = {wiki: [] for wiki, *_ in sizes if wiki not in bits}
            for batch in con.sql(f"SELECT wiki, rev_id {scan}", params=params).to_arrow_reader(1 << 20):
                wikis, rev_ids = batch.column(0), batch.column(1).to_numpy(zero_copy_only=False)
                for wiki in pc.unique(wikis).to_pylist():
                    chosen = rev_ids[pc.equal(wikis, wiki).to_numpy(zero_copy_only=False)]
                    if wiki in bits:
                        np.bitwise_or.at(bits[wiki], chosen >> 3, (1 << (chosen & 7)).astype(np.uint8))
                    else:
                        ids[wiki].append(chosen)
        if papers:
            table = pairs
            # a version paired across a missing one (v1-v3) is not held: a copy with the version between is better
            got = con.execute(f"SELECT page_id, new_rev_id FROM read_parquet($files, {_HIVE}) "
                              "WHERE page_id IS NOT NULL AND new_rev_id IS NOT NULL "
                              f"AND {_consecutive_sql('new_rev_id')} ORDER BY ALL",
                              {"files": papers}).fetchnumpy()
            versions = (np.asarray(got["page_id"], dtype=np.int64), np.asarray(got["new_rev_id"], dtype=np.int64))
    except duckdb.Error as exc:
        raise _unreadable(warehouse, table, exc) from exc
    finally:
        con.close()
    return HeldRevisions({**{w: ("bits", b) for w, b in bits.items()},
                          **{w: ("ids", np.unique(np.concatenate(parts))) for w, parts in ids.items()}}, versions)


def retire_superseded(warehouse: str, stage_dir: str, superseded: dict) -> int:
    """Stage, for the commit to move over the committed ones, each committed file of `superseded` copies
    without their revision and pair rows (`superseded_events` gives the event row per input: its revisions
    land once, as the better copies). Call it after the run's own books are read: these files are other
    inputs' rows. Local warehouses only (find_duplicates supersedes nothing otherwise). Returns how many."""
    n = 0
    for key, copies in superseded.items():
        for table in _BY_REV + _BY_PAIR:
            for path in list_parquet(warehouse, table, [key]):
                wiki = _wiki_of(path)
                kept = _without(pq.read_table(path, partitioning=None), table,
                                [r for w, r, *_ in copies if w == wiki], [pair for w, *_, pair in copies if w == wiki])
                if kept is not None:
                    target = stage_dir + path[len(warehouse):]
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    TABLES[table].validate(kept, file_only=True, where=f" ({path})")
                    pq.write_table(kept, target, compression="zstd")
        n += len(copies)
    return n


def superseded_events(superseded: dict) -> list[tuple[str, Quarantine]]:
    """One event row per input whose copies a better dump replaced, with the file of that dump (the row is
    staged as that input's, and replaced with it)."""
    out = []
    for copies in superseded.values():
        wiki, _, source, new, _ = copies[0]
        what = ("version(s) paired across a missing version" if wiki == ARXIV else
                "revision(s) stored without their text (a stub dump) or their parent (a current-revisions dump)")
        out.append((new, Quarantine(wiki=wiki, level="file", reason="superseded_copy",
                              detail=f"{source}: {len(copies):,} {what} are replaced by their copies from {new}",
                              source_file=source,
                              byte_offset=None, line=None, column=None, page_id=None, rev_id=None, stage="commit",
                              n_revisions=0)))
    return out


def _without(t: pa.Table, table: str, rev_ids: list, pair_ids: list) -> Optional[pa.Table]:
    """`t` (revisions, pairs or a pair's diff rows) without the rows of `rev_ids` (revisions) or `pair_ids`
    (the other tables); None if no row goes."""
    if table == "revisions":
        keep = pc.invert(pc.is_in(t.column("rev_id"), value_set=pa.array(rev_ids, type=pa.int64())))
    else:
        keep = pc.invert(pc.is_in(t.column("pair_id"), value_set=pa.array(sorted(pair_ids), type=pa.string())))
    kept = t.filter(keep)
    return kept if kept.num_rows != t.num_rows else None


def remove_duplicates(stage_dir: str, duplicates: dict) -> int:
    """Take each later copy out of its input's staged rows and quarantine it; returns how many."""
    n = 0
    for key, dups in duplicates.items():
        revs = {(w, r) for w, r, _, _, page, _ in dups if page is None}
        versions = {f"{page}:{r}" for w, r, _, _, page, _ in dups if page is not None}
        pairs = {f"{w}:{r}" for w, r in revs} | {pair for *_, pair in dups if pair is not None}
        for table in _BY_REV + _BY_PAIR + ("quarantine",):
            for path in list_parquet(stage_dir, table, [key]):
                wiki = _wiki_of(path)
                ids = [r for w, r in revs if w == wiki]
                t = pq.read_table(path, partitioning=None)
                if table == "quarantine":
                    if wiki == ARXIV:  # a paper's version: the paper's page id and the version
                        named = pc.binary_join_element_wise(pc.cast(t.column("page_id"), pa.string()),
                                                            pc.cast(t.column("rev_id"), pa.string()), ":")
                        hit = pc.is_in(named, value_set=pa.array(sorted(versions), type=pa.string()))
                    else:
                        hit = pc.is_in(t.column("rev_id"), value_set=pa.array(ids, type=pa.int64()))
                    # a pair-level row of a removed pair goes with it, and so does a row of the removed copy
                    # itself (oversized_text: stored without text; counted twice with duplicate_rev_id)
                    own = pc.and_(pc.equal(t.column("level"), "revision"),
                                  pc.is_in(t.column("reason"), value_set=pa.array(ROWS_OF_A_STORED_COPY)))
                    kept = t.filter(pc.invert(pc.fill_null(pc.and_(pc.or_(pc.equal(t.column("level"), "pair"), own),
                                                                   hit), False)))
                    kept = kept if kept.num_rows != t.num_rows else None
                else:
                    kept = _without(t, table, ids, list(pairs))
                if kept is not None:
                    TABLES[table].validate(kept, file_only=True, where=f" ({path})")
                    pq.write_table(kept, path, compression="zstd")
        write_records(stage_dir, f"{key}-dup", [
            Quarantine(wiki=w, level="revision", reason="duplicate_rev_id",
                       detail=(f"{source}: revision {r} is already in {first}; this copy is not stored" if page is None
                               else f"{source}: {pair.split(':')[1]} version {r} is already in {first}; "
                                    "this copy is not stored"),
                       source_file=source, byte_offset=None, line=None, column=None, page_id=page, rev_id=r,
                       stage="commit", n_revisions=1) for w, r, source, first, page, pair in dups])
        n += len(dups)
    return n
