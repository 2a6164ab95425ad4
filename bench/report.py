"""Time and size of the demo's report (HTML and PDF, English and Russian).

Builds the report of a demo folder (``crossings-out`` if it exists, else a fresh demo run in a
temporary folder) for each audience and prints one table: seconds, peak memory and the sizes,
with the ratio of the HTML to what embedding the run's own PNGs and whole fonts would weigh.

    python bench/report.py [DEMO_DIR]
"""

from __future__ import annotations

import base64
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

from crossings.report.document import build_report


def _demo_dir() -> Path:
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    if (Path("crossings-out") / "manifest.json").is_file():
        return Path("crossings-out")
    from crossings.demo import run_demo

    out = Path(tempfile.mkdtemp()) / "crossings-out"
    print(f"running the demo into {out} first ...", flush=True)
    run_demo(out)
    return out


def _naive_html_bytes(demo: Path) -> int:
    """What embedding every PNG of the runs and the two whole fonts would weigh (base64)."""
    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    files = [p for p in demo.rglob("*.png") if "report" not in p.parts]
    files += [fonts / "DejaVuSans.ttf", fonts / "DejaVuSans-Bold.ttf"]
    return sum(len(base64.b64encode(p.read_bytes())) for p in files)


def main() -> None:
    demo = _demo_dir()
    naive = _naive_html_bytes(demo)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for audience in ("public", "restricted", "confidential"):
            out = Path(tmp) / audience
            started = time.perf_counter()
            result = build_report([demo], out, languages=("en", "ru"), audience=audience)
            seconds = time.perf_counter() - started
            sizes = {p.name: p.stat().st_size for p in result.files}
            images = (out / "report.en.html").read_text(encoding="utf-8").count("<img ")
            rows.append((audience, seconds, sizes, result.pdf_skipped))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"demo folder: {demo}; peak memory of this process: {peak_mb:.0f} MB")
    print(
        f"load average (1/5/15 min) at the end: {load}; images in the confidential HTML: {images}"
    )
    print(f"embedding the runs' PNGs and whole fonts instead would weigh {naive / 1e6:.2f} MB")
    header = (
        "audience",
        "s (en+ru, HTML+PDF)",
        "en.html MB",
        "ru.html MB",
        "en.pdf MB",
        "ru.pdf MB",
        "html / naive",
    )
    print(" | ".join(header))
    for audience, seconds, sizes, skipped in rows:
        html = sizes["report.en.html"]
        pdfs = [sizes.get(f"report.{lang}.pdf") for lang in ("en", "ru")]
        cells = [
            audience,
            f"{seconds:.1f}",
            f"{html / 1e6:.2f}",
            f"{sizes['report.ru.html'] / 1e6:.2f}",
            *(f"{p / 1e6:.2f}" if p else f"none ({skipped})" for p in pdfs),
            f"{html / naive:.2f}",
        ]
        print(" | ".join(cells))


if __name__ == "__main__":
    main()
