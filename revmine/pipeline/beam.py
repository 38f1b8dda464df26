"""The Beam graph, thin by design (all logic lives in read.py / pair.py / diff.py / arxiv.py):

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
from typing import Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from revmine.config import Config
from revmine.pipeline.arxiv import is_arxiv_input, read_arxiv
from revmine.pipeline.diff import DiffEngine, WikitextError
from revmine.pipeline.label import build_labeler, build_summarizer, label_edits, shipped_weights, summarize_pairs
from revmine.pipeline.pair import pair_revisions
from revmine.pipeline.read import read_dump
from revmine.schemas import Quarantine, RevisionPair, SourceStats
from revmine.warehouse.layout import PartitionedWriter

log = logging.getLogger(__name__)

def build_engine(config: Config) -> DiffEngine:
    return DiffEngine(build_aligner(config), section_cache=config.diff.section_cache)


def build_aligner(config: Config):
    """The configured aligner; without trained neural weights, say so once and use the classical one."""
    from revmine.pipeline.align import ClassicalAligner

    classical = ClassicalAligner(threshold=config.diff.align_threshold)
    if config.diff.aligner == "classical":
        return classical
    if config.diff.aligner != "neural":
        raise ValueError(f"unknown aligner {config.diff.aligner!r} (known: neural, classical)")
    model_dir = config.diff.aligner_model or default_aligner_dir()
    if not os.path.exists(os.path.join(model_dir, "model.safetensors")):
        log.warning("no trained aligner at %s: using the classical aligner. Train one with `revmine train aligner`.",
                    model_dir)
        return classical
    try:
        from revmine.models.aligner import NeuralAligner

        return NeuralAligner(model_dir)
    except (ImportError, OSError) as exc:
        log.warning("neural aligner unavailable (%s): using the classical aligner", exc)
        return classical


def default_aligner_dir() -> str:
    return shipped_weights("aligner-crf")


def read_file(path: str, config: Config, key: str | None = None) -> Iterator:
    """Read (and, for dumps, pair) one input file: revisions, pairs, quarantine rows and its stats row.
    `key`: the input's content key, when the caller computed it already."""
    if is_arxiv_input(path):
        return read_arxiv(path, key)
    return pair_revisions(read_dump(path, config.read, source_key=key), config.pair)


def to_diff(rec) -> bool:
    return isinstance(rec, RevisionPair) and rec.skip_reason is None


def process_file(path: str, config: Config, engine: DiffEngine | None, labeler=None, summarizer=None,
                 key: str | None = None) -> Iterator:
    """Every record one input file yields: the pure pipeline for one file, with no Beam in it."""
    pending: list[RevisionPair] = []
    for rec in read_file(path, config, key):
        yield rec
        if engine is not None and to_diff(rec):
            pending.append(rec)
            if len(pending) >= config.diff.max_batch:
                yield from diff_batch(engine, pending, labeler, summarizer)
                pending = []
    if pending:
        yield from diff_batch(engine, pending, labeler, summarizer)


def diff_batch(engine: DiffEngine, pairs: Sequence[RevisionPair], labeler=None, summarizer=None) -> Iterator:
    """Diff records for a batch of pairs (one aligner call, one intent call, batched summaries)."""
    for records in diff_per_pair(engine, pairs, labeler, summarizer):
        yield from records


def diff_per_pair(engine: DiffEngine, pairs: Sequence[RevisionPair], labeler=None, summarizer=None,
                  summary_batch: int = 16) -> list[list]:
    """Each pair's diff records, edits labelled, plus its Summary row when a summarizer is loaded;
    a pair that can't be cleaned becomes one pair-level quarantine row instead."""
    out = []
    for pair, result in zip(pairs, engine.diff_many(pairs)):
        if isinstance(result, WikitextError):
            result = [Quarantine(wiki=pair.wiki, level="pair", reason=result.reason,
                                 detail=f"{pair.pair_id}: {result.detail}", source_file=pair.source_file,
                                 byte_offset=None, line=None, column=None, page_id=pair.page_id,
                                 rev_id=pair.new_rev_id, stage="clean", n_revisions=0)]
        out.append(result)
    flat = [r for records in out for r in records]
    label_edits(labeler, flat)
    diffed = [p for p, records in zip(pairs, out) if not (len(records) == 1 and isinstance(records[0], Quarantine))]
    by_pair = {s.pair_id: s for s in summarize_pairs(summarizer, diffed, flat, summary_batch)}
    for pair, records in zip(pairs, out):
        if pair.pair_id in by_pair:
            records.append(by_pair[pair.pair_id])
    return out


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


def expand_inputs(inputs: Iterable[str]) -> list[str]:
    """Directories become the input files inside them, globs (local or remote) the files they match."""
    from apache_beam.io.filesystems import FileSystems

    out: list[str] = []
    for item in inputs:
        if os.path.isdir(item):
            for dirpath, _, files in sorted(os.walk(item)):
                out.extend(os.path.join(dirpath, f) for f in sorted(files) if _looks_like_input(f))
        elif any(c in item for c in "*?["):
            (result,) = FileSystems.match([item])
            out.extend(sorted(m.path for m in result.metadata_list))
        else:
            out.append(item)
    return out


def _looks_like_input(name: str) -> bool:
    return name.endswith((".xml", ".bz2", ".gz", ".7z", ".xz", ".lzma", ".json", ".jsonl")) and not name.startswith(".")


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
