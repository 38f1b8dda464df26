"""Training the intent classifier: LoRA on the MiniLM encoder with one head per taxonomy, then the lexical
models and the mixing weight chosen on dev; writes the model folder and its card."""
from __future__ import annotations

import json
import logging
import os
import random
import time
from typing import Optional, Sequence

import torch
from torch import nn

from revmine.models import write_card
from revmine.models.aligner import base_encoder_path, default_device
from revmine.models.intent import (TAXONOMIES, EditInput, IntentClassifier, IntentConfig, IntentModel,
                                   _argmax, _inputs, _mix, least_sure)
from revmine.models.lexical import LexicalIntent

log = logging.getLogger(__name__)

# The encoder loss's class weights are (n_max / n_c) ** this by default; chosen on folds (balancing fully, 1, lost).
CLASS_WEIGHT_POWER = 0.5


def train_intent(out_dir: str, train: dict[str, list[EditInput]], dev: Optional[dict[str, list[EditInput]]] = None,
                 epochs: int = 4, batch: int = 16, lr: float = 5e-4, head_lr: float = 2e-3, seed: int = 13,
                 order_seed: Optional[int] = None, class_weight_power: float | dict = CLASS_WEIGHT_POWER,
                 device: Optional[torch.device] = None,
                 config: Optional[IntentConfig] = None, sources: Optional[dict] = None) -> dict:
    """Train the shared encoder (LoRA) and one head per taxonomy in `train`; save the model folder.

    Batches are single-taxonomy and interleaved at random. The loss is class-weighted by
    (n_max / n_class) ** class_weight_power (a number, or one per taxonomy), which lifts rare classes
    (IteraTeR style, arXivEdits Lang-other) without drowning the common ones. `seed` initialises the
    weights; `order_seed`, when given, draws the batch order and dropout instead of it, so that trainings
    from one initialisation can be averaged weight by weight (`soup`). Returns dev scores per taxonomy.
    """
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer

    rng = random.Random(seed if order_seed is None else order_seed)
    torch.manual_seed(seed)
    device = device or default_device()
    config = config or IntentConfig()
    config.taxonomies = {t: list(TAXONOMIES[t]) for t in train}
    started = time.time()
    base = base_encoder_path()
    tokenizer = AutoTokenizer.from_pretrained(base)
    encoder = get_peft_model(AutoModel.from_pretrained(base),
                             LoraConfig(r=config.lora_rank, lora_alpha=2 * config.lora_rank, lora_dropout=0.1,
                                        target_modules=config.lora_targets))
    model = IntentModel(config, encoder).to(device)
    if order_seed is not None:
        torch.manual_seed(order_seed)
    weights = {}
    for tax, examples in train.items():
        labels = config.taxonomies[tax]
        counts = [max(sum(e.label == lab for e in examples), 1) for lab in labels]
        power = (class_weight_power.get(tax, CLASS_WEIGHT_POWER) if isinstance(class_weight_power, dict)
                 else class_weight_power)
        weights[tax] = torch.tensor([(max(counts) / c) ** power for c in counts], device=device)
    lora = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("encoder.")]
    heads = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("encoder.")]
    opt = torch.optim.AdamW([{"params": lora, "lr": lr}, {"params": heads, "lr": head_lr}], weight_decay=0.01)
    plan = [(tax, k) for tax, ex in train.items() for k in range(0, len(ex), batch)]
    total_steps = epochs * len(plan)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, total_steps // 10)) * max(0.0, (total_steps - s) / total_steps))
    for epoch in range(epochs):
        model.train()
        for tax in train:
            rng.shuffle(train[tax])
        rng.shuffle(plan)
        loss_sum, seen = 0.0, 0
        for tax, k in plan:
            chunk = train[tax][k:k + batch]
            enc, feats = _inputs(chunk, tokenizer, config, device)
            target = torch.tensor([config.taxonomies[tax].index(e.label) for e in chunk], device=device)
            logits = model(enc, feats, tax)
            loss = nn.functional.cross_entropy(logits, target, weight=weights[tax])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lora + heads, 1.0)
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(chunk)
            seen += len(chunk)
        log.info("intent epoch %d: loss %.3f (%.0fs)", epoch, loss_sum / max(seen, 1), time.time() - started)
    model.eval()
    os.makedirs(out_dir, exist_ok=True)
    encoder.save_pretrained(os.path.join(out_dir, "adapter"))
    save_file({k: v.detach().cpu().contiguous() for k, v in model.head_state().items()},
              os.path.join(out_dir, "heads.safetensors"))
    config.training = {"sources": sources or {}, "examples": {t: len(v) for t, v in train.items()}, "epochs": epochs,
                       "batch": batch, "lr": lr, "head_lr": head_lr, "class_weight_power": class_weight_power,
                       "seed": seed, **({"order_seed": order_seed} if order_seed is not None else {}),
                       "seconds": round(time.time() - started), "device": str(device)}
    if os.path.exists(os.path.join(out_dir, "adapter", "README.md")):  # peft's empty template card
        os.remove(os.path.join(out_dir, "adapter", "README.md"))
    _write_config(out_dir, config)
    return fit_lexical(out_dir, train, dev, device)


def fit_lexical(model_dir: str, train: dict[str, list[EditInput]], dev: Optional[dict[str, list[EditInput]]] = None,
                device: Optional[torch.device] = None, cv_folds: int = 5) -> dict:
    """Fit and save one lexical model per taxonomy beside a trained encoder, its C chosen by
    `cv_folds`-fold cross-validation over train+dev (by paper or document; C = 1 without dev), choose
    the mixing weight on dev (0.5 without dev), score dev, write the card. The last step of
    `train_intent`; also callable on its own to refit them over a kept encoder. Returns dev scores per
    taxonomy."""

    started = time.time()
    clf = IntentClassifier(model_dir, device=device, precision="fp32")  # choices that do not move with batch-mates
    config = clf.config
    config.mix, config.training["mix_dev"], metrics = {}, {}, {}
    cv_lexical = config.training.setdefault("lexical_cv", {})
    grid = list(MIX_GRID)
    fitted: dict[str, LexicalIntent] = {}
    for tax in sorted(train, key=lambda t: t in HELPERS):  # a helper is fitted before the model it helps
        examples = train[tax]
        labels = config.taxonomies[tax]
        c, weight = 1.0, 0.0
        helper_name = HELPERS.get(tax) if HELPERS.get(tax) in fitted else None
        helper = fitted.get(helper_name) if helper_name else None
        pool = examples + list((dev or {}).get(tax) or [])
        if dev and dev.get(tax) and cv_folds >= 2 and len({e.group for e in pool}) >= cv_folds:
            cv = cross_validate_lexical(pool, tax, k=cv_folds, helper=helper, helper_name=helper_name)
            c, weight = cv["chosen_C"], cv.get("chosen_helper_weight", 0.0)
            cv_lexical[tax] = {"folds": cv_folds, "metric": cv["metric"], "chosen_C": c,
                               "by_C": {k: {"mean": v["mean"], "sd": v["sd"]} for k, v in cv["by_C"].items()}}
            if helper is not None:
                cv_lexical[tax].update(helper=helper_name, chosen_helper_weight=weight,
                                       helper_cv={k: {"mean": v["mean"], "sd": v["sd"]} for k, v in cv["helper_cv"].items()})
        lexical = LexicalIntent(labels, C=c, helper=helper, helper_name=helper_name, helper_weight=weight).fit(examples)
        lexical.save(model_dir, tax)
        fitted[tax] = lexical
        if not (dev and dev.get(tax)):
            config.mix[tax] = 0.5
            continue
        reports = mix_reports(clf, lexical, dev[tax], tax, grid)
        score = {w: r[SELECT_BY.get(tax, "macro_f1")] for w, r in reports.items()}
        config.mix[tax] = max(grid, key=lambda w: (round(score[w], 4), -abs(w - 0.5)))
        config.training["mix_dev"][tax] = {str(w): round(v, 4) for w, v in score.items()}
        metrics[tax] = _dev_metrics(reports, config.mix[tax])
    config.training["seconds"] = config.training.get("seconds", 0) + round(time.time() - started)
    config.metrics = {"dev": metrics} if metrics else {}
    _write_config(model_dir, config)
    return metrics


# The figure each taxonomy is judged by: the mixing weight is chosen to maximise it.
SELECT_BY = {"arxivedits": "weighted_f1", "iterater": "macro_f1"}
MIX_GRID = tuple(round(0.1 * k, 1) for k in range(11))


def mix_reports(clf: IntentClassifier, lexical: LexicalIntent, examples: list[EditInput], tax: str,
                weights: Sequence[float] = MIX_GRID) -> dict:
    """A classification report per mixing weight; one encoder pass serves them all (1.0: the encoder alone)."""
    return _mixed_reports(clf.encoder_proba(examples)[tax], lexical, examples, clf.config.taxonomies[tax], weights)


def _mixed_reports(neural: torch.Tensor, lexical: LexicalIntent, examples: list[EditInput], labels: Sequence[str],
                   weights: Sequence[float] = MIX_GRID) -> dict:
    from revmine.models.metrics import classification_report

    gold, lex = [e.label for e in examples], lexical.predict_proba(examples)
    return {w: classification_report(gold, [lab for lab, _ in _argmax(_mix(neural, lex, w), labels)], labels)
            for w in weights}


def _dev_metrics(reports: dict, weight: float) -> dict:
    """The card's dev record: the report at the chosen weight, and the encoder alone's headline scores."""
    metrics, alone = _rounded(reports[weight]), _rounded(reports[1.0])
    metrics["encoder_only"] = {k: alone[k] for k in ("accuracy", "macro_f1", "weighted_f1")}
    return metrics


def _rounded(report: dict) -> dict:
    """A classification report as the model card records it: scores to 4 places, F1 per class to 3."""
    out = {k: round(v, 4) if isinstance(v, float) else v for k, v in report.items() if k != "per_class"}
    out["per_class_f1"] = {lab: round(r["f1"], 3) for lab, r in report["per_class"].items()}
    return out


def _write_config(out_dir: str, config: IntentConfig) -> None:
    write_card(out_dir, config, model_card(config))


def _cv_lines(config: IntentConfig) -> str:
    def line(tax: str, cv: dict) -> str:
        c = cv["by_C"][str(cv["chosen_C"])]
        out = (f"- {tax}, lexical model alone, {cv['metric']} at C = {cv['chosen_C']}: {c['mean']} ± {c['sd']} "
               f"({cv['folds']}-fold mean ± sd)")
        if cv.get("helper"):
            h = cv["helper_cv"][str(cv["chosen_helper_weight"])]
            out += (f"; with the {cv['helper']} lexical model's probabilities as features (weight chosen: "
                    f"{cv['chosen_helper_weight']}): {h['mean']} ± {h['sd']}")
        return out

    lines = [line(tax, cv) for tax, cv in config.training.get("lexical_cv", {}).items()]
    whole = config.training.get("whole_model_cv") or {}
    for tax, cv in whole.items():
        if not isinstance(cv, dict):
            continue
        before, best = cv["at_shipped_mix"], cv["at_best_mix"]
        head = (f"- {tax}, the whole model (encoder refitted per fold), {cv['metric']} over {whole['folds_done']} of "
                f"{whole.get('folds', 5)} folds")
        if float(config.mix.get(tax, -1)) == float(cv["best_mix"]):  # the folds chose this model's mix
            head += (f" at the mix they chose, {cv['best_mix']} (shipped): {best['mean']} ± {best['sd']}; at the mix "
                     f"chosen on dev before, {cv['shipped_mix']}: {before['mean']} ± {before['sd']}")
        else:
            head += (f" at the shipped mix {cv['shipped_mix']}: {before['mean']} ± {before['sd']}; the folds' best "
                     f"mix {cv['best_mix']}: {best['mean']} ± {best['sd']}")
        lines.append(f"{head}; lexical model alone {cv['lexical_alone']['mean']}, encoder alone "
                     f"{cv['encoder_alone']['mean']}")
    return ("\nCross-validated:\n" + "\n".join(lines) + "\n") if lines else ""


def _mix_selection(config: IntentConfig) -> str:
    if config.training.get("mix_selection"):
        return (f"`mix` by the whole model's folds: {config.training['mix_selection']}.\n"
                "`revmine train intent --cross-validate` refits the encoder on each fold with this model's lexical\n"
                "settings and scores every mixing weight (the dev grid of the first fit stays in the training record).")
    note = ("" if not config.training.get("whole_model_cv") else
            " The whole model's fold figures (below) come from `revmine train intent --cross-validate`, which"
            "\nrefits the encoder on each fold with this model's lexical settings and scores every mixing weight.")
    return ("`mix` on dev (grid in the training record),\nbecause a fold-wise refit of the encoder costs about "
            "40 minutes per fold on the 2-core CPU." + note)


def record_whole_model_cv(model_dir: str, result: dict, dev: Optional[dict[str, list[EditInput]]] = None,
                          device: Optional[torch.device] = None) -> None:
    """Write a `cross_validate_mixed` result's summary into a model folder's training record and card.
    With `dev`, each taxonomy's mixing weight becomes the one with the best fold mean, and dev is scored
    again at it (it then only reports; the weight had been chosen on dev)."""
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as fh:
        config = IntentConfig(**json.load(fh))
    summary = result["summary"]
    config.training["whole_model_cv"] = dict(summary, folds=result["folds"], epochs=result["epochs"])
    if dev:
        clf = IntentClassifier(model_dir, device=device, precision="fp32")
        for tax, cv in summary.items():
            if isinstance(cv, dict) and dev.get(tax) and tax in clf.lexical:
                weight = float(cv["best_mix"])
                config.mix[tax] = weight
                config.metrics.setdefault("dev", {})[tax] = _dev_metrics(
                    mix_reports(clf, clf.lexical[tax], dev[tax], tax, (weight, 1.0)), weight)
        config.training["mix_selection"] = (f"best fold mean over {summary['folds_done']} of {result['folds']} folds "
                                            "(revmine train intent --cross-validate); dev only reports")
    _write_config(model_dir, config)


def _skip_lines(config: IntentConfig) -> str:
    cv = config.training.get("skip_encoder_cv")
    if not cv or config.skip_encoder_at is None:
        return ""
    at, never = cv["at_chosen"], cv["never"]
    figures = "; ".join(f"{t} {r['metric']} {r['mean']} ± {r['sd']} (encoder for every edit: {never[t]['mean']} ± "
                        f"{never[t]['sd']}), {r['skipped']:.0%} of its edits skip the encoder" for t, r in at.items())
    return (f"\nThe encoder is skipped where every lexical model gives its top label at least {config.skip_encoder_at}: "
            "such an edit takes the lexical labels (`intent_model` 'intent-lexical@…'). The threshold is the lowest at "
            f"which no taxonomy's fold mean falls below the encoder-for-every-edit one, on the {cv['folds']} kept folds "
            f"(`benchmarks/intent_skip.py`): {figures}.\n")


def model_card(config: IntentConfig) -> str:
    def row(name: str, m: dict, n="") -> str:
        return f"| {name} | {m['accuracy']} | {m['macro_f1']} | {m['weighted_f1']} | {n} |"

    rows = "\n".join((row(f"{tax}, shipped: the encoder skipped where the lexical models are at least "
                          f"{config.skip_encoder_at} sure ({m['skip_encoder']['skipped']:.0%} of dev edits)",
                          m["skip_encoder"], m["n"]) + "\n" if "skip_encoder" in m else "")
                     + row(f"{tax} (mix {config.mix.get(tax, 1.0)}, the encoder for every edit)", m, m["n"]) + (
        "\n" + row(f"{tax}, encoder alone", m["encoder_only"], m["n"]) if "encoder_only" in m else "")
        for tax, m in config.metrics.get("dev", {}).items())
    per = "\n".join(f"- {tax}: " + ", ".join(f"{k} {v}" for k, v in m["per_class_f1"].items())
                    for tax, m in config.metrics.get("dev", {}).items())
    return f"""# revmine edit-intent classifier

A LoRA adapter (rank {config.lora_rank} on {', '.join(config.lora_targets)}) for `{config.base_encoder}` (MiniLM-L6,
22.7M parameters), with one MLP head per taxonomy over [mean-pooled encoder output; {len(config.features)} edit
features]. The input is the old and the new sentence as a pair, with the edited spans marked `[ … ]`,
cropped to {config.window} words around the edit.

Beside it, per taxonomy, a lexical model (`lexical-<taxonomy>.*`): a logistic regression over char 1–4-grams
and word 1–2-grams of the edited spans plus the same features. The label is the argmax of
`encoder^mix × lexical^(1 − mix)` (renormalised).

Selection: the lexical model's C by 5-fold cross-validation over train+dev, folds by paper or document
(`lexical_cv` in the training record: fold mean ± sd per C); {_mix_selection(config)}
{_cv_lines(config)}{_skip_lines(config)}

Taxonomies: {', '.join(f'**{t}** ({len(v)} classes)' for t, v in config.taxonomies.items())}.

## Training data
{json.dumps(config.training, indent=2)}

## Dev scores (`revmine eval intent`)
| taxonomy | accuracy | macro F1 | weighted F1 | n |
|---|---:|---:|---:|---:|
{rows}

Per-class F1:
{per}

Reproduce: `revmine train intent` (reads ../shared/data; see benchmarks/RESULTS.md for the time it takes).
"""


LEXICAL_C = (0.3, 1.0, 3.0, 10.0)  # inverse regularisation strengths tried by `cross_validate_lexical`
HELPER_WEIGHTS = (3.0,)  # weights of the helper's probabilities tried against none (0.0)
# Which lexical model may help which: the helper is fitted first, on its own taxonomy's data.
HELPERS = {"arxivedits": "iterater"}


def cross_validate_lexical(examples: list[EditInput], taxonomy: str, k: int = 5,
                           cs: tuple = LEXICAL_C, helper: Optional[LexicalIntent] = None,
                           helper_name: Optional[str] = None, helper_weights: tuple = HELPER_WEIGHTS) -> dict:
    """k-fold cross-validation of the lexical model over `examples` (train+dev), folds by document or
    paper (`EditInput.group`), for each C: the fold mean ± sd of the taxonomy's figure (weighted F1 for
    arXivEdits, macro F1 for IteraTeR). With a `helper` (the other taxonomy's lexical model, fitted on
    its own data), each of `helper_weights` is then tried at the chosen C, and 0 (no helper) competes.
    The encoder part is not refitted per fold: it takes about 40 minutes per training on the 2-core CPU."""
    from revmine.eval.cv import group_folds, mean_sd
    from revmine.models.metrics import classification_report

    labels = TAXONOMIES[taxonomy]
    metric = SELECT_BY.get(taxonomy, "macro_f1")
    folds = group_folds(examples, lambda e: e.group or id(e), k)

    def run(make) -> dict:
        scores = []
        for fold in folds:
            held = set(fold)
            model = make().fit([e for i, e in enumerate(examples) if i not in held])
            test = [examples[i] for i in fold]
            pred = [lab for lab, _ in _argmax(model.predict_proba(test), labels)]
            scores.append(classification_report([e.label for e in test], pred, labels)[metric])
        m, s = mean_sd(scores)
        return {"mean": round(m, 4), "sd": round(s, 4), "folds": [round(x, 4) for x in scores]}

    table = {}
    for c in cs:
        table[str(c)] = run(lambda: LexicalIntent(labels, C=c))
        log.info("lexical %s C=%s: %s %.4f ± %.4f", taxonomy, c, metric, table[str(c)]["mean"], table[str(c)]["sd"])
    chosen = max(cs, key=lambda c: table[str(c)]["mean"])
    out = {}
    if helper is not None:
        by_weight = {"0.0": table[str(chosen)]}
        for w in helper_weights:
            by_weight[str(float(w))] = run(lambda: LexicalIntent(labels, C=chosen, helper=helper,
                                                                 helper_name=helper_name, helper_weight=w))
        best = max(by_weight, key=lambda w: (by_weight[w]["mean"], -float(w)))
        out = {"helper": helper_name, "helper_cv": by_weight, "chosen_helper_weight": float(best)}
    return {"taxonomy": taxonomy, "metric": metric, "folds": k, "examples": len(examples), "by_C": table,
            "chosen_C": chosen, **out}


def soup(model_dirs: Sequence[str], out_dir: str) -> None:
    """One model folder whose weights are the mean of `model_dirs`' (trainings from one initialisation,
    as `train_intent(order_seed=...)` gives them). The mean of n LoRA updates B_i A_i is exactly one LoRA
    update of rank n·r, [B_1 … B_n] / n · [A_1; …; A_n], so once merged the soup labels at one model's
    cost. Heads are averaged. The lexical models are left to `fit_lexical`."""
    import shutil

    from safetensors.torch import load_file, save_file

    adapters = [load_file(os.path.join(d, "adapter", "adapter_model.safetensors")) for d in model_dirs]
    n = len(adapters)
    merged = {k: (torch.cat([a[k] for a in adapters], dim=0) if ".lora_A." in k
                  else torch.cat([a[k] for a in adapters], dim=1) / n if ".lora_B." in k
                  else sum(a[k] for a in adapters) / n)
              for k in adapters[0]}
    with open(os.path.join(model_dirs[0], "adapter", "adapter_config.json"), encoding="utf-8") as fh:
        adapter_config = json.load(fh)
    # rank and alpha both times n: the scale alpha / r of every member stays the soup's
    adapter_config.update(r=n * adapter_config["r"], lora_alpha=n * adapter_config["lora_alpha"])
    os.makedirs(os.path.join(out_dir, "adapter"), exist_ok=True)
    save_file({k: v.contiguous() for k, v in merged.items()},
              os.path.join(out_dir, "adapter", "adapter_model.safetensors"))
    with open(os.path.join(out_dir, "adapter", "adapter_config.json"), "w", encoding="utf-8") as fh:
        json.dump(adapter_config, fh, indent=2)
    heads = [load_file(os.path.join(d, "heads.safetensors")) for d in model_dirs]
    save_file({k: (sum(h[k].float() for h in heads) / n).to(heads[0][k].dtype).contiguous() for k in heads[0]},
              os.path.join(out_dir, "heads.safetensors"))
    configs = []
    for d in model_dirs:
        with open(os.path.join(d, "config.json"), encoding="utf-8") as fh:
            configs.append(IntentConfig(**json.load(fh)))
    config = configs[0]
    config.lora_rank = adapter_config["r"]
    config.training = {**config.training, "soup_of": [c.training.get("order_seed", c.training.get("seed"))
                                                      for c in configs],
                       "seconds": sum(c.training.get("seconds", 0) for c in configs)}
    config.training.pop("order_seed", None)
    if os.path.abspath(out_dir) != os.path.abspath(model_dirs[0]):
        for name in os.listdir(model_dirs[0]):  # lexical models fitted beside the first member, if any
            if name.startswith("lexical-"):
                shutil.copy(os.path.join(model_dirs[0], name), out_dir)
    _write_config(out_dir, config)


def cross_validate_mixed(pools: dict[str, list[EditInput]], out_json: str, choices: dict, k: int = 5,
                         only: Optional[Sequence[int]] = None, epochs: int = 4,
                         class_weight_power: float = CLASS_WEIGHT_POWER, device: Optional[torch.device] = None) -> dict:
    """k-fold cross-validation of the whole recipe (encoder, heads, lexical models and their mix) over
    `pools` (train+dev per taxonomy): fold i of every taxonomy is held out together, so one encoder
    training per fold serves both figures; folds by paper or document as in `cross_validate_lexical`.
    `choices` (per taxonomy `C`, `helper_weight` and `mix`: `lexical_choices` of the shipped model) fix
    the lexical models; every mixing weight of the grid is scored, so the folds can also choose it.

    Each finished fold is written to `out_json` at once, and folds found there are not trained again:
    a fold takes about half an hour on 2 CPU cores, so the run can be spread over several sittings
    (`only`: the 1-based folds to run now). `class_weight_power`: the encoder's class weights, as in
    `train_intent`; a file's folds are all trained with one."""
    import tempfile

    done: dict = {}
    if os.path.exists(out_json):
        with open(out_json, encoding="utf-8") as fh:
            done = json.load(fh)
        stored = done.get("class_weight_power", CLASS_WEIGHT_POWER)  # files from before the option: the default
        if stored != class_weight_power:
            raise ValueError(f"{out_json} holds folds trained with class weight power {stored}, "
                             f"not {class_weight_power}")
    result = _cv_result(pools, k, epochs, choices, done.get("by_fold", {}))
    result["class_weight_power"] = class_weight_power
    for i, (train, test) in _fold_parts(pools, k):
        if str(i) in result["by_fold"] or (only and i not in only):
            continue
        started = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            train_intent(tmp, {t: list(v) for t, v in train.items()}, None, epochs=epochs,
                         class_weight_power=class_weight_power, device=device)
            clf = IntentClassifier(tmp, device=device, precision="fp32")
            neural = {t: clf.encoder_proba(test[t])[t] for t in pools}
        _save_encoder_proba(out_json, i, neural)
        fold = _score_fold(train, test, neural, choices)
        fold["seconds"] = round(time.time() - started)
        result["by_fold"][str(i)] = fold
        with open(out_json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1)
        log.info("intent fold %d of %d done in %ds", i, k, fold["seconds"])
    result["summary"] = summarize_mixed_cv(result)
    with open(out_json, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1)
    return result


def _cv_result(pools: dict[str, list[EditInput]], k: int, epochs: int, choices: dict, by_fold: dict) -> dict:
    """The head of a whole-model cross-validation result, which `rescore_lexical` shares."""
    return {"folds": k, "epochs": epochs, "choices": choices, "metric": dict(SELECT_BY),
            "examples": {t: len(p) for t, p in pools.items()}, "by_fold": by_fold}


def _fold_parts(pools: dict[str, list[EditInput]], k: int):
    """(i, (train, held-out)) per 1-based fold: fold i of every taxonomy together, by paper or document
    as in `cross_validate_lexical`. Built lazily, one fold at a time."""
    from revmine.eval.cv import group_folds

    splits = {t: group_folds(p, lambda e: e.group or id(e), k) for t, p in pools.items()}
    for i in range(1, k + 1):
        held = {t: set(splits[t][i - 1]) for t in pools}
        yield i, ({t: [e for j, e in enumerate(p) if j not in held[t]] for t, p in pools.items()},
                  {t: [p[j] for j in sorted(held[t])] for t, p in pools.items()})


def _score_fold(train: dict[str, list[EditInput]], test: dict[str, list[EditInput]],
                neural: dict[str, torch.Tensor], choices: dict) -> dict:
    """One fold's figures at every mixing weight: the lexical models fitted on its training part with
    `choices`, mixed with the fold encoder's probabilities of its held-out part."""
    fold: dict = {}
    lexical = fold_lexical(train, choices)
    for tax in train:
        reports = _mixed_reports(neural[tax], lexical[tax], test[tax], TAXONOMIES[tax])
        fold[tax] = {"n": len(test[tax]), "by_mix": {str(w): {m: round(r[m], 4) for m in ("accuracy", "macro_f1",
                                                                                          "weighted_f1")}
                                                     for w, r in reports.items()}}
    return fold


def fold_lexical(train: dict[str, list[EditInput]], choices: dict) -> dict[str, LexicalIntent]:
    """One lexical model per taxonomy fitted on `train` with `choices` (C, helper weight), a helper
    before the model it helps."""
    lexical: dict[str, LexicalIntent] = {}
    for tax in sorted(train, key=lambda t: t in HELPERS):
        helper_name = HELPERS.get(tax) if HELPERS.get(tax) in lexical else None
        lexical[tax] = LexicalIntent(TAXONOMIES[tax], C=choices[tax]["C"],
                                     helper=lexical.get(helper_name) if helper_name else None,
                                     helper_name=helper_name,
                                     helper_weight=choices[tax].get("helper_weight", 0.0)).fit(train[tax])
    return lexical


def _encoder_proba_path(out_json: str) -> str:
    return os.path.splitext(out_json)[0] + ".encoder.npz"


def _save_encoder_proba(out_json: str, fold: int, neural: dict[str, torch.Tensor]) -> None:
    """Keep a fold encoder's probabilities of its held-out examples beside the fold results, so that
    lexical settings can be scored on the whole model's folds again without training an encoder
    (`rescore_lexical`)."""
    import numpy as np

    path = _encoder_proba_path(out_json)
    kept = dict(np.load(path)) if os.path.exists(path) else {}
    kept.update({f"{fold}/{t}": p.numpy() for t, p in neural.items()})
    np.savez_compressed(path, **kept)


def rescore_lexical(pools: dict[str, list[EditInput]], cv_json: str, choices: dict) -> dict:
    """The whole model's folds in `cv_json` scored again with other lexical settings (`choices`, as
    `lexical_choices` gives them), the encoder part read from the probabilities its folds kept: minutes,
    not an encoder training per fold. The same folds and the same result layout as `cross_validate_mixed`."""
    with open(cv_json, encoding="utf-8") as fh:
        done = json.load(fh)
    result = _cv_result(pools, done["folds"], done["epochs"], choices, {})
    for i, train, test, neural in kept_folds(pools, cv_json):
        result["by_fold"][str(i)] = _score_fold(train, test, neural, choices)
    result["summary"] = summarize_mixed_cv(result)
    return result


def kept_folds(pools: dict[str, list[EditInput]], cv_json: str):
    """(i, train, held-out, encoder probabilities of held-out) for each fold of `cv_json` that kept its
    encoder's probabilities, over the same `pools` (train+dev per taxonomy) it was run on."""
    import numpy as np

    with open(cv_json, encoding="utf-8") as fh:
        done = json.load(fh)
    if done["examples"] != {t: len(p) for t, p in pools.items()}:
        raise ValueError(f"{cv_json} was cross-validated over other examples: {done['examples']}")
    kept = np.load(_encoder_proba_path(cv_json))
    for i, (train, test) in _fold_parts(pools, done["folds"]):
        if all(f"{i}/{t}" in kept for t in pools):
            yield i, train, test, {t: torch.from_numpy(kept[f"{i}/{t}"]) for t in pools}


# Thresholds tried for skipping the encoder where every lexical model is sure (`IntentConfig.skip_encoder_at`).
SKIP_GRID = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def lexical_sure_folds(pools: dict[str, list[EditInput]], cv_json: str, choices: dict):
    """Per kept fold of `cv_json` and taxonomy: (fold, taxonomy, the fold encoder's held-out probabilities, the
    taxonomy's lexical probabilities, how sure the less sure of the lexical models is, gold labels). Both
    lexical models are refitted on the fold's training part; the other taxonomy's model never sees the
    taxonomy's own gold (another dataset)."""
    for i, train, test, neural in kept_folds(pools, cv_json):
        lexical = fold_lexical(train, choices)
        for tax in pools:
            lex = {t: m.predict_proba(test[tax]) for t, m in lexical.items()}
            yield i, tax, neural[tax], lex[tax], least_sure(lex), [e.label for e in test[tax]]


def skipping_labels(neural: torch.Tensor, lexical: torch.Tensor, sure: torch.Tensor, mix: float,
                    at: Optional[float]) -> tuple[list[int], torch.Tensor]:
    """(label indices, which skipped): the lexical label where `sure` reaches `at`, else the mix."""
    skip = torch.zeros(len(sure), dtype=torch.bool) if at is None else sure >= at
    return torch.where(skip, lexical.argmax(-1), _mix(neural, lexical, mix).argmax(-1)).tolist(), skip


def skip_encoder_cv(pools: dict[str, list[EditInput]], cv_json: str, choices: dict,
                    grid: Sequence[float] = SKIP_GRID) -> dict:
    """The whole model's kept folds scored with the encoder skipped where both lexical models are sure
    (`lexical_sure_folds`): per threshold (and "never"), per taxonomy, the fold mean ± sd of its figure and
    the share of its edits that skip the encoder. A skipped edit takes the lexical label, the rest the
    shipped mix of the fold encoder's kept probabilities."""
    import numpy as np

    from revmine.eval.cv import mean_sd
    from revmine.models.metrics import classification_report

    runs: dict = {}
    folds = set()
    for i, tax, neural, lex, sure, gold in lexical_sure_folds(pools, cv_json, choices):
        folds.add(i)
        labels = TAXONOMIES[tax]
        for at in (*grid, None):
            pred, skip = skipping_labels(neural, lex, sure, float(choices[tax]["mix"]), at)
            report = classification_report(gold, [labels[j] for j in pred], labels)
            run = runs.setdefault(str(at), {}).setdefault(tax, {"scores": [], "skipped": []})
            run["scores"].append(round(report[SELECT_BY[tax]], 4))
            run["skipped"].append(float(skip.float().mean()))
    by = {}
    for at, taxes in runs.items():
        by[at] = {}
        for tax, run in taxes.items():
            m, sd = mean_sd(run["scores"])
            by[at][tax] = {"metric": SELECT_BY[tax], "mean": round(m, 4), "sd": round(sd, 4), "folds": run["scores"],
                           "skipped": round(float(np.mean(run["skipped"])), 3)}
    return {"folds": len(folds), "by_threshold": by, "chosen": choose_skip(by)}


def choose_skip(by_threshold: dict) -> Optional[float]:
    """The lowest threshold at which no taxonomy's fold mean falls below the encoder-for-every-edit one;
    None when every threshold costs some taxonomy."""
    never = by_threshold.get("None")
    if not never:
        return None
    fine = [float(at) for at, taxes in by_threshold.items() if at != "None"
            and all(taxes[t]["mean"] >= never[t]["mean"] for t in never)]
    return min(fine, default=None)


def record_skip_encoder(model_dir: str, result: dict, dev: Optional[dict[str, list[EditInput]]] = None) -> None:
    """A `skip_encoder_cv` result into a model folder: its chosen threshold and the fold figures; with `dev`,
    dev scored again as the model now labels it (fp32; dev only reports)."""
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as fh:
        config = IntentConfig(**json.load(fh))
    config.skip_encoder_at = result["chosen"]
    if dev:
        from revmine.models.metrics import classification_report

        clf = IntentClassifier(model_dir, device=torch.device("cpu"), precision="fp32")
        clf.config.skip_encoder_at = config.skip_encoder_at  # dev labelled as the recorded model will label it
        for tax, examples in dev.items():
            if tax in config.metrics.get("dev", {}) and examples:
                labels, source = clf.predict_with_source(examples)
                report = classification_report([e.label for e in examples], [lab for lab, _ in labels[tax]],
                                               TAXONOMIES[tax])
                config.metrics["dev"][tax]["skip_encoder"] = dict(
                    {k: round(report[k], 4) for k in ("accuracy", "macro_f1", "weighted_f1")},
                    skipped=round(sum(s != clf.name for s in source) / len(source), 3))
    by = result["by_threshold"]
    pick = lambda at: {t: {k: r[k] for k in ("metric", "mean", "sd", "skipped")} for t, r in by[at].items()}  # noqa: E731
    config.training["skip_encoder_cv"] = {  # one line per threshold: the card stays short
        "folds": result["folds"], "chosen": result["chosen"], "never": pick("None"),
        "at_chosen": pick(str(result["chosen"])) if result["chosen"] is not None else None,
        "by_threshold": {at: "; ".join(f"{t} {r['mean']} ± {r['sd']}, {r['skipped']:.0%} skip" for t, r in taxes.items())
                         for at, taxes in by.items()}}
    _write_config(model_dir, config)


def lexical_choices(model_dir: str) -> dict:
    """The lexical models' C and helper weight, and the mixing weight, of a trained model folder."""
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as fh:
        cfg = json.load(fh)
    cv = cfg.get("training", {}).get("lexical_cv", {})
    return {t: {"C": cv.get(t, {}).get("chosen_C", 1.0), "helper_weight": cv.get(t, {}).get("chosen_helper_weight", 0.0),
                "mix": cfg.get("mix", {}).get(t, 0.5)} for t in cfg.get("taxonomies", {})}


def summarize_mixed_cv(result: dict) -> dict:
    """Per taxonomy, over the finished folds: the fold mean ± sd of its figure at the shipped mixing
    weight, for the encoder and the lexical model alone, and at the weight with the best fold mean."""
    from revmine.eval.cv import mean_sd

    folds = [result["by_fold"][f] for f in sorted(result["by_fold"], key=int)]
    out: dict = {"folds_done": len(folds)}
    for tax, metric in result["metric"].items():
        runs = [f[tax]["by_mix"] for f in folds if tax in f]
        if not runs:
            continue

        def at(w: str) -> dict:
            m, s = mean_sd([r[w][metric] for r in runs])
            return {"mean": round(m, 4), "sd": round(s, 4), "folds": [r[w][metric] for r in runs]}

        shipped = str(float(result["choices"].get(tax, {}).get("mix", 0.5)))
        best = max(runs[0], key=lambda w: (at(w)["mean"], -abs(float(w) - 0.5)))
        out[tax] = {"metric": metric, "shipped_mix": shipped, "at_shipped_mix": at(shipped),
                    "lexical_alone": at("0.0"), "encoder_alone": at("1.0"), "best_mix": best, "at_best_mix": at(best)}
    return out
