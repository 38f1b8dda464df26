"""Model stages over a diffed batch: intent labels on every edit, and an edit summary per pair.

Intents (arXivEdits 7-way + coarse view, and IteraTeR 5-way):

A pure stage over the diff records of a batch of pairs: edits are matched to their alignment's
sentences (edit offsets point into `alignments.old_text` / `new_text`), classified in one batch, and
labelled in place. Summaries: the changed sentences and node changes of each pair become an
Edisum-style input (pipeline/summarize.py), generated in batches; the describer (pipeline/describe.py)
writes the pairs whose structured diff determines the edit, and checks the model's. Without trained
weights each stage says so once: labels stay NULL, and only the describer writes summaries (never the
base model's untuned chatter).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

from revmine.config import Config
from revmine.models.intent_types import WHOLE_SENTENCE, WHOLE_SENTENCE_MODEL, EditInput, coarse
from revmine.pipeline.languages import languages_of, modelled
from revmine.runner import shelf
from revmine.schemas import Alignment, Edit

if TYPE_CHECKING:
    from revmine.models.intent import IntentClassifier

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


class ModelFolderError(ValueError):
    """A model folder the config names cannot be used: said before the run starts."""


def check_model_folders(config: Config) -> None:
    """Each model folder the config names for a stage that is on (not the shipped defaults, whose absence
    the stages say once and work around) holds its model, and its weights files can be read. A mistyped
    path used to run the whole input without that stage (one warning, the column NULL, exit 0), and a
    damaged file failed every worker in setup, with Beam's traceback. Only where the run's workers see the
    launcher's files (DirectRunner): a remote worker's path may exist on the worker alone."""
    from safetensors import safe_open

    diff = config.diff.enabled
    named = [("diff.aligner_model", config.diff.aligner_model if diff and config.diff.aligner == "neural" else None,
              "model.safetensors"),
             ("label.model", config.label.model if diff and config.label.enabled else None, "heads.safetensors"),
             ("summarize.model", config.summarize.model if diff and config.summarize.enabled else None,
              "summarizer.json")]
    for key, folder, marker in named:
        if folder is None:
            continue
        if not os.path.isfile(os.path.join(folder, marker)):
            raise ModelFolderError(f"{key}: {folder} holds no trained model (no {marker})")
        for root, _, files in os.walk(folder):
            for name in sorted(f for f in files if f.endswith(".safetensors")):
                path = os.path.join(root, name)
                try:
                    with safe_open(path, framework="pt") as weights:  # the header only: no tensor is read
                        weights.keys()
                except Exception as exc:  # SafetensorError, OSError: whatever it is, the file cannot be loaded
                    raise ModelFolderError(f"{key}: {path} cannot be read ({exc})") from None


def build_labeler(config: Config):
    """The intent classifier, or None (said once, with how to train one)."""
    def load(folder):
        from revmine.models.intent import IntentClassifier

        classifier = shelf.model("intent", (folder, config.label.precision),
                                 lambda: IntentClassifier(folder, precision=config.label.precision))
        return Labeler(classifier, config.label.whole_sentence_rule, languages_of(config.label.languages))

    return _load_or_warn(config.label.enabled and config.diff.enabled, config.label.model or default_intent_dir(),
                         "heads.safetensors", "no trained intent model at %s: edits are written without intent "
                         "labels. Train one with `revmine train intent`.", load)


def edit_input(edit: Edit, alignment: Alignment) -> EditInput:
    old, new = alignment.old_text, alignment.new_text
    span = lambda s, e: ((s, e),) if s is not None and e is not None and e > s else ()  # noqa: E731
    return EditInput(old, new, span(edit.old_char_start, edit.old_char_end),
                     span(edit.new_char_start, edit.new_char_end), edit.type)


@dataclass
class Labeler:
    """The intent stage of a worker: the classifier, whether a rule labels whole sentences, and the
    languages whose other edits the classifier labels (None: every wiki's)."""
    classifier: "IntentClassifier"
    whole_sentence_rule: bool = True
    languages: Optional[frozenset] = None

    @property
    def name(self) -> str:
        return self.classifier.name


def label_edits(labeler: Optional[Labeler], records: Sequence) -> int:
    """Fill the intent fields of every Edit in `records` (the diff records of one or more pairs): a whole
    sentence added or removed by the rule in WHOLE_SENTENCE (unless the labeler turns it off), the rest
    by the classifier."""
    if labeler is None:
        return 0
    aligned = {(r.wiki, r.pair_id, r.align_idx): r for r in records if isinstance(r, Alignment)}
    edits = [r for r in records if isinstance(r, Edit)]
    classify = []
    read = {}  # wiki -> whether the classifier may read its text
    for e in edits:
        rule = WHOLE_SENTENCE.get(e.type) if labeler.whole_sentence_rule and e.granularity == "sentence" else None
        if rule is None:
            if read.setdefault(e.wiki, modelled(e.wiki, labeler.languages)):
                classify.append(e)
            continue
        e.intent, e.intent_iterater, e.intent_iterater_score = rule
        e.intent_score, e.intent_coarse, e.intent_model = None, coarse(e.intent), WHOLE_SENTENCE_MODEL
    if classify:
        clf = labeler.classifier
        labels, source = clf.predict_with_source([edit_input(e, aligned[(e.wiki, e.pair_id, e.align_idx)])
                                                  for e in classify])
        arx, itr = labels.get("arxivedits"), labels.get("iterater")
        for i, e in enumerate(classify):
            if arx:
                e.intent, e.intent_score = arx[i][0], round(arx[i][1], 4)
                e.intent_coarse = coarse(e.intent)
            if itr:
                e.intent_iterater, e.intent_iterater_score = itr[i][0], round(itr[i][1], 4)
            e.intent_model = source[i]
    return len(edits)


def default_summarizer_dir() -> str:
    return shipped_weights("summarizer")


class DescriberOnly:
    """The summary stage without a trained model: the describer writes what the structure determines,
    and content edits are marked unsummarised."""
    name = "describer"
    generate = None

    def __init__(self):
        from revmine.pipeline.summarize import PROMPT_VERSION

        self.prompt_version = PROMPT_VERSION


def build_summarizer(config: Config):
    """The edit summarizer; DescriberOnly when summaries are on but no adapter is trained (said once, with
    how to train one); None when summaries are off."""
    def load(folder):
        from revmine.models.summarizer import Summarizer

        return shelf.model("summarizer", folder, lambda: Summarizer(folder))

    enabled = config.summarize.enabled and config.diff.enabled
    model = _load_or_warn(enabled, config.summarize.model or default_summarizer_dir(), "summarizer.json",
                          "no trained summarizer adapter at %s: the describer writes what the structured diff "
                          "determines, and content edits stay unsummarised. Train one with "
                          "`revmine build summaries-dataset` and `revmine train summarizer`.", load)
    return model if model is not None or not enabled else DescriberOnly()


def summarize_pairs(summarizer, pairs: Sequence, records: Sequence, batch_size: int = 16,
                    languages: Optional[frozenset] = None) -> list:
    """A Summary record per diffed pair in `pairs`.

    The describer writes every pair whose structured diff determines the edit. Content edits go to the
    model, except reverted and bot edits (never worth a model call): those, and model outputs that break
    the faithfulness rule, get the describer's plain content summary. On a wiki outside `languages` (None:
    every wiki) the model writes nothing: such content edits get skip_reason 'other_language'."""
    from revmine.pipeline.describe import Evidence, accept, describe_content, route
    from revmine.pipeline.summarize import group_diffs
    from revmine.schemas import Summary

    if summarizer is None or not pairs:
        return []
    diffs = group_diffs(records, pairs)
    written: dict[str, tuple] = {}  # pair_id -> (summary, path, skip reason)
    todo = []
    has_model = summarizer.generate is not None
    unsummarised = "other_language" if has_model else "content_edit_unsummarised"  # why the model wrote nothing
    for p in pairs:
        decided = route(p, diffs[p.pair_id], model=has_model and modelled(p.wiki, languages), unsummarised=unsummarised)
        if decided is None:
            todo.append((p, diffs[p.pair_id]))
        else:
            written[p.pair_id] = decided
    texts = summarizer.generate([d.input for _, d in todo], batch_size=batch_size) if todo else []
    for (p, d), text in zip(todo, texts):
        written[p.pair_id] = (*accept(text, Evidence.of(d), describe_content(d)), None)
    return [Summary(wiki=p.wiki, year=p.year, pair_id=p.pair_id, summary=written[p.pair_id][0],
                    skip_reason=written[p.pair_id][2], model=summarizer.name, prompt_version=summarizer.prompt_version,
                    path=written[p.pair_id][1]) for p in pairs]
