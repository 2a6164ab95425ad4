"""Maps and charts drawn for the report, at the precision its audience may see.

The report draws its own figures from the runs' GeoTIFFs and CSVs rather than embedding the runs'
PNGs: those show exact fence lines, openings and cameras, and carry English text. Here rasters are
averaged over blocks of the audience's grid (:func:`crossings.security.block_mean`), points are
grid-cell centres, and the only words are axis labels passed in already translated.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import OrderedDict
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm, TwoSlopeNorm  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from crossings.io.raster import read_raster  # noqa: E402
from crossings.security import block_mean  # noqa: E402

__all__ = [
    "Basemap",
    "raster_figure",
    "points_figure",
    "sections_figure",
    "line_chart",
    "bar_chart",
    "stacked_bar_chart",
    "hourly_chart",
]

_DPI = 100
_FONT = {"font.family": "DejaVu Sans", "font.size": 9}


@dataclass(frozen=True)
class Basemap:
    """Context drawn under every map: country outlines (public data) and the fence as allowed.

    ``fence_cells`` are grid-cell centres (generalised fence) or ``None``; ``fence_lines`` exact
    line coordinates for audiences that may see the alignment.
    """

    countries: tuple[np.ndarray, ...] = ()
    fence_lines: tuple[np.ndarray, ...] = ()
    fence_cells: np.ndarray | None = None
    fence_grid_m: float = 0.0


def _png(figure, *, tight: bool = True) -> bytes:
    """The figure as PNG bytes.

    Maps have fixed margins (``tight=False``): a tight bounding box draws the figure twice,
    which is a third of a map's time; charts with legends below the axes need it. Maps are
    stored with a palette of 256 colours.
    """
    buffer = io.BytesIO()
    if tight:
        figure.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", pad_inches=0.05)
        plt.close(figure)
        return buffer.getvalue()
    from PIL import Image

    # A map is a continuous raster: 256 colours keep it readable at a quarter of the bytes.
    figure.set_dpi(_DPI)
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3]
    plt.close(figure)
    image = Image.fromarray(pixels).quantize(256, method=Image.Quantize.FASTOCTREE)
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _map_axes(with_colour_bar: bool):
    """A figure and axes for a map, with margins for the colour bar's labels."""
    figure, axes = plt.subplots(figsize=(6.4, 5.4))
    right = 0.9 if with_colour_bar else 0.99
    figure.subplots_adjust(left=0.01, right=right, bottom=0.01, top=0.99)
    return figure, axes


def _extent(grid):
    a, _, c, _, e, f = grid.transform
    rows, cols = grid.shape
    return (c, c + a * cols, f + e * rows, f)


def _draw_basemap(axes, basemap: Basemap, extent) -> None:
    for ring in basemap.countries:
        axes.plot(ring[:, 0], ring[:, 1], color="#555555", linewidth=0.6, zorder=3)
    for line in basemap.fence_lines:
        axes.plot(line[:, 0], line[:, 1], color="#b2182b", linewidth=1.2, zorder=4)
    if basemap.fence_cells is not None:
        half = basemap.fence_grid_m / 2
        for x, y in basemap.fence_cells:
            axes.add_patch(
                Rectangle(
                    (x - half, y - half),
                    2 * half,
                    2 * half,
                    facecolor="none",
                    edgecolor="#b2182b",
                    linewidth=0.5,
                    zorder=4,
                )
            )
    axes.set_xlim(extent[0], extent[1])
    axes.set_ylim(extent[2], extent[3])
    axes.set_aspect("equal")
    axes.set_xticks([])
    axes.set_yticks([])


def _read_generalised(path, block: int):
    grid, values = read_raster(path, allow_missing_crs=True)
    # A block wider than the raster is the raster's mean (and padding to it could take gigabytes).
    block = min(block, max(values.shape))
    if block > 1:
        values = block_mean(values, block)
    return grid, values


#: Raster maps already drawn, by file, precision and basemap: every language shares them.
_RASTER_MAPS: OrderedDict[tuple, bytes] = OrderedDict()
_RASTER_MAPS_KEPT = 32


def _basemap_key(basemap: Basemap) -> str:
    digest = hashlib.sha256(repr(basemap.fence_grid_m).encode())
    for array in (*basemap.countries, *basemap.fence_lines, basemap.fence_cells):
        if array is not None:
            digest.update(np.ascontiguousarray(array).tobytes())
            digest.update(repr(array.shape).encode())
    return digest.hexdigest()


def raster_figure(
    path,
    *,
    block: int,
    basemap: Basemap,
    diverging: bool = False,
    cmap: str = "magma",
) -> bytes:
    """A current (or difference) map of a GeoTIFF, averaged over ``block`` x ``block`` cells.

    ``cmap`` colours a map that is not ``diverging`` (log scale), e.g. ``"YlOrBr"`` for
    resistance. The map has no words: the caller gives the colour bar's meaning as the figure's
    legend, so the languages of one report draw each map once.
    """
    stat = os.stat(path)
    key = (os.fspath(path), stat.st_mtime_ns, stat.st_size, block, diverging, cmap)
    key += (_basemap_key(basemap),)
    if key not in _RASTER_MAPS:
        _RASTER_MAPS[key] = _draw_raster_map(path, block, basemap, diverging, cmap)
        while len(_RASTER_MAPS) > _RASTER_MAPS_KEPT:
            _RASTER_MAPS.popitem(last=False)
    return _RASTER_MAPS[key]


def _draw_raster_map(path, block: int, basemap: Basemap, diverging: bool, cmap: str) -> bytes:
    grid, values = _read_generalised(path, block)
    extent = _extent(grid)
    with plt.rc_context(_FONT):
        figure, axes = _map_axes(with_colour_bar=True)
        finite = values[np.isfinite(values)]
        if diverging:
            bound = float(np.nanpercentile(np.abs(finite), 99.5)) if finite.size else 1.0
            bound = bound or 1.0
            norm = TwoSlopeNorm(0.0, -bound, bound)
            image = axes.imshow(values, extent=extent, cmap="RdBu_r", norm=norm, zorder=1)
        else:
            positive = finite[finite > 0]
            low = float(np.percentile(positive, 2)) if positive.size else 1e-6
            high = float(positive.max()) if positive.size else 1.0
            norm = LogNorm(low, max(high, low * 10))
            image = axes.imshow(
                np.where(values > 0, values, np.nan),
                extent=extent,
                cmap=cmap,
                norm=norm,
                zorder=1,
            )
        _draw_basemap(axes, basemap, extent)
        figure.colorbar(image, ax=axes, shrink=0.75, pad=0.02)
        return _png(figure, tight=False)


def _zoomed(points: np.ndarray, pad: float):
    """A view around the points (at least 150 km across, square-ish), not the whole landscape."""
    x0, y0 = points.min(axis=0) - pad
    x1, y1 = points.max(axis=0) + pad
    half = max(x1 - x0, y1 - y0, 150_000) / 2
    half_y = max(half * 0.85, (y1 - y0) / 2)  # never cut off the top or bottom points
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - half, cx + half, cy - half_y, cy + half_y)


def _labels_per_place(points: np.ndarray, labels: list[str]):
    """One label per distinct place ("1, 7" where two ranked points share a grid cell)."""
    places: dict[tuple[float, float], list[str]] = {}
    for (x, y), text in zip(points, labels, strict=False):
        places.setdefault((float(x), float(y)), []).append(text)
    return [(xy, ", ".join(texts)) for xy, texts in places.items()]


def points_figure(
    points: np.ndarray,
    *,
    grid_m: float | None,
    basemap: Basemap,
    labels: list[str] | None = None,
    background=None,
    block: int = 1,
) -> bytes:
    """Points on a map: dots where exact, grid cells where generalised, optional raster below."""
    extent = _zoomed(points, max(grid_m or 0, 20_000) * 2)
    with plt.rc_context(_FONT):
        figure, axes = _map_axes(with_colour_bar=False)
        if background is not None:
            grid, values = _read_generalised(background, block)
            positive = values[np.isfinite(values) & (values > 0)]
            low = float(np.percentile(positive, 2)) if positive.size else 1e-6
            axes.imshow(
                np.where(values > 0, values, np.nan),
                extent=_extent(grid),
                cmap="Greys",
                norm=LogNorm(low, max(float(positive.max()) if positive.size else 1, low * 10)),
                alpha=0.6,
                zorder=1,
            )
        if grid_m:
            for x, y in np.unique(points, axis=0):
                axes.add_patch(
                    Rectangle(
                        (x - grid_m / 2, y - grid_m / 2),
                        grid_m,
                        grid_m,
                        facecolor="#2166ac",
                        alpha=0.6,
                        edgecolor="#08306b",
                        linewidth=0.8,
                        zorder=5,
                    )
                )
        else:
            axes.scatter(points[:, 0], points[:, 1], s=22, color="#2166ac", zorder=5)
        _annotate(axes, _labels_per_place(points, labels or []))
        _draw_basemap(axes, basemap, extent)
        return _png(figure, tight=False)


def _annotate(axes, places) -> None:
    for index, ((x, y), text) in enumerate(places):
        # Alternate above and below so neighbouring labels do not overlap.
        offset = (0, 9) if index % 2 == 0 else (0, -14)
        axes.annotate(
            text,
            (x, y),
            xytext=offset,
            textcoords="offset points",
            ha="center",
            fontsize=8,
            fontweight="bold",
            color="#08306b",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            zorder=6,
        )


def sections_figure(
    shapes: list[np.ndarray],
    scores: list[float],
    *,
    basemap: Basemap,
    colour_label: str,
    grid_m: float | None = None,
    labels: list[tuple[np.ndarray, str]] = (),
) -> bytes:
    """Border sections coloured by score (0..1): lines where exact, else the cells they cross.

    With ``grid_m`` each shape is an array of cell centres (a section at the grid's precision);
    a cell on two sections takes the higher score. ``labels`` are (point, text) pairs.
    """
    cmap = plt.get_cmap("magma_r")
    norm = plt.Normalize(0, 1)
    points = np.vstack(shapes)
    extent = _zoomed(points, max(grid_m or 0, 20_000) * 2)
    with plt.rc_context(_FONT):
        figure, axes = _map_axes(with_colour_bar=True)
        if grid_m:
            best: dict[tuple[float, float], float] = {}
            for cells, score in zip(shapes, scores, strict=True):
                for x, y in cells:
                    best[(x, y)] = max(best.get((x, y), 0.0), score)
            for (x, y), score in best.items():
                axes.add_patch(
                    Rectangle(
                        (x - grid_m / 2, y - grid_m / 2),
                        grid_m,
                        grid_m,
                        facecolor=cmap(norm(score)),
                        edgecolor="#333333",
                        linewidth=0.4,
                        zorder=5,
                    )
                )
        else:
            for line, score in zip(shapes, scores, strict=True):
                axes.plot(line[:, 0], line[:, 1], color=cmap(norm(score)), linewidth=4, zorder=5)
        places = np.array([point for point, _text in labels]).reshape(-1, 2)
        _annotate(axes, _labels_per_place(places, [text for _point, text in labels]))
        _draw_basemap(axes, basemap, extent)
        bar = figure.colorbar(
            plt.cm.ScalarMappable(cmap=cmap, norm=norm), ax=axes, shrink=0.75, pad=0.02
        )
        bar.set_label(colour_label)
        return _png(figure, tight=False)


def line_chart(x, y, *, x_label: str, y_label: str, reference: tuple[float, str] | None = None):
    """A step line (e.g. the Pareto front of connectivity against security cost)."""
    with plt.rc_context(_FONT):
        figure, axes = plt.subplots(figsize=(6.4, 3.6))
        axes.step(x, y, where="post", color="#2166ac", linewidth=1.6)
        axes.plot(x, y, "o", color="#2166ac", markersize=3)
        if reference is not None:
            axes.axhline(reference[0], color="#b2182b", linestyle="--", linewidth=1)
            axes.annotate(
                reference[1],
                (x[0], reference[0]),
                xytext=(2, 4),
                textcoords="offset points",
                color="#b2182b",
                fontsize=8,
            )
        axes.set_xlabel(x_label)
        axes.set_ylabel(y_label)
        axes.grid(alpha=0.3)
        return _png(figure)


def bar_chart(categories: list[str], series: dict[str, list[float]], *, y_label: str) -> bytes:
    """Grouped bars: one group per category, one bar per series (labels already translated)."""
    with plt.rc_context(_FONT):
        figure, axes = plt.subplots(figsize=(6.4, 3.8))
        width = 0.8 / max(len(series), 1)
        positions = np.arange(len(categories))
        for i, (name, values) in enumerate(series.items()):
            axes.bar(positions + i * width, values, width, label=name)
        _label_categories(axes, positions + width * (len(series) - 1) / 2, categories, y_label, 2)
        return _png(figure)


def stacked_bar_chart(
    categories: list[str], series: dict[str, list[float]], *, y_label: str, colours=None
) -> bytes:
    """Stacked bars: one bar per category, one segment per series (labels already translated)."""
    with plt.rc_context(_FONT):
        figure, axes = plt.subplots(figsize=(6.4, 3.8))
        positions = np.arange(len(categories))
        bottom = np.zeros(len(categories))
        for i, (name, values) in enumerate(series.items()):
            colour = colours[i] if colours else None
            axes.bar(positions, values, 0.7, bottom=bottom, label=name, color=colour)
            bottom += np.asarray(values, dtype=float)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        _label_categories(axes, positions, categories, y_label, 4)
        return _png(figure)


def _label_categories(axes, ticks, categories: list[str], y_label: str, legend_columns: int):
    """Category names under the bars (tilted when many), the y label, a grid and the legend."""
    tilted = len(categories) > 4
    axes.set_xticks(ticks)
    axes.set_xticklabels(
        categories, rotation=30 if tilted else 0, ha="right" if tilted else "center"
    )
    axes.set_ylabel(y_label)
    # Below the axes, so the legend never hides a bar.
    axes.legend(
        fontsize=7.5,
        ncol=legend_columns,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12 if not tilted else -0.3),
        frameon=False,
    )
    axes.grid(axis="y", alpha=0.3)


def hourly_chart(series: dict[str, list[float]], *, x_label: str, y_label: str) -> bytes:
    """Lines over the 24 hours of the day, one per series (e.g. species)."""
    with plt.rc_context(_FONT):
        figure, axes = plt.subplots(figsize=(6.4, 3.4))
        hours = np.arange(24)
        for name, values in series.items():
            axes.plot(hours, values, marker="o", markersize=3, linewidth=1.4, label=name)
        axes.set_xticks(range(0, 24, 3))
        axes.set_xlim(-0.5, 23.5)
        axes.set_xlabel(x_label)
        axes.set_ylabel(y_label)
        axes.legend(
            fontsize=7.5, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False
        )
        axes.grid(alpha=0.3)
        return _png(figure)
