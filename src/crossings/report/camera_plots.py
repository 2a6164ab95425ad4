"""PNG plots of camera-trap use of fence openings: monthly, diel, use per opening, before/after.

Every plot reads the tables of a :class:`crossings.core.camtrap.CameraResult`, which never hold
person or vehicle records unless the analysis was told to keep them; the plots drop those
categories again, so a person can never appear in a figure.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from crossings.core.camtrap import PRIVATE_CATEGORIES, CameraResult, Table
from crossings.io.atomic import atomic_path

__all__ = ["write_camera_plots", "PLOT_NAMES"]

PLOT_NAMES = ("monthly.png", "diel.png", "use_by_opening.png", "before_after.png")
_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.spines.top": False,
                         "axes.spines.right": False})  # fmt: skip
    return plt


def _public_rows(table: Table) -> list[dict]:
    return [r for r in table.rows() if r["species"] and r["species"] not in PRIVATE_CATEGORIES]


def _opening_label(row: dict) -> str:
    return f"{row['fence_id']} / {row['opening_id']}" if row["opening_id"] else row["fence_id"]


def _species_colours(rows: list[dict]) -> dict[str, str]:
    names = sorted({r["species"] for r in rows})
    return {s: _COLOURS[i % len(_COLOURS)] for i, s in enumerate(names)}


def _save(fig, path: Path, caption: str = "") -> Path:
    if caption:  # e.g. "SYNTHETIC detections": the label travels with the picture
        fig.text(0.5, 1.04, caption, ha="center", va="bottom", color="#b00020", weight="bold")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, bbox_inches="tight")
    _plt().close(fig)
    return path


def _empty(path: Path, title: str, caption: str = "") -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.set_axis_off()
    ax.text(0.5, 0.5, "No animal events in the analysed period", ha="center", va="center")
    ax.set_title(title)
    return _save(fig, path, caption)


def _grid(plt, n: int, width: float = 5.5, height: float = 3.0):
    cols = min(n, 2)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_axis_off()
    return fig, axes.ravel()


def _opening_panels(plt, rows: list[dict], width: float = 5.5):
    """A figure with one panel per opening; returns it and ``(axis, opening, its rows)``."""
    openings = sorted({_opening_label(r) for r in rows})
    fig, axes = _grid(plt, len(openings), width=width)
    panels = [
        (ax, opening, [r for r in rows if _opening_label(r) == opening])
        for ax, opening in zip(axes, openings, strict=False)
    ]
    return fig, panels


def _label_events_panel(ax, opening: str) -> None:
    ax.set_ylabel("events")
    ax.set_title(f"Opening {opening}")
    ax.yaxis.get_major_locator().set_params(integer=True)


def _legend_below(fig, extra=()) -> None:
    """One legend for all panels, below them, so it never hides a bar."""
    from matplotlib.patches import Patch

    seen: dict = {}
    for a in fig.axes:
        for h, lab in zip(*a.get_legend_handles_labels(), strict=True):
            seen.setdefault(lab, h)
    handles = list(seen.values()) + [Patch(color=c, alpha=0.5) for c, _ in extra]
    labels = list(seen) + [text for _, text in extra]
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), frameon=False)


def plot_monthly(monthly: Table, path: Path, caption: str = "") -> Path:
    """Events per month and species, one panel per opening."""
    rows = _public_rows(monthly)
    title = "Independent events per month"
    if not rows:
        return _empty(path, title, caption)
    plt = _plt()
    colours = _species_colours(rows)
    months = np.arange(np.datetime64(min(r["month"] for r in rows), "M"),
                       np.datetime64(max(r["month"] for r in rows), "M") + 1)  # fmt: skip
    fig, panels = _opening_panels(plt, rows, width=max(5.5, 0.35 * len(months) + 2))
    for ax, opening, mine in panels:
        species = sorted({r["species"] for r in mine})
        width = 0.8 / len(species)
        for k, name in enumerate(species):
            counts = {np.datetime64(r["month"], "M"): r["events"] for r in mine
                      if r["species"] == name}  # fmt: skip
            values = [counts.get(m, 0) for m in months]
            ax.bar(np.arange(len(months)) + k * width - 0.4 + width / 2, values, width,
                   color=colours[name], label=name)  # fmt: skip
        ax.set_xticks(np.arange(len(months)), [str(m) for m in months], rotation=45, ha="right")
        _label_events_panel(ax, opening)
    fig.suptitle(title + " (local time)", fontweight="bold")
    _legend_below(fig)
    return _save(fig, path, caption)


def plot_diel(diel: Table, path: Path, caption: str = "") -> Path:
    """Hour-of-day activity (local camera time) per species, one panel per opening."""
    rows = _public_rows(diel)
    title = "Diel activity: events by hour of day (local time)"
    if not rows or sum(r["events"] for r in rows) == 0:
        return _empty(path, title, caption)
    plt = _plt()
    colours = _species_colours(rows)
    fig, panels = _opening_panels(plt, rows)
    hours = np.arange(24)
    for ax, opening, mine in panels:
        bottom = np.zeros(24)
        for name in sorted({r["species"] for r in mine}):
            counts = np.zeros(24)
            for r in mine:
                if r["species"] == name:
                    counts[int(r["hour"])] += r["events"]
            ax.bar(hours, counts, 0.85, bottom=bottom, color=colours[name], label=name, zorder=2)
            bottom += counts
        # night shading as a rough guide, behind the bars
        ax.axvspan(-0.5, 5.5, color="#ccd", alpha=0.35, lw=0, zorder=0)
        ax.axvspan(19.5, 23.5, color="#ccd", alpha=0.35, lw=0, zorder=0)
        ax.set_xticks(range(0, 24, 3), [f"{h:02d}:00" for h in range(0, 24, 3)])
        ax.set_xlim(-0.5, 23.5)
        _label_events_panel(ax, opening)
    fig.suptitle(title, fontweight="bold")
    _legend_below(fig, extra=[("#ccd", "night (20:00-06:00, approx.)")])
    return _save(fig, path, caption)


def plot_use(use: Table, path: Path, caption: str = "") -> Path:
    """Per opening: detection rate per 100 camera-days and crossings by direction."""
    rows = _public_rows(use)
    title = "Use of openings"
    if not rows:
        return _empty(path, title, caption)
    plt = _plt()
    labels = [f"{_opening_label(r)}\n{r['species']}" for r in rows]
    y = np.arange(len(rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 1.0 + 0.55 * len(rows)), sharey=True)
    left.barh(y, [r["events_per_100_camera_days"] for r in rows], color="#1b9e77")
    for yi, r in zip(y, rows, strict=True):
        left.text(r["events_per_100_camera_days"], yi, f" {r['events']} events / "
                  f"{r['camera_days']:.0f} camera-days", va="center", fontsize=8)  # fmt: skip
    left.set_yticks(y, labels)
    left.invert_yaxis()
    left.set_xlabel("events per 100 camera-days")
    left.set_title("Detection rate")
    a_to_b = np.array([r["crossings_a_to_b"] for r in rows])
    b_to_a = np.array([r["crossings_b_to_a"] for r in rows])
    unknown = np.array([r["direction_unknown"] for r in rows])
    right.barh(y, a_to_b, color="#d95f02", label="A to B")
    right.barh(y, b_to_a, left=a_to_b, color="#7570b3", label="B to A")
    right.barh(y, unknown, left=a_to_b + b_to_a, color="#bbbbbb", label="direction unknown")
    sides = {(r["side_a"], r["side_b"]) for r in rows}
    if len(sides) == 1:
        side_a, side_b = sides.pop()
        right.set_title(f"Crossings by direction (A = {side_a}, B = {side_b})")
    else:
        right.set_title("Crossings by direction")
        for yi, r in zip(y, rows, strict=True):
            right.annotate(f"A = {r['side_a']}, B = {r['side_b']}", (1.0, yi),
                           xycoords=("axes fraction", "data"), ha="right", va="center",
                           fontsize=7, color="#555")  # fmt: skip
    right.set_xlabel("events")
    right.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=3)
    right.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return _save(fig, path, caption)


def plot_before_after(use: Table, path: Path, caption: str = "") -> Path:
    """Detection rate before and after each opening was made (where the date is known)."""
    rows = [r for r in _public_rows(use) if r["camera_days_before"] > 0]
    title = "Before and after the opening was made"
    if not rows:
        return _empty(path, title + ": no camera-days before any opening date", caption)
    plt = _plt()
    labels = [f"{_opening_label(r)}\n{r['species']}" for r in rows]
    y = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(8.5, 1.2 + 0.6 * len(rows)))
    before = np.nan_to_num([r["rate_before"] for r in rows])
    after = np.nan_to_num([r["rate_after"] for r in rows])
    ax.barh(y - 0.2, before, 0.4, color="#999999", label="before")
    ax.barh(y + 0.2, after, 0.4, color="#1b9e77", label="after")
    for yi, r in zip(y, rows, strict=True):
        ax.text(before[yi], yi - 0.2, f" {r['events_before']} events / "
                f"{r['camera_days_before']:.0f} days", va="center", fontsize=8)  # fmt: skip
        ax.text(after[yi], yi + 0.2, f" {r['events_after']} events / "
                f"{r['camera_days_after']:.0f} days", va="center", fontsize=8)  # fmt: skip
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, max(before.max(), after.max()) * 1.35 or 1)
    ax.set_xlabel("events per 100 camera-days")
    ax.legend(frameon=False, fontsize=9, loc="lower right")
    ax.set_title(title, fontweight="bold")
    fig.tight_layout()
    return _save(fig, path, caption)


def write_camera_plots(
    result: CameraResult, out_dir: str | os.PathLike, *, caption: str = ""
) -> list[Path]:
    """Write the four PNG plots into ``out_dir``; returns their paths.

    ``caption`` is printed under every plot (e.g. to label synthetic data as such).
    """
    out_dir = Path(out_dir)
    return [
        plot_monthly(result.monthly, out_dir / PLOT_NAMES[0], caption),
        plot_diel(result.diel, out_dir / PLOT_NAMES[1], caption),
        plot_use(result.use, out_dir / PLOT_NAMES[2], caption),
        plot_before_after(result.use, out_dir / PLOT_NAMES[3], caption),
    ]
