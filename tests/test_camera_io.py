"""Camera-trap readers on real MegaDetector v5a output and images, bad inputs, blurred copies."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crossings.core.camtrap import analyse
from crossings.errors import ConfigError, InputFileError
from crossings.io.camera import (
    blur_boxes,
    check_paths_match_images,
    load_detections,
    read_deployments,
    read_exif,
    read_labels,
    read_megadetector,
    write_blurred_copies,
    write_jpeg_with_exif,
)

DATA = Path(__file__).parent / "data" / "camera" / "md_v5a"
MD_JSON = DATA / "md_v5a_results_subset.json"
IMAGES = DATA / "images"
WITH_EXIF = {
    "wcs_camera_traps_animals_0245_1477.jpg": "2011:07:06 15:40:11",
    "idaho_camera_traps_loc_0062_loc_0062_im_004678.jpg": "2016:02:03 10:45:00",
    "missouri_camera_traps_Set1_1.02-Agouti_SEQ89823_SEQ89823_IMG_0002.JPG": "2011:01:24 07:56:05",
}
NO_EXIF = "channel_islands_camera_traps_loc-h500ee07133550_010_643.jpg"
DEPLOYMENT_HEADER = "camera_id,fence_id,opening_id,start,end,utc_offset"


# --- real data -------------------------------------------------------------------------------


def test_real_megadetector_v5a_output_is_read():
    md = read_megadetector(MD_JSON)
    raw = json.loads(MD_JSON.read_text())
    assert md.files == [im["file"] for im in raw["images"]]
    assert len(md.category) == sum(len(im["detections"]) for im in raw["images"])
    names = raw["detection_categories"]
    expected = [names[d["category"]] for im in raw["images"] for d in im["detections"]]
    assert md.category.tolist() == expected
    # the v5a output has x = -5e-07 for one box: clipped to the image, not rejected
    assert md.bbox.min() >= 0 and (md.bbox[:, 0] + md.bbox[:, 2]).max() <= 1
    assert md.confidence.max() == max(d["conf"] for im in raw["images"] for d in im["detections"])


def test_real_images_exif_times_match_the_raw_bytes():
    records = read_exif([IMAGES / name for name in WITH_EXIF])
    for record, (name, stamp) in zip(records, WITH_EXIF.items(), strict=True):
        assert stamp.encode() in (IMAGES / name).read_bytes()  # independent of Pillow
        assert record.local_time == dt.datetime.strptime(stamp, "%Y:%m:%d %H:%M:%S")
    assert records[0].make == "Reconyx" and records[1].model.startswith("PC900")


def test_real_image_without_exif_time_is_listed_not_dropped():
    with pytest.raises(InputFileError, match=r"1 of 4 images have no usable EXIF.*channel_islands"):
        read_exif([IMAGES / n for n in WITH_EXIF] + [IMAGES / NO_EXIF])


def test_real_subset_to_events(tmp_path):
    """The real v5a boxes of three images with EXIF, placed in one camera folder, give events."""
    md = read_megadetector(MD_JSON)
    raw = json.loads(MD_JSON.read_text())
    chosen = [im for im in raw["images"] if im["file"] in WITH_EXIF]
    for im in chosen:
        im["file"] = "CAM1/" + im["file"]
        (tmp_path / "CAM1").mkdir(exist_ok=True)
        shutil.copy(IMAGES / Path(im["file"]).name, tmp_path / im["file"])
    raw["images"] = chosen
    (tmp_path / "md.json").write_text(json.dumps(raw))
    deployments = tmp_path / "deployments.csv"
    deployments.write_text(
        f"{DEPLOYMENT_HEADER}\nCAM1,F1,O1,2010-01-01T00:00:00+00:00,2017-01-01T00:00:00+00:00,"
        "-06:00\n"
    )
    md = read_megadetector(tmp_path / "md.json")
    deps = read_deployments(deployments)
    table = load_detections(md, deps, images_dir=tmp_path).detections
    result = analyse(table, deps)
    # wcs (0.2353) and missouri (0.7942) have animals above 0.2; idaho has no detections
    assert sorted(result.events["start"].tolist()) == [
        int(dt.datetime(2011, 1, 24, 13, 56, 5, tzinfo=dt.timezone.utc).timestamp()),
        int(dt.datetime(2011, 7, 6, 21, 40, 11, tzinfo=dt.timezone.utc).timestamp()),
    ]
    assert set(result.events["local_hour"].tolist()) == {7, 15}


# --- bad inputs -------------------------------------------------------------------------------


def write_md(path: Path, images, categories=None) -> Path:
    data = {
        "info": {"format_version": "1.1"},
        "detection_categories": categories or {"1": "animal", "2": "person", "3": "vehicle"},
        "images": images,
    }
    path.write_text(json.dumps(data, indent=1))
    return path


def test_malformed_json_names_line_and_column(tmp_path):
    good = json.dumps(json.loads(MD_JSON.read_text()), indent=1)
    bad = tmp_path / "md.json"
    bad.write_text(good[: len(good) // 2])  # an interrupted run leaves a truncated file
    with pytest.raises(InputFileError, match=r"md\.json: malformed JSON at line \d+, column \d+"):
        read_megadetector(bad)


def test_unknown_category_id(tmp_path):
    det = {"category": "7", "conf": 0.9, "bbox": [0.1, 0.1, 0.2, 0.2]}
    path = write_md(tmp_path / "md.json", [{"file": "a.jpg", "detections": [det]}])
    with pytest.raises(InputFileError, match=r"images\[0\] \('a.jpg'\) detections\[0\]: unknown "
                       r"category id '7'"):  # fmt: skip
        read_megadetector(path)


@pytest.mark.parametrize("bbox", [[0.5, 0.5, 0.6, 0.2], [-0.2, 0.1, 0.1, 0.1], [10, 20, 30, 40]])
def test_boxes_outside_the_image(tmp_path, bbox):
    det = {"category": "1", "conf": 0.9, "bbox": bbox}
    path = write_md(tmp_path / "md.json", [{"file": "a.jpg", "detections": [det]}])
    with pytest.raises(InputFileError, match="lies outside the image"):
        read_megadetector(path)


def test_missing_images_key(tmp_path):
    path = tmp_path / "md.json"
    path.write_text('{"detection_categories": {"1": "animal"}}')
    with pytest.raises(InputFileError, match="missing key 'images'"):
        read_megadetector(path)


def test_detections_from_another_folder_layout(tmp_path):
    (tmp_path / "CAM1").mkdir()
    shutil.copy(IMAGES / NO_EXIF, tmp_path / "CAM1" / "x.jpg")
    images = [{"file": f"survey/CAM1/{n}.jpg", "detections": []} for n in ("x", "y", "z")]
    md = read_megadetector(write_md(tmp_path / "md.json", images))
    expected = r"3 of 3 image paths match no file .*e\.g\. 'survey/CAM1/x\.jpg'; an image there"
    with pytest.raises(InputFileError, match=expected + r" is 'CAM1/x\.jpg'"):
        check_paths_match_images(md, tmp_path)


def test_images_of_no_camera(tmp_path):
    images = [{"file": "CAMX/a.jpg", "datetime": "2023-05-01T06:00:00", "detections": []}]
    md = read_megadetector(write_md(tmp_path / "md.json", images))
    deployments = tmp_path / "d.csv"
    deployments.write_text(f"{DEPLOYMENT_HEADER}\nCAM1,F1,O1,2023-01-01,2024-01-01,+05:00\n")
    with pytest.raises(InputFileError, match="1 of 1 images belong to no camera"):
        load_detections(md, read_deployments(deployments))


def test_overlapping_deployments_in_csv(tmp_path):
    path = tmp_path / "deployments.csv"
    path.write_text(
        f"{DEPLOYMENT_HEADER}\n"
        "CAM1,F1,O1,2023-01-01T00:00:00+05:00,2023-03-01T00:00:00+05:00,\n"
        "CAM1,F1,O1,2023-02-01T00:00:00+05:00,2023-04-01T00:00:00+05:00,\n"
    )
    with pytest.raises(ConfigError, match=r"deployments.csv: field 'start'.*of camera 'CAM1' "
                       "overlap in time"):  # fmt: skip
        read_deployments(path)


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("CAM1,F1,O1,2023-01-01T00:00:00,2023-03-01T00:00:00,", "has no UTC offset"),
        ("CAM1,F1,O1,01/02/2023,2023-03-01T00:00:00+05:00,", "not an ISO 8601"),
        ("CAM1,F1,O1,2023-03-01T00:00:00Z,2023-01-01T00:00:00Z,", "end must be after"),
        ("CAM1,,O1,2023-01-01T00:00:00Z,2023-03-01T00:00:00Z,", "field 'fence_id'"),
        ("CAM1,F1,O1,2023-01-01T00:00:00Z,2023-03-01T00:00:00Z,5h", "utc_offset must look"),
    ],
)
def test_bad_deployment_rows(tmp_path, row, match):
    path = tmp_path / "deployments.csv"
    path.write_text(f"{DEPLOYMENT_HEADER}\n{row}\n")
    with pytest.raises(ConfigError, match=match):
        read_deployments(path)


def test_deployments_unknown_column_and_partial_fence_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("camera_id,fence_id,start,end,side_c\nC,F,2023-01-01Z,2023-02-01Z,x\n")
    with pytest.raises(ConfigError, match="unknown column"):
        read_deployments(path)
    path.write_text(
        "camera_id,fence_id,start,end,line_x1\nC,F,2023-01-01T00:00Z,2023-02-01T00:00Z,0.1\n"
    )
    with pytest.raises(ConfigError, match="give all four"):
        read_deployments(path)


def test_deployments_with_fence_line_and_sides(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(
        "deployment_id,camera_id,fence_id,opening_id,start,end,opening_date,latitude,longitude,"
        "line_x1,line_y1,line_x2,line_y2,side_a,side_b\n"
        "d1,C1,F1,O1,2023-01-01T00:00:00+05:00,2023-02-01T00:00:00+05:00,2023-01-15,44.5,56.2,"
        "0,0.6,1,0.55,KAZ,UZB\n"
    )
    (dep,) = read_deployments(path)
    assert dep.fence_line == ((0.0, 0.6), (1.0, 0.55)) and dep.side_names == ("KAZ", "UZB")
    assert dep.utc_offset_s == 5 * 3600 and dep.camera_days == pytest.approx(31)
    assert dep.opening_date == int(dt.datetime(2023, 1, 14, 19, tzinfo=dt.timezone.utc).timestamp())


def test_labels_csv(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("file,species,count\nC1/a.jpg,Gazella subgutturosa,3\n")
    assert read_labels(path) == {"C1/a.jpg": ("Gazella subgutturosa", 3)}
    path.write_text("file,species,count\nC1/a.jpg,Gazella subgutturosa,zero\n")
    with pytest.raises(ConfigError, match="count must be a whole number"):
        read_labels(path)
    path.write_text("file,name\nC1/a.jpg,x\n")
    with pytest.raises(ConfigError, match="missing column"):
        read_labels(path)


def test_labels_set_species_and_count_and_add_missed_images(tmp_path):
    images = [
        {"file": "C1/a.jpg", "datetime": "2023-05-01T06:00:00+05:00", "detections": [
            {"category": "1", "conf": 0.9, "bbox": [0.1, 0.1, 0.1, 0.1]},
            {"category": "1", "conf": 0.8, "bbox": [0.5, 0.1, 0.1, 0.1]}]},
        {"file": "C1/b.jpg", "datetime": "2023-05-02T06:00:00+05:00", "detections": []},
    ]  # fmt: skip
    md = read_megadetector(write_md(tmp_path / "md.json", images))
    deployments = tmp_path / "d.csv"
    deployments.write_text(f"{DEPLOYMENT_HEADER}\nC1,F1,O1,2023-01-01Z,2024-01-01Z,+05:00\n")
    labels = {"C1/a.jpg": ("Saiga tatarica", 5), "C1/b.jpg": ("Gazella subgutturosa", 1)}
    table = load_detections(md, read_deployments(deployments), labels=labels).detections
    events = {e["species"]: e["max_count"] for e in analyse(table, read_deployments(deployments))
              .events.rows()}  # fmt: skip
    assert events == {"Saiga tatarica": 5, "Gazella subgutturosa": 1}


def test_exif_offset_and_serial_map_images_to_cameras(tmp_path):
    rgb = np.zeros((16, 16, 3), np.uint8)
    write_jpeg_with_exif(tmp_path / "dump" / "1.jpg", rgb, local_time=dt.datetime(2023, 5, 1, 6),
                         utc_offset="+05:00", serial="SN42")  # fmt: skip
    write_jpeg_with_exif(tmp_path / "C2" / "2.jpg", rgb, local_time=dt.datetime(2023, 5, 1, 6))
    images = [{"file": f, "detections": [{"category": "1", "conf": 0.9, "bbox": [0, 0, .5, .5]}]}
              for f in ("dump/1.jpg", "C2/2.jpg")]  # fmt: skip
    md = read_megadetector(write_md(tmp_path / "md.json", images))
    deployments = tmp_path / "d.csv"
    deployments.write_text(
        f"{DEPLOYMENT_HEADER}\nSN42,F1,O1,2023-01-01Z,2024-01-01Z,+04:00\n"
        "C2,F1,O2,2023-01-01Z,2024-01-01Z,+03:00\n"
    )
    table = load_detections(md, read_deployments(deployments), images_dir=tmp_path).detections
    assert table.camera_id.tolist() == ["SN42", "C2"]
    # EXIF offset wins over the table's; without one, the camera's utc_offset applies
    utc = [dt.datetime(2023, 5, 1, 1), dt.datetime(2023, 5, 1, 3)]
    assert table.time.tolist() == [int(t.replace(tzinfo=dt.timezone.utc).timestamp()) for t in utc]


# --- privacy: blurred copies -----------------------------------------------------------------


def test_person_box_is_blurred_in_the_exported_copy(tmp_path):
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)  # high-frequency texture
    write_jpeg_with_exif(tmp_path / "in" / "C1" / "p.jpg", rgb,
                         local_time=dt.datetime(2023, 5, 1, 6), quality=98)  # fmt: skip
    person = {"category": "2", "conf": 0.85, "bbox": [0.25, 0.25, 0.5, 0.5]}
    md = read_megadetector(
        write_md(tmp_path / "md.json", [{"file": "C1/p.jpg", "detections": [person]}])
    )
    (out,) = write_blurred_copies(md, tmp_path / "in", tmp_path / "out")
    original = np.asarray(Image.open(tmp_path / "in" / "C1" / "p.jpg").convert("L"), dtype=float)
    copy = np.asarray(Image.open(out).convert("L"), dtype=float)
    inside = (slice(30, 90), slice(40, 120))
    # texture inside the box is gone: neighbouring pixels nearly equal, unlike the original
    assert (
        np.abs(np.diff(copy[inside], axis=1)).mean()
        < 0.1 * np.abs(np.diff(original[inside], axis=1)).mean()
    )
    outside = np.ones_like(copy, dtype=bool)
    outside[28:92, 38:122] = False
    assert np.abs(copy - original)[outside].mean() < 12  # only JPEG re-encoding noise
    assert Image.open(out).getexif().get_ifd(0x8769).get(0x9003) == "2023:05:01 06:00:00"


def test_blur_boxes_leaves_image_without_boxes_unchanged():
    image = Image.fromarray(np.arange(300, dtype=np.uint8).reshape(10, 10, 3))
    assert np.array_equal(np.asarray(blur_boxes(image, np.zeros((0, 4)))), np.asarray(image))


def test_bare_date_keeps_its_offset(tmp_path):
    # datetime.fromisoformat("2023-01-01+05:00") silently drops the offset; the reader must not
    path = tmp_path / "d.csv"
    path.write_text("camera_id,fence_id,start,end\nC,F,2023-01-01+05:00,2023-01-02Z\n")
    (dep,) = read_deployments(path)
    assert dep.start == int(dt.datetime(2022, 12, 31, 19, tzinfo=dt.timezone.utc).timestamp())
    assert dep.end == int(dt.datetime(2023, 1, 2, tzinfo=dt.timezone.utc).timestamp())


def test_classifications_give_species_above_threshold(tmp_path):
    dets = [
        {"category": "1", "conf": 0.9, "bbox": [0.1, 0.1, 0.2, 0.2],
         "classifications": [["0", 0.3], ["1", 0.85]]},
        {"category": "1", "conf": 0.9, "bbox": [0.5, 0.1, 0.2, 0.2],
         "classifications": [["0", 0.4]]},  # below 0.5: stays an unclassified animal
        {"category": "1", "conf": 0.9, "bbox": [0.5, 0.5, 0.2, 0.2]},
    ]  # fmt: skip
    data = {"detection_categories": {"1": "animal"}, "images": [{"file": "a.jpg",
            "detections": dets}], "classification_categories": {"0": "Canis lupus",
            "1": "Saiga tatarica"}}  # fmt: skip
    (tmp_path / "md.json").write_text(json.dumps(data))
    assert read_megadetector(tmp_path / "md.json").species.tolist() == ["Saiga tatarica", "", ""]
    dets[1]["classifications"] = [["9", 0.9]]
    (tmp_path / "md.json").write_text(json.dumps(data))
    with pytest.raises(InputFileError, match=r"detections\[1\]: unknown classification id '9'"):
        read_megadetector(tmp_path / "md.json")


def test_unreadable_image_is_listed_among_images_without_time(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(InputFileError, match=r"1 of 1 images .*broken\.jpg"):
        read_exif([tmp_path / "broken.jpg"])


def test_detections_datetime_fills_in_for_missing_exif(tmp_path):
    (tmp_path / "C1").mkdir()
    shutil.copy(IMAGES / NO_EXIF, tmp_path / "C1" / "a.jpg")
    images = [{"file": "C1/a.jpg", "datetime": "2023-05-01T06:00:00", "detections": []}]
    md = read_megadetector(write_md(tmp_path / "md.json", images))
    deployments = tmp_path / "d.csv"
    deployments.write_text(f"{DEPLOYMENT_HEADER}\nC1,F1,O1,2023-01-01Z,2024-01-01Z,+05:00\n")
    inputs = load_detections(md, read_deployments(deployments), images_dir=tmp_path)
    assert inputs.time.tolist() == [int(dt.datetime(2023, 5, 1, 1, tzinfo=dt.timezone.utc)
                                        .timestamp())]  # fmt: skip
    images[0].pop("datetime")
    md = read_megadetector(write_md(tmp_path / "md.json", images))
    with pytest.raises(InputFileError, match="1 of 1 images have no usable EXIF"):
        load_detections(md, read_deployments(deployments), images_dir=tmp_path)
