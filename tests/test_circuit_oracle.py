"""Every raster case of Circuitscape's own test corpus through ``crossings circuitscape run``.

The corpus (tests/data/circuitscape, MIT, see its README) is run with both solvers, as
Circuitscape.jl's suite does, and compared with Circuitscape's criteria: resistances within 1e-3
absolute, maps with a sum of squared differences below 1e-6. Every file crossings writes must
exist in ``output_verify/`` (Circuitscape.jl's suite fails on a file it cannot compare) and the
files each mode must write are required.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from crossings.cli import app

DATA = Path(__file__).parent / "data" / "circuitscape"
EXPECTED = DATA / "output_verify"

CASES = (
    [("pairwise", f"sgVerify{i}") for i in range(1, 18)]
    + [("advanced", f"mgVerify{i}") for i in range(1, 8)]
    + [("one_to_all", f"oneToAllVerify{i}") for i in range(1, 14)]
    + [("all_to_one", f"allToOneVerify{i}") for i in range(1, 13)]
)
# allToOneVerify12 (polygons + mask + include matrix + variable strengths) matches through the
# INI runner's Circuitscape-compatibility path (see docs/connectivity.md, "Differences").


def _ini(kind: str, name: str) -> Path:
    number = "".join(ch for ch in name if ch.isdigit())
    return DATA / "input" / "raster" / kind / number / f"{name}.ini"


def _load(path: Path, skip: int) -> np.ndarray:
    return np.loadtxt(path, skiprows=skip, ndmin=2)


def _first_differences(got: np.ndarray, want: np.ndarray, limit: int = 5) -> str:
    cells = np.argwhere(~np.isclose(got, want, rtol=0, atol=1e-6))[:limit]
    return "; ".join(
        f"cell {tuple(int(i) for i in c)}: got {got[tuple(c)]:.8g}, expected {want[tuple(c)]:.8g}"
        for c in cells
    )


def _compare(path: Path) -> None:
    # compress_grids: Circuitscape 4 gzips the grid; the references are the plain grids.
    reference = EXPECTED / path.name.removesuffix(".gz")
    assert reference.exists(), f"{path.name} is written but Circuitscape does not write it"
    if path.name.endswith((".asc", ".asc.gz")):
        got, want = _load(path, 6), _load(reference, 6)
        assert got.shape == want.shape, f"{path.name}: shape {got.shape} vs {want.shape}"
        ssd = float(((got - want) ** 2).sum())
        assert ssd < 1e-6, f"{path.name}: sum sq diff {ssd:.3g}; {_first_differences(got, want)}"
    else:
        got, want = _load(path, 0), _load(reference, 0)
        assert got.shape == want.shape, f"{path.name}: shape {got.shape} vs {want.shape}"
        bad = np.abs(got - want) > 1e-3
        assert not bad.any(), f"{path.name}: {_first_differences(got, want)}"


def _mode_outputs(kind: str, name: str, ini_text: str) -> list[str]:
    flags = {
        key.strip(): value.strip().lower() == "true"
        for key, _, value in (line.partition("=") for line in ini_text.splitlines())
        if value
    }
    if kind == "advanced":
        needed = []
        if flags.get("write_cur_maps"):
            needed.append(f"{name}_curmap.asc")
        if flags.get("write_volt_maps"):
            needed.append(f"{name}_voltmap.asc")
        return needed
    needed = [f"{name}_resistances.out"]
    if flags.get("write_cur_maps"):
        needed.append(f"{name}_cum_curmap.asc")
    return needed


def _required(kind: str, name: str, ini_text: str) -> list[str]:
    """The files the mode must write; gzipped grids where the INI sets compress_grids."""
    gz = re.search(r"^compress_grids\s*=\s*true\s*$", ini_text, re.I | re.M) is not None
    return [
        f"{n}.gz" if gz and n.endswith(".asc") else n for n in _mode_outputs(kind, name, ini_text)
    ]


@pytest.mark.filterwarnings("ignore::crossings.errors.CrossingsWarning")  # NoData focal cells
@pytest.mark.parametrize("solver", ["cholmod", "cg+amg"])
@pytest.mark.parametrize(("kind", "name"), CASES, ids=[c[1] for c in CASES])
def test_corpus_case_matches_circuitscape(kind, name, solver, tmp_path, monkeypatch):
    ini = _ini(kind, name)
    monkeypatch.chdir(DATA)  # Circuitscape's suite runs from its test/ folder
    result = CliRunner().invoke(
        app, ["circuitscape", "run", str(ini), "--out-dir", str(tmp_path), "--solver", solver]
    )
    assert result.exit_code == 0, result.output
    written = sorted(p for p in tmp_path.iterdir() if p.name.startswith(f"{name}_"))
    names = {p.name for p in written}
    for required in _required(kind, name, ini.read_text()):
        assert required in names, f"{required} was not written"
    for path in written:
        if "3columns" not in path.name:
            _compare(path)
    assert (tmp_path / "run.toml").exists() and (tmp_path / "manifest.json").exists()


@pytest.mark.filterwarnings("ignore::crossings.errors.CrossingsWarning")  # NoData focal cells
def test_relative_paths_fall_back_to_the_ini_folder(tmp_path, monkeypatch):
    """Run from an unrelated folder: paths resolve against the INI's own folder instead."""
    case = tmp_path / "job"
    case.mkdir()
    source = DATA / "input" / "raster" / "pairwise" / "4"
    for name in ("cellmap.asc", "points.asc"):
        (case / name).write_bytes((source / name).read_bytes())
    text = (source / "sgVerify4.ini").read_text()
    text = text.replace("input/raster/pairwise/4/", "").replace("output/", "out/")
    (case / "job.ini").write_text(text)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["circuitscape", "run", str(case / "job.ini")])
    assert result.exit_code == 0, result.output
    _compare(tmp_path / "out" / "sgVerify4_resistances.out")


NETWORK_CASES = [f"sgNetworkVerify{i}" for i in range(1, 4)] + [
    f"mgNetworkVerify{i}" for i in range(1, 4)
]


def _keyed(table: np.ndarray, n_keys: int) -> dict:
    return {tuple(int(v) for v in row[:n_keys]): row[n_keys] for row in np.atleast_2d(table)}


def _compare_table(path: Path) -> None:
    """Node tables (id value) and branch tables (id id value), compared by key as
    Circuitscape.jl does: a missing entry counts as 0; sum of squared differences < 1e-6."""
    reference = EXPECTED / path.name
    assert reference.exists(), f"{path.name} is written but Circuitscape does not write it"
    got, want = _load(path, 0), _load(reference, 0)
    n_keys = 2 if "branch" in path.name else 1
    a, b = _keyed(got, n_keys), _keyed(want, n_keys)
    ssd = sum((a.get(k, 0.0) - b.get(k, 0.0)) ** 2 for k in set(a) | set(b))
    worst = sorted(set(a) | set(b), key=lambda k: -abs(a.get(k, 0.0) - b.get(k, 0.0)))[:3]
    detail = "; ".join(f"{k}: got {a.get(k, 0.0):.8g}, expected {b.get(k, 0.0):.8g}" for k in worst)
    assert ssd < 1e-6, f"{path.name}: sum sq diff {ssd:.3g}; {detail}"


@pytest.mark.parametrize("solver", ["cholmod", "cg+amg"])
@pytest.mark.parametrize("name", NETWORK_CASES)
def test_network_case_matches_circuitscape(name, solver, tmp_path, monkeypatch):
    """Network jobs go through the same command (crossings.io.circuitscape_network)."""
    monkeypatch.chdir(DATA)
    ini = DATA / "input" / "network" / f"{name}.ini"
    result = CliRunner().invoke(
        app, ["circuitscape", "run", str(ini), "--out-dir", str(tmp_path), "--solver", solver]
    )
    assert result.exit_code == 0, result.output
    written = sorted(p for p in tmp_path.iterdir() if p.name.startswith(f"{name}_"))
    assert written, "nothing written"
    if name.startswith("sg"):
        assert (tmp_path / f"{name}_resistances.out").exists()
    for path in written:
        if path.suffix == ".out" and "3columns" not in path.name:
            _compare(path)
        elif path.suffix == ".txt":
            _compare_table(path)
