"""Sentence splitters compared on speed and boundary accuracy (the choice behind revmine's clean.py).

Paragraphs are rebuilt from consecutive arXivEdits train sentences of one paper (lightly detokenised);
a splitter is scored on recovering the boundaries between them. Needs the optional candidates:

    pip install pysbd syntok       # blingfire is a revmine dependency
    python benchmarks/splitters.py [--data ../shared/data/arxivedits/train.json]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "..", "..", "shared", "data", "arxivedits", "train.json")


def detok(s: str) -> str:
    s = re.sub(r" ([.,;:!?)\]])", r"\1", s)
    return re.sub(r"([(\[]) ", r"\1", s)


def paragraphs(path: str) -> list[list[str]]:
    by_paper: dict[str, list[str]] = {}
    for item in json.load(open(path, encoding="utf-8")).values():
        by_paper.setdefault(item["arxiv-id"], []).append(detok(item["sentence-2"]))
    out = []
    for sents in by_paper.values():
        for i in range(0, len(sents), 4):
            if len(sents[i:i + 4]) > 1:
                out.append(sents[i:i + 4])
    return out


def boundaries(sents: list[str]) -> set[int]:
    pos, out = 0, set()
    for s in sents[:-1]:
        pos += len(s.replace(" ", ""))
        out.add(pos)
    return out


def splitters():
    import blingfire

    yield "blingfire", lambda t: [s for s in blingfire.text_to_sentences(t).split("\n") if s]
    try:
        import pysbd

        seg = pysbd.Segmenter(language="en", clean=False)
        yield "pysbd", lambda t: [s.strip() for s in seg.segment(t)]
    except ImportError:
        print("pysbd not installed: skipped", file=sys.stderr)
    try:
        import syntok.segmenter as synseg

        yield "syntok", lambda t: ["".join(tok.spacing + tok.value for tok in sent).strip()
                                   for para in synseg.analyze(t) for sent in para]
    except ImportError:
        print("syntok not installed: skipped", file=sys.stderr)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT)
    args = ap.parse_args(argv)
    paras = paragraphs(args.data)
    print(f"{len(paras)} paragraphs, {sum(map(len, paras))} sentences")
    print("| splitter | precision | recall | F1 | MB/s |\n|---|---:|---:|---:|---:|")
    for name, fn in splitters():
        tp = fp = fn_ = chars = 0
        t0 = time.perf_counter()
        for p in paras:
            text = " ".join(p)
            chars += len(text)
            gold, pred = boundaries(p), boundaries(fn(text))
            tp, fp, fn_ = tp + len(gold & pred), fp + len(pred - gold), fn_ + len(gold - pred)
        dt = time.perf_counter() - t0
        prec, rec = tp / (tp + fp), tp / (tp + fn_)
        print(f"| {name} | {prec:.3f} | {rec:.3f} | {2 * prec * rec / (prec + rec):.3f} | {chars / dt / 1e6:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
