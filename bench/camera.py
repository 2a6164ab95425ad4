"""Camera-trap benchmark: MegaDetector JSON -> events + use tables; EXIF timestamp reading.

Run: ``python bench/camera.py [--images 100000] [--jpegs 5000] [--keep DIR]``.
Prints a table of sizes, seconds, peak memory and the ratio against the targets of issue 6
(100,000 images to events and use tables in under 5 s; EXIF of 5,000 JPEGs at >= 500 images/s).

``generate_survey`` is also handy for trying the CLI and plots on a realistic synthetic survey.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

SPECIES = ("Saiga tatarica", "Gazella subgutturosa", "Equus hemionus", "Canis lupus")
SPECIES_WEIGHT = (0.45, 0.3, 0.15, 0.1)
START = dt.datetime(2023, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5)))
DAYS = 365
OPENING_DATE = "2023-06-01T00:00:00+05:00"


def _passage_times(rng, n: int) -> np.ndarray:
    """Seconds from START: saiga-like seasonality (spring/autumn peaks), crepuscular hours."""
    day = rng.choice(DAYS, n, p=_season_weights())
    hour = rng.choice(24, n, p=_diel_weights())
    return day * 86400 + hour * 3600 + rng.integers(0, 3600, n)


def _season_weights() -> np.ndarray:
    day = np.arange(DAYS)
    w = 0.3 + np.exp(-(((day - 100) / 25) ** 2)) + 0.8 * np.exp(-(((day - 290) / 30) ** 2))
    return w / w.sum()


def _diel_weights() -> np.ndarray:
    hour = np.arange(24)
    w = 0.2 + np.exp(-(((hour - 6) / 2) ** 2)) + np.exp(-(((hour - 19) / 2) ** 2))
    return w / w.sum()


def generate_survey(n_images: int, out_dir: Path, *, n_cameras: int = 20, seed: int = 0):
    """Write ``md.json`` (format 1.4 with per-image ``datetime`` and species classifications)
    and ``deployments.csv`` for ``n_images`` images of a synthetic fence-opening survey."""
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    images: list[dict] = []
    per_camera = n_images // n_cameras
    for cam in range(n_cameras):
        images += _camera_images(rng, f"C{cam:02d}", per_camera)
    md = {
        "info": {"format_version": "1.4", "detector": "synthetic"},
        "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
        "classification_categories": {str(i): s for i, s in enumerate(SPECIES)},
        "images": images,
    }
    (out_dir / "md.json").write_text(json.dumps(md))
    header = (
        "deployment_id,camera_id,fence_id,opening_id,start,end,utc_offset,opening_date,"
        "latitude,longitude,line_x1,line_y1,line_x2,line_y2,side_a,side_b"
    )
    rows = [header]
    for cam in range(n_cameras):
        opening = f"O{cam // 2 + 1}"
        line = "0,0.62,1,0.58" if cam % 2 == 0 else ",,,"
        date = OPENING_DATE if cam // 2 % 2 == 0 else ""
        rows.append(
            f"d{cam:02d},C{cam:02d},KZ-UZ-{1 + cam // 8:02d},{opening},2023-01-01T00:00:00+05:00,"
            f"2024-01-01T00:00:00+05:00,+05:00,{date},{44.0 + 0.01 * cam:.4f},"
            f"{56.0 + 0.03 * cam:.4f},{line},KAZ,UZB"
        )
    (out_dir / "deployments.csv").write_text("\n".join(rows) + "\n")
    return out_dir / "md.json", out_dir / "deployments.csv"


def _camera_images(rng, camera: str, n: int) -> list[dict]:
    images = []
    n_passages = max(1, n // 4)
    starts = np.sort(_passage_times(rng, n_passages))
    counter = 0
    for t0 in starts:
        burst = int(rng.integers(1, 8))
        kind = rng.choice(3, p=(0.9, 0.07, 0.03))  # animal, person (patrol), vehicle
        species = int(rng.choice(len(SPECIES), p=SPECIES_WEIGHT))
        y0, y1 = (0.3, 0.85) if rng.random() < 0.5 else (0.85, 0.3)
        if rng.random() < 0.3:
            y1 = y0  # lingers on one side
        for k in range(burst):
            if counter >= n:
                return images
            t = int(t0 + k * rng.integers(2, 20))
            stamp = (START + dt.timedelta(seconds=t)).replace(tzinfo=None).isoformat()
            foot = y0 + (y1 - y0) * k / max(burst - 1, 1)
            images.append({
                "file": f"{camera}/{counter:06d}.jpg",
                "datetime": stamp,
                "detections": _detections(rng, int(kind), species, foot),
            })  # fmt: skip
            counter += 1
    while counter < n:  # blanks from wind and heat (no detections)
        stamp = (START + dt.timedelta(seconds=int(rng.integers(0, DAYS * 86400)))).replace(
            tzinfo=None
        )
        images.append({"file": f"{camera}/{counter:06d}.jpg", "datetime": stamp.isoformat(),
                       "detections": []})  # fmt: skip
        counter += 1
    return images


def _detections(rng, kind: int, species: int, foot: float) -> list[dict]:
    h = float(rng.uniform(0.1, 0.25))
    y = min(max(foot - h, 0.0), 1 - h)
    x = float(rng.uniform(0.05, 0.7))
    det = {"category": str(kind + 1), "conf": round(float(rng.uniform(0.15, 0.99)), 3),
           "bbox": [round(x, 4), round(y, 4), 0.2, round(h, 4)]}  # fmt: skip
    if kind == 0:
        det["classifications"] = [[str(species), round(float(rng.uniform(0.6, 0.99)), 3)]]
    return [det]


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
