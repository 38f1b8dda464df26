"""Model stages over a diffed batch: intent labels on every edit, and an edit summary per pair.

Intents (arXivEdits 7-way + coarse view, and IteraTeR 5-way):

A pure stage over the diff records of a batch of pairs: edits are matched to their alignment's
sentences (edit offsets point into `alignments.old_text` / `new_text`), classified in one batch, and
labelled in place. Summaries: the changed sentences and node changes of each pair become an
Edisum-style input (pipeline/summarize.py), generated in batches. Without trained weights each stage
says so once and is skipped: labels stay NULL, and no summaries table is written (never the base
model's untuned chatter).
"""
from __future__ import annotations

import logging
import os
from typing import Sequence

from revmine.config import Config
from revmine.models.intent_types import EditInput, coarse
from revmine.schemas import Alignment, Edit

log = logging.getLogger(__name__)


def shipped_weights(name: str) -> str:
    """Folder of a model shipped with the package, revmine/models/weights/<name>."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", "weights", name)


def default_intent_dir() -> str:
    return shipped_weights("intent")


def _load_or_warn(enabled: bool, folder: str, marker: str, missing: str, load):
    """`load(folder)` when the stage is on and `folder/marker` exists; otherwise None, with `missing`
    logged (once per worker: stages are built once, in setup)."""
    if not enabled:
        return None
    if not os.path.exists(os.path.join(folder, marker)):
        log.warning(missing, folder)
        return None
    try:
        return load(folder)
    except (ImportError, FileNotFoundError) as exc:
        log.warning("model at %s unavailable (%s): its stage is skipped", folder, exc)
        return None


def build_labeler(config: Config):
    """The intent classifier, or None (said once, with how to train one)."""
    def load(folder):
        from revmine.models.intent import IntentClassifier

        return IntentClassifier(folder)

    return _load_or_warn(config.label.enabled and config.diff.enabled, config.label.model or default_intent_dir(),
                         "heads.safetensors", "no trained intent model at %s: edits are written without intent "
                         "labels. Train one with `revmine train intent`.", load)


def edit_input(edit: Edit, alignment: Alignment) -> EditInput:
    old, new = alignment.old_text, alignment.new_text
    span = lambda s, e: ((s, e),) if s is not None and e is not None and e > s else ()  # noqa: E731
    return EditInput(old, new, span(edit.old_char_start, edit.old_char_end),
                     span(edit.new_char_start, edit.new_char_end), edit.type)


def label_edits(labeler, records: Sequence) -> int:
    """Fill the intent fields of every Edit in `records` (the diff records of one or more pairs)."""
    if labeler is None:
        return 0
    aligned = {(r.wiki, r.pair_id, r.align_idx): r for r in records if isinstance(r, Alignment)}
    edits = [r for r in records if isinstance(r, Edit)]
    if not edits:
        return 0
    labels = labeler.predict([edit_input(e, aligned[(e.wiki, e.pair_id, e.align_idx)]) for e in edits])
    arx, itr = labels.get("arxivedits"), labels.get("iterater")
    for i, e in enumerate(edits):
        if arx:
            e.intent, e.intent_score = arx[i][0], round(arx[i][1], 4)
            e.intent_coarse = coarse(e.intent)
        if itr:
            e.intent_iterater, e.intent_iterater_score = itr[i][0], round(itr[i][1], 4)
        e.intent_model = labeler.name
    return len(edits)


def default_summarizer_dir() -> str:
    return shipped_weights("summarizer")


def build_summarizer(config: Config):
    """The edit summarizer, or None (said once, with how to train one)."""
    def load(folder):
        from revmine.models.summarizer import Summarizer

        return Summarizer(folder)

    return _load_or_warn(config.summarize.enabled and config.diff.enabled,
                         config.summarize.model or default_summarizer_dir(), "summarizer.json",
                         "no trained summarizer adapter at %s: no edit summaries are written. Train one with "
                         "`revmine build summaries-dataset` and `revmine train summarizer`.", load)


def summarize_pairs(summarizer, pairs: Sequence, records: Sequence, batch_size: int = 16) -> list:
    """A Summary record per diffed pair in `pairs` (generated, or with its skip reason)."""
    from revmine.pipeline.summarize import group_diffs, skip_reason
    from revmine.schemas import Summary

    if summarizer is None or not pairs:
        return []
    diffs = group_diffs(records, pairs)
    todo = [(p, diffs[p.pair_id]) for p in pairs if skip_reason(diffs[p.pair_id]) is None]
    texts = summarizer.generate([d.input for _, d in todo], batch_size=batch_size) if todo else []
    made = {p.pair_id: t for (p, _), t in zip(todo, texts)}
    return [Summary(wiki=p.wiki, year=p.year, pair_id=p.pair_id, summary=made.get(p.pair_id),
                    skip_reason=None if p.pair_id in made else skip_reason(diffs[p.pair_id]),
                    model=summarizer.name, prompt_version=summarizer.prompt_version) for p in pairs]
