"""One revision pair -> sentences, alignments, span edits, node changes and a stats row.

Unchanged sentences are matched by hash, in order (difflib over the sentence sequence). Only the
changed blocks between them reach the aligner. Cleaning is cached per section and per revision,
so in a page's history each revision is cleaned once and each pair costs about one section parse.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Optional, Sequence

from revmine.pipeline.align import Aligned, Aligner, ClassicalAligner, align_blocks
from revmine.pipeline.clean import LRU, CleanDoc, Namespaces, SectionCache, SentenceList, WikitextError, clean_wikitext
from revmine.pipeline.extract import edits_between
from revmine.pipeline.languages import modelled
from revmine.pipeline.nodediff import node_changes, sequence_opcodes
from revmine.schemas import Alignment, DiffStats, Edit, RevisionPair, Sentence

__all__ = ["DiffEngine", "PairKey", "WikitextError", "node_changes", "sentence_opcodes"]

MAX_CACHED_BLOCK = 1024  # sentences (both sides) of the largest block whose alignment the engine keeps

sentence_opcodes = sequence_opcodes  # unchanged sentences are matched like nodes: by hash, in order


@dataclass(frozen=True)
class PairKey:
    """What every diff record of one pair shares."""
    wiki: str
    year: int
    pair_id: str
    source: str


class DiffEngine:
    def __init__(self, aligner: Optional[Aligner] = None, section_cache: int = 4096, doc_cache: int = 4,
                 languages: Optional[frozenset] = None, other_languages: Optional[Aligner] = None):
        """`other_languages`: the aligner for wikis outside `languages` (the neural aligner's encoder learned
        English; the provenance rule reads any language); None: `aligner` for every wiki."""
        self.aligner = aligner or ClassicalAligner()
        self.languages, self.other_languages = languages, other_languages
        self.sections = SectionCache(section_cache)
        self.docs: OrderedDict[tuple, CleanDoc] = OrderedDict()
        self.doc_cache = doc_cache
        # An edit war adds and removes the same text again and again: on the full Anarchism history nearly
        # half the changed blocks and 86% of the aligned sentence pairs were seen a few pairs before.
        self.aligned = LRU(512)
        self.spans = LRU(8192)

    # ---- one pair or many ------------------------------------------------------------------
    def diff(self, pair: RevisionPair) -> list:
        """Records for one pair. Raises WikitextError when a side can't be cleaned."""
        (result,) = self.diff_many([pair])
        if isinstance(result, WikitextError):
            raise result
        return result

    def diff_many(self, pairs: Sequence[RevisionPair]) -> list:
        """Records (or the WikitextError) for each pair; the changed blocks of all of them are aligned
        in one call, so a neural aligner encodes one large batch instead of many small ones."""
        plans: list = []
        for pair in pairs:
            try:
                plans.append(self._plan(pair))
            except WikitextError as exc:
                plans.append(exc)
        blocks = [(p.old.texts[i1:i2], p.new.texts[j1:j2]) for p in plans if isinstance(p, _Plan)
                  for i1, i2, j1, j2 in p.spans]
        english = [self._reads(p.key.wiki) for p in plans if isinstance(p, _Plan) for _ in p.spans]
        aligned = iter(self._align(blocks, english))
        return [p if isinstance(p, WikitextError) else self._finish(p, [next(aligned) for _ in p.spans]) for p in plans]

    def _reads(self, wiki: str) -> bool:
        """Whether the main aligner aligns `wiki`'s blocks (else `other_languages` does)."""
        return self.other_languages is None or modelled(wiki, self.languages)

    def _align(self, blocks: Sequence[tuple[Sequence[str], Sequence[str]]],
               english: Optional[Sequence[bool]] = None) -> list[list[Aligned]]:
        """The aligner's output for each block; blocks aligned lately are looked up, the rest go to the
        aligner in one call (`english[i]` False: block i goes to `other_languages`)."""
        english = english or [True] * len(blocks)
        keys = [(tuple(o), tuple(n), e) for (o, n), e in zip(blocks, english)]
        known = {k: self.aligned.data[k] for k in keys if k in self.aligned.data}
        todo = {k: b for k, b in zip(keys, blocks) if k not in known}
        for reads, aligner in ((True, self.aligner), (False, self.other_languages)):
            part = [k for k in todo if k[2] == reads]
            if part:
                known.update(zip(part, align_blocks(aligner, [todo[k] for k in part])))
        # The cache keeps its blocks' sentences alive: past MAX_CACHED_BLOCK sentences a block is not kept,
        # so 512 entries hold at most about 80 MB of text.
        return [self.aligned.fetch(k, lambda k=k: known[k])[0] if len(k[0]) + len(k[1]) <= MAX_CACHED_BLOCK
                else known[k] for k in keys]

    # ---- phases ----------------------------------------------------------------------------
    def _plan(self, pair: RevisionPair) -> "_Plan":
        if pair.old_sentences is not None:  # plain-text sources arrive split into sentences
            return self._plan_sentences(PairKey(pair.wiki, pair.year, pair.pair_id, "arxiv"),
                                        SentenceList.of(pair.old_sentences), SentenceList.of(pair.new_sentences))
        key = PairKey(pair.wiki, pair.year, pair.pair_id, "wikipedia")
        parsed_before = self.sections.misses
        names = Namespaces.of(pair.namespaces, pair.wiki)
        old = self._doc(pair.wiki, pair.old_rev_id, pair.old_text, names)
        new = self._doc(pair.wiki, pair.new_rev_id, pair.new_text, names)
        plan = self._plan_sentences(key, old, new)
        plan.nodes = node_changes(key, old, new)
        plan.sections_parsed = self.sections.misses - parsed_before
        return plan

    def _doc(self, wiki: str, rev_id: Optional[int], text: str, names: "Namespaces") -> CleanDoc:
        # The text is part of the key: a revision id that two pages or files share can never pick up the
        # other's cleaned text. (Hashing a str is cached, and a hit compares the same object.)
        k = (wiki, rev_id, text, names)
        doc = self.docs.get(k)
        if doc is None:
            doc = clean_wikitext(text, self.sections, names)
            self.docs[k] = doc
            if len(self.docs) > self.doc_cache:
                self.docs.popitem(last=False)
        else:
            self.docs.move_to_end(k)
        return doc

    @staticmethod
    def _plan_sentences(key: PairKey, old: SentenceList, new: SentenceList) -> "_Plan":
        plan = _Plan(key, old, new)
        for tag, i1, i2, j1, j2 in sentence_opcodes(old.texts, new.texts):
            if tag == "equal":
                plan.unchanged += i2 - i1
                continue
            plan.aligner_pairs += (i2 - i1) * (j2 - j1)
            plan.changed_old.update(range(i1, i2))
            plan.changed_new.update(range(j1, j2))
            plan.spans.append((i1, i2, j1, j2))
        return plan

    def _finish(self, plan: "_Plan", results: Sequence[Sequence[Aligned]]) -> list:
        key, old, new = plan.key, plan.old, plan.new
        common = dict(wiki=key.wiki, year=key.year, source=key.source, pair_id=key.pair_id)
        ot, nt = old.texts, new.texts
        # (alignment, its block's offsets): the aligner's indices are local to a block. Shifted below as plain
        # lists, not with Aligned.shifted: the full Anarchism history makes 340k alignments.
        alignments = [(a, i1, j1) for (i1, _, j1, _), aligned in zip(plan.spans, results) for a in aligned]
        out: list = []
        for side, sents, idx in (("old", old, plan.changed_old), ("new", new, plan.changed_new)):
            for i in sorted(idx):
                text, section_idx, section, para_idx, start, end = sents.locate(i)
                out.append(Sentence(**common, side=side, sent_idx=i, section_idx=section_idx, section=section,
                                    para_idx=para_idx, char_start=start, char_end=end, text=text))
        n_edits = 0
        for a_idx, (a, i1, j1) in enumerate(alignments):
            old_idx, new_idx = [i1 + i for i in a.old], [j1 + j for j in a.new]
            old_text = " ".join([ot[i] for i in old_idx])
            new_text = " ".join([nt[j] for j in new_idx])
            out.append(Alignment(**common, align_idx=a_idx, old_idx=old_idx, new_idx=new_idx,
                                 links=[[i1 + i, j1 + j] for i, j in a.pairs], kind=a.kind,
                                 score=float(a.score), method=a.method, old_text=old_text, new_text=new_text))
            edits, _ = self.spans.fetch((old_text, new_text), lambda: edits_between(old_text, new_text))
            for e_idx, edit in enumerate(edits):
                out.append(Edit(**common, align_idx=a_idx, edit_idx=e_idx, **edit))
                n_edits += 1
        out.append(DiffStats(**common, old_sentences=len(old), new_sentences=len(new), unchanged=plan.unchanged,
                             changed_blocks=len(plan.spans), aligner_pairs=plan.aligner_pairs,
                             all_pairs=len(old) * len(new), alignments=len(alignments), edits=n_edits,
                             node_changes=len(plan.nodes), sections_parsed=plan.sections_parsed))
        return out + plan.nodes


@dataclass
class _Plan:
    """A pair between cleaning and alignment: its sentences and the changed blocks to align."""
    key: PairKey
    old: SentenceList
    new: SentenceList
    spans: list = field(default_factory=list)
    unchanged: int = 0
    aligner_pairs: int = 0
    changed_old: set = field(default_factory=set)
    changed_new: set = field(default_factory=set)
    nodes: list = field(default_factory=list)
    sections_parsed: int = 0
