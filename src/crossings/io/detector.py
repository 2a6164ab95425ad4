"""Optional detector: a YOLOv5-format ONNX model (e.g. MegaDetector v5 exported to ONNX) on CPU.

No weights ship with crossings and none are downloaded: the user gives the path of an ONNX file.
The pipeline follows YOLOv5's inference: letterbox resize (aspect kept, grey 114 padding),
RGB/255 input, ``objectness * class score`` confidence, a confidence filter, per-class
non-maximum suppression, and boxes mapped back through the letterbox to normalised
``[x_min, y_min, width, height]`` as MegaDetector's batch output (format 1.4) writes them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossings.errors import ConfigError, InputFileError, MissingDependencyError
from crossings.io.atomic import write_text_atomic

__all__ = [
    "MD_CATEGORIES",
    "Letterbox",
    "letterbox",
    "non_max_suppression",
    "decode_yolov5",
    "OnnxDetector",
    "detect_folder",
]

MD_CATEGORIES = {"1": "animal", "2": "person", "3": "vehicle"}
PAD_VALUE = 114
MAX_NMS_BOXES = 30_000  # as YOLOv5: only the most confident candidates enter NMS


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image was fitted into the model input: scale ``ratio`` then ``left``/``top`` pad."""

    ratio: float
    left: int
    top: int
    width: int
    height: int

    def to_normalised(self, xyxy: np.ndarray) -> np.ndarray:
        """Model-input pixel boxes ``x1, y1, x2, y2`` -> normalised ``x, y, w, h`` of the image."""
        boxes = np.asarray(xyxy, dtype=float).reshape(-1, 4).copy()
        boxes[:, [0, 2]] = np.clip((boxes[:, [0, 2]] - self.left) / self.ratio, 0, self.width)
        boxes[:, [1, 3]] = np.clip((boxes[:, [1, 3]] - self.top) / self.ratio, 0, self.height)
        out = np.empty_like(boxes)
        out[:, 0] = boxes[:, 0] / self.width
        out[:, 1] = boxes[:, 1] / self.height
        out[:, 2] = (boxes[:, 2] - boxes[:, 0]) / self.width
        out[:, 3] = (boxes[:, 3] - boxes[:, 1]) / self.height
        return out


def letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Resize an ``(h, w, 3)`` uint8 image to fit ``size`` x ``size`` and pad with grey.

    >>> img = np.zeros((100, 200, 3), np.uint8)
    >>> out, box = letterbox(img, 64)
    >>> out.shape, box.ratio, box.left, box.top
    ((64, 64, 3), 0.32, 0, 16)
    """
    from PIL import Image

    height, width = rgb.shape[:2]
    ratio = min(size / height, size / width)
    new_w, new_h = round(width * ratio), round(height * ratio)
    pad_w, pad_h = (size - new_w) / 2, (size - new_h) / 2
    # YOLOv5 rounds the two paddings this way, so an odd padding puts the extra pixel at the end
    left, top = round(pad_w - 0.1), round(pad_h - 0.1)
    resized = rgb
    if (new_w, new_h) != (width, height):
        resized = np.asarray(Image.fromarray(rgb).resize((new_w, new_h), Image.BILINEAR))
    out = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    out[top : top + new_h, left : left + new_w] = resized
    return out, Letterbox(ratio, left, top, width, height)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def non_max_suppression(
    xyxy: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    iou_threshold: float = 0.45,
    max_det: int = 300,
) -> np.ndarray:
    """Indices of the boxes kept by greedy per-class NMS, best score first (at most ``max_det``,
    YOLOv5's default cap).

    >>> boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10]], float)
    >>> non_max_suppression(boxes, np.array([0.9, 0.8, 0.7]), np.array([0, 0, 1]))
    array([0, 2])
    """
    order = np.argsort(-np.asarray(scores), kind="stable")[:MAX_NMS_BOXES]
    keep = []
    while order.size and len(keep) < max_det:
        best, rest = order[0], order[1:]
        keep.append(best)
        # each round only compares with the boxes still in play, so the work shrinks quickly
        overlap = _iou(xyxy[best], xyxy[rest]) > iou_threshold
        order = rest[~(overlap & (classes[rest] == classes[best]))]
    return np.asarray(keep, dtype=np.int64)


def decode_yolov5(
    output: np.ndarray,
    box: Letterbox,
    *,
    conf_threshold: float = 0.005,
    iou_threshold: float = 0.45,
) -> list[dict]:
    """MegaDetector-style detections from one image's YOLOv5 output ``(n, 5 + classes)``.

    Rows are ``cx, cy, w, h, objectness, class scores...`` in model-input pixels.
    """
    pred = np.asarray(output, dtype=float).reshape(-1, output.shape[-1])
    if pred.shape[1] < 6:
        raise ConfigError(
            f"model output rows have {pred.shape[1]} values; a YOLOv5 detector gives "
            "cx, cy, w, h, objectness and one score per class",
            field="model output",
        )
    class_scores = pred[:, 5:] * pred[:, 4:5]
    cls = class_scores.argmax(axis=1)
    conf = class_scores[np.arange(len(pred)), cls]
    mask = conf >= conf_threshold
    pred, cls, conf = pred[mask], cls[mask], conf[mask]
    xyxy = np.column_stack([
        pred[:, 0] - pred[:, 2] / 2, pred[:, 1] - pred[:, 3] / 2,
        pred[:, 0] + pred[:, 2] / 2, pred[:, 1] + pred[:, 3] / 2,
    ])  # fmt: skip
    keep = non_max_suppression(xyxy, conf, cls, iou_threshold)
    boxes = box.to_normalised(xyxy[keep])
    return [
        {
            "category": str(int(c) + 1),
            "conf": round(float(s), 3),
            "bbox": [round(float(v), 4) for v in b],
        }
        for c, s, b in zip(cls[keep], conf[keep], boxes, strict=True)
        if b[2] > 0 and b[3] > 0
    ]


class OnnxDetector:
    """A YOLOv5-format ONNX detector run with onnxruntime on CPU.

    Parameters
    ----------
    model_path : path-like
        The ONNX file (user supplied; nothing is downloaded).
    image_size : int, optional
        Square input size; read from the model when its input shape is fixed (MegaDetector v5
        uses 1280).
    threads : int
        CPU threads for onnxruntime.
    """

    def __init__(self, model_path: str | os.PathLike, *, image_size: int | None = None,
                 threads: int = 2):  # fmt: skip
        try:
            import onnxruntime
        except ImportError:
            raise MissingDependencyError(
                "the detector needs onnxruntime: pip install 'crossings[camera]'"
            ) from None
        path = Path(model_path)
        if not path.is_file():
            raise InputFileError(path, "model file not found", "Give the path of an ONNX file")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise InputFileError(path, f"not a loadable ONNX model ({exc})") from None
        self.name = path.stem
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        fixed = [d for d in model_input.shape[2:] if isinstance(d, int)]
        self.image_size = image_size or (fixed[0] if fixed else 1280)

    def detect(self, rgb: np.ndarray, *, conf_threshold: float = 0.005,
               iou_threshold: float = 0.45) -> list[dict]:  # fmt: skip
        """Detections of one ``(h, w, 3)`` uint8 RGB image (MegaDetector JSON dicts)."""
        padded, box = letterbox(rgb, self.image_size)
        tensor = padded.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        output = self.session.run(None, {self.input_name: tensor})[0]
        return decode_yolov5(
            output[0], box, conf_threshold=conf_threshold, iou_threshold=iou_threshold
        )


def detect_folder(
    detector: OnnxDetector,
    images_dir: str | os.PathLike,
    out_json: str | os.PathLike,
    *,
    files: Sequence[str] | None = None,
    conf_threshold: float = 0.005,
    on_image: Callable[[str], None] | None = None,
) -> dict:
    """Run the detector on every image under ``images_dir``; write MegaDetector batch JSON."""
    from PIL import Image

    from crossings.io.camera import IMAGE_SUFFIXES

    root = Path(images_dir)
    if not root.is_dir():
        raise InputFileError(root, "images folder not found")
    if files is None:
        files = sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES
        )
    images = []
    for file in files:
        try:
            with Image.open(root / file) as image:
                rgb = np.asarray(image.convert("RGB"))
        except OSError as exc:
            images.append({"file": file, "failure": f"image could not be read: {exc}"})
            continue
        detections = detector.detect(rgb, conf_threshold=conf_threshold)
        best = max((d["conf"] for d in detections), default=0.0)
        images.append({"file": file, "max_detection_conf": best, "detections": detections})
        if on_image:
            on_image(file)
    result = {
        "info": {
            "detector": detector.name,
            "detection_completion_time": dt.datetime.now(dt.timezone.utc).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "format_version": "1.4",
        },
        "detection_categories": dict(MD_CATEGORIES),
        "images": images,
    }
    write_text_atomic(out_json, json.dumps(result, indent=1))
    return result
