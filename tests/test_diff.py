"""Sentence diff, alignment, span edits and node changes."""
import dataclasses
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import read_all
from revmine.pipeline.align import ClassicalAligner
from revmine.pipeline.arxiv import read_arxiv
from revmine.pipeline.diff import DiffEngine
from revmine.pipeline.extract import edits_between
from revmine.pipeline.extract import SpanEdit, extract_edits, tokenize
from revmine.schemas import Alignment, DiffStats, Edit, NodeChange, Quarantine, RevisionPair, Sentence, SourceStats


def test_aligner_expresses_every_shape():
    a = ClassicalAligner()
    old = ["The cat sat on the mat.", "It was happy.", "Then it slept for a long time and dreamt.", "Gone sentence."]
    new = ["The cat sat on a mat.", "It was very happy.", "Then it slept for a long time.", "And dreamt.", "Brand new."]
    got = {(x.old, x.new) for x in a.align(old, new)}
    assert ((0,), (0,)) in got and ((1,), (1,)) in got
    assert ((2,), (2, 3)) in got  # 1-n: a split sentence
    assert ((3,), ()) in got and ((), (4,)) in got  # deletion and insertion
    merged = a.align(["A and B were here.", "C too."], ["A and B were here. C too."])
    assert [(x.old, x.new, x.kind) for x in merged] == [((0, 1), (0,), "n-1")]


def test_aligner_keeps_order_and_covers_every_sentence():
    a = ClassicalAligner()
    old = [f"Sentence number {i} about topic {i % 3}." for i in range(12)]
    new = list(reversed(old[:6])) + old[6:]
    out = a.align(old, new)
    assert sorted(i for x in out for i in x.old) == list(range(12))
    assert sorted(j for x in out for j in x.new) == list(range(12))
    linked = [(x.old[0], x.new[0]) for x in out if x.old and x.new]
    assert linked == sorted(linked)  # monotonic: no crossing links


_WORDS = "the cat sat on a mat it was happy then slept dog ran far away and back again".split()
_SENTENCES = st.lists(st.sampled_from(_WORDS), min_size=1, max_size=9).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(pool=st.lists(_SENTENCES, min_size=1, max_size=8), data=st.data())
def test_the_vector_decode_is_the_cell_by_cell_decode(pool, data):
    """Long blocks are decoded a row (or column) at a time in numpy: the same links, scores and order of
    insertions and deletions as the cell-by-cell decode, ties (repeated sentences) included."""
    import numpy as np
    from rapidfuzz import fuzz, process

    sentences = st.one_of(st.sampled_from(pool), _SENTENCES)
    old = data.draw(st.lists(sentences, min_size=1, max_size=14))
    new = data.draw(st.lists(sentences, min_size=1, max_size=14))
    sim = process.cdist(old, new, scorer=fuzz.ratio, workers=1) / 100.0
    a = ClassicalAligner()
    assert a._dp_vector(old, new, sim.astype(np.float64)) == a._dp(old, new, sim.tolist())


def test_provenance_follows_a_split_that_string_similarity_misses():
    from rapidfuzz import fuzz

    from revmine.pipeline.align import provenance

    old = ["The old stone tower, built in 1850 by local fishermen from the village of Saint-Malo on the northern "
           "cliff, was painted red and white in 1901."]
    new = ["The old stone tower was built in 1850 by local fishermen from Saint-Malo.",
           "It was painted red and white in 1901."]
    from_old, from_new = provenance(old, new)
    assert fuzz.ratio(old[0], new[1]) < 50  # the second half is far from the whole old sentence...
    assert from_new[0, 1] > 0.8 and from_new[0, 0] > 0.8  # ...yet nearly all its characters come from it
    assert abs(from_old[0].sum() - 1) < 0.2


def test_provenance_keeps_the_most_words_when_a_sentence_moves_past_a_split_one():
    from revmine.pipeline.align import provenance

    # The moved sentence is the longest unbroken run (21 words), the split one has more words in all (25).
    # A longest-contiguous-match diff (difflib) takes the moved sentence and loses both halves of the split.
    moved = "If the council can find the money, then the work could start on the northern side of the river in March."
    old = ["We think the new bridge will carry most of the traffic by the spring of next year; the mayor said so "
           "on Monday at the town hall.", moved]
    new = [moved, "We think the new bridge will carry most of the traffic by the spring of next year, he said.",
           "The mayor said so on Monday at the town hall."]
    _, from_new = provenance(old, new)
    assert from_new[0, 1] > 0.8 and from_new[0, 2] > 0.8


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="ab c.", max_size=30), max_size=5), st.lists(st.text(alphabet="ab c.", max_size=30), max_size=5))
def test_word_diff_is_a_longest_common_subsequence(old, new):
    from revmine.pipeline.align import word_opcodes

    a, b = " ".join(old).split(), " ".join(new).split()
    ops = word_opcodes(a, b)
    assert all(a[i1:i2] == b[j1:j2] for tag, i1, i2, j1, j2 in ops if tag == "equal")
    assert [x for op in ops for x in range(op[1], op[2])] == list(range(len(a)))  # covers both sides in order
    assert [x for op in ops for x in range(op[3], op[4])] == list(range(len(b)))
    lcs = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]  # the textbook DP, as the oracle
    for i in range(len(a)):
        for j in range(len(b)):
            lcs[i + 1][j + 1] = lcs[i][j] + 1 if a[i] == b[j] else max(lcs[i][j + 1], lcs[i + 1][j])
    assert sum(i2 - i1 for tag, i1, i2, _, _ in ops if tag == "equal") == lcs[-1][-1]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="ab c.计算机", max_size=30), max_size=5),
       st.lists(st.text(alphabet="ab c.计算机", max_size=30), max_size=5))
def test_provenance_shares_are_shares(old, new):
    from revmine.pipeline.align import provenance

    from_old, from_new = provenance(old, new)
    assert from_old.shape == from_new.shape == (len(old), len(new))
    assert (from_old >= 0).all() and (from_old.sum(1) <= 1 + 1e-9).all()
    assert (from_new >= 0).all() and (from_new <= 1).all()
    same_old, _ = provenance(old, old)
    for i, s in enumerate(old):
        if s.strip():
            assert same_old[i, i] == 1.0


def test_provenance_in_an_unspaced_script_diffs_characters():
    """Chinese has no spaces, so each sentence was one word of the diff: a one-character edit made it a
    replaced run, spread over the new sentences, and an edited sentence next to a deleted one was merged
    with it. Each character is now a word of the diff."""
    from revmine.pipeline.align import ProvenanceAligner

    old = ["计算机是一种机器。", "它可以计算。", "它很快。"]
    new = ["计算机是一种工具。", "它很快也很准确。"]
    assert [(a.old, a.new) for a in ProvenanceAligner().align(old, new)] == [
        ((0,), (0,)), ((1,), ()), ((2,), (1,))]


def test_huge_block_is_chunked_not_quadratic():
    a = ClassicalAligner(max_cells=400)
    old = [f"old sentence {i}" for i in range(60)]
    out = a.align(old, [s.replace("old", "new") for s in old])
    assert sorted(i for x in out for i in x.old) == list(range(60))


def test_extract_edits_types():
    old = "the model was trained on ten GPUs .".split()
    new = "The model is trained on ten GPUs for two days .".split()
    assert extract_edits(old, new) == [SpanEdit("Substitute", (0, 1), (0, 1)),  # the -> The: a change of case
                                       SpanEdit("Substitute", (2, 3), (2, 3)), SpanEdit("Insertion", None, (7, 10))]
    assert [e.type for e in extract_edits(["a", "b", "c"], ["a", "c"])] == ["Deletion"]


def test_a_change_of_case_is_an_edit_unless_it_belongs_to_a_neighbouring_one():
    assert extract_edits("the Numerical Action Method works .".split(), "the numerical action method works .".split()) \
        == [SpanEdit("Substitute", (1, 4), (1, 4))]
    # the capital of a sentence's new first word goes with the inserted words: no edit of its own
    assert extract_edits("Details follow .".split(), "More details follow .".split()) == \
        [SpanEdit("Insertion", None, (0, 1))]
    (edit,) = edits_between("It spans the Universe.", "It spans the universe.")
    assert (edit["type"], edit["old_text"], edit["new_text"]) == ("Substitute", "Universe", "universe")


def test_edit_char_offsets_point_at_the_span():
    old, new = "It serves as a navigatonal aid.", "It serves as a navigational aid, mostly."
    for e in edits_between(old, new):
        if e["old_char_start"] is not None:
            assert old[e["old_char_start"]:e["old_char_end"]] == e["old_text"]
        if e["new_char_start"] is not None:
            assert new[e["new_char_start"]:e["new_char_end"]] == e["new_text"]
    assert tokenize("e.g. don't stop-words!")[0][0] == "e.g"


@pytest.mark.parametrize("old, new, edit", [
    ("यह हिन्दी भाषा है।", "यह हिंदी भाषा है।", ("Substitute", "हिन्दी", "हिंदी")),  # a word with its vowel signs
    ("计算机是一种机器。", "计算机是一种工具。", ("Substitute", "机器", "工具")),  # Han: a character a token
    ("これは最初の文です。", "これは最後の文です。", ("Substitute", "初", "後")),
    ("นี่คือประโยคแรก", "นี่คือประโยคสอง", ("Substitute", "แรก", "สอง")),  # Thai: a character with its marks
])
def test_span_edits_in_other_scripts_are_words_or_characters(old, new, edit):
    """A Hindi or Thai vowel sign is no \\w and was a token of its own, so a one-word change in Hindi came
    out in letter fragments; Chinese and Japanese have no spaces, so a one-character change replaced the
    whole clause. Tokens are now words with their marks, and single characters where words are unspaced
    (mwedittypes splits those scripts by character too)."""
    (got,) = edits_between(old, new)
    assert (got["type"], got["old_text"], got["new_text"]) == edit
    for text in (old, new):  # the tokens tile the text: every non-space character is in one
        assert "".join(t for t, _, _ in tokenize(text)) == "".join(text.split())


def test_ascii_and_unicode_tokens_agree_on_ascii_text():
    """ASCII text takes the standard library's pattern (three times as fast); the full pattern gives the same."""
    from revmine.pipeline.extract import _ASCII_TOKEN, _TOKEN

    for text in ("e.g. don't stop-words!", "The ReLU-based model (v2) costs $3.14, 10% less.", "a_b __init__ x--y"):
        assert [m.span() for m in _ASCII_TOKEN.finditer(text)] == [m.span() for m in _TOKEN.finditer(text)]


def _diff_sample(sample_dump):
    pairs = {p.new_rev_id: p for p in read_all(sample_dump)["pairs"]}
    eng = DiffEngine()
    return {rid: eng.diff(p) for rid, p in pairs.items() if p.skip_reason is None}


def test_typo_fix_becomes_one_substitution(sample_dump):
    recs = _diff_sample(sample_dump)[1014]
    (edit,) = [r for r in recs if isinstance(r, Edit)]
    assert (edit.type, edit.old_text, edit.new_text) == ("Substitute", "navigatonal", "navigational")
    (stats,) = [r for r in recs if isinstance(r, DiffStats)]
    assert stats.unchanged == 3 and stats.changed_blocks == 1 and stats.aligner_pairs == 1


def test_added_sentence_and_merge(sample_dump):
    diffs = _diff_sample(sample_dump)
    (ins,) = [r for r in diffs[1070] if isinstance(r, Edit)]
    assert ins.type == "Insertion" and ins.granularity == "sentence" and ins.new_text.startswith("By the late 20th")
    (merge,) = [r for r in diffs[1133] if isinstance(r, Alignment)]
    assert merge.kind == "n-1" and len(merge.old_idx) == 2
    sents = [r for r in diffs[1133] if isinstance(r, Sentence)]
    assert {s.side for s in sents} == {"old", "new"} and all(s.section == "" for s in sents)


def test_node_changes(sample_dump):
    diffs = _diff_sample(sample_dump)
    added = {(n.node_type, n.action, n.key) for n in diffs[1028] if isinstance(n, NodeChange)}
    assert added == {("template", "added", "Infobox building"), ("template", "added", "Cite book"),
                     ("reference", "added", "9ed28148af73")}
    cats = {(n.node_type, n.key) for n in diffs[1063] if isinstance(n, NodeChange)}
    assert cats == {("category", "Lighthouses"), ("category", "Navigation")}
    dated = [n for n in diffs[1154] if isinstance(n, NodeChange)]
    assert [(n.node_type, n.action, n.key) for n in dated] == [("template", "added", "Citation needed")]
    # a node edited in place is 'changed', with both renderings
    eng = DiffEngine()
    recs = eng.diff(_pair("{{Infobox|pop=10}} Text here.", "{{Infobox|pop=12}} Text here."))
    (chg,) = [r for r in recs if isinstance(r, NodeChange)]
    assert chg.action == "changed" and "pop=10" in chg.old_value and "pop=12" in chg.new_value


def _pair(old_text, new_text):
    return RevisionPair(wiki="w", year=2020, pair_id="w:2", page_id=1, ns=0, title="T", old_rev_id=1, new_rev_id=2,
                        old_timestamp=0, new_timestamp=1, comment=None, user=None, user_id=None, is_anon=False,
                        minor=False, is_bot=False, is_revert=False, reverted_to_rev_id=None, is_reverted=False,
                        reverted_by_rev_id=None, old_bytes=1, new_bytes=1, size_delta=0, skip_reason=None,
                        source_file="f", old_text=old_text, new_text=new_text)


def test_arxiv_jsonl(tmp_path):
    path = tmp_path / "papers.jsonl"
    lines = [
        {"paper_id": "2101.00001", "version": "v2", "text": "We propose a method. It is fast.\n\nResults are good."},
        {"paper_id": "2101.00001", "version": "v1", "text": "We propose a new method. It is fast.\n\nResults are good."},
        {"paper_id": "2101.00002", "version": 1, "text": "Only one version."},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    recs = list(read_arxiv(str(path)))
    pairs = [r for r in recs if isinstance(r, RevisionPair)]
    assert sorted(p.pair_id for p in pairs) == ["arxiv:2101.00001:v0-v1", "arxiv:2101.00001:v1-v2", "arxiv:2101.00002:v0-v1"]
    (stats,) = [r for r in recs if isinstance(r, SourceStats)]
    assert stats.revisions_read == 4 and stats.wiki == "arxiv"
    bad = [r for r in recs if not isinstance(r, (RevisionPair, SourceStats))]
    assert [q.reason for q in bad] == ["malformed_record"] and bad[0].line == 4
    edit_pair = next(p for p in pairs if p.pair_id.endswith("v1-v2"))
    (edit,) = [r for r in DiffEngine().diff(edit_pair) if isinstance(r, Edit)]
    assert (edit.type, edit.old_text, edit.source) == ("Deletion", "new", "arxiv")


def test_arxiv_jsonl_records_holding_line_separators_and_deep_nesting(tmp_path):
    """JSON writers leave U+2028 and U+0085 unescaped in strings (ensure_ascii=False); str.splitlines cut
    each such record into malformed pieces. A line nested deeper than json's recursion limit raised
    RecursionError and stopped the run; it is one malformed record."""
    path = tmp_path / "papers.jsonl"
    lines = [json.dumps({"paper_id": "p", "version": v, "text": f"One\u2028two {v}.\u0085 Three."}, ensure_ascii=False)
             for v in (1, 2)] + ['{"paper_id": "q", "version": 1, "text": ' + "[" * 50_000 + "]" * 50_000 + "}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    recs = list(read_arxiv(str(path)))
    (stats,) = [r for r in recs if isinstance(r, SourceStats)]
    assert stats.revisions_read == 3
    assert sorted(r.pair_id for r in recs if isinstance(r, RevisionPair)) == ["arxiv:p:v0-v1", "arxiv:p:v1-v2"]
    assert [(q.reason, q.line) for q in recs if isinstance(q, Quarantine)] == [("malformed_record", 3)]


def test_arxiv_files_that_start_with_a_byte_order_mark(tmp_path):
    """Windows tools start UTF-8 files with a BOM, which json refuses: the first record was quarantined."""
    lines = tmp_path / "papers.jsonl"
    lines.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps({"paper_id": "p", "version": v, "text": f"Text {v}."}) + "\n"
                                               for v in (1, 2)).encode())
    document = tmp_path / "pairs.json"
    document.write_bytes(b"\xef\xbb\xbf" + json.dumps({"1": {"simple": ["A b."], "complex": ["A c."]}}).encode())
    for path in (lines, document):
        recs = list(read_arxiv(str(path)))
        assert not [q for q in recs if isinstance(q, Quarantine)]
        assert len([r for r in recs if isinstance(r, RevisionPair)]) == 2
        (stats,) = [r for r in recs if isinstance(r, SourceStats)]
        assert stats.bytes_decompressed == path.stat().st_size and stats.revisions_read == 2


def test_an_arxivedits_document_keeps_its_content_key(tmp_path):
    """The document's pair ids ("1", "2"...) once overwrote the input's content key, so the `sources` row
    of an arXivEdits-format input named key "2" instead of the hash of its bytes."""
    from revmine.pipeline.fields import source_key

    path = tmp_path / "pairs.json"
    path.write_text(json.dumps({"1": {"simple": ["A b."], "complex": ["A c."]}, "2": {"simple": ["D."], "complex": ["E."]}}))
    for passed in ("0123456789abcdef", None):
        (stats,) = [r for r in read_arxiv(str(path), passed) if isinstance(r, SourceStats)]
        assert stats.source_key == (passed or source_key(str(path))) and stats.revisions_read == 4
        assert stats.compression == "arxivedits-json" and stats.bytes_decompressed == path.stat().st_size
    path.write_text(json.dumps({"1": {"simple": ["A \ud800."], "complex": ["A."]}, "2": {"simple": ["D."], "complex": ["E."]}}))
    recs = list(read_arxiv(str(path)))  # a lone surrogate ("\\ud800") is valid JSON and no UTF-8 text
    assert [(q.reason, q.n_revisions) for q in recs if isinstance(q, Quarantine)] == [("malformed_record", 2)]
    assert [re.sub(r"-[0-9a-f]{8}:", ":", r.pair_id) for r in recs if isinstance(r, RevisionPair)] == [
        "arxiv:pairs-2:v0-v1", "arxiv:pairs-2:v1-v2"]


def test_json_lines_are_streamed_and_texts_split_when_paired(tmp_path, monkeypatch):
    """A JSON-lines file is read a line at a time (a version is held as its text, not its sentences, until
    its paper is paired): memory once grew to 7.6 times the file. Each version is split once."""
    from revmine.pipeline import arxiv

    split = []
    monkeypatch.setattr(arxiv, "text_sentences", lambda t, real=arxiv.text_sentences: (split.append(t), real(t))[1])
    path = tmp_path / "papers.jsonl"
    path.write_text("".join(json.dumps({"paper_id": p, "version": v, "text": f"Text {p} {v}."}) + "\n"
                            for v in (1, 2, 3) for p in ("a", "b")))
    recs = read_arxiv(str(path))
    first = next(recs)  # every line is read before the first pair, and only that pair's text is split
    assert isinstance(first, RevisionPair) and split == ["Text a 1."]
    rest = list(recs)
    assert len(split) == 6 and sorted(split) == sorted(set(split))
    (stats,) = [r for r in rest if isinstance(r, SourceStats)]
    assert stats.revisions_read == 6 and stats.bytes_decompressed == path.stat().st_size


def _papers_file(path, order):
    path.write_text("".join(json.dumps({"paper_id": p, "version": v, "text": f"Text of {p}, version {v}. " * 20}) + "\n"
                            for p, v in order))
    return str(path)


def _pairs_and_rows(recs):
    pairs = sorted((r.pair_id, r.old_rev_id, r.new_rev_id, tuple(s.text for s in r.new_sentences or ()))
                   for r in recs if isinstance(r, RevisionPair))
    return pairs, [q for q in recs if isinstance(q, Quarantine)], next(r for r in recs if isinstance(r, SourceStats))


def test_a_large_arxiv_file_is_read_in_bounded_memory(tmp_path, monkeypatch):
    """Every version's text was held to the end of the file: memory grew with the file (a 20 GB set would
    need 30 GB). Past the hold, the papers longest without a new version are paired and let go."""
    from revmine.pipeline import arxiv

    grouped = [(f"p{k}", v) for k in range(40) for v in (1, 2, 3)]
    path = _papers_file(tmp_path / "papers.jsonl", grouped)
    whole = _pairs_and_rows(list(read_arxiv(path)))
    lines_read, released_at = [0], []

    class Counting:  # the file, counting the lines the reader has taken from it
        def __init__(self, fh):
            self.fh = fh

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __iter__(self):
            for line in self.fh:
                lines_read[0] += 1
                yield line

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    real_open, real_pairs = arxiv.open_stream, arxiv._paper_pairs
    monkeypatch.setattr(arxiv, "open_stream", lambda p: (lambda fh, c: (Counting(fh), c))(*real_open(p)))
    monkeypatch.setattr(arxiv, "_paper_pairs",
                        lambda p, paper, versions: (released_at.append(lines_read[0]), real_pairs(p, paper, versions))[1])
    bounded = _pairs_and_rows(list(read_arxiv(path, hold_bytes=3_000)))
    assert bounded[0] == whole[0] and not bounded[1] and bounded[2].pages == whole[2].pages == 40
    # each paper paired once, and the first long before the file's 120 lines were all read
    assert len(released_at) == 40 and released_at[0] < 20


class _CountingFile:
    """A file that counts the bytes the reader has taken from it, however it takes them."""

    def __init__(self, fh, taken):
        self.fh, self.taken = fh, taken

    def read(self, n=-1):
        data = self.fh.read(n)
        self.taken[0] += len(data)
        return data

    def readline(self, n=-1):
        data = self.fh.readline(n)
        self.taken[0] += len(data)
        return data

    def __iter__(self):
        for line in self.fh:
            self.taken[0] += len(line)
            yield line

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def _taken_at_first_record(monkeypatch, path):
    from revmine.pipeline import arxiv

    taken, real_open = [0], arxiv.open_stream
    monkeypatch.setattr(arxiv, "open_stream", lambda p: (lambda fh, c: (_CountingFile(fh, taken), c))(*real_open(p)))
    recs = read_arxiv(path)
    first = next(recs)
    at_first = taken[0]
    return at_first, _pairs_and_rows([first, *recs])


def test_json_lines_of_another_kind_are_streamed_not_read_whole(tmp_path, monkeypatch):
    """A JSON-lines file whose first record has no paper_id (arXiv's 4 GB metadata snapshot) was read whole
    into memory, decoded and split, to see whether it was one arXivEdits document: a 310 MB file of such
    lines peaked at 695 MB. A first line that is JSON by itself now starts JSON lines, streamed."""
    path = tmp_path / "arxiv-metadata-oai-snapshot.json"
    path.write_text("".join(json.dumps({"id": f"0704.{k:04d}", "submitter": "A", "abstract": "An abstract. " * 20,
                                        "versions": [{"version": "v1"}]}) + "\n" for k in range(2_000)))
    size = path.stat().st_size
    at_first, (pairs, rows, stats) = _taken_at_first_record(monkeypatch, str(path))
    assert at_first < size // 10
    assert not pairs and len(rows) == stats.revisions_read == 2_000
    assert {q.reason for q in rows} == {"malformed_record"} and "paper_id" in rows[0].detail


def test_a_large_file_whose_first_line_is_not_json_is_streamed_too(tmp_path, monkeypatch):
    # Not JSON by itself (a record cut short): one JSON document spread over lines, or JSON lines after a bad
    # line. Read whole only if it ends within DOCUMENT_BYTES; past that it is JSON lines, in bounded memory,
    # with the same records and rows as when read whole.
    from revmine.pipeline import arxiv

    path = tmp_path / "papers.jsonl"
    _papers_file(path, [(f"p{k}", v) for k in range(60) for v in (1, 2)])
    path.write_text('{"paper_id": "cut", "vers\n' + path.read_text())
    whole = _pairs_and_rows(list(read_arxiv(str(path))))
    monkeypatch.setattr(arxiv, "DOCUMENT_BYTES", 5_000, raising=False)
    at_first, streamed = _taken_at_first_record(monkeypatch, str(path))
    assert at_first < path.stat().st_size // 4
    assert streamed[0] == whole[0] and len(whole[0]) == 120
    assert [(q.reason, q.line) for q in streamed[1]] == [(q.reason, q.line) for q in whole[1]] == [("malformed_record", 1)]
    assert streamed[2].bytes_decompressed == whole[2].bytes_decompressed == path.stat().st_size


def test_a_paper_whose_versions_are_far_apart_is_quarantined_not_misread(tmp_path):
    # v1 of every paper, then v2 of every paper: with a small hold, p0's v2 comes after p0 was let go. It
    # must not become a creation (v0-v2) or pair with anything else; it is a row that says what to do.
    order = [(f"p{k}", 1) for k in range(20)] + [(f"p{k}", 2) for k in range(20)]
    path = _papers_file(tmp_path / "papers.jsonl", order)
    pairs, rows, stats = _pairs_and_rows(list(read_arxiv(path, hold_bytes=5_000)))
    assert rows and {q.reason for q in rows} == {"paper_not_contiguous"} and "sort the file" in rows[0].detail
    assert all(not pid.endswith("v0-v2") for pid, *_ in pairs)
    assert len(pairs) + sum(q.n_revisions for q in rows) == stats.revisions_read == 40
    # with the default hold the whole file fits, and every pair is made
    pairs, rows, _ = _pairs_and_rows(list(read_arxiv(path)))
    assert len(pairs) == 40 and not rows


def test_arxivedits_example_format(shared_data):
    recs = list(read_arxiv(str(shared_data / "arxivedits" / "pipeline_example_input.json")))
    pairs = [r for r in recs if isinstance(r, RevisionPair) and r.skip_reason is None]
    assert len(pairs) == 2
    aligned = [r for r in DiffEngine().diff(pairs[0]) if isinstance(r, Alignment)]
    kinds = [a.kind for a in aligned]
    assert kinds.count("delete") == 2 and kinds.count("1-1") == 3  # 5 older sentences, 3 newer


def test_eval_edits_reaches_target_on_dev(shared_data):
    from revmine.eval.edits import load_arxivedits, score_edits

    summary = score_edits(load_arxivedits(str(shared_data / "arxivedits" / "dev.json"))).summary()
    assert summary["n_pairs"] == 200 and summary["f1"] >= 0.75


def test_merge_model_joins_runs_one_unchanged_word_apart():
    from revmine.pipeline.extract import shipped_merger

    old = "Recently , Smith and Jones [CITATION] have shown that for small [MATH] the two peaks overlap .".split()
    new = "More recently [CITATION] , it has been shown that for small [MATH] the two peaks overlap .".split()
    assert len(extract_edits(old, new)) == 3  # difflib: "More", "[CITATION]", and the rewrite around it
    assert extract_edits(old, new, shipped_merger()) == [SpanEdit("Insertion", None, (0, 1)),
                                                          SpanEdit("Substitute", (1, 7), (2, 7))]
    # Runs more than one unchanged token apart never join.
    assert extract_edits("a b c d e".split(), "a x c d y".split(), shipped_merger()) == [
        SpanEdit("Substitute", (1, 2), (1, 2)), SpanEdit("Substitute", (4, 5), (4, 5))]


_WORDS = st.sampled_from("the a of in model data is was [MATH] , . results show we Show".split())


@settings(max_examples=300, deadline=None)
@given(st.lists(_WORDS, max_size=14), st.lists(_WORDS, max_size=14))
def test_merged_edits_still_turn_old_into_new(old, new):
    """Whatever runs the merge model joins, the edits are ordered, disjoint, and rebuild the new sentence."""
    from revmine.pipeline.extract import _fold, shipped_merger

    edits = extract_edits(old, new, shipped_merger())
    fo, fn = _fold(old), _fold(new)
    i = j = 0  # next old and new token
    for e in edits:
        gap = e.old[0] - i if e.old else e.new[0] - j  # unchanged tokens before the edit
        assert gap >= 0 and fo[i:i + gap] == fn[j:j + gap]
        i, j = i + gap, j + gap
        assert (e.old is None or e.old[0] == i) and (e.new is None or e.new[0] == j)
        i, j = (e.old[1] if e.old else i), (e.new[1] if e.new else j)
    assert fo[i:] == fn[j:]


def test_train_edits_on_a_tiny_slice(tmp_path, capsys):
    """`revmine train edits` cross-validates, fits, writes a loadable folder with its card; eval reads it."""
    import json as _json

    from revmine.cli import main
    from revmine.pipeline.extract import MergeModel

    def item(pid, s1, s2, edits):
        combo = {str(k): {"type": t, "sentence-1-token-indices": o, "sentence-2-token-indices": n}
                 for k, (t, o, n) in enumerate(edits)}
        return {"sentence-1": s1, "sentence-2": s2, "arxiv-id": pid, "edits-combination-0": combo}

    items = {}
    for k in range(8):
        items[f"m{k}"] = item(f"p{k}", f"we use the decomposition of unity {k} here", f"we use the resolution of identity {k} here",
                              [("Substitute", [3, 6], [3, 6])])
        items[f"s{k}"] = item(f"q{k}", f"a b c d e f {k}", f"a x c y e f {k}",
                              [("Substitute", [1, 2], [1, 2]), ("Substitute", [3, 4], [3, 4])])
    data = tmp_path / "tiny.json"
    data.write_text(_json.dumps(items))
    out = tmp_path / "merge"
    assert main(["train", "edits", "--arxivedits-train", str(data), "--arxivedits-dev", str(data), "--folds", "2",
                 "--out", str(out)]) == 0
    model = MergeModel.load(str(out))
    assert "cross-validation" in (out / "README.md").read_text() and model.info["cv_f1_mean"] > 0
    assert MergeModel.load(str(out)) == model  # save and load round-trip every weight
    capsys.readouterr()
    assert main(["eval", "edits", "--data", str(data), "--model", str(out), "--cv-train", str(data), "--folds", "2"]) == 0
    last = _json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["f1"] == 1.0 and last["rule_f1"] < 0.6 and "cv_f1_mean" in last


def test_eval_scores_best_combination():
    from revmine.eval.edits import score_edits

    item = {"sentence-1": "a b c", "sentence-2": "a x c",
            "edits-combination-0": {"0": {"type": "Deletion", "sentence-1-token-indices": [1, 2], "sentence-2-token-indices": None}},
            "edits-combination-1": {"0": {"type": "Substitute", "sentence-1-token-indices": [1, 2], "sentence-2-token-indices": [1, 2]}},
            "edits-combination-2": {}}
    assert score_edits([item]).summary() == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "n_pairs": 1}


def _node_changes(old, new):
    return [r for r in DiffEngine(ClassicalAligner()).diff(_pair(old, new)) if isinstance(r, NodeChange)]


def test_a_change_past_500_characters_of_a_node_is_seen():
    fields = "".join(f"\n| field{i} = value number {i}" for i in range(40))
    infobox = "{{Infobox settlement" + fields + "\n}}\nThe town is small.\n"
    (change,) = _node_changes(infobox, infobox.replace("value number 39", "value number 40"))
    assert (change.node_type, change.action, change.key) == ("template", "changed", "Infobox settlement")
    assert len(change.old_value) <= 500 and change.old_value.endswith("…")  # shortened for display only
    rows = "".join(f"\n|-\n| row {i} || cell {i}" for i in range(30))
    table = "Intro text.\n{|" + rows + "\n|}\n"
    (change,) = _node_changes(table, table.replace("cell 29", "cell 2929"))
    assert (change.node_type, change.action) == ("table", "changed")
    ref = "Claim.<ref name=\"long\">" + "A long citation text. " * 40 + "Page 7.</ref> More.\n"
    (change,) = _node_changes(ref, ref.replace("Page 7.", "Page 8."))
    assert (change.node_type, change.action, change.key) == ("reference", "changed", "long")


_FRAGMENTS = ["The town is small. ", "It has a port. ", "Ships come in. ", "[[Harbour]] ", "[[Sea|the sea]] ", "{{cite web|url=x}} ",
              "{{Infobox town|name=A|pop=5}}\n", "<ref>Smith 2001.</ref> ", "<ref name=a/> ", "''bold'' ", "'''x''' ",
              "\n\n", "\n", "== History ==\n", "=== Port ===\n", "* item\n", "{|\n| a || b\n|}\n", "<!-- note -->",
              "[[Category:Towns]]\n", "[[File:A.png|thumb|A map]]\n", "[http://x.org site] ", "<div>", "</div>", "{{", "}}",
              "[[", "]]", "<ref>", "</ref>", "#REDIRECT [[Elsewhere]]\n", "é ü 北京 ", "&amp; &nbsp; ", "<br/>", "\t", "|", "="]
_WIKITEXT = st.lists(st.sampled_from(_FRAGMENTS), max_size=24).map("".join)


@settings(max_examples=600, deadline=None)
@given(old=_WIKITEXT, new=_WIKITEXT)
def test_any_wikitext_pair_diffs_into_consistent_records(old, new):
    """Whatever two revisions hold, the diff stage raises nothing but the quarantine error, every changed
    sentence is aligned exactly once, and every edit's offsets point at its text."""
    from revmine.pipeline.clean import WikitextError

    try:
        records = DiffEngine(ClassicalAligner()).diff(_pair(old, new))
    except WikitextError:
        return
    sents = {(r.side, r.sent_idx): r.text for r in records if isinstance(r, Sentence)}
    aligns = [r for r in records if isinstance(r, Alignment)]
    assert sorted(("old", i) for a in aligns for i in a.old_idx) == sorted(k for k in sents if k[0] == "old")
    assert sorted(("new", j) for a in aligns for j in a.new_idx) == sorted(k for k in sents if k[0] == "new")
    by_idx = {a.align_idx: a for a in aligns}
    for e in (r for r in records if isinstance(r, Edit)):
        a = by_idx[e.align_idx]
        if e.old_char_start is not None:
            assert a.old_text[e.old_char_start:e.old_char_end] == e.old_text
        if e.new_char_start is not None:
            assert a.new_text[e.new_char_start:e.new_char_end] == e.new_text
    (stats,) = [r for r in records if isinstance(r, DiffStats)]
    assert stats.alignments == len(aligns) and stats.node_changes == sum(isinstance(r, NodeChange) for r in records)
    assert all(r.action in ("added", "removed", "changed", "moved") for r in records if isinstance(r, NodeChange))


def test_an_edit_war_is_aligned_once_and_diffs_as_fresh_engines_do():
    """Blocks and sentence pairs seen a few pairs before are looked up; the records are those of an engine
    that never saw them."""
    class Counting(ClassicalAligner):
        calls = 0

        def align(self, old, new):
            Counting.calls += 1
            return super().align(old, new)

    good = "Anarchism is a political philosophy. It rejects the state.\n\nSee also the history of anarchism."
    bad = "Anarchism is a politcal philosophy. It rejects the state!!!\n\nSee also the history of anarchism."
    war = [(good, bad), (bad, good), (good, bad), (bad, good)]
    eng = DiffEngine(Counting())
    got = [eng.diff(_pair(o, n)) for o, n in war]
    assert Counting.calls == 2  # one block each way; the second round is looked up
    def content(records):  # all but the count of sections parsed, which the section cache lowers
        return [dataclasses.replace(r, sections_parsed=0) if isinstance(r, DiffStats) else r for r in records]

    for records, (o, n) in zip(got, war):
        assert content(records) == content(DiffEngine(ClassicalAligner()).diff(_pair(o, n)))
    assert any(isinstance(r, Edit) and r.new_text == "politcal" for r in got[2])


def test_a_block_too_large_to_keep_is_aligned_but_not_cached(monkeypatch):
    import revmine.pipeline.diff as diff

    monkeypatch.setattr(diff, "MAX_CACHED_BLOCK", 2)
    eng = DiffEngine(ClassicalAligner())
    small = eng.diff(_pair("One cat sat.\n", "One dog sat.\n"))
    assert len(eng.aligned.data) == 1
    big = eng.diff(_pair("A cat sat. It was happy. Then it slept.\n", "A dog sat. It was sad. Then it woke.\n"))
    assert len(eng.aligned.data) == 1  # the 6-sentence block was aligned, not kept
    assert sum(isinstance(r, Alignment) for r in big) == 3 and sum(isinstance(r, Alignment) for r in small) == 1


@settings(max_examples=150, deadline=None)
@given(pool=st.lists(_WIKITEXT, min_size=2, max_size=3), data=st.data())
def test_one_engine_over_a_history_diffs_each_pair_as_a_fresh_engine_does(pool, data):
    """The caches (sections, blocks, revisions, aligned blocks, span edits) never change a record: a
    history that returns to earlier texts, as edit wars do, diffs pair by pair through one engine exactly
    as through a new engine per pair."""
    from revmine.pipeline.clean import WikitextError

    history = data.draw(st.lists(st.sampled_from(pool), min_size=3, max_size=6))
    shared = DiffEngine(ClassicalAligner())

    def content(engine, old, new):
        try:
            records = engine.diff(_pair(old, new))
        except WikitextError as exc:
            return exc.reason
        return [dataclasses.replace(r, sections_parsed=0) if isinstance(r, DiffStats) else r for r in records]

    for old, new in zip(history, history[1:]):
        assert content(shared, old, new) == content(DiffEngine(ClassicalAligner()), old, new)


def test_a_chain_of_links_keeps_its_links():
    """A split next to a merge is one group, but it stands for its own links, not every old x new pair."""
    import numpy as np

    from revmine.pipeline.align import link_groups

    groups = link_groups({(0, 0), (0, 1), (1, 1)}, 3, 2, "test", np.ones((3, 2)))
    chain = next(g for g in groups if g.old == (0, 1))
    assert chain.new == (0, 1) and sorted(chain.pairs) == [(0, 0), (0, 1), (1, 1)]
    assert chain.shifted(10, 20).pairs == [(10, 20), (10, 21), (11, 21)]
    assert [g for g in groups if g.old == (2,)][0].kind == "delete"
    one = link_groups({(0, 0), (0, 1)}, 1, 2, "test", np.ones((1, 2)))
    assert one[0].links == () and one[0].pairs == [(0, 0), (0, 1)]  # a complete group lists no links


def test_provenance_aligner_links_a_split_and_its_chain():
    from revmine.pipeline.align import ProvenanceAligner

    old = ["The old stone tower, built in 1850 by local fishermen from the village of Saint-Malo on the northern "
           "cliff, was painted red and white in 1901.", "A museum opened there in 2001 to show the fishing boats."]
    new = ["The old stone tower was built in 1850 by local fishermen from Saint-Malo.",
           "It was painted red and white in 1901.", "In 2001 a museum opened there.", "It shows fishing boats."]
    got = ProvenanceAligner().align(old, new)
    assert [(a.old, a.new, a.kind) for a in got] == [((0,), (0, 1), "1-n"), ((1,), (2, 3), "1-n")]
    assert all(a.method == "provenance" for a in got)
    huge = ProvenanceAligner(max_cells=4)
    assert [a.method for a in huge.align(old, new)][0] == "classical"  # big blocks go to the chunked DP


def test_alignment_rows_carry_their_links():
    from revmine.pipeline.align import Aligned
    from revmine.pipeline.diff import DiffEngine

    class Chain:
        name = "chain"

        def align(self, old, new):
            return [Aligned((0, 1), (0, 1), 1.0, "chain", ((0, 0), (0, 1), (1, 1)))]

    pair = _pair("Alpha beta gamma delta. Epsilon zeta eta theta.", "Alpha beta gamma. Delta epsilon zeta eta theta.")
    rows = [r for r in DiffEngine(Chain()).diff(pair) if isinstance(r, Alignment)]
    assert [r.links for r in rows] == [[[0, 0], [0, 1], [1, 1]]] and rows[0].kind == "n-m"


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 5), st.integers(0, 5), st.data())
def test_link_groups_keep_exactly_the_links_and_cover_every_sentence_once(n, m, data):
    import numpy as np

    from revmine.pipeline.align import link_groups

    cells = [(i, j) for i in range(n) for j in range(m)]
    links = set(data.draw(st.lists(st.sampled_from(cells), unique=True) if cells else st.just([])))
    groups = link_groups(links, n, m, "test", np.ones((n, m)))
    assert {p for g in groups for p in g.pairs} == links
    assert sorted(i for g in groups for i in g.old) == list(range(n))
    assert sorted(j for g in groups for j in g.new) == list(range(m))
    assert all(g.old and g.new for g in groups if g.pairs)  # a linked group has both sides


def test_a_word_diff_too_big_for_an_lcs_takes_difflib(monkeypatch):
    import revmine.pipeline.align as align

    old = ["The old stone tower was built in 1850 by local fishermen and painted red in 1901."]
    new = ["The old stone tower was built in 1850 by fishermen.", "It was painted red in 1901."]
    exact = align.provenance(old, new)
    monkeypatch.setattr(align, "MAX_LCS_CELLS", 10)
    a, b = " ".join(old).split(), " ".join(new).split()
    ops = align.word_opcodes(a, b)
    assert [x for op in ops for x in range(op[1], op[2])] == list(range(len(a)))
    assert all(a[i1:i2] == b[j1:j2] for tag, i1, i2, j1, j2 in ops if tag == "equal")
    big = align.provenance(old, new)
    assert (big[1] > 0.8).all() and abs(big[1] - exact[1]).max() < 0.1  # the same split, found by difflib


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="ab c.", max_size=30), max_size=5), st.lists(st.text(alphabet="ab c.", max_size=30), max_size=5))
def test_provenance_aligner_covers_every_sentence_once_and_links_only_what_the_rule_allows(old, new):
    import numpy as np

    from revmine.pipeline.align import ProvenanceAligner, provenance

    got = ProvenanceAligner().align(old, new)
    assert sorted(i for a in got for i in a.old) == list(range(len(old)))
    assert sorted(j for a in got for j in a.new) == list(range(len(new)))
    if old and new:
        share = np.maximum(*provenance(old, new))
        assert {p for a in got for p in a.pairs} == {(i, j) for i, j in zip(*np.nonzero(share >= 0.5))}


def test_a_sentence_of_many_thousand_tokens_is_diffed_without_difflib_s_quadratic_matcher(monkeypatch):
    """A 40,000-token "sentence" of 50 distinct words took difflib 16 s (and four times as long at each
    doubling); past MAX_DIFFLIB_ITEMS the runs come from rapidfuzz's Levenshtein alignment."""
    import difflib
    import random

    from revmine.pipeline import extract, seqdiff

    real = difflib.SequenceMatcher

    def bounded(junk, a, b, **kw):
        assert max(len(a), len(b)) <= seqdiff.MAX_DIFFLIB_ITEMS, f"difflib on {len(a)} x {len(b)} tokens"
        return real(junk, a, b, **kw)

    monkeypatch.setattr(seqdiff.difflib, "SequenceMatcher", bounded)
    rng = random.Random(0)
    old = [f"w{rng.randrange(50)}" for _ in range(40_000)]
    new = [t if rng.random() > 0.05 else f"w{rng.randrange(50)}" for t in old]
    new[100:100] = ["Inserted", "words"]
    edits = extract_edits(old, new, extract.shipped_merger())
    assert any(e.new and new[e.new[0]:e.new[1]] == ["Inserted", "words"] for e in edits)

    def kept(tokens, spans):  # the tokens no edit touches, in order: the same on both sides
        inside = {i for a, b in spans for i in range(a, b)}
        return [t.casefold() for i, t in enumerate(tokens) if i not in inside]

    assert kept(old, [e.old for e in edits if e.old]) == kept(new, [e.new for e in edits if e.new])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=60), st.lists(st.sampled_from("abcdefg"), max_size=60))
def test_the_long_sequence_opcodes_rebuild_the_new_side_as_difflib_s_do(a, b):
    """Past the difflib limit the opcodes keep difflib's shape: they cover both sides in order, equal
    stretches are equal, and no two changes touch (the limit lowered to 0 to fuzz it on short input)."""
    from revmine.pipeline import seqdiff

    saved, seqdiff.MAX_DIFFLIB_ITEMS = seqdiff.MAX_DIFFLIB_ITEMS, 0
    try:
        ops = seqdiff.opcodes(a, b)
    finally:
        seqdiff.MAX_DIFFLIB_ITEMS = saved
    assert (ops[0][1], ops[0][3]) == (0, 0) and (ops[-1][2], ops[-1][4]) == (len(a), len(b))
    assert all(x[2] == y[1] and x[4] == y[3] for x, y in zip(ops, ops[1:]))
    assert all(a[i1:i2] == b[j1:j2] for t, i1, i2, j1, j2 in ops if t == "equal")
    assert all(not (x[0] != "equal" and y[0] != "equal") for x, y in zip(ops, ops[1:]))
    assert all(t == {(True, True): "replace", (True, False): "delete", (False, True): "insert"}[(i1 < i2, j1 < j2)]
               for t, i1, i2, j1, j2 in ops if t != "equal")


def test_the_english_aligner_aligns_only_english_wikis():
    """The neural aligner's encoder learned English: an itwiki pair's blocks go to the provenance rule, an
    enwiki pair's (and arXiv's, and a wiki of no language code's) to the main aligner; None aligns all."""
    from revmine.pipeline.align import ProvenanceAligner

    class Recording(ClassicalAligner):
        name = "recording"

        def __init__(self):
            super().__init__()
            self.seen = []

        def align(self, old, new):
            self.seen.append(tuple(old))
            return super().align(old, new)

    for languages, reads in ((frozenset({"en", "simple"}), {"enwiki", "arxiv", "samplewiki"}),
                             (None, {"enwiki", "arxiv", "samplewiki", "itwiki"})):
        main = Recording()
        engine = DiffEngine(main, languages=languages, other_languages=ProvenanceAligner())
        for wiki in ("enwiki", "itwiki", "arxiv", "samplewiki"):
            pair = _pair(f"Intro here. The tower of {wiki} was built in 1850.\n",
                         f"Intro here. The tower of {wiki} was built in 1852.\n")
            pair.wiki = wiki
            assert engine.diff(pair)
        assert {old[0].split()[3] for old in main.seen} == reads, languages
