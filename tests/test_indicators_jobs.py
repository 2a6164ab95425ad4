"""The indicators and hotspots jobs: configs, bad input through the CLI, outputs and manifests."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from crossings.cli import app
from crossings.errors import ConfigError
from crossings.jobs import hotspots, indicators

ALBERS = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m +no_defs"
KM = 1000.0
runner = CliRunner()


def small_region(folder):
    """Two countries side by side, two PAs in A and one in B (the stepping stone), one fence."""
    countries = gpd.GeoDataFrame(
        {"iso_a3": ["AAA", "BBB"], "name": ["A", "B"]},
        geometry=[shapely.box(0, 0, 50 * KM, 40 * KM), shapely.box(50 * KM, 0, 100 * KM, 40 * KM)],
        crs=ALBERS,
    )
    pas = gpd.GeoDataFrame(
        {"name": ["a1", "a2", "b1"]},
        geometry=[
            shapely.box(40 * KM, 0, 42 * KM, 2 * KM),
            shapely.box(40 * KM, 38 * KM, 42 * KM, 40 * KM),
            shapely.box(51 * KM, 2 * KM, 59 * KM, 38 * KM),
        ],
        crs=ALBERS,
    )
    fences = gpd.GeoDataFrame(
        {"fence_id": ["f1"], "permeability": [0.0], "country_pair": ["AAA-BBB"]},
        geometry=[shapely.LineString([(50 * KM, 0), (50 * KM, 20 * KM)])],
        crs=ALBERS,
    )
    countries.to_file(folder / "countries.gpkg")
    pas.to_file(folder / "pas.gpkg")
    fences.to_file(folder / "fences.gpkg")
    return {
        "regions": {"path": "countries.gpkg"},
        "protected_areas": {"path": "pas.gpkg"},
        "landscape": {"fences": "fences.gpkg"},
    }


def test_indicators_job_writes_tables_and_a_public_manifest(tmp_path):
    job = {**small_region(tmp_path), "section_length": 20 * KM, "node_importance": True}
    config = indicators.Config.from_mapping(job, base_dir=tmp_path)
    record = indicators.run(config, tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "protconn.csv")
    closed = table[(table["region"] == "AAA") & (table["scenario"] == "fence_closed")].iloc[0]
    assert closed["protconn_trans"] == 0  # the fence cuts the southern stepping-stone link
    shares = pd.read_csv(tmp_path / "out" / "sections.csv")
    south = shares[(shares["region"] == "AAA") & (shares["section_id"] == "AAA-BBB-01")]
    assert (south["gain"] > 0).all()  # opening the fence there restores the way through B
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["job"] == "indicators" and manifest["sensitivity"]["level"] == "public"
    assert record.figures["search_distance"] == pytest.approx(10_000 * np.log2(1e6))
    assert not list((tmp_path / "out").glob("*.tmp*"))


def test_indicators_config_errors_are_one_clear_line(tmp_path):
    job = small_region(tmp_path)
    with pytest.raises(ConfigError, match="Did you mean 'buffer'"):
        indicators.Config.from_mapping({**job, "bufer": 1.0})
    with pytest.raises(ConfigError, match="needs \\[landscape\\] resistance"):
        indicators.Config.from_mapping({**job, "distance": "least_cost"})
    with pytest.raises(ConfigError, match="must be one of 'edge', 'centroid'"):
        indicators.Config.from_mapping({**job, "distance": "euclid"})
    (tmp_path / "bad.toml").write_text('job = "indicators"\n[regions]\npath = "nowhere.gpkg"\n'
                                       '[protected_areas]\npath = "pas.gpkg"\n')  # fmt: skip
    result = runner.invoke(app, ["indicators", "run", str(tmp_path / "bad.toml")])
    assert result.exit_code == 1
    assert "nowhere.gpkg" in result.output and "Traceback" not in result.output


def test_hotspots_job_ranks_sections_and_is_restricted(tmp_path):
    job = {
        **small_region(tmp_path),
        "section_length": 10 * KM,
        "distance": 10 * KM,
        "draws": 50,
        "criteria": [{"name": "fence_closed_m"}, {"name": "pa_both_sides", "weight": 2.0}],
    }
    config = hotspots.Config.from_mapping(job, base_dir=tmp_path)
    record = hotspots.run(config, tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "hotspots.csv")
    assert len(table) == 4 and table["rank"].tolist() == sorted(table["rank"])
    fenced = set(table.loc[table["fence_closed_m"] > 0, "section_id"])
    assert fenced == {"AAA-BBB-01", "AAA-BBB-02"}
    layer = gpd.read_file(tmp_path / "out" / "hotspots.gpkg", layer="sections")
    assert list(layer["section_id"]) == list(table["section_id"])
    assert record.sensitivity == "restricted"


def test_hotspots_config_refuses_a_criterion_without_its_input(tmp_path):
    job = small_region(tmp_path)
    with pytest.raises(ConfigError, match="criterion 'current' needs current"):
        hotspots.Config.from_mapping(
            {**job, "section_length": 1e4, "criteria": [{"name": "current"}]}
        )
    with pytest.raises(ConfigError, match="give section_length"):
        hotspots.Config.from_mapping(job)
    config = hotspots.Config.from_mapping(
        {**job, "section_length": 1e4, "pairs": ["AAA-CCC"]}, base_dir=tmp_path
    )
    with pytest.raises(ConfigError, match="no border section found"):
        hotspots.run(config, tmp_path / "out")


def test_hotspots_current_criterion_sums_the_map_and_checks_its_grid(tmp_path):
    from crossings.core.grid import GridSpec
    from crossings.io.raster import write_geotiff

    job = small_region(tmp_path)
    grid = GridSpec.from_origin(0, 40 * KM, 2 * KM, (20, 50), ALBERS)
    current = np.zeros(grid.shape)
    current[:, 25] = 1.0  # the column just east of the boundary at x = 50 km
    write_geotiff(tmp_path / "current.tif", grid, current)
    config = hotspots.Config.from_mapping(
        {**job, "section_length": 20 * KM, "current": "current.tif", "draws": 10},
        base_dir=tmp_path,
    )
    hotspots.run(config, tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "hotspots.csv").set_index("section_id")
    # 20 km of boundary over 2 km cells: 10 cells each, plus the cell at the far end.
    assert sorted(table["current"].tolist()) == [10.0, 11.0]
    other = GridSpec.from_origin(0, 40 * KM, 2 * KM, (20, 50), "EPSG:3857")
    write_geotiff(tmp_path / "current.tif", other, current)
    with pytest.raises(ConfigError, match="the current map is in"):
        hotspots.run(config, tmp_path / "out2")
