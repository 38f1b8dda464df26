"""Encoder passes of the neural aligner in the pipeline, against all-pairs alignment, and its throughput.

Runs read -> pair -> diff with the neural aligner on Anarchism slices and counts sentences actually
encoded (SentenceEncoder.passes, after the embedding cache), against what aligning every sentence pair
of every revision pair would cost: n*m cross-encoder passes, or n+m bi-encoder passes.

    python benchmarks/aligner_passes.py [FILE ...]
"""
from __future__ import annotations

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data", "wikipedia")
DEFAULT = ["enwiki-Anarchism-revs-0000-0999.xml.bz2", "enwiki-Anarchism-revs-last-500.xml.bz2"]


def main(argv=None) -> int:
    import logging

    import torch

    from revmine.config import Config
    from revmine.runner.compose import build_engine, process_file
    from revmine.schemas import DiffStats, RevisionPair

    logging.basicConfig(level=logging.WARNING)
    names = (argv if argv is not None else sys.argv[1:]) or DEFAULT
    print(f"torch threads: {torch.get_num_threads()}, device: {'cuda' if torch.cuda.is_available() else 'cpu'}")
    print("| input | revisions | seconds | revisions/s | sentences encoded | all-pairs (n*m) | bi-encoder all (n+m) | saved vs n*m | saved vs n+m |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        path = name if os.path.exists(name) else os.path.join(DATA, name)
        engine = build_engine(Config())
        encoder = engine.aligner.encoder
        n = nm = n_plus_m = 0
        t0 = time.perf_counter()
        for r in process_file(path, Config(), engine):
            if isinstance(r, RevisionPair):
                n += 1
            elif isinstance(r, DiffStats):
                nm += r.all_pairs
                n_plus_m += r.old_sentences + r.new_sentences
        dt = time.perf_counter() - t0
        p = encoder.passes
        print(f"| {os.path.basename(path)} | {n:,} | {dt:.1f} | {n / dt:,.0f} | {p:,} | {nm:,} | {n_plus_m:,} | "
              f"1/{nm / max(p, 1):,.0f} | 1/{n_plus_m / max(p, 1):,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
