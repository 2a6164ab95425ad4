"""PNG plots of camera-trap use of fence openings: monthly, diel, use per opening, before/after.

Every plot reads the tables of a :class:`crossings.core.camtrap.CameraResult`, which never hold
person or vehicle records unless the analysis was told to keep them; the plots drop those
categories again, so a person can never appear in a figure.

The plots stay readable and fast for any survey size: months and hours are heatmaps (openings
by month, species by month, species by hour), bar charts and heatmaps show at most
``MAX_OPENINGS`` openings and ``MAX_SPECIES`` species (the most seen; a note on the figure says
how many openings are left out), and every figure has a fixed upper size (``MAX_INCHES`` at
``DPI``). Data are summed with numpy from the table columns, never row by row. The figures are
drawn on a :class:`crossings.report.png_canvas.Canvas` (Pillow), which is why they cost a few
per cent of a run (its module says why not matplotlib).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from crossings.core.camtrap import PRIVATE_CATEGORIES, CameraResult, Table
from crossings.report.png_canvas import GREY, Canvas

__all__ = ["write_camera_plots", "PLOT_NAMES", "MAX_SPECIES", "MAX_OPENINGS", "MAX_INCHES", "DPI"]


PLOT_NAMES = ("monthly.png", "diel.png", "use_by_opening.png", "before_after.png")
#: Species rows in the heatmaps (the most seen ones).
MAX_SPECIES = 18
#: Openings in the bar charts and heatmap rows (the most used ones).
MAX_OPENINGS = 30
#: Largest figure, inches (width, height).
MAX_INCHES = (13.0, 9.0)
DPI = 110
MAX_PX = (int(MAX_INCHES[0] * DPI), int(MAX_INCHES[1] * DPI))
#: Widest row label, pixels (longer labels end in an ellipsis).
LABEL_PX = 260
ROW_PX = 14
BAR_ROW_PX = 18
#: Least height of a heatmap or bar block, pixels (room for its colour bar or legend).
MIN_BLOCK_PX = 56
COLOURS = {"rate": "#1b9e77", "a_to_b": "#d95f02", "b_to_a": "#7570b3", "unknown": "#bbbbbb",
           "before": "#999999", "after": "#1b9e77"}  # fmt: skip


def _public(table: Table) -> dict[str, np.ndarray]:
    """Columns of the rows with an animal species (no person, vehicle or empty effort rows)."""
    species = np.asarray(table["species"]).astype(str) if len(table) else np.zeros(0, str)
    keep = (species != "") & ~np.isin(species, list(PRIVATE_CATEGORIES))
    return {name: np.asarray(values)[keep] for name, values in table.columns.items()}


def _opening_labels(columns: dict[str, np.ndarray]) -> np.ndarray:
    fence = columns["fence_id"].astype(str)
    opening = columns["opening_id"].astype(str)
    return np.where(opening != "", np.char.add(np.char.add(fence, " / "), opening), fence)


def _top(labels: np.ndarray, weights: np.ndarray, limit: int) -> list[str]:
    """Up to ``limit`` labels with the largest total weight (ties: by name)."""
    names, inverse = np.unique(labels, return_inverse=True)
    totals = np.bincount(inverse.reshape(-1), weights.astype(float), len(names))
    order = np.lexsort((names, -totals))
    return [str(n) for n in names[order][:limit]]


def _left_out(total: int, shown: int) -> str:
    return f"{total - shown} less used openings not shown" if total > shown else ""


def _frame(width: float, height: float, title: str, caption: str) -> tuple[Canvas, int]:
    """A canvas within the size bound with the caption and title; returns it and the first
    free row (pixels)."""
    probe = Canvas(1, 1)
    wanted = max(width, probe.text_width(title, 11, True) + 24, probe.text_width(caption) + 24)
    canvas = Canvas(min(wanted, MAX_PX[0]), min(height, MAX_PX[1]))
    top = 6
    if caption:  # e.g. "SYNTHETIC detections": the label travels with the picture
        canvas.text((canvas.width / 2, top), caption, size=9, bold=True, fill="#b00020",
                    anchor="ma")  # fmt: skip
        top += 16
    canvas.text((12, top), title, size=11, bold=True)
    return canvas, top + 30


def _finish(canvas: Canvas, path: Path, note: str = "") -> Path:
    if note:
        canvas.text((8, canvas.height - 4), note, size=8, fill=GREY, anchor="ld")
    return canvas.save(path)


def _label_px(canvas: Canvas, labels: list[str]) -> int:
    return min(LABEL_PX, max((canvas.text_width(s, 8) for s in labels), default=0) + 8)


def _empty(path: Path, title: str, caption: str = "") -> Path:
    canvas, top = _frame(660, 130, title, caption)
    canvas.text((canvas.width / 2, top + 30), "No animal events in the analysed period", size=10,
                anchor="mm")  # fmt: skip
    return _finish(canvas, path)


def _matrix(labels, keep: list[str], col: np.ndarray, n_cols: int, weights) -> np.ndarray:
    row = {name: k for k, name in enumerate(keep)}
    rows = np.array([row.get(lab, -1) for lab in labels], dtype=np.int64)
    shown = rows >= 0
    matrix = np.zeros((len(keep), n_cols))
    np.add.at(matrix, (rows[shown], col[shown]), weights[shown])
    return matrix


def _block_px(rows: int) -> int:
    return max(ROW_PX * rows, MIN_BLOCK_PX)


def _heat_block(canvas, box, heading, matrix, rows, cmap, bar_label):
    """One labelled heatmap with its colour bar; ``box`` is the cells' area."""
    left, top, right, bottom = box
    canvas.text((left, top - 3), heading, size=9, bold=True, anchor="ld")
    vmax = canvas.heatmap(box, matrix, cmap)
    canvas.row_labels(box, [canvas.fit(r, LABEL_PX - 8) for r in rows])
    canvas.colorbar((right + 10, top, right + 22, bottom), cmap, vmax, bar_label)


def plot_monthly(monthly: Table, path: Path, caption: str = "") -> Path:
    """Events per month: a heatmap of openings by month and one of species by month."""
    cols = _public(monthly)
    title = "Independent events per month (local time)"
    if not len(cols["species"]) or cols["events"].sum() == 0:
        return _empty(path, title, caption)
    labels = _opening_labels(cols)
    species = cols["species"].astype(str)
    openings = _top(labels, cols["events"], MAX_OPENINGS)
    kinds = _top(species, cols["events"], MAX_SPECIES)
    months = np.arange(np.datetime64(min(cols["month"]), "M"),
                       np.datetime64(max(cols["month"]), "M") + 1)  # fmt: skip
    col = (cols["month"].astype("datetime64[M]") - months[0]).astype(np.int64)
    probe = Canvas(1, 1)
    left = 12 + _label_px(probe, openings + kinds)
    cell = int(np.clip((MAX_PX[0] - left - 110) / len(months), 3, 22))
    right = left + max(cell * len(months), 120)
    rows_px = [_block_px(len(openings)), _block_px(len(kinds))]
    height = 56 + sum(rows_px) + 24 + 70 + 24
    canvas, top = _frame(right + 110, height + (16 if caption else 0), title, caption)
    box = (left, top + 12, right, top + 12 + rows_px[0])
    _heat_block(canvas, box, "Openings (fence / opening)",
                _matrix(labels, openings, col, len(months), cols["events"]), openings, "viridis",
                "events")  # fmt: skip
    box = (left, box[3] + 24, right, box[3] + 24 + rows_px[1])
    _heat_block(canvas, box, "Species", _matrix(species, kinds, col, len(months), cols["events"]),
                kinds, "viridis", "events")  # fmt: skip
    step = max(1, int(np.ceil(12 * len(months) / (right - left))))
    canvas.column_labels(box, [str(m) for m in months], step)
    canvas.text(((left + right) / 2, box[3] + 58), "month", size=9, anchor="ma")
    return _finish(canvas, path, _left_out(len(set(labels)), len(openings)))


def plot_diel(diel: Table, path: Path, caption: str = "") -> Path:
    """Share of each species' events per hour of day (local camera time), all openings."""
    cols = _public(diel)
    title = "Diel activity: share of events by hour of day (local time)"
    if not len(cols["species"]) or cols["events"].sum() == 0:
        return _empty(path, title, caption)
    species = _top(cols["species"].astype(str), cols["events"], MAX_SPECIES)
    counts = _matrix(cols["species"].astype(str), species, cols["hour"].astype(np.int64), 24,
                     cols["events"].astype(float))  # fmt: skip
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    names = [f"{s} ({int(t)})" for s, t in zip(species, totals[:, 0], strict=True)]
    probe = Canvas(1, 1)
    left = 12 + _label_px(probe, names)
    right = left + 24 * 26
    rows_px = max(18 * len(species), MIN_BLOCK_PX)
    height = 40 + rows_px + 70
    canvas, top = _frame(right + 120, height + (16 if caption else 0), title, caption)
    box = (left, top + 12, right, top + 12 + rows_px)
    _heat_block(canvas, box, "Species (events)", share, names, "magma",
                "share of the species' events")  # fmt: skip
    canvas.column_labels(box, [f"{h:02d}" for h in range(24)], 1)
    canvas.text(((left + right) / 2, box[3] + 24), "hour of day (local)", size=9, anchor="ma")
    return _finish(canvas, path)


def _by_opening(cols: dict[str, np.ndarray], names: list[str]) -> tuple[list[str], dict]:
    labels = _opening_labels(cols)
    openings = _top(labels, cols["events"], MAX_OPENINGS)
    row = {name: k for k, name in enumerate(openings)}
    index = np.array([row.get(lab, -1) for lab in labels])
    shown = index >= 0
    sums = {}
    for name in names:
        values = np.zeros(len(openings))
        np.add.at(values, index[shown], np.nan_to_num(cols[name][shown].astype(float)))
        sums[name] = values
    return openings, sums


def _days_per_opening(use: Table, openings: list[str], column: str) -> np.ndarray:
    """Camera-days of each opening (repeated on its species rows in the use table: take one)."""
    labels = _opening_labels({k: np.asarray(v) for k, v in use.columns.items()})
    days = dict(zip(labels, np.asarray(use[column], dtype=float), strict=True))
    return np.array([days.get(o, 0.0) for o in openings])


def _bar_frame(openings: list[str], panels: int, title: str, caption: str):
    """A canvas with one row per opening and ``panels`` bar panels of 360 px side by side;
    returns the canvas and each panel's box."""
    probe = Canvas(1, 1)
    left = 12 + _label_px(probe, openings)
    width = left + panels * 360 + (panels - 1) * 40 + 150
    rows_px = max(BAR_ROW_PX * len(openings), MIN_BLOCK_PX)
    height = 40 + rows_px + 60
    canvas, top = _frame(width, height + (16 if caption else 0), title, caption)
    bottom = top + 12 + rows_px
    boxes = [(left + k * 400, top + 12, left + k * 400 + 360, bottom) for k in range(panels)]
    canvas.row_labels(boxes[0], [canvas.fit(o, LABEL_PX - 8) for o in openings])
    return canvas, boxes


def plot_use(use: Table, path: Path, caption: str = "") -> Path:
    """Per opening (all species): events per 100 camera-days and crossings by direction."""
    cols = _public(use)
    title = "Use of openings (all species)"
    if not len(cols["species"]):
        return _empty(path, title, caption)
    names = ["events", "crossings_a_to_b", "crossings_b_to_a", "direction_unknown"]
    openings, sums = _by_opening(cols, names)
    days = _days_per_opening(use, openings, "camera_days")
    rate = np.divide(100 * sums["events"], days, out=np.zeros(len(days)), where=days > 0)
    canvas, (rate_box, cross_box) = _bar_frame(openings, 2, title, caption)
    canvas.text((rate_box[0], rate_box[1] - 3), "Detection rate", size=9, bold=True, anchor="ld")
    xmax = canvas.bar_axis(rate_box, rate.max(), "events per 100 camera-days")
    canvas.hbars(rate_box, xmax, [(rate, COLOURS["rate"])])
    sides = {(str(a), str(b)) for a, b in zip(cols["side_a"], cols["side_b"], strict=True)}
    heading = "Crossings by direction" + (
        " (A = {}, B = {})".format(*sides.pop()) if len(sides) == 1 else ""
    )
    canvas.text((cross_box[0], cross_box[1] - 3), heading, size=9, bold=True, anchor="ld")
    stacks = [(sums["crossings_a_to_b"], COLOURS["a_to_b"]),
              (sums["crossings_b_to_a"], COLOURS["b_to_a"]),
              (sums["direction_unknown"], COLOURS["unknown"])]  # fmt: skip
    xmax = canvas.bar_axis(cross_box, sum(v for v, _ in stacks).max(), "events")
    canvas.hbars(cross_box, xmax, stacks)
    canvas.legend((cross_box[2] + 12, cross_box[1]),
                  [("A to B", COLOURS["a_to_b"]), ("B to A", COLOURS["b_to_a"]),
                   ("direction unknown", COLOURS["unknown"])])  # fmt: skip
    return _finish(canvas, path, _left_out(len(set(_opening_labels(cols))), len(openings)))


def plot_before_after(use: Table, path: Path, caption: str = "") -> Path:
    """Detection rate before and after each opening was made (where the date is known)."""
    cols = _public(use)
    title = "Before and after the opening was made (all species)"
    keep = cols["camera_days_before"].astype(float) > 0 if len(cols["species"]) else []
    cols = {k: v[keep] for k, v in cols.items()}
    if not len(cols["species"]):
        return _empty(path, title + ": no camera-days before any opening date", caption)
    openings, sums = _by_opening(cols, ["events", "events_before", "events_after"])
    rates = {}
    for when in ("before", "after"):
        days = _days_per_opening(use, openings, f"camera_days_{when}")
        rates[when] = np.divide(100 * sums[f"events_{when}"], days, out=np.zeros(len(openings)),
                                where=days > 0)  # fmt: skip
    canvas, (box,) = _bar_frame(openings, 1, title, caption)
    xmax = canvas.bar_axis(box, max(rates["before"].max(), rates["after"].max()),
                           "events per 100 camera-days")  # fmt: skip
    for offset, when in ((-0.2, "before"), (0.2, "after")):
        canvas.hbars(box, xmax, [(rates[when], COLOURS[when])], offset=offset, thickness=0.38)
    canvas.legend((box[2] + 12, box[1]), [(w, COLOURS[w]) for w in ("before", "after")])
    return _finish(canvas, path, _left_out(len(set(_opening_labels(cols))), len(openings)))


def write_camera_plots(
    result: CameraResult, out_dir: str | os.PathLike, *, caption: str = ""
) -> list[Path]:
    """Write the four PNG plots into ``out_dir``; returns their paths.

    ``caption`` is printed on every plot (e.g. to label synthetic data as such).
    """
    out_dir = Path(out_dir)
    return [
        plot_monthly(result.monthly, out_dir / PLOT_NAMES[0], caption),
        plot_diel(result.diel, out_dir / PLOT_NAMES[1], caption),
        plot_use(result.use, out_dir / PLOT_NAMES[2], caption),
        plot_before_after(result.use, out_dir / PLOT_NAMES[3], caption),
    ]
