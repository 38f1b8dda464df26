"""The Beam graph: files -> read + pair + diff (per file, in the workers) -> partitioned Parquet per table.

Thin by design: all logic lives in read.py / pair.py / diff.py / arxiv.py; this module only routes
records. Each worker builds its DiffEngine (and aligner model) once, in `setup`.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Iterable, Iterator

import apache_beam as beam
from apache_beam.io import fileio

from revmine.config import Config
from revmine.pipeline.arxiv import is_arxiv_input, read_arxiv
from revmine.pipeline.diff import DiffEngine, WikitextError
from revmine.pipeline.pair import pair_revisions
from revmine.pipeline.read import read_dump, source_key
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
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", "weights", "aligner-crf")


DIFF_BATCH = 32  # pairs whose changed blocks are aligned together (one encoder batch for the neural aligner)


def process_file(path: str, config: Config, engine: DiffEngine | None) -> Iterator:
    """Every record one input file yields: the pure pipeline for one file, with no Beam in it."""
    records = read_arxiv(path) if is_arxiv_input(path) else pair_revisions(read_dump(path, config.read), config.pair)
    pending: list[RevisionPair] = []
    for rec in records:
        yield rec
        if engine is not None and isinstance(rec, RevisionPair) and rec.skip_reason is None:
            pending.append(rec)
            if len(pending) >= DIFF_BATCH:
                yield from _diff_batch(engine, pending)
                pending = []
    if pending:
        yield from _diff_batch(engine, pending)


def _diff_batch(engine: DiffEngine, pairs: list[RevisionPair]) -> Iterator:
    for pair, result in zip(pairs, engine.diff_many(pairs)):
        if isinstance(result, WikitextError):
            yield Quarantine(wiki=pair.wiki, level="pair", reason=result.reason, detail=f"{pair.pair_id}: {result.detail}",
                             source_file=pair.source_file, byte_offset=None, line=None, column=None,
                             page_id=pair.page_id, rev_id=pair.new_rev_id, stage="clean", n_revisions=0)
        else:
            yield from result


class ProcessFileFn(beam.DoFn):
    """One input file in; its rows written as partitioned Parquet by this worker; (table, path, rows) out.

    Writing here, instead of shuffling rows to a writer stage, keeps them out of the runner's memory
    and off the network: a worker streams its file's records straight to Parquet. File names are
    deterministic per input (see PartitionedWriter), so a retried bundle overwrites, never duplicates.
    """

    def __init__(self, config: Config, staging: str):
        self.config = config
        self.staging = staging
        self.engine = None

    def setup(self):
        # Once per worker: caches (and, for a neural aligner, the model) are reused across files.
        self.engine = build_engine(self.config) if self.config.diff.enabled else None

    def process(self, path: str):
        started = time.monotonic()
        writer = PartitionedWriter(self.staging, source_key(path))
        n = 0
        for rec in process_file(path, self.config, self.engine):
            writer.add(rec)
            if isinstance(rec, SourceStats):
                n = rec.revisions_read
        files = writer.close()
        log.info("%s: %s revisions in %.1fs", os.path.basename(path), f"{n:,}", time.monotonic() - started)
        yield from files


def expand_inputs(inputs: Iterable[str]) -> list[str]:
    """Directories become the input files inside them; globs and remote paths pass through to MatchAll."""
    out: list[str] = []
    for item in inputs:
        if os.path.isdir(item):
            for dirpath, _, files in sorted(os.walk(item)):
                out.extend(os.path.join(dirpath, f) for f in sorted(files) if _looks_like_input(f))
        else:
            out.append(item)
    return out


def _looks_like_input(name: str) -> bool:
    return name.endswith((".xml", ".bz2", ".gz", ".7z", ".xz", ".lzma", ".json", ".jsonl")) and not name.startswith(".")


def build(pipeline: beam.Pipeline, inputs: Iterable[str], staging: str, config: Config):
    """Compose the graph; returns the PCollection of (table, path, rows) for written files."""
    files = (pipeline
             | "Inputs" >> beam.Create(list(inputs))
             | "Match" >> fileio.MatchAll()
             | "Paths" >> beam.Map(lambda m: m.path)
             | "SpreadFiles" >> beam.Reshuffle())
    return files | "ProcessAndWrite" >> beam.ParDo(ProcessFileFn(config, staging))
