"""Render `revmine report` over a real multi-wiki warehouse in headless Chromium and save the screenshot.

    python benchmarks/report_screenshot.py [--out benchmarks/report_screenshot.png]

The warehouse: four wikis' histories from ../shared/data/wikipedia (aawiki, enwiki's first 1,000 Anarchism
revisions and the tiny enwiki dump, itwiki, simplewiki) run with configs/fast.yaml. Chromium is Debian's
`chromium` package; the script installs it with apt-get when it is missing and it can.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DUMPS = ["aawiki-20260101-pages-meta-history.xml.7z", "enwiki-Anarchism-revs-0000-0999.xml.bz2",
         "enwiki-20140102.tiny.xml.gz", "itwiki-Amen-history.xml.gz", "simplewiki-sample-0.11.xml"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=subprocess.DEVNULL)
        found = shutil.which("chromium")
    if not found:
        sys.exit("no chromium: install Debian's chromium package")
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "report_screenshot.png"))
    ap.add_argument("--width", type=int, default=1000)
    ap.add_argument("--height", type=int, default=4300)
    args = ap.parse_args()
    data = os.environ.get("REVMINE_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
    inputs = [os.path.join(data, "wikipedia", d) for d in DUMPS]
    with tempfile.TemporaryDirectory() as tmp:
        wh, rep = os.path.join(tmp, "wh"), os.path.join(tmp, "report")
        subprocess.run([sys.executable, "-m", "revmine.cli", "run", "--input", *inputs, "--out", wh,
                        "--config", os.path.join(ROOT, "configs", "fast.yaml")], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([sys.executable, "-m", "revmine.cli", "report", wh, "--out", rep], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--window-size={args.width},{args.height}", f"--screenshot={os.path.abspath(args.out)}",
                        "file://" + os.path.join(rep, "index.html")], check=True, capture_output=True)
    print(f"screenshot: {args.out} ({os.path.getsize(args.out):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
