"""``crossings tracks classify|rank`` through the public command line."""

import csv
import json
from pathlib import Path

import pyogrio
from typer.testing import CliRunner

from crossings.cli import app

DATA = Path(__file__).parent / "data" / "baba"
runner = CliRunner()


def _tracks(command: str, tracks: Path, out: Path, *extra):
    """``crossings tracks <command>`` on ``tracks`` and the Wyoming fences at 90 m."""
    args = ["tracks", command, tracks, DATA / "fences.gpkg", "--distance", "90"]
    args += ["--crs", "EPSG:32612", "--out", out, *extra]
    return runner.invoke(app, [str(a) for a in args])


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_classify_writes_the_r_package_table(tmp_path):
    out = tmp_path / "events.csv"
    result = _tracks("classify", DATA / "muleDeer.csv", out, "--gpkg", tmp_path / "points.gpkg")
    assert result.exit_code == 0, result.output
    assert "201 encounter events" in result.output
    mine = _rows(out)
    reference = _rows(DATA / "reference" / "muleDeer_d90_default_classification.csv")
    assert [{k: r[k] for k in reference[0]} for r in mine] == reference
    assert all(r["fence_id"] for r in mine)
    layers = dict(pyogrio.list_layers(tmp_path / "points.gpkg"))
    assert set(layers) == {"encounters", "crossings"}
    assert len(pyogrio.read_dataframe(tmp_path / "points.gpkg", layer="encounters")) == 201
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["figures"]["events"] == 201
    assert "distance = 90.0" in (tmp_path / "run.toml").read_text()


def test_rank_writes_table_crossings_monthly_and_plots(tmp_path):
    out = tmp_path / "rank.csv"
    result = _tracks("rank", DATA / "muleDeer.csv", out, "--plots", tmp_path / "plots")
    assert result.exit_code == 0, result.output
    table = _rows(out)
    assert {"fence_id", "Bounce", "unique_ind", "total_enc", "index", "crossings"} <= set(table[0])
    assert max(float(r["index"]) for r in table if r["index"] != "NA") == 1.0
    crossings = _rows(tmp_path / "rank_crossings.csv")
    monthly = _rows(tmp_path / "rank_crossings_per_month.csv")
    assert sum(int(r["crossings"]) for r in monthly) == len(crossings) > 0
    assert sum(int(r["crossings"]) for r in table) <= len(crossings)
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pngs == ["classes_per_fence.png", "track_416_2014.png", "track_419_2014.png"]


def test_bad_input_is_one_line_and_exit_code_1(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,when,x,y\na,2014-01-01T00:00:00Z,1,2\n")
    result = _tracks("classify", bad, tmp_path / "e.csv")
    assert result.exit_code == 1
    assert "missing column(s) timestamp" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "e.csv").exists()


def test_no_encounter_is_a_note_and_an_empty_table(tmp_path):
    far = tmp_path / "far.csv"
    far.write_text("id,timestamp,x,y\na,2014-01-01T00:00:00Z,0,0\na,2014-01-01T02:00:00Z,9,9\n")
    out = tmp_path / "events.csv"
    result = _tracks("classify", far, out)
    assert result.exit_code == 0, result.output
    assert "no fix lies within 90 m" in result.output
    assert out.read_text().startswith("AnimalID,burstID") and len(_rows(out)) == 0
