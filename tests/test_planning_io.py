"""``crossings plan CONFIG.toml --out DIR`` end to end on a small synthetic landscape.

The inputs (resistance GeoTIFF, fence, focal areas, veto and candidate layers) are generated
in a temporary folder by each test; nothing is read from outside the repository.
"""

from __future__ import annotations

import csv
import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

from crossings.cli import app
from crossings.core.grid import GridSpec
from crossings.io.raster import write_geotiff
from crossings.io.vector import write_gpkg

# The veto layer is in EPSG:4326 on purpose: it is reprojected (with this warning) and the
# vetoed candidates below prove it landed in the right place.
pytestmark = pytest.mark.filterwarnings("ignore:.*reprojected from EPSG.4326")

ALBERS = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m"
CELL = 1000.0
N = 20
WEST, NORTH = -10_000.0, 10_000.0  # the grid spans -10..10 km around the CRS origin


def frame(geometries, crs=ALBERS, **columns):
    return gpd.GeoDataFrame(columns, geometry=list(geometries), crs=crs)


@pytest.fixture
def inputs(tmp_path):
    return make_inputs(tmp_path)


def make_inputs(tmp_path):
    """Resistance, fence, focal areas and a veto layer (in EPSG:4326) in ``tmp_path``."""
    rng = np.random.default_rng(5)
    grid = GridSpec.from_origin(WEST, NORTH, CELL, (N, N), ALBERS)
    write_geotiff(tmp_path / "resistance.tif", grid, np.exp(rng.uniform(0, 1.5, (N, N))))
    fence = shapely.LineString([(0.0, -12_000.0), (300.0, 12_000.0)])  # north-south, x ~ 0
    write_gpkg(
        tmp_path / "fences.gpkg",
        {"fences": frame([fence], fence_id=["F1"], permeability=[0.0], country_pair=["KAZ-UZB"])},
    )
    west = shapely.box(-10_000, -10_000, -7_000, 10_000)
    east = shapely.box(7_000, -10_000, 10_000, 10_000)
    same_side = shapely.box(-6_000, -10_000, -4_000, 10_000)
    write_gpkg(
        tmp_path / "focal.gpkg",
        {"areas": frame([west, east, same_side], name=["summer", "winter", "west2"])},
    )
    # A veto zone drawn in longitude/latitude (another CRS): a post at the grid centre.
    post = gpd.GeoSeries([shapely.Point(70.0, 2_000.0)], crs=ALBERS).to_crs("EPSG:4326")
    write_gpkg(tmp_path / "veto.gpkg", {"posts": frame(post, crs="EPSG:4326", name=["post A"])})
    return tmp_path


def write_config(folder, extra="", objective_sides=('"summer"', '"winter"')):
    text = f"""
[landscape]
resistance = "resistance.tif"
fences = "fences.gpkg"

[objective]
kind = "conductance"
focal_areas = "focal.gpkg"
id_column = "name"
side_a = [{objective_sides[0]}]
side_b = [{objective_sides[1]}]

[candidates]
spacing = 2000.0
types = ["lower_strands_removed", "full_gap"]

[constraints]
max_openings = 3
min_spacing = 3000.0
veto = "veto.gpkg"
veto_buffer = 1500.0
{extra}
"""
    path = folder / "plan.toml"
    path.write_text(text)
    return path


def run(config, out):
    return CliRunner().invoke(app, ["plan", str(config), "--out", str(out)])


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_plan_writes_every_output_and_lists_vetoed_candidates(inputs):
    out = inputs / "out"
    result = run(write_config(inputs), out)
    assert result.exit_code == 0, result.output
    for name in (
        "openings.csv",
        "openings.gpkg",
        "rejected.csv",
        "candidates.csv",
        "pareto.csv",
        "pareto.png",
        "current_before.png",
        "current_after.png",
        "run.toml",
        "manifest.json",
    ):
        assert (out / name).is_file(), name
    plan = read_csv(out / "openings.csv")
    assert [int(r["rank"]) for r in plan] == [1, 2, 3]
    assert {r["sensitivity"] for r in plan} == {"confidential"}
    assert float(plan[-1]["cumulative_gain"]) == pytest.approx(
        sum(float(r["gain"]) for r in plan), rel=1e-9
    )
    assert 0 < float(plan[0]["percent_of_no_fence"]) < float(plan[-1]["percent_of_no_fence"]) < 100
    assert all(-1 < float(r["lon"]) - 68 < 1 and -1 < float(r["lat"]) - 44 < 1 for r in plan)
    rejected = read_csv(out / "rejected.csv")
    vetoed = {r["candidate_id"] for r in rejected if r["rule"] == "veto_zone"}
    # The post (y = 2 km, about 14 km along the fence from its south end) with its 1.5 km
    # buffer covers the sites at 13 and 15 km (about 1 km away), not those at 11 and 17 km.
    types = ("lower_strands_removed", "full_gap")
    assert vetoed == {f"F1@{s}:{t}" for s in (13000, 15000) for t in types}
    assert not vetoed & {r["candidate_id"] for r in plan}
    chosen = gpd.read_file(out / "openings.gpkg")
    assert len(chosen) == 3 and chosen.crs.equals(gpd.GeoSeries(crs=ALBERS).crs)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["figures"]["candidates"] == 24
    assert any(i["path"].endswith("veto.gpkg") for i in manifest["inputs"])


def test_infeasible_constraints_give_an_empty_plan_and_a_message(inputs):
    out = inputs / "out"
    result = run(write_config(inputs, extra="budget = 0.5"), out)
    assert result.exit_code == 0, result.output
    assert read_csv(out / "openings.csv") == []
    rules = {r["rule"] for r in read_csv(out / "rejected.csv")}
    assert rules == {"veto_zone", "over_budget"}
    message = (out / "messages.txt").read_text()
    assert "no feasible opening" in message and "empty" in message


def test_focal_areas_on_one_side_only_exit_1_with_a_clear_message(inputs):
    result = run(write_config(inputs, objective_sides=('"summer"', '"west2"')), inputs / "out")
    assert result.exit_code == 1
    assert "same side of every fence" in result.output


def test_candidates_off_every_fence_exit_1_with_a_clear_message(inputs):
    far = frame(
        [shapely.Point(-8_000, 0), shapely.Point(8_000, 500)],
        candidate_id=["c1", "c2"],
        type=["full_gap", "full_gap"],
    )
    write_gpkg(inputs / "proposed.gpkg", {"proposed": far})
    config = (
        write_config(inputs)
        .read_text()
        .replace('types = ["lower_strands_removed", "full_gap"]', 'file = "proposed.gpkg"')
    )
    (inputs / "plan.toml").write_text(config)
    result = run(inputs / "plan.toml", inputs / "out")
    assert result.exit_code == 1
    assert "none of the 2 proposed openings lies within 1000 m of a fence" in result.output


def test_unknown_config_key_exit_1_and_names_the_key(inputs):
    result = run(write_config(inputs, extra="min_spaceing = 5.0"), inputs / "out")
    assert result.exit_code == 1
    assert "constraints.min_spaceing" in result.output and "min_spacing" in result.output


def test_exact_and_greedy_both_reported(inputs):
    out = inputs / "out"
    config = write_config(inputs).read_text() + '\n[selection]\nmethod = "both"\n'
    (inputs / "plan.toml").write_text(config)
    result = run(inputs / "plan.toml", out)
    assert result.exit_code == 0, result.output
    rows = read_csv(out / "openings.csv")
    best = {
        m: max(float(r["percent_of_no_fence"]) for r in rows if r["method"] == m)
        for m in ("greedy", "exact")
    }
    assert best["greedy"] <= best["exact"] * (1 + 1e-12)


def test_bundled_example_config_parses():
    from importlib import resources

    from crossings.jobs.plan import load_config

    path = resources.files("crossings") / "data" / "plan" / "example_plan.toml"
    config = load_config(str(path))
    assert config.landscape.demo and config.constraints.max_openings == 10


def test_demo_step_compares_the_scheme_with_the_best_openings(tmp_path):
    from crossings.core.fences import Fence, Opening
    from crossings.jobs.plan import demo_step
    from crossings.landscape import Landscape

    n = 60  # 60 km: the demo's three illustrative posts (5 km buffers) leave room for openings
    grid = GridSpec.from_origin(0.0, n * CELL, CELL, (n, n), ALBERS)
    fence = Fence("F1", [(-500.0, 30_300.0), (n * CELL + 500.0, 29_700.0)], country_pair="KAZ-UZB")
    scheme = tuple(
        Opening("F1", x, 30_000.0, 4.0, 1.0, "lower_strands_removed", f"O{k}")
        for k, x in enumerate(np.arange(500.0, n * CELL, 1000.0))
    )
    ranges = frame(
        [shapely.box(0, 50_000, n * CELL, n * CELL), shapely.box(0, 0, n * CELL, 10_000)],
        name=["summer (illustrative)", "winter (illustrative)"],
        season=["summer", "winter"],
        illustrative=[True, True],
    )
    rng = np.random.default_rng(3)
    land = Landscape(grid, np.exp(rng.uniform(0, 1, (n, n))), (fence,), scheme, ranges=ranges)
    lines = demo_step(land, tmp_path)
    text = "\n".join(lines)
    assert "1-km lower-strand scheme (60 openings)" in text and "best 5:" in text
    assert (tmp_path / "plan" / "openings.csv").is_file()
    assert (tmp_path / "plan" / "manifest.json").is_file()
    plan = read_csv(tmp_path / "plan" / "openings.csv")
    percents = [float(r["percent_of_no_fence"]) for r in plan]
    assert len(plan) >= 5
    assert percents == sorted(percents) and 0 < percents[0] and percents[-1] < 100


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("budget = -1.0", "constraints.budget"),
        ('max_per_border = { "KAZ-UZB" = 1.5 }', "constraints.max_per_border"),
    ],
)
def test_bad_constraint_values_exit_1_naming_the_field(inputs, extra, field):
    result = run(write_config(inputs, extra=extra), inputs / "out")
    assert result.exit_code == 1
    assert field in result.output


@pytest.mark.parametrize("kind", ["pairwise", "fence_current"])
def test_other_objectives_run_end_to_end(inputs, kind):
    out = inputs / "out"
    text = write_config(inputs).read_text().replace('kind = "conductance"', f'kind = "{kind}"')
    if kind == "pairwise":  # two areas on the west side, one on the east
        text = text.replace('side_a = ["summer"]', 'side_a = ["summer", "west2"]')
    (inputs / "plan.toml").write_text(text)
    result = run(inputs / "plan.toml", out)
    assert result.exit_code == 0, result.output
    plan = read_csv(out / "openings.csv")
    assert len(plan) == 3
    restored = [float(r["percent_of_loss_restored"]) for r in plan]
    assert 0 < restored[0] < restored[1] < restored[2] < 100


def test_sectors_patrol_and_border_quota_from_the_config(inputs):
    road = frame([shapely.LineString([(-10_000, -5_000), (10_000, -5_000)])], name=["road"])
    write_gpkg(inputs / "patrol.gpkg", {"roads": road})
    extra = """patrol = "patrol.gpkg"
patrol_distance = 6500.0
max_per_border = { "KAZ-UZB" = 2 }

[[constraints.sectors]]
name = "south"
fence_id = "F1"
start = 0.0
end = 8000.0
allowed_types = ["lower_strands_removed"]
"""
    out = inputs / "out"
    result = run(write_config(inputs, extra=extra), out)
    assert result.exit_code == 0, result.output
    plan = read_csv(out / "openings.csv")
    assert len(plan) == 2  # the border quota
    rules = {}
    for row in read_csv(out / "rejected.csv"):
        rules.setdefault(row["rule"], set()).add(row["candidate_id"])
    # Sites at 1, 3, 5, 7 km along the fence are in the sector: full gaps not allowed there.
    assert rules["type_not_allowed"] == {f"F1@{s}:full_gap" for s in (1000, 3000, 5000, 7000)}
    # The road is at y = -5 km, 7 km along the fence: sites beyond 13.5 km are too far (those
    # at 13 and 15 km are already vetoed, the first rule that applies is the one listed).
    assert {c.split(":")[0] for c in rules["patrol_distance"]} == {
        f"F1@{s}" for s in range(17000, 24000, 2000)
    }
    chosen = {r["candidate_id"] for r in plan}
    assert not chosen & set().union(*rules.values())
    assert (out / "run.toml").read_text().count("[[constraints.sectors]]") == 1
