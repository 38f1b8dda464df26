"""ROUGE of edit summaries against the editors' own comments, with two baselines on the same rows.

- most frequent: the most frequent (cleaned) comment of the training split, for every pair;
- template: an extractive "changed X to Y" / "added: <first words>" / "removed: <first words>" rule
  (pipeline/summarize.template_summary).
Scores are ROUGE-1/2/L F1 (Google's rouge-score, Porter stemming), averaged over pairs.
"""
from __future__ import annotations

import random
from typing import Optional, Sequence

from revmine.pipeline.summarize import template_summary


def rouge(preds: Sequence[str], refs: Sequence[str]) -> dict:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for p, r in zip(preds, refs):
        s = scorer.score(r, p or "")
        for k in totals:
            totals[k] += s[k].fmeasure
    n = max(len(refs), 1)
    return {k: round(v / n, 4) for k, v in totals.items()}


def evaluate(summarizer, rows: Sequence[dict], most_frequent: str) -> dict:
    """Scores of the model and both baselines on `rows`; `examples` holds every (input, human, ours)."""
    refs = [r["summary"] for r in rows]
    ours = summarizer.generate([r["input"] for r in rows]) if summarizer is not None else None
    systems = {"most frequent train comment": rouge([most_frequent] * len(rows), refs),
               "extractive template": rouge([template_summary(r["input"]) for r in rows], refs)}
    if ours is not None:
        systems["revmine (SmolLM2 + LoRA)"] = rouge(ours, refs)
    result = {"n": len(rows), "systems": systems}
    if ours is not None:
        best_baseline = max(systems["most frequent train comment"]["rougeL"], systems["extractive template"]["rougeL"])
        result.update(systems["revmine (SmolLM2 + LoRA)"])
        result["rougeL_vs_best_baseline"] = round(result["rougeL"] / best_baseline, 2) if best_baseline else None
        result["examples"] = [{"input": r["input"], "human": r["summary"], "ours": o, "pair_id": r["pair_id"],
                               "title": r.get("title")} for r, o in zip(rows, ours)]
    return result


def sample_markdown(examples: Sequence[dict], n: int = 20, seed: int = 0, title: Optional[str] = None) -> str:
    """n random examples side by side, for a reader to judge."""
    pick = random.Random(seed).sample(list(examples), min(n, len(examples)))
    lines = [f"# {title or 'Edit summaries: 20 random dev examples'}", "",
             "Each block: the diff as the model sees it, the editor's own comment, and revmine's summary.", ""]
    for i, e in enumerate(pick, 1):
        diff = e["input"].replace("<", "&lt;").replace(">", "&gt;")
        lines += [f"## {i}. {e.get('title') or ''} (`{e['pair_id']}`)", "", f"> {diff}", "",
                  f"- **human:** {e['human']}", f"- **revmine:** {e['ours']}", ""]
    return "\n".join(lines)
