"""Read and write rasters: GeoTIFF and Arc/Info ASCII grids (also gzipped ``.asc.gz``).

Rasters come in as ``(GridSpec, float64 array)`` with NaN for NoData, the form the core expects.
Every check names the file, what is wrong and the fix: a missing or unreadable file, a raster
without a CRS, rasters that do not align, an all-NoData raster and zero or negative resistance.
Outputs are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyproj
import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.crs import CRS
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.transform import Affine

from crossings.core.grid import GridSpec
from crossings.errors import ConfigError, CrossingsWarning, GridAlignmentError, InputFileError
from crossings.io.ascii_header import HEADER_FIX, parse_ascii_header
from crossings.io.atomic import atomic_path

__all__ = [
    "read_raster",
    "read_resistance",
    "read_aligned",
    "write_geotiff",
    "write_ascii_grid",
    "write_raster",
    "crs_to_string",
    "NODATA_OUT",
]

#: NoData value written into output files (NaN in memory).
NODATA_OUT = -9999.0

_NO_CRS_FIX = (
    "Pass the CRS explicitly (option --crs, or crs= in Python), or assign one to the file, e.g. "
    "`gdal_edit.py -a_srs EPSG:32640 FILE` or put a .prj file beside an ASCII grid"
)


def crs_to_string(crs: CRS | str) -> str:
    """A compact, round-trippable text for a CRS: ``EPSG:n`` when it has one, else PROJ or WKT.

    >>> crs_to_string("+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m")
    '+proj=aea +lat_0=44 +lon_0=68 +lat_1=38 +lat_2=50 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs'
    """
    crs = pyproj.CRS.from_user_input(CRS.from_user_input(crs).to_wkt())
    epsg = crs.to_epsg(min_confidence=100)
    if epsg is not None:
        return f"EPSG:{epsg}"
    with warnings.catch_warnings():  # PROJ warns that PROJ strings may lose information
        warnings.simplefilter("ignore")
        proj4 = crs.to_proj4().replace(" +type=crs", "")
    # PROJ strings lose datum details for some CRSs; keep WKT when the round trip differs.
    if proj4 and pyproj.CRS.from_user_input(proj4) == crs:
        return proj4
    return crs.to_wkt()


def _gdal_path(path: Path) -> str:
    """GDAL path for ``path``; gzipped ASCII grids are read through /vsigzip/."""
    text = str(path)
    if text.lower().endswith(".gz"):
        return f"/vsigzip/{text}"
    return text


def _check_ascii_header(path: Path) -> None:
    """Refuse a broken ASCII grid header with its line and key (GDAL only says "not recognized")."""
    import gzip
    import itertools

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="latin-1") as handle:
            head = list(itertools.islice(handle, 12))
    except (OSError, EOFError) as exc:
        raise InputFileError(path, f"cannot be read ({exc})", "Check the file") from None
    header, _ = parse_ascii_header(head, path)
    missing = [k for k in ("ncols", "nrows") if k not in header]
    if missing:
        raise InputFileError(path, f"the grid header has no {' or '.join(missing)}", HEADER_FIX)


def _is_ascii_grid(path: Path) -> bool:
    return path.name.lower().endswith((".asc", ".asc.gz"))


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise InputFileError(path, "file not found", "Check the path (and the working folder)")
    if path.is_dir():
        raise InputFileError(path, "is a folder, not a raster file", "Give the raster file itself")


def read_raster(
    path: str | os.PathLike,
    *,
    crs: str | None = None,
    band: int = 1,
    allow_missing_crs: bool = False,
) -> tuple[GridSpec, np.ndarray]:
    """Read one band of a GeoTIFF or Arc/Info ASCII grid.

    Parameters
    ----------
    path : path-like
        ``.tif``, ``.asc``, ``.asc.gz`` or anything else GDAL reads.
    crs : str, optional
        CRS to use when the file has none (it must not contradict one the file has).
    band : int
        1-based band number.
    allow_missing_crs : bool
        Accept a raster without CRS (Circuitscape grids are CRS-agnostic); the grid then gets an
        empty CRS string.

    Returns
    -------
    grid : GridSpec
    values : ndarray of float64
        NaN where the file has NoData (or a non-finite value).

    Raises
    ------
    InputFileError
        Missing or unreadable file, no CRS (and none given), a non-square or rotated grid.
    ConfigError
        ``crs`` contradicts the file's own CRS, or the band does not exist.
    """
    path = Path(path)
    _check_exists(path)
    if _is_ascii_grid(path):
        _check_ascii_header(path)
    try:
        with rasterio.open(_gdal_path(path)) as src:
            if not 1 <= band <= src.count:
                raise ConfigError(
                    f"band {band} does not exist; the file has {src.count} band(s)",
                    source=str(path),
                    field="band",
                )
            data = src.read(band, masked=True)
            file_crs, transform = src.crs, src.transform
    except (RasterioIOError, RasterioError, CPLE_BaseError) as exc:  # truncated, corrupt
        raise InputFileError(
            path,
            f"cannot be read as a raster ({_first_line(exc)})",
            "Check that it is a GeoTIFF or Arc/Info ASCII grid and not truncated",
        ) from None
    grid_crs = _resolve_crs(path, file_crs, crs, allow_missing_crs)
    values = np.asarray(data.filled(np.nan) if data.dtype.kind == "f" else data.astype(float))
    values = np.where(np.ma.getmaskarray(data), np.nan, values).astype(np.float64)
    values[~np.isfinite(values)] = np.nan
    return _grid_from(path, transform, values.shape, grid_crs), values


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _resolve_crs(path: Path, file_crs, given: str | None, allow_missing: bool) -> str:
    if given is not None:
        try:
            given_crs = CRS.from_user_input(given)
        except Exception:
            raise ConfigError(
                f"{given!r} is not a CRS; use e.g. 'EPSG:32640' or a PROJ string",
                source=str(path),
                field="crs",
            ) from None
        if file_crs is not None and CRS.from_user_input(file_crs) != given_crs:
            raise ConfigError(
                f"the file's CRS ({crs_to_string(file_crs)}) differs from the CRS given "
                f"({given}). Drop the crs option, or reproject the file (gdalwarp -t_srs)",
                source=str(path),
                field="crs",
            )
        return crs_to_string(given_crs)
    if file_crs is None:
        if allow_missing:
            return ""
        raise InputFileError(
            path, "the raster has no coordinate reference system (CRS)", _NO_CRS_FIX
        )
    return crs_to_string(file_crs)


def _grid_from(path: Path, transform: Affine, shape, crs: str) -> GridSpec:
    try:
        return GridSpec(tuple(int(n) for n in shape), tuple(transform)[:6], crs)
    except GridAlignmentError as exc:
        raise InputFileError(path, str(exc)) from None


def read_resistance(
    path: str | os.PathLike, *, crs: str | None = None, allow_missing_crs: bool = False
) -> tuple[GridSpec, np.ndarray]:
    """Read a resistance raster and check it: not all NoData, every valid cell > 0.

    Raises
    ------
    InputFileError
        As :func:`read_raster`, or every cell is NoData.
    ConfigError
        Zero or negative resistance (the message gives the count, the first cell and the fix).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp()) / "r.tif"
    >>> grid = GridSpec.from_origin(0, 2000, 1000, (2, 2), "EPSG:32640")
    >>> _ = write_geotiff(tmp, grid, np.array([[1.0, 2.0], [np.nan, 4.0]]))
    >>> g, r = read_resistance(tmp)
    >>> g.crs, r.tolist()
    ('EPSG:32640', [[1.0, 2.0], [nan, 4.0]])
    """
    grid, values = read_raster(path, crs=crs, allow_missing_crs=allow_missing_crs)
    check_resistance(values, source=str(path))
    return grid, values


def check_resistance(values: np.ndarray, *, source: str) -> None:
    """Raise when ``values`` is all NoData or holds zero or negative resistances."""
    finite = np.isfinite(values)
    if not finite.any():
        raise InputFileError(
            source,
            "every cell is NoData",
            "Check the NoData value of the file (gdalinfo) and that the raster covers the area",
        )
    bad = finite & (values <= 0)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise ConfigError(
            f"{int(bad.sum())} cell(s) have zero or negative resistance (first at row {row}, "
            f"col {col}: {values[row, col]:g}). Resistances must be > 0: set barriers to NoData "
            "and open ground to a small positive value",
            source=source,
            field="resistance",
        )


def read_aligned(
    paths: Sequence[str | os.PathLike], *, crs: str | None = None
) -> tuple[GridSpec, list[np.ndarray]]:
    """Read several rasters that must share one grid (shape, transform and CRS).

    Raises
    ------
    GridAlignmentError
        Naming both files, what differs and the fix.
    """
    if not paths:
        raise ConfigError("no raster given", field="paths")
    reference_path = Path(paths[0])
    reference, first = read_raster(reference_path, crs=crs)
    arrays = [first]
    for other_path in paths[1:]:
        grid, values = read_raster(other_path, crs=crs)
        check_grids_aligned(reference, grid, reference_path, Path(other_path))
        arrays.append(values)
    return reference, arrays


def check_grids_aligned(reference: GridSpec, other: GridSpec, reference_path, other_path) -> None:
    """Raise GridAlignmentError naming both files when two grids differ."""
    same_crs = CRS.from_user_input(reference.crs) == CRS.from_user_input(other.crs)
    same_transform = np.allclose(
        reference.transform, other.transform, rtol=0, atol=1e-6 * reference.cell_size
    )
    if reference.shape == other.shape and same_transform and same_crs:
        return
    differences = []
    if reference.shape != other.shape:
        differences.append(f"shape {other.shape} vs {reference.shape}")
    if not same_transform:
        differences.append(
            f"cell size {other.cell_size:g} vs {reference.cell_size:g}, origin "
            f"({other.transform[2]:g}, {other.transform[5]:g}) vs "
            f"({reference.transform[2]:g}, {reference.transform[5]:g})"
        )
    if not same_crs:
        differences.append(f"CRS {other.crs} vs {reference.crs}")
    raise GridAlignmentError(
        f"{other_path} does not align with {reference_path}: {'; '.join(differences)}. "
        f"Resample {other_path} onto the grid of {reference_path} (same CRS, extent and cell "
        "size), e.g. with gdalwarp -te -tr -t_srs"
    )


def write_raster(path: str | os.PathLike, grid: GridSpec, values: np.ndarray, **kwargs) -> Path:
    """Write ``values`` as GeoTIFF, or as ASCII grid when the name ends in ``.asc``."""
    if str(path).lower().endswith(".asc"):
        return write_ascii_grid(path, grid, values, **kwargs)
    return write_geotiff(path, grid, values, **kwargs)


def write_geotiff(
    path: str | os.PathLike,
    grid: GridSpec,
    values: np.ndarray,
    *,
    dtype: str = "float32",
    nodata: float = NODATA_OUT,
    tags: dict[str, str] | None = None,
) -> Path:
    """Write one band as a deflate-compressed, tiled GeoTIFF atomically; NaN becomes ``nodata``."""
    values = _checked_values(grid, values)
    profile = {
        "driver": "GTiff",
        "height": grid.rows,
        "width": grid.cols,
        "count": 1,
        "dtype": dtype,
        "crs": CRS.from_user_input(grid.crs) if grid.crs else None,
        "transform": Affine(*grid.transform),
        "nodata": nodata,
        "compress": "deflate",
    }
    if grid.rows >= 256 and grid.cols >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(np.where(np.isnan(values), nodata, values).astype(dtype), 1)
            if tags:
                dst.update_tags(**tags)
    return Path(path)


def write_ascii_grid(
    path: str | os.PathLike, grid: GridSpec, values: np.ndarray, *, nodata: float = NODATA_OUT
) -> Path:
    """Write an Arc/Info ASCII grid atomically (plus a ``.prj`` when the grid has a CRS)."""
    values = _checked_values(grid, values)
    west, south, _, _ = grid.bounds
    header = (
        f"ncols {grid.cols}\nnrows {grid.rows}\nxllcorner {west!r}\nyllcorner {south!r}\n"
        f"cellsize {grid.cell_size!r}\nNODATA_value {nodata:g}\n"
    )
    filled = np.where(np.isnan(values), nodata, values)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="ascii") as handle:
            handle.write(header)
            np.savetxt(handle, filled, fmt="%.10g")
    if grid.crs:
        prj = Path(path).with_suffix(".prj")
        with atomic_path(prj) as tmp:
            tmp.write_text(CRS.from_user_input(grid.crs).to_wkt(version="WKT1_ESRI"))
    return Path(path)


def _checked_values(grid: GridSpec, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.shape != tuple(grid.shape):
        raise ConfigError(
            f"array shape {values.shape} differs from the grid shape {grid.shape}", field="values"
        )
    if np.isinf(values).any():
        warnings.warn("infinite values written as NoData", CrossingsWarning, stacklevel=3)
        values = np.where(np.isinf(values), np.nan, values)
    return values
