"""Peak memory of reading arXiv JSON lines, against a plain loader that keeps every record.

Writes a synthetic JSON-lines file (`--papers` papers, two versions each, about 38 KB of text a version),
then reads it in fresh processes: (a) `json.loads` of every line, kept in a list, the least a reader that
pairs versions after the whole file could hold; (b) `revmine.pipeline.arxiv.read_arxiv`, every record
consumed, with its default hold (the file is smaller than it, so every version is held to the end); (c)
the same with `--hold-mb` of text held, as on a file larger than the default hold. Prints each peak RSS
(VmHWM), its ratio to the file's size, and (b) / (a).

    python benchmarks/arxiv_read.py [--papers 1500] [--hold-mb 16]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

_PLAIN = """
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
"""
_REVMINE = """
import sys
from revmine.pipeline.arxiv import HOLD_BYTES, read_arxiv
for rec in read_arxiv(sys.argv[1], hold_bytes=int(sys.argv[2]) if len(sys.argv) > 2 else HOLD_BYTES):
    pass
"""
_PEAK = '\nprint(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])\n'


def write_papers(path: str, papers: int) -> None:
    r = random.Random(0)
    words = "alpha beta gamma delta river city music science history people".split()
    with open(path, "w", encoding="utf-8") as fh:
        for p in range(papers):
            text = " ".join(" ".join(r.choice(words) for _ in range(12)).capitalize() + "." for _ in range(500))
            for v in (1, 2):
                fh.write(json.dumps({"paper_id": f"p{p}", "version": v, "text": text + (" Extra." if v == 2 else "")}) + "\n")


def peak_mb(code: str, path: str, *args: str) -> float:
    out = subprocess.run([sys.executable, "-c", code + _PEAK, path, *args], capture_output=True, text=True,
                         check=True)
    return int(out.stdout.split()[-1]) / 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--papers", type=int, default=1500)
    ap.add_argument("--hold-mb", type=int, default=16)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "papers.jsonl")
        write_papers(path, args.papers)
        size = os.path.getsize(path) / 2**20
        plain, ours = peak_mb(_PLAIN, path), peak_mb(_REVMINE, path)
        held = peak_mb(_REVMINE, path, str(args.hold_mb << 20))
    print(f"file: {size:,.0f} MB, {2 * args.papers:,} versions")
    print(f"(a) json.loads of every line, kept: peak {plain:,.0f} MB ({plain / size:.1f}x the file)")
    print(f"(b) read_arxiv, every record consumed: peak {ours:,.0f} MB ({ours / size:.1f}x the file)")
    print(f"(b) / (a) = {ours / plain:.2f}")
    print(f"(c) read_arxiv holding {args.hold_mb} MB of text: peak {held:,.0f} MB ({held / size:.1f}x the file)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
