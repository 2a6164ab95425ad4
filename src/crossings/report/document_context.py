"""What every section builder gets: the audience's ledger, all runs, formatting and map context."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crossings.report import document_i18n as i18n
from crossings.report.document_maps import Basemap
from crossings.report.document_runs import Run
from crossings.report.sections import Column, Table
from crossings.security import ContentType, Ledger, coordinate_uncertainty_m

__all__ = ["ReportContext", "ANALYSIS_CRS", "SPECIES"]

#: Species with a vernacular name in the catalogues (context "species"); others show Latin only.
SPECIES = (
    i18n.NP_("species", "Saiga tatarica"),
    i18n.NP_("species", "Gazella subgutturosa"),
    i18n.NP_("species", "Equus hemionus"),
    i18n.NP_("species", "Ovis ammon"),
    i18n.NP_("species", "Canis lupus"),
    i18n.NP_("species", "Vulpes corsac"),
    i18n.NP_("species", "Vulpes vulpes"),
)

#: The equal-area CRS of crossings' analyses (coordinates in CSVs without their own CRS).
ANALYSIS_CRS = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m"


@functools.cache
def _transformer(source: str, target: str):
    from pyproj import Transformer

    return Transformer.from_crs(source, target, always_xy=True)


def to_lonlat(xy: np.ndarray, crs: str = ANALYSIS_CRS) -> np.ndarray:
    lon, lat = _transformer(crs, "EPSG:4326").transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def from_lonlat(lonlat: np.ndarray, crs: str = ANALYSIS_CRS) -> np.ndarray:
    x, y = _transformer("EPSG:4326", crs).transform(lonlat[:, 0], lonlat[:, 1])
    return np.column_stack([x, y])


@dataclass
class ReportContext:
    """Shared state of one report build (one audience; the language is set per rendering)."""

    audience: str
    runs: list[Run]
    ledger: Ledger = field(init=False)
    basemap_cache: dict[str, Basemap] = field(default_factory=dict)

    def __post_init__(self):
        self.ledger = Ledger(self.audience)

    # -- runs ---------------------------------------------------------------------------------
    def first_run(self, job: str) -> Run | None:
        return next((run for run in self.runs if run.job == job), None)

    def background_raster(self) -> Path | None:
        """A current map to draw points on: the connectivity run's map with openings."""
        for run in self.runs:
            if run.job == "connectivity":
                for pattern in ("cum_current_fence_mitigated.tif", "cum_current_*.tif"):
                    found = run.find(pattern)
                    if found:
                        return found
        return None

    def raster_block(self, cell_size: float) -> int:
        """Cells per block so that maps show the fence-line precision this audience may see."""
        decision = self.ledger.decide(ContentType.FENCE_LINE)
        if decision.action == "exact" or not cell_size:
            return 1
        return max(1, round(decision.grid_m / cell_size))

    def raster_precision(self, path: Path) -> tuple[int, str]:
        """Block for a raster map of ``path`` and the caption's note on it (empty when exact).

        A block wider than the raster is capped to it (the map is then its mean); a raster
        without a CRS has cells of unknown size, so the note counts cells, not kilometres.
        """
        from crossings.io.raster import read_raster

        grid, _values = read_raster(path, allow_missing_crs=True)
        block = min(self.raster_block(grid.cell_size), max(grid.shape))
        if block <= 1:
            return 1, ""
        if not grid.crs:
            note = i18n.gettext("(averaged over blocks of %(num)s × %(num)s cells)")
            return block, note % {"num": i18n.number(block)}
        note = i18n.gettext("(averaged over %(km)s km cells)")
        return block, note % {"km": i18n.number(block * grid.cell_size / 1000, 0)}

    def background_block(self) -> int:
        """:meth:`raster_block` for the background raster of point maps."""
        background = self.background_raster()
        if background is None:
            return 1
        from crossings.io.raster import read_raster

        return self.raster_block(read_raster(background, allow_missing_crs=True)[0].cell_size)

    def basemap(self) -> Basemap:
        """Country outlines and the fence, as this audience may see it (computed once)."""
        if "main" not in self.basemap_cache:
            self.basemap_cache["main"] = _basemap(self)
        return self.basemap_cache["main"]

    # -- formatting ---------------------------------------------------------------------------
    def cell(self, value: str, column: Column) -> str:
        if value in ("", None):
            return "–"
        if column.kind in ("number", "integer", "percent"):
            try:
                number = float(value)
            except ValueError:
                return str(value)
            if not np.isfinite(number):
                return "–"
            if column.kind == "percent":
                return i18n.percent(number, column.digits)
            return i18n.number(number, 0 if column.kind == "integer" else column.digits)
        return str(value)

    def table(
        self,
        run: Run,
        path: Path,
        columns: Iterable[Column],
        *,
        caption: str,
        rows: list[dict[str, str]] | None = None,
        translate: dict[str, Callable[[str], str]] | None = None,
        note: str = "",
    ) -> Table:
        """A table of ``path``'s rows (or the given ones), cells formatted for the language."""
        columns = tuple(columns)
        translate = translate or {}
        data = run.read_csv(path) if rows is None else rows
        shown = []
        for row in data:
            cells = []
            for column in columns:
                value = row.get(column.key, "")
                if column.key in translate:
                    cells.append(translate[column.key](value))
                else:
                    cells.append(self.cell(value, column))
            shown.append(tuple(cells))
        return Table(caption, columns, tuple(shown), run.relative(path), note)

    def species(self, latin: str) -> str:
        """Latin name, plus the vernacular name in the report's language where one is known."""
        vernacular = i18n.pgettext("species", latin) if latin in SPECIES else latin
        if not latin or vernacular == latin:
            return latin
        return f"{latin} ({vernacular})"

    def location(self, lonlat: tuple[float, float], grid_m: int | None) -> str:
        """``45.30° N, 57.32° E`` (with the published precision when generalised)."""
        lon, lat = lonlat
        digits = 4 if grid_m is None else (3 if grid_m < 1000 else 2 if grid_m < 10_000 else 1)
        north = i18n.gettext("N") if lat >= 0 else i18n.gettext("S")
        east = i18n.gettext("E") if lon >= 0 else i18n.gettext("W")
        text = f"{i18n.number(abs(lat), digits)}° {north}, {i18n.number(abs(lon), digits)}° {east}"
        if grid_m:
            km = coordinate_uncertainty_m(grid_m) / 1000
            text += " " + i18n.gettext("(± %(km)s km)") % {
                "km": i18n.number(km, 0 if km >= 5 else 1)
            }
        return text

    def generalised_locations(
        self, xy: np.ndarray, content: ContentType, subject: str, crs: str = ANALYSIS_CRS
    ) -> tuple[np.ndarray | None, list[str], int | None]:
        """Points as this audience may see them, their location text, and the grid used."""
        shown = self.ledger.points(content, xy, subject=subject)
        decision = self.ledger.decide(content)
        if shown is None:
            return None, [i18n.gettext("withheld")] * len(xy), None
        lonlat = to_lonlat(shown, crs)
        return shown, [self.location(tuple(p), decision.grid_m) for p in lonlat], decision.grid_m


def _country_rings(runs: list[Run]) -> tuple[np.ndarray, ...]:
    """Country outlines from an input GeoPackage with a ``countries`` layer, if any is at hand."""
    import pyogrio

    for run in runs:
        for record in run.manifest.get("inputs", []):
            path = Path(record.get("path", ""))
            if path.suffix != ".gpkg" or not path.is_file():
                continue
            try:
                if "countries" not in {name for name, _ in pyogrio.list_layers(path)}:
                    continue
                frame = pyogrio.read_dataframe(path, layer="countries")
            except Exception:  # noqa: BLE001 - a context layer is optional: draw without it
                continue
            rings = []
            for geometry in frame.to_crs(ANALYSIS_CRS).geometry:
                for polygon in getattr(geometry, "geoms", [geometry]):
                    rings.append(np.asarray(polygon.exterior.coords)[:, :2])
            return tuple(rings)
    return ()


def _fence_lines(runs: list[Run]) -> list[np.ndarray]:
    import pyogrio

    for run in runs:
        for folder in (run.folder, run.folder.parent):
            path = folder / "fences.gpkg"
            if path.is_file():
                frame = pyogrio.read_dataframe(path, layer="fences").to_crs(ANALYSIS_CRS)
                return [np.asarray(g.coords)[:, :2] for g in frame.geometry if g is not None]
    return []


def _basemap(ctx: ReportContext) -> Basemap:
    lines = _fence_lines(ctx.runs)
    countries = _country_rings(ctx.runs)
    if not lines:
        return Basemap(countries)
    decision = ctx.ledger.decide(ContentType.FENCE_LINE)
    if decision.action == "exact":
        return Basemap(countries, tuple(lines))
    ctx.ledger.record(decision, i18n.N_("fence alignment on maps"), len(lines))
    if decision.action == "withheld":
        return Basemap(countries)
    cells = np.unique(np.vstack([line_cells(line, decision.grid_m) for line in lines]), axis=0)
    return Basemap(countries, (), cells, float(decision.grid_m))


def line_cells(line: np.ndarray, grid_m: float) -> np.ndarray:
    """Centres of the ``grid_m`` cells a polyline passes through (a line at a grid's precision)."""
    from crossings.security import generalise_points

    # Sample the line densely, then keep only the cells the samples fall in.
    samples = [line[:1]]
    for (x0, y0), (x1, y1) in zip(line[:-1], line[1:], strict=True):
        steps = max(2, int(np.hypot(x1 - x0, y1 - y0) / (grid_m / 4)) + 1)
        t = np.linspace(0, 1, steps)
        samples.append(np.column_stack([x0 + t * (x1 - x0), y0 + t * (y1 - y0)]))
    return np.unique(generalise_points(np.vstack(samples), grid_m), axis=0)
