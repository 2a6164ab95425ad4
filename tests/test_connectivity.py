"""crossings-native connectivity runs: scenarios, TOML jobs, CLI."""

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from typer.testing import CliRunner

from crossings.cli import app
from crossings.core.fences import Fence, Opening
from crossings.core.grid import GridSpec
from crossings.io.raster import write_geotiff
from crossings.io.vector import fences_to_gdf, openings_to_gdf, write_gpkg
from crossings.jobs.connectivity import Scenario, focal_areas, pair_table, run_scenarios
from crossings.landscape import Landscape

CRS = "EPSG:3857"
CELL = 100.0


def _landscape(openings=()):
    """A 12 x 16 uniform landscape split by a closed vertical fence at x = 800 m."""
    grid = GridSpec.from_origin(0.0, 1200.0, CELL, (12, 16), CRS)
    fence = Fence("f1", [(800.0, -50.0), (800.0, 1250.0)], 0.0, "A-B")
    return Landscape(grid, np.ones(grid.shape), (fence,), tuple(openings))


def _areas():
    return gpd.GeoDataFrame(
        {"name": ["west", "east"]},
        geometry=[shapely.box(100, 300, 300, 900), shapely.box(1300, 300, 1500, 900)],
        crs=CRS,
    )


def _dense_resistance(graph, region_a, region_b):
    """Effective resistance between two short-circuited regions by a dense pseudo-inverse."""
    lap = graph.laplacian().toarray()
    index = graph.node_index
    a, b = index[region_a], index[region_b]
    merge = np.eye(lap.shape[0])
    keep = np.ones(lap.shape[0], bool)
    keep[a[1:]] = keep[b[1:]] = False
    merge[a[0], a] = 1.0
    merge[b[0], b] = 1.0
    merge = merge[keep]
    reduced = merge @ lap @ merge.T
    pinv = np.linalg.pinv(reduced)
    ia, ib = np.cumsum(keep)[a[0]] - 1, np.cumsum(keep)[b[0]] - 1
    return pinv[ia, ia] + pinv[ib, ib] - 2 * pinv[ia, ib]


def test_closed_fence_disconnects_and_opening_restores_part_of_the_conductance():
    land = _landscape([Opening("f1", 800.0, 600.0, 300.0, 1.0)])
    focal, names = focal_areas(land, _areas())
    assert names == ("west", "east")
    results = run_scenarios(
        land, focal, names, [Scenario.NO_FENCE, Scenario.FENCE_CLOSED, Scenario.FENCE_MITIGATED]
    )
    r_none, r_closed, r_open = (float(r.resistances[0, 1]) for r in results)
    assert r_closed == -1.0
    assert 0 < r_none < r_open
    areas = land.rasterize(_areas())
    expected = _dense_resistance(land.graph(), areas == 1, areas == 2)
    assert r_none == pytest.approx(expected, rel=1e-8)
    table = pair_table(results)
    assert table.loc[0, "conductance_kept_pct_fence_closed"] == 0.0
    kept = table.loc[0, "conductance_kept_pct_fence_mitigated"]
    assert kept == pytest.approx(100 * r_none / r_open, abs=1e-3)
    assert 0 < kept < 100
    # Current flows only through the opening: none west-east across the closed stretch.
    assert results[1].cumulative_current.sum() == 0.0


def _write_job(tmp_path: Path) -> Landscape:
    land = _landscape([Opening("f1", 800.0, 600.0, 300.0, 1.0)])
    write_geotiff(tmp_path / "resistance.tif", land.grid, land.resistance)
    write_gpkg(
        tmp_path / "fences.gpkg",
        {
            "fences": fences_to_gdf(land.fences, CRS),
            "openings": openings_to_gdf(land.openings, CRS),
        },
    )
    # Focal areas in another CRS: they must be reprojected to the raster's.
    write_gpkg(tmp_path / "areas.gpkg", {"areas": _areas().to_crs("EPSG:4326")})
    (tmp_path / "job.toml").write_text(
        'scenarios = ["no_fence", "fence_closed", "fence_mitigated"]\nsolver = "splu"\n'
        '[landscape]\nresistance = "resistance.tif"\nfences = "fences.gpkg"\n'
        'fences_layer = "fences"\nopenings = "fences.gpkg"\nopenings_layer = "openings"\n'
        '[focal]\npath = "areas.gpkg"\n'
    )
    return land


def test_toml_job_through_the_cli_writes_maps_and_tables(tmp_path: Path):
    land = _write_job(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["connectivity", "run", str(tmp_path / "job.toml"), "--out", str(out), "--no-maps"]
    )
    assert result.exit_code == 0, result.output
    assert "fence closed" in result.output
    for name in (
        "cum_current_fence_closed.tif",
        "pairs.csv",
        "run.toml",
        "manifest.json",
        "cum_current_difference_no_fence_minus_fence_closed.tif",
    ):
        assert (out / name).is_file(), name
    with rasterio.open(out / "cum_current_no_fence.tif") as src:
        assert src.crs is not None and src.shape == land.grid.shape


def test_unknown_key_in_job_is_one_line_and_exit_1(tmp_path: Path):
    (tmp_path / "job.toml").write_text('[landscape]\nresistence = "r.tif"\n[focal]\npath = "a"\n')
    result = CliRunner().invoke(app, ["connectivity", "run", str(tmp_path / "job.toml")])
    assert result.exit_code == 1
    assert "resistence" in result.output and "resistance" in result.output


def test_run_that_would_not_fit_in_memory_is_refused_before_solving(tmp_path: Path):
    _write_job(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["connectivity", "run", str(tmp_path / "job.toml"), "--out", str(out),
         "--max-memory-gb", "0.000001"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "3 solves" in result.output  # the plan: 1 pair x 3 scenarios
    assert "--max-memory-gb" in result.output
    assert not (out / "pairs.csv").exists()
