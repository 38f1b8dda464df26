"""Intent labelling throughput on real Wikipedia edits: revmine's batched labeller against one edit at a time.

Diffs an Anarchism slice with the classical aligner (fast, so only labelling is timed), then labels
every edit twice in the same process: batched as the pipeline does (length-sorted batches of 64, LoRA
merged into the encoder), and one edit per call (the baseline). Prints edits/s and the ratio.

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
    from revmine.models.intent import IntentClassifier
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
    aligned, inputs = {}, []
    for r in process_file(args.file, config, build_engine(config)):
        if isinstance(r, Alignment):
            aligned[(r.pair_id, r.align_idx)] = r
        elif isinstance(r, Edit):
            inputs.append(edit_input(r, aligned[(r.pair_id, r.align_idx)]))
            if len(inputs) >= args.edits:
                break
    clf = IntentClassifier(args.model)
    clf.predict(inputs[:64])  # warm-up
    t0 = time.perf_counter()
    clf.predict(inputs)
    t_batch = time.perf_counter() - t0
    sample = inputs[: args.baseline_edits]
    t0 = time.perf_counter()
    for e in sample:
        clf.predict([e])
    t_one = (time.perf_counter() - t0) * len(inputs) / len(sample)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"{os.path.basename(args.file)}: {len(inputs):,} edits, device {device}, torch threads {torch.get_num_threads()}")
    print(f"batched (revmine):  {len(inputs) / t_batch:,.0f} edits/s")
    print(f"one edit per call:  {len(inputs) / t_one:,.0f} edits/s  -> batched is {t_one / t_batch:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
