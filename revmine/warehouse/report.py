"""`revmine report`: one HTML page of plots over a warehouse, for people who would rather look than query.

Every figure is a plain DuckDB query over the catalog, drawn with matplotlib's non-interactive backend.
The page is wiki-aware: time plots have one panel per wiki (the busiest `MAX_WIKIS`), pages are named with
their wiki, and `--wiki` narrows the whole report to one. Revisions are told apart by kind (content
edit, revert, reverted, blanking), so one page's blanking or a revert war is visible as such instead of
swamping the content edits; edits are told apart by granularity (a span inside a sentence vs a whole
sentence). Months without revisions leave gaps: no line is drawn across them.
"""
from __future__ import annotations

import html
import os
import warnings
from datetime import date
from typing import Callable, Optional

from revmine.warehouse.catalog import connect
from revmine.warehouse.export import check_export_target, make_export_folder

MAX_WIKIS = 4
TOP_PAGES = 15
MIN_MONTH_REVISIONS = 5

# A blanking: the new text is empty, or under a tenth of a text of some length (patrollers' usual test).
BLANKING_SQL = "(p.new_bytes = 0 OR (p.old_bytes >= 500 AND p.new_bytes < p.old_bytes / 10))"
KIND_SQL = f"""CASE WHEN p.is_revert THEN 'revert' WHEN {BLANKING_SQL} THEN 'blanking'
                    WHEN p.is_reverted THEN 'reverted' ELSE 'content edit' END"""
KINDS = ("content edit", "reverted", "revert", "blanking")
KIND_COLOURS = {"content edit": "#4477aa", "reverted": "#ccbb44", "revert": "#ee6677", "blanking": "#222222",
                "span": "#4477aa", "sentence": "#66ccee"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on workers and CI
    import matplotlib.pyplot as plt

    return plt


def _months(first: date, last: date) -> list[date]:
    """Every month from first to last, so a month without rows is a gap and not a shortcut."""
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _where(wiki: Optional[str], alias: str = "p") -> tuple[str, list]:
    return (f" AND {alias}.wiki = ?", [wiki]) if wiki else ("", [])


class Report:
    """The queries and figures of one report; `wiki` narrows every one of them."""

    def __init__(self, con, wiki: Optional[str] = None):
        self.con, self.wiki = con, wiki
        self.top: list = []
        clause, params = _where(wiki)
        self.wikis = [r[0] for r in con.execute(
            f"SELECT p.wiki FROM revision_pairs p WHERE true{clause} GROUP BY 1 ORDER BY count(*) DESC, 1",
            params).fetchall()]

    def q(self, sql: str, params: list = (), alias: str = "p") -> list:
        clause, extra = _where(self.wiki, alias)
        return self.con.execute(sql.replace("{WIKI}", clause), [*extra, *params]).fetchall()

    # ---- figures ---------------------------------------------------------------------------------

    def _facets(self, plt, title: str):
        wikis = self.wikis[:MAX_WIKIS] or ["(none)"]
        # each wiki on its own time range: one wiki's 2001 start must not squeeze another's 2015 history
        fig, axes = plt.subplots(len(wikis), 1, figsize=(9, 2.6 * len(wikis) + 0.6), squeeze=False)
        fig.suptitle(title)
        return fig, [a[0] for a in axes], wikis

    def revisions_per_month(self, plt):
        rows = self.q(f"""SELECT p.wiki, date_trunc('month', p.new_timestamp)::DATE AS m, {KIND_SQL} AS kind, count(*)
                          FROM revision_pairs p WHERE p.new_timestamp IS NOT NULL{{WIKI}} GROUP BY ALL""")
        fig, axes, wikis = self._facets(plt, "Revisions per month, by kind")
        return fig, self._stacked(axes, wikis, rows, KINDS, "revisions"), (
            "Revisions per month, by kind: content edits, edits later reverted, reverts, and blankings "
            "(new text empty or under a tenth of the old).")

    def edits_per_month(self, plt):
        rows = self.q(f"""SELECT p.wiki, date_trunc('month', p.new_timestamp)::DATE AS m, e.granularity, count(*)
                          FROM edits e JOIN revision_pairs p USING (wiki, pair_id)
                          WHERE p.new_timestamp IS NOT NULL AND {KIND_SQL} IN ('content edit', 'reverted'){{WIKI}}
                          GROUP BY ALL""")
        fig, axes, wikis = self._facets(plt, "Edits per month, span vs whole sentence")
        return fig, self._stacked(axes, wikis, rows, ("span", "sentence"), "edits"), (
            "Edits per month inside content edits (reverts and blankings left out): a span changed inside a "
            "sentence, or a whole sentence added or removed.")

    def _stacked(self, axes, wikis, rows, kinds, ylabel) -> bool:
        from matplotlib.ticker import MaxNLocator

        if not rows:
            for ax in axes:
                _empty(ax, "dated revisions")
            return False
        counts = {(w, m, k): n for w, m, k, n in rows}
        for ax, wiki in zip(axes, wikis):
            mine = [r[1] for r in rows if r[0] == wiki]
            if not mine:
                _empty(ax, f"dated revisions of {wiki}")
                continue
            months = _months(min(mine), max(mine))
            bottom = [0] * len(months)
            for kind in kinds:
                vals = [counts.get((wiki, m, kind), 0) for m in months]
                if any(vals):
                    ax.bar(months, vals, bottom=bottom, width=25, label=kind, color=KIND_COLOURS.get(kind))
                    bottom = [b + v for b, v in zip(bottom, vals)]
            ax.set_ylabel(ylabel)
            ax.set_title(wiki, loc="left", fontsize="medium")
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize="small", loc="upper left")
            ax.set_xlabel("month")
        return True

    def revert_rate(self, plt):
        import math

        from matplotlib.ticker import PercentFormatter

        rows = self.q("""SELECT p.wiki, date_trunc('month', p.new_timestamp)::DATE AS m, count(*),
                                 avg(p.is_revert::INT), avg(p.is_reverted::INT)
                          FROM revision_pairs p WHERE p.new_timestamp IS NOT NULL{WIKI} GROUP BY ALL""")
        fig, axes, wikis = self._facets(plt, "Revert rate per month")
        if not rows:
            for ax in axes:
                _empty(ax, "dated revisions")
            return fig, False, ""
        by = {(w, m): (n, a, b) for w, m, n, a, b in rows if n >= MIN_MONTH_REVISIONS}
        for ax, wiki in zip(axes, wikis):
            mine = [m for w, m in by if w == wiki]
            if not mine:
                ax.set_title(wiki, loc="left", fontsize="medium")
                _empty(ax, f"month with {MIN_MONTH_REVISIONS} or more revisions")
                continue
            months = _months(min(mine), max(mine))
            for col, label, colour in ((1, "reverts", KIND_COLOURS["revert"]), (2, "reverted later", KIND_COLOURS["reverted"])):
                # NaN where a month has no revisions: matplotlib breaks the line there
                vals = [by[(wiki, m)][col] if (wiki, m) in by else math.nan for m in months]
                ax.plot(months, vals, marker=".", markersize=3, linewidth=1, label=label, color=colour)
            ax.set_ylabel("share of the month's revisions")
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set_ylim(0, 1)
            ax.set_title(wiki, loc="left", fontsize="medium")
            ax.legend(fontsize="small", loc="upper left")
            ax.set_xlabel(f"month (gaps: under {MIN_MONTH_REVISIONS} revisions)")
        return fig, True, ("Share of each month's revisions that are reverts, and that were reverted later; months "
                           f"with under {MIN_MONTH_REVISIONS} revisions are gaps, since a rate of 1 in 2 says nothing.")

    def top_pages(self, plt):
        rows = self.q(f"""SELECT p.wiki, p.title, count(*) FILTER (WHERE {KIND_SQL} IN ('content edit', 'reverted')),
                                 count(*) FILTER (WHERE {KIND_SQL} IN ('revert', 'blanking'))
                          FROM revision_pairs p WHERE true{{WIKI}} GROUP BY ALL ORDER BY count(*) DESC, 2 LIMIT {TOP_PAGES}""")
        fig, ax = plt.subplots(figsize=(9, 0.38 * max(len(rows), 3) + 1.2))
        ax.set_title(f"Top {TOP_PAGES} pages by revisions")
        if not rows:
            _empty(ax, "revisions")
            return fig, False, ""
        self.top = rows  # also a table on the page: a browser draws every script, the plot's font may not
        labels = [_literal(_short(t, 45)) + f"  ({w})" for w, t, _, _ in rows][::-1]
        content = [r[2] for r in rows][::-1]
        other = [r[3] for r in rows][::-1]
        ax.barh(labels, content, color=KIND_COLOURS["content edit"], label="content edits (incl. later reverted)")
        ax.barh(labels, other, left=content, color=KIND_COLOURS["revert"], label="reverts and blankings")
        for y, (c, o) in enumerate(zip(content, other)):
            ax.text(c + o, y, f" {c + o:,}", va="center", fontsize="small")
        ax.set_xlabel("revisions")
        ax.legend(fontsize="small", loc="lower right")
        return fig, True, "The most revised pages, each named with its wiki."

    def edit_types(self, plt):
        rows = self.q("""SELECT e.type || ' (' || e.granularity || ')', count(*) FROM edits e
                         WHERE true{WIKI} GROUP BY 1 ORDER BY 2 DESC""", alias="e")
        return self._bars(plt, rows, "Edit types", "edits", "Span-level and whole-sentence edits by operation.")

    def intents(self, plt):
        rows = self.q("""SELECT e.intent, count(*) FROM edits e WHERE e.intent IS NOT NULL{WIKI}
                         GROUP BY 1 ORDER BY 2 DESC""", alias="e")
        return self._bars(plt, rows, "Intents (arXivEdits fine-grained)", "edits",
                          "Intent of each labelled edit; unlabelled edits (no intent model) are left out.")

    def summary_paths(self, plt):
        rows = self.q("""SELECT coalesce(s.path, 'none: ' || coalesce(s.skip_reason, '?')), count(*) FROM summaries s
                         WHERE true{WIKI} GROUP BY 1 ORDER BY 2 DESC""", alias="s")
        return self._bars(plt, rows, "Who wrote the summaries", "revision pairs",
                          "Summaries by the path that wrote them (the describer or the language model), "
                          "and pairs left without one, by reason.")

    def _bars(self, plt, rows, title, xlabel, caption):
        fig, ax = plt.subplots(figsize=(9, 0.38 * max(len(rows), 3) + 1.2))
        ax.set_title(title)
        if not rows:
            _empty(ax, xlabel)
            return fig, False, caption
        ax.barh([str(r[0]) for r in rows][::-1], [r[1] for r in rows][::-1], color=KIND_COLOURS["content edit"])
        for y, n in enumerate([r[1] for r in rows][::-1]):
            ax.text(n, y, f" {n:,}", va="center", fontsize="small")
        ax.set_xlabel(xlabel)
        return fig, True, caption

    def totals(self) -> list[tuple]:
        return self.q(f"""SELECT p.wiki, count(*), count(DISTINCT p.page_id),
                                 count(*) FILTER (WHERE p.is_revert), count(*) FILTER (WHERE {BLANKING_SQL}),
                                 (SELECT count(*) FROM edits e WHERE e.wiki = p.wiki),
                                 (SELECT count(*) FROM summaries s WHERE s.wiki = p.wiki AND s.summary IS NOT NULL)
                          FROM revision_pairs p WHERE true{{WIKI}} GROUP BY 1 ORDER BY 2 DESC""")


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _top_table(rows: list, missing_glyphs: int) -> str:
    """The top pages as an HTML table, every title as stored, in whatever script."""
    if not rows:
        return ""
    note = ("<p>Some titles use characters the plotting font lacks and show as boxes in the plot; "
            "the table has them as written.</p>" if missing_glyphs else "")
    cells = "".join(f"<tr><td>{i}</td><td>{html.escape(t)}</td><td>{html.escape(w)}</td><td>{c:,}</td><td>{o:,}</td></tr>"
                    for i, (w, t, c, o) in enumerate(rows, 1))
    return (f"{note}<table><tr><th>#</th><th>page</th><th>wiki</th><th>content edits</th>"
            f"<th>reverts and blankings</th></tr>{cells}</table>")


def _literal(text: str) -> str:
    """Text from the data as matplotlib must draw it: a title with two dollar signs (`$^$`, `$5 or $10`) is
    otherwise set as mathtext, shown wrong or failing the whole report at save time."""
    return text.replace("$", r"\$")


def _empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this warehouse", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


PLOTS: list[tuple[str, Callable]] = [
    ("revisions_per_month", Report.revisions_per_month), ("edits_per_month", Report.edits_per_month),
    ("revert_rate", Report.revert_rate), ("top_pages", Report.top_pages), ("edit_types", Report.edit_types),
    ("intents", Report.intents), ("summary_paths", Report.summary_paths),
]


def build_report(warehouse: str, out: str, wiki: Optional[str] = None, force: bool = False) -> str:
    """Write OUT/index.html and one PNG per plot; returns the HTML path. OUT is new, empty or an earlier
    report (as for exports: a folder of other files, say a site's own index.html, needs `force`)."""
    check_export_target(warehouse, out, force, what="report")
    plt = _plt()
    con = connect(warehouse)
    try:
        report = Report(con, wiki)
        if wiki and not report.wikis:
            raise ValueError(f"no revisions of wiki {wiki!r} in {warehouse}")
        make_export_folder(out, "report")
        figures, missing = [], 0
        for name, method in PLOTS:
            fig, _, caption = method(report, plt)
            # A title in a script the plotting font lacks (灯塔 in DejaVu Sans) is drawn as boxes, with a
            # warning per glyph; the page's table of top pages shows it, and one line says so.
            with warnings.catch_warnings(record=True) as caught:
                warnings.filterwarnings("always", message="Glyph .* missing from font", category=UserWarning)
                fig.tight_layout()
                fig.savefig(os.path.join(out, f"{name}.png"), dpi=100)
            missing += sum("missing from font" in str(w.message) for w in caught)
            for w in caught:
                if "missing from font" not in str(w.message):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            plt.close(fig)
            figures.append((name, caption))
        totals = report.totals()
    finally:
        con.close()
    header = ("<tr><th>wiki</th><th>revision pairs</th><th>pages</th><th>reverts</th><th>blankings</th>"
              "<th>edits</th><th>summaries</th></tr>")
    table = header + "".join("<tr>" + "".join(f"<td>{html.escape(str(c)) if i == 0 else f'{c:,}'}</td>"
                                               for i, c in enumerate(row)) + "</tr>" for row in totals)
    more = (f"<p>The time plots show the {MAX_WIKIS} busiest of {len(report.wikis)} wikis; "
            f"<code>revmine report --wiki NAME</code> shows any one.</p>" if len(report.wikis) > MAX_WIKIS else "")
    body = "\n".join(f'<figure><img src="{n}.png" alt="{html.escape(c)}"><figcaption>{html.escape(c)}</figcaption></figure>'
                     + (_top_table(report.top, missing) if n == "top_pages" else "") for n, c in figures)
    scope = f" (wiki {html.escape(wiki)})" if wiki else ""
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>revmine report: {html.escape(os.path.basename(os.path.abspath(warehouse)))}{scope}</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}} img{{max-width:100%}}
figure{{margin:2em 0}} figcaption{{color:#555;font-size:90%}} table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:.25em .8em;text-align:right}} td:first-child,th:first-child{{text-align:left}}</style>
</head><body>
<h1>revmine report{scope}</h1>
<p>Warehouse <code>{html.escape(os.path.abspath(warehouse))}</code></p>
<table>{table}</table>
{more}
{body}
</body></html>
"""
    path = os.path.join(out, "index.html")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(page)
    return path
