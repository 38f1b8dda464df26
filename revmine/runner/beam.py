"""The Beam graph, thin by design (all logic lives in the stage functions, composed in runner/compose.py):

    files -> Reshuffle -> ReadPairWrite -> FilesWritten ---------------> (table, path, rows)
                                        `-> PairBatches -> DiffWrite ---> (table, path, rows)

Both writing steps write partitioned Parquet from the worker itself, and read -> batches -> diff fuse
into one stage, so no record is shuffled. The graph uses only what every runner implements alike
(no tagged outputs, no elements emitted from finish_bundle), so Beam's DaskRunner runs it too. DiffWrite diffs a batch of pairs and labels its edits'
intents; it builds its DiffEngine (aligner model) and intent classifier once per worker, in `setup`.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from typing import Iterable, Sequence

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from revmine.config import Config
from revmine.pipeline.read import PROGRESS
from revmine.runner import shelf
from revmine.runner.compose import PairBatch, StageClock, build_engine, diff_per_pair, read_file, to_diff
from revmine.pipeline.languages import languages_of
from revmine.runner.label import build_labeler, build_summarizer
from revmine.schemas import RevisionPair, SourceStats
from revmine.warehouse.layout import PartitionedWriter

log = logging.getLogger(__name__)


class ReadPairFn(beam.DoFn):
    """One input file in; its revisions, pairs and quarantine rows written as partitioned Parquet by this
    worker. Out: (WRITTEN, (table, path, rows)) per file written, and (TO_DIFF, batch) for the diff stage,
    a batch being up to diff.max_batch (source_key, pair) in file order (fewer past diff.max_batch_chars).

    Writing here, instead of shuffling rows to a writer stage, keeps them out of the runner's memory
    and off the network: a worker streams its file's records straight to Parquet. File names are
    deterministic per input (see PartitionedWriter), so a retried bundle overwrites, never duplicates.
    """
    TO_DIFF, WRITTEN = "to_diff", "written"

    def __init__(self, config: Config, staging: str, held=None):
        self.config = config
        self.staging = staging
        self.held = held  # revisions the warehouse holds already (HeldRevisions): their pairs are not diffed

    def process(self, element: tuple[str, str]):
        path, key = element
        # Only the time spent here counts as reading: while a batch is out, the fused diff step runs.
        spent, resumed = 0.0, time.monotonic()
        writer = PartitionedWriter(self.staging, key)
        n = 0
        batch = PairBatch(self.config)
        for rec in read_file(path, self.config, key):
            writer.add(rec)
            if isinstance(rec, SourceStats):
                n = rec.revisions_read
            elif self.config.diff.enabled and to_diff(rec) and not self._held(rec) and batch.add((key, rec), rec):
                spent += time.monotonic() - resumed
                yield self.TO_DIFF, batch.take()
                resumed = time.monotonic()
        if batch.items:
            spent += time.monotonic() - resumed
            yield self.TO_DIFF, batch.take()
            resumed = time.monotonic()
        files = writer.close()
        spent += time.monotonic() - resumed
        log.info("%s: %s revisions read, paired and written in %.1fs", os.path.basename(path), f"{n:,}", spent,
                 extra={PROGRESS: {"input": os.path.basename(path), "finished": True, "revisions": n,
                                   "total": os.path.getsize(path) if os.path.isfile(path) else None}})
        clock = StageClock()
        clock.add("read, pair and write", spent, n)
        clock.write(self.staging, f"r-{key}")
        for written in files:
            yield self.WRITTEN, written

    def _held(self, pair: RevisionPair) -> bool:
        return self.held is not None and (pair.wiki, pair.page_id, pair.new_rev_id) in self.held


class DiffBatchFn(beam.DoFn):
    """Batches of (source_key, pair) in (from the read); diff rows written as Parquet per bundle.

    The engine (and the aligner model) is built once per worker in `setup`. Batches arrive in file
    order, because the read batches each file's pairs in order, so the engine's per-page caches keep
    working. Files are named after the input and the bundle's first pair, both
    deterministic: a retried bundle rewrites the same names.
    """

    def __init__(self, config: Config, staging: str):
        self.config = config
        self.staging = staging
        self.engine = self.labeler = self.summarizer = None
        self.borrowed: dict = {}
        self.writers: dict[str, PartitionedWriter] = {}
        self.clock = StageClock()
        self.bundle = ""
        self.counts: dict[str, int] = {}  # the stages this worker runs: pairs diffed, edits labelled, ...
        self.last_progress = self.started = 0.0

    def setup(self):
        with shelf.borrowing() as self.borrowed:  # models another worker of this process gave back
            self.engine = build_engine(self.config)
            self.labeler = build_labeler(self.config)
            self.summarizer = build_summarizer(self.config)
        self.summary_languages = languages_of(self.config.summarize.languages)

    def teardown(self):
        shelf.give_back(self.borrowed)

    def start_bundle(self):
        self.writers = {}
        self.bundle = ""

    def process(self, batch: Sequence[tuple[str, RevisionPair]]):
        pairs = [pair for _, pair in batch]
        self.started = self.started or time.monotonic()  # the rate counts the first batch's time too
        before = {stage: got[1] for stage, got in self.clock.stages.items()}
        for (key, pair), records in zip(batch, diff_per_pair(self.engine, pairs, self.labeler, self.summarizer,
                                                                  self.config.summarize.batch_size, self.clock,
                                                                  self.summary_languages)):
            writer = self.writers.get(key)
            if writer is None:
                bundle = hashlib.sha1(pair.pair_id.encode()).hexdigest()[:8]
                writer = self.writers[key] = PartitionedWriter(self.staging, f"{key}-d{bundle}")
                self.bundle = self.bundle or f"d-{key}-{bundle}"
            for rec in records:
                writer.add(rec)
        self._progress(before)
        return ()

    def _progress(self, before: dict) -> None:
        """Every read.progress_seconds, what this worker's later stages have done, and how fast."""
        for stage, name in (("diff (clean, align, span edits, node changes)", "pairs diffed"),
                            ("intent labels", "edits labelled"), ("summaries", "summaries written")):
            if stage in self.clock.stages:
                self.counts[name] = self.counts.get(name, 0) + self.clock.stages[stage][1] - before.get(stage, 0)
        now = time.monotonic()
        if now - self.last_progress >= self.config.read.progress_seconds:
            self.last_progress = now
            elapsed = now - self.started
            rate = f" ({self.counts.get('pairs diffed', 0) / elapsed:,.1f} pairs/s)" if elapsed >= 1 else ""
            log.info("%s", ", ".join(f"{v:,} {k}" for k, v in self.counts.items()) + rate,
                     extra={PROGRESS: {"counters": dict(self.counts), "seconds": elapsed}})

    def finish_bundle(self):
        for writer in self.writers.values():
            for written in writer.close():
                yield WindowedValue(written, MIN_TIMESTAMP, [GlobalWindow()])
        self.writers = {}
        self.clock.write(self.staging, self.bundle or "d-empty")  # a retried bundle rewrites the same name


def build(pipeline: beam.Pipeline, inputs: Iterable[tuple[str, str]], staging: str, config: Config, held=None):
    """Compose the graph over (path, content key) inputs; returns the PCollection of (table, path, rows)
    for written files. Pairs whose new revision `held` holds (revisions the warehouse has already) are
    written but not diffed."""
    files = (pipeline
             | "Inputs" >> beam.Create(list(inputs))
             | "SpreadFiles" >> beam.Reshuffle())
    # One output of (kind, value) split by two filters, not a tagged multi-output ParDo: Beam's DaskRunner
    # hands every consumer of a multi-output ParDo all of its outputs.
    read = files | "ReadPairWrite" >> beam.ParDo(ReadPairFn(config, staging, held))
    written = read | "FilesWritten" >> beam.FlatMap(_of_kind, ReadPairFn.WRITTEN)
    if not config.diff.enabled:
        return written
    # The read emits the pairs of a file in batches, in file order, so the engine's per-page caches keep
    # working. Batching there rather than with BatchElements: a runner that drops what finish_bundle
    # emits (Beam's DaskRunner does) would lose the last batch of every bundle.
    diffed = (read
              | "PairBatches" >> beam.FlatMap(_of_kind, ReadPairFn.TO_DIFF)
              | "DiffWrite" >> beam.ParDo(DiffBatchFn(config, staging)))
    return (written, diffed) | "Written" >> beam.Flatten()


def _of_kind(item: tuple[str, object], kind: str) -> list:
    return [item[1]] if item[0] == kind else []
