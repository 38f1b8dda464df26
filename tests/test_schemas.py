"""Record types are declared once; Parquet is written and validated against the declaration."""
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from revmine.schemas import TABLES, Quarantine, Revision, RevisionPair, SchemaMismatch
from revmine.warehouse.layout import PartitionedWriter, read_table, write_records
from helpers import read_all


def test_arrow_schema_comes_from_the_dataclass():
    s = Revision.TABLE.schema
    assert s.field("rev_id").type == pa.int64() and not s.field("rev_id").nullable
    assert s.field("parent_id").nullable and s.field("comment").nullable
    assert s.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    assert "text" not in s.names and "problem" not in s.names  # transient, never stored
    assert "old_text" not in RevisionPair.TABLE.schema.names
    assert set(TABLES) >= {"revisions", "revision_pairs", "quarantine", "sources"}
    assert all(f.metadata and f.metadata[b"doc"] for f in s)  # every stored column is documented


def test_partition_columns_live_in_paths():
    assert Revision.TABLE.file_schema.names[:2] == ["page_id", "ns"]
    assert "wiki" not in RevisionPair.TABLE.file_schema.names and "year" not in RevisionPair.TABLE.file_schema.names


def test_null_in_non_null_column_is_rejected(sample_dump):
    rev = read_all(sample_dump)["revisions"][0]
    rev.title = None
    with pytest.raises((SchemaMismatch, pa.ArrowInvalid, pa.ArrowTypeError)):
        Revision.TABLE.to_arrow([rev])


def test_parquet_round_trip_is_exact(tmp_path, sample_dump):
    revs = read_all(sample_dump)["revisions"]
    (table, path, n), = write_records(str(tmp_path), "k1", [r for r in revs if r.year == 2005])
    assert table == "revisions" and "wiki=samplewiki/year=2005/part-k1-00000.parquet" in path
    assert n == sum(r.year == 2005 for r in revs) and path.endswith(".parquet")
    assert Revision.TABLE.validate_parquet(path) == n
    back = read_table(str(tmp_path), "revisions")
    assert back.column("wiki").to_pylist() == ["samplewiki"] * n
    first = [r for r in revs if r.year == 2005][0]
    assert back.column("timestamp")[0].as_py().timestamp() == first.timestamp
    assert not list(tmp_path.rglob("*.tmp"))  # written under a temp name, then renamed


def test_foreign_parquet_file_fails_validation(tmp_path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"page_id": ["not an int"]}), path)
    with pytest.raises(SchemaMismatch):
        Revision.TABLE.validate_parquet(str(path))


def test_quarantine_schema_accounts_revisions():
    assert Quarantine.TABLE.schema.field("n_revisions").type == pa.int64()


def test_writer_rotates_files_and_names_them_deterministically(tmp_path, sample_dump):
    revs = read_all(sample_dump)["revisions"]
    w = PartitionedWriter(str(tmp_path), "k2", row_group=2, rows_per_file=4)
    for r in revs:
        w.add(r)
    files = w.close()
    assert sum(n for _, _, n in files) == len(revs)
    names = sorted(p.rsplit("/", 1)[1] for _, p, _ in files)
    assert names[0] == "part-k2-00000.parquet" and "part-k2-00001.parquet" in names
    retry = PartitionedWriter(str(tmp_path), "k2", row_group=2, rows_per_file=4)  # a Beam retry: same input, same names
    for r in revs:
        retry.add(r)
    assert sorted(p for _, p, _ in retry.close()) == sorted(p for _, p, _ in files)
    assert read_table(str(tmp_path), "revisions").num_rows == len(revs)  # overwritten, not duplicated
