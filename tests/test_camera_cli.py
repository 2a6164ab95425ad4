"""End to end through ``crossings camera``: a hand-built opening with a gazelle crossing, a saiga
that does not cross, a border patrol and a vehicle. People must never leak."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from crossings.cli import app
from crossings.core.camtrap import EventConfig, analyse
from crossings.io.camera import (
    load_detections,
    read_deployments,
    read_megadetector,
    write_jpeg_with_exif,
)
from crossings.report.camera_plots import PLOT_NAMES, write_camera_plots

runner = CliRunner()
PERSON_BOX = [0.25, 0.2, 0.5, 0.6]
# (file, local time, detections as (category id, conf, bbox))
SCENE = [
    ("C1/0001.jpg", dt.datetime(2023, 3, 15, 5, 0, 0), [("1", 0.9, [0.4, 0.1, 0.1, 0.2])]),
    ("C1/0002.jpg", dt.datetime(2023, 3, 15, 5, 0, 20), [("1", 0.8, [0.45, 0.15, 0.1, 0.2])]),
    ("C1/0003.jpg", dt.datetime(2023, 4, 20, 18, 0, 0), [("1", 0.9, [0.3, 0.1, 0.1, 0.2])]),
    ("C1/0004.jpg", dt.datetime(2023, 4, 20, 18, 0, 10), [("1", 0.9, [0.35, 0.3, 0.1, 0.2])]),
    ("C1/0005.jpg", dt.datetime(2023, 4, 20, 18, 0, 20), [("1", 0.9, [0.4, 0.5, 0.1, 0.2])]),
    ("C1/0006.jpg", dt.datetime(2023, 5, 2, 11, 0, 0), [("2", 0.95, PERSON_BOX)]),
    ("C1/0007.jpg", dt.datetime(2023, 5, 2, 11, 0, 5), [("3", 0.9, [0.0, 0.5, 0.4, 0.4])]),
]
LABELS = "file,species,count\nC1/0001.jpg,Saiga tatarica,2\nC1/0002.jpg,Saiga tatarica,2\n"


@pytest.fixture()
def scene(tmp_path: Path) -> dict[str, Path]:
    return scene_files(tmp_path)


def scene_files(tmp_path: Path) -> dict[str, Path]:
    """Images with EXIF times, detections, deployments and labels of a small survey."""
    rng = np.random.default_rng(3)
    for file, local, _ in SCENE:
        rgb = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
        write_jpeg_with_exif(tmp_path / "images" / file, rgb, local_time=local,
                             make="RECONYX", model="HF2", quality=98)  # fmt: skip
    images = [
        {"file": file, "detections": [{"category": c, "conf": p, "bbox": b} for c, p, b in dets]}
        for file, _, dets in SCENE
    ]
    md = {"info": {"format_version": "1.4", "detector": "md_v5a"},
          "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
          "images": images}  # fmt: skip
    (tmp_path / "md.json").write_text(json.dumps(md))
    (tmp_path / "deployments.csv").write_text(
        "deployment_id,camera_id,fence_id,opening_id,start,end,opening_date,latitude,longitude,"
        "line_x1,line_y1,line_x2,line_y2,side_a,side_b\n"
        "d1,C1,KZ-UZ-07,O3,2023-03-01T00:00:00+05:00,2023-06-01T00:00:00+05:00,"
        "2023-04-01T00:00:00+05:00,44.2512,56.1133,0,0.6,1,0.6,KAZ,UZB\n"
    )
    (tmp_path / "labels.csv").write_text(LABELS)
    return {"root": tmp_path, "images": tmp_path / "images"}


def run(*args: str):
    return runner.invoke(app, ["camera", *map(str, args)])


def events_args(scene, out):
    root = scene["root"]
    return ("events", "--detections", root / "md.json", "--deployments",
            root / "deployments.csv", "--images", scene["images"], "--labels",
            root / "labels.csv", "--out", out)  # fmt: skip


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_events_tables_and_plots_without_people(scene):
    out = scene["root"] / "out"
    result = run(*events_args(scene, out))
    assert result.exit_code == 0, result.output
    events = read_csv(out / "events.csv")
    assert [(e["species"], e["direction"], e["period"]) for e in events] == [
        ("Saiga tatarica", "unknown", "before"),
        ("animal", "A to B", "after"),
    ]
    crossing = events[1]
    assert (crossing["from_side"], crossing["to_side"], crossing["n_images"]) == ("KAZ", "UZB", "3")
    assert crossing["start"] == "2023-04-20T13:00:00Z" and crossing["local_hour"] == "18"
    assert events[0]["max_count"] == "2"
    for name in ("events.csv", "use_by_opening.csv", "monthly.csv", "diel.csv"):
        text = (out / name).read_text()
        assert "person" not in text and "vehicle" not in text
    use = {r["species"]: r for r in read_csv(out / "use_by_opening.csv")}
    assert use["animal"]["crossings_a_to_b"] == "1"
    assert float(use["animal"]["camera_days"]) == pytest.approx(92)
    for name in PLOT_NAMES:
        assert Image.open(out / name).format == "PNG"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["figures"]["withheld_private"] == 2
    assert (out / "run.toml").is_file()


def test_plots_identical_with_and_without_person_records(scene, tmp_path):
    root = scene["root"]
    md = read_megadetector(root / "md.json")
    deps = read_deployments(root / "deployments.csv")
    table = load_detections(md, deps, images_dir=scene["images"]).detections
    for include, folder in ((True, "with"), (False, "without")):
        result = analyse(table, deps, EventConfig(include_private=include))
        assert ("person" in set(result.events["species"])) == include
        write_camera_plots(result, tmp_path / folder)
    for name in PLOT_NAMES:
        with_people = np.asarray(Image.open(tmp_path / "with" / name))
        without = np.asarray(Image.open(tmp_path / "without" / name))
        assert np.array_equal(with_people, without), name


def test_export_camtrapdp_public_with_blurred_media(scene):
    root = scene["root"]
    out = root / "dp"
    result = run("export-camtrapdp", "--detections", root / "md.json", "--deployments",
                 root / "deployments.csv", "--images", scene["images"], "--labels",
                 root / "labels.csv", "--out", out, "--copy-media", "--coordinate-grid-km", "10",
                 "--contributor", "Ustyurt team")  # fmt: skip
    assert result.exit_code == 0, result.output
    observations = read_csv(out / "observations.csv")
    assert {o["observationType"] for o in observations} == {"animal"}
    assert "Homo" not in (out / "observations.csv").read_text()
    media = {m["fileName"]: m for m in read_csv(out / "media.csv")}
    assert media["0006.jpg"]["filePublic"] == "false"
    assert media["0007.jpg"]["filePublic"] == "false"
    assert media["0003.jpg"]["filePublic"] == "true"
    assert media["0003.jpg"]["timestamp"] == "2023-04-20T18:00:00+05:00"
    assert all((out / m["filePath"]).is_file() for m in media.values())  # copies in the package
    (dep,) = read_csv(out / "deployments.csv")
    assert "fenceID:KZ-UZ-07" in dep["deploymentTags"] and "openingID:O3" in dep["deploymentTags"]
    assert dep["coordinateUncertainty"] == "7072" and dep["latitude"] != "44.2512"
    crossing = [o for o in observations if "crossingDirection:A to B" in o["observationTags"]]
    assert len(crossing) == 1 and "fromSide:KAZ" in crossing[0]["observationTags"]
    # the exported copy of the patrol image is blurred inside the person box only
    original = np.asarray(Image.open(scene["images"] / "C1/0006.jpg").convert("L"), dtype=float)
    copy = np.asarray(Image.open(out / "media" / "C1/0006.jpg").convert("L"), dtype=float)
    box = (slice(14, 46), slice(22, 58))  # inside 0.2..0.8 of 60 rows, 0.25..0.75 of 80 columns
    assert (
        np.abs(np.diff(copy[box], axis=1)).mean()
        < 0.15 * np.abs(np.diff(original[box], axis=1)).mean()
    )
    assert np.abs(copy[:, :16] - original[:, :16]).mean() < 12
    # the package re-reads and validates
    again = run("export-camtrapdp", "--package", out / "datapackage.json", "--out", root / "dp2")
    assert again.exit_code == 0, again.output


def test_bad_input_gives_one_line_and_exit_code_1(scene):
    root = scene["root"]
    (root / "deployments.csv").write_text(
        "camera_id,fence_id,start,end\n"
        "C1,F,2023-03-01T00:00:00+05:00,2023-05-01T00:00:00+05:00\n"
        "C1,F,2023-04-01T00:00:00+05:00,2023-06-01T00:00:00+05:00\n"
    )
    result = run(*events_args(scene, root / "out"))
    assert result.exit_code == 1
    assert "overlap in time" in result.output and "Traceback" not in result.output


def test_detect_command_with_tiny_model(tmp_path):
    from test_camera_detector import tiny_model  # the model built with onnx.helper

    model = tiny_model(tmp_path / "tiny.onnx")
    Image.fromarray(np.full((100, 200, 3), 90, np.uint8)).save(tmp_path / "wide.jpg")
    result = run("detect", "--model", model, "--images", tmp_path, "--out", tmp_path / "md.json")
    assert result.exit_code == 0, result.output
    md = read_megadetector(tmp_path / "md.json")
    assert md.files == ["wide.jpg"] and md.category.tolist() == ["animal", "person", "vehicle"]


def test_images_without_exif_time_exit_code_1(scene):
    root = scene["root"]
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(scene["images"] / "C1" / "0005.jpg")
    result = run(*events_args(scene, root / "out"))
    assert result.exit_code == 1 and "no usable EXIF DateTimeOriginal" in result.output


def test_demo_step_at_landscape_openings(tmp_path):
    from types import SimpleNamespace

    from crossings.core.fences import Fence, Opening
    from crossings.io.camtrap_dp import read_camtrapdp
    from crossings.jobs.base import RunRecord
    from crossings.jobs.camera import demo_step

    aea = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m"
    openings = tuple(Opening("KAZ-UZB-01", -955785.0, 69915.0 + 1000 * i, 4.0,
                             opening_id=f"OPEN-{i:04d}") for i in range(5))  # fmt: skip
    fence = Fence("KAZ-UZB-01", [(-956000, 60000), (-955000, 90000)], country_pair="KAZ-UZB")
    landscape = SimpleNamespace(openings=openings, fences=(fence,), grid=SimpleNamespace(crs=aea))
    lines = demo_step(landscape, tmp_path)
    assert "SYNTHETIC" in lines[0] and "KAZ->UZB" in lines[0]
    use = read_csv(tmp_path / "camera" / "use_by_opening.csv")
    assert {r["opening_id"] for r in use} == {"OPEN-0000", "OPEN-0002", "OPEN-0004"}
    package = read_camtrapdp(tmp_path / "camera" / "camtrapdp")
    assert all(o["observationType"] == "animal" for o in package.observations)
    assert "SYNTHETIC" in (tmp_path / "camera" / "README.txt").read_text()
    record = RunRecord.read(tmp_path / "camera")
    assert record.job == "camera" and record.sensitivity == "public"
    assert {Path(i.path).name for i in record.inputs} == {"md.json", "deployments.csv"}


def test_exported_package_gives_the_same_events(scene):
    root = scene["root"]
    assert run(*events_args(scene, root / "direct")).exit_code == 0
    export = run("export-camtrapdp", "--detections", root / "md.json", "--deployments",
                 root / "deployments.csv", "--images", scene["images"], "--labels",
                 root / "labels.csv", "--out", root / "dp")  # fmt: skip
    assert export.exit_code == 0, export.output
    paths = {m["filePath"] for m in read_csv(root / "dp" / "media.csv")}
    assert "C1/0003.jpg" in paths  # no copies: the path of the detections file
    again = run("events", "--package", root / "dp" / "datapackage.json", "--out", root / "again")
    assert again.exit_code == 0, again.output
    keys = ("species", "start", "direction", "from_side", "period", "n_images")
    direct = [tuple(e[k] for k in keys) for e in read_csv(root / "direct" / "events.csv")]
    via_package = [tuple(e[k] for k in keys) for e in read_csv(root / "again" / "events.csv")]
    assert via_package == direct
