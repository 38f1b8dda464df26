"""The Beam graph, thin by design (all logic lives in the stage functions, composed in runner/compose.py):

    files -> Reshuffle -> ReadPairWrite ---------------------------------> (table, path, rows)
                              `-> pairs -> BatchElements -> DiffWrite ---> (table, path, rows)

Both writing steps write partitioned Parquet from the worker itself, and read -> batch -> diff fuse
into one stage, so no record is shuffled. DiffWrite diffs a batch of pairs and labels its edits'
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
from revmine.runner.compose import build_engine, diff_per_pair, read_file, to_diff
from revmine.runner.label import build_labeler, build_summarizer
from revmine.schemas import RevisionPair, SourceStats
from revmine.warehouse.layout import PartitionedWriter

log = logging.getLogger(__name__)


class ReadPairFn(beam.DoFn):
    """One input file in; its revisions, pairs and quarantine rows written as partitioned Parquet by this
    worker; (table, path, rows) out, plus (source_key, pair) on the TO_DIFF output for the diff stage.

    Writing here, instead of shuffling rows to a writer stage, keeps them out of the runner's memory
    and off the network: a worker streams its file's records straight to Parquet. File names are
    deterministic per input (see PartitionedWriter), so a retried bundle overwrites, never duplicates.
    """
    TO_DIFF = "to_diff"

    def __init__(self, config: Config, staging: str):
        self.config = config
        self.staging = staging

    def process(self, element: tuple[str, str]):
        path, key = element
        started = time.monotonic()
        writer = PartitionedWriter(self.staging, key)
        n = 0
        for rec in read_file(path, self.config, key):
            writer.add(rec)
            if isinstance(rec, SourceStats):
                n = rec.revisions_read
            elif self.config.diff.enabled and to_diff(rec):
                yield beam.pvalue.TaggedOutput(self.TO_DIFF, (key, rec))
        files = writer.close()
        log.info("%s: %s revisions read in %.1fs", os.path.basename(path), f"{n:,}", time.monotonic() - started)
        yield from files


class DiffBatchFn(beam.DoFn):
    """Batches of (source_key, pair) in (from BatchElements); diff rows written as Parquet per bundle.

    The engine (and the aligner model) is built once per worker in `setup`. Batches arrive in file
    order within a bundle, because read -> BatchElements -> diff fuse into one stage, so the engine's
    per-page caches keep working. Files are named after the input and the bundle's first pair, both
    deterministic: a retried bundle rewrites the same names.
    """

    def __init__(self, config: Config, staging: str):
        self.config = config
        self.staging = staging
        self.engine = self.labeler = self.summarizer = None
        self.writers: dict[str, PartitionedWriter] = {}

    def setup(self):
        self.engine = build_engine(self.config)
        self.labeler = build_labeler(self.config)
        self.summarizer = build_summarizer(self.config)

    def start_bundle(self):
        self.writers = {}

    def process(self, batch: Sequence[tuple[str, RevisionPair]]):
        pairs = [pair for _, pair in batch]
        for (key, pair), records in zip(batch, diff_per_pair(self.engine, pairs, self.labeler, self.summarizer,
                                                                  self.config.summarize.batch_size)):
            writer = self.writers.get(key)
            if writer is None:
                bundle = hashlib.sha1(pair.pair_id.encode()).hexdigest()[:8]
                writer = self.writers[key] = PartitionedWriter(self.staging, f"{key}-d{bundle}")
            for rec in records:
                writer.add(rec)
        return ()

    def finish_bundle(self):
        for writer in self.writers.values():
            for written in writer.close():
                yield WindowedValue(written, MIN_TIMESTAMP, [GlobalWindow()])
        self.writers = {}


def build(pipeline: beam.Pipeline, inputs: Iterable[tuple[str, str]], staging: str, config: Config):
    """Compose the graph over (path, content key) inputs; returns the PCollection of (table, path, rows)
    for written files."""
    files = (pipeline
             | "Inputs" >> beam.Create(list(inputs))
             | "SpreadFiles" >> beam.Reshuffle())
    read = files | "ReadPairWrite" >> beam.ParDo(ReadPairFn(config, staging)).with_outputs(ReadPairFn.TO_DIFF,
                                                                                        main="written")
    if not config.diff.enabled:
        return read.written
    diffed = (read[ReadPairFn.TO_DIFF]
              # Fuses with the read: batches stay in file order, inside the bundle that read the file.
              | "BatchPairs" >> beam.BatchElements(min_batch_size=config.diff.min_batch, max_batch_size=config.diff.max_batch)
              | "DiffWrite" >> beam.ParDo(DiffBatchFn(config, staging)))
    return (read.written, diffed) | "Written" >> beam.Flatten()
