"""Static PNG maps of a landscape (matplotlib, Agg backend; no display needed).

:func:`plot_landscape` draws countries, international borders, fences, openings, protected areas
and seasonal ranges over an optional raster (resistance, current, ...). Layers flagged
``illustrative`` are labelled as such in the legend. Other modules reuse it for their result maps
by passing ``raster=`` (and ``cmap=``, ``raster_label=``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; must precede pyplot

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.patheffects as path_effects  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from pyproj import Transformer  # noqa: E402

from crossings.io.atomic import atomic_path  # noqa: E402

__all__ = ["plot_landscape", "SEASON_COLOURS"]

SEASON_COLOURS = {
    "summer": "#e08a00",
    "winter": "#1f5fbf",
    "spring": "#2a9d3a",
    "autumn": "#8a4fb0",
}
FENCE_COLOUR = "#c8102e"
OPENING_COLOUR = "#ffffff"
PA_COLOUR = "#1b7f3b"
NODATA_COLOUR = "#b9d3e8"
HALO = [path_effects.withStroke(linewidth=2.5, foreground="white")]
COUNTRY_LABEL_STYLE = {
    "fontsize": 13,
    "weight": "bold",
    "color": "#3a3a3a",
    "ha": "center",
    "va": "center",
    "alpha": 0.8,
}


def plot_landscape(
    landscape,
    path: str | os.PathLike,
    *,
    raster: np.ndarray | None = None,
    title: str = "",
    cmap: str = "YlOrBr",
    raster_label: str = "",
    log_scale: bool = False,
    show_openings: bool = True,
    footnote: str = "",
    highlight=(),
    highlight_label: str = "",
    dpi: int = 150,
) -> Path:
    """Write a PNG map of ``landscape`` to ``path`` (atomically) and return the path.

    Parameters
    ----------
    landscape : crossings.landscape.Landscape
    path : path-like
        Output ``.png``.
    raster : ndarray, optional
        Background values on ``landscape.grid`` (NaN drawn as water/NoData grey).
    title, cmap, raster_label : str
        Figure title, matplotlib colour map and colour-bar label of the raster.
    log_scale : bool
        Logarithmic colour scale for the raster (resistance spans orders of magnitude).
    show_openings : bool
        Draw the fence openings (hidden automatically when there are none).
    footnote : str
        Small text under the map (sources, caveats).
    highlight : sequence of Opening
        Openings to mark prominently (e.g. a plan's chosen openings), labelled
        ``highlight_label`` in the legend.
    """
    # The legend and footnote get their own row so they never overlap the map.
    figure, (axes, legend_axes) = plt.subplots(
        2, 1, figsize=(11, 12.5), height_ratios=(10, 1.6), layout="constrained"
    )
    try:
        west, south, east, north = landscape.grid.bounds
        if raster is not None:
            _draw_raster(figure, axes, landscape, raster, cmap, raster_label, log_scale)
        else:
            axes.set_facecolor("#f4f1ea")
        handles = _draw_vectors(axes, landscape, show_openings)
        if len(highlight):
            handles.append(_draw_highlight(axes, highlight, highlight_label))
        if raster is not None and np.isnan(np.asarray(raster, dtype=float)).any():
            handles.append(Patch(facecolor=NODATA_COLOUR, label="Open water / no data"))
        _graticule(axes, landscape.grid)
        axes.set_xlim(west, east)
        axes.set_ylim(south, north)
        axes.set_aspect("equal")
        _scale_bar(axes, landscape.grid)
        axes.set_xlabel("")
        axes.set_ylabel("")
        legend_axes.axis("off")
        legend_axes.legend(
            handles=handles,
            loc="upper center",
            ncol=2,
            fontsize=9,
            framealpha=0.95,
            title="Legend",
            title_fontsize=10,
        )
        if footnote:
            legend_axes.text(
                0.0,
                0.0,
                footnote,
                fontsize=7.5,
                color="#444444",
                wrap=True,
                va="bottom",
                ha="left",
                transform=legend_axes.transAxes,
            )
        if title:
            figure.suptitle(title, fontsize=13, weight="bold")
        with atomic_path(path) as tmp:
            figure.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(figure)
    return Path(path)


def _draw_raster(figure, axes, landscape, raster, cmap, label, log_scale):
    values = np.ma.masked_invalid(np.asarray(raster, dtype=float))
    west, south, east, north = landscape.grid.bounds
    axes.set_facecolor(NODATA_COLOUR)  # NoData (mostly open water) shows as pale blue
    norm = None
    positive = values.compressed()[values.compressed() > 0]
    if log_scale and positive.size:
        # Currents span many orders of magnitude and are 0 in cut-off places: show the
        # positive range from its 1st percentile, zeros at the bottom of the scale.
        top = float(positive.max())
        bottom = max(float(np.percentile(positive, 1)), top * 1e-8)
        norm = mcolors.LogNorm(vmin=bottom, vmax=top, clip=True)
        filled = values.filled(np.nan)
        values = np.ma.masked_invalid(
            np.where(filled > 0, filled, np.where(filled <= 0, bottom, np.nan))
        )
    image = axes.imshow(
        values,
        extent=(west, east, south, north),
        cmap=cmap,
        norm=norm,
        interpolation="nearest",
        origin="upper",
    )
    bar = figure.colorbar(image, ax=axes, shrink=0.6, pad=0.02)
    bar.set_label(label)
    if norm is not None:  # plain numbers (1, 10, 100) read better than powers of ten
        bar.ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))


def _draw_vectors(axes, landscape, show_openings):
    handles = []
    if len(landscape.countries):
        landscape.countries.boundary.plot(ax=axes, color="#7a7a7a", linewidth=0.4)
        _label_countries(axes, landscape.countries)
    handles += _draw_areas(axes, landscape.protected_areas, landscape.ranges)
    if len(landscape.borders):
        landscape.borders.plot(ax=axes, color="black", linewidth=1.3, linestyle=(0, (6, 2, 1, 2)))
        handles.append(
            Line2D(
                [],
                [],
                color="black",
                linewidth=1.3,
                linestyle=(0, (6, 2, 1, 2)),
                label="International border",
            )
        )
    if landscape.fences:
        handles.append(_draw_fences(axes, landscape))
    if show_openings and landscape.openings:
        xs = [o.x for o in landscape.openings]
        ys = [o.y for o in landscape.openings]
        # White dots on the red fence: at map scale 1 km spacing reads as a dotted fence line.
        axes.scatter(xs, ys, s=1.5, color=OPENING_COLOUR, zorder=6, linewidths=0)
        kinds = sorted({o.kind.replace("_", " ") for o in landscape.openings})
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                color=FENCE_COLOUR,
                linewidth=3.2,
                markerfacecolor=OPENING_COLOUR,
                markeredgecolor="none",
                markersize=3,
                label=f"Fence openings ({len(xs)}; {', '.join(kinds)})",
            )
        )
    return handles


def _draw_highlight(axes, openings, label: str):
    axes.scatter(
        [o.x for o in openings],
        [o.y for o in openings],
        s=60,
        color="#39ff14",
        edgecolors="black",
        linewidths=0.8,
        zorder=8,
    )
    return Line2D(
        [],
        [],
        marker="o",
        linestyle="none",
        markerfacecolor="#39ff14",
        markeredgecolor="black",
        markersize=8,
        label=label or f"Chosen openings ({len(openings)})",
    )


def _draw_fences(axes, landscape):
    closed = all(f.permeability == 0 for f in landscape.fences)
    length_km = sum(f.length for f in landscape.fences) / 1000
    for fence in landscape.fences:
        axes.plot(
            fence.coords[:, 0],
            fence.coords[:, 1],
            color=FENCE_COLOUR,
            linewidth=4,
            solid_capstyle="butt",
            zorder=5,
        )
    state = "closed" if closed else "partly permeable"
    return Line2D(
        [],
        [],
        color=FENCE_COLOUR,
        linewidth=3.2,
        label=f"Border fence ({length_km:.0f} km, {state})",
    )


def _legend_name(frame, row) -> str:
    """The feature's name, with ``ILLUSTRATIVE`` appended when the row is flagged so."""
    name = str(row.get("name", ""))
    if "illustrative" not in frame or not bool(row["illustrative"]):
        return name
    name = re.sub(r",?\s*illustrative", "", name, flags=re.IGNORECASE).replace(" ()", "")
    return f"{name.strip()} - ILLUSTRATIVE"


def _draw_areas(axes, protected_areas, ranges):
    handles = []
    for _, row in ranges.iterrows():
        colour = SEASON_COLOURS.get(str(row.get("season", "")).lower(), "#7b3fa0")
        series = ranges.loc[[row.name]]
        series.plot(ax=axes, facecolor=colour, alpha=0.18, edgecolor="none")
        series.boundary.plot(ax=axes, color=colour, linewidth=2, linestyle="--")
        handles.append(
            Patch(
                facecolor=mcolors.to_rgba(colour, 0.25),
                edgecolor=colour,
                linestyle="--",
                label=_legend_name(ranges, row),
            )
        )
    if len(protected_areas):
        protected_areas.plot(
            ax=axes, facecolor="none", edgecolor=PA_COLOUR, hatch="///", linewidth=1.6
        )
        for _, row in protected_areas.iterrows():
            point = row.geometry.representative_point()
            axes.annotate(
                _legend_name(protected_areas, row).replace(" - ", "\n"),
                (point.x, point.y),
                fontsize=7.5,
                color=PA_COLOUR,
                ha="center",
                va="center",
                weight="bold",
            )
        flagged = "illustrative" in protected_areas and protected_areas["illustrative"].all()
        handles.append(
            Patch(
                facecolor="none",
                edgecolor=PA_COLOUR,
                hatch="///",
                label="Protected areas" + (" - ILLUSTRATIVE" if flagged else ""),
            )
        )
    return handles


def _label_countries(axes, countries):
    for _, row in countries.iterrows():
        if row.geometry.area < 4e9:  # too small to label legibly
            continue
        point = row.geometry.representative_point()
        axes.text(
            point.x,
            point.y,
            str(row.get("name", "")).upper(),
            path_effects=HALO,
            **COUNTRY_LABEL_STYLE,
        )


def _graticule(axes, grid, step: float = 1.0):
    """Thin lon/lat lines every ``step`` degrees, labelled on the frame, for orientation."""
    try:
        to_grid = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
        to_lonlat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    except Exception:  # grids without a usable CRS get no graticule
        return
    west, south, east, north = grid.bounds
    lons, lats = to_lonlat.transform([west, east, west, east], [south, south, north, north])
    style = {"color": "#555555", "linewidth": 0.3, "alpha": 0.6, "zorder": 1}
    for lon in np.arange(np.floor(min(lons)), np.ceil(max(lons)) + step, step):
        x, y = to_grid.transform(np.full(50, lon), np.linspace(min(lats) - 1, max(lats) + 1, 50))
        axes.plot(x, y, **style)
        axes.annotate(
            f"{lon:.0f}°E",
            (np.interp(south, y, x), south),
            fontsize=7,
            color="#555555",
            ha="center",
            va="bottom",
            annotation_clip=True,
        )
    for lat in np.arange(np.floor(min(lats)), np.ceil(max(lats)) + step, step):
        x, y = to_grid.transform(np.linspace(min(lons) - 1, max(lons) + 1, 50), np.full(50, lat))
        axes.plot(x, y, **style)
        axes.annotate(
            f"{lat:.0f}°N",
            (east, np.interp(east, x, y)),
            fontsize=7,
            color="#555555",
            ha="right",
            va="bottom",
            annotation_clip=True,
        )
    axes.set_xticks([])
    axes.set_yticks([])


def _scale_bar(axes, grid):
    west, south, east, north = grid.bounds
    length = 10 ** np.floor(np.log10((east - west) / 4))
    length *= 2 if (east - west) / length > 8 else 1
    x0, y0 = east - (east - west) * 0.05 - length, south + (north - south) * 0.04
    axes.plot([x0, x0 + length], [y0, y0], color="black", linewidth=4, solid_capstyle="butt")
    axes.text(
        x0 + length / 2,
        y0 + (north - south) * 0.012,
        f"{length / 1000:g} km",
        ha="center",
        va="bottom",
        fontsize=9,
        weight="bold",
    )
