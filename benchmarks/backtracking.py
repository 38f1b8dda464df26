"""Markup that makes mwparserfromhell's tokenizer backtrack: the library's C tokenizer against revmine's
guarded cleaning, on the same texts in this one process.

Each construct the tokenizer cannot close sends it back over the rest of the text, so a run of them takes
time quadratic in the text's length. `clean_wikitext` measures such text first (the library's Python
tokenizer under a read budget) and refuses it as `markup_too_costly`. For each family and size this prints
the C tokenizer's own time (what cleaning cost before), the guarded cleaning's time and verdict, and the
ratio. `--real` also runs the non-neural stages over the full Anarchism history and reports how often the
estimate sent a text to the check and what the estimate itself cost.

    python benchmarks/backtracking.py [--repeats 1000 4000] [--real]
"""
from __future__ import annotations

import argparse
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FULL = os.path.join(HERE, "..", "..", "shared", "data", "wikipedia", "enwiki-Anarchism-history-2001-2010.xml.lzma")

FAMILIES = {"unclosed refs": "<ref>", "unclosed divs": "<div>", "template parameters": "{{a|b=",
            "external links": "[http://x ", "unterminated tags": '<ref name="', "piped links": "[[a|",
            "mixed": "{{a|[[b|{{c|<ref>d"}


def synthetic(repeats: list[int]) -> None:
    from mwparserfromhell.parser import CTokenizer

    from revmine.pipeline.clean import WikitextError, clean_wikitext

    print("| markup | characters | C tokenizer alone | guarded cleaning | verdict | ratio |\n|---|---:|---:|---:|---|---:|")
    for name, unit in FAMILIES.items():
        for n in repeats:
            text = unit * n
            t0 = time.perf_counter()
            CTokenizer().tokenize(text, 0, True)
            c = time.perf_counter() - t0
            t0 = time.perf_counter()
            try:
                clean_wikitext(text)
                verdict = "cleaned"
            except WikitextError as exc:
                verdict = exc.reason
            g = time.perf_counter() - t0
            print(f"| {name} | {len(text):,} | {c:.2f} s | {g:.2f} s | {verdict} | {c / g:.1f} |", flush=True)


def real(path: str) -> None:
    from revmine.config import Config
    from revmine.pipeline import clean
    from revmine.runner.compose import build_engine, process_file
    from revmine.schemas import Quarantine

    spent = {"estimate": 0.0, "estimates": 0, "checks": 0}
    estimate, check = clean._left_open, clean.check_cost

    def timed_estimate(s):
        t0 = time.perf_counter()
        try:
            return estimate(s)
        finally:
            spent["estimate"] += time.perf_counter() - t0
            spent["estimates"] += 1

    def counted_check(s):
        spent["checks"] += 1
        return check(s)

    clean._left_open, clean.check_cost = timed_estimate, counted_check
    config = Config.load(os.path.join(HERE, "..", "configs", "fast.yaml"))
    t0 = time.perf_counter()
    refused = sum(isinstance(r, Quarantine) and r.reason == "markup_too_costly"
                  for r in process_file(path, config, build_engine(config)))
    wall = time.perf_counter() - t0
    print(f"\n{os.path.basename(path)}, non-neural stages: {wall:.1f} s; the estimate ran on {spent['estimates']:,} "
          f"texts in {spent['estimate']:.2f} s ({spent['estimate'] / wall:.1%} of the run); "
          f"{spent['checks']} measured, {refused} refused")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--real", action="store_true", help="also the full Anarchism history (../shared/data)")
    args = ap.parse_args(argv)
    synthetic(args.repeats)
    if args.real:
        if not os.path.exists(FULL):
            print(f"\nskipped --real: {FULL} is not there")
        else:
            real(FULL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
