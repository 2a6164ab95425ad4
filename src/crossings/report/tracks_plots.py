"""Plots of GPS tracks against fences: one map per individual and classes per fence segment.

PNG files written atomically with matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from crossings.core.baba import EVENT_TYPES, BabaResult, FenceRanking  # noqa: E402
from crossings.core.tracks import FenceLayer, Tracks  # noqa: E402
from crossings.io.atomic import atomic_path  # noqa: E402

__all__ = [
    "CLASS_COLOURS",
    "plot_individual",
    "plot_tracks",
    "plot_classes_per_fence",
    "plot_all",
]

CLASS_COLOURS = {
    "Quick_Cross": "#2a9d3a",
    "Bounce": "#c8102e",
    "Average_Movement": "#8c8c8c",
    "Back_n_forth": "#e08a00",
    "Trace": "#8a4fb0",
    "Trapped": "#000000",
    "unknown": "#1f5fbf",
}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _draw_fences(ax, layer: FenceLayer, bounds) -> None:
    box = shapely.box(*bounds)
    near = layer.tree.query(box, predicate="intersects")
    parts = shapely.get_parts(layer.geometries[near])
    lines = [shapely.get_coordinates(part) for part in parts]
    ax.add_collection(LineCollection(lines, colors="#777777", linewidths=0.8, zorder=1))


def plot_individual(
    tracks: Tracks, layer: FenceLayer, result: BabaResult, animal_id: str, path: str | os.PathLike
) -> Path:
    """Map of one individual's track, the fences near it and its classified encounter events."""
    title = f"{animal_id}: encounters within {result.config.distance:g} m of fences"
    return plot_tracks(tracks, layer, result, path, animal_ids=[animal_id], title=title)


def plot_tracks(
    tracks: Tracks,
    layer: FenceLayer,
    result: BabaResult,
    path: str | os.PathLike,
    *,
    animal_ids=None,
    title: str = "",
) -> Path:
    """Map of tracks (all, or ``animal_ids``), nearby fences and the classified events."""
    chosen = np.unique(tracks.animal_id) if animal_ids is None else np.asarray(animal_ids)
    rows = np.isin(tracks.animal_id, chosen)
    x, y = tracks.x[rows], tracks.y[rows]
    pad = max(np.ptp(x), np.ptp(y), 1.0) * 0.05
    bounds = (x.min() - pad, y.min() - pad, x.max() + pad, y.max() + pad)
    fig, ax = plt.subplots(figsize=(7, 7))
    _draw_fences(ax, layer, bounds)
    for name in chosen:
        mine = tracks.animal_id == name
        ax.plot(tracks.x[mine], tracks.y[mine], color="#3182bd", lw=0.6, zorder=2)
    events = result.events
    handles = [
        Line2D([], [], color="#777777", lw=0.8, label="fence"),
        Line2D([], [], color="#3182bd", lw=0.6, label="track"),
    ]
    for name in EVENT_TYPES:
        mine = np.isin(events.animal_id, chosen) & (events.event_type == name)
        if mine.any():
            colour = CLASS_COLOURS[name]
            ax.scatter(events.easting[mine], events.northing[mine], s=18, color=colour, zorder=3)
            label = f"{name} ({int(mine.sum())})"
            handles.append(Line2D([], [], marker="o", ls="", color=colour, label=label))
    ax.set_xlim(bounds[0], bounds[2])
    ax.set_ylim(bounds[1], bounds[3])
    ax.set_aspect("equal")
    ax.set_title(title or f"Encounters within {result.config.distance:g} m of fences")
    ax.set_xlabel("easting (m)")
    ax.set_ylabel("northing (m)")
    ax.legend(handles=handles, loc="best", fontsize=8)
    return _save(fig, path)


def plot_classes_per_fence(
    ranking: FenceRanking, path: str | os.PathLike, *, top: int = 25
) -> Path:
    """Stacked bars of encounter classes for the ``top`` fences with most encounters."""
    order = np.argsort(-ranking.total_enc, kind="stable")[:top]
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(order) + 2), 4.5))
    bottom = np.zeros(len(order))
    labels = ranking.fence_id[order]
    for name in EVENT_TYPES:
        values = ranking.class_counts[name][order]
        if values.any():
            ax.bar(labels, values, bottom=bottom, color=CLASS_COLOURS[name], label=name)
            bottom += values
    ax.set_xlabel("fence_id")
    ax.set_ylabel("encounter events")
    ax.set_title(f"Encounter classes per fence (top {len(order)} by encounters)")
    ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def plot_all(
    tracks: Tracks,
    layer: FenceLayer,
    result: BabaResult,
    ranking: FenceRanking,
    folder: str | os.PathLike,
) -> list[Path]:
    """One map per individual with encounters and the per-fence bar chart; returns the files."""
    folder = Path(folder)
    paths = [
        plot_individual(tracks, layer, result, name, folder / f"track_{_safe(name)}.png")
        for name in np.unique(result.events.animal_id)
    ]
    if len(ranking):
        paths.append(plot_classes_per_fence(ranking, folder / "classes_per_fence.png"))
    return paths


def _save(fig, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return Path(path)
