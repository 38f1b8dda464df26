"""Exports of a warehouse: a Hugging Face Hub dataset folder, and training sets for editing models.

Hub folder:
    OUT/README.md                         dataset card: YAML `configs` (one per table), licence, sources, counts
    OUT/<table>/part-00000.parquet ...    shards with every column (partition columns included)
It loads offline with `datasets.load_dataset(OUT, "<table>")` or `load_dataset("parquet", data_dir=OUT/<table>)`.

Training sets (JSON lines, train/dev/test split by page, so that no page is in two splits):
- coedit: {instruction, source, target}: an aligned 1-1 sentence pair whose edits all carry the same
  intent, with the instruction that intent stands for (CoEdIT's task phrasing).
- edisum: {input, summary}: the Edisum-style diff input and the editor's cleaned comment.
"""
from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from typing import Iterator, Optional

import yaml

from revmine.schemas import TABLES
from revmine.schemas.names import is_url, wiki_base
from revmine.warehouse.catalog import connect, fetch_batches, parquet_source

log = logging.getLogger(__name__)
ROWS_PER_SHARD = 500_000

# arXivEdits intent -> CoEdIT-style instruction. Content (new information) and Lang-other (no single
# intent) are left out: a model cannot learn them as a rewrite of the source sentence alone.
INSTRUCTIONS = {
    "Improve-grammar-Typo": "Fix the grammar",
    "Lang-improve-readability-Simplify": "Make this simpler",
    "Lang-professional-Improve-style": "Make this more formal",
    "Lang-accurate-spefific": "Make this more precise",
    "Format": "Fix the formatting",
}
# The intent probability an edit needs before its instruction is trusted: the lowest threshold at which
# instructions reach 0.9 precision on arXivEdits dev (0.910, recall 0.644; benchmarks/instruction_threshold.py).
INSTRUCTION_MIN_PROB = 0.55
SPLITS = (("train", 0.9), ("dev", 0.05), ("test", 0.05))


def split_of(wiki: str, page_id) -> str:
    """Deterministic page -> split: a page's edits always land in the same split, run after run."""
    h = int(hashlib.sha1(f"{wiki}:{page_id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    acc = 0.0
    for name, frac in SPLITS:
        acc += frac
        if h <= acc:
            return name
    return SPLITS[-1][0]


# ---- Hub ------------------------------------------------------------------------------------------

MARKER = ".revmine-export"  # written into every export folder: only such a folder is replaced without --force


class UnsafeExportTarget(ValueError):
    """The export folder is the warehouse, lies inside or around it, or holds files revmine did not write."""


def check_export_target(warehouse: str, out: str, force: bool = False, what: str = "export") -> None:
    """Refuse to write OUT unless it is missing, empty, or an earlier export or report (its marker file), or
    `force`. The warehouse itself is never written into or over, whatever `force` says. OUT is a local folder:
    a URL would be a folder named after it (./gs:/bucket/...), so it is refused."""
    if is_url(out):
        raise UnsafeExportTarget(f"{out} is a URL: a {what} is written to a local folder; write it to one and copy "
                                 "it up" + (" (or --push it to the Hub)" if what == "export" else ""))
    wh, target = os.path.realpath(warehouse), os.path.realpath(out)
    if target == wh or target.startswith(wh + os.sep) or wh.startswith(target + os.sep):
        raise UnsafeExportTarget(f"{out} is the warehouse {warehouse}, or inside or around it: a {what} never writes "
                                 "there; choose another folder")
    if not os.path.lexists(target):
        return
    if os.path.isdir(target) and not os.path.islink(target):
        entries = os.listdir(target)
        if not entries or MARKER in entries or force:
            return
        raise UnsafeExportTarget(f"{out} exists and holds files that are not a revmine {what} ({len(entries)} entries,"
                                 f" e.g. {sorted(entries)[0]!r}); pass --force to replace them, or choose an empty folder")
    if not force:
        raise UnsafeExportTarget(f"{out} exists and is not a folder; pass --force to replace it")


def make_export_folder(out: str, kind: str) -> None:
    """OUT made as a folder (a file in the way removed: check_export_target allowed it with force), and
    marked as revmine's, so a later export or report may replace it."""
    if os.path.lexists(out) and not os.path.isdir(out):
        os.remove(out)
    os.makedirs(out, exist_ok=True)
    mark_export(out, kind)


def mark_export(folder: str, kind: str) -> None:
    with open(os.path.join(folder, MARKER), "w", encoding="utf-8") as fh:
        json.dump({"export": kind, "written": dt.datetime.now(dt.timezone.utc).isoformat()}, fh)


def export_hub(warehouse: str, out: str, repo_id: Optional[str] = None, force: bool = False) -> dict:
    """Write the Hub-ready folder; returns {table: rows}. See `check_export_target` for where it may write."""
    check_export_target(warehouse, out, force)
    con = connect(warehouse)
    tmp = _beside(out)
    counts: dict[str, int] = {}
    try:
        for name in TABLES:
            n = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            if not n:
                continue
            counts[name] = n
            order = "wiki, year" if "year" in TABLES[name].partition_by else "wiki"
            write_shards(con, f"SELECT * FROM {name} ORDER BY {order}", os.path.join(tmp, name))
        sources = _sources(warehouse)
        wikis = [w for (w,) in con.execute("SELECT DISTINCT wiki FROM revision_pairs ORDER BY wiki").fetchall()]
    finally:
        con.close()
    with open(os.path.join(tmp, "README.md"), "w", encoding="utf-8") as fh:
        fh.write(dataset_card(counts, sources, repo_id, wikis))
    mark_export(tmp, "hub")
    _put_in_place(tmp, out)
    return counts


def write_shards(con, sql: str, folder: str, rows: Optional[int] = None) -> list[str]:
    """The rows of `sql` as Parquet shards of about `rows` (ROWS_PER_SHARD) rows, named part-00000.parquet
    on in the query's order. One sort, cut as it is written: a sort per shard (ORDER BY ... LIMIT/OFFSET)
    made the export quadratic in a table's size (3 M rows in 6 shards: 2.1 s against 0.75 s)."""
    rows = rows or ROWS_PER_SHARD
    con.execute(f"COPY ({sql}) TO '{folder.replace(chr(39), chr(39) * 2)}' (FORMAT parquet, COMPRESSION zstd, "
                f"ROW_GROUP_SIZE {rows}, ROW_GROUPS_PER_FILE 1, FILENAME_PATTERN 'part-{{i}}')")
    names = []
    for f in sorted(os.listdir(folder), key=lambda f: int(f[len("part-"):-len(".parquet")])):
        names.append(os.path.join(folder, f"part-{len(names):05d}.parquet"))  # part-7 -> part-00007: they sort
        os.replace(os.path.join(folder, f), names[-1])
    return names


def _sources(warehouse: str) -> list[dict]:
    out = []
    for path in sorted(glob.glob(os.path.join(warehouse, "_runs", "*.json"))):
        with open(path, encoding="utf-8") as fh:
            m = json.load(fh)
        out.append({"run_id": m.get("run_id"), "inputs": [os.path.basename(p) for p in m.get("inputs", [])],
                    "finished": m.get("finished"), "revisions_read": m.get("accounting", {}).get("revisions_read")})
    return out


# Wiki database names that are not <language>wiki, and Wikimedia codes that are not the language's ISO 639
# code: MediaWiki's own mapping (LanguageCode::getDeprecatedCodeMapping and the non-standard codes its
# bcp47() rewrites), down to the language (be-x-old is Belarusian in the Taraškievica spelling: be). alswiki
# is Alemannic (gsw), not Tosk Albanian (als); nrmwiki Norman (nrf), not Narom (nrm). Projects without a
# language are multilingual.
_LANGUAGE_OF = {"simple": "en", "arxiv": "en", "als": "gsw", "bat-smg": "sgs", "be-x-old": "be", "fiu-vro": "vro",
                "roa-rup": "rup", "zh-classical": "lzh", "zh-min-nan": "nan", "zh-yue": "yue", "cbk-zam": "cbk",
                "map-bms": "jv", "nds-nl": "nds", "roa-tara": "nap", "nrm": "nrf", "mo": "ro", "eml": "egl"}
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})*")
_MULTILINGUAL = frozenset({"commons", "meta", "species", "wikidata", "mediawiki", "incubator", "outreach", "sources"})


def languages(wikis: list[str]) -> list[str]:
    """ISO codes of the wikis' languages for the card header, e.g. ['aa', 'en'] for aawiki and enwiki."""
    out = set()
    for wiki in wikis:
        base = wiki_base(wiki)
        base = _LANGUAGE_OF.get(base, base)
        if base in _MULTILINGUAL:
            out.add("multilingual")
        elif _LANGUAGE_CODE.fullmatch(base):  # a test wiki's made-up name says nothing
            out.add(base)
    return sorted(out)


def _columns(table: str) -> str:
    schema = TABLES[table].schema
    return "\n".join(f"| `{f.name}` | {f.type} | {(f.metadata or {}).get(b'doc', b'').decode()} |" for f in schema)


def _project_link() -> str:
    from importlib import metadata

    try:
        meta = metadata.metadata("revmine")
        url = meta.get("Home-page") or next((u.split(",", 1)[1].strip() for u in meta.get_all("Project-URL") or []), "")
        return f"[revmine]({url}) {meta['Version']}" if url else f"revmine {meta['Version']}"
    except metadata.PackageNotFoundError:
        return "revmine"


def dataset_card(counts: dict[str, int], sources: list[dict], repo_id: Optional[str],
                 wikis: Optional[list[str]] = None) -> str:
    langs = languages(wikis or [])
    header = {
        "license": "cc-by-sa-4.0",
        **({"language": langs} if langs else {}),
        "pretty_name": "revmine edit dataset",
        "tags": ["wikipedia", "revision-history", "text-editing", "edit-intent"],
        "configs": [{"config_name": t, "data_files": [{"split": "train", "path": f"{t}/*.parquet"}]}
                    for t in counts],
    }
    rows = "\n".join(f"| `{t}` | {n:,} | {(TABLES[t].cls.__doc__ or '').strip().splitlines()[0]} |" for t, n in counts.items())
    dumps = sorted({i for s in sources for i in s["inputs"]})
    return f"""---
{yaml.safe_dump(header, sort_keys=False).strip()}
---

# {repo_id or 'revmine edit dataset'}

Revision pairs, aligned sentences, span-level edits with intent labels, structural (markup) changes and
edit summaries mined from MediaWiki revision dumps ({", ".join(wikis or []) or "no wiki recorded"}) by
{_project_link()} on {dt.date.today().isoformat()}.

## Tables (one config each)

| config | rows | what |
|---|---:|---|
{rows}

Load one offline: `datasets.load_dataset("<this folder>", "edits")`, or query the Parquet with DuckDB.
Every table joins on `(wiki, pair_id)`.

## Columns

{chr(10).join(f"<details><summary><code>{t}</code></summary>{chr(10)}{chr(10)}| column | type | meaning |{chr(10)}|---|---|---|{chr(10)}{_columns(t)}{chr(10)}{chr(10)}</details>{chr(10)}" for t in counts)}
## Source dumps

{chr(10).join(f'- `{d}`' for d in dumps) or '- (none recorded)'}

Runs: {len(sources)}; revisions read: {sum(s['revisions_read'] or 0 for s in sources):,}.

## Licence

Wikipedia text is licensed under [CC BY-SA 4.0](https://creativecommons.org/licenses/by-sa/4.0/) (older
revisions CC BY-SA 3.0) and the GFDL; this derived dataset is shared under CC BY-SA 4.0. Attribution:
the contributors of each revision, listed in the `user` column of `revision_pairs` and in the page
histories. arXiv-derived rows follow the licence of each paper.
"""


def push_hub(folder: str, repo_id: str) -> str:
    """Upload the folder as a dataset repo. The token comes only from the environment (HF_TOKEN or
    HUGGING_FACE_HUB_TOKEN) and is never printed or logged."""
    from huggingface_hub import HfApi

    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if not token:
        raise PermissionError("set HF_TOKEN in the environment to push (it is read from there only)")
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    info = api.upload_folder(folder_path=folder, repo_id=repo_id, repo_type="dataset",
                             commit_message="revmine export")
    return str(getattr(info, "commit_url", info))


# ---- training sets --------------------------------------------------------------------------------

def _streamed(con, sql: str) -> Iterator[tuple]:
    """The rows of `sql`, fetched a batch at a time: a whole wiki's pairs do not fit in memory."""
    for rows in fetch_batches(con.execute(sql)):
        yield from rows


def coedit_rows(warehouse: str) -> Iterator[dict]:
    # Article edits only: a revert, a reverted edit or a bot's is no example of a rewrite, nor is a change
    # to a user script or a talk page.
    from revmine.pipeline.summarize import EDISUM_CANDIDATE_SQL as ARTICLE_EDIT_SQL

    con = connect(warehouse)
    try:
        for wiki, page_id, title, pair_id, old, new, intents, unlabelled, score in _streamed(con, f"""
                SELECT a.wiki, p.page_id, p.title, a.pair_id, a.old_text, a.new_text,
                       list_distinct(list(e.intent)) AS intents, count(*) FILTER (WHERE e.intent IS NULL) AS unlabelled,
                       min(e.intent_score) AS score
                FROM alignments a
                JOIN edits e USING (wiki, pair_id, align_idx)
                JOIN revision_pairs p USING (wiki, pair_id)
                WHERE a.kind = '1-1' AND a.old_text <> a.new_text AND e.granularity = 'span' AND {ARTICLE_EDIT_SQL}
                GROUP BY ALL
                ORDER BY a.wiki, a.pair_id, a.old_text"""):
            if unlabelled or len(intents) != 1 or intents[0] not in INSTRUCTIONS or score < INSTRUCTION_MIN_PROB:
                continue
            yield {"instruction": INSTRUCTIONS[intents[0]], "source": old, "target": new, "intent": intents[0],
                   "wiki": wiki, "page_id": page_id, "title": title, "pair_id": pair_id}
    finally:
        con.close()


def edisum_rows(warehouse: str) -> Iterator[dict]:
    from revmine.pipeline.summarize import EDISUM_CANDIDATE_SQL, clean_comment, summary_input

    # Each pair's node changes come with it, in the order the diff wrote them (as the pipeline's summarizer
    # reads them), by their place in the Parquet files: holding every node change of a wiki in a dict to
    # look them up took memory in proportion to the warehouse.
    files = parquet_source(warehouse, TABLES["node_changes"], "filename = true, file_row_number = true")
    nodes_sql = (f"""SELECT wiki, pair_id, list(struct_pack(node_type, action, key, container)
                                                ORDER BY filename, file_row_number) AS nodes
                     FROM {files} GROUP BY ALL""" if files else
                 "SELECT NULL::VARCHAR AS wiki, NULL::VARCHAR AS pair_id, NULL AS nodes WHERE false")
    con = connect(warehouse)
    try:
        for wiki, page_id, title, pair_id, comment, old, new, nodes in _streamed(con, f"""
                WITH n AS ({nodes_sql})
                SELECT p.wiki, p.page_id, p.title, p.pair_id, p.comment,
                       list(s.text ORDER BY s.sent_idx) FILTER (WHERE s.side = 'old') AS old,
                       list(s.text ORDER BY s.sent_idx) FILTER (WHERE s.side = 'new') AS new,
                       any_value(n.nodes) AS nodes
                FROM revision_pairs p JOIN sentences s USING (wiki, pair_id) LEFT JOIN n USING (wiki, pair_id)
                WHERE p.skip_reason IS NULL AND {EDISUM_CANDIDATE_SQL}
                GROUP BY p.wiki, p.page_id, p.title, p.pair_id, p.comment ORDER BY p.wiki, p.pair_id"""):
            summary = clean_comment(comment)
            if summary is None:
                continue
            yield {"input": summary_input(old or [], new or [], [_Node(**n) for n in nodes or []]),
                   "summary": summary, "wiki": wiki, "page_id": page_id, "title": title, "pair_id": pair_id}
    finally:
        con.close()


class _Node:
    __slots__ = ("node_type", "action", "key", "container")

    def __init__(self, node_type, action, key, container):
        self.node_type, self.action, self.key, self.container = node_type, action, key, container


def thin_splits(counts: dict) -> list[str]:
    """Splits with under a quarter of their expected share of the rows: a split by page needs many pages."""
    total = sum(counts.values())
    return [name for name, share in SPLITS if counts.get(name, 0) < share * total / 4 or not counts.get(name)]


def export_training(warehouse: str, out: str, fmt: str, force: bool = False) -> dict:
    """Write OUT/{train,dev,test}.jsonl for `fmt` (coedit | edisum); returns rows per split.
    See `check_export_target` for where it may write. Rows stream from the warehouse into the split files
    (in a folder beside OUT, put in its place when complete): every row and its texts were held in memory."""
    check_export_target(warehouse, out, force)
    if fmt == "coedit":
        rows, key = coedit_rows(warehouse), ("instruction", "source", "target")
    elif fmt == "edisum":
        rows, key = edisum_rows(warehouse), ("input", "summary")
    else:
        raise ValueError(f"unknown format {fmt!r} (known: coedit, edisum)")
    tmp = _beside(out)
    try:
        seen: set[bytes] = set()
        counts = {name: 0 for name, _ in SPLITS}
        files = {name: open(os.path.join(tmp, f"{name}.jsonl"), "w", encoding="utf-8") for name in counts}
        try:
            for r in rows:
                # the same rewrite seen twice (re-done after a revert) is one example; a digest of it is
                # remembered, not its texts
                k = hashlib.blake2b(json.dumps([r[f] for f in key], ensure_ascii=False).encode(), digest_size=16).digest()
                if k in seen:
                    continue
                seen.add(k)
                name = split_of(r["wiki"], r["page_id"])
                files[name].write(json.dumps(r, ensure_ascii=False) + "\n")
                counts[name] += 1
        finally:
            for fh in files.values():
                fh.close()
        mark_export(tmp, "training")
        _put_in_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return counts


def _beside(out: str) -> str:
    """A new hidden folder next to OUT, to write an export into before it takes OUT's place."""
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(prefix=".revmine-export-", dir=parent)


def _put_in_place(tmp: str, out: str) -> None:
    """The finished export folder `tmp` in OUT's place (check_export_target allowed replacing what is there)."""
    if os.path.isdir(out) and not os.path.islink(out):
        shutil.rmtree(out)
    elif os.path.lexists(out):
        os.remove(out)
    os.replace(tmp, out)
