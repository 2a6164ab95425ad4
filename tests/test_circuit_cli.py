"""Bad input and run behaviour of ``crossings circuitscape run``: clear errors and exit codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import crossings.io.circuitscape as cs
from crossings.cli import app
from crossings.errors import ConfigError

TEMPLATE = """[Circuitscape mode]
data_type = raster
scenario = {scenario}
[Habitat raster or graph]
habitat_file = {habitat}
habitat_map_is_resistances = True
[Connection scheme for raster habitat data]
connect_four_neighbors_only = False
connect_using_avg_resistances = True
[Options for pairwise and one-to-all and all-to-one modes]
point_file = {points}
[Calculation options]
solver = {solver}
[Output options]
output_file = {output}
write_cur_maps = {maps}
"""


def _asc(path: Path, values: np.ndarray) -> Path:
    rows, cols = values.shape
    header = (
        f"ncols {cols}\nnrows {rows}\nxllcorner 0\nyllcorner 0\ncellsize 1\nNODATA_value -9999\n"
    )
    body = "\n".join(" ".join(f"{v:g}" for v in row) for row in np.nan_to_num(values, nan=-9999))
    path.write_text(header + body + "\n")
    return path


def _job(tmp_path: Path, resistance, points, *, scenario="pairwise", solver="auto", maps=True):
    habitat = _asc(tmp_path / "habitat.asc", resistance)
    point_file = _asc(tmp_path / "points.asc", points)
    ini = tmp_path / "job.ini"
    ini.write_text(
        TEMPLATE.format(
            scenario=scenario,
            habitat=habitat,
            points=point_file,
            solver=solver,
            output=tmp_path / "out" / "job.out",
            maps=maps,
        )
    )
    return ini


def _use_point_list(ini: Path, lines: str) -> None:
    """Point the job at a text list of focal points (``id x y`` lines) instead of its grid."""
    sites = ini.parent / "sites.txt"
    sites.write_text(lines)
    ini.write_text(ini.read_text().replace(str(ini.parent / "points.asc"), str(sites)))


def _run(*args: str):
    return CliRunner().invoke(app, ["circuitscape", "run", *map(str, args)])


def _corners(shape, ids=(1, 2)):
    points = np.zeros(shape)
    points[0, 0], points[-1, -1] = ids
    return points


def test_a_small_job_runs_and_writes_circuitscape_files(tmp_path):
    ini = _job(tmp_path, np.ones((4, 5)), _corners((4, 5)))
    result = _run(ini)
    assert result.exit_code == 0, result.output
    assert "1 pair(s)" in result.output and "estimated memory" in result.output
    out = tmp_path / "out"
    for name in ("job_resistances.out", "job_resistances_3columns.out", "job_cum_curmap.asc"):
        assert (out / name).exists()
    assert (out / "run.toml").exists() and (out / "manifest.json").exists()
    assert not list(out.glob("*.part*"))


def test_missing_input_file_names_the_file_and_key(tmp_path):
    ini = _job(tmp_path, np.ones((3, 3)), _corners((3, 3)))
    ini.write_text(ini.read_text().replace(str(tmp_path / "habitat.asc"), "nowhere/habitat.asc"))
    result = _run(ini)
    assert result.exit_code == 1
    assert "habitat.asc" in result.output and "habitat_file" in result.output


def test_unknown_key_and_bad_values_name_key_and_allowed_values(tmp_path):
    ini = _job(tmp_path, np.ones((3, 3)), _corners((3, 3)))
    text = ini.read_text()
    ini.write_text(text + "write_cur_map = True\n")
    result = _run(ini)
    assert result.exit_code == 1 and "write_cur_map" in result.output
    assert "Did you mean 'write_cur_maps'?" in result.output
    ini.write_text(text.replace("solver = auto", "solver = chol"))
    result = _run(ini)
    assert result.exit_code == 1 and "'solver'" in result.output and "'cholmod'" in result.output
    ini.write_text(text.replace("write_cur_maps = True", "write_cur_maps = maybe"))
    result = _run(ini)
    assert result.exit_code == 1 and "True, False" in result.output


def test_zero_or_negative_resistance_is_refused(tmp_path):
    resistance = np.ones((3, 3))
    resistance[1, 2] = 0
    result = _run(_job(tmp_path, resistance, _corners((3, 3))))
    assert result.exit_code == 1 and "zero or negative resistance" in result.output
    assert "(1, 2)" in result.output


def test_focal_points_outside_the_grid_are_refused(tmp_path):
    ini = _job(tmp_path, np.ones((3, 3)), _corners((3, 3)))
    _use_point_list(ini, "1 0.5 0.5\n2 7.5 0.5\n")
    result = _run(ini)
    assert result.exit_code == 1 and "outside the habitat grid" in result.output
    assert "x=7.5" in result.output


def test_focal_points_on_nodata_warn_and_give_minus_one(tmp_path):
    resistance = np.ones((3, 4))
    resistance[0, 0] = np.nan
    points = _corners((3, 4))
    points[1, 1] = 3
    ini = _job(tmp_path, resistance, points, maps=False)
    with pytest.warns(UserWarning, match=r"NoData \(ids \[1\]\)"):
        result = _run(ini)
    assert result.exit_code == 0, result.output
    table = np.loadtxt(tmp_path / "out" / "job_resistances.out")
    assert table[1, 2] == -1 and table[2, 3] > 0


def test_all_focal_points_in_one_cell_is_refused(tmp_path):
    ini = _job(tmp_path, np.ones((3, 3)), _corners((3, 3)))
    _use_point_list(ini, "1 1.5 1.5\n2 1.5 1.5\n3 1.2 1.7\n")
    result = _run(ini)
    assert result.exit_code == 1 and "one cell" in result.output


def test_exploding_pair_count_warns_with_the_count_before_solving(tmp_path):
    points = np.arange(1, 49, dtype=float).reshape(6, 8)  # 48 ids -> 1,128 pairs
    ini = _job(tmp_path, np.ones((6, 8)), points, maps=False)
    result = _run(ini)
    assert result.exit_code == 0, result.output
    assert "1,128 pairs will be solved" in result.output


def test_plan_that_does_not_fit_is_refused_with_the_option(tmp_path):
    ini = _job(tmp_path, np.ones((5, 5)), _corners((5, 5)))
    result = _run(ini, "--max-memory-gb", "0.000001")
    assert result.exit_code == 1 and "--max-memory-gb" in result.output
    assert not (tmp_path / "out" / "job_resistances.out").exists()


def test_solve_that_cannot_converge_exits_with_code_3(tmp_path):
    rng = np.random.default_rng(0)
    resistance = 10 ** rng.uniform(-3, 3, size=(40, 40))
    ini = _job(tmp_path, resistance, _corners((40, 40)), solver="cg+amg")
    result = _run(ini, "--max-iterations", "1")
    assert result.exit_code == 3, result.output
    assert "did not converge" in result.output


def test_interrupt_leaves_no_half_written_output(tmp_path, monkeypatch):
    points = np.zeros((4, 4))
    points[0, 0], points[3, 3], points[0, 3] = 1, 2, 3
    ini = _job(tmp_path, np.ones((4, 4)), points)
    calls = []

    def interrupt_on_second(path, values, meta, **options):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return write_grid(path, values, meta, **options)

    write_grid = cs.write_grid
    monkeypatch.setattr(cs, "write_grid", interrupt_on_second)
    result = _run(ini)
    assert result.exit_code == 130
    out = tmp_path / "out"
    assert not list(out.glob(".*part*")) and not list(out.glob("*.part*"))
    assert not (out / "job_resistances.out").exists()


def test_all_nodata_habitat_is_refused(tmp_path):
    result = _run(_job(tmp_path, np.full((3, 3), np.nan), _corners((3, 3))))
    assert result.exit_code == 1 and "no valid cell" in result.output


def test_network_jobs_dispatch_or_explain(tmp_path):
    ini = _job(tmp_path, np.ones((3, 3)), _corners((3, 3)))
    ini.write_text(ini.read_text().replace("data_type = raster", "data_type = graph"))
    result = _run(ini)
    assert result.exit_code == 1 and "'network'" in result.output


def test_ini_parser_accepts_circuitscape_placeholders_and_comments():
    text = (
        "; a comment\n[Options]\npolygon_file = (Browse for a short-circuit region file)\n"
        "remove_src_or_gnd = not entered\nscenario = one-to-all\nsolver = cg+amg\n"
    )
    config = cs.parse_ini_text(text)
    assert config.polygon_file is None and config.remove_src_or_gnd is cs.RemovePolicy.KEEPALL
    assert config.scenario is cs.Scenario.ONE_TO_ALL and config.solver is cs.SolverName.CG_AMG
    with pytest.raises(ConfigError, match="'pairwise', 'advanced'"):
        cs.parse_ini_text("scenario = pairs")


def test_grid_readers_agree_on_ascii_gzip_and_geotiff():
    data = Path(__file__).parent / "data" / "circuitscape" / "input" / "raster"
    asc, meta = cs.read_grid(data / "advanced" / "3" / "cellmap10x10.asc")
    tif, tif_meta = cs.read_grid(data / "advanced" / "3" / "cellmap10x10.tif")
    np.testing.assert_array_equal(np.isnan(asc), np.isnan(tif))
    np.testing.assert_allclose(asc[~np.isnan(asc)], tif[~np.isnan(tif)])
    assert meta.same_grid(tif_meta)
    plain, _ = cs.read_grid(data / "advanced" / "3" / "regions_grid.asc")
    zipped, _ = cs.read_grid(data / "advanced" / "3" / "regions_grid.tif.gz")
    np.testing.assert_array_equal(np.nan_to_num(plain), np.nan_to_num(zipped))


def test_write_as_tif_writes_geotiff_maps_matching_the_ascii_ones(tmp_path):
    import rasterio

    ini = _job(tmp_path, np.ones((4, 5)), _corners((4, 5)))
    assert _run(ini).exit_code == 0
    ascii_map = np.loadtxt(tmp_path / "out" / "job_cum_curmap.asc", skiprows=6)
    ini.write_text(ini.read_text() + "write_as_tif = True\n")
    result = _run(ini, "--out-dir", tmp_path / "tif")
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "tif" / "job_cum_curmap.tif") as dataset:
        np.testing.assert_allclose(dataset.read(1), ascii_map, atol=1e-8)
        assert dataset.transform.c == 0 and dataset.transform.f == 4


def test_log_transform_and_null_currents_apply_to_written_maps(tmp_path):
    resistance = np.ones((4, 5))
    resistance[1, 2] = np.nan
    ini = _job(tmp_path, resistance, _corners((4, 5)))
    assert _run(ini).exit_code == 0
    plain = np.loadtxt(tmp_path / "out" / "job_cum_curmap.asc", skiprows=6)
    extra = "log_transform_maps = True\nset_null_currents_to_nodata = True\n"
    ini.write_text(ini.read_text() + extra)
    assert _run(ini, "--out-dir", tmp_path / "log").exit_code == 0
    logged = np.loadtxt(tmp_path / "log" / "job_cum_curmap.asc", skiprows=6)
    assert logged[1, 2] == -9999
    positive = plain > 0
    np.testing.assert_allclose(logged[positive], np.log10(plain[positive]), atol=1e-7)


def test_misaligned_mask_names_both_grids(tmp_path):
    ini = _job(tmp_path, np.ones((3, 3)), _corners((3, 3)))
    _asc(tmp_path / "mask.asc", np.ones((4, 3)))
    ini.write_text(ini.read_text() + f"use_mask = True\nmask_file = {tmp_path / 'mask.asc'}\n")
    result = _run(ini)
    assert result.exit_code == 1 and "mask_file" in result.output
    assert "4 x 3" in result.output and "3 x 3" in result.output


def test_missing_scenario_is_an_error_listing_the_modes():
    with pytest.raises(ConfigError, match="scenario.*'pairwise', 'advanced', 'one-to-all'"):
        cs.parse_ini_text("habitat_file = a.asc\n")


def test_grids_are_written_as_savetxt_writes_them_byte_for_byte(tmp_path):
    """The array-built ASCII text equals ``np.savetxt(fmt="%.15g")`` of the 8-decimal map,
    also for -0, tiny and huge values, NoData and values no 8-decimal map holds."""
    import io

    rng = np.random.default_rng(5)
    values = 10.0 ** rng.uniform(-12, 9, (40, 37)) * rng.choice([-1, 1], (40, 37))
    values[0, :8] = [-1e-9, 0.0, 1e-4, 9.999e-5, 9999999.99999999, 1e7, np.inf, -np.inf]
    values[1, :3] = [np.nan, 0.1, -0.00012]
    meta = cs.AsciiMeta(ncols=37, nrows=40, xllcorner=0.0, yllcorner=0.0, cellsize=1.0)
    path = cs.write_grid(tmp_path / "map.asc", values, meta)
    expected = io.StringIO()
    data = np.where(np.isnan(values), -9999.0, np.round(values, 8))
    np.savetxt(expected, data, fmt="%.15g", delimiter=" ")
    lines = path.read_text().splitlines(keepends=True)
    assert "".join(lines[6:]) == expected.getvalue()
    assert lines[6].split()[:3] == ["-0", "0", "0.0001"] and "-9999" in lines[7]


def test_an_ascii_job_runs_without_gdal_proj_or_pydantic(tmp_path):
    """A process's fixed cost: an ASCII job reads its grids itself, so importing rasterio and
    pyproj is waste, and so is pydantic (typer 0.29 converts options through it; pyproject keeps
    typer below that): each a tenth of a second (``bench/circuit.py --cases startup``)."""
    import subprocess
    import sys

    ini = _job(tmp_path, np.ones((4, 5)), _corners((4, 5)))
    code = (
        "import sys\nfrom crossings.cli import main\n"
        f"sys.argv = ['crossings', 'circuitscape', 'run', {str(ini)!r}]\n"
        "try:\n    main()\n"
        "except SystemExit as exit:\n    assert exit.code in (0, None), exit.code\n"
        "print([m for m in ('rasterio', 'pyproj', 'pandas', 'pydantic') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr
    assert (tmp_path / "out" / "job_cum_curmap.asc").exists()


@pytest.mark.parametrize(
    ("scenario", "maps"), [("pairwise", True), ("pairwise", False), ("one-to-all", True)]
)
def test_a_job_frees_its_graph_before_the_solves(tmp_path, monkeypatch, scenario, maps):
    """The graph's edge arrays are the largest thing a run need not keep (128 MB at 4M cells):
    neither the job's inputs nor the engine may hold the graph while it solves."""
    import weakref

    from crossings.core import solve

    graphs, alive_at_solve = [], []
    build = cs.JobInputs.build_graph
    solve_columns = solve.SPDSolver.solve

    def recorded_build(self):
        graph = build(self)
        graphs.append(weakref.ref(graph))
        return graph

    def checked_solve(self, rhs):
        alive_at_solve.append(sum(ref() is not None for ref in graphs))
        return solve_columns(self, rhs)

    monkeypatch.setattr(cs.JobInputs, "build_graph", recorded_build)
    monkeypatch.setattr(solve.SPDSolver, "solve", checked_solve)
    resistance = 1 + np.arange(30.0).reshape(5, 6)
    ini = _job(tmp_path, resistance, _corners((5, 6)), scenario=scenario, maps=maps)
    result = _run(ini)
    assert result.exit_code == 0, result.output
    assert graphs and alive_at_solve and set(alive_at_solve) == {0}
    assert any((tmp_path / "out").glob("*cum_curmap.asc")) == maps


@pytest.mark.parametrize("four", [False, True])
def test_the_plans_edge_count_without_a_graph_equals_the_graphs(four):
    """Large jobs are planned from the validity mask alone (no graph is built twice)."""
    from crossings.core.graph import build_graph
    from crossings.core.grid import GridSpec

    rng = np.random.default_rng(4)
    conductance = np.where(rng.random((17, 13)) < 0.3, np.nan, rng.uniform(0.1, 9, (17, 13)))
    graph = build_graph(
        GridSpec.from_origin(0, 17, 1, (17, 13), "EPSG:3857"), conductance, connect_four=four
    )
    assert cs._neighbour_pairs(graph.valid, four) == graph.edges()[0].size
