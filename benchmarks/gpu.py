"""Aligner, intent and summary throughput on a GPU against the CPU of the same machine, every stage on.

Reads and pairs the last-500 Anarchism slice, then diffs the pairs in the pipeline's own batches
(`diff_per_pair`: the neural-CRF aligner, span edits and node changes; intent labels; summaries), as one
worker of `revmine run` does, with no Beam, after a few pairs as warm-up. Each device runs in a fresh child
process (the CPU one with CUDA hidden), so each loads its models as a run would. Three runs: the GPU with
the default config, the GPU with `summarize.batch_size: 64`, and the CPU. Each prints the per-stage table,
the aligner's and the language model's own seconds inside their stages, and then each model alone on a
workload big enough to fill a GPU (the slice's sentences and classified edits, tiled to a fixed count, and
dev rows of the summaries dataset). Last, the GPU / CPU ratio of each row.

    python benchmarks/gpu.py [FILE] [--rows data/summaries/dev.jsonl] [--cpu-threads N] [--pairs N] [--reps 2]

With no GPU it says so and stops.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SLICE = os.path.join(ROOT, "..", "shared", "data", "wikipedia", "enwiki-Anarchism-revs-last-500.xml.bz2")
STAGES = ("aligner (inside diff)", "diff (clean, align, span edits, node changes)", "intent labels",
          "language model (inside summaries)", "summaries", "aligner encoder alone (sentences)",
          "intent encoder alone (edits)", "language model alone (dev rows)")
ROWS = os.path.join(ROOT, "data", "summaries", "dev.jsonl")


def tiled(items: list, n: int) -> list:
    """`items` repeated to `n` (the encoders keep no cache, so a repeat costs what a new input costs)."""
    return (items * -(-n // len(items)))[:n] if items else []


def models_alone(encode, sentences, predict, edits, generate, rows, summary_batch, n_sentences: int,
                 n_edits: int, reps: int) -> dict:
    """Each model on a workload big enough to fill a GPU, with nothing else timed: the distinct cleaned
    sentences of the slice's revisions (aligner encoder) and the edits the classifier was asked about, all
    through the encoder (intent encoder), each tiled to a fixed count, and dev rows of the summaries dataset
    (language model)."""
    import torch

    def timed(fn, items) -> list:
        """The faster of `reps` passes over `items`, after a warm-up on a few (CUDA context, kernels, allocator)."""
        fn(items[:8])
        best = float("inf")
        for _ in range(reps):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            t = time.perf_counter()
            fn(items)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        return [best, len(items)]

    out = {}
    sentences, edits = tiled(sentences, n_sentences), tiled(edits, n_edits)
    if encode is not None and sentences:
        out["aligner encoder alone (sentences)"] = timed(encode, sentences)
    if predict is not None and edits:
        out["intent encoder alone (edits)"] = timed(predict, edits)
    if generate is not None and rows:
        out["language model alone (dev rows)"] = timed(
            lambda xs: generate(xs, batch_size=summary_batch, max_batch_tokens=summary_batch * 320), rows)
    return out


def distinct_sentences(pairs, most: int) -> list[str]:
    """The distinct cleaned sentences of the pairs' new revisions, in first-seen order, at most `most`."""
    from revmine.pipeline.clean import SectionCache, clean_wikitext

    seen, cache = {}, SectionCache()
    for pair in pairs:
        for text in clean_wikitext(pair.old_text or "", cache).texts + clean_wikitext(pair.new_text or "", cache).texts:
            seen.setdefault(text, None)
            if len(seen) >= most:
                return list(seen)
    return list(seen)


def child(path: str, pairs_max: int, big: bool, rows_path: str | None, n_rows: int, n_sentences: int,
          n_edits: int, reps: int) -> dict:
    """One device's run: the stage clock's table, the aligner's seconds and the model load time."""
    import logging

    import torch

    import revmine.models.aligner as aligner_mod
    from revmine.config import Config
    from revmine.runner.compose import PairBatch, StageClock, build_engine, diff_per_pair, read_file, to_diff
    from revmine.runner.label import build_labeler, build_summarizer

    logging.basicConfig(level=logging.WARNING)
    config = Config.load(None)
    rows = []
    if rows_path and os.path.exists(rows_path):
        with open(rows_path, encoding="utf-8") as fh:
            rows = [json.loads(line)["input"] for line in fh][:n_rows]
    pairs = [r for r in read_file(path, config) if to_diff(r)][:pairs_max]
    loaded = time.perf_counter()
    engine, labeler, summarizer = build_engine(config), build_labeler(config), build_summarizer(config)
    if getattr(summarizer, "device", None) is not None and summarizer.device.type == "cuda":
        torch.cuda.synchronize()
    load_s = time.perf_counter() - loaded
    mode = "shared prefill, in-place beam cache"
    if getattr(summarizer, "generate", None) is not None:
        try:  # the in-place beam cache leans on transformers' cache internals; fall back to the stock search
            summarizer.generate(["smoke test\nSummary:"])
        except Exception as exc:  # noqa: BLE001 - any failure there means: measure the stock path instead
            import functools

            summarizer.generate = functools.partial(summarizer.generate, share_prefill=False, in_place=False)
            mode = f"stock beam search ({type(exc).__name__}: {exc})"
    spent = [0.0]
    align_many = aligner_mod.NeuralAligner.align_many

    def timed(self, blocks):
        t = time.perf_counter()
        try:
            return align_many(self, blocks)
        finally:
            spent[0] += time.perf_counter() - t

    aligner_mod.NeuralAligner.align_many = timed
    lm, generate = [0.0, 0], None
    if getattr(summarizer, "generate", None) is not None:
        generate = summarizer.generate

        def generate_timed(inputs, *a, **kw):
            t = time.perf_counter()
            try:
                return generate(inputs, *a, **kw)
            finally:
                lm[0] += time.perf_counter() - t
                lm[1] += len(inputs)

        summarizer.generate = generate_timed
    seen_sentences, seen_edits = [], []
    encoder = getattr(getattr(engine, "aligner", None), "encoder", None)
    if encoder is not None:
        encode = encoder.encode
        encoder.encode = lambda texts, batch_size=None, grad=False: (seen_sentences.extend(texts),
                                                                     encode(texts, batch_size))[1]
    if labeler is not None:
        predict, with_source = labeler.classifier.encoder_proba, labeler.classifier.predict_with_source
        labeler.classifier.predict_with_source = lambda examples, batch_size=None: (
            seen_edits.extend(examples), with_source(examples, batch_size))[1]
    warm = pairs[:8]  # CUDA context, kernels and allocator, as any long run has them after its first batch
    diff_per_pair(engine, warm, labeler, summarizer)
    seen_sentences.clear()
    seen_edits.clear()
    if hasattr(labeler, "classifier") and hasattr(labeler.classifier, "_cache"):
        labeler.classifier._cache.clear()
    if hasattr(getattr(engine, "aligner", None), "clear_caches"):
        engine.aligner.clear_caches()
    summary_batch = 64 if big else config.summarize.batch_size
    clock, batch = StageClock(), PairBatch(config)
    started = time.perf_counter()
    for pair in pairs:
        if batch.add(pair, pair):
            diff_per_pair(engine, batch.take(), labeler, summarizer, summary_batch=summary_batch, clock=clock)
    if batch.items:
        diff_per_pair(engine, batch.take(), labeler, summarizer, summary_batch=summary_batch, clock=clock)
    wall = time.perf_counter() - started
    sentences = distinct_sentences(pairs, n_sentences)
    alone = models_alone(encode if encoder is not None else None, sentences,
                         predict if labeler is not None else None, seen_edits, generate,
                         rows, summary_batch, n_sentences, n_edits, reps)
    stages = {k: v for k, v in clock.stages.items()}
    stages["aligner (inside diff)"] = [spent[0], len(seen_sentences)]
    stages["language model (inside summaries)"] = lm
    stages.update(alone)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name(0) if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    return {"device": name, "pairs": len(pairs), "wall": wall, "load_s": load_s, "stages": stages,
            "summarizer": f"{getattr(summarizer, 'name', None)}, {mode}"}


def show(label: str, got: dict) -> None:
    print(f"\n{label}: {got['device']}, {got['pairs']} pairs diffed in {got['wall']:.1f} s "
          f"(models loaded in {got['load_s']:.1f} s; summarizer {got['summarizer']})")
    print(f"  {'stage':48} {'seconds':>8} {'items':>8} {'items/s':>9}")
    for stage in STAGES:
        if stage in got["stages"]:
            sec, items = got["stages"][stage]
            print(f"  {stage:48} {sec:8.2f} {items:8,} {items / sec if sec else 0:9.1f}")
    print("  (aligner items: sentences encoded after the embedding cache; intent items: edits, whole-sentence"
          " ones by rule included; language model items: pairs it summarised, the rest by the describer)")


def spawn(path: str, pairs_max: int, gpu: bool, big: bool, threads: int | None, rows: str, n_rows: int,
          n_sentences: int, n_edits: int, reps: int) -> dict:
    env = dict(os.environ)
    if not gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, os.path.abspath(__file__), path, "--child", "--pairs", str(pairs_max),
           "--rows", rows, "--n-rows", str(n_rows), "--n-sentences", str(n_sentences),
           "--n-edits", str(n_edits), "--reps", str(reps)] + (["--big"] if big else [])
    proc = subprocess.run(cmd, check=False, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"child run failed ({proc.returncode}): {' '.join(cmd)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", default=SLICE)
    ap.add_argument("--pairs", type=int, default=10**9, help="diff at most this many pairs")
    ap.add_argument("--cpu-threads", type=int, default=None, help="torch threads for the CPU run")
    ap.add_argument("--rows", default=ROWS, help="summaries dataset rows for the language model alone")
    ap.add_argument("--n-rows", type=int, default=128, help="dev rows for the language model alone")
    ap.add_argument("--n-sentences", type=int, default=8192, help="sentences for the aligner encoder alone")
    ap.add_argument("--n-edits", type=int, default=4096, help="edits for the intent encoder alone")
    ap.add_argument("--reps", type=int, default=2, help="passes per model-alone timing (the fastest counts)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--big", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.file, args.pairs, args.big, args.rows, args.n_rows, args.n_sentences, args.n_edits,
                                     args.reps)))
        return 0
    import torch

    if not torch.cuda.is_available():
        print("no GPU here: nothing to measure (run this where `torch.cuda.is_available()`)")
        return 2
    if not os.path.exists(args.file):
        print(f"needs {args.file}")
        return 2
    common = (args.rows, args.n_rows, args.n_sentences, args.n_edits, args.reps)
    runs = {"GPU": spawn(args.file, args.pairs, True, False, None, *common),
            "GPU, summarize.batch_size 64": spawn(args.file, args.pairs, True, True, None, *common),
            "CPU": spawn(args.file, args.pairs, False, False, args.cpu_threads, *common)}
    for label, got in runs.items():
        show(label, got)
    print(f"\n  {'stage':48} {'GPU/CPU':>8} {'GPU, 64/CPU':>12}")
    cpu = runs["CPU"]["stages"]
    for stage in STAGES:
        if stage in cpu and cpu[stage][0]:
            rate = cpu[stage][1] / cpu[stage][0]
            gpus = (runs["GPU"], runs["GPU, summarize.batch_size 64"])
            ratios = [(got["stages"][stage][1] / got["stages"][stage][0]) / rate
                      if got["stages"].get(stage, [0])[0] else 0.0 for got in gpus]
            print(f"  {stage:48} {ratios[0]:8.2f} {ratios[1]:12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
