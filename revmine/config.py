"""Run configuration: typed dataclasses whose defaults are the library's, validated when loaded from YAML.

`Config.load` checks every key, type and allowed value of a YAML file (configs/*.yaml) with pydantic, and
refuses a bad one with one line per problem naming the file, the key, the value and what is allowed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Annotated, Any, Literal, Optional

import yaml
from pydantic import ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, TypeAdapter, ValidationError

from revmine.schemas.names import check_wiki_name

# Wikipedia's bot policy requires "bot" in a bot account's name; this matches it as a word or suffix
# (ClueBot NG, SmackBot, Cydebot, AnomieBOT, Bot1058) without matching "Abbott", "Robotics" or "Botticelli".
DEFAULT_BOT_PATTERN = r"(?i)bot(?:\b|_|\d|$)"
_STRICT = ConfigDict(extra="forbid")  # unknown keys are errors; scalar types are Strict* below
# Counts and limits a run can use: a radius of 0 reached mwreverts and stopped the run inside Beam, and a
# negative text limit quarantined every revision.
Count = Annotated[StrictInt, Field(ge=1)]
LanguageCode = Annotated[StrictStr, Field(pattern=r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$|^simple$")]
Seconds = Annotated[StrictFloat, Field(ge=0)]
Share = Annotated[StrictFloat, Field(ge=0, le=1)]


def _english_wikis() -> list[str]:
    """The default of diff/label/summarize.languages: the wikis the English models may read."""
    return ["en", "simple"]


class ConfigError(ValueError):
    """A configuration file (or override) that does not validate; the message is one line per problem."""


@dataclass
class ReadConfig:
    __pydantic_config__ = _STRICT
    wiki: Optional[StrictStr] = None  # override the wiki name found in the dump
    max_text_bytes: Count = 4 * 1024 * 1024  # 2x MediaWiki's $wgMaxArticleSize; bigger texts are quarantined
    progress_seconds: Seconds = 5.0
    # MediaWiki's own maxima: page_title and actor_name are 255-byte columns; CommentStore keeps
    # 500 characters. Longer values can only come from a damaged or hostile file.
    max_title_bytes: Count = 255
    max_user_bytes: Count = 255
    max_comment_chars: Count = 500
    over_limit: Literal["truncate", "quarantine"] = "truncate"  # truncate (and flag with a field_truncated row) | quarantine the revision


@dataclass
class PairConfig:
    __pydantic_config__ = _STRICT
    revert_radius: Count = 15  # mwreverts' default: a revert may span at most this many revisions
    revert_max_seconds: Optional[Count] = None  # optional time limit for a revert (e.g. 48h = 172800)
    parent_window: Count = 100  # how many earlier revisions of a page are kept to find a <parentid>
    # how many revisions of a page written newest first are held to be paired oldest first
    reorder_window: Count = 1000
    bot_pattern: StrictStr = DEFAULT_BOT_PATTERN
    bot_users: list[StrictStr] = field(default_factory=list)  # extra accounts to flag (flagged bots without "bot")
    not_bot_users: list[StrictStr] = field(default_factory=list)  # humans the pattern would wrongly flag

    def bot_matcher(self):
        pattern = re.compile(self.bot_pattern)
        extra = {u.casefold() for u in self.bot_users}
        exempt = {u.casefold() for u in self.not_bot_users}

        def is_bot(user: Optional[str]) -> bool:
            if not user:
                return False
            key = user.casefold()
            if key in exempt:
                return False
            return key in extra or bool(pattern.search(user))

        return is_bot


@dataclass
class DiffConfig:
    __pydantic_config__ = _STRICT
    enabled: StrictBool = True  # false: stop after pairing (revisions, pairs, quarantine only)
    # neural (trained CRF; falls back to provenance without weights) | provenance (word-diff character
    # provenance, no model) | classical (string similarity)
    aligner: Literal["neural", "provenance", "classical"] = "neural"
    aligner_model: Optional[StrictStr] = None  # model folder; default: the weights shipped in revmine/models/weights
    align_threshold: Share = 0.5  # classical aligner: minimum similarity for a link
    section_cache: Annotated[StrictInt, Field(ge=0)] = 4096  # cleaned sections kept per worker
    # Pairs of a file are diffed in batches of this many, in file order; a batch's changed blocks go
    # through the aligner (one encoder call) together, and its content edits to the summarizer. 256 rather
    # than 64: the summarizer's length-sorted batches pad less (1.18x on the last 500 Anarchism
    # revisions, at the same peak memory).
    max_batch: Count = 256
    # ...or fewer, once their old and new texts reach this many characters: a page of 2 MB revisions
    # holds 16 pairs in flight, not 256.
    max_batch_chars: Count = 64_000_000
    # The neural aligner's sentence encoder. auto: bf16 on a CPU that does bf16 natively, fp16 on CUDA (the
    # same dev F1); fp32: embeddings that do not move with a sentence's batch-mates.
    precision: Literal["auto", "fp32"] = "auto"
    # The neural aligner's encoder learned English: wikis whose database name gives another language are
    # aligned by the provenance rule alone, as label.languages (on IteraTeR the CRF adds nothing to the rule's
    # links: 0.968 / 0.950 either way). null: the neural aligner on every wiki.
    languages: Optional[list[LanguageCode]] = field(default_factory=_english_wikis)


@dataclass
class LabelConfig:
    __pydantic_config__ = _STRICT
    enabled: StrictBool = True  # label every edit's intent (needs diff.enabled)
    model: Optional[StrictStr] = None  # intent model folder; default: the adapter shipped in revmine/models/weights
    # A whole sentence added or removed gets its labels from a rule (models/intent_types.WHOLE_SENTENCE), not
    # the encoder: nine in ten edits of a long history, at 1/100 of the cost. False: the encoder labels them.
    whole_sentence_rule: StrictBool = True
    # The intent encoder. auto: bf16 on a CPU that does bf16 natively (1.75x the edits/s, the same dev F1),
    # int8 dynamic quantisation of its linear layers on other CPUs, fp16 on CUDA; int8: int8 on any CPU;
    # fp32: scores that do not move (in the third decimal) with an edit's batch-mates.
    precision: Literal["auto", "fp32", "int8"] = "auto"
    # The models learned English: wikis whose database name gives another language (itwiki, dewikivoyage)
    # get the whole-sentence rule's labels only, their other edits none. Wikis of no language code
    # (commonswiki, a wiki of your own) and arXiv are labelled. null: every wiki.
    languages: Optional[list[LanguageCode]] = field(default_factory=_english_wikis)


@dataclass
class SummarizeConfig:
    __pydantic_config__ = _STRICT
    enabled: StrictBool = True  # write an edit summary per diffed pair (needs diff.enabled and trained adapters)
    model: Optional[StrictStr] = None  # adapter folder; default: the adapter shipped in revmine/models/weights
    batch_size: Count = 16  # pairs per generate() call
    # As label.languages: on wikis in other languages the describer writes what the structure determines,
    # and content edits get skip_reason 'other_language' (the model learned English summaries of English).
    languages: Optional[list[LanguageCode]] = field(default_factory=_english_wikis)


@dataclass
class Config:
    __pydantic_config__ = _STRICT
    read: ReadConfig = field(default_factory=ReadConfig)
    pair: PairConfig = field(default_factory=PairConfig)
    diff: DiffConfig = field(default_factory=DiffConfig)
    label: LabelConfig = field(default_factory=LabelConfig)
    summarize: SummarizeConfig = field(default_factory=SummarizeConfig)

    @classmethod
    def load(cls, path: Optional[str] = None, **overrides: Any) -> "Config":
        """The defaults, updated from the YAML file at `path` and from `overrides` ({"section.key": value}).

        Raises ConfigError (one line per problem) for unknown sections or keys, wrong types and values
        outside the allowed ones; OSError when the file can't be read."""
        where = path or "config"
        data: Any = {}
        if path:
            with open(path, encoding="utf-8") as fh:
                try:
                    data = yaml.safe_load(fh) or {}
                except yaml.YAMLError as exc:
                    raise ConfigError(f"{where}: not valid YAML: {' '.join(str(exc).split())}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping of sections ({', '.join(_SECTIONS)}), got {type(data).__name__}")
        description = data.pop("description", None)
        if description is not None and not isinstance(description, str):
            raise ConfigError(f"{where}: description: expected text, got {description!r:.60}")
        data = {k: ({} if v is None else v) for k, v in data.items()}
        for dotted, value in overrides.items():
            section, key = dotted.split(".", 1)
            if not isinstance(data.get(section, {}), dict):
                break  # reported by the validation below
            data.setdefault(section, {})[key] = value
        try:
            cfg = _ADAPTER.validate_python(data)
        except ValidationError as exc:
            raise ConfigError("\n".join(_describe(where, err) for err in exc.errors())) from None
        try:
            if cfg.read.wiki is not None:
                check_wiki_name(cfg.read.wiki, f"{where}: read.wiki")
            re.compile(cfg.pair.bot_pattern)
        except (ValueError, re.error) as exc:
            raise ConfigError(f"{where}: pair.bot_pattern: {exc}" if isinstance(exc, re.error) else str(exc)) from None
        return cfg


def load_runner_preset(path: str) -> list[str]:
    """The Beam flags of a runner preset (configs/runners/*.yaml: `runner_args: ["--flag=value", ...]`);
    ConfigError in one line for anything else. OSError when the file can't be read."""
    with open(path, encoding="utf-8") as fh:
        try:
            data = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict) or set(data) - {"runner_args", "description"}:
        raise ConfigError(f"{path}: a runner preset is a mapping with one key, runner_args (a list of Beam flags), "
                          f"got {data!r:.80}")
    return check_beam_flags(data.get("runner_args") or [], f"{path}: runner_args")


def check_beam_flags(flags: Any, where: str) -> list[str]:
    """`flags` when it is a list of Beam flags (`--name=value`); ConfigError naming `where` otherwise."""
    if not isinstance(flags, list) or not all(isinstance(f, str) and f.startswith("--") for f in flags):
        raise ConfigError(f"{where}: expected a list of Beam flags such as \"--runner=DirectRunner\", "
                          f"got {flags!r:.80}")
    return flags


_SECTIONS = ("read", "pair", "diff", "label", "summarize")
_ADAPTER = TypeAdapter(Config)


def _describe(where: str, err: dict) -> str:
    """One line for one validation problem: file, key, value, and what is allowed."""
    loc = ".".join(str(p) for p in err["loc"])
    value = err.get("input")
    if err["type"] == "unexpected_keyword_argument":
        section = err["loc"][0] if len(err["loc"]) > 1 else None
        known = _SECTIONS if section is None else tuple(f.name for f in fields(getattr(Config(), section)))
        return f"{where}: unknown key {loc!r} (allowed: {', '.join(known)})"
    return f"{where}: {loc}: {err['msg']} (got {value!r:.80})"
