"""Ingest-and-pair throughput on the full Anarchism history (15,180 revisions, 1.05 GB of XML).

In one process, against two baselines on the same file:
  (a) bare decompress + xml.etree iterparse scan (the floor any XML reader pays);
  (b) a naive loop: mwxml + pairing with the previous revision + sha1 of every text.
revmine is measured twice: its stage functions writing Parquet (read -> pair -> warehouse files),
and the whole `revmine run` through Beam's DirectRunner (Beam start-up included).
Peak RSS per phase is sampled by a background thread.

    python benchmarks/ingest.py [--dump PATH] [--repeat N]
"""
from __future__ import annotations

import argparse
import hashlib
import lzma
import os
import sys
import tempfile
import threading
import time
from xml.etree import ElementTree as ET

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DUMP = os.path.join(HERE, "..", "..", "shared", "data", "wikipedia", "enwiki-Anarchism-history-2001-2010.xml.lzma")


class PeakRSS:
    def __init__(self):
        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        self.peak = self.proc.memory_info().rss
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def baseline_iterparse(path: str) -> int:
    n = 0
    with lzma.open(path) as fh:
        for _, el in ET.iterparse(fh):
            if el.tag.endswith("revision"):
                n += 1
                el.clear()
            elif el.tag.endswith("page"):
                el.clear()
    return n


def baseline_mwxml(path: str) -> int:
    import mwxml

    n = 0
    with lzma.open(path) as fh:
        dump = mwxml.Dump.from_file(fh)
        for page in dump:
            prev = None
            for rev in page:
                text = rev.text or ""
                sha = hashlib.sha1(text.encode("utf-8")).hexdigest()
                pair = (prev[0] if prev else None, rev.id, sha == (prev[1] if prev else None), len(text) - (prev[2] if prev else 0))
                prev = (rev.id, sha, len(text))
                n += 1 if pair else 0
    return n


def revmine_stages(path: str, out: str) -> int:
    """read -> pair -> partitioned Parquet, without Beam: the per-file work a Beam worker does (diff off)."""
    from revmine.config import Config
    from revmine.runner.compose import process_file
    from revmine.pipeline.fields import source_key
    from revmine.schemas import RevisionPair
    from revmine.warehouse.layout import PartitionedWriter

    key = source_key(path)  # the content key (SHA-256 of the file's bytes) is part of the measured work
    writer = PartitionedWriter(out, key)
    n = 0
    for rec in process_file(path, Config.load(None, **{"diff.enabled": False}), None, key=key):
        writer.add(rec)
        n += isinstance(rec, RevisionPair)
    writer.close()
    return n


def revmine_beam(path: str, out: str) -> int:
    """`revmine run` with the diff stage off: ingest and pair only, like the baselines."""
    from revmine.config import Config
    from revmine.runner.run import run

    return run([path], out, Config.load(None, **{"diff.enabled": False})).accounting.revisions_read


_FRESH = """
import logging, sys
logging.basicConfig(level=logging.WARNING)
from revmine.runner.run import run
from revmine.config import Config
run([sys.argv[1]], sys.argv[2], Config.load(None, **{"diff.enabled": False}))
print(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
"""


def fresh_process_peak_mb(path: str, out: str) -> float:
    """Peak RSS (VmHWM) of a whole `revmine run` in its own process: the figure a user sees."""
    import subprocess

    res = subprocess.run([sys.executable, "-c", _FRESH, path, out], capture_output=True, text=True, check=True)
    return int(res.stdout.split()[-1]) / 1024


def measure(name, fn, *args):
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        n = fn(*args)
        dt = time.perf_counter() - t0
    return {"name": name, "n": n, "seconds": dt, "rate": n / dt, "peak_mb": rss.peak / 2**20}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dump", default=DEFAULT_DUMP)
    ap.add_argument("--repeat", type=int, default=1, help="repeat each measurement, keep the best")
    args = ap.parse_args(argv)
    if not os.path.exists(args.dump):
        print(f"dump not found: {args.dump}", file=sys.stderr)
        return 2
    import logging

    logging.basicConfig(level=logging.WARNING)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for name, fn, extra in [("(a) decompress + iterparse", baseline_iterparse, ()),
                                    ("(b) mwxml + pair + sha1", baseline_mwxml, ()),
                                    ("revmine stages -> Parquet", revmine_stages, (os.path.join(tmp, f"s{i}"),)),
                                    ("revmine run (Beam DirectRunner)", revmine_beam, (os.path.join(tmp, f"b{i}"),))]:
                r = measure(name, fn, args.dump, *extra)
                if name not in results or r["seconds"] < results[name]["seconds"]:
                    results[name] = r
        fresh_peak = fresh_process_peak_mb(args.dump, os.path.join(tmp, "fresh"))
    a = results["(a) decompress + iterparse"]["rate"]
    b = results["(b) mwxml + pair + sha1"]["rate"]
    print(f"dump: {os.path.basename(args.dump)}  ({os.path.getsize(args.dump) / 1e6:.1f} MB packed), "
          f"cpu: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print("| phase | revisions | seconds | revisions/s | vs (a) | vs (b) | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results.values():
        print(f"| {r['name']} | {r['n']:,} | {r['seconds']:.2f} | {r['rate']:,.0f} | {r['rate'] / a:.2f} | "
              f"{r['rate'] / b:.2f} | {r['peak_mb']:.0f} |")
    print(f"\npeak RSS of `revmine run` in a fresh process: {fresh_peak:.0f} MB "
          "(the in-process column above only grows, since freed memory is not returned to the OS)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
