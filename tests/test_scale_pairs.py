"""Pairwise and one-to-all solves on Dask (2 workers) agree with the serial engine (1e-10)."""

from __future__ import annotations

import numpy as np
import pytest

from crossings.core import circuit
from crossings.core.circuit import FocalPoints, SolverOptions
from crossings.core.graph import build_graph
from crossings.core.grid import GridSpec
from crossings.core.solve import Solver
from crossings.scale import pairs
from crossings.scale.executor import DaskExecutor

OPTIONS = SolverOptions(solver=Solver.CG_AMG, tol=1e-12)


@pytest.fixture(scope="module")
def landscape():
    rng = np.random.default_rng(11)
    resistance = 10 ** rng.uniform(-1, 2, (18, 20))
    resistance[rng.random(resistance.shape) < 0.08] = np.nan
    resistance[:, 13] = np.nan  # two components
    graph = build_graph(GridSpec.from_origin(0, 18, 1, (18, 20), "EPSG:3857"), 1 / resistance)
    cells = np.argwhere(np.isfinite(resistance))
    chosen = cells[rng.choice(len(cells), 8, replace=False)]
    return graph, FocalPoints(chosen[:, 0], chosen[:, 1], np.arange(1, 9))


@pytest.fixture(scope="module")
def dask_executor():
    with DaskExecutor(workers=2, memory_limit="1GiB") as executor:
        yield executor


def test_pairwise_on_two_dask_workers_equals_serial(landscape, dask_executor):
    graph, focal = landscape
    serial = circuit.pairwise(graph, focal, options=OPTIONS, cumulative=True)
    spread = circuit.pairwise(
        graph, focal, options=OPTIONS, cumulative=True, executor=dask_executor
    )
    assert dask_executor.workers == 2
    np.testing.assert_allclose(spread.resistances, serial.resistances, rtol=0, atol=1e-10)
    np.testing.assert_allclose(spread.cumulative_current, serial.cumulative_current, atol=1e-10)
    assert (serial.resistances > 0).sum() > 10 and (serial.resistances == -1).any()


def test_focal_region_pairs_on_two_dask_workers_equal_serial(landscape, dask_executor):
    graph, focal = landscape
    # Five focal regions of 1-3 cells each: one network per pair, the pairs as tasks.
    regions = FocalPoints(focal.rows, focal.cols, np.array([1, 1, 2, 3, 3, 3, 4, 5]))
    kwargs = {"options": OPTIONS, "cumulative": True, "maximum": True}
    serial = circuit.pairwise(graph, regions, **kwargs)
    spread = circuit.pairwise(graph, regions, executor=dask_executor, **kwargs)
    np.testing.assert_allclose(spread.resistances, serial.resistances, rtol=0, atol=1e-10)
    np.testing.assert_allclose(spread.cumulative_current, serial.cumulative_current, atol=1e-10)
    np.testing.assert_allclose(spread.max_current, serial.max_current, atol=1e-10)
    assert spread.n_solves == serial.n_solves >= 3 and (serial.resistances == -1).any()


@pytest.mark.parametrize("mode", ["one_to_all", "all_to_one"])
def test_one_to_all_on_two_dask_workers_equals_serial(landscape, dask_executor, mode):
    graph, focal = landscape
    run = getattr(circuit, mode)
    serial = run(graph, focal, options=OPTIONS, cumulative=True)
    spread = run(graph, focal, options=OPTIONS, cumulative=True, executor=dask_executor)
    np.testing.assert_allclose(spread.values, serial.values, rtol=0, atol=1e-10)
    np.testing.assert_allclose(spread.cumulative_current, serial.cumulative_current, atol=1e-10)
    assert spread.cumulative_current.max() > 0


def test_scale_pairs_serial_default_is_the_engine(landscape):
    graph, focal = landscape
    direct = circuit.pairwise(graph, focal, options=OPTIONS)
    np.testing.assert_array_equal(
        pairs.pairwise(graph, focal, options=OPTIONS).resistances, direct.resistances
    )


def test_circuitscape_run_with_two_workers_writes_the_serial_files(tmp_path):
    from typer.testing import CliRunner

    from crossings.cli import app

    rng = np.random.default_rng(3)
    header = "ncols 9\nnrows 7\nxllcorner 0\nyllcorner 0\ncellsize 1\nNODATA_value -9999\n"
    (tmp_path / "r.asc").write_text(
        header
        + "\n".join(" ".join(f"{v:.4f}" for v in row) for row in 10 ** rng.uniform(0, 1, (7, 9)))
    )
    (tmp_path / "p.txt").write_text("1 0.5 6.5\n2 8.5 0.5\n3 4.5 3.5\n4 1.5 1.5\n")
    outputs = {}
    for name, extra in (("serial", []), ("dask", ["--workers", "2"])):
        ini = tmp_path / f"{name}.ini"
        ini.write_text(
            f"scenario = pairwise\nhabitat_file = {tmp_path / 'r.asc'}\n"
            f"habitat_map_is_resistances = True\npoint_file = {tmp_path / 'p.txt'}\n"
            f"output_file = {tmp_path / name / 'job.out'}\nwrite_cur_maps = True\n"
            "write_cum_cur_map_only = True\nsolver = cg+amg\n"
        )
        result = CliRunner().invoke(app, ["circuitscape", "run", str(ini), *extra])
        assert result.exit_code == 0, result.output
        outputs[name] = [
            np.loadtxt(tmp_path / name / "job_resistances.out"),
            np.loadtxt(tmp_path / name / "job_cum_curmap.asc", skiprows=6),
        ]
    for serial, dask in zip(outputs["serial"], outputs["dask"], strict=True):
        np.testing.assert_allclose(dask, serial, rtol=0, atol=1e-8)
    assert outputs["serial"][0][1:, 1:].max() > 0


def test_connectivity_run_with_two_workers_writes_the_serial_results(tmp_path):
    import rasterio
    from test_connectivity import _write_job
    from typer.testing import CliRunner

    from crossings.cli import app

    _write_job(tmp_path)
    job = str(tmp_path / "job.toml")
    for name, extra in (("serial", []), ("dask", ["--workers", "2"])):
        out = str(tmp_path / name)
        result = CliRunner().invoke(
            app, ["connectivity", "run", job, "--out", out, "--no-maps", *extra]
        )
        assert result.exit_code == 0, result.output
    assert (tmp_path / "serial" / "pairs.csv").read_text() == (
        tmp_path / "dask" / "pairs.csv"
    ).read_text()
    for tif in ("cum_current_fence_closed.tif", "cum_current_no_fence.tif"):
        maps = []
        for name in ("serial", "dask"):
            with rasterio.open(tmp_path / name / tif) as src:
                maps.append(src.read(1))
        np.testing.assert_allclose(maps[1], maps[0], rtol=0, atol=1e-10)
    assert np.nanmax(maps[0]) > 0  # no fence: current flows (the closed fence stops it)


def _die(_task):
    import os

    os._exit(1)  # what the nanny does to a worker over its memory limit


def test_a_dead_worker_is_one_line_naming_the_memory_setting():
    import dask

    from crossings.errors import PlanTooLargeError

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with DaskExecutor(workers=1, memory_limit="512MiB") as executor:
            with pytest.raises(PlanTooLargeError) as caught:
                executor.run(_die, [0], lambda *_: None)
    message = str(caught.value)
    assert "512MiB" in message and "CROSSINGS_WORKER_MEMORY" in message
    assert "\n" not in message
