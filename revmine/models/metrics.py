"""Scores that training and evaluation share: classification metrics for intents, ROUGE for summaries.

Training reports dev scores into each model card with these; `revmine eval` prints them.
"""
from __future__ import annotations

from typing import Sequence

from revmine.pipeline.summarize import template_summary


def classification_report(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict:
    """Per-class P/R/F1, accuracy, and macro / support-weighted F1 over `labels` (scikit-learn's definitions)."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    labels = list(labels)
    p, r, f, support = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    per = {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
           for i, lab in enumerate(labels)}
    _, _, macro, _ = precision_recall_fscore_support(gold, pred, labels=labels, average="macro", zero_division=0)
    _, _, weighted, _ = precision_recall_fscore_support(gold, pred, labels=labels, average="weighted", zero_division=0)
    return {"per_class": per, "accuracy": float(accuracy_score(gold, pred)) if gold else 0.0,
            "macro_f1": float(macro), "weighted_f1": float(weighted), "n": len(gold)}


def rouge(preds: Sequence[str], refs: Sequence[str]) -> dict:
    """ROUGE-1/2/L/Lsum F1 (Google's rouge-score, Porter stemming) averaged over pairs, and corpus BLEU-4
    (sacreBLEU, 13a tokenisation, on the 0-1 scale): the metrics Edisum reports."""
    import sacrebleu
    from rouge_score import rouge_scorer

    keys = ("rouge1", "rouge2", "rougeL", "rougeLsum")
    scorer = rouge_scorer.RougeScorer(list(keys), use_stemmer=True)
    totals = dict.fromkeys(keys, 0.0)
    for p, r in zip(preds, refs):
        s = scorer.score(r, p or "")
        for k in totals:
            totals[k] += s[k].fmeasure
    n = max(len(refs), 1)
    out = {k: round(v / n, 4) for k, v in totals.items()}
    out["bleu4"] = round(sacrebleu.corpus_bleu([p or "" for p in preds], [list(refs)]).score / 100, 4) if refs else 0.0
    return out


def faithfulness(summaries: Sequence[str], evidence: Sequence) -> dict:
    """Shares of summaries that name what the edit does not hold (unfaithful), and that copy six or more
    words of article text the edit did not change (copied), judged against each edit's `evidence`
    (describe.Evidence)."""
    from revmine.pipeline.describe import check

    flags = [check(s or "", ev) for s, ev in zip(summaries, evidence)]
    n = max(len(flags), 1)
    return {"unfaithful": round(sum(u for u, _ in flags) / n, 4), "copied": round(sum(c for _, c in flags) / n, 4)}


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
        from revmine.pipeline.describe import Evidence

        result.update(faithfulness(ours, [Evidence.of_input(r["input"]) for r in rows]))
        best_baseline = max(systems["most frequent train comment"]["rougeL"], systems["extractive template"]["rougeL"])
        result.update(systems["revmine (SmolLM2 + LoRA)"])
        result["rougeL_vs_best_baseline"] = round(result["rougeL"] / best_baseline, 2) if best_baseline else None
        result["examples"] = [{"input": r["input"], "human": r["summary"], "ours": o, "pair_id": r["pair_id"],
                               "title": r.get("title")} for r, o in zip(rows, ours)]
    return result
