"""A small PNG canvas for heatmaps and horizontal bar charts, drawn with Pillow.

Why not matplotlib here: the camera plots must take under 10 % of a run of 100,000 events
(issue 10), and that run takes about 5 CPU seconds without plots. Importing matplotlib's
Figure and Agg canvas alone costs 0.45-0.6 CPU s, and each tick label about 3 ms to lay out
and draw, so four labelled figures cost over 1.2 CPU s (over 20 % of the run) however few
artists they use (measured; see ``bench/camera.py``). Pillow (a matplotlib dependency) imports
in 0.03 s and draws the same four figures in about 0.2 s. The canvas only knows what those
figures need: text, heatmaps with a colour bar, bars with a numbered axis, a legend.

Text is DejaVu Sans (matplotlib's bundled font, found without importing matplotlib), which
covers Latin and Cyrillic names; Pillow's own font is the fallback.
"""

from __future__ import annotations

import importlib.util
import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from crossings.io.atomic import atomic_path

__all__ = ["Canvas", "COLORMAPS", "GREY", "nice_ticks"]

#: Colour stops (at 0, 1/8, ..., 1) of matplotlib's perceptually uniform maps.
COLORMAPS = {
    "viridis": ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962",
                "#addc30", "#fde725"),
    "magma": ("#000004", "#1c1044", "#4f127b", "#812581", "#b5367a", "#e55964", "#fb8761",
              "#fec287", "#fcfdbf"),
}  # fmt: skip
INK = (34, 34, 34)
GREY = (85, 85, 85)
GRID = (225, 225, 225)


@lru_cache(maxsize=None)
def _font(size: int, bold: bool = False) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    spec = importlib.util.find_spec("matplotlib")  # locates the package without importing it
    for folder in spec.submodule_search_locations if spec else []:
        path = Path(folder) / "mpl-data" / "fonts" / "ttf" / name
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


@lru_cache(maxsize=None)
def _lut(name: str) -> np.ndarray:
    """256 x 3 uint8 colours, linear between the stops."""
    stops = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in COLORMAPS[name]], float)
    at = np.linspace(0, 1, len(stops))
    x = np.linspace(0, 1, 256)
    return np.stack([np.interp(x, at, stops[:, k]) for k in range(3)], axis=1).astype(np.uint8)


def nice_ticks(top: float, count: int = 5) -> np.ndarray:
    """Ticks 0, s, 2s, ... covering ``top``, with s = 1, 2 or 5 times a power of ten."""
    if not np.isfinite(top) or top <= 0:
        return np.array([0.0, 1.0])
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return np.arange(0, top + step * 0.999, step)


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2g}"


class Canvas:
    """A white RGB image with pixel coordinates from the top left."""

    def __init__(self, width: int, height: int):
        self.width, self.height = int(width), int(height)
        self.image = Image.new("RGB", (self.width, self.height), "white")
        self.draw = ImageDraw.Draw(self.image)

    # --- text -------------------------------------------------------------------------------
    def text_width(self, text: str, size: int = 9, bold: bool = False) -> int:
        return math.ceil(_font(size, bold).getlength(text))

    def text(self, xy, text: str, *, size: int = 9, bold=False, fill=INK, anchor="la") -> None:
        """``anchor``: Pillow's two letters (l/m/r then a/m/d: top, middle, baseline)."""
        self.draw.text(xy, text, font=_font(size, bold), fill=fill, anchor=anchor)

    def vertical_text(self, xy, text: str, *, size: int = 8, fill=INK) -> None:
        """Text read bottom to top, its end at ``xy`` (top centre of the label)."""
        font = _font(size)
        width = self.text_width(text, size) + 2
        strip = Image.new("L", (width, size + 4), 0)
        ImageDraw.Draw(strip).text((0, size // 2 + 2), text, font=font, fill=255, anchor="lm")
        strip = strip.rotate(90, expand=True)
        self.image.paste(fill, (int(xy[0] - strip.width / 2), int(xy[1])), strip)

    def fit(self, text: str, width: int, size: int = 8) -> str:
        """``text`` shortened with an ellipsis to at most ``width`` pixels."""
        if self.text_width(text, size) <= width:
            return text
        while text and self.text_width(text + "…", size) > width:
            text = text[:-1]
        return text + "…"

    # --- heatmaps ---------------------------------------------------------------------------
    def heatmap(self, box, matrix: np.ndarray, cmap: str, vmax: float | None = None) -> float:
        """Cells of ``matrix`` (rows top to bottom) filling ``box`` = (left, top, right, bottom);
        returns the value shown by the top colour."""
        left, top, right, bottom = (int(v) for v in box)
        vmax = float(matrix.max()) if vmax is None else vmax
        scaled = np.clip(matrix / vmax, 0, 1) if vmax > 0 else np.zeros_like(matrix)
        cells = Image.fromarray(_lut(cmap)[np.round(255 * scaled).astype(np.uint8)], "RGB")
        self.image.paste(cells.resize((right - left, bottom - top), Image.Resampling.NEAREST),
                         (left, top))  # fmt: skip
        return vmax

    def row_labels(self, box, labels: list[str], size: int = 8) -> None:
        left, top, _, bottom = box
        pitch = (bottom - top) / max(1, len(labels))
        for k, label in enumerate(labels):
            self.text((left - 4, top + (k + 0.5) * pitch), label, size=size, anchor="rm")

    def column_labels(self, box, labels: list[str], step: int = 1, size: int = 8) -> None:
        left, _, right, bottom = box
        pitch = (right - left) / max(1, len(labels))
        for k in range(0, len(labels), step):
            self.vertical_text((left + (k + 0.5) * pitch, bottom + 4), labels[k], size=size)

    def colorbar(self, box, cmap: str, vmax: float, label: str) -> None:
        """A vertical colour bar 0..vmax in ``box`` with numbered ticks and a label."""
        left, top, right, bottom = (int(v) for v in box)
        ramp = _lut(cmap)[::-1][:, None, :].repeat(2, axis=1)
        self.image.paste(Image.fromarray(np.ascontiguousarray(ramp), "RGB").resize(
            (right - left, bottom - top), Image.Resampling.BILINEAR), (left, top))  # fmt: skip
        ticks = nice_ticks(vmax, 4) if vmax > 1.5 else np.linspace(0, max(vmax, 1e-9), 3)
        for value in ticks[ticks <= vmax * 1.0001]:
            y = bottom - (bottom - top) * value / vmax if vmax > 0 else bottom
            self.draw.line((right, y, right + 3, y), fill=INK)
            self.text((right + 5, y), _number(value), size=7, anchor="lm")
        middle = (top + bottom - self.text_width(label, 8)) / 2
        self.vertical_text((right + 40, max(0, middle)), label, size=8)

    # --- bars -------------------------------------------------------------------------------
    def bar_axis(self, box, top_value: float, label: str) -> float:
        """Grid lines and numbers under ``box`` for 0..top_value; returns the axis maximum."""
        left, top, right, bottom = box
        ticks = nice_ticks(top_value)
        xmax = float(ticks[-1])
        for value in ticks:
            x = left + (right - left) * value / xmax
            self.draw.line((x, top, x, bottom), fill=GRID)
            self.text((x, bottom + 3), _number(value), size=8, anchor="ma")
        self.draw.line((left, top, left, bottom), fill=INK)
        self.draw.line((left, bottom, right, bottom), fill=INK)
        self.text(((left + right) / 2, bottom + 18), label, size=9, anchor="ma")
        return xmax

    def hbars(self, box, xmax: float, stacks, *, offset=0.0, thickness=0.7) -> None:
        """Horizontal bars, one row per value; ``stacks``: (values, colour) drawn end to end.
        ``offset`` and ``thickness`` are in rows (for bars side by side in a row)."""
        left, top, right, bottom = box
        pitch = (bottom - top) / max(1, len(stacks[0][0]))
        scale = (right - left) / xmax
        start = np.zeros(len(stacks[0][0]))
        for values, colour in stacks:
            values = np.nan_to_num(np.asarray(values, float))
            for k in np.flatnonzero(values > 0):
                y = top + (k + 0.5 + offset) * pitch
                x0 = left + scale * start[k]
                half = thickness * pitch / 2
                self.draw.rectangle((x0, y - half, x0 + scale * values[k], y + half), fill=colour)
            start = start + values

    def legend(self, xy, items: list[tuple[str, str]]) -> None:
        x, y = xy
        for k, (name, colour) in enumerate(items):
            self.draw.rectangle((x, y + 16 * k, x + 10, y + 16 * k + 10), fill=colour)
            self.text((x + 15, y + 16 * k + 5), name, size=8, anchor="lm")

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        with atomic_path(path) as tmp:
            # level 3: a tenth of the default's time for files a few per cent larger
            self.image.save(tmp, format="PNG", compress_level=3)
        return path
