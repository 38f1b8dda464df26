"""Run configuration: dataclasses with defaults, overridable from YAML (configs/*.yaml)."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Optional

import yaml

from revmine.schemas.names import check_wiki_name

# Wikipedia's bot policy requires "bot" in a bot account's name; this matches it as a word or suffix
# (ClueBot NG, SmackBot, Cydebot, AnomieBOT, Bot1058) without matching "Abbott", "Robotics" or "Botticelli".
DEFAULT_BOT_PATTERN = r"(?i)bot(?:\b|_|\d|$)"


@dataclass
class ReadConfig:
    wiki: Optional[str] = None  # override the wiki name found in the dump
    max_text_bytes: int = 4 * 1024 * 1024  # 2x MediaWiki's $wgMaxArticleSize; bigger texts are quarantined
    progress_seconds: float = 5.0
    # MediaWiki's own maxima: page_title and actor_name are 255-byte columns; CommentStore keeps
    # 500 characters. Longer values can only come from a damaged or hostile file.
    max_title_bytes: int = 255
    max_user_bytes: int = 255
    max_comment_chars: int = 500
    over_limit: str = "truncate"  # truncate (and flag with a field_truncated row) | quarantine the revision


@dataclass
class PairConfig:
    revert_radius: int = 15  # mwreverts' default: a revert may span at most this many revisions
    revert_max_seconds: Optional[int] = None  # optional time limit for a revert (e.g. 48h = 172800)
    parent_window: int = 100  # how many earlier revisions of a page are kept to find a <parentid>
    bot_pattern: str = DEFAULT_BOT_PATTERN
    bot_users: list[str] = field(default_factory=list)  # extra accounts to flag (flagged bots without "bot")
    not_bot_users: list[str] = field(default_factory=list)  # humans the pattern would wrongly flag

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
    enabled: bool = True  # false: stop after pairing (revisions, pairs, quarantine only)
    aligner: str = "neural"  # neural (trained CRF; falls back to classical without weights) | classical
    aligner_model: Optional[str] = None  # model folder; default: the weights shipped in revmine/models/weights
    align_threshold: float = 0.5  # classical aligner: minimum similarity for a link
    section_cache: int = 4096  # cleaned sections kept per worker
    # Beam's BatchElements sizes the batches of pairs between these, adapting to the measured time per
    # batch; a batch's changed blocks go through the aligner (one encoder call) together.
    min_batch: int = 8
    max_batch: int = 64


@dataclass
class LabelConfig:
    enabled: bool = True  # label every edit's intent (needs diff.enabled)
    model: Optional[str] = None  # intent model folder; default: the adapter shipped in revmine/models/weights


@dataclass
class SummarizeConfig:
    enabled: bool = True  # write an edit summary per diffed pair (needs diff.enabled and trained adapters)
    model: Optional[str] = None  # adapter folder; default: the adapter shipped in revmine/models/weights
    batch_size: int = 16  # pairs per generate() call


@dataclass
class Config:
    read: ReadConfig = field(default_factory=ReadConfig)
    pair: PairConfig = field(default_factory=PairConfig)
    diff: DiffConfig = field(default_factory=DiffConfig)
    label: LabelConfig = field(default_factory=LabelConfig)
    summarize: SummarizeConfig = field(default_factory=SummarizeConfig)

    @classmethod
    def load(cls, path: Optional[str] = None, **overrides: Any) -> "Config":
        data: dict = {}
        if path:
            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh) or {}
        cfg = cls()
        for section, values in data.items():
            if section in ("source", "runner", "description"):
                continue
            if not hasattr(cfg, section):
                raise ValueError(f"{path}: unknown config section {section!r} (known: read, pair, diff, label, summarize)")
            target = getattr(cfg, section)
            for key, value in (values or {}).items():
                if not hasattr(target, key):
                    known = ", ".join(f.name for f in dataclasses.fields(target))
                    raise ValueError(f"{path}: unknown key {section}.{key} (known: {known})")
                setattr(target, key, value)
        for dotted, value in overrides.items():
            section, key = dotted.split(".", 1)
            setattr(getattr(cfg, section), key, value)
        if cfg.read.wiki is not None:
            check_wiki_name(cfg.read.wiki, f"{path or 'config'}: read.wiki")
        if cfg.read.over_limit not in ("truncate", "quarantine"):
            raise ValueError(f"{path or 'config'}: read.over_limit {cfg.read.over_limit!r} (allowed: truncate, quarantine)")
        return cfg
