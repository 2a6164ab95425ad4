"""The ONNX detector path with a tiny YOLOv5-format model built here with onnx.helper."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from crossings.errors import ConfigError, InputFileError
from crossings.io.camera import read_megadetector
from crossings.io.detector import OnnxDetector, decode_yolov5, detect_folder, letterbox

SIZE = 64
# Rows: cx, cy, w, h (model-input pixels), objectness, scores of animal, person, vehicle.
ROWS = np.array(
    [
        [32, 32, 32, 16, 0.9, 1, 0, 0],  # animal, kept
        [33, 32, 32, 16, 0.8, 1, 0, 0],  # animal, IoU 0.94 with the first: suppressed
        [32, 32, 32, 16, 0.7, 0, 1, 0],  # person on the same spot: other class, kept
        [10, 20, 4, 4, 0.004, 1, 0, 0],  # below the 0.005 confidence threshold
        [60, 20, 8, 8, 0.5, 0, 0, 1],  # vehicle reaching into the right edge
    ],
    dtype=np.float32,
)


def tiny_model(path: Path) -> Path:
    """Output = constant rows + 0 * mean(input): fixed boxes, but the input is really consumed."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["rows", "nothing"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_yolov5",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, len(ROWS), 8])],
        initializer=[
            numpy_helper.from_array(ROWS[None], "rows"),
            numpy_helper.from_array(np.array(0, dtype=np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def test_letterbox_places_the_image_between_grey_bands():
    rgb = np.zeros((100, 200, 3), np.uint8)
    rgb[:, :100] = 255  # left half white
    out, box = letterbox(rgb, SIZE)
    # scale 64/200 = 0.32 -> 64 x 32 image, (64 - 32) / 2 = 16 grey rows above and below
    assert (box.ratio, box.left, box.top) == (0.32, 0, 16)
    assert (out[:16] == 114).all() and (out[48:] == 114).all()
    assert out[16:48, :30].min() > 200 and out[16:48, 34:].max() < 50


def test_letterbox_odd_padding_goes_to_the_end():
    out, box = letterbox(np.zeros((99, 100, 3), np.uint8), SIZE)
    assert (box.top, box.left) == (0, 0) and (out[63] == 114).all() and (out[62] == 0).all()


def test_tiny_onnx_model_letterbox_coordinates_and_nms(tmp_path):
    model = tiny_model(tmp_path / "tiny.onnx")
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.full((100, 200, 3), 90, np.uint8)).save(images / "wide.jpg")
    detector = OnnxDetector(model)
    assert detector.image_size == SIZE
    result = detect_folder(detector, images, tmp_path / "md.json")
    dets = result["images"][0]["detections"]
    # Hand computation: ratio 0.32, top pad 16. Box 1 in input pixels (16, 24)-(48, 40) ->
    # image ((16 - 0) / 0.32, (24 - 16) / 0.32) = (50, 25) to (150, 75) of 200 x 100.
    assert [d["category"] for d in dets] == ["1", "2", "3"]
    assert dets[0] == {"category": "1", "conf": 0.9, "bbox": [0.25, 0.25, 0.5, 0.5]}
    assert dets[1]["bbox"] == [0.25, 0.25, 0.5, 0.5] and dets[1]["conf"] == 0.7
    # vehicle (56, 16)-(64, 24) -> x 175..200, y 0..25 of the image
    assert dets[2]["bbox"] == [0.875, 0.0, 0.125, 0.25]
    assert result["images"][0]["max_detection_conf"] == 0.9
    md = read_megadetector(tmp_path / "md.json")  # what we write, we read back
    assert md.category.tolist() == ["animal", "person", "vehicle"]


def test_unreadable_image_is_recorded_as_failure(tmp_path):
    model = tiny_model(tmp_path / "tiny.onnx")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "broken.jpg").write_bytes(b"not a jpeg")
    result = detect_folder(OnnxDetector(model), tmp_path / "images", tmp_path / "md.json")
    assert "failure" in result["images"][0]
    assert json.loads((tmp_path / "md.json").read_text())["images"][0]["file"] == "broken.jpg"


def test_missing_or_broken_model(tmp_path):
    with pytest.raises(InputFileError, match="model file not found"):
        OnnxDetector(tmp_path / "none.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    with pytest.raises(InputFileError, match="not a loadable ONNX model"):
        OnnxDetector(tmp_path / "bad.onnx")


def test_output_without_class_scores_is_rejected():
    _, box = letterbox(np.zeros((10, 10, 3), np.uint8), 16)
    with pytest.raises(ConfigError, match="YOLOv5"):
        decode_yolov5(np.zeros((3, 5)), box)


def naive_nms(boxes, scores, classes, threshold):
    """Greedy NMS written plainly: keep a box unless a kept box of its class overlaps it."""

    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
        return w * h / union

    kept = []
    for i in sorted(range(len(scores)), key=lambda k: -scores[k]):
        if all(classes[k] != classes[i] or iou(boxes[k], boxes[i]) <= threshold for k in kept):
            kept.append(i)
    return kept


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nms_matches_plain_greedy_nms(seed):
    from crossings.io.detector import non_max_suppression

    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (200, 2))
    boxes = np.column_stack([xy, xy + rng.uniform(5, 30, (200, 2))])
    scores = rng.uniform(0, 1, 200)
    classes = rng.integers(0, 3, 200)
    got = non_max_suppression(boxes, scores, classes, 0.45).tolist()
    assert got == naive_nms(boxes, scores, classes, 0.45)
