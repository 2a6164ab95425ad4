"""The jobs layer: registry, run records, and ``crossings run JOB.toml`` against each command."""

import json
from pathlib import Path

import pytest
from test_connectivity import _write_job as write_connectivity_job
from typer.testing import CliRunner

from crossings import jobs
from crossings.cli import app
from crossings.errors import ConfigError, InputFileError
from crossings.jobs.base import MANIFEST, RUN_TOML, FileRecord, RunRecord


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def same_outputs(first: Path, second: Path) -> list[str]:
    """Names of the outputs two run folders hold, after checking each has the same bytes."""
    records = [RunRecord.read(first), RunRecord.read(second)]
    by_name = [{Path(f.path).relative_to(r.out_dir).as_posix(): f for f in r.outputs}
               for r in records]  # fmt: skip
    assert by_name[0].keys() == by_name[1].keys()
    for name, record in by_name[0].items():
        if name.endswith(".gpkg"):  # a GeoPackage stores its write time: compare its layers
            assert _layers(record.path) == _layers(by_name[1][name].path), name
        else:
            assert record.sha256 == by_name[1][name].sha256, name
    assert records[0].job == records[1].job
    assert records[0].sensitivity == records[1].sensitivity
    return sorted(by_name[0])


def _layers(path: str) -> dict[str, str]:
    import pyogrio

    return {
        name: pyogrio.read_dataframe(path, layer=name).to_json()
        for name, _ in pyogrio.list_layers(path)
    }


def test_every_registered_job_has_the_common_shape():
    for name in jobs.names():
        job = jobs.get(name)
        assert job.NAME == name
        assert callable(job.run) and callable(job.Config.from_mapping)
        assert callable(job.Config.to_mapping)


def test_an_unknown_job_name_suggests_the_nearest():
    with pytest.raises(ConfigError, match="Did you mean 'connectivity'"):
        jobs.get("conectivity")


def test_run_record_reads_back_what_the_manifest_holds(tmp_path):
    from crossings.io.runlog import RunLog

    (tmp_path / "in.txt").write_text("abc")
    (tmp_path / "out.txt").write_text("xyz")
    log = RunLog(tmp_path, command="crossings x", config={"a": 1}, job="x")
    log.add_inputs([tmp_path / "in.txt"])
    log.add_outputs([tmp_path / "out.txt", tmp_path / "out.txt"])
    written = log.finish_record()
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["job"] == "x" and len(manifest["outputs"]) == 1
    read = RunRecord.read(tmp_path)
    assert read == written
    assert read.config == {"a": 1} and (tmp_path / RUN_TOML).is_file()
    assert read.inputs == (FileRecord.of(tmp_path / "in.txt"),)
    # SHA-256 of "abc", computed independently of crossings.
    assert read.inputs[0].sha256.startswith("ba7816bf8f01cfea")


def test_a_folder_without_manifest_is_an_input_error(tmp_path):
    with pytest.raises(InputFileError, match="manifest.json: no such file"):
        RunRecord.read(tmp_path)


def test_connectivity_from_toml_via_crossings_run_equals_its_command(tmp_path):
    write_connectivity_job(tmp_path)
    text = (tmp_path / "job.toml").read_text()
    (tmp_path / "any.toml").write_text('job = "connectivity"\nmaps = false\n' + text)
    by_run = invoke("run", tmp_path / "any.toml", "--out", tmp_path / "a")
    assert by_run.exit_code == 0, by_run.output
    by_command = invoke(
        "connectivity", "run", tmp_path / "job.toml", "--out", tmp_path / "b", "--no-maps"
    )
    assert by_command.exit_code == 0, by_command.output
    names = same_outputs(tmp_path / "a", tmp_path / "b")
    assert "pairs.csv" in names and not any(n.endswith(".png") for n in names)
    assert RunRecord.read(tmp_path / "a").job == "connectivity"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'scenarios = ["no_fence"]\n', "missing the job name"),
        (b'job = "conectivity"\n', "Did you mean 'connectivity'"),
        (bytes(range(256)) * 4, "not UTF-8"),
        (b"job = = ]\x01[[", "not valid TOML"),
        (b'job = "connectivity"\n[focal]\npath = "a.gpkg"\n', "missing required key"),
    ],
)
def test_bad_job_files_give_one_line_and_exit_1(tmp_path, content, expected):
    (tmp_path / "job.toml").write_bytes(content)
    result = invoke("run", tmp_path / "job.toml")
    assert result.exit_code == 1, result.output
    assert expected in result.output and "job.toml" in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_a_job_file_of_another_job_is_refused_by_the_command(tmp_path):
    (tmp_path / "job.toml").write_text('job = "plan"\n')
    result = invoke("connectivity", "run", tmp_path / "job.toml")
    assert result.exit_code == 1 and "crossings run" in result.output


BABA = Path(__file__).parent / "data" / "baba"


def test_tracks_from_toml_via_crossings_run_equals_tracks_rank(tmp_path):
    (tmp_path / "tracks.toml").write_text(
        f'job = "tracks"\ntracks = "{BABA / "muleDeer.csv"}"\nfences = "{BABA / "fences.gpkg"}"\n'
        'crs = "EPSG:32612"\nranking = "rank.csv"\nplots = "plots"\n[baba]\ndistance = 90\n'
    )
    by_run = invoke("run", tmp_path / "tracks.toml", "--out", tmp_path / "a")
    assert by_run.exit_code == 0, by_run.output
    by_command = invoke(
        "tracks", "rank", BABA / "muleDeer.csv", BABA / "fences.gpkg", "--distance", "90",
        "--crs", "EPSG:32612", "--out", tmp_path / "b/rank.csv", "--plots", tmp_path / "b/plots",
    )  # fmt: skip
    assert by_command.exit_code == 0, by_command.output
    names = same_outputs(tmp_path / "a", tmp_path / "b")
    assert {"rank.csv", "rank_crossings.csv", "rank_crossings_per_month.csv"} <= set(names)
    assert "plots/classes_per_fence.png" in names
    record = RunRecord.read(tmp_path / "a")
    assert record.sensitivity == "confidential" and record.figures["events"] == 201


def test_a_tracks_job_without_outputs_is_refused(tmp_path):
    (tmp_path / "t.toml").write_text(
        'job = "tracks"\ntracks = "t.csv"\nfences = "f.gpkg"\n[baba]\ndistance = 90\n'
    )
    result = invoke("run", tmp_path / "t.toml")
    assert result.exit_code == 1 and "no output asked for" in result.output


def test_camera_from_toml_via_crossings_run_equals_camera_events(tmp_path):
    from crossings.io.camera import write_synthetic_survey

    md, deployments = write_synthetic_survey(tmp_path / "input", 300, seed=4)
    (tmp_path / "camera.toml").write_text(
        f'job = "camera"\ndetections = "{md}"\ndeployments = "{deployments}"\n'
        "plots = false\n[events]\nindependence_s = 900\n"
    )
    by_run = invoke("run", tmp_path / "camera.toml", "--out", tmp_path / "a")
    assert by_run.exit_code == 0, by_run.output
    by_command = invoke(
        "camera", "events", "--detections", md, "--deployments", deployments,
        "--independence", "900", "--no-plots", "--out", tmp_path / "b",
    )  # fmt: skip
    assert by_command.exit_code == 0, by_command.output
    names = same_outputs(tmp_path / "a", tmp_path / "b")
    assert {"events.csv", "use_by_opening.csv", "monthly.csv", "diel.csv"} <= set(names)
    figures = RunRecord.read(tmp_path / "a").figures
    assert figures["events"] > 0 and figures["withheld_private"] > 0


def test_camera_export_sensitivity_follows_what_it_keeps(tmp_path):
    from crossings.jobs import camera

    base = {"package": "p.json", "tables": False, "camtrapdp": "."}
    levels = [
        camera.Config.from_mapping({**base, **extra}).sensitivity[0]
        for extra in ({}, {"coordinate_grid_km": 10.0}, {"keep_private": True})
    ]
    assert levels == ["restricted", "public", "confidential"]


@pytest.mark.filterwarnings("ignore:.*reprojected from EPSG.4326")
def test_plan_from_toml_via_crossings_run_equals_crossings_plan(tmp_path):
    from test_planning_io import make_inputs, write_config

    make_inputs(tmp_path)
    config = write_config(tmp_path)
    (tmp_path / "job.toml").write_text('job = "plan"\n' + config.read_text())
    by_run = invoke("run", tmp_path / "job.toml", "--out", tmp_path / "a")
    assert by_run.exit_code == 0, by_run.output
    by_command = invoke("plan", config, "--out", tmp_path / "b")
    assert by_command.exit_code == 0, by_command.output
    names = same_outputs(tmp_path / "a", tmp_path / "b")
    assert {"openings.csv", "rejected.csv", "pareto.csv"} <= set(names)
    figures = RunRecord.read(tmp_path / "a").figures
    assert figures["plans"][0]["openings"] <= 3 and RunRecord.read(tmp_path / "a").job == "plan"


def test_circuitscape_from_toml_via_crossings_run_equals_its_command(tmp_path):
    import numpy as np
    from test_circuit_cli import _job

    points = np.zeros((6, 5))
    points[0, 0], points[5, 4], points[0, 4] = 1, 2, 3
    resistance = np.random.default_rng(2).uniform(1, 5, (6, 5))
    ini = _job(tmp_path, resistance, points, solver="splu")
    (tmp_path / "cs.toml").write_text(f'job = "circuitscape"\nini = "{ini.name}"\n')
    by_run = invoke("run", tmp_path / "cs.toml", "--out", tmp_path / "a")
    assert by_run.exit_code == 0, by_run.output
    by_command = invoke("circuitscape", "run", ini, "--out-dir", tmp_path / "b")
    assert by_command.exit_code == 0, by_command.output
    names = same_outputs(tmp_path / "a", tmp_path / "b")
    assert {"job_resistances.out", "job_resistances_3columns.out", "job_cum_curmap.asc"} <= set(
        names
    )
    assert RunRecord.read(tmp_path / "a").figures["pairs"] == 3


@pytest.mark.parametrize("job", ["connectivity", "tracks", "plan"])
def test_a_runs_run_toml_replays_it_through_crossings_run(tmp_path, job):
    first = tmp_path / "first"
    REPLAYABLE[job](tmp_path, first)
    assert RunRecord.read(first).job == job
    replay = invoke("run", first / RUN_TOML, "--out", tmp_path / "replay")
    assert replay.exit_code == 0, replay.output
    assert same_outputs(first, tmp_path / "replay")


def _connectivity_run(folder: Path, out: Path):
    write_connectivity_job(folder)
    assert (
        invoke("connectivity", "run", folder / "job.toml", "--out", out, "--no-maps").exit_code == 0
    )


def _tracks_run(folder: Path, out: Path):
    result = invoke(
        "tracks", "rank", BABA / "muleDeer.csv", BABA / "fences.gpkg", "--crs", "EPSG:32612",
        "--distance", "90", "--out", out / "rank.csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def _plan_run(folder: Path, out: Path):
    from test_planning_io import make_inputs, write_config

    make_inputs(folder)
    assert invoke("plan", write_config(folder), "--out", out).exit_code == 0


REPLAYABLE = {"connectivity": _connectivity_run, "tracks": _tracks_run, "plan": _plan_run}


def test_a_circuitscape_run_toml_names_the_ini_to_rerun(tmp_path):
    import numpy as np
    from test_circuit_cli import _job

    points = np.zeros((4, 4))
    points[0, 0], points[3, 3] = 1, 2
    resistance = np.random.default_rng(3).uniform(1, 5, (4, 4))
    ini = _job(tmp_path, resistance, points, solver="splu")
    assert invoke("circuitscape", "run", ini, "--out-dir", tmp_path / "a").exit_code == 0
    replay = invoke("run", tmp_path / "a" / RUN_TOML)
    assert replay.exit_code == 1
    assert f"crossings circuitscape run {ini}" in replay.output and "Traceback" not in replay.output
