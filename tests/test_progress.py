"""The live progress display: bars drawn from the workers' progress log lines, in a terminal only."""
import io
import logging
import re

from rich.console import Console

from revmine.cli import _common, main
from revmine.cli.progress import LiveProgressHandler
from revmine.pipeline.read import PROGRESS

ROOT_CONFIG = "configs/fast.yaml"


def _record(msg: str, figures: dict | None = None) -> logging.LogRecord:
    record = logging.LogRecord("revmine.test", logging.INFO, __file__, 1, msg, (), None)
    if figures is not None:
        setattr(record, PROGRESS, figures)
    return record


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_terminal_draws_bytes_done_of_total_and_stage_counters():
    buf = io.StringIO()
    handler = LiveProgressHandler(Console(file=buf, force_terminal=True, width=200), show_path=False)
    handler.emit(_record("dump.xml.bz2: 40% ...", {"input": "dump.xml.bz2", "done": 400_000, "total": 1_000_000,
                                                  "revisions": 120, "pages": 1}))
    task = handler.progress.tasks[handler.inputs["dump.xml.bz2"]]
    assert (task.completed, task.total) == (400_000, 1_000_000)
    handler.emit(_record("12 pairs diffed", {"counters": {"pairs diffed": 12, "edits labelled": 30,
                                                          "summaries written": 5}, "seconds": 2.0}))
    handler.emit(_record("dump.xml.bz2: done", {"input": "dump.xml.bz2", "finished": True, "revisions": 300}))
    assert task.completed == 1_000_000 and task.finished
    handler.emit(_record("an ordinary line"))
    handler.stop()
    out = _plain(buf.getvalue())
    assert "an ordinary line" in out
    assert "300 revisions, done" in out and "1.0/1.0 MB" in out
    assert "12 pairs diffed, 30 edits labelled, 5 summaries written (6.0 pairs/s)" in out
    assert "dump.xml.bz2: 40%" not in out  # the bar replaces the line


def test_outside_a_terminal_progress_stays_a_log_line():
    buf = io.StringIO()
    handler = LiveProgressHandler(Console(file=buf, force_terminal=False, width=200), show_path=False)
    handler.emit(_record("dump.xml.bz2: 40% of 1.0 MB read", {"input": "dump.xml.bz2", "done": 4, "total": 10}))
    assert handler.progress is None and "dump.xml.bz2: 40% of 1.0 MB read" in buf.getvalue()


def test_run_in_a_terminal_shows_each_input_finished_and_the_stage_counters(tmp_path, sample_dump, monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(_common, "console", Console(file=buf, force_terminal=True, width=200))
    try:
        assert main(["run", "--input", str(sample_dump), "--out", str(tmp_path / "wh"), "--config", ROOT_CONFIG]) == 0
    finally:
        logging.getLogger().handlers.clear()
    out = _plain(buf.getvalue())
    size = f"{sample_dump.stat().st_size / 1000:.1f}/{sample_dump.stat().st_size / 1000:.1f} kB"
    assert re.search(r"samplewiki-history\.xml .*" + re.escape(size) + r".* 25 revisions, done", out), out[-2000:]
    assert "21 pairs diffed" in out and "edits labelled" not in out  # fast.yaml runs no intent stage


def test_an_input_name_that_reads_as_markup_is_drawn_as_it_is():
    """The bar's label went through rich markup: an input named `dump[/x].xml` stopped the live display with a
    MarkupError, and `dump [b].xml` lost its brackets."""
    buf = io.StringIO()
    handler = LiveProgressHandler(Console(file=buf, force_terminal=True, width=200), show_path=False)
    for name in ("dump[/x].xml", "dump [b].xml"):
        handler.emit(_record(f"{name}: 40% ...", {"input": name, "done": 4, "total": 10, "revisions": 1, "pages": 1}))
        handler.emit(_record(f"{name}: done", {"input": name, "finished": True, "revisions": 3}))
    handler.stop()
    out = _plain(buf.getvalue())
    assert "dump[/x].xml" in out and "dump [b].xml" in out
