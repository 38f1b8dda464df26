"""Every record type revmine produces, declared once.

Stored records carry an Arrow table (`Cls.TABLE`); in-flight fields are `transient()`.
Partition columns (`wiki`, `year`) become hive directories in the warehouse.
"""
from __future__ import annotations

from typing import Optional

from revmine.schemas._declare import Int16, Int32, Timestamp, doc, record, transient

PARTITIONS = ("wiki", "year")


@record("revisions", partition_by=PARTITIONS)
class Revision:
    """One revision of a page as the dump gives it (its text travels in memory only)."""
    wiki: str = doc("database name, e.g. enwiki (from <dbname>, the base URL or the file name)")
    year: Int16 = doc("UTC year of the timestamp (partition column)")
    page_id: int = doc("page id")
    ns: Int32 = doc("namespace number (derived from the title prefix in schemas without <ns>)")
    title: str = doc("page title with namespace prefix")
    rev_id: int = doc("revision id")
    parent_id: Optional[int] = doc("<parentid> if the dump has it, else the previous revision of the page in file order")
    parent_from_dump: bool = doc("True when parent_id came from <parentid>, False when inferred from file order")
    timestamp: Timestamp = doc("revision timestamp, UTC")
    user: Optional[str] = doc("user name or IP; NULL when suppressed (see user_deleted)")
    user_id: Optional[int] = doc("user id; NULL for anonymous or suppressed contributors")
    is_anon: bool = doc("contributor is an IP address")
    user_deleted: bool = doc("<contributor deleted=\"deleted\"/>: contributor suppressed")
    comment: Optional[str] = doc("edit summary; NULL when absent or suppressed")
    comment_deleted: bool = doc("<comment deleted=\"deleted\"/>: comment suppressed")
    minor: bool = doc("marked as a minor edit")
    sha1: Optional[str] = doc("base-36 SHA-1 of the text: from the dump, or computed when the dump has none")
    sha1_from_dump: bool = doc("True when sha1 came from the dump")
    text_bytes: Optional[int] = doc("UTF-8 length of the text; NULL when the text is unavailable")
    text_deleted: bool = doc("<text deleted=\"deleted\"/>: text suppressed")
    has_text: bool = doc("False for stub dumps and suppressed text")
    model: Optional[str] = doc("content model, e.g. wikitext (schema 0.8+)")
    format: Optional[str] = doc("content format, e.g. text/x-wiki (schema 0.8+)")
    source_file: str = doc("dump file the revision was read from")
    source_offset: int = doc("byte offset of <revision> in the decompressed (UTF-8) XML stream")
    source_ordinal: int = doc("0-based index of the revision within its source file")
    text: Optional[str] = transient()
    problem: Optional[str] = transient()  # set when the reader quarantined this revision's text
    # the dump's namespace names, lower case, with their numbers (siteinfo): the cleaner reads localised
    # File: and Category: links by them
    namespaces: Optional[tuple] = transient()
    # no parent id, yet not a page creation: a page written newest first was longer than the pairing can
    # hold, and this revision's parent lies beyond what was held
    parent_unknown: bool = transient(False)
    # the held text's own base-36 SHA-1, which reverts compare: a dump's <sha1> can be a placeholder
    content_sha1: Optional[str] = transient()


@record("revision_pairs", partition_by=PARTITIONS)
class RevisionPair:
    """A revision and its parent, with who, when, the edit's size and its revert and bot flags."""
    wiki: str = doc("database name ('arxiv' for arXiv papers)")
    year: Int16 = doc("UTC year of the new revision (partition column; 0 when the source has no dates)")
    pair_id: str = doc("'<wiki>:<new_rev_id>' for wikis, 'arxiv:<paper>:v<old>-v<new>' for arXiv; joins every diff table")
    page_id: int = doc("page id")
    ns: Int32 = doc("namespace number")
    title: str = doc("page title")
    old_rev_id: Optional[int] = doc("parent revision id; NULL for a page creation")
    new_rev_id: int = doc("revision id of the edit")
    old_timestamp: Optional[Timestamp] = doc("parent timestamp")
    new_timestamp: Optional[Timestamp] = doc("edit timestamp (NULL when the source has no dates)")
    comment: Optional[str] = doc("edit summary of the new revision (NULL when absent or suppressed)")
    user: Optional[str] = doc("editor of the new revision")
    user_id: Optional[int] = doc("editor's user id")
    is_anon: bool = doc("editor is an IP")
    minor: bool = doc("new revision marked minor")
    is_bot: bool = doc("editor matches the bot pattern or the configured bot list")
    is_revert: bool = doc("identity revert: new text equals a revision within the revert radius, with others between")
    reverted_to_rev_id: Optional[int] = doc("revision whose text this edit restored")
    is_reverted: bool = doc("this edit was undone by a later identity revert")
    reverted_by_rev_id: Optional[int] = doc("the reverting revision")
    old_bytes: Optional[int] = doc("parent text size in UTF-8 bytes")
    new_bytes: Optional[int] = doc("new text size in UTF-8 bytes")
    size_delta: Optional[int] = doc("new_bytes - old_bytes")
    skip_reason: Optional[str] = doc("why this pair is not diffed (NULL = a real text edit)")
    source_file: str = doc("dump file")
    # In flight only: the two texts (or, for plain-text sources, their sentences) for the diff stage.
    old_text: Optional[str] = transient()
    new_text: Optional[str] = transient()
    old_sentences: Optional[list] = transient()
    new_sentences: Optional[list] = transient()
    namespaces: Optional[tuple] = transient()  # as Revision.namespaces


@record("quarantine", partition_by=("wiki",))
class Quarantine:
    """Something that could not become a pair: a bad revision, page or file, with where and why."""
    wiki: str = doc("database name, or 'unknown' when the file never told us")
    level: str = doc("'revision' (counts against revisions read), 'page', 'file', or 'pair' (a written pair the diff stage could not clean)")
    reason: str = doc("machine-readable reason, e.g. duplicate_rev_id, truncated_input, dtd_forbidden")
    detail: str = doc("human-readable explanation")
    source_file: str = doc("file where it happened")
    byte_offset: Optional[int] = doc("byte offset in the decompressed stream, when known")
    line: Optional[int] = doc("line in the decompressed XML, when known")
    column: Optional[int] = doc("column, when known")
    page_id: Optional[int] = doc("page id, when known")
    rev_id: Optional[int] = doc("revision id, when known")
    stage: str = doc("pipeline stage that quarantined it: read, pair, ...")
    n_revisions: int = doc("revisions this record accounts for: 1 for a bad revision, k for k revisions "
                           "skipped while resyncing, 0 for page/file events")


@record("sources", partition_by=("wiki",))
class SourceStats:
    """One row per input file per run: what the reader saw (the left side of the accounting)."""
    wiki: str = doc("database name")
    source_file: str = doc("input path")
    source_key: str = doc("key of the input: the first 16 hex digits of the SHA-256 of its bytes, used in warehouse file names")
    compression: str = doc("detected container: xml, bz2, gz, xz, lzma, 7z")
    schema_version: Optional[str] = doc("export schema version, e.g. 0.10")
    is_stub: bool = doc("stub dump: metadata only, no text")
    pages: int = doc("<page> elements seen")
    revisions_read: int = doc("<revision> elements seen, including ones later quarantined")
    bytes_decompressed: int = doc("decompressed bytes parsed")
    complete: bool = doc("False when reading stopped early (truncation, fatal error)")


# ---- diff stage: one revision pair -> sentences, alignments, span edits, node changes -----------------


@record("sentences", partition_by=PARTITIONS)
class Sentence:
    """A sentence of a changed block (unchanged sentences are not stored: they are in the parent)."""
    wiki: str = doc("database name")
    year: Int16 = doc("partition year of the pair")
    source: str = doc("'wikipedia' or 'arxiv'")
    pair_id: str = doc("revision pair")
    side: str = doc("'old' (parent) or 'new'")
    sent_idx: Int32 = doc("index of the sentence in its revision's sentence list")
    section_idx: Int32 = doc("section index (0 = lead)")
    section: str = doc("section heading ('' for the lead)")
    para_idx: Int32 = doc("paragraph index within the revision")
    char_start: int = doc("offset of the sentence in the cleaned text of its revision")
    char_end: int = doc("end offset (exclusive)")
    text: str = doc("sentence text")


@record("alignments", partition_by=PARTITIONS)
class Alignment:
    """How sentences of a changed block correspond: 1-1, 1-n, n-1, insertion (old=[]) or deletion (new=[])."""
    wiki: str = doc("database name")
    year: Int16 = doc("partition year of the pair")
    source: str = doc("'wikipedia' or 'arxiv'")
    pair_id: str = doc("revision pair")
    align_idx: Int32 = doc("index of the alignment within the pair")
    old_idx: list[int] = doc("sentence indices on the old side (empty for an inserted sentence)")
    new_idx: list[int] = doc("sentence indices on the new side (empty for a deleted sentence)")
    links: list[list[int]] = doc("the [old, new] sentence index pairs the aligner linked; an 'n-m' group (a split "
                                 "next to a merge) can link fewer than every old sentence with every new one")
    kind: str = doc("'1-1', '1-n', 'n-1', 'n-m', 'insert' or 'delete'")
    score: float = doc("aligner score in [0, 1] (similarity for the classical aligner)")
    method: str = doc("aligner that produced it, e.g. 'classical' or 'neural-crf'")
    old_text: str = doc("old sentence(s), joined by a space")
    new_text: str = doc("new sentence(s), joined by a space")


@record("edits", partition_by=PARTITIONS)
class Edit:
    """A span-level edit inside an aligned pair of sentences (or a whole inserted/deleted sentence)."""
    wiki: str = doc("database name")
    year: Int16 = doc("partition year of the pair")
    source: str = doc("'wikipedia' or 'arxiv'")
    pair_id: str = doc("revision pair")
    align_idx: Int32 = doc("alignment the edit belongs to")
    edit_idx: Int32 = doc("index of the edit within its alignment")
    type: str = doc("'Insertion', 'Deletion' or 'Substitute'")
    granularity: str = doc("'span' (inside aligned sentences) or 'sentence' (a whole sentence added or removed)")
    old_token_start: Optional[int] = doc("token span [start, end) in the old text; NULL for an insertion")
    old_token_end: Optional[int] = doc("")
    new_token_start: Optional[int] = doc("token span [start, end) in the new text; NULL for a deletion")
    new_token_end: Optional[int] = doc("")
    old_char_start: Optional[int] = doc("character span in alignments.old_text")
    old_char_end: Optional[int] = doc("")
    new_char_start: Optional[int] = doc("character span in alignments.new_text")
    new_char_end: Optional[int] = doc("")
    old_text: str = doc("removed or replaced text ('' for an insertion)")
    new_text: str = doc("inserted or replacing text ('' for a deletion)")
    intent: Optional[str] = doc("arXivEdits fine-grained intent (7 classes); NULL when no intent model is loaded, "
                                "or for a span edit on a wiki outside label.languages", None)
    intent_coarse: Optional[str] = doc("arXivEdits coarse intent: Content, Improve-grammar-Typo, Format or Language", None)
    intent_score: Optional[float] = doc("probability of `intent` from what labelled it (`intent_model`); NULL where "
                                        "a rule labelled the edit (intent_model 'rule:whole-sentence')", None)
    intent_iterater: Optional[str] = doc("IteraTeR intent: clarity, fluency, coherence, style or meaning-changed", None)
    intent_iterater_score: Optional[float] = doc("probability of `intent_iterater` from what labelled it", None)
    intent_model: Optional[str] = doc("what labelled the edit: the classifier ('intent-minilm-lora@…', its encoder "
                                      "mixed with its lexical models), its lexical models alone where all were "
                                      "sure enough to skip the encoder ('intent-lexical@…'), or "
                                      "'rule:whole-sentence'", None)


@record("node_changes", partition_by=PARTITIONS)
class NodeChange:
    """A structural change in the wikitext: a template, link, reference, category, media, table, gallery,
    heading or redirect target added, removed, changed or moved. Nodes nested in templates, tables, references, captions and
    galleries are found too, and `container` names the node that holds them."""
    wiki: str = doc("database name")
    year: Int16 = doc("partition year of the pair")
    pair_id: str = doc("revision pair")
    node_type: str = doc("template, wikilink, interlanguage, external_link, reference, category, media, table, gallery, heading, redirect")
    action: str = doc("added, removed, changed (in place, or renamed: see old_key) or moved (same node, new place)")
    key: str = doc("what identifies the node: template name, link target, URL, ref name, category, file, heading, redirect target")
    old_value: Optional[str] = doc("old rendering (parameters, label, content), shortened to 500 characters")
    new_value: Optional[str] = doc("new rendering, shortened to 500 characters")
    section: str = doc("heading of the section that holds the node ('' for the lead); the old one for a removal",
                       default="")
    container: str = doc("the node it is nested in, as type:key (e.g. 'template:Infobox person'); '' at top level",
                         default="")
    old_key: Optional[str] = doc("the old key of a renamed node (a category or heading changed to another one)",
                                 default=None)
    params_added: list[str] = doc("template parameters added", factory=list)
    params_removed: list[str] = doc("template parameters removed", factory=list)
    params_changed: list[str] = doc("template parameters whose value changed", factory=list)


@record("diffs", partition_by=PARTITIONS)
class DiffStats:
    """One row per diffed pair: sentence counts and how much work reached the aligner."""
    wiki: str = doc("database name")
    year: Int16 = doc("partition year of the pair")
    source: str = doc("'wikipedia' or 'arxiv'")
    pair_id: str = doc("revision pair")
    old_sentences: Int32 = doc("sentences in the old revision")
    new_sentences: Int32 = doc("sentences in the new revision")
    unchanged: Int32 = doc("sentences matched by hash, in order")
    changed_blocks: Int32 = doc("blocks of changed sentences sent to the aligner")
    aligner_pairs: int = doc("sentence pairs the aligner had to consider (sum of block products)")
    all_pairs: int = doc("old_sentences * new_sentences: what all-pairs alignment would consider")
    alignments: Int32 = doc("alignment rows written")
    edits: Int32 = doc("edit rows written")
    node_changes: Int32 = doc("node_changes rows written")
    sections_parsed: Int32 = doc("wikitext sections parsed for this pair (the rest came from the cache)")




@record("summaries", partition_by=PARTITIONS)
class Summary:
    """A one-line, Edisum-style summary of a diffed revision pair, or why it got none."""
    wiki: str = doc("database name")
    year: Int16 = doc("partition year of the pair")
    pair_id: str = doc("revision pair")
    summary: Optional[str] = doc("generated edit summary; NULL when skipped")
    skip_reason: Optional[str] = doc("why no summary: 'content_edit_unsummarised' (a content edit and no trained "
                                     "model), 'other_language' (a content edit on a wiki outside "
                                     "summarize.languages), 'not_article' (namespace other than 0), or the pair's "
                                     "own skip reason")
    model: str = doc("summarizer that wrote it (base model + adapter), or 'describer' when no model is loaded")
    prompt_version: str = doc("input format version (pipeline/summarize.PROMPT_VERSION)")
    path: Optional[str] = doc("what wrote the summary: 'describer' (the structured diff determines the edit, or "
                              "the model's output was rejected), 'model' (the fine-tuned LM, checked for "
                              "faithfulness); NULL when there is none", default=None)


RECORD_TYPES = (Revision, RevisionPair, Quarantine, SourceStats, Sentence, Alignment, Edit, NodeChange, DiffStats, Summary)
