"""Omniscape.jl INI job files: the same keys, defaults and parsing quirks; the same outputs.

Parsing follows Omniscape.jl's ``parse_cfg``: every line with ``=`` is ``key = value`` (the key
is everything before the first ``=``, right-stripped; the value is stripped), lines starting with
``[`` are section headers and ignored, there are no comments, and a repeated key keeps its last
value. Booleans are true only for ``true``, ``True`` or ``TRUE``; precision is single only for
``single``, ``Single`` or ``SINGLE``. Unknown keys and an unknown solver are warnings (Omniscape
ignores them, and falls back to ``cg+amg``), everything else that Omniscape refuses is an error
naming the file, the key, the value and the fix.

Outputs go to the project folder ``project_name`` (``project_name_1``, ``_2``... when it
exists): ``cum_currmap``, ``flow_potential``, ``normalized_cum_currmap`` and
``classified_resistance`` as ``.tif`` (``write_as_tif``, the default) or ``.asc``, with NoData
-9999, plus the ``config.ini`` that was run.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossings.core.circuit import SolverOptions
from crossings.core.grid import GridSpec
from crossings.core.omniscape import (
    Comparison,
    Condition,
    OmniscapeLayers,
    OmniscapeOptions,
    OmniscapeResult,
    Precision,
    reclassify,
    source_from_resistance,
)
from crossings.core.solve import Solver, available_solvers
from crossings.errors import ConfigError, CrossingsWarning, InputFileError, did_you_mean
from crossings.io.atomic import write_text_atomic
from crossings.io.raster import check_resistance, read_raster, write_ascii_grid, write_geotiff

__all__ = [
    "DEFAULTS",
    "OmniscapeJob",
    "OmniscapeInputs",
    "parse_ini",
    "project_folder",
    "read_inputs",
    "read_job",
    "write_outputs",
]

#: Omniscape.jl's ``init_cfg`` defaults (``radius`` and ``project_name`` have none).
DEFAULTS: dict[str, str] = {
    "resistance_file": "",
    "resistance_is_conductance": "false",
    "source_file": "",
    "parallelize": "true",
    "parallel_batch_size": "10",
    "block_size": "1",
    "buffer": "0",
    "source_threshold": "0",
    "source_from_resistance": "false",
    "r_cutoff": "Inf",
    "precision": "double",
    "connect_four_neighbors_only": "false",
    "solver": "cg+amg",
    "calc_flow_potential": "false",
    "calc_normalized_current": "false",
    "correct_artifacts": "true",
    "write_raw_currmap": "true",
    "write_as_tif": "true",
    "mask_nodata": "true",
    "suppress_cs_messages": "true",
    "conditional": "false",
    "n_conditions": "1",
    "compare_to_future": "none",
    "condition1_file": "",
    "condition2_file": "",
    "condition1_future_file": "",
    "condition2_future_file": "",
    "comparison1": "within",
    "comparison2": "within",
    "condition1_lower": "0",
    "condition2_lower": "0",
    "condition1_upper": "0",
    "condition2_upper": "0",
    "reclassify_resistance": "false",
    "reclass_table": "",
    "write_reclassified_resistance": "false",
    "allow_different_projections": "false",
}
REQUIRED = ("resistance_file", "radius", "project_name")
SUPPORTED = frozenset(DEFAULTS) | {"radius", "project_name"}
TRUE_VALUES = ("true", "True", "TRUE")
SINGLE_VALUES = ("single", "Single", "SINGLE")
SOLVERS = ("cg+amg", "cholmod")
COMPARE_TO_FUTURE = ("none", "1", "2", "both")
#: Keys Omniscape reads but that change nothing here (threads and Circuitscape's messages).
NO_EFFECT = ("parallelize", "parallel_batch_size", "suppress_cs_messages")


def parse_ini(path: str | Path) -> dict[str, str]:
    """Read an Omniscape INI file as Omniscape.jl does (see the module docstring).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.ini"
    >>> _ = p.write_text("[Options]\\nradius = 5\\nsolver = a\\nsolver = cholmod\\n")
    >>> parse_ini(p)
    {'radius': '5', 'solver': 'cholmod'}
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputFileError(path, "does not exist", "Check the path of the INI file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot be read ({exc})", "Give a text INI file") from None
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("[") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.rstrip()] = value.strip()
    return values


@dataclass(frozen=True)
class OmniscapeJob:
    """An Omniscape INI job, resolved: Omniscape's settings plus where its files are.

    Attributes
    ----------
    source : str
        The INI file (for messages).
    settings : dict
        Every Omniscape key with the user's value or the default.
    base_dir : Path
        Folder relative file paths are resolved against.
    options : OmniscapeOptions
    """

    source: str
    settings: Mapping[str, str]
    base_dir: Path
    options: OmniscapeOptions

    def flag(self, key: str) -> bool:
        return self.settings[key] in TRUE_VALUES

    def path(self, key: str) -> Path | None:
        value = self.settings[key]
        if not value:
            return None
        path = Path(value)
        return path if path.is_absolute() else self.base_dir / path

    @property
    def project_name(self) -> str:
        return self.settings["project_name"]

    @property
    def extension(self) -> str:
        return ".tif" if self.flag("write_as_tif") else ".asc"

    def to_mapping(self) -> dict[str, str]:
        return dict(self.settings)


def read_job(path: str | Path, *, base_dir: str | Path | None = None, solver=None) -> OmniscapeJob:
    """Parse and check an Omniscape INI job.

    Parameters
    ----------
    path : path-like
    base_dir : path-like, optional
        Folder relative paths are resolved against (Omniscape: the working directory).
    solver : str, optional
        Override the INI's solver (``cg+amg``, ``cholmod``, ``splu``).

    Raises
    ------
    ConfigError
        A required key is missing or a value is one Omniscape refuses.
    """
    source = str(path)
    user = parse_ini(path)
    missing = [key for key in REQUIRED if key not in user]
    if missing:
        raise ConfigError(
            f"missing required key(s) {', '.join(missing)} (no defaults); add e.g. "
            "'radius = 50' and 'project_name = my_run' under [Options].",
            source=source,
            field=", ".join(missing),
        )
    unknown = sorted(k for k in user if k and k not in SUPPORTED)
    for key in unknown:
        warnings.warn(
            f"{source}: unsupported key {key!r} is ignored, as Omniscape does."
            f"{did_you_mean(key, sorted(SUPPORTED))}",
            CrossingsWarning,
            stacklevel=2,
        )
    settings = {**DEFAULTS, **{k: v for k, v in user.items() if k in SUPPORTED}}
    if solver is not None:
        settings["solver"] = solver
    _check_choices(settings, source)
    _check_booleans(settings, source)
    options = _options(settings, source)
    return OmniscapeJob(source, settings, Path(base_dir or Path.cwd()), options)


def _check_choices(settings, source) -> None:
    choices = {
        "n_conditions": ("1", "2"),
        "compare_to_future": COMPARE_TO_FUTURE,
        "comparison1": tuple(c.value for c in Comparison),
        "comparison2": tuple(c.value for c in Comparison),
    }
    for key, allowed in choices.items():
        value = settings[key]
        if value not in allowed:
            raise ConfigError(
                f"must be one of {', '.join(map(repr, allowed))}; got {value!r}."
                f"{did_you_mean(value, allowed)}",
                source=source,
                field=key,
            )


def _check_booleans(settings, source) -> None:
    for key, default in DEFAULTS.items():
        if default in ("true", "false") and settings[key].lower() not in ("true", "false"):
            warnings.warn(
                f"{source}: {key} = {settings[key]!r} is not true or false; Omniscape reads it "
                "as false.",
                CrossingsWarning,
                stacklevel=3,
            )


def _number(settings, key, source) -> float:
    value = settings[key]
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"must be a number; got {value!r}", source=source, field=key) from None


def _whole(settings, key, source) -> int:
    value = _number(settings, key, source)
    if not math.isfinite(value):
        raise ConfigError(
            f"must be a finite number of cells; got {value}", source=source, field=key
        )
    return int(round(value))


def _solver(settings, source) -> SolverOptions:
    name = settings["solver"]
    if name == "splu":
        return SolverOptions(Solver.SPLU)
    if name not in SOLVERS:
        warnings.warn(
            f"{source}: unsupported solver {name!r}; using the default, cg+amg (as Omniscape "
            f"does).{did_you_mean(name, SOLVERS)}",
            CrossingsWarning,
            stacklevel=3,
        )
        name = "cg+amg"
    if name == "cg+amg":
        return SolverOptions(Solver.CG_AMG)
    # Omniscape's cholmod is "a direct solver": SuperLU gives the same answers without it.
    return SolverOptions(Solver.CHOLMOD if Solver.CHOLMOD in available_solvers() else Solver.SPLU)


def _options(settings, source) -> OmniscapeOptions:
    def flag(key):
        return settings[key] in TRUE_VALUES

    try:
        return OmniscapeOptions(
            radius=_whole(settings, "radius", source),
            block_size=_whole(settings, "block_size", source),
            buffer=_whole(settings, "buffer", source),
            resistance_is_conductance=flag("resistance_is_conductance"),
            connect_four=flag("connect_four_neighbors_only"),
            calc_flow_potential=flag("calc_flow_potential"),
            calc_normalized_current=flag("calc_normalized_current"),
            correct_artifacts=flag("correct_artifacts"),
            mask_nodata=flag("mask_nodata"),
            precision=Precision.SINGLE
            if settings["precision"] in SINGLE_VALUES
            else Precision.DOUBLE,
            solver=_solver(settings, source),
        )
    except ConfigError as error:
        raise ConfigError(error.message, source=source, field=error.field) from None


@dataclass(frozen=True)
class OmniscapeInputs:
    """The layers of a job, read and prepared as Omniscape prepares them."""

    grid: GridSpec
    layers: OmniscapeLayers
    resistance: np.ndarray
    nodata: np.ndarray
    files: tuple[Path, ...]


def _read(job: OmniscapeJob, key: str, dtype) -> tuple[GridSpec, np.ndarray, Path]:
    path = job.path(key)
    if path is None:
        raise ConfigError(f"needs a file path; {key} is empty", source=job.source, field=key)
    grid, values = read_raster(path, allow_missing_crs=True)
    return grid, values.astype(dtype), path


def _check_same_grid(job, reference: GridSpec, grid: GridSpec, key: str) -> None:
    if grid.shape != reference.shape:
        raise ConfigError(
            f"{job.path(key)} is {grid.shape[0]} x {grid.shape[1]} cells but the resistance "
            f"is {reference.shape[0]} x {reference.shape[1]}; resample it onto the resistance "
            "grid.",
            source=job.source,
            field=key,
        )
    if not job.flag("allow_different_projections") and not reference.aligned_with(grid):
        warnings.warn(
            f"{job.path(key)} and the resistance have different projections or transforms; "
            "proceeding as Omniscape does (set allow_different_projections = true to silence).",
            CrossingsWarning,
            stacklevel=3,
        )


def read_reclass_table(path: Path, source: str) -> list[tuple[float, float]]:
    """A two-column whitespace-separated table ``old new``; ``missing`` (quoted or not) = NoData."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        raise InputFileError(path, "cannot be read", "Check reclass_table's path") from None
    table = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            old, new = (
                math.nan if f.strip('"') == "missing" else float(f.strip('"')) for f in fields
            )
        except ValueError:
            raise InputFileError(
                path,
                f"line {number} is {line.strip()!r}, not two numbers",
                "Write one 'old new' pair per line ('missing' for NoData)",
            ) from None
        table.append((old, new))
    return table


def read_inputs(job: OmniscapeJob) -> OmniscapeInputs:
    """Read the job's rasters and derive conductance, sources and conditions as Omniscape does.

    Raises
    ------
    ConfigError
        No source file while ``source_from_resistance`` is false, rasters of different sizes,
        zero or negative resistance, missing condition files.
    InputFileError
        A file is missing or unreadable.
    """
    options = job.options
    dtype = options.precision.dtype
    grid, resistance, resistance_path = _read(job, "resistance_file", dtype)
    files = [resistance_path]
    check_resistance(resistance, source=str(resistance_path))
    table = None
    if job.flag("reclassify_resistance"):
        table_path = job.path("reclass_table")
        if table_path is None:
            raise ConfigError(
                "reclassify_resistance is true but reclass_table is empty; give the table's path.",
                source=job.source,
                field="reclass_table",
            )
        table = read_reclass_table(table_path, job.source)
        files.append(table_path)
        resistance = reclassify(resistance, table)
    elif job.settings["reclass_table"]:
        warnings.warn(
            f"{job.source}: reclass_table is given but reclassify_resistance is not true; the "
            "resistance is not reclassified.",
            CrossingsWarning,
            stacklevel=2,
        )
    sources = _sources(job, grid, resistance, files, dtype)
    conditions = _conditions(job, grid, files, dtype)
    with np.errstate(divide="ignore"):
        conductance = resistance if options.resistance_is_conductance else 1 / resistance
    nodata = ~np.isfinite(resistance)
    layers = OmniscapeLayers(conductance.astype(dtype), sources, conditions=conditions)
    return OmniscapeInputs(grid, layers, resistance, nodata, tuple(files))


def _sources(job, grid, resistance, files, dtype) -> np.ndarray:
    if job.flag("source_from_resistance"):
        return source_from_resistance(
            resistance,
            _number(job.settings, "r_cutoff", job.source),
            resistance_is_conductance=job.options.resistance_is_conductance,
        ).astype(dtype)
    if not job.settings["source_file"]:
        raise ConfigError(
            "no source raster: give source_file, or set source_from_resistance = true to derive "
            "sources from the resistance.",
            source=job.source,
            field="source_file",
        )
    source_grid, sources, path = _read(job, "source_file", dtype)
    _check_same_grid(job, grid, source_grid, "source_file")
    files.append(path)
    threshold = _number(job.settings, "source_threshold", job.source)
    sources[~np.isfinite(sources)] = 0
    sources[sources < threshold] = 0
    return sources


def _conditions(job, grid, files, dtype) -> tuple[Condition, ...]:
    settings = job.settings
    if not job.flag("conditional"):
        if settings["condition1_file"] or settings["condition2_file"]:
            warnings.warn(
                f"{job.source}: condition files are given but conditional is not true; they are "
                "ignored.",
                CrossingsWarning,
                stacklevel=3,
            )
        return ()
    compare = settings["compare_to_future"]
    conditions = []
    for number in range(1, int(settings["n_conditions"]) + 1):
        key = f"condition{number}_file"
        present_grid, present, path = _read(job, key, dtype)
        _check_same_grid(job, grid, present_grid, key)
        files.append(path)
        future = present
        if compare in (str(number), "both"):
            future_key = f"condition{number}_future_file"
            future_grid, future, future_path = _read(job, future_key, dtype)
            _check_same_grid(job, grid, future_grid, future_key)
            files.append(future_path)
        conditions.append(
            Condition(
                present,
                future,
                Comparison(settings[f"comparison{number}"]),
                _number(settings, f"condition{number}_lower", job.source),
                _number(settings, f"condition{number}_upper", job.source),
            )
        )
    return tuple(conditions)


def project_folder(parent: str | Path, project_name: str) -> Path:
    """``parent/project_name``, or ``_1``, ``_2``... appended when it exists (Omniscape's rule).

    >>> import tempfile, pathlib
    >>> base = pathlib.Path(tempfile.mkdtemp())
    >>> (base / "run").mkdir()
    >>> project_folder(base, "run").name
    'run_1'
    """
    folder = Path(parent) / project_name
    if not folder.is_dir():
        return folder
    suffix = 1
    while Path(f"{folder}_{suffix}").is_dir():
        suffix += 1
    chosen = Path(f"{folder}_{suffix}")
    warnings.warn(
        f"the project folder {folder} already exists; writing to {chosen}.",
        CrossingsWarning,
        stacklevel=2,
    )
    return chosen


def write_outputs(
    job: OmniscapeJob, inputs: OmniscapeInputs, result: OmniscapeResult, folder: Path
) -> list[Path]:
    """Write Omniscape's output rasters and ``config.ini`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    dtype = "float32" if job.options.precision is Precision.SINGLE else "float64"
    maps = []
    if job.flag("reclassify_resistance") and job.flag("write_reclassified_resistance"):
        maps.append(("classified_resistance", inputs.resistance))
    if job.flag("write_raw_currmap"):
        maps.append(("cum_currmap", result.cumulative_current))
    if result.flow_potential is not None:
        maps.append(("flow_potential", result.flow_potential))
    if result.normalized_current is not None:
        maps.append(("normalized_cum_currmap", result.normalized_current))
    written = []
    for name, values in maps:
        path = folder / f"{name}{job.extension}"
        if job.extension == ".tif":
            written.append(write_geotiff(path, inputs.grid, values, dtype=dtype))
        else:
            written.append(write_ascii_grid(path, inputs.grid, values))
    lines = "".join(f"{key} = {value}\n" for key, value in job.settings.items())
    written.append(write_text_atomic(folder / "config.ini", lines))
    return written


def read_raster_window(path: str | Path, region: tuple[int, int, int, int], dtype=np.float64):
    """Rows ``region[0]:region[1]`` and columns ``region[2]:region[3]`` of band 1, NoData = NaN.

    A windowed read: only the blocks of the file that hold the region are decoded, so tiles of
    a large GeoTIFF (or COG) are read with memory bounded by the tile.
    """
    import rasterio
    from rasterio.windows import Window

    r0, r1, c0, c1 = region
    try:
        with rasterio.open(path) as src:
            data = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
    except rasterio.errors.RasterioIOError as exc:
        raise InputFileError(path, f"cannot be read ({exc})", "Check the raster's path") from None
    values = np.ma.filled(data.astype(np.float64), np.nan)
    values[~np.isfinite(values)] = np.nan
    return values.astype(dtype)


def raster_shape(path: str | Path) -> tuple[int, int]:
    """``(rows, cols)`` of a raster, without reading it."""
    import rasterio

    with rasterio.open(path) as src:
        return src.height, src.width
