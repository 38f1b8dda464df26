"""A live progress display for a terminal, drawn from the pipeline's progress log lines.

Workers only log: a progress line carries its figures in `record.revmine_progress` (see
pipeline/read.py and runner/beam.py). In a terminal, and when the workers run in this process (the
DirectRunner's default), this handler turns those records into rich progress bars: one per input,
with compressed bytes done out of the total, rate and time left, and one line of per-stage counters.
Every other record, and every progress record outside a terminal, prints as a plain log line.
"""
from __future__ import annotations

import logging
from typing import Optional

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (BarColumn, DownloadColumn, Progress, ProgressColumn, Task, TaskID, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn, TransferSpeedColumn)
from rich.text import Text

from revmine.pipeline.read import PROGRESS


class LiveProgressHandler(RichHandler):
    def __init__(self, console: Console, **kwargs):
        super().__init__(console=console, **kwargs)
        self.live = console.is_terminal
        self.progress: Optional[Progress] = None
        self.inputs: dict[str, TaskID] = {}
        self.stages: Optional[TaskID] = None

    def emit(self, record: logging.LogRecord) -> None:
        figures = getattr(record, PROGRESS, None)
        if figures is None or not self.live:
            super().emit(record)
            return
        try:
            self.update(figures)
        except Exception:  # a display must never stop a run
            self.handleError(record)

    def update(self, figures: dict) -> None:
        progress = self._started()
        if "counters" in figures:
            text = ", ".join(f"{v:,} {k}" for k, v in figures["counters"].items())
            seconds = figures.get("seconds") or 0
            pairs = figures["counters"].get("pairs diffed", 0)
            if seconds >= 1:
                text += f" ({pairs / seconds:,.1f} pairs/s)"
            if self.stages is None:
                self.stages = progress.add_task("diff, labels, summaries", total=None, stats=text, counters=True)
            progress.update(self.stages, stats=text)
            return
        name = figures["input"]
        task = self.inputs.get(name)
        if task is None:
            # the label is read as markup by the column: a name such as dump[/x].xml is escaped
            task = self.inputs[name] = progress.add_task(escape(name), total=figures.get("total"), stats="")
        stats = f"{figures.get('revisions', 0):,} revisions"
        if figures.get("finished"):
            total = figures.get("total") or progress.tasks[task].total
            progress.update(task, completed=total or 0, total=total, stats=stats + ", done")
            progress.stop_task(task)
            return
        done, total = figures.get("done"), figures.get("total")
        progress.update(task, completed=done or 0, total=total, stats=stats + f", {figures.get('pages', 0):,} pages")

    def _started(self) -> Progress:
        if self.progress is None:
            bytes_only = [_InputsOnly(c) for c in (BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                                                   TimeRemainingColumn())]
            self.progress = Progress(TextColumn("[bold]{task.description}"), *bytes_only, TimeElapsedColumn(),
                                     TextColumn("{task.fields[stats]}"), console=self.console)
            self.progress.start()
        return self.progress

    def close(self) -> None:
        self.stop()
        super().close()

    def stop(self) -> None:
        """Leave the bars' last state on screen and stop redrawing."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
            self.inputs, self.stages = {}, None


class _InputsOnly(ProgressColumn):
    """A bytes column drawn for input rows and left blank on the stage-counters row."""

    def __init__(self, column: ProgressColumn):
        super().__init__()
        self.column = column

    def render(self, task: Task):
        return Text("") if task.fields.get("counters") else self.column.render(task)
