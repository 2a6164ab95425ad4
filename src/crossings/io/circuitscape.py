"""Circuitscape 4/5 job files: INI parsing, input grids and lists, and the output files it writes.

Everything here mirrors how Circuitscape (Python 4.x and Circuitscape.jl 5.x) reads and writes
its files, so an existing job runs unchanged with ``crossings circuitscape run JOB.ini``:

- INI files are ``key = value`` lines; section headers are ignored (Circuitscape ignores them
  too) and every key of Circuitscape 4 and 5 is accepted. Unknown keys and bad values are errors
  that name the key and the allowed values.
- Relative paths are resolved against the working directory (as Circuitscape does), falling
  back to the INI's own folder.
- Grids are Arc/Info ASCII (``.asc``, optionally gzipped) or GeoTIFF (also ``.tif.gz``); NoData
  becomes NaN. Text lists hold ``value x y`` rows (coordinates in the grid's units).
- Outputs: ``<prefix>_resistances.out`` (matrix with a header row and column of focal ids, -1 for
  disconnected pairs), ``<prefix>_resistances_3columns.out``, ASCII current and voltage maps with
  values rounded to 8 decimals (GeoTIFF when ``write_as_tif`` is set).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import gzip
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossings.config import parse_enum
from crossings.core.circuit import RemovePolicy  # ``remove_src_or_gnd``, same names as the INI
from crossings.core.grid import GridSpec
from crossings.errors import ConfigError, CrossingsWarning, InputFileError, did_you_mean
from crossings.io.atomic import atomic_path

__all__ = [
    "CircuitscapeConfig",
    "DataType",
    "Scenario",
    "SolverName",
    "RemovePolicy",
    "AsciiMeta",
    "PairSelectionFile",
    "read_ini",
    "parse_ini_text",
    "read_grid",
    "read_point_file",
    "read_text_list",
    "read_included_pairs",
    "read_variable_sources",
    "write_grid",
    "write_resistances",
    "write_two_column",
]

NONE_VALUES = {"", "none", "false"}


class DataType(enum.Enum):
    """``data_type``: a raster habitat map or a graph (network) file."""

    RASTER = "raster"
    NETWORK = "network"


class Scenario(enum.Enum):
    """``scenario``: the Circuitscape mode."""

    PAIRWISE = "pairwise"
    ADVANCED = "advanced"
    ONE_TO_ALL = "one-to-all"
    ALL_TO_ONE = "all-to-one"


class SolverName(enum.Enum):
    """``solver``: Circuitscape's names plus crossings' ``auto`` and ``splu``."""

    CG_AMG = "cg+amg"
    CHOLMOD = "cholmod"
    AUTO = "auto"
    SPLU = "splu"


@dataclass(frozen=True, slots=True)
class CircuitscapeConfig:
    """Every key of a Circuitscape 4/5 INI file, typed; file paths are resolved or ``None``.

    Keys that only tune Circuitscape's own runtime (``parallelize``, ``low_memory_mode``,
    logging, ``precision``, ...) are accepted and recorded but do not change results: crossings
    always computes in double precision. Keys that no version still reads
    (:data:`OBSOLETE_KEYS`) warn once and are ignored.
    """

    source: str = ""
    data_type: DataType = DataType.RASTER
    scenario: Scenario = Scenario.PAIRWISE
    habitat_file: Path | None = None
    habitat_map_is_resistances: bool = True
    connect_four_neighbors_only: bool = False
    connect_using_avg_resistances: bool = False
    use_polygons: bool = False
    polygon_file: Path | None = None
    use_mask: bool = False
    mask_file: Path | None = None
    point_file: Path | None = None
    use_included_pairs: bool = False
    included_pairs_file: Path | None = None
    use_variable_source_strengths: bool = False
    variable_source_file: Path | None = None
    source_file: Path | None = None
    ground_file: Path | None = None
    ground_file_is_resistances: bool = True
    use_unit_currents: bool = False
    use_direct_grounds: bool = False
    remove_src_or_gnd: RemovePolicy = RemovePolicy.KEEPALL
    use_reclass_table: bool = False
    reclass_file: Path | None = None
    output_file: Path | None = None
    write_cur_maps: bool = False
    write_cum_cur_map_only: bool = False
    write_max_cur_maps: bool = False
    write_volt_maps: bool = False
    set_null_currents_to_nodata: bool = False
    set_null_voltages_to_nodata: bool = False
    set_focal_node_currents_to_zero: bool = False
    log_transform_maps: bool = False
    compress_grids: bool = False
    write_as_tif: bool = False
    solver: SolverName = SolverName.CG_AMG
    cholmod_batch_size: int = 1000
    precision: str = "double"
    parallelize: bool = False
    low_memory_mode: bool = False
    preemptive_memory_release: bool = False
    use_64bit_indexing: bool = False
    suppress_messages: bool = False
    log_level: str = "INFO"
    log_file: str = "None"
    version: str = "unknown"

    @property
    def output_prefix(self) -> Path:
        """``output_file`` without its ``.out`` suffix (Circuitscape splits at ``.out``)."""
        if self.output_file is None:
            raise ConfigError(
                "no output file given; set output_file = path/to/name.out",
                source=self.source,
                field="output_file",
            )
        text = str(self.output_file)
        return Path(text.split(".out")[0])

    def to_mapping(self) -> dict:
        """Plain data for ``run.toml`` (enums as values, paths as strings)."""
        data = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, Path):
                value = str(value)
            if value is not None:
                data[f.name] = value
        return data


_BOOL_TRUE = {"true", "1", "yes", "on"}
_BOOL_FALSE = {"false", "0", "no", "off"}
_PATH_KEYS = {
    "habitat_file",
    "polygon_file",
    "mask_file",
    "point_file",
    "included_pairs_file",
    "variable_source_file",
    "source_file",
    "ground_file",
    "reclass_file",
    "output_file",
}
# Circuitscape's GUIs write these placeholders for "no file": "(Browse for a resistance file)",
# "(Choose a base name for output files)" (4.x, 5.x), "(Choose an output file name)" (3.5).
_PLACEHOLDER_PREFIX = "(browse for"
_PLACEHOLDER_OUTPUT = "(choose"
#: The 3.5 GUI writes "not entered" for a choice left open: the key is unset.
_NOT_ENTERED = "not entered"
_ALIASES = {"solver": {"amg": "cg+amg", "cg_amg": "cg+amg", "cg+amg": "cg+amg"}}
#: Direct solvers of Circuitscape.jl that crossings does not have: ``auto`` picks its own.
_OTHER_DIRECT_SOLVERS = {"pardiso", "accelerate"}

#: Keys Circuitscape once read or wrote that no longer do anything (Circuitscape.jl ignores
#: them): accepted with one warning per key, then ignored.
OBSOLETE_KEYS = {
    "point_file_contains_polygons": "Circuitscape 3.5; focal regions are found from the file",
    "write_volt_drop_maps": "Circuitscape 3.5",
    "normalize_vdrop_maps": "Circuitscape 3.5",
    "write_baseline_results": "Circuitscape 3.5",
    "print_timings": "Circuitscape 4; manifest.json records the time",
    "print_rusages": "Circuitscape 4; manifest.json records the time",
    "max_parallel": "Circuitscape 4",
    "screenprint_log": "Circuitscape 4",
    "profiler_log_file": "Circuitscape 4",
}
_warned_obsolete: set[str] = set()
_SCENARIO_ALIASES = {"one to all": "one-to-all", "all to one": "all-to-one"}


def _parse_bool(key: str, value: str, source: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _BOOL_TRUE:
        return True
    if lowered in _BOOL_FALSE:
        return False
    raise ConfigError(f"must be one of True, False; got {value!r}.", source=source, field=key)


def _resolve_path(key: str, value: str, ini_dir: Path, run_dir: Path) -> Path | None:
    text = value.strip()
    lowered = text.lower()
    if lowered in NONE_VALUES or lowered.startswith((_PLACEHOLDER_PREFIX, _PLACEHOLDER_OUTPUT)):
        return None
    path = Path(os.path.expanduser(text))
    if path.is_absolute() or key == "output_file":
        return path if path.is_absolute() else run_dir / path
    candidate = run_dir / path
    if candidate.exists():
        return candidate
    fallback = ini_dir / path
    return fallback if fallback.exists() else candidate


def _raw_pairs(text: str, source: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("[", "#", ";")):
            continue
        delimiter = "=" if "=" in line else ":"  # ConfigParser (Circuitscape 4) takes both
        if delimiter not in line:
            raise ConfigError(
                f"line {number} is neither 'key = value' nor a [section]: {line[:60]!r}.",
                source=source,
            )
        key, value = line.split(delimiter, 1)
        pairs[key.strip().lower()] = value.strip()
    return pairs


def parse_ini_text(
    text: str, *, source: str = "<ini>", ini_dir: Path | None = None, run_dir: Path | None = None
) -> CircuitscapeConfig:
    """Parse the text of a Circuitscape INI file into a :class:`CircuitscapeConfig`.

    Examples
    --------
    >>> cfg = parse_ini_text("[Circuitscape mode]\\nscenario = pairwise\\nsolver = cholmod\\n")
    >>> cfg.scenario, cfg.solver
    (<Scenario.PAIRWISE: 'pairwise'>, <SolverName.CHOLMOD: 'cholmod'>)
    >>> parse_ini_text("scenaro = pairwise")
    Traceback (most recent call last):
    ...
    crossings.errors.ConfigError: <ini>: field 'scenaro': unknown key. Did you mean 'scenario'?
    """
    ini_dir = Path(ini_dir) if ini_dir is not None else Path.cwd()
    run_dir = Path(run_dir) if run_dir is not None else Path.cwd()
    fields = {f.name: f for f in dataclasses.fields(CircuitscapeConfig) if f.name != "source"}
    values: dict[str, object] = {"source": source}
    pairs = _raw_pairs(text, source)
    _warn_obsolete([key for key in pairs if key in OBSOLETE_KEYS], source)
    for key, value in pairs.items():
        if key in OBSOLETE_KEYS:
            continue
        if key not in fields:
            known = [*fields, *OBSOLETE_KEYS]
            raise ConfigError(f"unknown key.{did_you_mean(key, known)}", source=source, field=key)
        if value.strip().lower() == _NOT_ENTERED and key != "scenario":
            continue  # left open in the 3.5 GUI: the default applies
        values[key] = _convert_value(key, value, fields[key], source, ini_dir, run_dir)
    # Circuitscape has no default mode either.
    if "scenario" not in pairs or pairs["scenario"].strip().lower() == _NOT_ENTERED:
        allowed = ", ".join(repr(m.value) for m in Scenario)
        raise ConfigError(
            f"missing; set scenario = one of {allowed}.", source=source, field="scenario"
        )
    return CircuitscapeConfig(**values)


def _warn_obsolete(keys: list[str], source: str) -> None:
    """One warning per obsolete key per process (a batch of INIs does not repeat it)."""
    new = [key for key in keys if key not in _warned_obsolete]
    if not new:
        return
    _warned_obsolete.update(new)
    described = "; ".join(f"{key} ({OBSOLETE_KEYS[key]})" for key in new)
    warnings.warn(
        f"{source}: {described}: no longer used by Circuitscape or crossings; ignored",
        CrossingsWarning,
        stacklevel=3,
    )


def _convert_value(key, value, field, source, ini_dir, run_dir):
    default = field.default
    if key in _PATH_KEYS:
        return _resolve_path(key, value, ini_dir, run_dir)
    if isinstance(default, bool):
        return _parse_bool(key, value, source)
    if isinstance(default, int):
        try:
            return int(value)
        except ValueError:
            raise ConfigError(
                f"must be an integer; got {value!r}.", source=source, field=key
            ) from None
    if isinstance(default, enum.Enum):
        lowered = value.strip().lower()
        if key == "remove_src_or_gnd" and lowered == "not entered":
            return RemovePolicy.KEEPALL
        if key == "scenario":
            lowered = _SCENARIO_ALIASES.get(lowered, lowered)
        lowered = _ALIASES.get(key, {}).get(lowered, lowered)
        if key == "solver" and lowered in _OTHER_DIRECT_SOLVERS:
            warnings.warn(
                f"{source}: solver = {value.strip()} is a solver crossings does not have; "
                "using solver = auto (a direct solver where the system fits, else cg+amg)",
                CrossingsWarning,
                stacklevel=3,
            )
            lowered = "auto"
        return parse_enum(type(default), lowered, field=key, source=source)
    return value


def with_overrides(
    config: CircuitscapeConfig,
    *,
    out_dir: str | os.PathLike | None = None,
    solver: str | None = None,
) -> CircuitscapeConfig:
    """A copy of ``config`` writing into ``out_dir`` and / or using another ``solver``."""
    changes: dict[str, object] = {}
    if out_dir is not None:
        name = Path(config.output_prefix).name + ".out"
        changes["output_file"] = Path(out_dir) / name
    if solver is not None:
        value = _ALIASES["solver"].get(solver.strip().lower(), solver.strip().lower())
        changes["solver"] = parse_enum(SolverName, value, field="solver", source="--solver")
    return dataclasses.replace(config, **changes)


def read_ini(path: str | os.PathLike, *, run_dir: str | os.PathLike | None = None):
    """Read a Circuitscape INI file; relative paths resolve against ``run_dir`` (default: the
    working directory), falling back to the INI's own folder."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "INI file not found", "Check the path of the job file.")
    text = _ini_text(path)
    return parse_ini_text(
        text, source=str(path), ini_dir=path.resolve().parent, run_dir=run_dir or Path.cwd()
    )


def _ini_text(path: Path) -> str:
    """The INI's text: UTF-8 with or without a byte-order mark, else Latin-1; never binary."""
    data = path.read_bytes()
    control = set(range(32)) - {9, 10, 12, 13}  # tab, newlines and form feed occur in text
    if control.intersection(data):
        raise InputFileError(
            path,
            "is not a text file (it holds control bytes)",
            "Give a Circuitscape INI job file (key = value lines)",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Circuitscape 3.5/4 on Windows saved INIs in the ANSI code page (paths with accents).
        return data.decode("latin-1")


# --------------------------------------------------------------------------------------------
# Grids


@dataclass(frozen=True, slots=True)
class AsciiMeta:
    """Header of a Circuitscape grid: size, lower-left corner, cell size and NoData value."""

    ncols: int
    nrows: int
    xllcorner: float
    yllcorner: float
    cellsize: float
    nodata: float = -9999.0
    crs: str = ""

    def grid_spec(self) -> GridSpec:
        """The matching :class:`GridSpec` (north-up, top-left origin)."""
        top = self.yllcorner + self.nrows * self.cellsize
        return GridSpec.from_origin(
            self.xllcorner, top, self.cellsize, (self.nrows, self.ncols), self.crs or "LOCAL_CS"
        )

    def same_grid(self, other: AsciiMeta) -> bool:
        close = math.isclose
        return (
            (self.nrows, self.ncols) == (other.nrows, other.ncols)
            and close(self.cellsize, other.cellsize, rel_tol=1e-9)
            and close(self.xllcorner, other.xllcorner, rel_tol=0, abs_tol=1e-6 * self.cellsize)
            and close(self.yllcorner, other.yllcorner, rel_tol=0, abs_tol=1e-6 * self.cellsize)
        )


def _is_gz(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def _is_tif(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return name.endswith((".tif", ".tiff"))


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise InputFileError(path, "file not found", "Check the path in the INI file.")
    try:
        if _is_gz(path):
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
                return handle.read()
        return path.read_text(encoding="utf-8", errors="replace")
    except (OSError, EOFError) as exc:
        raise InputFileError(path, f"cannot be read ({exc})", "Check the file.") from None


_HEADER_KEYS = ("ncols", "nrows", "xllcorner", "yllcorner", "cellsize", "nodata_value")


def _ascii_header(path: Path) -> tuple[dict[str, float], int]:
    """The header keys of an ASCII grid and the number of lines they take; only the header
    lines are read (the values are read by :func:`_ascii_values`)."""
    from crossings.io.ascii_header import parse_ascii_header

    if not path.is_file():
        raise InputFileError(path, "file not found", "Check the path in the INI file.")
    lines = []
    try:
        opener = gzip.open if _is_gz(path) else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                lines.append(line)
                parts = line.split()
                if not parts or parts[0][0].isdigit() or parts[0][0] in "-+.":
                    break
    except (OSError, EOFError) as exc:
        raise InputFileError(path, f"cannot be read ({exc})", "Check the file.") from None
    return parse_ascii_header(lines, path)


def _ascii_values(path: Path, start: int) -> np.ndarray:
    """The values after the ``start`` header lines as a flat float64 array.

    Parsed with array operations (:mod:`crossings.io.ascii_numbers`: the same doubles as
    ``float``, 1.7-1.9x faster than numpy's ``loadtxt`` up to 15 digits, and line-agnostic, so
    rows wrapped over several lines read too; ``bench/circuit.py``'s read stage). GDAL's ASCII
    driver silently reads a truncated file or a non-numeric value as 0, so it is not used.
    """
    from crossings.io.ascii_numbers import NotANumberError, parse_numbers

    data = _read_bytes(path)
    body = _after_lines(data, start)
    try:
        return parse_numbers(data, body)
    except NotANumberError as bad:
        line = start + 1 + data.count(b"\n", body, bad.offset)
        value = bad.token[:30].decode("ascii", errors="replace")
        raise InputFileError(
            path,
            f"line {line}: {value!r} is not a number",
            "Grid cells hold numbers only (NoData cells the header's NODATA_value).",
        ) from None


def _read_bytes(path: Path) -> bytes:
    try:
        if _is_gz(path):
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError) as exc:
        raise InputFileError(path, f"cannot be read ({exc})", "Check the file.") from None


def _after_lines(data: bytes, count: int) -> int:
    """Offset of the text after ``count`` lines ended by \\n, \\r\\n or \\r (as text mode reads
    them)."""
    position = 0
    for _ in range(count):
        ends = [i for i in (data.find(b"\n", position), data.find(b"\r", position)) if i >= 0]
        if not ends:
            return len(data)
        position = min(ends) + 1
        if data[position - 1 : position + 1] == b"\r\n":
            position += 1
    return position


def _parse_ascii(path: Path) -> tuple[np.ndarray, AsciiMeta]:
    header, start = _ascii_header(path)
    missing = [
        k
        for k in _HEADER_KEYS[:5]
        if k not in header and k.replace("corner", "center") not in header
    ]
    if missing:
        raise InputFileError(
            path,
            f"not an Arc/Info ASCII grid: header misses {', '.join(missing)}",
            "The file must start with ncols, nrows, xllcorner, yllcorner, cellsize lines.",
        )
    nrows, ncols = int(header["nrows"]), int(header["ncols"])
    cellsize = header["cellsize"]
    xll = header.get("xllcorner", header.get("xllcenter", 0.0) - cellsize / 2)
    yll = header.get("yllcorner", header.get("yllcenter", 0.0) - cellsize / 2)
    nodata = header.get("nodata_value", -9999.0)
    values = _ascii_values(path, start)
    if values.size == nrows * (ncols + 1):  # a trailing value per row, as Circuitscape tolerates
        values = values.reshape(nrows, ncols + 1)[:, :ncols]
    if values.size != nrows * ncols:
        raise InputFileError(
            path,
            f"header says {nrows} x {ncols} cells but the file holds {values.size} values",
            "Fix the header or the data rows.",
        )
    grid = values.reshape(nrows, ncols)
    grid[grid == nodata] = np.nan
    meta = AsciiMeta(ncols, nrows, xll, yll, cellsize, nodata)
    return grid, meta


def _parse_geotiff(path: Path) -> tuple[np.ndarray, AsciiMeta]:
    import rasterio
    from rasterio.io import MemoryFile

    if not path.is_file():
        raise InputFileError(path, "file not found", "Check the path in the INI file.")
    try:
        if _is_gz(path):
            with gzip.open(path, "rb") as handle, MemoryFile(handle.read()) as memfile:
                with memfile.open() as dataset:
                    return _dataset_grid(dataset)
        with rasterio.open(path) as dataset:
            return _dataset_grid(dataset)
    except rasterio.errors.RasterioError as exc:
        raise InputFileError(
            path, f"cannot be read as GeoTIFF ({exc})", "Check the file."
        ) from None


def _dataset_grid(dataset) -> tuple[np.ndarray, AsciiMeta]:
    grid = dataset.read(1).astype(float)
    nodata = dataset.nodata
    if nodata is not None:
        grid[grid == nodata] = np.nan
    t = dataset.transform
    cellsize = abs(t.a)
    yll = t.f + t.e * dataset.height
    crs = dataset.crs.to_string() if dataset.crs else ""
    meta = AsciiMeta(dataset.width, dataset.height, t.c, yll, cellsize, -9999.0, crs)
    return grid, meta


def read_grid(path: str | os.PathLike) -> tuple[np.ndarray, AsciiMeta]:
    """Read an ASCII grid (``.asc``, ``.asc.gz``) or GeoTIFF (``.tif``, ``.tif.gz``).

    Returns the values as float64 with NaN for NoData, and the grid header.
    """
    path = Path(path)
    return _parse_geotiff(path) if _is_tif(path) else _parse_ascii(path)


def read_aligned_grid(path, reference: AsciiMeta, *, field: str) -> np.ndarray:
    """Read a grid that must share the habitat grid's size, corner and cell size."""
    grid, meta = read_grid(path)
    if not meta.same_grid(reference):
        raise ConfigError(
            f"{path} is {meta.nrows} x {meta.ncols} cells of {meta.cellsize} at "
            f"({meta.xllcorner}, {meta.yllcorner}) but the habitat grid is {reference.nrows} x "
            f"{reference.ncols} cells of {reference.cellsize} at ({reference.xllcorner}, "
            f"{reference.yllcorner}). Resample it onto the habitat grid.",
            field=field,
        )
    return grid


def _looks_like_grid(path: Path) -> bool:
    if _is_tif(path):
        return True
    if not path.is_file():
        raise InputFileError(path, "file not found", "Check the path in the INI file.")
    opener = gzip.open if _is_gz(path) else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            first = next((line for line in handle if line.strip()), "")
    except (OSError, EOFError) as exc:
        raise InputFileError(path, f"cannot be read ({exc})", "Check the file.") from None
    return first.lstrip().lower().startswith("ncols")


def read_text_list(path: str | os.PathLike, reference: AsciiMeta, *, field: str):
    """Read a ``value x y`` list; return ``(values, rows, cols)`` with 0-based cell indices.

    Cells are found as Circuitscape finds them: ``row = ceil(nrows - (y - yll) / cellsize)`` and
    ``col = ceil((x - xll) / cellsize)`` (1-based), so a point on a cell edge belongs to the
    cell below / to the left.
    """
    path = Path(path)
    rows = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        parts = line.replace(",", " ").split()
        if not parts or parts[0].startswith("#"):
            continue
        try:
            rows.append([float(p) for p in parts[:3]])
        except ValueError:
            raise InputFileError(
                path, f"line {number} is not 'value x y': {line.strip()!r}", "Fix the line."
            ) from None
        if len(parts) < 3:
            raise InputFileError(
                path, f"line {number} has {len(parts)} columns, expected 3 (value x y)", ""
            )
    table = np.array(rows, dtype=float).reshape(-1, 3)
    values, xs, ys = table[:, 0], table[:, 1], table[:, 2]
    r1 = np.ceil(reference.nrows - (ys - reference.yllcorner) / reference.cellsize).astype(int)
    c1 = np.ceil((xs - reference.xllcorner) / reference.cellsize).astype(int)
    outside = (r1 < 1) | (r1 > reference.nrows) | (c1 < 1) | (c1 > reference.ncols)
    if outside.any():
        k = int(np.argmax(outside))
        raise ConfigError(
            f"{int(outside.sum())} location(s) fall outside the habitat grid (first: value "
            f"{values[k]:g} at x={xs[k]:g}, y={ys[k]:g}). Use coordinates inside the grid extent.",
            source=str(path),
            field=field,
        )
    return values, r1 - 1, c1 - 1


def read_point_file(path: str | os.PathLike, reference: AsciiMeta):
    """Read focal points (grid or ``id x y`` list) as Circuitscape does.

    Returns ``(rows, cols, ids)`` sorted by id (stable); for grids, cells of one id come in
    column-major order. Negative ids (and 0 / NoData in grids) are dropped.
    """
    path = Path(path)
    if _looks_like_grid(path):
        grid = read_aligned_grid(path, reference, field="point_file")
        ids_grid = np.nan_to_num(grid, nan=0.0)
        cols, rows = np.nonzero(ids_grid.T)  # column-major order, as Circuitscape's findall
        ids = ids_grid[rows, cols]
    else:
        ids, rows, cols = read_text_list(path, reference, field="point_file")
    keep = ids >= 0 if not _looks_like_grid(path) else ids > 0
    rows, cols, ids = rows[keep], cols[keep], ids[keep]
    order = np.argsort(ids, kind="stable")
    return rows[order].astype(np.int64), cols[order].astype(np.int64), ids[order].astype(np.int64)


@dataclass(frozen=True, slots=True)
class PairSelectionFile:
    """An included-pairs file: ``mode`` ('include' or 'exclude'), point ids and a 0/1 matrix."""

    mode: str
    point_ids: np.ndarray
    matrix: np.ndarray


def read_included_pairs(path: str | os.PathLike) -> PairSelectionFile:
    """Read an included/excluded pairs file: list (``mode include``) or ``min/max`` matrix."""
    path = Path(path)
    lines = [line for line in _read_text(path).splitlines() if line.strip()]
    if not lines:
        raise InputFileError(path, "empty pairs file", "See docs/connectivity.md for the format.")
    head = lines[0].split()
    try:
        if head[0].lower() == "min":
            return _pairs_matrix(lines)
        if head[0].lower() == "mode":
            return _pairs_list(path, lines)
    except (ValueError, IndexError):
        raise InputFileError(path, "malformed pairs file", "See docs/connectivity.md.") from None
    raise InputFileError(
        path,
        f"first line must start with 'mode' or 'min'; got {lines[0].strip()!r}",
        "Use 'mode include' / 'mode exclude' followed by 'id1 id2' lines, or the min/max matrix.",
    )


def _pairs_matrix(lines: list[str]) -> PairSelectionFile:
    minval = float(lines[0].split()[1])
    maxval = float(lines[1].split()[1])
    table = [[float(v) for v in line.split()] for line in lines[2:]]
    width = len(table[0])
    table = np.array([row[:width] for row in table], dtype=float)
    ids = table[1:, 0].astype(np.int64)
    values = table[1:, 1:]
    values = np.where(values > maxval, 0.0, values)
    return PairSelectionFile("include", ids, (values >= minval).astype(np.int64))


def _pairs_list(path: Path, lines: list[str]) -> PairSelectionFile:
    mode = lines[0].split()[1].lower()
    if mode not in ("include", "exclude"):
        raise ConfigError(
            f"mode must be one of 'include', 'exclude'; got {mode!r}.",
            source=str(path),
            field="mode",
        )
    pairs = np.array([[int(float(v)) for v in line.split()[:2]] for line in lines[1:]])
    pairs = pairs.reshape(-1, 2)
    ids = np.unique(pairs)
    ids = ids[ids != 0]
    position = {int(v): k for k, v in enumerate(ids)}
    matrix = np.zeros((ids.size, ids.size), dtype=np.int64)
    for a, b in pairs:
        if int(a) in position and int(b) in position:
            matrix[position[int(a)], position[int(b)]] = 1
            matrix[position[int(b)], position[int(a)]] = 1
    return PairSelectionFile(mode, ids, matrix)


def read_variable_sources(path: str | os.PathLike) -> dict[int, float]:
    """Read ``id strength`` lines into a mapping."""
    path = Path(path)
    strengths: dict[int, float] = {}
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            strengths[int(float(parts[0]))] = float(parts[1])
        except (ValueError, IndexError):
            raise InputFileError(
                path, f"line {number} is not 'id strength': {line.strip()!r}", "Fix the line."
            ) from None
    return strengths


def read_source_or_ground(path: str | os.PathLike, reference: AsciiMeta, *, field: str):
    """A source or ground layer as a grid (NaN where absent), from a grid or a value-x-y list."""
    path = Path(path)
    if _looks_like_grid(path):
        return read_aligned_grid(path, reference, field=field)
    values, rows, cols = read_text_list(path, reference, field=field)
    grid = np.full((reference.nrows, reference.ncols), np.nan)
    grid[rows, cols] = values
    return grid


# --------------------------------------------------------------------------------------------
# Outputs


def _format_number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{value:.1f}"
    return repr(float(value))


def _format_rows(array: np.ndarray) -> str:
    return "\n".join(" ".join(_format_number(v) for v in row) for row in array) + "\n"


def write_grid(
    path: str | os.PathLike,
    values: np.ndarray,
    meta: AsciiMeta,
    *,
    as_tif: bool = False,
    compress: bool = False,
) -> Path:
    """Write a map as Circuitscape does (ASCII, 8 decimals; NaN written as NoData).

    With ``as_tif`` a GeoTIFF with the same name and ``.tif`` is written instead; with
    ``compress`` (``compress_grids``) the ASCII grid is gzipped to ``<name>.asc.gz``, as
    Circuitscape 4 writes it.
    """
    path = Path(path)
    nodata = meta.nodata if np.isfinite(meta.nodata) else -9999.0
    data = np.where(np.isnan(values), nodata, np.round(values, 8))
    if as_tif:
        return _write_tif(path.with_suffix(".tif"), data, meta, nodata)
    header = (
        f"ncols         {meta.ncols}\n"
        f"nrows         {meta.nrows}\n"
        f"xllcorner     {_format_number(meta.xllcorner)}\n"
        f"yllcorner     {_format_number(meta.yllcorner)}\n"
        f"cellsize      {_format_number(meta.cellsize)}\n"
        f"NODATA_value  {_format_number(nodata)}\n"
    )
    if compress:
        path = path.with_name(path.name + ".gz")
    with atomic_path(path) as tmp:
        opener = gzip.open if compress else open
        with opener(tmp, "wt", encoding="ascii") as handle:
            handle.write(header)
            for text in _grid_text_g15(data):
                handle.write(text)
    return path


#: Slot of one cell in the text being built, seven 4-byte words: sign, two of integer digits,
#: point, two of decimals, and one for the separator (its last byte); Python's ``%`` text of
#: the other cells (the longest ``%.15g`` of a double has 22 characters) fits too.
_SLOT = 28
#: Cells formatted at once (about 7 MB of characters).
_TEXT_CHUNK_CELLS = 1 << 18


def _digit_words() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``%04d`` of 0..9999 as 4-byte words, also without leading and without trailing zeros
    (0 then has no digit): in memory order, so their bytes read back as the text."""
    k = np.arange(10_000)[:, None]
    places = 10 ** np.arange(3, -1, -1)
    text = (48 + k // places % 10).astype(np.uint8)
    leading = np.where(k >= places, text, 0).astype(np.uint8)
    trailing = np.where(k % (10 * places) != 0, text, 0).astype(np.uint8)
    return tuple(table.view(np.uint32).ravel() for table in (text, leading, trailing))


_DIGITS4, _LEADING4, _TRAILING4 = _digit_words()
_ZERO, _SIGN, _POINT = (
    np.frombuffer(b"\0\0\x000", dtype=np.uint32),
    np.frombuffer(b"\0\0\0\0-\0\0\0", dtype=np.uint32),
    np.frombuffer(b"\0\0\0\0.\0\0\0", dtype=np.uint32),
)


@functools.cache
def _small_texts() -> np.ndarray:
    """``%.15g`` of k / 1e8 for k < 1e4 (``5e-08``, ``9.999e-05``), 12 bytes each; built when
    first needed (10 ms)."""
    texts = b"".join((b"%.15g" % (k / 1e8)).ljust(12, b"\0") for k in range(10_000))
    return np.frombuffer(texts, dtype=np.uint8).reshape(10_000, 12)


def _grid_text_g15(values: np.ndarray):
    """The text ``np.savetxt(handle, values, fmt="%.15g", delimiter=" ")`` writes, in chunks
    of rows, byte for byte, built with array operations (savetxt formats every cell in Python:
    a fifth of a 1M-cell one-pair run).

    A cell that is a multiple of 1e-8 with ``1e-4 <= |v| < 1e7`` (what an 8-decimal map holds)
    is the double nearest to ``k / 1e8`` for an integer ``k < 1e15``: a decimal of at most 15
    significant digits, which ``%.15g`` prints exactly, in fixed notation, trailing zeros
    dropped (below 1e-4, as ``k`` in exponent notation). Its text is assembled from ``k``;
    every other cell (zero's sign aside) goes through Python's ``%``.
    """
    rows, cols = values.shape
    step = max(1, _TEXT_CHUNK_CELLS // max(cols, 1))
    for start in range(0, rows, step):
        chars = _cells_g15(values[start : start + step].reshape(-1))
        chars[:, -1] = ord(" ")
        chars[cols - 1 :: cols, -1] = ord("\n")
        yield chars[chars != 0].tobytes().decode("ascii")


def _cells_g15(flat: np.ndarray) -> np.ndarray:
    """One row of ``_SLOT`` characters per cell (0 = nothing), its ``%.15g`` text, assembled
    from tables of 4-digit words."""
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.rint(flat * 1e8)
        magnitude = np.abs(scaled)
        exact = scaled / 1e8 == flat
        fixed = ((magnitude >= 1e4) & (magnitude < 1e15) & exact) | (flat == 0)
        small = (magnitude >= 1) & (magnitude < 1e4) & exact  # printed as 1.23e-06
    integer, fraction = np.divmod(np.where(fixed, magnitude, 0).astype(np.int64), 10**8)
    words = np.zeros((flat.size, _SLOT // 4), dtype=np.uint32)
    words[:, 0] = _SIGN[np.signbit(flat).view(np.uint8)]  # also of -0.0
    high, low = np.divmod(integer, 10_000)  # integer digits, at least one
    words[:, 1] = _LEADING4[high]
    words[:, 2] = np.where(high > 0, _DIGITS4[low], np.where(low > 0, _LEADING4[low], _ZERO))
    words[:, 3] = _POINT[(fraction > 0).view(np.uint8)]
    high, low = np.divmod(fraction, 10_000)  # decimals, trailing zeros dropped
    words[:, 4] = np.where(low > 0, _DIGITS4[high], _TRAILING4[high])
    words[:, 5] = _TRAILING4[low]
    chars = words.view(np.uint8)
    tiny = np.flatnonzero(small)
    if tiny.size:
        chars[tiny, 4:16] = _small_texts()[magnitude[tiny].astype(np.int64)]
    for cell in np.flatnonzero(~fixed & ~small):
        text = ("%.15g" % flat[cell]).encode("ascii")  # noqa: UP031 - savetxt's own format
        chars[cell, :] = 0
        chars[cell, : len(text)] = np.frombuffer(text, dtype=np.uint8)
    return chars


def _write_tif(path: Path, data: np.ndarray, meta: AsciiMeta, nodata: float) -> Path:
    import rasterio
    from affine import Affine

    top = meta.yllcorner + meta.nrows * meta.cellsize
    profile = {
        "driver": "GTiff",
        "height": meta.nrows,
        "width": meta.ncols,
        "count": 1,
        "dtype": "float64",
        "nodata": nodata,
        "transform": Affine(meta.cellsize, 0.0, meta.xllcorner, 0.0, -meta.cellsize, top),
        "crs": meta.crs or None,
    }
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dataset:
            dataset.write(data, 1)
    return path


def write_resistances(prefix: Path, ids: np.ndarray, resistances: np.ndarray) -> list[Path]:
    """Write ``<prefix>_resistances.out`` (padded matrix) and ``_resistances_3columns.out``."""
    n = ids.size
    padded = np.zeros((n + 1, n + 1))
    padded[0, 1:] = ids
    padded[1:, 0] = ids
    padded[1:, 1:] = resistances
    first, second = np.triu_indices(n, k=1)
    three = np.column_stack([ids[first], ids[second], resistances[second, first]])
    out = Path(f"{prefix}_resistances.out")
    out3 = Path(f"{prefix}_resistances_3columns.out")
    for target, table in ((out, padded), (out3, three)):
        with atomic_path(target) as tmp:
            tmp.write_text(_format_rows(table), encoding="ascii")
    return [out, out3]


def write_two_column(prefix: Path, ids: np.ndarray, values: np.ndarray) -> Path:
    """Write the one-to-all / all-to-one ``<prefix>_resistances.out`` (``id value`` rows)."""
    target = Path(f"{prefix}_resistances.out")
    with atomic_path(target) as tmp:
        tmp.write_text(_format_rows(np.column_stack([ids, values])), encoding="ascii")
    return target


# --------------------------------------------------------------------------------------------
# Running a job


@dataclass(frozen=True)
class JobInputs:
    """Everything a raster job reads, loaded and checked."""

    meta: AsciiMeta
    #: Cell conductances, NaN where there is none (NoData or masked). The graph is built from
    #: them when the job runs and is not kept here, so that the engine can free its edge arrays
    #: before the solves (128 MB of the peak at 4M cells, against 32 MB for these values).
    conductance: np.ndarray
    #: Keyword arguments of :func:`~crossings.core.graph.build_graph` (neighbours, averaging).
    graph_options: dict
    regions: np.ndarray | None
    focal: object | None
    selection: object | None
    strengths: dict[int, float] | None
    sources: np.ndarray | None
    grounds: np.ndarray | None
    input_files: tuple[Path, ...]

    @property
    def nodata(self) -> np.ndarray:
        """Cells without a conductance, as a mask."""
        return np.isnan(self.conductance)

    def build_graph(self):
        """The job's conductance graph (built anew on every call)."""
        from crossings.core.graph import build_graph

        return build_graph(self.meta.grid_spec(), self.conductance, **self.graph_options)


@dataclass(frozen=True)
class JobPlan:
    """What a job will do before it runs: solves, memory and time estimates."""

    scenario: Scenario
    n_cells: int
    n_focal: int
    n_pairs: int
    n_solves: int
    solver: str
    memory_bytes: int
    seconds: float
    solver_reason: str = ""

    def lines(self) -> list[str]:
        mib = self.memory_bytes / 2**20
        first = (
            f"scenario {self.scenario.value}: {self.n_cells:,} graph nodes, "
            f"{self.n_focal} focal ids, {self.n_pairs:,} pair(s)"
        )
        second = (
            f"{self.n_solves:,} solve(s) with {self.solver}; estimated memory {mib:,.0f} MiB, "
            f"time {self.seconds:,.1f} s"
        )
        return [first, second] + ([f"solver {self.solver_reason}"] if self.solver_reason else [])


def require_input_file(config: CircuitscapeConfig, key: str) -> Path:
    value = getattr(config, key)
    if value is None:
        raise ConfigError(
            f"this {config.scenario.value} job needs a file here; set {key} = path/to/file.",
            source=config.source,
            field=key,
        )
    if not Path(value).exists():
        raise InputFileError(
            value,
            f"file not found (from '{key}' in {config.source})",
            "Paths are resolved against the working directory, then the INI's folder.",
        )
    return Path(value)


def _habitat_conductance(config: CircuitscapeConfig, path: Path) -> tuple[np.ndarray, AsciiMeta]:
    values, meta = read_grid(path)
    if config.habitat_map_is_resistances:
        from crossings.core.graph import resistance_to_conductance

        fix = (
            "mark barriers as NoData and use short-circuit regions (polygon_file) for zero "
            "resistance"
        )
        conductance = resistance_to_conductance(
            values, source=str(path), field="habitat_file", fix=fix
        )
    else:
        finite = np.isfinite(values)
        bad = finite & (values < 0)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ConfigError(
                f"{int(bad.sum())} cell(s) have negative conductance (first at row/col {first}: "
                f"{values[first]:g}). Conductances must be >= 0 (0 = barrier).",
                source=str(path),
                field="habitat_file",
            )
        conductance = np.where(finite & (values > 0), values, np.nan)
    return conductance, meta


def load_job(config: CircuitscapeConfig) -> JobInputs:
    """Read and check every input of a raster job."""
    from crossings.core.circuit import FocalPoints, PairSelection
    from crossings.core.graph import AveragingRule

    files = [require_input_file(config, "habitat_file")]
    conductance, meta = _habitat_conductance(config, files[0])
    if config.use_mask:
        files.append(require_input_file(config, "mask_file"))
        mask = read_aligned_grid(files[-1], meta, field="mask_file")
        conductance = np.where(np.nan_to_num(mask, nan=0.0) > 0, conductance, np.nan)
    if not np.isfinite(conductance).any():
        raise ConfigError(
            "the habitat map has no valid cell (all NoData, zero conductance or masked out).",
            source=str(files[0]),
            field="habitat_file",
        )
    regions = None
    if config.use_polygons:
        files.append(require_input_file(config, "polygon_file"))
        grid = read_aligned_grid(files[-1], meta, field="polygon_file")
        regions = np.nan_to_num(grid, nan=0.0).astype(np.int64)
    rule = (
        AveragingRule.AVG_RESISTANCE
        if config.connect_using_avg_resistances
        else (AveragingRule.AVG_CONDUCTANCE)
    )
    graph_options = {"connect_four": config.connect_four_neighbors_only, "rule": rule}
    focal = selection = strengths = sources = grounds = None
    if config.scenario is Scenario.ADVANCED:
        files += [
            require_input_file(config, "source_file"),
            require_input_file(config, "ground_file"),
        ]
        sources, grounds = _sources_and_grounds(config, files[-2], files[-1], meta)
    else:
        files.append(require_input_file(config, "point_file"))
        rows, cols, ids = read_point_file(files[-1], meta)
        focal = FocalPoints(rows, cols, ids)
        if config.use_included_pairs:
            files.append(require_input_file(config, "included_pairs_file"))
            pairs = read_included_pairs(files[-1])
            selection = PairSelection(pairs.mode, pairs.point_ids, pairs.matrix)
        if config.use_variable_source_strengths:
            files.append(require_input_file(config, "variable_source_file"))
            strengths = read_variable_sources(files[-1])
    return JobInputs(
        meta,
        conductance,
        graph_options,
        regions,
        focal,
        selection,
        strengths,
        sources,
        grounds,
        tuple(files),
    )


def _sources_and_grounds(config, source_path, ground_path, meta):
    sources = np.nan_to_num(read_source_or_ground(source_path, meta, field="source_file"), nan=0.0)
    ground_values = read_source_or_ground(ground_path, meta, field="ground_file")
    present = np.isfinite(ground_values)
    if (present & (ground_values < 0)).any():
        raise ConfigError(
            "ground values must be >= 0 (a resistance or a conductance to ground).",
            source=str(ground_path),
            field="ground_file",
        )
    if config.ground_file_is_resistances:
        with np.errstate(divide="ignore"):
            grounds = np.where(present, 1.0 / np.where(present, ground_values, 1.0), 0.0)
    else:
        grounds = np.where(present, ground_values, 0.0)
    if config.use_direct_grounds:
        grounds = np.where(grounds > 0, np.inf, 0.0)
    if config.use_unit_currents:
        sources = np.where(sources != 0, 1.0, 0.0)
    return sources, grounds


def solver_options(config: CircuitscapeConfig, *, maxiter: int | None = None):
    """The core :class:`~crossings.core.circuit.SolverOptions` for a job."""
    from crossings.core.circuit import SolverOptions
    from crossings.core.solve import Solver

    mapping = {
        SolverName.CG_AMG: Solver.CG_AMG,
        SolverName.CHOLMOD: Solver.CHOLMOD,
        SolverName.AUTO: Solver.AUTO,
        SolverName.SPLU: Solver.SPLU,
    }
    # Circuitscape's CG stops at 1e-6; crossings checks every solve at a tighter residual.
    return SolverOptions(solver=mapping[config.solver], tol=1e-8, maxiter=maxiter)


def plan_job(config: CircuitscapeConfig, inputs: JobInputs) -> JobPlan:
    """Count the solves and estimate memory and time of a loaded raster job."""
    from crossings.core.circuit import build_network, count_pair_solves
    from crossings.core.solve import plan_solves

    valid = ~inputs.nodata
    # Small jobs: count exactly on the network; large ones: estimate without building it twice.
    small = int(valid.sum()) <= 250_000
    network = build_network(inputs.build_graph(), inputs.regions) if small else None
    if network is not None:
        n_nodes, nnz = network.n_nodes, int(network.laplacian.nnz)
    else:
        edges = _neighbour_pairs(valid, inputs.graph_options["connect_four"])
        n_nodes, nnz = int(valid.sum()), int(valid.sum()) + 2 * edges
    n_focal = 0 if inputs.focal is None else int(inputs.focal.unique_ids.size)
    if config.scenario is Scenario.PAIRWISE:
        focal = inputs.focal
        if inputs.selection is not None:
            focal = focal.select(np.isin(focal.ids, inputs.selection.point_ids))
        n_focal = int(focal.unique_ids.size)
        n_pairs = n_focal * (n_focal - 1) // 2
        if focal.has_regions:
            n_solves = n_pairs
        elif network is not None:
            n_solves = max(0, int(np.unique(network.cell_node[focal.rows, focal.cols]).size) - 1)
            if n_pairs <= 5000:
                n_pairs = count_pair_solves(network, focal, inputs.selection)
        else:
            n_solves = max(0, n_focal - 1)
    elif config.scenario is Scenario.ADVANCED:
        n_pairs, n_solves = 0, 1
    else:
        n_pairs, n_solves = 0, n_focal
    plan = plan_solves(n_nodes, nnz, max(n_solves, 1), solver_options(config).solver)
    maps = config.write_cur_maps or config.write_volt_maps or config.write_cum_cur_map_only
    extra = 8 * n_nodes * (n_focal if maps and config.scenario is Scenario.PAIRWISE else 4)
    return JobPlan(
        config.scenario,
        n_nodes,
        n_focal,
        n_pairs,
        n_solves,
        plan.solver.value,
        plan.memory_bytes + extra + 64 * n_nodes,
        plan.seconds,
        plan.reason,
    )


def _neighbour_pairs(valid: np.ndarray, connect_four: bool) -> int:
    """How many pairs of neighbouring cells are both valid: the graph's edges, but for edges
    cut to zero (an estimate that needs no graph)."""
    rows, cols = valid.shape
    count = int((valid[:, 1:] & valid[:, :-1]).sum() + (valid[1:] & valid[:-1]).sum())
    if not connect_four:
        count += int(
            (valid[1:, 1:] & valid[:-1, :-1]).sum() + (valid[1:, :-1] & valid[:-1, 1:]).sum()
        )
    return count


def _null_and_log(values: np.ndarray, nodata: np.ndarray, *, null: bool, log: bool):
    out = values.copy()
    if log:
        with np.errstate(divide="ignore"):
            out = np.where(out > 0, np.log10(np.where(out > 0, out, 1.0)), np.nan)
    if null:
        out[nodata] = np.nan
    return out


class _Writer:
    """Writes a job's maps as they come and records every file written."""

    def __init__(self, config: CircuitscapeConfig, inputs: JobInputs):
        self.config = config
        self.inputs = inputs
        self.prefix = config.output_prefix
        self.written: list[Path] = []

    def grid(self, name: str, values: np.ndarray, *, null: bool = False, log: bool = False):
        data = _null_and_log(values, self.inputs.nodata, null=null, log=log)
        path = Path(f"{self.prefix}_{name}.asc")
        cfg = self.config
        self.written.append(
            write_grid(
                path, data, self.inputs.meta, as_tif=cfg.write_as_tif, compress=cfg.compress_grids
            )
        )

    def pair(self, maps) -> None:
        cfg = self.config
        suffix = f"{maps.id_a}_{maps.id_b}"
        if maps.current is not None:
            self.grid(
                f"curmap_{suffix}",
                maps.current,
                null=cfg.set_null_currents_to_nodata,
                log=cfg.log_transform_maps,
            )
        if maps.voltage is not None:
            self.grid(f"voltmap_{suffix}", maps.voltage, null=cfg.set_null_voltages_to_nodata)


def run_job(
    config: CircuitscapeConfig,
    inputs: JobInputs | None = None,
    *,
    maxiter: int | None = None,
    on_step: object = None,
    executor=None,
) -> list[Path]:
    """Run a raster Circuitscape job and write its output files; return the paths written.

    ``executor`` (a :mod:`crossings.scale.executor` executor) runs the focal nodes' solves of
    pairwise, one-to-all and all-to-one jobs as its tasks.

    ``on_step()`` (optional) is called once per solved pair / focal id for progress bars.
    """
    from crossings.core import circuit

    inputs = inputs or load_job(config)
    warn_nodata_focal(inputs)
    options = solver_options(config, maxiter=maxiter)
    writer = _Writer(config, inputs)
    Path(writer.prefix).parent.mkdir(parents=True, exist_ok=True)
    cur = config.write_cur_maps or config.write_cum_cur_map_only
    if config.scenario is Scenario.PAIRWISE:
        _run_pairwise(config, inputs, options, writer, (cur, on_step, executor))
    elif config.scenario is Scenario.ADVANCED:
        result = circuit.advanced(
            circuit.Handover(inputs.build_graph()),
            inputs.sources,
            inputs.grounds,
            regions=inputs.regions,
            policy=config.remove_src_or_gnd,
            options=options,
        )
        if config.write_cur_maps:
            writer.grid("curmap", result.current, log=config.log_transform_maps)
        if config.write_volt_maps:
            writer.grid("voltmap", result.voltage)
    else:
        _run_one_or_all(config, inputs, options, writer, (cur, on_step, executor))
    return writer.written


def warn_nodata_focal(inputs: JobInputs) -> None:
    """Circuitscape treats focal cells on NoData as disconnected (-1); say so, naming them."""
    focal = inputs.focal
    if focal is None:
        return
    nodata = inputs.nodata[focal.rows, focal.cols]
    if inputs.regions is not None:
        nodata &= inputs.regions[focal.rows, focal.cols] <= 0
    if nodata.any():
        ids = sorted({int(v) for v in focal.ids[nodata]})
        warnings.warn(
            f"{int(nodata.sum())} focal cell(s) lie on NoData (ids {ids[:10]}); as in "
            "Circuitscape they connect to nothing (resistance -1). Move them onto habitat if "
            "that is not intended.",
            CrossingsWarning,
            stacklevel=2,
        )


def _focal_run_kwargs(config, inputs, options, cur, executor) -> dict:
    """Engine arguments shared by the focal-point scenarios, set as Circuitscape does."""
    return dict(
        regions=inputs.regions,
        selection=inputs.selection,
        options=options,
        executor=executor,
        cumulative=cur,
        maximum=cur and config.write_max_cur_maps,
        nodata_focal="disconnect",
    )


def _per_solve_current_maps(config) -> bool:
    """Whether each pair / focal id gets its own current map (not only the cumulative one)."""
    return config.write_cur_maps and not config.write_cum_cur_map_only


def _tick(on_step) -> None:
    if callable(on_step):
        on_step()


def _run_pairwise(config, inputs, options, writer, run):
    cur, on_step, executor = run
    from crossings.core import circuit

    def on_pair(maps):
        writer.pair(maps)
        _tick(on_step)

    result = circuit.pairwise(
        circuit.Handover(inputs.build_graph()),
        inputs.focal,
        **_focal_run_kwargs(config, inputs, options, cur, executor),
        pair_currents=_per_solve_current_maps(config),
        pair_voltages=config.write_volt_maps,
        on_pair=on_pair,
        zero_focal_currents=config.set_focal_node_currents_to_zero,
    )
    writer.written += write_resistances(writer.prefix, result.ids, result.resistances)
    _write_summaries(config, writer, result)


def _write_summaries(config, writer, result):
    null, log = config.set_null_currents_to_nodata, config.log_transform_maps
    if result.cumulative_current is not None:
        writer.grid("cum_curmap", result.cumulative_current, null=null, log=log)
    if result.max_current is not None:
        writer.grid("max_curmap", result.max_current, null=null, log=log)


def _run_one_or_all(config, inputs, options, writer, run):
    cur, on_step, executor = run
    from crossings.core import circuit

    per_id_current = _per_solve_current_maps(config)

    def on_id(pid, current, voltage):
        if per_id_current:
            writer.grid(f"curmap_{pid}", current, log=config.log_transform_maps)
        if config.write_volt_maps:
            writer.grid(f"voltmap_{pid}", voltage)
        _tick(on_step)

    mode = circuit.one_to_all if config.scenario is Scenario.ONE_TO_ALL else circuit.all_to_one
    result = mode(
        circuit.Handover(inputs.build_graph()),
        inputs.focal,
        **_focal_run_kwargs(config, inputs, options, cur, executor),
        strengths=inputs.strengths,
        on_id=on_id,
        circuitscape_compat=True,
    )
    writer.written.append(write_two_column(writer.prefix, result.ids, result.values))
    _write_summaries(config, writer, result)
