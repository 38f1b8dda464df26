"""`revmine report`: one HTML page of PNG plots over a warehouse, for people who would rather look than query.

Plots: edits per month (by intent when labelled), edit types, top pages by edits, revert rate per month,
and summary length (generated vs the editors' own comments). Every figure is a plain DuckDB query over
the catalog, drawn with matplotlib's non-interactive backend.
"""
from __future__ import annotations

import html
import os
from typing import Callable

from revmine.warehouse.catalog import connect


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on workers and CI
    import matplotlib.pyplot as plt

    return plt


def _empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this warehouse", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def plot_edits_over_time(con, ax) -> str:
    rows = con.execute("""
        SELECT date_trunc('month', p.new_timestamp) AS m, coalesce(e.intent_coarse, 'unlabelled') AS intent, count(*)
        FROM edits e JOIN revision_pairs p USING (wiki, pair_id)
        WHERE p.new_timestamp IS NOT NULL GROUP BY ALL ORDER BY 1""").fetchall()
    if not rows:
        _empty(ax, "dated edits")
        return "Edits per month"
    months = sorted({r[0] for r in rows})
    intents = sorted({r[1] for r in rows})
    counts = {(m, i): n for m, i, n in rows}
    bottom = [0] * len(months)
    for intent in intents:
        vals = [counts.get((m, intent), 0) for m in months]
        ax.bar(months, vals, bottom=bottom, width=25, label=intent)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("span edits")
    ax.legend(fontsize="small")
    return "Edits per month, by coarse intent"


def plot_edit_types(con, ax) -> str:
    rows = con.execute("SELECT type || ' (' || granularity || ')', count(*) FROM edits GROUP BY 1 ORDER BY 2 DESC").fetchall()
    if not rows:
        _empty(ax, "edits")
    else:
        ax.barh([r[0] for r in rows][::-1], [r[1] for r in rows][::-1])
        ax.set_xlabel("edits")
    return "Edit types"


def plot_intents(con, ax) -> str:
    rows = con.execute("SELECT intent, count(*) FROM edits WHERE intent IS NOT NULL GROUP BY 1 ORDER BY 2 DESC").fetchall()
    if not rows:
        _empty(ax, "intent labels")
    else:
        ax.barh([r[0] for r in rows][::-1], [r[1] for r in rows][::-1])
        ax.set_xlabel("edits")
    return "Intents (arXivEdits fine-grained)"


def plot_top_pages(con, ax) -> str:
    rows = con.execute("""
        SELECT p.title, count(*) FROM edits e JOIN revision_pairs p USING (wiki, pair_id)
        GROUP BY 1 ORDER BY 2 DESC LIMIT 15""").fetchall()
    if not rows:
        _empty(ax, "edits")
    else:
        ax.barh([r[0][:40] for r in rows][::-1], [r[1] for r in rows][::-1])
        ax.set_xlabel("span edits")
    return "Top pages by edits"


def plot_revert_rate(con, ax) -> str:
    rows = con.execute("""
        SELECT date_trunc('month', new_timestamp) AS m, avg(is_revert::INT), avg(is_reverted::INT)
        FROM revision_pairs WHERE new_timestamp IS NOT NULL GROUP BY 1 ORDER BY 1""").fetchall()
    if not rows:
        _empty(ax, "dated revisions")
    else:
        ax.plot([r[0] for r in rows], [r[1] for r in rows], label="reverts")
        ax.plot([r[0] for r in rows], [r[2] for r in rows], label="reverted")
        ax.set_ylabel("share of revisions")
        ax.legend(fontsize="small")
    return "Revert rate per month"


def plot_summary_length(con, ax) -> str:
    ours = [r[0] for r in con.execute(
        "SELECT length(summary) FROM summaries WHERE summary IS NOT NULL").fetchall()]
    human = [r[0] for r in con.execute(
        "SELECT length(comment) FROM revision_pairs WHERE comment IS NOT NULL AND skip_reason IS NULL").fetchall()]
    if not ours and not human:
        _empty(ax, "summaries or comments")
    else:
        bins = list(range(0, 201, 10))
        if human:
            ax.hist([min(x, 200) for x in human], bins=bins, alpha=0.6, label="editors' comments")
        if ours:
            ax.hist([min(x, 200) for x in ours], bins=bins, alpha=0.6, label="revmine summaries")
        ax.set_xlabel("characters (capped at 200)")
        ax.legend(fontsize="small")
    return "Summary length"


PLOTS: list[tuple[str, Callable]] = [
    ("edits_over_time", plot_edits_over_time), ("edit_types", plot_edit_types), ("intents", plot_intents),
    ("top_pages", plot_top_pages), ("revert_rate", plot_revert_rate), ("summary_length", plot_summary_length),
]


def build_report(warehouse: str, out: str) -> str:
    """Write OUT/index.html and one PNG per plot; returns the HTML path."""
    plt = _plt()
    os.makedirs(out, exist_ok=True)
    con = connect(warehouse)
    try:
        totals = con.execute("""SELECT (SELECT count(*) FROM revision_pairs), (SELECT count(*) FROM edits),
                                       (SELECT count(*) FROM summaries WHERE summary IS NOT NULL),
                                       (SELECT count(DISTINCT page_id) FROM revision_pairs)""").fetchone()
        figures = []
        for name, fn in PLOTS:
            fig, ax = plt.subplots(figsize=(8, 4.5))
            title = fn(con, ax)
            ax.set_title(title)
            fig.tight_layout()
            fig.savefig(os.path.join(out, f"{name}.png"), dpi=100)
            plt.close(fig)
            figures.append((name, title))
    finally:
        con.close()
    body = "\n".join(f'<figure><img src="{n}.png" alt="{html.escape(t)}"><figcaption>{html.escape(t)}</figcaption></figure>'
                     for n, t in figures)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>revmine report: {html.escape(os.path.basename(os.path.abspath(warehouse)))}</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto}} img{{max-width:100%}} figure{{margin:2em 0}}</style>
</head><body>
<h1>revmine report</h1>
<p>Warehouse <code>{html.escape(os.path.abspath(warehouse))}</code>: {totals[0]:,} revision pairs on {totals[3]:,} pages,
{totals[1]:,} edits, {totals[2]:,} generated summaries.</p>
{body}
</body></html>
"""
    path = os.path.join(out, "index.html")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(page)
    return path
