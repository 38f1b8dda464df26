"""Intent labelling throughput on real Wikipedia edits: revmine's batched labeller against one edit at a time.

Diffs an Anarchism slice with the classical aligner (fast, so only labelling is timed), then labels
the edits in the same process: batched as the pipeline does (length-sorted batches of 64, LoRA merged
into the encoder, the encoder skipped where both lexical models are sure), and one edit per call (the
baseline). Histories repeat edits (a revert re-inserts what
a vandal deleted) and the classifier labels a repeat once, so the batched run is timed twice: on every
edit in history order, as the pipeline sees them, and on the distinct edits alone; the distinct edits
once more in fp32, against the default precision (int8 on a CPU without native bf16, bf16 on one with
it), and with the encoder run for every edit. The classifier's cache is emptied before each timed run. Prints edits/s and the ratios.

    python benchmarks/intent.py [--model DIR] [--edits 2000] [--threads N] [FILE]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "..", "..", "shared", "data", "wikipedia", "enwiki-Anarchism-revs-last-500.xml.bz2")


def main(argv=None) -> int:
    import logging

    import torch

    from revmine.config import Config
    from revmine.models.aligner import int8_on_cpu, native_bf16
    from revmine.models.intent import IntentClassifier, _key
    from revmine.runner.compose import build_engine, process_file
    from revmine.runner.label import default_intent_dir, edit_input
    from revmine.schemas import Alignment, Edit

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", default=DEFAULT)
    ap.add_argument("--model", default=default_intent_dir())
    ap.add_argument("--edits", type=int, default=2000)
    ap.add_argument("--baseline-edits", type=int, default=300, help="the one-at-a-time baseline is timed on a sample")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = Config.load(None, **{"diff.aligner": "classical", "label.enabled": False})
    aligned, everything, inputs, seen = {}, [], [], set()
    for r in process_file(args.file, config, build_engine(config)):
        if isinstance(r, Alignment):
            aligned[(r.pair_id, r.align_idx)] = r
        elif isinstance(r, Edit):
            e = edit_input(r, aligned[(r.pair_id, r.align_idx)])
            everything.append(e)
            if _key(e) not in seen:
                seen.add(_key(e))
                inputs.append(e)
            if len(everything) >= args.edits:
                break
    clf = IntentClassifier(args.model)
    clf.predict(inputs[:64])  # warm-up
    clf._cache.clear()
    t0 = time.perf_counter()
    clf.predict(everything)
    t_all = time.perf_counter() - t0
    clf._cache.clear()
    t0 = time.perf_counter()
    _, source = clf.predict_with_source(inputs)
    t_batch = time.perf_counter() - t0
    skipped = sum(s != clf.name for s in source)
    at, clf.config.skip_encoder_at = clf.config.skip_encoder_at, None  # the encoder for every edit, as before
    clf._cache.clear()
    t0 = time.perf_counter()
    clf.predict(inputs)
    t_every = time.perf_counter() - t0
    clf.config.skip_encoder_at = at
    clf._cache.clear()
    sample = inputs[: args.baseline_edits]
    t0 = time.perf_counter()
    for e in sample:
        clf.predict([e])
    t_one = (time.perf_counter() - t0) * len(inputs) / len(sample)
    exact = IntentClassifier(args.model, precision="fp32")  # the same distinct edits, unquantised fp32
    exact.predict(inputs[:64])
    exact._cache.clear()
    t0 = time.perf_counter()
    exact.predict(inputs)
    t_fp32 = time.perf_counter() - t0
    device = "cuda" if torch.cuda.is_available() else "cpu"
    auto = "int8" if int8_on_cpu(clf.device) else "bf16" if native_bf16(clf.device) else "fp32"
    print(f"{os.path.basename(args.file)}: {len(everything):,} edits, {len(inputs):,} distinct, device {device}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"batched (revmine), every edit in history order: {len(everything) / t_all:,.0f} edits/s")
    print(f"batched (revmine), distinct edits:  {len(inputs) / t_batch:,.0f} edits/s ({skipped:,} of them, "
          f"{skipped / len(inputs):.0%}, skip the encoder: both lexical models at least {at} sure)")
    print(f"distinct edits, the encoder for every edit: {len(inputs) / t_every:,.0f} edits/s -> skipping is "
          f"{t_every / t_batch:.2f}x that")
    print(f"distinct edits, fp32: {len(inputs) / t_fp32:,.0f} edits/s -> auto ({auto}) is {t_fp32 / t_batch:.2f}x fp32")
    print(f"one edit per call:  {len(inputs) / t_one:,.0f} edits/s  -> batched is {t_one / t_batch:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
