"""The intent probability a CoEdIT instruction must clear, chosen on arXivEdits dev.

    python benchmarks/instruction_threshold.py [--data ../shared/data/arxivedits/dev.json] [--precision 0.9]

An edit becomes a CoEdIT row only when its intent maps to an instruction ("Fix the grammar", ...). On dev,
an instruction is right when the gold intent maps to the same instruction. For each threshold on the
predicted intent's probability the script prints the precision of the instructions emitted and the share
of instruction-bearing gold edits that still get one; it picks the lowest threshold whose precision
reaches the target, which `warehouse/export.INSTRUCTION_MIN_PROB` records.
"""
from __future__ import annotations

import argparse
import os
import sys

from revmine.eval.intent import load_intents
from revmine.models.intent import IntentClassifier
from revmine.runner.label import default_intent_dir
from revmine.warehouse.export import INSTRUCTION_MIN_PROB, INSTRUCTIONS

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "arxivedits", "dev.json")


def sweep(predicted: list[tuple[str, float]], gold: list[str], thresholds) -> list[tuple[float, int, float, float]]:
    """(threshold, instructions emitted, precision, recall) per threshold."""
    wanted = sum(1 for g in gold if g in INSTRUCTIONS)
    rows = []
    for t in thresholds:
        emitted = [(p, g) for (p, prob), g in zip(predicted, gold) if p in INSTRUCTIONS and prob >= t]
        right = sum(1 for p, g in emitted if INSTRUCTIONS[p] == INSTRUCTIONS.get(g))
        rows.append((t, len(emitted), right / len(emitted) if emitted else 1.0, right / wanted if wanted else 0.0))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--model", default=default_intent_dir())
    ap.add_argument("--precision", type=float, default=0.9, help="precision the threshold must reach")
    args = ap.parse_args(argv)
    examples = load_intents(args.data, "arxivedits")
    predicted = IntentClassifier(args.model).predict(examples)["arxivedits"]
    gold = [e.label for e in examples]
    rows = sweep(predicted, gold, [round(0.05 * k, 2) for k in range(20)])
    print(f"{len(examples)} dev edits, {sum(g in INSTRUCTIONS for g in gold)} with an instruction-bearing gold intent")
    print("| threshold | instructions | precision | recall |\n|---:|---:|---:|---:|")
    for t, n, p, r in rows:
        print(f"| {t:.2f} | {n} | {p:.3f} | {r:.3f} |")
    chosen = next((t for t, _, p, _ in rows if p >= args.precision), max(rows, key=lambda r: r[2])[0])
    print(f"chosen: {chosen:.2f} (lowest with precision >= {args.precision}); the export uses {INSTRUCTION_MIN_PROB}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
