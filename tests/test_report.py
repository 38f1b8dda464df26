"""The report's figures: wiki facets, revisions by kind, span vs sentence edits, gaps for missing months."""
import math
from datetime import datetime

import duckdb
import pytest

from revmine.warehouse.report import MIN_MONTH_REVISIONS, Report, _months, _plt


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("""CREATE TABLE revision_pairs (wiki VARCHAR, pair_id VARCHAR, page_id INT, title VARCHAR,
                   new_timestamp TIMESTAMP, is_revert BOOLEAN, is_reverted BOOLEAN, old_bytes INT, new_bytes INT)""")
    con.execute("CREATE TABLE edits (wiki VARCHAR, pair_id VARCHAR, type VARCHAR, granularity VARCHAR, intent VARCHAR)")
    con.execute("CREATE TABLE summaries (wiki VARCHAR, pair_id VARCHAR, summary VARCHAR, path VARCHAR, skip_reason VARCHAR)")
    rows = []
    for i in range(6):  # January and March 2020 on enwiki, nothing in February
        rows.append(("enwiki", f"e{i}", 1, "Main Page", datetime(2020, 1, 5 + i), i == 0, i == 1, 1000, 1000))
        rows.append(("enwiki", f"f{i}", 1, "Main Page", datetime(2020, 3, 5 + i), False, False, 1000, 1000))
    rows.append(("enwiki", "blank", 1, "Main Page", datetime(2020, 3, 20), False, False, 5000, 0))
    rows.append(("aawiki", "a0", 7, "Main Page", datetime(2015, 6, 1), False, False, 10, 20))
    con.executemany("INSERT INTO revision_pairs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.executemany("INSERT INTO edits VALUES (?, ?, ?, ?, ?)",
                    [("enwiki", "f0", "Substitute", "span", None), ("enwiki", "f0", "Insertion", "sentence", None),
                     ("enwiki", "blank", "Deletion", "sentence", None), ("enwiki", "e0", "Deletion", "span", None)])
    return con


def test_months_leave_no_hole():
    assert [m.month for m in _months(datetime(2019, 11, 1).date(), datetime(2020, 2, 1).date())] == [11, 12, 1, 2]


def test_revisions_are_told_apart_by_kind_and_wiki(con):
    r = Report(con)
    assert r.wikis == ["enwiki", "aawiki"]
    plt = _plt()
    fig, drawn, _ = r.revisions_per_month(plt)
    axes = fig.axes
    assert drawn and [a.get_title(loc="left") for a in axes] == ["enwiki", "aawiki"]
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert labels == ["content edit", "reverted", "revert", "blanking"]
    assert axes[0].get_ylabel() == "revisions" and axes[0].get_xlabel() == "month"
    plt.close(fig)
    # edits: reverts and blankings left out, spans and sentences apart
    fig, _, _ = r.edits_per_month(plt)
    heights = {c.get_label(): sum(p.get_height() for p in c.patches) for c in fig.axes[0].containers}
    assert heights == {"span": 1, "sentence": 1}
    plt.close(fig)


def test_revert_rate_has_gaps_for_thin_months(con):
    fig, drawn, caption = Report(con).revert_rate(_plt())
    (reverts, _) = fig.axes[0].get_lines()
    ys = list(reverts.get_ydata())
    assert len(ys) == 3 and math.isnan(ys[1])  # February: no revisions, no line across it
    assert ys[0] == pytest.approx(1 / 6)
    assert str(MIN_MONTH_REVISIONS) in caption
    _plt().close(fig)


def test_top_pages_name_their_wiki_and_a_filter_narrows_everything(con):
    fig, _, _ = Report(con).top_pages(_plt())
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["Main Page  (aawiki)", "Main Page  (enwiki)"]
    _plt().close(fig)
    only = Report(con, "aawiki")
    assert only.wikis == ["aawiki"] and [t[0] for t in only.totals()] == ["aawiki"]


def test_page_titles_are_drawn_as_stored_never_as_mathtext(con):
    """A title with two dollar signs was set as matplotlib mathtext: `$^$` or `$\\frac{a$` failed the whole
    report at save time (ParseSyntaxException), and `$5 or $10` came out in math italics."""
    import io

    titles = ["$^$", "$\\frac{a$ page", "$5 or $10", "C:\\$x"]
    con.executemany("INSERT INTO revision_pairs VALUES (?, ?, 9, ?, ?, false, false, 10, 20)",
                    [("enwiki", f"d{i}{j}", t, datetime(2021, 1, 1)) for i, t in enumerate(titles) for j in range(20)])
    fig, _, _ = Report(con).top_pages(_plt())
    fig.savefig(io.BytesIO(), format="png")
    shown = {t._preprocess_math(t.get_text()) for t in fig.axes[0].get_yticklabels()}
    assert {(t + "  (enwiki)", False) for t in titles} <= shown
    _plt().close(fig)


def test_titles_in_any_script_are_readable_and_missing_glyphs_stay_quiet(tmp_path, sample_dump):
    """A zhwiki title came out of the top-pages plot as boxes (the plotting font has no CJK glyphs), with a
    UserWarning per glyph printed by `revmine report`. The page now lists the top pages in a table, every
    title as written, and says once that the plot could not draw some of them; no warning escapes."""
    import warnings

    from revmine.config import Config
    from revmine.runner.run import run
    from revmine.warehouse.report import build_report

    dump = tmp_path / "dump.xml"
    dump.write_text(sample_dump.read_text().replace("<title>Lighthouse</title>", "<title>灯塔 &lt;b&gt;</title>"))
    run([str(dump)], str(tmp_path / "wh"), Config.load(None, **{"diff.aligner": "classical", "label.enabled": False,
                                                                "summarize.enabled": False}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        page = open(build_report(str(tmp_path / "wh"), str(tmp_path / "report")), encoding="utf-8").read()
    assert "<td>灯塔 &lt;b&gt;</td><td>samplewiki</td>" in page and "Grace Hopper" in page
    assert page.count("show as boxes") == 1
