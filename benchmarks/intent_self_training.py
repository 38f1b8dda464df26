"""Self-training the lexical intent models on mined Wikipedia edits, scored on the whole model's folds.

The span edits of the full 2001–2010 Anarchism history (`revmine run` with configs/fast.yaml into a
temporary warehouse, about 75 s; distinct edits, shuffled, the first `--pool`) are labelled by each fold's
lexical model; those labelled with a probability of at least `tau` join that taxonomy's training part, and
both lexical models are refitted and mixed with the fold encoders' kept held-out probabilities
(`benchmarks/intent_cv_kept.json`), as `benchmarks/intent_lexical_grid.py` does. Prints, per variant and
taxonomy, the fold mean ± sd at mixing weights 0 and 0.4 (shipped), with the folds at 0.4.

    python benchmarks/intent_self_training.py [--pool 5000] [--data ../shared/data]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS = (0.0, 0.4)
# (name, tau, the taxonomies whose training part takes the pseudo-labelled edits)
VARIANTS = [("shipped", None, ()), ("tau 0.9, IteraTeR", 0.9, ("iterater",)), ("tau 0.8, IteraTeR", 0.8, ("iterater",)),
            ("tau 0.6, IteraTeR", 0.6, ("iterater",)), ("tau 0.9, arXivEdits", 0.9, ("arxivedits",)),
            ("tau 0.8, both", 0.8, ("iterater", "arxivedits"))]


def mined_edits(history: str, warehouse: str) -> list:
    """The distinct span edits of `history`, with their aligned sentences as context."""
    import duckdb

    from revmine.config import Config
    from revmine.models.intent_types import EditInput
    from revmine.runner.run import run

    run([history], warehouse, Config.load(os.path.join(HERE, "..", "configs", "fast.yaml")))
    rows = duckdb.connect().execute(f"""
        SELECT e.type, a.old_text, a.new_text, e.old_char_start, e.old_char_end, e.new_char_start, e.new_char_end,
               e.pair_id
        FROM read_parquet('{warehouse}/edits/**/*.parquet') e
        JOIN read_parquet('{warehouse}/alignments/**/*.parquet') a USING (pair_id, align_idx)
        WHERE e.granularity = 'span' AND a.old_text IS NOT NULL AND a.new_text IS NOT NULL
        ORDER BY e.pair_id, e.align_idx, e.edit_idx""").fetchall()
    seen, out = set(), []
    for kind, old, new, os_, oe, ns, ne, pair in rows:
        if (old, new, os_, oe, ns, ne) not in seen:
            seen.add((old, new, os_, oe, ns, ne))
            out.append(EditInput(old=old, new=new, old_spans=((os_, oe),) if os_ is not None else (),
                                 new_spans=((ns, ne),) if ns is not None else (), type=kind, group=pair))
    return out


def main(argv=None) -> int:
    import dataclasses

    import numpy as np

    from revmine.eval.cv import mean_sd
    from revmine.models.intent import TAXONOMIES
    from revmine.training.intent import SELECT_BY, _mixed_reports, fold_lexical, kept_folds

    from intent_calibration import train_dev_pools  # benchmarks/ is on the path when a script here runs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data"))
    ap.add_argument("--pool", type=int, default=5000, help="mined edits offered to the models (default 5000)")
    args = ap.parse_args(argv)
    history = os.path.join(args.data, "wikipedia", "enwiki-Anarchism-history-2001-2010.xml.lzma")
    pools = train_dev_pools(args.data)
    if pools is None or not os.path.exists(history):
        print(f"the gold or the Anarchism history is missing under {args.data}")
        return 2
    cv = os.path.join(HERE, "intent_cv_kept.json")
    with open(cv, encoding="utf-8") as fh:
        choices = json.load(fh)["choices"]
    with tempfile.TemporaryDirectory() as tmp:
        mined = mined_edits(history, os.path.join(tmp, "wh"))
    random.Random(0).shuffle(mined)
    print(f"{len(mined):,} distinct span edits mined; {min(args.pool, len(mined)):,} offered")
    mined = mined[:args.pool]
    scores = {name: {t: {w: [] for w in WEIGHTS} for t in pools} for name, *_ in VARIANTS}
    for fold, train, test, neural in kept_folds(pools, cv):
        shipped = fold_lexical(train, choices)
        for name, tau, taxonomies in VARIANTS:
            parts = dict(train)
            for t in taxonomies:
                labels = TAXONOMIES[t]
                taken = [dataclasses.replace(e, label=labels[int(np.argmax(p))])
                         for e, p in zip(mined, shipped[t].predict_proba(mined)) if p.max() >= tau]
                parts[t] = train[t] + taken
                if fold == 1:
                    print(f"  {name}, {t}: {len(taken):,} pseudo-labelled, "
                          f"{dict(collections.Counter(e.label for e in taken).most_common())}")
            models = shipped if tau is None else fold_lexical(parts, choices)
            for t in pools:
                for w, report in _mixed_reports(neural[t], models[t], test[t], TAXONOMIES[t], WEIGHTS).items():
                    scores[name][t][w].append(report[SELECT_BY[t]])
        print(f"fold {fold} done", flush=True)
    for name, *_ in VARIANTS:
        for t in pools:
            cells = ", ".join(f"mix {w}: {m:.4f} ± {s:.4f}" for w, (m, s) in ((w, mean_sd(v)) for w, v in scores[name][t].items()))
            print(f"{name:22} {t:10} {SELECT_BY[t]:11} {cells}  folds {', '.join(f'{x:.3f}' for x in scores[name][t][0.4])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
