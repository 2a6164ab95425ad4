"""Simulated tracks (demo): fences hold except at openings; the demo step writes its outputs."""

import csv

import numpy as np
import shapely

from crossings.core.fences import Fence
from crossings.core.tracks import FenceLayer, locate_crossings, simulate_fence_walks

LAYER = FenceLayer.from_fences([Fence("f", [(-50_000, 0), (50_000, 0)], country_pair="KAZ-UZB")])
STARTS = np.column_stack([np.linspace(-20_000, 20_000, 6), np.full(6, 15_000.0)])


def test_without_openings_no_simulated_animal_crosses():
    tracks = simulate_fence_walks(LAYER, STARTS, (0.0, -40_000.0), n_fixes=80, seed=5)
    assert len(locate_crossings(tracks, LAYER)) == 0
    assert (tracks.y > 0).all()
    assert np.abs(tracks.y).min() < 100  # they did reach and trace the fence


def test_simulated_animals_cross_only_near_openings():
    holes = np.array([[-10_000.0, 0.0], [0.0, 0.0], [10_000.0, 0.0]])
    tracks = simulate_fence_walks(
        LAYER, STARTS, (0.0, -40_000.0), n_fixes=200, seed=6, openings=holes
    )
    crossings = locate_crossings(tracks, LAYER)
    assert len(crossings) > 0
    gap = shapely.distance(
        shapely.points(crossings.x, crossings.y)[:, None], shapely.points(holes)[None, :]
    ).min(axis=1)
    assert gap.max() <= 100.0 + 1e-6
    again = simulate_fence_walks(
        LAYER, STARTS, (0.0, -40_000.0), n_fixes=200, seed=6, openings=holes
    )
    np.testing.assert_array_equal(again.x, tracks.x)  # seeded


def test_demo_step_writes_labelled_outputs(tmp_path):
    from crossings.jobs.base import RunRecord
    from crossings.jobs.tracks import demo_step
    from crossings.landscape import load_demo

    lines = demo_step(load_demo(mitigation=True), tmp_path)
    assert "SYNTHETIC" in lines[0]
    folder = tmp_path / "tracks"
    for name in ("input/synthetic_tracks.csv", "events.csv", "crossings.csv", "ranking.csv"):
        assert (folder / name).is_file()
    assert (folder / "map.png").stat().st_size > 10_000
    record = RunRecord.read(folder)
    assert record.job == "tracks" and record.sensitivity == "confidential"
    assert record.inputs[0].path.endswith("synthetic_tracks.csv")
    with open(folder / "crossings.csv", newline="") as handle:
        crossings = list(csv.DictReader(handle))
    assert crossings and all(
        r["direction"] in ("from KAZ to UZB", "from UZB to KAZ") for r in crossings
    )
