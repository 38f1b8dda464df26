"""Training the span-edit merge model on arXivEdits: candidate edits from difflib runs and chains of runs,
labelled by whether a gold edit equals them; settings chosen by k-fold cross-validation split by paper."""
from __future__ import annotations

import time
from typing import Optional, Sequence

from revmine.eval.cv import group_folds, mean_sd
from revmine.eval.edits import gold_combinations, score_edits
from revmine.pipeline.extract import MergeModel, _fold, candidate_units, difflib_runs, extract_edits

CS = (0.1, 0.3, 1.0)
THRESHOLDS = (0.45, 0.5, 0.55)


def merge_examples(items: Sequence[dict], max_gap: int = 1, max_chain: int = 4) -> tuple[list[dict], list[int]]:
    """Each candidate edit's features, and 1 where some gold combination holds exactly that edit."""
    feats, labels = [], []
    for item in items:
        old, new = item["sentence-1"].split(" "), item["sentence-2"].split(" ")
        fo, fn = _fold(old), _fold(new)
        gold = set().union(*gold_combinations(item))
        for _, _, e, f in candidate_units(fo, fn, difflib_runs(fo, fn, old, new), max_gap, max_chain,
                                          all_features=True):
            feats.append(f)
            labels.append(int((e.type, e.old, e.new) in gold))
    return feats, labels


def fit_merger(items: Sequence[dict], C: float = 0.1, threshold: float = 0.5, max_gap: int = 1,
               max_chain: int = 4, info: Optional[dict] = None) -> MergeModel:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    feats, labels = merge_examples(items, max_gap, max_chain)
    dv = DictVectorizer()
    x = dv.fit_transform(feats)
    if len(set(labels)) < 2:  # a tiny slice with one outcome: no weights, the prior alone
        rate = sum(labels) / max(1, len(labels))
        return MergeModel({}, 30.0 if rate else -30.0, threshold, max_gap, max_chain, dict(info or {}, C=C))
    lr = LogisticRegression(C=C, max_iter=3000).fit(x, labels)
    weights = {n: float(w) for n, w in zip(dv.feature_names_, lr.coef_[0]) if w}
    return MergeModel(weights, float(lr.intercept_[0]), threshold, max_gap, max_chain, dict(info or {}, C=C))


def _paper(item: dict):
    return item.get("arxiv-id") or item.get("sentence-pair-index")


def cross_validate_merger(pool: Sequence[dict], k: int = 5, cs: Sequence[float] = CS,
                          thresholds: Sequence[float] = THRESHOLDS) -> dict:
    """Fold F1 of plain difflib runs and of the merge model for each (C, threshold), folds by paper; the
    setting with the best mean is chosen."""
    folds = group_folds(pool, _paper, k)
    rule, scores = [], {}
    for fold in folds:
        held = set(fold)
        train = [pool[i] for i in range(len(pool)) if i not in held]
        test = [pool[i] for i in fold]
        rule.append(score_edits(test, extract_edits).summary()["f1"])
        for c in cs:
            model = fit_merger(train, c)
            for t in thresholds:
                m = MergeModel(model.weights, model.bias, t, model.max_gap, model.max_chain)
                scores.setdefault((c, t), []).append(score_edits(test, lambda o, n: extract_edits(o, n, m)).summary()["f1"])
    out = {"folds": k, "pairs": len(pool), "rule": rule,
           "by_setting": {f"C={c} threshold={t}": v for (c, t), v in scores.items()}, "chosen": None}
    if scores:
        c, t = max(scores, key=lambda s: mean_sd(scores[s])[0])
        out.update(chosen=f"C={c} threshold={t}", C=c, threshold=t)
    return out


def _card(model: MergeModel, cv: dict, dev: Optional[dict], sources: dict, seconds: float) -> str:
    def fmt(v):
        m, s = mean_sd(v)
        return f"{m:.3f} ± {s:.3f}"

    rows = "\n".join(f"| {s}{' (chosen)' if s == cv['chosen'] else ''} | {fmt(v)} |" for s, v in cv["by_setting"].items())
    dev_line = (f"- Dev ({sources.get('dev')}, {dev['n_pairs']} pairs, never used for selection): F1 **{dev['f1']:.3f}** "
                f"(plain difflib runs: {dev['rule_f1']:.3f})." if dev else "- No dev file was given.")
    return f"""# span-merge: when to join difflib runs into one span edit

A logistic regression ({len(model.weights)} non-zero weights, sparse hand features) scores each candidate
edit: each run of non-matching case-folded tokens from difflib, and each chain of up to {model.max_chain} runs
at most {model.max_gap} unchanged token apart. `revmine.pipeline.extract.extract_edits` keeps the cover of
runs with the highest sum of (probability - {model.threshold}).

- Training data: arXivEdits train ({sources.get('train')}), {cv['pairs'] - (dev['n_pairs'] if dev else 0)} sentence
  pairs; a candidate is positive when a gold edit has its type and both token spans.
- Selection: C and the threshold by {cv['folds']}-fold cross-validation over train+dev ({cv['pairs']} pairs),
  folds split by arXiv paper. The shipped model is then fitted on train alone.
- Cross-validated exact-match F1, mean ± sd over the folds: plain difflib runs {fmt(cv['rule'])}.

| setting | fold F1 |
|---|---:|
{rows}

{dev_line}
- Fitted in {seconds:.0f} s on CPU. Retrain: `revmine train edits` (reads ../shared/data/arxivedits).
"""


def train_merger(out_dir: str, train: Sequence[dict], dev: Optional[Sequence[dict]] = None, k: int = 5,
                 sources: Optional[dict] = None) -> dict:
    """Choose the settings by cross-validation over train+dev, fit on train, score dev, write the folder."""
    started = time.time()
    cv = cross_validate_merger(list(train) + list(dev or []), k)
    model = fit_merger(train, cv["C"], cv["threshold"],
                       info={"selection": f"{k}-fold cross-validation over train+dev, folds by paper",
                             "cv_f1_mean": round(mean_sd(cv["by_setting"][cv["chosen"]])[0], 4),
                             "cv_f1_sd": round(mean_sd(cv["by_setting"][cv["chosen"]])[1], 4),
                             "cv_rule_f1_mean": round(mean_sd(cv["rule"])[0], 4)})
    dev_scores = None
    if dev:
        dev_scores = dict(score_edits(dev, lambda o, n: extract_edits(o, n, model)).summary(),
                          rule_f1=score_edits(dev, extract_edits).summary()["f1"])
        model.info["dev_f1"] = dev_scores["f1"]
    model.save(out_dir)
    with open(f"{out_dir}/README.md", "w", encoding="utf-8") as fh:
        fh.write(_card(model, cv, dev_scores, sources or {}, time.time() - started))
    return {"cv": {s: [round(x, 4) for x in v] for s, v in cv["by_setting"].items()}, "rule_cv": cv["rule"],
            "chosen": cv["chosen"], "dev": dev_scores}
