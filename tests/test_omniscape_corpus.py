"""Omniscape.jl's test corpus through `crossings omniscape run` (tests/data/omniscape, MIT)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from crossings.cli import app
from crossings.core.omniscape import find_targets
from crossings.io.raster import read_raster
from crossings.jobs.omniscape import run_ini

DATA = Path(__file__).parent / "data" / "omniscape"

# case: (ini, outputs, cell-by-cell relative tolerance, why it is not 1e-6). The figures behind
# the two exceptions are printed by bench/omniscape_corpus.py and discussed in docs/omniscape.md.
CG_REFERENCE = (
    "reference solved by cg+amg, stopped at relative residual 1e-6: measured 1.6e-5 from our "
    "direct answer (2.3e-5 on the cells right of and below targets, <= 6.5e-6 elsewhere); a CG "
    "iterate meeting that rule lands 2e-6 to 6e-6 from the exact answer"
)
CASES = {
    "test1": (
        "config.ini",
        ["cum_currmap", "flow_potential", "normalized_cum_currmap"],
        5e-5,
        CG_REFERENCE,
    ),
    "test1_32bit": (
        "config_32bit.ini",
        ["cum_currmap", "flow_potential", "normalized_cum_currmap"],
        1e-3,
        "reference solved and summed in float32: measured 5.4e-4",
    ),
    "test2": ("config2.ini", ["cum_currmap"], 5e-5, CG_REFERENCE),
    "test3": ("config3.ini", ["cum_currmap", "flow_potential"], 1e-6, ""),
    "test4a": (
        "config4a.ini",
        ["cum_currmap", "flow_potential", "normalized_cum_currmap"],
        1e-6,
        "",  # outside the target neighbours where the reference is wrong (see below)
    ),
    "test5": ("config5.ini", ["cum_currmap"], 1e-6, ""),
    "test6": ("config6.ini", ["cum_currmap"], 1e-6, ""),
    "test_reclass": ("config_reclass.ini", ["cum_currmap", "classified_resistance"], 1e-6, ""),
}


def _read(path: Path) -> np.ndarray:
    return read_raster(path, allow_missing_crs=True)[1]


def omniscape_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Omniscape's arrays_equal: NoData as -9999, then norm-wise isapprox with rtol 1e-6."""
    a, b = np.where(np.isnan(a), -9999, a), np.where(np.isnan(b), -9999, b)
    return np.linalg.norm(a - b) <= 1e-6 * max(np.linalg.norm(a), np.linalg.norm(b))


def target_neighbours(ini: str) -> np.ndarray:
    """Cells right of and below each target whose window is not clipped on that side."""
    sources = _read(DATA / "input" / "source.asc")
    sources = np.where(np.isnan(sources) | (sources < 0.2), 0, sources)
    targets = find_targets(sources, 3)
    mask = np.zeros(sources.shape, dtype=bool)
    for row, col in zip(targets.row, targets.col, strict=True):
        if col >= 7:
            mask[row, col + 1] = True
        if row >= 7:
            mask[row + 1, col] = True
    return mask


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("omniscape")
    done = {}
    with pytest.warns():  # Omniscape's own warnings: even block sizes, unknown keys and solver
        for case, (ini, *_rest) in CASES.items():
            done[case] = run_ini(DATA / "input" / ini, out, base_dir=DATA)
    return done


@pytest.mark.parametrize("case", sorted(CASES))
def test_corpus_case_matches_omniscape(runs, case):
    _, outputs, tol, _why = CASES[case]
    run = runs[case]
    assert run.folder.name == case
    arrays = {
        "cum_currmap": run.result.cumulative_current,
        "flow_potential": run.result.flow_potential,
        "normalized_cum_currmap": run.result.normalized_current,
    }
    for name in outputs:
        expected_path = next((DATA / "output_verify" / case).glob(f"{name}.*"))
        expected = _read(expected_path)
        written = list(run.folder.glob(f"{name}.*"))
        mine = _read(written[0]) if written else arrays[name]
        if written:
            assert written[0].suffix == expected_path.suffix
        skip = np.zeros(expected.shape, dtype=bool)
        if case == "test4a":
            # The reference's flow potential at these cells exceeds the total injected current
            # (see docs/omniscape.md and the test below); every other cell must match.
            skip = target_neighbours(CASES[case][0])
        assert omniscape_equal(np.where(skip, expected, mine), expected), name
        assert np.array_equal(np.isnan(mine), np.isnan(expected)), name
        valid = np.isfinite(expected) & ~skip
        # Plus an absolute 1e-6 of the map's largest value: the reference's CG leaves noise of
        # that order on cells that carry almost nothing (e.g. 8e-8 A on a corner cell).
        floor = 1e-6 * np.abs(expected[valid]).max()
        error = np.abs(mine[valid] - expected[valid]) - floor
        relative = error / np.abs(expected[valid]).clip(min=floor)
        assert relative.max() <= tol, (name, relative.max())


def test_test4a_mismatch_is_only_at_target_neighbours(runs):
    expected = _read(DATA / "output_verify" / "test4a" / "flow_potential.tif")
    mine = runs["test4a"].result.flow_potential
    differs = np.abs(mine - expected) > 1e-3 * np.abs(expected)
    assert differs.sum() > 100
    assert not (differs & ~target_neighbours("config4a.ini")).any()


def test_single_precision_writes_float32_close_to_double(runs):
    import rasterio

    with rasterio.open(runs["test1_32bit"].folder / "cum_currmap.tif") as src:
        assert src.dtypes[0] == "float32"
    assert omniscape_equal(
        runs["test1_32bit"].result.cumulative_current.astype(float),
        runs["test1"].result.cumulative_current,
    )


def test_project_folder_gets_a_suffix_when_it_exists(tmp_path):
    with pytest.warns():
        first = run_ini(DATA / "input" / "config6.ini", tmp_path, base_dir=DATA)
        second = run_ini(DATA / "input" / "config6.ini", tmp_path, base_dir=DATA)
    assert (first.folder.name, second.folder.name) == ("test6", "test6_1")
    np.testing.assert_allclose(
        first.result.cumulative_current, second.result.cumulative_current, rtol=1e-12
    )


@pytest.mark.parametrize(
    "ini, words",
    [
        ("bad_config.ini", ["radius", "project_name", "missing"]),
        ("no_source_provided.ini", ["source_file", "source_from_resistance"]),
        ("config7.ini", ["resistance2.asc", "zero or negative"]),
        ("bad_n_conditions.ini", ["n_conditions", "'3'"]),
        ("bad_compare_to_future.ini", ["compare_to_future", "'foo'"]),
        ("bad_comparison1.ini", ["comparison1", "'foo'"]),
        ("bad_comparison2.ini", ["comparison2", "'bar'"]),
    ],
)
def test_bad_cases_fail_with_one_clear_line(tmp_path, ini, words):
    shutil.copytree(DATA / "input", tmp_path / "input")
    result = CliRunner().invoke(
        app,
        [
            "omniscape",
            "run",
            str(tmp_path / "input" / ini),
            "--run-dir",
            str(tmp_path),
            "--out-dir",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 1, result.output
    error = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "Traceback" not in result.output
    assert all(word in result.output for word in words), result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.tif"))
