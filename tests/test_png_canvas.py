"""The Pillow canvas behind the camera plots: cells, bars and ticks land where the numbers say."""

from __future__ import annotations

import numpy as np
import pytest

from crossings.report.png_canvas import Canvas, _lut, nice_ticks


def _hex(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def test_heatmap_cells_take_the_colour_of_their_value():
    canvas = Canvas(40, 40)
    vmax = canvas.heatmap((10, 10, 30, 30), np.array([[0.0, 2.0], [1.0, 0.0]]), "viridis")
    pixels = np.asarray(canvas.image)
    assert vmax == 2.0
    assert tuple(pixels[15, 25]) == _hex("#fde725")  # row 0, column 1: the maximum
    assert tuple(pixels[15, 15]) == _hex("#440154") == tuple(pixels[25, 25])  # zeros
    assert tuple(pixels[25, 15]) == tuple(_lut("viridis")[128])  # half of the maximum
    assert tuple(pixels[5, 5]) == (255, 255, 255)  # outside the box stays white
    cells = (pixels[10:30, 10:30] != 255).any(axis=2)
    assert cells.all()


def test_bars_are_proportional_and_stack_end_to_end():
    canvas = Canvas(120, 40)
    canvas.hbars((10, 0, 110, 40), 4.0, [(np.array([1.0, 2.0]), "#ff0000"),
                                         (np.array([1.0, 0.0]), "#0000ff")])  # fmt: skip
    pixels = np.asarray(canvas.image)
    red = (pixels == (255, 0, 0)).all(axis=2)
    blue = (pixels == (0, 0, 255)).all(axis=2)
    assert red[10].sum() == pytest.approx(25, abs=1) and blue[10].sum() == pytest.approx(25, abs=1)
    assert red[30].sum() == pytest.approx(50, abs=1) and blue[30].sum() == 0
    assert np.flatnonzero(blue[10]).min() >= np.flatnonzero(red[10]).max()


@pytest.mark.parametrize(
    ("top", "expected"),
    [(470, [0, 100, 200, 300, 400, 500]), (5.2, [0, 2, 4, 6]), (0.047, [0, 0.01, 0.02, 0.03,
     0.04, 0.05]), (0, [0, 1])],
)  # fmt: skip
def test_nice_ticks_cover_the_top_with_round_steps(top, expected):
    assert nice_ticks(top) == pytest.approx(expected)


def _rendered(letter: str) -> np.ndarray:
    canvas = Canvas(30, 30)
    canvas.text((5, 15), letter, size=14, anchor="lm")
    return np.asarray(canvas.image)


def test_labels_are_drawn_in_a_font_with_cyrillic():
    # a font without Cyrillic draws the same "missing glyph" box for every Cyrillic letter
    assert not np.array_equal(_rendered("Ж"), _rendered("ж"))
    assert not np.array_equal(_rendered("Ж"), _rendered("\U0010fffd"))


def test_long_labels_end_in_an_ellipsis_within_the_width():
    canvas = Canvas(1, 1)
    short = canvas.fit("a long opening name", 40)
    assert short.endswith("…") and canvas.text_width(short) <= 40
    assert canvas.fit("F1", 40) == "F1"
