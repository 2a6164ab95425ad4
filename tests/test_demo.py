"""``crossings demo`` end to end through the CLI, and the pluggable demo steps."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
from PIL import Image
from pyproj import CRS
from typer.testing import CliRunner

from crossings.cli import app
from crossings.demo import DEMO_STEPS, run_demo
from crossings.errors import ConfigError
from crossings.landscape import load_demo

ALBERS = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m"


@pytest.fixture(scope="module")
def demo_run(demo_cli_run):
    return demo_cli_run


def test_cli_demo_exits_zero_and_prints_summary(demo_run):
    result, out = demo_run
    assert result.exit_code == 0, result.output
    assert "fence: 22 segments" in result.output
    assert "illustrative layers: protected_areas, ranges" in result.output
    for name in ("resistance.tif", "fences.gpkg", "landscape.png", "run.toml", "manifest.json"):
        assert (out / name).is_file(), name


def test_cli_demo_runs_every_step(demo_run):
    result, out = demo_run
    for name in (
        "connectivity/pairs.csv",
        "connectivity/cum_current_difference_no_fence_minus_fence_closed.tif",
        "plan/openings.csv",
        "plan/pareto.png",
        "tracks/events.csv",
        "tracks/manifest.json",
        "camera/events.csv",
        "camera/camtrapdp/datapackage.json",
        "omniscape/cum_currmap_difference_fence_mitigated_minus_fence_closed.tif",
        "omniscape/manifest.json",
    ):
        assert (out / name).is_file(), name
    text = " ".join(result.output.split())
    assert "fence closed (as built):" in text and "best 20:" in text
    assert "SYNTHETIC" in text


def test_demo_geotiff_has_crs_and_the_landscape_values(demo_run):
    _, out = demo_run
    landscape = load_demo(mitigation=True)
    with rasterio.open(out / "resistance.tif") as src:
        assert src.crs is not None
        assert CRS.from_user_input(src.crs) == CRS.from_user_input(ALBERS)
        assert tuple(src.transform)[:6] == landscape.grid.transform
        values = src.read(1, masked=True)
    got = values.filled(np.nan).astype(float)
    np.testing.assert_allclose(got, landscape.resistance, rtol=1e-6, equal_nan=True)


def test_demo_geopackage_holds_fences_and_openings(demo_run):
    _, out = demo_run
    layers = dict(pyogrio.list_layers(out / "fences.gpkg"))
    assert set(layers) == {"fences", "openings"}
    fences = pyogrio.read_dataframe(out / "fences.gpkg", layer="fences")
    openings = pyogrio.read_dataframe(out / "fences.gpkg", layer="openings")
    assert CRS.from_user_input(fences.crs) == CRS.from_user_input(ALBERS)
    assert len(fences) == 22 and (fences["permeability"] == 0).all()
    assert fences.geometry.length.sum() > 150_000
    assert len(openings) > 150 and set(openings["fence_id"]) <= set(fences["fence_id"])
    assert fences["alignment"].str.contains("not public").all()
    assert openings["width_basis"].str.startswith("assumption").all()


def test_demo_map_is_a_png_of_reasonable_size(demo_run):
    _, out = demo_run
    with Image.open(out / "landscape.png") as image:
        assert image.format == "PNG"
        assert image.width >= 1200 and image.height >= 1200
        pixels = np.asarray(image.convert("RGB"))
    # not blank: the map has many colours (raster, fence red, ranges)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 60) & (pixels[..., 2] < 80)
    assert red.sum() > 500  # the fence is drawn


def test_demo_manifest_records_outputs_with_checksums(demo_run):
    _, out = demo_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "crossings demo"
    outputs = {Path(rec["path"]).name: rec for rec in manifest["outputs"]}
    assert {"resistance.tif", "fences.gpkg", "landscape.png"} <= set(outputs)
    record = outputs["resistance.tif"]
    assert record["sha256"] == hashlib.sha256((out / "resistance.tif").read_bytes()).hexdigest()
    assert {Path(rec["path"]).name for rec in manifest["inputs"]} >= {
        "resistance.tif",
        "layers.gpkg",
    }
    run = tomllib.loads((out / "run.toml").read_text())
    assert run["mitigation"] is True and run["steps"] == list(map(str, DEMO_STEPS))


def test_demo_steps_are_pluggable(tmp_path):
    seen = []

    def extra_step(landscape, out_dir):
        seen.append(len(landscape.fences))
        (out_dir / "extra.txt").write_text("x")
        return ["extra: done"]

    summary = run_demo(tmp_path, steps=[extra_step], mitigation=False)
    assert seen == [22]
    assert summary.lines == ("extra: done",)
    assert tmp_path / "extra.txt" in summary.outputs
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [Path(r["path"]).name for r in manifest["outputs"]] == ["extra.txt"]
    with pytest.raises(ConfigError, match="cannot load demo step 'crossings.nowhere:step'"):
        run_demo(tmp_path, steps=["crossings.nowhere:step"])


def test_cli_demo_bad_output_folder_is_one_line_exit_1(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(app, ["demo", "--out", str(blocker)])
    assert result.exit_code == 1
    assert "is a file, not a folder" in result.output
    assert "Traceback" not in result.output
