"""Circuitscape network (graph) jobs: read the graph, focal-node, source and ground lists, write
the tables Circuitscape writes.

Input files are whitespace-separated text as Circuitscape reads them:

- graph (``habitat_file``): ``i j value`` per line, value a conductance or, with
  ``habitat_map_is_resistances``, a resistance;
- focal nodes (``point_file``): one node id per line (extra columns are ignored);
- sources (``source_file``): ``id strength``; grounds (``ground_file``): ``id value``, a
  resistance (0 = direct ground) with ``ground_file_is_resistances``, else a conductance.

Outputs (``<prefix>`` is ``output_file`` without ``.out``), node ids as in the input files:

- pairwise: ``<prefix>_resistances.out`` and ``_resistances_3columns.out``; with
  ``write_cur_maps`` ``_node_currents_<a>_<b>.txt`` and ``_branch_currents_<a>_<b>.txt`` per pair
  (not with ``write_cum_cur_map_only``) and ``_node_currents_cum.txt``,
  ``_branch_currents_cum.txt``; with ``write_volt_maps`` ``_voltages_<a>_<b>.txt``;
- advanced: ``_voltages.txt`` (``write_volt_maps``), ``_node_currents.txt`` and
  ``_branch_currents.txt`` (``write_cur_maps``).

Tables are ``id value`` or ``id_i id_j value`` rows sorted by id; branch tables list the
branches that carry current.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from crossings.core.network import (
    NetworkFlow,
    NetworkGraph,
    PairSelection,
    RemovePolicy,
    network_advanced,
    network_pairwise,
)
from crossings.core.solve import Solver
from crossings.errors import ConfigError, InputFileError
from crossings.io.atomic import atomic_path

__all__ = [
    "read_graph",
    "read_id_list",
    "read_id_values",
    "write_flow_tables",
    "run_network_job",
]

_SOLVERS = {
    "cg+amg": Solver.CG_AMG,
    "cholmod": Solver.CHOLMOD,
    "auto": Solver.AUTO,
    "splu": Solver.SPLU,
}


def _read_rows(path: Path, field: str, min_columns: int) -> np.ndarray:
    """Numeric table of a text file (tabs or spaces), at least ``min_columns`` per row."""
    if path is None:
        raise ConfigError(
            f"no {field} given; set {field} = path/to/file.txt in the INI file.", field=field
        )
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, f"{field} not found", f"Check '{field}' in the INI file.")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines()
    rows = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#")[0].strip()
        if not text:
            continue
        parts = text.replace(",", " ").split()
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise InputFileError(
                path,
                f"line {number} is not numeric: {line.strip()!r}",
                f"'{field}' must hold {min_columns} number(s) per line.",
            ) from None
        if len(values) < min_columns:
            raise InputFileError(
                path,
                f"line {number} has {len(values)} value(s), expected {min_columns}",
                "Fix the line.",
            )
        rows.append(values[:min_columns])
    if not rows:
        raise InputFileError(path, "the file holds no data rows", f"Check '{field}'.")
    return np.array(rows, dtype=np.float64)


def read_graph(path: str | os.PathLike, *, is_resistances: bool) -> NetworkGraph:
    """Read a Circuitscape graph file (``i j value`` rows) into a :class:`NetworkGraph`."""
    rows = _read_rows(path, "habitat_file", 3)
    return NetworkGraph.from_edge_list(
        rows[:, 0],
        rows[:, 1],
        rows[:, 2],
        values_are_resistances=is_resistances,
        source=str(path),
    )


def read_id_list(path: str | os.PathLike, *, field: str) -> np.ndarray:
    """The first column of a text file, as node ids (focal nodes)."""
    return _read_rows(path, field, 1)[:, 0]


def read_id_values(path: str | os.PathLike, *, field: str) -> tuple[np.ndarray, np.ndarray]:
    """``id value`` rows (sources, grounds)."""
    rows = _read_rows(path, field, 2)
    return rows[:, 0], rows[:, 1]


def _fmt(value: float) -> str:
    return repr(float(value))


def _write_table(path: Path, columns: list[np.ndarray], id_columns: int) -> Path:
    lines = []
    for row in zip(*columns, strict=True):
        ids = " ".join(str(int(v)) for v in row[:id_columns])
        lines.append(f"{ids} {_fmt(row[id_columns])}")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def write_flow_tables(
    prefix: Path, suffix: str, flow: NetworkFlow, *, currents: bool, voltages: bool
) -> list[Path]:
    """Write ``<prefix>_{node_currents,branch_currents,voltages}<suffix>.txt`` of one flow."""
    written = []
    order = np.argsort(flow.node_ids, kind="stable")
    if currents:
        written.append(
            _write_table(
                Path(f"{prefix}_node_currents{suffix}.txt"),
                [flow.node_ids[order], flow.node_currents[order]],
                1,
            )
        )
        branch_order = np.lexsort((flow.branch_ids[:, 1], flow.branch_ids[:, 0]))
        ids = flow.branch_ids[branch_order]
        written.append(
            _write_table(
                Path(f"{prefix}_branch_currents{suffix}.txt"),
                [ids[:, 0], ids[:, 1], flow.branch_currents[branch_order]],
                2,
            )
        )
    if voltages and flow.voltages is not None:
        written.append(
            _write_table(
                Path(f"{prefix}_voltages{suffix}.txt"),
                [flow.node_ids[order], flow.voltages[order]],
                1,
            )
        )
    return written


def _solver(config) -> Solver:
    name = getattr(config.solver, "value", config.solver)
    if isinstance(config.solver, Solver):
        return config.solver
    if str(name) not in _SOLVERS:
        raise ConfigError(
            f"solver must be one of {', '.join(map(repr, _SOLVERS))}; got {name!r}.",
            source=str(getattr(config, "source", "")),
            field="solver",
        )
    return _SOLVERS[str(name)]


def _prefix(config, out_dir) -> Path:
    prefix = Path(config.output_prefix)
    return prefix if out_dir is None else Path(out_dir) / prefix.name


def run_network_job(
    config,
    ini_path: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    maxiter: int | None = None,
    on_step: Callable[[], None] | None = None,
) -> list[Path]:
    """Run a Circuitscape network job (``data_type = network``) and write its outputs.

    Parameters
    ----------
    config : crossings.io.circuitscape.CircuitscapeConfig
        The parsed INI file (paths already resolved).
    ini_path : path, optional
        The INI file (only used in messages).
    out_dir : path, optional
        Folder for the outputs (default: the folder of ``output_file``).
    maxiter : int, optional
        Cap on CG iterations per solve.
    on_step : callable, optional
        Called after each pair (progress bars).

    Returns
    -------
    list of Path
        Files written.
    """
    scenario = getattr(config.scenario, "value", config.scenario)
    prefix = _prefix(config, out_dir)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    graph = read_graph(config.habitat_file, is_resistances=config.habitat_map_is_resistances)
    if scenario == "pairwise":
        return _run_pairwise(config, graph, prefix, maxiter, on_step)
    if scenario == "advanced":
        return _run_advanced(config, graph, prefix, maxiter)
    raise ConfigError(
        f"network mode supports scenario 'pairwise' or 'advanced'; got {scenario!r}.",
        source=str(ini_path or getattr(config, "source", "")),
        field="scenario",
    )


def _run_pairwise(config, graph, prefix, maxiter, on_step) -> list[Path]:
    from crossings.io.circuitscape import write_resistances

    focal = read_id_list(config.point_file, field="point_file")
    cum_only = config.write_cum_cur_map_only
    currents = config.write_cur_maps or cum_only
    written: list[Path] = []

    def on_pair(flow: NetworkFlow) -> None:
        a, b = flow.pair
        written.extend(
            write_flow_tables(
                prefix,
                f"_{a}_{b}",
                flow,
                currents=config.write_cur_maps and not cum_only,
                voltages=config.write_volt_maps and not cum_only,
            )
        )
        if on_step is not None:
            on_step()

    result = network_pairwise(
        graph,
        focal,
        solver=_solver(config),
        maxiter=maxiter,
        keep_pairs=False,
        cumulative=currents,
        on_pair=on_pair,
        selection=_pair_selection(config),
        source=str(config.point_file),
    )
    written += write_resistances(prefix, result.focal_ids, result.resistances)
    if currents:
        written += write_flow_tables(
            prefix, "_cum", result.cumulative, currents=True, voltages=False
        )
    return written


def _pair_selection(config) -> PairSelection | None:
    """The included/excluded pairs of the INI, checked and read exactly as raster mode does."""
    from crossings.io.circuitscape import read_included_pairs, require_input_file

    if not config.use_included_pairs:
        return None
    pairs = read_included_pairs(require_input_file(config, "included_pairs_file"))
    return PairSelection(pairs.mode, pairs.point_ids, pairs.matrix)


def _run_advanced(config, graph, prefix, maxiter) -> list[Path]:
    source_ids, strengths = read_id_values(config.source_file, field="source_file")
    ground_ids, ground_values = read_id_values(config.ground_file, field="ground_file")
    if config.use_unit_currents:
        strengths = np.where(strengths != 0, 1.0, 0.0)
    conductances = _ground_conductances(ground_values, config)
    policy = RemovePolicy(getattr(config.remove_src_or_gnd, "value", config.remove_src_or_gnd))
    flow = network_advanced(
        graph,
        source_ids,
        strengths,
        ground_ids,
        conductances,
        policy=policy,
        solver=_solver(config),
        maxiter=maxiter,
        source=f"{config.source_file} / {config.ground_file}",
    )
    return write_flow_tables(
        prefix, "", flow, currents=config.write_cur_maps, voltages=config.write_volt_maps
    )


def _ground_conductances(values: np.ndarray, config) -> np.ndarray:
    if np.any(np.isnan(values) | (values < 0)):
        raise ConfigError(
            "ground values must be >= 0.", source=str(config.ground_file), field="ground_file"
        )
    if config.ground_file_is_resistances:
        with np.errstate(divide="ignore"):
            conductances = np.where(values == 0, np.inf, 1.0 / np.where(values == 0, 1, values))
    else:
        conductances = values.astype(float)
    if config.use_direct_grounds:
        conductances = np.where(conductances > 0, np.inf, 0.0)
    return conductances
