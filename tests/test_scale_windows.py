"""The tiled Omniscape runner: Dask agrees with serial, resume, failed windows."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from crossings.core import omniscape as om
from crossings.errors import PlanTooLargeError, SolverConvergenceError
from crossings.scale.executor import DaskExecutor, SerialExecutor
from crossings.scale.windows import plan_run, run_tiles, write_failed_windows

OPTIONS = om.OmniscapeOptions(radius=3, block_size=3, buffer=1, calc_flow_potential=True)


@pytest.fixture(scope="module")
def layers():
    rng = np.random.default_rng(5)
    conductance = rng.uniform(0.1, 2.0, (24, 27))
    conductance[rng.random(conductance.shape) < 0.05] = np.nan
    return om.OmniscapeLayers(conductance, rng.uniform(0, 1, conductance.shape))


@pytest.fixture(scope="module")
def serial(layers):
    return run_tiles(layers, OPTIONS, tile_size=6)


@pytest.mark.parametrize("workers", [1, 2])
def test_dask_agrees_with_serial(layers, serial, workers):
    with DaskExecutor(workers=workers, memory_limit="1GiB") as executor:
        assert executor.workers == workers
        run = run_tiles(layers, OPTIONS, tile_size=6, executor=executor)
    for name in ("current", "flow_potential"):
        np.testing.assert_allclose(run.maps[name], serial.maps[name], rtol=1e-12, atol=0)
    assert run.n_windows == serial.n_windows == 72


def test_killed_run_resumes_to_the_same_map(layers, serial, tmp_path):
    seen = []

    def kill_halfway(stage, done, total):
        seen.append(done)
        if done >= total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_tiles(layers, OPTIONS, tile_size=6, checkpoint=tmp_path, progress=kill_halfway)
    kept = sorted(tmp_path.glob("tile_*.npz"))
    assert 0 < len(kept) < 20
    resumed = run_tiles(layers, OPTIONS, tile_size=6, checkpoint=tmp_path)
    assert resumed.resumed_tiles == len(kept)
    np.testing.assert_allclose(resumed.maps["current"], serial.maps["current"], rtol=1e-12)


def test_failing_window_is_listed_and_the_rest_unchanged(layers, serial, tmp_path, monkeypatch):
    real = om.solve_window

    def failing(layers_, options, row, col, amps, correction=None):
        if (row, col) == (10, 13):
            raise SolverConvergenceError(residual=1.0, tol=1e-8, solver=options.solver.solver.value)
        return real(layers_, options, row, col, amps, correction)

    monkeypatch.setattr(om, "solve_window", failing)
    run = run_tiles(layers, OPTIONS, tile_size=6, executor=SerialExecutor())
    assert [(f.row, f.col) for f in run.failed] == [(10, 13)]
    assert "direct retry" in run.failed[0].reason
    targets = om.find_targets(layers.sources, 3)
    k = int(np.flatnonzero((targets.row == 10) & (targets.col == 13))[0])
    missing = om.empty_maps(layers.grid_shape, OPTIONS)
    om.accumulate(
        missing,
        real(layers, OPTIONS, 10, 13, float(targets.amps[k]), om.artifact_correction(OPTIONS)),
    )
    np.testing.assert_allclose(
        run.maps["current"] + missing["current"], serial.maps["current"], rtol=1e-12, atol=1e-14
    )
    path = write_failed_windows(tmp_path / "failed_windows.csv", run.failed)
    rows = list(csv.DictReader(path.open()))
    assert rows[0]["row"] == "10" and rows[0]["col"] == "13"


def test_plan_counts_windows_and_refuses_what_does_not_fit(layers):
    plan, tiles = plan_run(layers, OPTIONS, tile_size=6, seconds_per_window=0.01)
    assert (plan.windows, plan.solves, plan.tiles, len(tiles)) == (72, 144, 20, 20)
    assert "72 windows" in plan.lines()[0]
    with pytest.raises(PlanTooLargeError, match="--tile-size"):
        plan_run(layers, OPTIONS, tile_size=6, memory_limit=2**20, seconds_per_window=0.01)


def test_a_task_ships_only_its_tile_and_the_cuts_inside_it():
    import pickle

    from crossings.scale.windows import InMemoryLayers, _task_source, plan_tiles

    rng = np.random.default_rng(3)
    shape = (120, 120)
    cuts = om.EdgeFactors(
        np.zeros(120, dtype=np.int64), np.arange(120), np.full(120, 60), np.zeros(120)
    )
    whole = om.OmniscapeLayers(rng.uniform(1, 2, shape), np.ones(shape), edge_factors=cuts)
    options = om.OmniscapeOptions(radius=4, block_size=3)
    source = InMemoryLayers(whole)
    for tile in plan_tiles(shape, options, 30):
        task = _task_source(source, tile)
        r0, r1, c0, c1 = tile.region
        assert task.layers.conductance.shape == (r1 - r0, c1 - c0)
        held = task.layers.edge_factors
        assert len(held) == (r1 - r0 if c0 <= 60 < c1 else 0)
        # The pickled task grows with the tile (two layers of float64), not with the grid.
        assert len(pickle.dumps(task)) < 2.5 * 8 * (r1 - r0) * (c1 - c0) + 20_000
        assert np.array_equal(
            task.target_block(tile.rows, tile.cols), source.target_block(tile.rows, tile.cols)
        )
