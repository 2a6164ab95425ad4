"""Benchmark BaBA against the R package's timings and check linear growth in the number of fixes.

Run: ``python bench/baba.py`` (from the repository root). Prints two tables:

1. the four reference runs: seconds for the classification alone (best of 3), peak heap traced
   by ``tracemalloc`` (numpy and Python objects, not GEOS), seconds end to end (reading both
   files, indexing the fences, classifying: what one R run does), R's wall time from the
   ``.time`` records and the end-to-end speed-up;
2. the pronghorn default run with the individuals replicated 1x .. 10x (renamed copies), to show
   how time grows with the number of fixes.
"""

from __future__ import annotations

import re
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np

from crossings.core.baba import BabaConfig, classify
from crossings.core.tracks import FenceLayer, Tracks
from crossings.io.gps import read_barriers, read_tracks

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "baba"
RUNS = {
    "pronghorn_d110_default": ("pronghorn", {"distance": 110}),
    "pronghorn_d110_maxcross4": ("pronghorn", {"distance": 110, "max_cross": 4}),
    "muleDeer_d90_default": ("muleDeer", {"distance": 90}),
    "pronghorn_d110_tol4": ("pronghorn", {"distance": 110, "tolerance": 4}),
}


def r_wall_seconds(run: str) -> float:
    """Elapsed wall time of the R run from its ``/usr/bin/time -v`` record."""
    text = (DATA / "reference" / f"{run}.time").read_text()
    match = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text)
    parts = [float(p) for p in match.group(1).split(":")]
    return sum(p * 60**k for k, p in enumerate(reversed(parts)))


def timed(function, repeats: int = 3):
    """Best wall time of ``repeats`` calls and the peak traced heap of one call (bytes)."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak, result


def replicate(tracks: Tracks, copies: int) -> Tracks:
    """``copies`` renamed copies of every individual (same fixes, new ids)."""
    ids = np.concatenate([np.char.add(tracks.animal_id, f"_r{k}") for k in range(copies)])
    tile = lambda values: np.tile(values, copies)  # noqa: E731
    return Tracks(ids, tile(tracks.time), tile(tracks.x), tile(tracks.y), tracks.crs)


def end_to_end(name: str, params: dict):
    """Read the fences and the tracks, index the fences and classify: what one R run does."""
    fences, _ = read_barriers(DATA / "fences.gpkg")
    tracks = read_tracks(DATA / f"{name}.csv", crs="EPSG:32612")
    return classify(tracks, FenceLayer.from_fences(fences), BabaConfig(**params))


def main() -> None:
    start = time.perf_counter()
    fences, _ = read_barriers(DATA / "fences.gpkg")
    layer = FenceLayer.from_fences(fences)
    species = {
        name: read_tracks(DATA / f"{name}.csv", crs="EPSG:32612")
        for name in ("pronghorn", "muleDeer")
    }
    read_seconds = time.perf_counter() - start
    print(f"reading fences (1673 features) and both track files: {read_seconds:.2f} s\n")
    header = f"{'run':<26}{'fixes':>7}{'events':>8}{'seconds':>9}{'heap MB':>9}"
    print(header + f"{'end-to-end s':>14}{'R s':>7}{'x faster':>10}")
    for run, (name, params) in RUNS.items():
        tracks = species[name]
        seconds, peak, result = timed(
            lambda t=tracks, p=params: classify(t, layer, BabaConfig(**p))
        )
        total, _, _ = timed(lambda n=name, p=params: end_to_end(n, p))
        r_seconds = r_wall_seconds(run)
        print(
            f"{run:<26}{tracks.n_fixes:>7}{len(result.events):>8}{seconds:>9.3f}"
            f"{peak / 2**20:>9.1f}{total:>14.2f}{r_seconds:>7.1f}{r_seconds / total:>10.0f}"
        )
    print("\nscaling (pronghorn d=110, individuals replicated)")
    print(f"{'copies':>6}{'fixes':>8}{'events':>8}{'seconds':>9}{'heap MB':>9}{'us/fix':>8}")
    base = None
    for copies in (1, 2, 5, 10):
        tracks = replicate(species["pronghorn"], copies)
        config = BabaConfig(distance=110)
        seconds, peak, result = timed(lambda t=tracks, c=config: classify(t, layer, c), repeats=2)
        base = base or seconds
        print(
            f"{copies:>6}{tracks.n_fixes:>8}{len(result.events):>8}{seconds:>9.3f}"
            f"{peak / 2**20:>9.1f}{seconds / tracks.n_fixes * 1e6:>8.1f}"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess peak RSS {rss:.0f} MB (R: about 205 MB)")


if __name__ == "__main__":
    main()
