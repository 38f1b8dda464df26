"""The pure pipeline for one input file, with its models loaded, and no Beam in it.

read -> pair -> diff (clean, align, extract) -> intent labels -> summaries: `process_file` yields every
record one file gives. The Beam graph (runner/beam.py) runs the same functions on workers; tests,
benchmarks and dataset builders call them directly.
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Iterable, Iterator, Optional, Sequence

from revmine.config import Config
from revmine.pipeline.arxiv import is_arxiv_input, read_arxiv
from revmine.pipeline.decompress import STREAMS, starts_like_markup
from revmine.pipeline.diff import DiffEngine, WikitextError
from revmine.pipeline.pair import pair_revisions
from revmine.pipeline.read import read_dump
from revmine.pipeline.summarize import clean_comment, dataset_row, edisum_candidate, group_diffs
from revmine.runner import shelf
from revmine.pipeline.languages import languages_of, modelled
from revmine.runner.label import label_edits, shipped_weights, summarize_pairs
from revmine.schemas import Quarantine, RevisionPair
from revmine.schemas.names import is_url

log = logging.getLogger(__name__)


def build_engine(config: Config) -> DiffEngine:
    """The diff engine of the config: its aligner, and for the neural one on wikis outside diff.languages
    the provenance rule (the encoder learned English)."""
    from revmine.pipeline.align import ProvenanceAligner

    aligner = build_aligner(config)
    if getattr(aligner, "name", "") != "neural-crf":
        return DiffEngine(aligner, section_cache=config.diff.section_cache)
    return DiffEngine(aligner, section_cache=config.diff.section_cache, languages=languages_of(config.diff.languages),
                      other_languages=ProvenanceAligner())


def build_aligner(config: Config):
    """The configured aligner. Without trained neural weights, say so once and use the provenance aligner:
    the neural one's own links, less the CRF's for paraphrases (the same IteraTeR scores, no model)."""
    from revmine.pipeline.align import ClassicalAligner, ProvenanceAligner

    if config.diff.aligner == "classical":
        return ClassicalAligner(threshold=config.diff.align_threshold)
    provenance = ProvenanceAligner()
    if config.diff.aligner == "provenance":
        return provenance
    if config.diff.aligner != "neural":
        raise ValueError(f"unknown aligner {config.diff.aligner!r} (known: neural, provenance, classical)")
    model_dir = config.diff.aligner_model or default_aligner_dir()
    if not os.path.exists(os.path.join(model_dir, "model.safetensors")):
        log.warning("no trained aligner at %s: using the provenance aligner. Train one with `revmine train aligner`.",
                    model_dir)
        return provenance
    try:
        from revmine.models.aligner import NeuralAligner

        return shelf.model("aligner", (model_dir, config.diff.precision),
                           lambda: NeuralAligner(model_dir, precision=config.diff.precision))
    except (ImportError, OSError) as exc:
        log.warning("neural aligner unavailable (%s): using the provenance aligner", exc)
        return provenance


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


class PairBatch:
    """Pairs waiting to be diffed, in file order: full at diff.max_batch pairs, or sooner once their old
    and new texts reach diff.max_batch_chars characters (a page of huge revisions keeps few in memory)."""

    def __init__(self, config: Config):
        self.config = config
        self.items: list = []
        self.chars = 0

    def add(self, item, pair: RevisionPair) -> bool:
        """Queue `item` (the pair, or something carrying it); whether the batch is now full."""
        self.items.append(item)
        self.chars += len(pair.old_text or "") + len(pair.new_text or "")
        return len(self.items) >= self.config.diff.max_batch or self.chars >= self.config.diff.max_batch_chars

    def take(self) -> list:
        """The queued items; the batch starts again empty."""
        items, self.items, self.chars = self.items, [], 0
        return items


def process_file(path: str, config: Config, engine: DiffEngine | None, labeler=None, summarizer=None,
                 key: str | None = None) -> Iterator:
    """Every record one input file yields: the pure pipeline for one file, with no Beam in it."""
    batch, languages = PairBatch(config), languages_of(config.summarize.languages)
    for rec in read_file(path, config, key):
        yield rec
        if engine is not None and to_diff(rec) and batch.add(rec, rec):
            yield from diff_batch(engine, batch.take(), labeler, summarizer, languages)
    if batch.items:
        yield from diff_batch(engine, batch.take(), labeler, summarizer, languages)


class StageClock:
    """Seconds and items per stage in one worker, for the run's per-stage time table. Plain sums: each
    worker writes what it took into the staging folder (`write`), and the launcher adds them up (`read`)."""

    TIMINGS = "_timings"

    def __init__(self):
        self.stages: dict[str, list] = {}

    def add(self, stage: str, seconds: float, items: int) -> None:
        got = self.stages.setdefault(stage, [0.0, 0])
        got[0] += seconds
        got[1] += items

    def write(self, staging: str, name: str) -> None:
        """Into STAGING/_timings/NAME.json, then start again from zero. Local staging folders only."""
        if self.stages and not is_url(staging):
            folder = os.path.join(staging, self.TIMINGS)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{name}.json"), "w", encoding="utf-8") as fh:
                json.dump(self.stages, fh)
        self.stages = {}

    @classmethod
    def read(cls, staging: str) -> dict[str, tuple[float, int]]:
        """{stage: (seconds, items)} summed over every worker's files."""
        total: dict[str, list] = {}
        folder = os.path.join(staging, cls.TIMINGS)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
            with open(os.path.join(folder, name), encoding="utf-8") as fh:
                for stage, (seconds, items) in json.load(fh).items():
                    got = total.setdefault(stage, [0.0, 0])
                    got[0] += seconds
                    got[1] += items
        return {k: (round(v[0], 3), v[1]) for k, v in total.items()}


def diff_batch(engine: DiffEngine, pairs: Sequence[RevisionPair], labeler=None, summarizer=None,
               summary_languages: Optional[frozenset] = None) -> Iterator:
    """Diff records for a batch of pairs (one aligner call, one intent call, batched summaries)."""
    for records in diff_per_pair(engine, pairs, labeler, summarizer, summary_languages=summary_languages):
        yield from records


def diff_per_pair(engine: DiffEngine, pairs: Sequence[RevisionPair], labeler=None, summarizer=None,
                  summary_batch: int = 16, clock: Optional[StageClock] = None,
                  summary_languages: Optional[frozenset] = None) -> list[list]:
    """Each pair's diff records, edits labelled, plus its Summary row when a summarizer is loaded;
    a pair that can't be cleaned becomes one pair-level quarantine row instead. `summary_languages`:
    the languages whose content edits the summarizer's model words (None: every wiki's)."""
    out = []
    started = time.perf_counter()
    for pair, result in zip(pairs, engine.diff_many(pairs)):
        if isinstance(result, WikitextError):
            result = [Quarantine(wiki=pair.wiki, level="pair", reason=result.reason,
                                 detail=f"{pair.pair_id}: {result.detail}", source_file=pair.source_file,
                                 byte_offset=None, line=None, column=None, page_id=pair.page_id,
                                 rev_id=pair.new_rev_id, stage="clean", n_revisions=0)]
        out.append(result)
    flat = [r for records in out for r in records]
    diffed_at = time.perf_counter()
    labelled = label_edits(labeler, flat)
    labelled_at = time.perf_counter()
    diffed = [p for p, records in zip(pairs, out) if not (len(records) == 1 and isinstance(records[0], Quarantine))]
    summaries = summarize_pairs(summarizer, diffed, flat, summary_batch, summary_languages)
    if clock is not None:
        clock.add("diff (clean, align, span edits, node changes)", diffed_at - started, len(pairs))
        if labeler is not None:
            clock.add("intent labels", labelled_at - diffed_at, labelled)
        if summarizer is not None:
            clock.add("summaries", time.perf_counter() - labelled_at, len(summaries))
    by_pair = {s.pair_id: s for s in summaries}
    for pair, records in zip(pairs, out):
        if pair.pair_id in by_pair:
            records.append(by_pair[pair.pair_id])
    return out


def expand_inputs(inputs: Iterable[str]) -> list[str]:
    """Directories become the input files inside them, globs (local or remote) the files they match. A
    folder's files that are not dumps (see `_input_kind`) are left, and said once."""
    from apache_beam.io.filesystems import FileSystems

    out: list[str] = []
    for item in inputs:
        if os.path.isdir(item):
            out.extend(_dumps_of(item, _walk(item)))
        elif os.path.exists(item):  # a file named "dump[1].xml" is that file, not a pattern
            out.append(item)
        elif any(c in item for c in "*?["):
            (result,) = FileSystems.match([item])
            out.extend(sorted(m.path for m in result.metadata_list))
        elif is_url(item):  # an object store has no folders, only names under a prefix: a prefix with
            # files under it is a folder, read as a local one is; anything else is a file (or a missing one)
            (result,) = FileSystems.match([FileSystems.join(item.rstrip("/"), "**")])
            listed = sorted(m.path for m in result.metadata_list)
            out.extend(_dumps_of(item, listed) if listed else [item])
        else:
            out.append(item)
    return out


def _walk(folder: str) -> list[str]:
    """The files under `folder`, but those in hidden folders and in revmine's own outputs: a warehouse (a
    run's `--out` put beside its dumps), an export or a report. A second run over such a folder read the
    warehouse's `_inputs.json` and run manifests as arXiv inputs, and an Edisum export's `train.jsonl` as
    versions. (Hidden files are left by `_dumps_of`, which sees remote listings too.)"""
    from revmine.warehouse.catalog import CATALOG
    from revmine.warehouse.export import MARKER
    from revmine.warehouse.layout import INPUTS

    walked, outputs = [], []
    for d, dirs, files in os.walk(folder):
        if {CATALOG, INPUTS, MARKER} & set(files):  # the folder itself too: --input WAREHOUSE reads nothing
            outputs.append(d)
            dirs[:] = []
            continue
        # Hidden folders are nobody's input, and not walked: a mirror's `.snapshots/` held every dump again
        # (each read, and its revisions quarantined as duplicates), `.git/`.
        dirs[:] = [x for x in dirs if not x.startswith(".")]
        walked.append((d, files))
    found = [os.path.join(d, f) for d, files in sorted(walked) for f in sorted(files)]  # in path order, as before
    outputs.sort()
    if outputs:
        log.info("%s: %d revmine warehouse(s), export(s) or report(s) left unread (%s)", folder, len(outputs),
                 ", ".join(os.path.relpath(d, folder) for d in outputs[:5]) + (", ..." if len(outputs) > 5 else ""))
    return found


def _dumps_of(folder: str, paths: list[str]) -> list[str]:
    kept, left = [], []
    for path in paths:
        name = path.rsplit("/", 1)[-1]
        if name.startswith(".") or "/." in path[len(folder):]:  # hidden (in a bucket too): nobody's input
            continue
        kind = _input_kind(name)
        if kind == "dump" or (kind == "sniff" and starts_like_markup(path)):
            kept.append(path)
        else:
            left.append(name)
    if left:
        log.info("%s: %d file(s) that are not dumps left unread (%s%s)", folder, len(left),
                 ", ".join(left[:5]), ", ..." if len(left) > 5 else "")
    return kept


_CONTAINERS = (".bz2", ".gz", ".7z", ".xz", ".lzma", ".zip", ".tar", ".zst")
_STREAMS = tuple(f".{codec}" for codec in STREAMS)  # one compressed stream, whose first bytes are cheap to read
# Inside a container, formats that are no dump: a Wikimedia dump folder also holds its SQL tables
# (page.sql.gz, several GB each), the multistream index (-index.txt.bz2) and title lists.
_NOT_DUMPS = (".sql", ".txt", ".csv", ".tsv", ".html", ".rdf", ".ttl", ".nt")
# The JSON beside the dumps there: the dump run's status, and the site's namespaces (-siteinfo-namespaces.json.gz).
_SIDECARS = ("dumpstatus.json", "siteinfo-namespaces.json")
_READ = (".xml", ".json", ".jsonl", ".ndjson", ".tar")


def _input_kind(name: str) -> str:
    """"dump" by its name, "no", or "sniff": a stream whose name says nothing of what it holds
    (pages-meta-history1.xml-p1p2.bz2, or all-titles-in-ns0.gz, a list of titles)."""
    low = name.lower()
    stem, ext = os.path.splitext(low)
    kind = "dump"
    if ext in _CONTAINERS:
        stem, inner = os.path.splitext(stem)
        if inner in _NOT_DUMPS:
            return "no"
        if inner in _READ:
            ext = inner
        elif ext in _STREAMS:
            kind = "sniff"
    if ext not in _CONTAINERS + _READ:
        return "no"
    return "no" if ext == ".json" and (stem + ext).endswith(_SIDECARS) else kind


def dataset_rows(paths: Sequence[str], intents: bool = True) -> Iterator[tuple[str, list[dict]]]:
    """(path, training rows) per dump, with one engine and one intent model for all of them: the rows
    `build summaries-dataset` writes and `eval summaries` reads from a dump. The classical aligner: the
    dataset is about comments, and it needs no model."""
    from revmine.runner.label import build_labeler

    config = Config.load(None, **{"diff.aligner": "classical", "label.enabled": intents})
    engine, labeler = build_engine(config), build_labeler(config)
    for path in paths:
        yield path, list(rows_from_dump(path, config, engine, labeler=labeler))


def rows_from_dump(path: str, config=None, engine=None, batch: int = 32, labeler=None) -> Iterable[dict]:
    """Training rows from one dump: read, pair, diff (and label intents, with a labeler) in batches, filter.
    Each row also carries what the summary stage's describer writes for the pair (`describer`: None when
    the stage gives the pair to the model; `content`: its plain content summary), the baselines and the
    fallback the evaluation compares against, and `evidence`: everything a summary of the pair may name
    (describe.Evidence), so the evaluation checks faithfulness as the pipeline does. Texts are dropped as
    soon as a batch is diffed, so memory stays flat on long histories."""
    from dataclasses import asdict

    from revmine.pipeline.describe import Evidence, describe_content, route

    config = config or Config.load(None, **{"diff.aligner": "classical", "label.enabled": False})
    engine = engine or build_engine(config)
    languages = languages_of(config.summarize.languages)  # the model writes English: no rows from itwiki comments
    pending: list[RevisionPair] = []

    def flush():
        for pair, records in zip(pending, diff_per_pair(engine, pending, labeler)):
            pair.old_text = pair.new_text = None
            d = group_diffs(records, [pair])[pair.pair_id]
            row = dataset_row(d)
            if row is not None:
                decided = route(pair, d, model=True)
                yield {**row, "describer": decided[0] if decided else None, "content": describe_content(d),
                       "evidence": asdict(Evidence.of(d))}
        pending.clear()

    for rec in read_file(path, config):
        if to_diff(rec) and edisum_candidate(rec) and clean_comment(rec.comment) and modelled(rec.wiki, languages):
            pending.append(rec)  # filter before diffing: no point cleaning edits that can't be examples
            if len(pending) >= batch:
                yield from flush()
    if pending:
        yield from flush()
