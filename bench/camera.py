"""Camera-trap benchmark: MegaDetector JSON -> events + use tables; EXIF timestamp reading.

Run: ``python bench/camera.py [--images 100000] [--jpegs 5000] [--keep DIR]``.
Prints a table of sizes, seconds, peak memory and the ratio against the targets of issue 6
(100,000 images to events and use tables in under 5 s; EXIF of 5,000 JPEGs at >= 500 images/s).

The survey is made by ``crossings.io.camera.write_synthetic_survey`` (also used by the demo).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def generate_survey(n_images: int, out_dir: Path):
    from crossings.io.camera import write_synthetic_survey

    return write_synthetic_survey(out_dir, n_images)


def bench_events(n_images: int, work: Path) -> dict:
    from crossings.core.camtrap import analyse
    from crossings.io.camera import load_detections, read_deployments, read_megadetector

    md_path, dep_path = generate_survey(n_images, work)
    t0, cpu0 = time.perf_counter(), time.process_time()
    md = read_megadetector(md_path)
    deps = read_deployments(dep_path)
    t1 = time.perf_counter()
    inputs = load_detections(md, deps)
    t2 = time.perf_counter()
    result = analyse(inputs.detections, deps)
    t3, cpu3 = time.perf_counter(), time.process_time()
    return {
        "images": n_images, "detections": len(md.category), "events": len(result.events),
        "read_s": t1 - t0, "join_s": t2 - t1, "analyse_s": t3 - t2, "total_s": t3 - t0,
        "cpu_s": cpu3 - cpu0,
        "peak_mb": _peak_mb(),
    }  # fmt: skip


def bench_exif(n_jpegs: int, work: Path, workers: int = 2) -> dict:
    from crossings.io.camera import read_exif, write_jpeg_with_exif

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)  # 640 x 480, ~250 kB JPEGs
    paths = []
    for i in range(n_jpegs):
        local = dt.datetime(2023, 1, 1) + dt.timedelta(seconds=97 * i)
        paths.append(write_jpeg_with_exif(work / f"img{i:05d}.jpg", rgb, local_time=local,
                                          utc_offset="+05:00", make="RECONYX", model="HF2",
                                          serial="SN1"))  # fmt: skip
    t0, cpu0 = time.perf_counter(), time.process_time()
    records = read_exif(paths, workers=workers)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert all(r.local_time is not None for r in records)
    return {"jpegs": n_jpegs, "seconds": seconds, "rate": n_jpegs / seconds, "cpu_s": cpu,
            "peak_mb": _peak_mb(), "workers": workers}  # fmt: skip


def _peak_mb() -> float:
    """Peak resident memory of this process so far (MB; Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--jpegs", type=int, default=5_000)
    parser.add_argument("--keep", type=Path, help="keep the generated survey in this folder")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        ev = bench_events(args.images, work / "survey")
        ex = bench_exif(args.jpegs, Path(tmp) / "jpegs")
    print(f"load average before the runs: {load:.1f} on {os.cpu_count()} cores")
    print("| benchmark | size | seconds | peak RSS MB | target | ratio (target / measured) |")
    print("| --- | --- | --- | --- | --- | --- |")
    size = f"{ev['images']:,} images, {ev['detections']:,} boxes, {ev['events']:,} events"
    parts = f"read {ev['read_s']:.2f}, join {ev['join_s']:.2f}, analyse {ev['analyse_s']:.2f}"
    seconds = f"{ev['total_s']:.2f} ({parts}; CPU {ev['cpu_s']:.2f})"
    ratio = f"{5 / ev['total_s']:.1f}x"
    print(f"| MD JSON -> events + use tables | {size} | {seconds} | {ev['peak_mb']:.0f} | < 5 s | "
          f"{ratio} |")  # fmt: skip
    size = f"{ex['jpegs']:,} JPEGs 640x480, {ex['workers']} threads"
    seconds = f"{ex['seconds']:.2f} ({ex['rate']:.0f} images/s; CPU {ex['cpu_s']:.2f})"
    print(f"| EXIF timestamps | {size} | {seconds} | {ex['peak_mb']:.0f} | >= 500 images/s | "
          f"{ex['rate'] / 500:.1f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
