"""The native Omniscape job (job = "omniscape"): fences inside every window, three scenarios."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from test_jobs import invoke, same_outputs

from crossings import jobs
from crossings.core import omniscape as om
from crossings.core.circuit import SolverOptions
from crossings.core.fences import Fence, Opening
from crossings.core.grid import GridSpec
from crossings.core.solve import Solver
from crossings.io.raster import read_raster, write_geotiff
from crossings.io.vector import fences_to_gdf, openings_to_gdf, write_gpkg
from crossings.jobs.base import RunRecord
from crossings.jobs.omniscape import Config, near_cuts, run

CRS = "EPSG:3857"
CELL = 1000.0
GRID = GridSpec.from_origin(0.0, 41 * CELL, CELL, (41, 21), CRS)
#: A straight north-south fence between columns 10 and 11, across the whole grid.
FENCE = Fence("f", [(11 * CELL, -CELL), (11 * CELL, 42 * CELL)])
#: A one-cell opening in the middle of the fence (row 20).
OPENING = Opening("f", 11 * CELL, 20.5 * CELL, CELL, 1.0)
RADIUS = 5  # cells; block 3: a window reaches 5 cells beyond its target


def _write_landscape(folder: Path, *, west_targets: bool) -> None:
    write_geotiff(folder / "resistance.tif", GRID, np.ones(GRID.shape), dtype="float64")
    layers = {"fences": fences_to_gdf([FENCE], CRS), "openings": openings_to_gdf([OPENING], CRS)}
    write_gpkg(folder / "fences.gpkg", layers)
    targets = np.zeros(GRID.shape)
    targets[:, :9] = 1.0  # blocks of columns 0-8: targets west of the fence only
    write_geotiff(folder / "targets.tif", GRID, targets if west_targets else np.ones(GRID.shape))


def _job_text(*, targets: bool = True) -> str:
    return (
        'job = "omniscape"\n'
        f'radius_m = {RADIUS * CELL}\nblock_size = 3\nsolver = "splu"\n'
        + ('targets = "targets.tif"\n' if targets else "")
        + '[landscape]\nresistance = "resistance.tif"\nfences = "fences.gpkg"\n'
        'fences_layer = "fences"\nopenings = "fences.gpkg"\nopenings_layer = "openings"\n'
    )


@pytest.fixture(scope="module")
def west_run(tmp_path_factory):
    """The job with targets west of the fence only, run once through ``crossings run``."""
    folder = tmp_path_factory.mktemp("omniscape_job")
    _write_landscape(folder, west_targets=True)
    (folder / "job.toml").write_text(_job_text())
    result = invoke("run", folder / "job.toml", "--out", folder / "out")
    assert result.exit_code == 0, result.output
    return folder


def _map(folder: Path, name: str) -> np.ndarray:
    return read_raster(folder / "out" / f"{name}.tif")[1]


def test_the_job_is_registered_and_writes_the_agreed_names(west_run):
    assert jobs.get("omniscape").NAME == "omniscape"
    names = {Path(f.path).name for f in RunRecord.read(west_run / "out").outputs}
    for scenario in ("no_fence", "fence_closed", "fence_mitigated"):
        for stem in ("cum_currmap", "normalized_cum_currmap", "flow_potential"):
            assert f"{stem}_{scenario}.tif" in names
    assert "cum_currmap_difference_no_fence_minus_fence_closed.tif" in names
    assert "cum_currmap_difference_fence_mitigated_minus_fence_closed.tif" in names
    assert "failed_windows.csv" in names
    record = RunRecord.read(west_run / "out")
    assert record.job == "omniscape" and record.sensitivity == "restricted"
    assert record.figures["radius_cells"] == RADIUS
    with open(west_run / "out" / "failed_windows.csv", newline="") as handle:
        assert list(csv.reader(handle)) == [["scenario", "row", "col", "reason"]]


def test_crossings_run_and_the_omniscape_command_give_the_same_files(west_run, tmp_path):
    result = invoke("omniscape", "run", west_run / "job.toml", "--out-dir", tmp_path / "by_command")
    assert result.exit_code == 0, result.output
    names = same_outputs(west_run / "out", tmp_path / "by_command")
    assert "cum_currmap_fence_closed.tif" in names


def test_a_closed_fence_stops_all_current_across_it(west_run):
    closed, plain = (
        _map(west_run, "cum_currmap_fence_closed"),
        _map(west_run, "cum_currmap_no_fence"),
    )
    # Targets sit in columns 1..7 and reach 5 cells: without the fence current crosses into
    # column 11 and beyond; with it nothing does.
    assert plain[:, 11:].max() > 0.01
    assert np.all(closed[:, 11:] == 0)
    assert closed[:, :11].sum() > 0


def test_an_opening_restores_current_near_it_only(west_run):
    closed = _map(west_run, "cum_currmap_fence_closed")
    opened = _map(west_run, "cum_currmap_fence_mitigated")
    assert opened[20, 11] > 0.01  # just east of the opening
    # A window holding the opening's edge (row 20) has its target within RADIUS rows of it and
    # reaches RADIUS rows further: rows farther than 2 RADIUS see no change.
    far = np.abs(np.arange(GRID.shape[0]) - 20) > 2 * RADIUS
    np.testing.assert_array_equal(opened[far][:, 11:], 0)
    np.testing.assert_allclose(opened[far], closed[far], rtol=1e-12, atol=1e-15)
    difference = _map(west_run, "cum_currmap_difference_fence_mitigated_minus_fence_closed")
    np.testing.assert_allclose(difference, opened - closed, rtol=1e-12, atol=1e-15)


def test_without_fences_the_map_is_the_plain_raster_run(west_run):
    ones = np.ones(GRID.shape)
    targets = read_raster(west_run / "targets.tif")[1]
    options = om.OmniscapeOptions(
        radius=RADIUS,
        block_size=3,
        calc_flow_potential=True,
        calc_normalized_current=True,
        solver=SolverOptions(Solver.SPLU, 1e-8),
    )
    plain = om.omniscape(om.OmniscapeLayers(ones, ones, targets=targets), options)
    np.testing.assert_allclose(
        _map(west_run, "cum_currmap_no_fence"), plain.cumulative_current, rtol=1e-12
    )
    np.testing.assert_allclose(
        _map(west_run, "flow_potential_fence_closed"), plain.flow_potential, rtol=1e-12
    )


def test_every_window_counts_when_targets_are_everywhere(tmp_path):
    """Targets on both sides: the shared-window split must give the full map of each scenario."""
    _write_landscape(tmp_path, west_targets=False)
    config = Config.from_mapping(
        {**_toml(_job_text(targets=False)), "scenarios": ["fence_closed"]}, base_dir=tmp_path
    )
    run(config, tmp_path / "out")
    ones = np.ones(GRID.shape)
    from crossings.core.barriers import edge_factors, fence_edge_cuts

    cuts = fence_edge_cuts(GRID, [FENCE])
    factors = om.EdgeFactors(cuts.direction, cuts.row, cuts.col, edge_factors(cuts, [FENCE]))
    options = config.options(CELL)
    direct = om.omniscape(om.OmniscapeLayers(ones, ones, edge_factors=factors), options)
    np.testing.assert_allclose(
        _map(tmp_path, "cum_currmap_fence_closed"), direct.cumulative_current, rtol=1e-12
    )


def test_near_cuts_marks_the_cells_whose_window_holds_a_cut_edge():
    cuts = om.EdgeFactors(np.array([0]), np.array([5]), np.array([7]), np.array([0.0]))
    near = near_cuts((12, 14), cuts, 2)
    rows, cols = np.nonzero(near)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (3, 7, 5, 9)


def test_bad_values_are_one_line_errors(tmp_path):
    _write_landscape(tmp_path, west_targets=True)
    (tmp_path / "job.toml").write_text(_job_text().replace("radius_m", "radius_km"))
    result = invoke("run", tmp_path / "job.toml", "--out", tmp_path / "out")
    assert result.exit_code == 1 and "Did you mean 'radius_m'" in result.output
    small = np.ones((5, 5))
    write_geotiff(tmp_path / "targets.tif", GridSpec.from_origin(0, 5000, CELL, (5, 5), CRS), small)
    (tmp_path / "job.toml").write_text(_job_text())
    result = invoke("run", tmp_path / "job.toml", "--out", tmp_path / "out")
    assert result.exit_code == 1 and "not on the resistance grid" in result.output
    assert result.output.count("\n") == 1


def _toml(text: str) -> dict:
    import tomllib

    return tomllib.loads(text)
