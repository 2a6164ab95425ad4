"""Benchmark: how fast ``crossings --help`` and ``crossings --version`` answer (target < 0.3 s).

Each command runs ``--repeat`` times in a fresh interpreter; the table gives the median wall
time and the median CPU time (user + system) of the child process, and the peak memory (max RSS).
On a shared, loaded machine wall time waits for a core, so the CPU time is the figure to compare
with the target. The "eager" row imports the libraries the CLI used to load at start-up
(geopandas, pandas, rasterio, pyproj and the tracks modules), the previous approach.

Run: ``python bench/startup.py [--repeat 7]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

TARGET_S = 0.3
EAGER = (
    "import crossings.cli, geopandas, pandas, rasterio, pyproj, "
    "crossings.io.gps, crossings.core.baba"
)


def _crossings() -> list[str]:
    script = Path(sys.executable).with_name("crossings")
    found = script if script.exists() else shutil.which("crossings")
    return [str(found)] if found else [sys.executable, "-m", "crossings.cli"]


#: Runs the command given as arguments and prints wall s, CPU s and max RSS (KiB) of that child
#: alone (a fresh wrapper per run, so RUSAGE_CHILDREN holds that one child only).
WRAPPER = """
import resource, subprocess, sys, time
started = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, capture_output=True)
wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
"""


def measure(command: list[str], repeat: int) -> tuple[float, float, float]:
    """Median wall seconds, median CPU seconds and median max RSS (MiB) of ``command``."""
    runs = []
    env = {**os.environ, "COLUMNS": "100"}
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-c", WRAPPER, *command], check=True,
                              capture_output=True, text=True, env=env)  # fmt: skip
        runs.append([float(v) for v in done.stdout.split()])
    wall, cpu, rss = (statistics.median(column) for column in zip(*runs, strict=True))
    return wall, cpu, rss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    cli = _crossings()
    rows = [
        ("crossings --version", cli + ["--version"]),
        ("crossings --help", cli + ["--help"]),
        ("python -c 'import crossings.cli'", [sys.executable, "-c", "import crossings.cli"]),
        ("eager imports (previous)", [sys.executable, "-c", EAGER]),
        ("python -c pass (interpreter)", [sys.executable, "-c", "pass"]),
    ]
    results = {name: measure(command, args.repeat) for name, command in rows}
    eager_cpu = results["eager imports (previous)"][1]
    print(f"{'command':36} {'wall s':>8} {'CPU s':>8} {'max RSS MiB':>12} {'CPU vs eager':>13} "
          f"{'< 0.3 s':>8}")  # fmt: skip
    for name, (wall, cpu, peak) in results.items():
        ok = "yes" if cpu < TARGET_S else "no"
        print(f"{name:36} {wall:8.3f} {cpu:8.3f} {peak:12.1f} {cpu / eager_cpu:13.2f} {ok:>8}")
    print(
        f"repeat = {args.repeat}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
