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
    """With spikes kept (the R package has no quality control) the events are R's."""
    out = tmp_path / "events.csv"
    result = _tracks("classify", DATA / "muleDeer.csv", out, "--gpkg", tmp_path / "points.gpkg",
                     "--keep-outliers")  # fmt: skip
    assert result.exit_code == 0, result.output
    qc = _rows(tmp_path / "events_qc.csv")
    assert [(r["animal_id"], r["spikes"], r["bursts"]) for r in qc] == [
        ("416_2014", "4", "1"),
        ("419_2014", "3", "1"),
    ]
    assert "7 spike(s) flagged (kept" in result.output
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
    index = [float(r["index"]) if r["index"] != "NA" else -1.0 for r in table]
    assert index == sorted(index, reverse=True)  # highest barrier index first, NA last
    crossings = _rows(tmp_path / "rank_crossings.csv")
    monthly = _rows(tmp_path / "rank_crossings_per_month.csv")
    assert sum(int(r["crossings"]) for r in monthly) == len(crossings) > 0
    assert sum(int(r["crossings"]) for r in table) == len(crossings)  # every crossed fence
    assert {r["qc_flag"] for r in crossings} <= {"ok", "near_outlier", "missed_fixes",
                                                  "near_outlier;missed_fixes"}  # fmt: skip
    assert "FID_Fence0" in table[0]  # the fence attributes travel with the table
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


def test_default_qc_drops_the_spikes_before_classifying(tmp_path):
    out = tmp_path / "events.csv"
    result = _tracks("classify", DATA / "muleDeer.csv", out)
    assert result.exit_code == 0, result.output
    assert "7 spike(s) flagged;" in result.output
    reference = _rows(DATA / "reference" / "muleDeer_d90_default_classification.csv")
    assert len(_rows(out)) != len(reference) or _rows(out) != reference


def test_spike_thresholds_are_set_from_the_command_line(tmp_path):
    from baba_data import read_tracks

    from crossings.core.track_qc import QCConfig, quality_control

    strict = _tracks("classify", DATA / "muleDeer.csv", tmp_path / "strict" / "events.csv",
                     "--spike-speed-factor", "10", "--spike-cos", "-0.99")  # fmt: skip
    assert strict.exit_code == 0, strict.output
    strict_config = QCConfig(spike_speed_factor=10, spike_cos=-0.99)
    expected = quality_control(read_tracks("muleDeer"), strict_config).summary
    qc = _rows(tmp_path / "strict" / "events_qc.csv")
    assert [int(r["spikes"]) for r in qc] == expected["spikes"].tolist() == [8, 16]
    toml = (tmp_path / "strict" / "run.toml").read_text()
    assert "spike_speed_factor = 10.0" in toml and "spike_cos = -0.99" in toml
    # so lenient that none of the 7 default spikes is one: the events are the R package's
    lenient = _tracks("classify", DATA / "muleDeer.csv", tmp_path / "lenient" / "events.csv",
                      "--spike-speed-factor", "40")  # fmt: skip
    assert lenient.exit_code == 0, lenient.output
    assert "0 spike(s) flagged;" in lenient.output
    reference = _rows(DATA / "reference" / "muleDeer_d90_default_classification.csv")
    mine = _rows(tmp_path / "lenient" / "events.csv")
    assert [{k: r[k] for k in reference[0]} for r in mine] == reference


def test_a_spike_threshold_out_of_range_is_one_line(tmp_path):
    result = _tracks("classify", DATA / "muleDeer.csv", tmp_path / "e.csv", "--spike-cos", "-2")
    assert result.exit_code == 1
    assert "'--spike-cos'" in result.output and "within -1 and 1; got -2.0" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "e.csv").exists()


def _gap_scene(tmp_path: Path, opening_column: str = "opening_id") -> list:
    """A fence broken at a gap at x = 0, the gap as a point with its id in ``opening_column``,
    polygons naming the sides, and fixes in another file layout: the ``tracks rank`` arguments.
    """
    import geopandas as gpd
    import shapely

    crs = "EPSG:32641"
    fences = (
        gpd.GeoDataFrame(
            {"fence_id": ["F1", "F1"], "type": ["wire", "wire"], "country_pair": ["KAZ-UZB"] * 2},
            geometry=[
                shapely.LineString([(-5000, 0), (-20, 0)]),
                shapely.LineString([(20, 0), (5000, 0)]),
            ],
            crs=crs,
        )
        .dissolve("fence_id", aggfunc="first")
        .reset_index()
    )
    fences.to_file(tmp_path / "fences.gpkg")
    gaps = {opening_column: ["gap-0"], "width_m": [40.0]}
    gpd.GeoDataFrame(gaps, geometry=[shapely.Point(0, 0)], crs=crs).to_file(tmp_path / "gaps.gpkg")
    areas = gpd.GeoDataFrame(
        {"name": ["Kazakhstan", "Uzbekistan"]},
        geometry=[shapely.box(-9e3, 0, 9e3, 9e3), shapely.box(-9e3, -9e3, 9e3, 0)],
        crs=crs,
    )
    areas.to_file(tmp_path / "areas.gpkg")
    fixes = tmp_path / "fixes.csv"
    rows = ["collar;when;E;N"]
    for k, (x, y) in enumerate([(5, -60), (-3, 55), (1500, 80), (1500, -80)]):
        rows.append(f"A1;01/03/2021 {k:02d}:00;{x};{y}")
    fixes.write_text("\n".join(rows).replace(";", ",") + "\n")
    args = ["tracks", "rank", fixes, tmp_path / "fences.gpkg", "--distance", "30", "--crs", crs,
            "--out", tmp_path / "rank.csv", "--openings", tmp_path / "gaps.gpkg",
            "--sides", tmp_path / "areas.gpkg", "--id-column", "collar", "--time-column", "when",
            "--x-column", "E", "--y-column", "N", "--time-format", "%d/%m/%Y %H:%M",
            "--timezone", "Asia/Tashkent", "--interval", "1", "--b-time", "4"]  # fmt: skip
    return [str(a) for a in args]


def test_rank_with_openings_sides_and_renamed_columns(tmp_path):
    result = runner.invoke(app, _gap_scene(tmp_path))
    assert result.exit_code == 0, result.output
    crossings = _rows(tmp_path / "rank_crossings.csv")
    assert [(c["kind"], c["opening_id"], c["from_side"], c["to_side"]) for c in crossings] == [
        ("gap", "gap-0", "Uzbekistan", "Kazakhstan"),
        ("fence", "", "Kazakhstan", "Uzbekistan"),
    ]
    assert crossings[0]["time"].startswith("2021-02-28T19:")  # 00:30 in Tashkent (UTC+5)
    assert {c["type"] for c in crossings} == {"wire"}
    openings = _rows(tmp_path / "rank_openings.csv")
    assert [(o["opening_id"], o["passages"]) for o in openings] == [("gap-0", "1")]
    by_type = _rows(tmp_path / "rank_by_type.csv")
    assert [(t["type"], t["crossings"]) for t in by_type] == [("wire", "2")]


def test_the_opening_id_column_is_named_on_the_command_line(tmp_path):
    args = _gap_scene(tmp_path, opening_column="gate")
    result = runner.invoke(app, [*args, "--opening-id-column", "gate"])
    assert result.exit_code == 0, result.output
    openings = _rows(tmp_path / "rank_openings.csv")
    assert [(o["opening_id"], o["passages"]) for o in openings] == [("gap-0", "1")]
    crossings = _rows(tmp_path / "rank_crossings.csv")
    assert [c["opening_id"] for c in crossings] == ["gap-0", ""]
    assert 'opening_id_column = "gate"' in (tmp_path / "run.toml").read_text()


def test_a_missing_opening_id_column_names_the_file_and_the_columns_present(tmp_path):
    args = _gap_scene(tmp_path, opening_column="gate")
    result = runner.invoke(app, [*args, "--opening-id-column", "gate_no"])
    assert result.exit_code == 1
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "gaps.gpkg" in line and "'gate_no'" in line and "gate, width_m" in line
    assert not (tmp_path / "rank.csv").exists()
