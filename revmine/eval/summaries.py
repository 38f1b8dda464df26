"""Edit summaries scored against the editors' own comments, next to four baselines on the same rows.

Systems, each on every dev row:
- most frequent: the most frequent (cleaned) comment of the training split;
- extractive template: "changed X to Y" / "added: <first words>" / "removed: <first words>"
  (pipeline/summarize.template_summary);
- retrieval: the comment of the training edit whose diff (the model input) MiniLM embeds nearest;
- describer alone: what the describer writes for the pair, its plain content summary for a content edit;
- the language model's raw output;
- revmine: what the summary stage stores (pipeline/describe.route): the describer where the structure
  determines the edit, else the model, else (output rejected by the faithfulness rule) the describer.

Scores (models/metrics.rouge): ROUGE-1/2/L/Lsum F1 averaged over rows, and corpus BLEU-4, reported for the
rows of pages absent from train (unseen), the rows of pages in train (seen), and all rows.
"""
from __future__ import annotations

import random
from collections import Counter
from typing import Optional, Sequence

from revmine.models.metrics import faithfulness, rouge
from revmine.pipeline.describe import Evidence, accept
from revmine.pipeline.summarize import template_summary

BASELINES = ("most frequent train comment", "extractive template", "retrieval (MiniLM nearest train edit)",
             "describer alone")
MODEL, SYSTEM = "language model, raw output", "revmine (describer + model + fallback)"


REQUIRED = ("wiki", "page_id", "input", "summary")  # what every scored or training row must hold


def check_rows(rows: list, path: str, required: Sequence[str] = REQUIRED) -> list:
    """`rows`, or ValueError naming the first that is not a summaries-dataset row."""
    for n, r in enumerate(rows, 1):
        if not isinstance(r, dict) or not all(k in r for k in required):
            raise ValueError(f"{path}: row {n} is not a summaries-dataset row (each needs {', '.join(required)}; "
                             "`revmine build summaries-dataset` writes them)")
    return rows


def most_frequent(train_rows: Sequence[dict]) -> str:
    return Counter(r["summary"] for r in train_rows).most_common(1)[0][0] if train_rows else ""


def retrieve(rows: Sequence[dict], train_rows: Sequence[dict], encoder=None, batch_size: int = 64) -> list[str]:
    """For each row, the comment of the training row with the most similar input (cosine of MiniLM
    embeddings of the whole model input)."""
    if not train_rows:
        return [""] * len(rows)
    if encoder is None:
        from revmine.models.aligner import SentenceEncoder

        encoder = SentenceEncoder(max_length=256)
    train_vecs = encoder.encode([r["input"] for r in train_rows], batch_size=batch_size)
    vecs = encoder.encode([r["input"] for r in rows], batch_size=batch_size)
    nearest = (vecs @ train_vecs.T).argmax(dim=1).tolist()
    return [train_rows[i]["summary"] for i in nearest]


def describer_alone(row: dict) -> str:
    return row.get("describer") or row.get("content") or ""


def evidence(row: dict) -> Evidence:
    """What a summary of the row's edit may name: the full diff's evidence, stored with the row, as the
    pipeline checks it; rows built before it was stored fall back to what the model input shows."""
    return Evidence(**row["evidence"]) if row.get("evidence") else Evidence.of_input(row["input"])


def pipeline_output(row: dict, raw: str) -> tuple[str, str]:
    """(summary, path) as the summary stage decides them, given the model's raw output for the row."""
    if row.get("describer"):
        return row["describer"], "describer"
    return accept(raw, evidence(row), row.get("content") or "")


def evaluate(summarizer, rows: Sequence[dict], train_rows: Sequence[dict], encoder=None) -> dict:
    """Every system's scores on `rows`, overall and split by seen/unseen page; `examples` holds each row
    with the human comment, revmine's summary and the path that wrote it."""
    refs = [r["summary"] for r in rows]
    outputs = {BASELINES[0]: [most_frequent(train_rows)] * len(rows),
               BASELINES[1]: [template_summary(r["input"]) for r in rows],
               BASELINES[2]: retrieve(rows, train_rows, encoder),
               BASELINES[3]: [describer_alone(r) for r in rows]}
    paths = None
    if summarizer is not None:
        raw = summarizer.generate([r["input"] for r in rows])
        outputs[MODEL] = raw
        decided = [pipeline_output(r, o) for r, o in zip(rows, raw)]
        outputs[SYSTEM] = [s for s, _ in decided]
        paths = [p for _, p in decided]
    subsets = {"unseen": [i for i, r in enumerate(rows) if r.get("seen") is False],
               "seen": [i for i, r in enumerate(rows) if r.get("seen") is not False],
               "all": list(range(len(rows)))}
    result: dict = {"n": {k: len(v) for k, v in subsets.items()}, "subsets": {}}
    evidences = [evidence(r) for r in rows]
    for name, idx in subsets.items():
        if not idx:
            continue
        scores = {sys: rouge([out[i] for i in idx], [refs[i] for i in idx]) for sys, out in outputs.items()}
        block: dict = {"systems": scores}
        best = max(BASELINES, key=lambda b: scores[b]["rougeL"])
        block["best_baseline"] = best
        if SYSTEM in scores:
            base = scores[best]["rougeL"]
            block["rougeL_vs_best_baseline"] = round(scores[SYSTEM]["rougeL"] / base, 2) if base else None
            for sys in (MODEL, SYSTEM):
                block.setdefault("faithfulness", {})[sys] = faithfulness([outputs[sys][i] for i in idx],
                                                                          [evidences[i] for i in idx])
            block["model_share"] = round(sum(paths[i] == "model" for i in idx) / len(idx), 4)
        result["subsets"][name] = block
    if paths is not None:
        result["examples"] = [dict(r, human=r["summary"], ours=o, path=p)
                              for r, o, p in zip(rows, outputs[SYSTEM], paths)]
    return result


def sample_markdown(examples: Sequence[dict], n: int = 20, seed: int = 0, title: Optional[str] = None) -> str:
    """n random examples side by side, for a reader to judge: the diff, the editor's comment, revmine's
    summary and the path that wrote it."""
    pick = random.Random(seed).sample(list(examples), min(n, len(examples)))
    lines = [f"# {title or 'Edit summaries: 20 random dev examples'}", "",
             "Each block: the diff as the model sees it, the editor's own comment, revmine's summary, and "
             "the path that wrote it (`describer`, or `model`: the language model, its output checked by the "
             "faithfulness rule).", ""]
    for i, e in enumerate(pick, 1):
        diff = e["input"].replace("<", "&lt;").replace(">", "&gt;")
        lines += [f"## {i}. {e.get('wiki') or ''} {e.get('title') or ''} (`{e['pair_id']}`)", "", f"> {diff}", "",
                  f"- **human:** {e['human']}", f"- **revmine ({e.get('path', 'model')}):** {e['ours']}", ""]
    return "\n".join(lines)
