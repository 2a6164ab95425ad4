"""No traceback without --debug: bad files give one line naming file, line/field and fix."""

from __future__ import annotations

import numpy as np
import pytest
from test_circuit_cli import _asc, _corners, _job
from test_connectivity import _write_job as write_connectivity_job
from typer.testing import CliRunner

from crossings.cli import app
from crossings.errors import ConfigError, InputFileError
from crossings.io.raster import read_raster


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.output.count("\n") == 1, result.output
    return result.output


def test_corrupt_ascii_header_names_file_line_and_key(tmp_path):
    ini = _job(tmp_path, np.ones((3, 3)), _corners((3, 3)), solver="cg+amg")
    habitat = tmp_path / "habitat.asc"
    habitat.write_text(habitat.read_text().replace("ncols 3", "ncols three", 1))
    line = one_line(invoke("circuitscape", "run", ini), 1)
    assert "habitat.asc" in line and "line 1" in line and "ncols" in line and "'three'" in line
    with pytest.raises(InputFileError, match="line 1: ncols must be a number; got 'three'"):
        read_raster(habitat, allow_missing_crs=True)


def test_unknown_header_key_is_named_with_its_line(tmp_path):
    grid = _asc(tmp_path / "g.asc", np.ones((2, 2)))
    grid.write_text(grid.read_text().replace("cellsize 1", "cellsise 1"))
    with pytest.raises(InputFileError, match="line 5: 'cellsise' is not a grid header key"):
        read_raster(grid, allow_missing_crs=True)


def test_corrupt_geotiff_is_one_line_and_exit_1(tmp_path):
    write_connectivity_job(tmp_path)
    tif = tmp_path / "resistance.tif"
    data = bytearray(tif.read_bytes())
    data[len(data) // 3 :] = b"\xff" * (len(data) - len(data) // 3)  # a garbled tail
    tif.write_bytes(bytes(data[: len(data) * 2 // 3]))
    line = one_line(invoke("connectivity", "run", tmp_path / "job.toml", "--out", tmp_path), 1)
    assert "resistance.tif" in line and "cannot be read as a raster" in line


@pytest.mark.parametrize("command", [["plan"], ["connectivity", "run"], ["run"]])
def test_random_bytes_toml_is_one_line_and_exit_1(tmp_path, command):
    path = tmp_path / "job.toml"
    path.write_bytes(np.random.default_rng(7).integers(0, 256, 600, dtype=np.uint8).tobytes())
    line = one_line(invoke(*command, path), 1)
    assert "job.toml" in line and ("not UTF-8" in line or "not valid TOML" in line)


def test_unexpected_error_is_one_line_naming_command_and_input_exit_3(tmp_path, monkeypatch):
    from crossings.jobs import connectivity

    write_connectivity_job(tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(connectivity, "run", broken)
    line = one_line(invoke("connectivity", "run", tmp_path / "job.toml"), 3)
    assert "crossings connectivity run" in line and "job.toml" in line
    assert "RuntimeError: boom" in line and "rerun with --debug and report it" in line
    debug = invoke("--debug", "connectivity", "run", tmp_path / "job.toml")
    assert isinstance(debug.exception, RuntimeError)


def test_ids_in_messages_have_no_numpy_repr(tmp_path):
    from crossings.errors import CrossingsWarning
    from crossings.io.gps import read_tracks

    tracks = tmp_path / "t.csv"
    tracks.write_text(
        "id,timestamp,x,y\nInd1,2014-01-01T04:00:00Z,0,0\nInd1,2014-01-01T02:00:00Z,1,1\n"
        "Ind1,2014-01-01T06:00:00Z,2,2\n"
    )
    with pytest.warns(CrossingsWarning, match="individual 'Ind1'") as caught:
        read_tracks(tracks, crs="EPSG:32612")
    assert not any("np." in str(w.message) for w in caught)


def test_reversed_deployment_shows_iso_dates():
    from crossings.core.camtrap import Deployment

    with pytest.raises(ConfigError) as caught:
        Deployment("d1", "C1", "F1", "O1", start=1_700_000_000, end=1_699_000_000)
    assert "2023-11-14T22:13:20Z" in str(caught.value) and "1700000000" not in str(caught.value)


def test_problem_counts_add_up():
    from crossings.io.camtrap_dp import table_errors, table_schema

    fields = [f["name"] for f in table_schema("deployments")["fields"]]
    rows = [dict.fromkeys(fields, "") for _ in range(342)]
    errors = table_errors(rows, fields, "deployments")
    required = sum(bool(f.get("constraints", {}).get("required"))
                   for f in table_schema("deployments")["fields"])  # fmt: skip
    assert len(errors) == 342 * required
