"""PNG plots of camera-trap use of fence openings: monthly, diel, use per opening, before/after.

Every plot reads the tables of a :class:`crossings.core.camtrap.CameraResult`, which never hold
person or vehicle records unless the analysis was told to keep them; the plots drop those
categories again, so a person can never appear in a figure.

The plots stay readable and fast for any survey size: months and hours are heatmaps (openings
by month, species by month, species by hour), bar charts and heatmaps show at most
``MAX_OPENINGS`` openings and ``MAX_SPECIES`` species (the most seen; a note on the figure says
how many openings are left out), and every figure has a fixed upper size (``MAX_INCHES`` at
``DPI``). Data are summed with numpy from the table columns, never row by row.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from crossings.core.camtrap import PRIVATE_CATEGORIES, CameraResult, Table
from crossings.io.atomic import atomic_path

__all__ = ["write_camera_plots", "PLOT_NAMES", "MAX_SPECIES", "MAX_OPENINGS", "MAX_INCHES", "DPI"]


PLOT_NAMES = ("monthly.png", "diel.png", "use_by_opening.png", "before_after.png")
#: Species rows in the heatmaps (the most seen ones).
MAX_SPECIES = 18
#: Openings in the bar charts and heatmap rows (the most used ones).
MAX_OPENINGS = 30
#: Largest figure, inches (width, height).
MAX_INCHES = (13.0, 9.0)
DPI = 110


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.spines.top": False,
                         "axes.spines.right": False})  # fmt: skip
    return plt


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


def _size(width: float, height: float) -> tuple[float, float]:
    return min(width, MAX_INCHES[0]), min(height, MAX_INCHES[1])


def _save(fig, path: Path, caption: str = "", note: str = "", *, left: float = 0.2) -> Path:
    height = fig.get_size_inches()[1]
    # fixed margins in inches: room for the caption, the title and the axis labels
    fig.subplots_adjust(left=left, right=0.84, bottom=min(0.45, 0.8 / height),
                        top=max(0.5, 1 - 0.95 / height))  # fmt: skip
    if fig._suptitle is not None:
        fig._suptitle.set_y(1 - 0.45 / height)
    if caption:  # e.g. "SYNTHETIC detections": the label travels with the picture
        fig.text(0.5, 0.995, caption, ha="center", va="top", color="#b00020", weight="bold")
    if note:
        fig.text(0.01, 0.005, note, ha="left", va="bottom", color="#555", fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI)
    _plt().close(fig)
    return path


def _empty(path: Path, title: str, caption: str = "") -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.set_axis_off()
    ax.text(0.5, 0.5, "No animal events in the analysed period", ha="center", va="center")
    ax.set_title(title)
    return _save(fig, path, caption)


def _heatmap(ax, matrix, row_labels, col_labels, tick_step, cmap="viridis"):
    image = ax.imshow(matrix, aspect="auto", interpolation="nearest", cmap=cmap, vmin=0)
    ticks = np.arange(0, len(col_labels), tick_step)
    ax.set_xticks(ticks, [col_labels[t] for t in ticks], rotation=90, fontsize=7)
    ax.set_yticks(np.arange(len(row_labels)), row_labels, fontsize=7)
    return image


def _matrix(labels, keep: list[str], col: np.ndarray, n_cols: int, weights) -> np.ndarray:
    row = {name: k for k, name in enumerate(keep)}
    rows = np.array([row.get(lab, -1) for lab in labels], dtype=np.int64)
    shown = rows >= 0
    matrix = np.zeros((len(keep), n_cols))
    np.add.at(matrix, (rows[shown], col[shown]), weights[shown])
    return matrix


def plot_monthly(monthly: Table, path: Path, caption: str = "") -> Path:
    """Events per month: a heatmap of openings by month and one of species by month."""
    cols = _public(monthly)
    title = "Independent events per month (local time)"
    if not len(cols["species"]) or cols["events"].sum() == 0:
        return _empty(path, title, caption)
    plt = _plt()
    labels = _opening_labels(cols)
    species = cols["species"].astype(str)
    openings = _top(labels, cols["events"], MAX_OPENINGS)
    kinds = _top(species, cols["events"], MAX_SPECIES)
    months = np.arange(np.datetime64(min(cols["month"]), "M"),
                       np.datetime64(max(cols["month"]), "M") + 1)  # fmt: skip
    col = (cols["month"].astype("datetime64[M]") - months[0]).astype(np.int64)
    month_labels = [str(m) for m in months]
    step = max(1, int(np.ceil(len(months) / 36)))
    heights = (len(openings) + 1, len(kinds) + 1)
    fig, (top, bottom) = plt.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": heights},
        figsize=_size(2.5 + 0.22 * len(months), 1.6 + 0.17 * sum(heights)),
    )  # fmt: skip
    fig.subplots_adjust(hspace=0.08)
    image = _heatmap(top, _matrix(labels, openings, col, len(months), cols["events"]), openings,
                     month_labels, step)  # fmt: skip
    top.set_ylabel("opening")
    fig.colorbar(image, ax=top, fraction=0.03, pad=0.01, label="events")
    image = _heatmap(bottom, _matrix(species, kinds, col, len(months), cols["events"]), kinds,
                     month_labels, step)  # fmt: skip
    bottom.set_ylabel("species")
    bottom.set_xlabel("month")
    fig.colorbar(image, ax=bottom, fraction=0.03, pad=0.01, label="events")
    fig.suptitle(title, fontweight="bold")
    note = _left_out(len(set(labels)), len(openings))
    return _save(fig, path, caption, note)


def _left_out(total: int, shown: int) -> str:
    return f"{total - shown} less used openings not shown" if total > shown else ""


def plot_diel(diel: Table, path: Path, caption: str = "") -> Path:
    """Share of each species' events per hour of day (local camera time), all openings."""
    cols = _public(diel)
    title = "Diel activity: share of events by hour of day (local time)"
    if not len(cols["species"]) or cols["events"].sum() == 0:
        return _empty(path, title, caption)
    plt = _plt()
    species = _top(cols["species"].astype(str), cols["events"], MAX_SPECIES)
    row = {name: k for k, name in enumerate(species)}
    rows = np.array([row.get(s, -1) for s in cols["species"].astype(str)])
    counts = np.zeros((len(species), 24))
    mine = rows >= 0
    np.add.at(counts, (rows[mine], cols["hour"][mine].astype(np.int64)), cols["events"][mine])
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    fig, ax = plt.subplots(figsize=_size(9.0, 2.4 + 0.3 * len(species)))
    image = ax.imshow(share, aspect="auto", interpolation="nearest", cmap="magma")
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    names = [f"{s} ({int(t)})" for s, t in zip(species, totals[:, 0], strict=True)]
    ax.set_yticks(np.arange(len(species)), names)
    ax.set_xlabel("hour of day (local)")
    fig.colorbar(image, ax=ax, label="share of the species' events")
    fig.suptitle(title, fontweight="bold")
    return _save(fig, path, caption, left=0.3)


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


def plot_use(use: Table, path: Path, caption: str = "") -> Path:
    """Per opening (all species): events per 100 camera-days and crossings by direction."""
    cols = _public(use)
    title = "Use of openings (all species)"
    if not len(cols["species"]):
        return _empty(path, title, caption)
    plt = _plt()
    names = ["events", "crossings_a_to_b", "crossings_b_to_a", "direction_unknown"]
    openings, sums = _by_opening(cols, names)
    days = _days_per_opening(use, openings, "camera_days")
    rate = np.divide(100 * sums["events"], days, out=np.zeros(len(days)), where=days > 0)
    y = np.arange(len(openings))
    fig, (left, right) = plt.subplots(1, 2, sharey=True,
                                      figsize=_size(11.0, 1.6 + 0.28 * len(openings)))  # fmt: skip
    left.barh(y, rate, color="#1b9e77")
    left.set_yticks(y, openings, fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("events per 100 camera-days")
    left.set_title("Detection rate")
    a_to_b, b_to_a = sums["crossings_a_to_b"], sums["crossings_b_to_a"]
    right.barh(y, a_to_b, color="#d95f02", label="A to B")
    right.barh(y, b_to_a, left=a_to_b, color="#7570b3", label="B to A")
    right.barh(y, sums["direction_unknown"], left=a_to_b + b_to_a, color="#bbbbbb",
               label="direction unknown")  # fmt: skip
    sides = {(str(a), str(b)) for a, b in zip(cols["side_a"], cols["side_b"], strict=True)}
    right.set_title(
        "Crossings by direction"
        + (" (A = {}, B = {})".format(*sides.pop()) if len(sides) == 1 else "")
    )
    right.set_xlabel("events")
    right.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title, fontweight="bold")
    return _save(fig, path, caption, _left_out(len(set(_opening_labels(cols))), len(openings)))


def plot_before_after(use: Table, path: Path, caption: str = "") -> Path:
    """Detection rate before and after each opening was made (where the date is known)."""
    cols = _public(use)
    title = "Before and after the opening was made (all species)"
    keep = cols["camera_days_before"].astype(float) > 0 if len(cols["species"]) else []
    cols = {k: v[keep] for k, v in cols.items()}
    if not len(cols["species"]):
        return _empty(path, title + ": no camera-days before any opening date", caption)
    plt = _plt()
    openings, sums = _by_opening(cols, ["events", "events_before", "events_after"])
    before_days = _days_per_opening(use, openings, "camera_days_before")
    after_days = _days_per_opening(use, openings, "camera_days_after")
    before = np.divide(100 * sums["events_before"], before_days, out=np.zeros(len(openings)),
                       where=before_days > 0)  # fmt: skip
    after = np.divide(100 * sums["events_after"], after_days, out=np.zeros(len(openings)),
                      where=after_days > 0)  # fmt: skip
    y = np.arange(len(openings))
    fig, ax = plt.subplots(figsize=_size(8.5, 1.2 + 0.32 * len(openings)))
    ax.barh(y - 0.2, before, 0.4, color="#999999", label="before")
    ax.barh(y + 0.2, after, 0.4, color="#1b9e77", label="after")
    ax.set_yticks(y, openings, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("events per 100 camera-days")
    ax.legend(frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title, fontweight="bold")
    return _save(fig, path, caption, _left_out(len(set(_opening_labels(cols))), len(openings)))


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
