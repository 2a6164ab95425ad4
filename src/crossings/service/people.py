"""People detectors for field-report photos (the ``people`` extra: OpenCV).

``hog`` is OpenCV's HOG + linear SVM pedestrian detector (Dalal and Triggs), whose weights ship
inside OpenCV itself: nothing is downloaded. It finds upright, whole people roughly 100 px tall or
more; it misses people who sit, crouch or are cut off by the frame, so a photo it screened is
still restricted by the policy like any other report photo.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from crossings.errors import ConfigError, MissingDependencyError

__all__ = ["DETECTORS", "people_detector", "hog_detector"]

DETECTORS = ("hog",)
#: Photos are scanned at most this many pixels on their long side (HOG's cost grows with area).
MAX_SIDE = 1000
#: SVM margin above which a window counts as a person.
MIN_WEIGHT = 0.5
#: Boxes are widened by this share on each side, so that the blur covers the whole person.
MARGIN = 0.15


def people_detector(name: str | Callable | None) -> Callable | None:
    """The detector named in the settings (``"hog"``), a detector function as is, or ``None``."""
    if name is None or callable(name):
        return name
    if name == "hog":
        return hog_detector()
    raise ConfigError(
        f"must be one of {', '.join(DETECTORS)}; got {name!r}", field="--people-detector"
    )


def hog_detector() -> Callable:
    try:
        import cv2
    except ImportError:
        raise MissingDependencyError(
            "the 'hog' people detector needs OpenCV: pip install 'crossings[people]'"
        ) from None
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(image) -> list[tuple[int, int, int, int]]:
        """Boxes ``(x0, y0, x1, y1)`` of the people in an RGB PIL image."""
        scale = min(1.0, MAX_SIDE / max(image.size))
        small = image.convert("L")
        if scale < 1.0:
            small = small.resize((round(image.width * scale), round(image.height * scale)))
        rects, weights = hog.detectMultiScale(
            np.asarray(small), winStride=(4, 4), padding=(8, 8), scale=1.05
        )
        boxes = []
        for (x, y, w, h), weight in zip(rects, np.ravel(weights), strict=True):
            if weight < MIN_WEIGHT:
                continue
            dx, dy = w * MARGIN, h * MARGIN
            x0, y0 = max(0.0, (x - dx) / scale), max(0.0, (y - dy) / scale)
            x1 = min(image.width, (x + w + dx) / scale)
            y1 = min(image.height, (y + h + dy) / scale)
            boxes.append((int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))))
        return boxes

    return detect
