"""Intent encoders from one initialisation: each alone, their probabilities averaged, and their weights
averaged (a soup, which labels at one model's cost), on the whole model's folds.

`train`: for each of the 5 folds of train+dev (the folds of `revmine train intent --cross-validate`) and
each order seed, train the encoder and heads as the shipped recipe does (`train_intent`, weights
initialised by seed 13, batch order and dropout by the order seed), and keep the encoder's probabilities
of the fold's held-out edits: each member's, and after each member from the second on, the soup of the
members so far. `--full` also trains each order seed on train alone (the members of a shipped soup).
One process per fold, so one GPU serves all five; about 40 minutes per member and fold on 2 CPU cores.

`score`: adds the members' probabilities averaged (`meanK`, K encoder passes per edit), mixes every
variant with the lexical models refitted on each fold's training part, as the shipped model mixes them,
and prints each taxonomy's figure, fold mean ± sd, at every mixing weight.
`--write-cv JSON` writes one variant's folds in the layout of `--cross-validate` (JSON and its
`.encoder.npz`), for `benchmarks/intent_skip.py --cv JSON`.

    python benchmarks/intent_soup.py train --out DIR [--seeds 13,14,15] [--full] [--pools FILE]
    python benchmarks/intent_soup.py score --out DIR [--write-cv JSON --variant soup3]
    python benchmarks/intent_soup.py pools FILE  # train+dev and train, gzipped, for a machine without the data
    python benchmarks/intent_soup.py kept --out DIR  # then `score --out DIR`: the fold trainings kept in benchmarks/

`kept` lays out the encoders' held-out probabilities that earlier cross-validations kept in
`benchmarks/intent_cv_*.encoder.npz` (the shipped recipe, 6 epochs, class-weight powers 0.25 and 1) as members
of one fold each, so that `score` shows what averaging trainings of other recipes gives, on the folds they cover.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FOLDS = 5


def load_pools(data: str, pools_file: str | None) -> dict:
    """{"pools": train+dev per taxonomy, "train": train per taxonomy}, from the data or a `pools` pickle."""
    if pools_file:
        with gzip.open(pools_file, "rb") as fh:
            return pickle.load(fh)
    from revmine.eval.intent import load_intents

    files = {"arxivedits": ("arxivedits/train.json", "arxivedits/dev.json"),
             "iterater": ("iterater/sent_level/train.json", "iterater/sent_level/dev.json")}
    train = {t: load_intents(os.path.join(data, tr), t) for t, (tr, _) in files.items()}
    return {"pools": {t: train[t] + load_intents(os.path.join(data, dv), t) for t, (_, dv) in files.items()},
            "train": train}


def train_one(fold: int, out: str, pools_file: str | None, data: str, seeds: list[int], epochs: int) -> None:
    """The members of one fold (0: train alone, no held-out part), one after another, each kept at once."""
    import numpy as np
    import torch

    import revmine.training.intent as training
    from revmine.models.aligner import default_device
    from revmine.models.intent import IntentClassifier

    torch.set_num_threads(2)
    training.fit_lexical = lambda *a, **k: {}  # lexical models are refitted per fold by `score`
    both = load_pools(data, pools_file)
    if fold:
        train, test = next(parts for i, parts in training._fold_parts(both["pools"], FOLDS) if i == fold)
    else:
        train, test = both["train"], None
    device = default_device()
    where = os.path.join(out, f"fold{fold}")
    kept: dict = {}
    members = []
    for k, seed in enumerate(seeds, 1):
        started = time.time()
        member = os.path.join(where, f"seed{seed}")
        training.train_intent(member, {t: list(v) for t, v in train.items()}, None, epochs=epochs, seed=13,
                              order_seed=seed, device=device)
        members.append(member)
        took = time.time() - started
        if test is not None:
            variants = {f"seed{seed}": member}
            if k >= 2:
                training.soup(members, os.path.join(where, f"soup{k}"))
                variants[f"soup{k}"] = os.path.join(where, f"soup{k}")
            for name, d in variants.items():
                clf = IntentClassifier(d, device=device, precision="fp32")
                kept.update({f"{name}/{t}": clf.encoder_proba(test[t])[t].numpy() for t in test})
            np.savez_compressed(os.path.join(out, f"fold{fold}.npz"), **kept)
        print(f"fold {fold} seed {seed}: trained in {took:.0f} s on {device}", flush=True)


def train(args) -> int:
    seeds = [int(s) for s in args.seeds.split(",")]
    folds = ([0] if args.full else []) + list(range(1, FOLDS + 1))
    procs = []
    for fold in folds:
        cmd = [sys.executable, os.path.abspath(__file__), "train-one", str(fold), "--out", args.out,
               "--seeds", args.seeds, "--epochs", str(args.epochs), "--data", args.data]
        if args.pools:
            cmd += ["--pools", args.pools]
        procs.append(subprocess.Popen(cmd))
    rc = max(p.wait() for p in procs)
    print(f"{len(folds)} folds x {len(seeds)} members: rc {rc}")
    return rc


def score(args) -> int:
    import numpy as np
    import torch

    from revmine.models.intent import TAXONOMIES
    from revmine.training.intent import (SELECT_BY, _fold_parts, _mixed_reports, _save_encoder_proba, _score_fold,
                                         fold_lexical, lexical_choices, summarize_mixed_cv, _cv_result)

    both = load_pools(args.data, args.pools)
    pools = both["pools"]
    choices = lexical_choices(args.model)
    figures: dict = {}
    by_fold: dict = {}
    for i, (train_part, test) in _fold_parts(pools, FOLDS):
        path = os.path.join(args.out, f"fold{i}.npz")
        if not os.path.exists(path):
            continue
        kept = dict(np.load(path))
        seeds = sorted((k.split("/")[0] for k in kept if k.startswith("seed") and k.endswith(f"/{next(iter(pools))}")),
                       key=lambda n: int(n[4:]))
        for k in range(2, len(seeds) + 1):  # the members' probabilities averaged: k encoder passes per edit
            kept.update({f"mean{k}/{t}": np.mean([kept[f"{n}/{t}"] for n in seeds[:k]], axis=0) for t in pools})
        variants = sorted({k.split("/")[0] for k in kept})
        lexical = fold_lexical(train_part, choices)
        for name in variants:
            for tax in pools:
                reports = _mixed_reports(torch.from_numpy(kept[f"{name}/{tax}"]), lexical[tax], test[tax],
                                         TAXONOMIES[tax])
                for w, r in reports.items():
                    figures.setdefault((name, tax, w), []).append(r[SELECT_BY[tax]])
        if args.write_cv:
            neural = {t: torch.from_numpy(kept[f"{args.variant}/{t}"]) for t in pools}
            _save_encoder_proba(args.write_cv, i, neural)
            by_fold[str(i)] = _score_fold(train_part, test, neural, choices)
    for tax in pools:
        print(f"\n{tax} ({SELECT_BY[tax]}), fold mean ± sd by mixing weight")
        names = sorted({n for n, t, _ in figures if t == tax})
        weights = sorted({w for _, t, w in figures if t == tax})
        print("variant".ljust(10) + "".join(f"{w:>16}" for w in weights))
        for name in names:
            cells = []
            for w in weights:
                v = figures[(name, tax, w)]
                cells.append(f"{statistics.mean(v):.4f}±{statistics.stdev(v) if len(v) > 1 else 0:.3f}({len(v)})")
            print(name.ljust(10) + "".join(f"{c:>16}" for c in cells))
    if args.write_cv:
        result = _cv_result(pools, FOLDS, args.epochs, choices, by_fold)
        result["variant"] = args.variant
        result["summary"] = summarize_mixed_cv(result)
        with open(args.write_cv, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1)
    return 0


KEPT = ("kept", "e6", "p025", "p1")  # benchmarks/intent_cv_{name}.encoder.npz, as members seed1, seed2, ...


def kept_members(out: str) -> None:
    import numpy as np

    runs = [dict(np.load(os.path.join(HERE, f"intent_cv_{name}.encoder.npz"))) for name in KEPT]
    os.makedirs(out, exist_ok=True)
    for fold in range(1, FOLDS + 1):
        members = {f"seed{k}/{key.split('/')[1]}": run[key]
                   for k, run in enumerate(runs, 1) for key in run if key.startswith(f"{fold}/")}
        if len({m.split("/")[0] for m in members}) > 1:
            np.savez_compressed(os.path.join(out, f"fold{fold}.npz"), **members)
            print(f"fold {fold}: {', '.join(KEPT[int(m[4:]) - 1] for m in sorted({m.split('/')[0] for m in members}))}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("train", "train-one", "score", "pools", "kept"))
    ap.add_argument("fold", nargs="?", help="train-one: the fold (0: train alone); pools: the file to write")
    ap.add_argument("--out", help="folder of the members and their probabilities")
    ap.add_argument("--seeds", default="13,14,15")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--full", action="store_true", help="train: also train each member on train alone")
    ap.add_argument("--pools", help="a pickle written by the pools mode, instead of --data")
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data"))
    ap.add_argument("--model", default=os.path.join(HERE, "..", "revmine", "models", "weights", "intent"),
                    help="score: the model whose lexical settings are mixed in")
    ap.add_argument("--write-cv", metavar="JSON")
    ap.add_argument("--variant", default="soup3")
    args = ap.parse_args(argv)
    if args.mode == "pools":
        with gzip.open(args.fold, "wb") as fh:
            pickle.dump(load_pools(args.data, None), fh)
        return 0
    if args.mode == "kept":
        kept_members(args.out)
        return 0
    if args.mode == "train-one":
        train_one(int(args.fold), args.out, args.pools, args.data, [int(s) for s in args.seeds.split(",")],
                  args.epochs)
        return 0
    return train(args) if args.mode == "train" else score(args)


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.exit(main())
