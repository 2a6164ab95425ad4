"""PNG map of ranked border sections (matplotlib, Agg backend)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402

from crossings.io.atomic import atomic_path  # noqa: E402

__all__ = ["plot_hotspots"]


def _outline(axes, geom, **style) -> None:
    for polygon in shapely.get_parts(geom):
        if polygon.geom_type != "Polygon":
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            x, y = np.asarray(ring.coords).T / 1000
            axes.plot(x, y, **style)


def plot_hotspots(sections, regions, pas, path: str | os.PathLike, top: int = 5) -> Path:
    """Sections coloured by score (0..1), the ``top`` ranks labelled; km coordinates."""
    figure, axes = plt.subplots(figsize=(8, 7))
    for geom in regions.values():
        _outline(axes, geom, color="0.4", linewidth=0.6)
    for geom in pas:
        _outline(axes, geom, color="tab:green", linewidth=1.0)
    cmap = plt.get_cmap("magma_r")
    for row in sections.itertuples():
        x, y = np.asarray(row.geometry.coords).T / 1000
        axes.plot(x, y, color=cmap(0.15 + 0.85 * float(row.score)), linewidth=4)
        if row.rank <= top:
            mid = row.geometry.interpolate(0.5, normalized=True)
            axes.annotate(
                f"#{row.rank} ({row.rank_low}-{row.rank_high})",
                (mid.x / 1000, mid.y / 1000),
                xytext=(6, 6),
                textcoords="offset points",
                fontsize=8,
            )
    mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    figure.colorbar(mappable, ax=axes, label="hotspot score (weighted, normalised criteria)")
    axes.set_aspect("equal")
    axes.set_xlabel("x (km)")
    axes.set_ylabel("y (km)")
    axes.set_title(
        "Border sections ranked (#rank, 5-95 % rank interval under weight changes)\n"
        "green: protected areas as given (the demo's are ILLUSTRATIVE)",
        fontsize=9,
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=120, format="png")
    plt.close(figure)
    return path
