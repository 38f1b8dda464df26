"""The full 1.05 GB Anarchism history in flat memory, and every other shared dump through the pipeline with
balanced books."""
import json
import subprocess
import sys

import pytest

from conftest import FULL_HISTORY, wikipedia_dumps
from revmine.runner.run import run

# VmHWM (not ru_maxrss, which survives exec and would include the forking pytest process). The same pass
# checks the counts the data's README states, so the 1.05 GB file is read once for both.
_PEAK_RSS = """
import json, sys
from collections import Counter
from revmine.pipeline.pair import pair_revisions
from revmine.pipeline.read import read_dump
kinds, pages, comments, stats = Counter(), set(), 0, None
for rec in pair_revisions(read_dump(sys.argv[1])):
    kinds[type(rec).__name__] += 1
    if type(rec).__name__ == "Revision":
        pages.add(rec.page_id)
        comments += bool(rec.comment)
    elif type(rec).__name__ == "SourceStats":
        stats = rec
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"kinds": kinds, "pages": len(pages), "comments": comments, "complete": stats.complete,
                  "stats": [stats.pages, stats.revisions_read], "peak_mb": int(hwm.split()[1]) // 1024}))
"""


def test_anarchism_history_reads_in_flat_memory_with_the_stated_counts(shared_data):
    res = subprocess.run([sys.executable, "-c", _PEAK_RSS, str(shared_data / "wikipedia" / FULL_HISTORY)],
                         capture_output=True, text=True, check=True)
    got = json.loads(res.stdout)
    # ../shared/data/README.md: 1 page, 15,180 revisions, 13,573 with a comment; every revision paired
    assert got["kinds"] == {"Revision": 15180, "RevisionPair": 15180, "SourceStats": 1}  # no quarantine
    assert got["complete"] and got["stats"] == [1, 15180] and got["pages"] == 1 and got["comments"] == 13573
    assert got["peak_mb"] < 1024, f"peak RSS {got['peak_mb']} MB reading a 1.05 GB dump"


@pytest.mark.parametrize("sql,check", [
    ("select title, count(*) from revision_pairs group by all order by 2 desc limit 1",
     lambda rows: rows[0][0] == "Anarchism"),
    ("select year, count(*) from revision_pairs where wiki = 'enwiki' group by all order by 1",
     lambda rows: rows[0][0] == 2001 and len(rows) >= 10),
    ("select round(avg(is_revert::int), 3) from revision_pairs where skip_reason is null",
     lambda rows: 0 < rows[0][0] < 0.5),
    ("select user, count(*) from revision_pairs where user is not null group by all order by 2 desc limit 5",
     lambda rows: len(rows) == 5),
    ("select new_rev_id, size_delta from revision_pairs order by abs(size_delta) desc nulls last limit 5",
     lambda rows: abs(rows[0][1]) > 10_000),
])
@pytest.mark.slow
def test_readme_queries_on_every_shared_dump(shared_run, sql, check):
    import duckdb

    con = duckdb.connect(str(shared_run / "catalog.duckdb"), read_only=True)
    assert check(con.execute(sql).fetchall())


@pytest.fixture(scope="module")
def shared_run(shared_data, tmp_path_factory):
    """Every shared Wikipedia dump plus the arXiv example, through the whole pipeline."""
    from revmine.config import Config

    out = tmp_path_factory.mktemp("shared-wh")
    # The full 2001-2010 history would be 80% of this run's time; the tests above read all of it, and
    # benchmarks/every_stage.py puts all of it through the diff stages.
    inputs = [str(p) for p in wikipedia_dumps(full_history=False)]
    # The classical aligner keeps this whole-corpus run to a minute on CI's CPU; the neural aligner's
    # end-to-end run is tests/test_neural_aligner.py.
    result = run(inputs + [str(shared_data / "arxivedits" / "pipeline_example_input.json")],
                 str(out), Config.load(None, **{"diff.aligner": "classical", "label.enabled": False,
                                                   "summarize.enabled": False}))
    acc = result.accounting
    assert acc.balanced and acc.diff_balanced and acc.diffed == acc.pairs_written
    # 21 dumps (article-pyrus .xml.gz and .xml.xz, both 1,104 bytes, no longer share a key) and the arXiv
    # example: 18,930 revisions less the full history's 15,180, and 4 arXiv versions
    assert acc.files == 22 and acc.revisions_read == 18930 - 15180 + 4
    return out


@pytest.mark.slow
def test_every_table_is_filled(shared_run):
    import duckdb

    from revmine.schemas import TABLES

    con = duckdb.connect(str(shared_run / "catalog.duckdb"), read_only=True)
    # summaries are off in this run (model inference over 35k pairs); test_summaries/test_exports fill them
    empty = [t for t in TABLES if t not in ("quarantine", "summaries")
             and con.execute(f"select count(*) from {t}").fetchone()[0] == 0]
    assert not empty
    assert con.execute("select count(distinct source) from edits").fetchone()[0] == 2
    # the diff stage looked at a tiny fraction of all sentence pairs
    frac = con.execute("select sum(aligner_pairs) / sum(all_pairs) from diffs where source = 'wikipedia'").fetchone()[0]
    assert frac < 1 / 50
