"""Camera-trap benchmark: MegaDetector JSON -> events + use tables; EXIF timestamp reading;
tagged records -> every table and the four plots.

Run: ``python bench/camera.py [--images 100000] [--jpegs 5000] [--events 100000] [--repeat 3]
[--only tagged] [--baseline-plots REV|none] [--keep DIR]``.
Prints a table of sizes, seconds, peak memory and the ratio against the targets of issue 6
(100,000 images to events and use tables in under 5 s; EXIF of 5,000 JPEGs at >= 500 images/s)
and issue 10 (100,000 events from a tagged-records CSV to every table and the four plots in
under 10 s, the plots at most 10 % of it). The plots' share is measured twice: inside one
process (the plot stage's own seconds, its imports included, over the whole run) and as
``crossings camera events --tagged`` in new processes with and without ``--no-plots`` (the
difference, fastest of ``--repeat`` runs of each). Plots are drawn in the same process, one
after the other, on one core. The same plots by the previous plot module (matplotlib, git
revision ``--baseline-plots``) are timed after the run, outside its stages. Wall seconds depend
on what else runs on the machine: the load average is printed before and after, and CPU
seconds beside them.

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


def write_tagged_survey(n_records: int, out_dir: Path, *, seed: int = 0) -> tuple[Path, Path]:
    """SYNTHETIC tagged records (20 openings, 3 years, 6 species) and their deployments CSV."""
    import csv

    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = dt.datetime(2021, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    deployments = out_dir / "deployments.csv"
    with open(deployments, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["deployment_id", "camera_id", "fence_id", "opening_id", "start", "end",
                         "opening_date", "latitude", "longitude", "side_a", "side_b",
                         "timezone"])  # fmt: skip
        for k in range(20):
            writer.writerow([f"d{k}", f"C{k}", f"F{k // 4}", f"O{k}", start.isoformat(),
                             (start + dt.timedelta(days=3 * 365)).isoformat(),
                             (start + dt.timedelta(days=400)).isoformat(), 44.0 + 0.02 * k,
                             56.0 + 0.02 * k, "KAZ", "UZB", "Asia/Tashkent"])  # fmt: skip
    species = ["Saiga tatarica", "Gazella subgutturosa", "Canis lupus", "Vulpes corsac",
               "Equus hemionus", "Lepus tolai"]  # fmt: skip
    seconds = rng.integers(0, 3 * 365 * 86400, n_records)
    records = out_dir / "tagged.csv"
    with open(records, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["site", "datetime", "species", "count", "direction"])
        for site, s, kind, count, tag in zip(
            rng.integers(0, 20, n_records), seconds, rng.integers(0, 6, n_records),
            rng.integers(1, 5, n_records), rng.integers(0, 3, n_records), strict=True,
        ):  # fmt: skip
            stamp = (start + dt.timedelta(seconds=int(s))).isoformat()
            writer.writerow([f"C{site}", stamp, species[kind], count,
                             ("A to B", "B to A", "")[tag]])  # fmt: skip
    return records, deployments


def bench_tagged_with_plots(n_events: int, work: Path, baseline: str | None = None) -> dict:
    """Tagged records -> events -> every table (effort, light) -> CSVs -> the four plots; then
    the same plots by ``baseline``'s plot module (a git revision), outside the stages."""
    from crossings.core.camtrap import EventConfig, summarise
    from crossings.core.camtrap_effort import effort_tables, parse_season
    from crossings.io.camera import read_deployments, read_tagged_records, write_table
    from crossings.io.daylight import light_of_events

    # random times over 3 years at 20 sites: about 2 % of records join a neighbour's event
    records, dep_path = write_tagged_survey(int(n_events * 1.02), work)
    marks = {}
    cpu = {}
    t0, c0 = time.perf_counter(), time.process_time()
    deps = read_deployments(dep_path)
    events, deps, _, people = read_tagged_records(records, deps, EventConfig())
    marks["read + events"], cpu["read + events"] = time.perf_counter(), time.process_time()
    result = summarise(events, deps, EventConfig(), daylight=light_of_events, people=people)
    seasons = [parse_season("spring:03-01:05-31"), parse_season("autumn:09-01:11-30")]
    tables = effort_tables(result.events, deps, seasons)
    marks["tables"], cpu["tables"] = time.perf_counter(), time.process_time()
    out = work / "out"
    write_table(result.events, out / "events.csv", time_columns=("start", "end"))
    for name, table in {"use": result.use, "monthly": result.monthly, "diel": result.diel,
                        **tables}.items():  # fmt: skip
        write_table(table, out / f"{name}.csv")
    marks["write CSV"], cpu["write CSV"] = time.perf_counter(), time.process_time()
    from crossings.report.camera_plots import write_camera_plots  # its imports count as plots

    write_camera_plots(result, out)
    marks["plots"], cpu["plots"] = time.perf_counter(), time.process_time()
    stages, last, last_cpu = {}, t0, c0
    for name, t in marks.items():
        stages[name] = (t - last, cpu[name] - last_cpu)
        last, last_cpu = t, cpu[name]
    run = {"records": sum(1 for _ in open(records)) - 1, "events": len(result.events),
           "stages": stages, "total_s": last - t0, "cpu_s": last_cpu - c0,
           "peak_mb": _peak_mb()}  # fmt: skip
    if baseline:
        run["baseline"] = (baseline, *_baseline_plots(baseline, result, work / "baseline"))
    return run


def _baseline_plots(revision: str, result, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``revision``'s ``write_camera_plots`` (its imports included)."""
    import importlib.util
    import subprocess

    repo = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "-C", str(repo), "show", f"{revision}:src/crossings/report/camera_plots.py"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "baseline_camera_plots.py").write_text(source)
    t0, c0 = time.perf_counter(), time.process_time()
    spec = importlib.util.spec_from_file_location("baseline_camera_plots",
                                                  out / "baseline_camera_plots.py")  # fmt: skip
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_camera_plots(result, out)
    return time.perf_counter() - t0, time.process_time() - c0


def bench_cli_with_and_without_plots(
    records: Path, deployments: Path, work: Path, repeat: int = 3
) -> dict:
    """``crossings camera events --tagged`` end to end (a new process each), with and without
    plots, alternately ``repeat`` times: the fastest wall and CPU seconds (children's rusage)
    of each and the peak RSS."""
    import subprocess
    import sys

    runs = {}
    for _ in range(repeat):
        for name, extra in (("with plots", []), ("--no-plots", ["--no-plots"])):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(
                [str(Path(sys.executable).parent / "crossings"), "camera", "events", "--tagged",
                 str(records), "--deployments", str(deployments),
                 "--out", str(work / name.strip("-")), "--season", "spring:03-01:05-31", *extra],
                check=True, capture_output=True,
            )  # fmt: skip
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            best = runs.get(name, (np.inf, np.inf, 0.0))
            runs[name] = (min(best[0], wall), min(best[1], cpu), after.ru_maxrss / 1024)
    return runs


#: The plots of issue 10's previous session: matplotlib heatmaps and bars, bounded in size.
BASELINE_PLOTS = "84ff7b3"


def _peak_mb() -> float:
    """Peak resident memory of this process so far (MB; Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--jpegs", type=int, default=5_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="CLI runs with and without plots")
    parser.add_argument("--only", choices=["tagged"], help="only issue 10's tagged-records runs")
    parser.add_argument("--keep", type=Path, help="keep the generated survey in this folder")
    parser.add_argument("--baseline-plots", default=BASELINE_PLOTS,
                        help="git revision of the previous plot module, or 'none'")  # fmt: skip
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        baseline = None if args.baseline_plots == "none" else args.baseline_plots
        tagged = bench_tagged_with_plots(args.events, work / "tagged", baseline)
        cli = bench_cli_with_and_without_plots(work / "tagged" / "tagged.csv",
                                               work / "tagged" / "deployments.csv",
                                               work / "cli", args.repeat)  # fmt: skip
        if not args.only:
            ev = bench_events(args.images, work / "survey")
            ex = bench_exif(args.jpegs, Path(tmp) / "jpegs")
    after = os.getloadavg()
    before_text, after_text = (" ".join(f"{v:.1f}" for v in x) for x in (load, after))
    print(f"load average (1, 5, 15 min) before: {before_text}, after: {after_text}, "
          f"on {os.cpu_count()} cores")  # fmt: skip
    print("| benchmark | size | seconds | peak RSS MB | target | ratio (target / measured) |")
    print("| --- | --- | --- | --- | --- | --- |")
    if not args.only:
        _print_issue6(ev, ex)
    _print_tagged(tagged)
    _print_cli(cli, tagged["events"], args.repeat)


def _print_issue6(ev: dict, ex: dict) -> None:
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


def _print_cli(runs: dict, events: int, repeat: int) -> None:
    (wall, cpu, rss), (wall_np, cpu_np, _) = runs["with plots"], runs["--no-plots"]
    print(f"| `crossings camera events --tagged` (new process, fastest of {repeat}) | "
          f"{events:,} events | {wall:.2f} with plots (CPU {cpu:.2f}), {wall_np:.2f} with "
          f"--no-plots (CPU {cpu_np:.2f}) | {rss:.0f} | < 10 s, plots <= 10 % | {10 / wall:.1f}x; "
          f"plots add {100 * (wall - wall_np) / wall:.0f} % of the wall, "
          f"{100 * (cpu - cpu_np) / cpu:.0f} % of the CPU |")  # fmt: skip


def _print_tagged(run: dict) -> None:
    size = f"{run['records']:,} tagged records, {run['events']:,} events, 20 openings, 3 years"
    parts = ", ".join(f"{k} {w:.2f} (CPU {c:.2f})" for k, (w, c) in run["stages"].items())
    plots_wall, plots_cpu = run["stages"]["plots"]
    if "baseline" in run:
        revision, wall, cpu = run["baseline"]
        print(f"| the same 4 plots, previous approach (matplotlib, {revision}) | {size} | "
              f"{wall:.2f} (CPU {cpu:.2f}) vs {plots_wall:.2f} (CPU {plots_cpu:.2f}) now | | | "
              f"{cpu / plots_cpu:.0f}x less CPU now |")  # fmt: skip
    print(f"| tagged records -> all tables + 4 plots (one process) | {size} | "
          f"{run['total_s']:.2f} ({parts}; CPU {run['cpu_s']:.2f}) | {run['peak_mb']:.0f} | "
          f"< 10 s, plots <= 10 % | {10 / run['total_s']:.1f}x; plots "
          f"{100 * plots_wall / run['total_s']:.1f} % of the wall, "
          f"{100 * plots_cpu / run['cpu_s']:.1f} % of the CPU |")  # fmt: skip


if __name__ == "__main__":
    main()
