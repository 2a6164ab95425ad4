"""Every command and code example of the user docs (docs/*.md) runs, on small data.

The examples are parsed from the docs, not copied: a doc example that stops working (an option
renamed, an output file renamed, a function whose signature changed) makes a test here fail.
Placeholders of the docs (``JOB.ini``, ``TRACKS.csv``, ``x0``, ``graph``, ...) are bound to small
generated inputs or to the files in tests/data.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import json
import re
import shlex
import shutil
import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
import tomli_w
from typer.testing import CliRunner

from crossings import gallery
from crossings.cli import app
from crossings.core.barriers import apply_fences
from crossings.core.fences import Fence, Opening
from crossings.io.raster import read_aligned, write_geotiff
from crossings.io.vector import fences_to_gdf, openings_to_gdf, write_gpkg
from crossings.landscape import Landscape, load_landscape

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DATA = Path(__file__).parent / "data"
CS_DATA = DATA / "circuitscape"
runner = CliRunner()


# --- reading the docs ------------------------------------------------------------------------


def code_blocks(doc: str, lang: str = "") -> list[str]:
    """Fenced code blocks of ``docs/<doc>`` whose info string is ``lang`` ("" = none)."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    return re.findall(rf"^```{re.escape(lang)}\n(.*?)^```", text, re.S | re.M)


def section(doc: str, heading: str) -> str:
    """The text of one ``## heading`` section of ``docs/<doc>``."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def _expand_optional(group: str, choices: dict[str, str]) -> str:
    """``--opt a|b`` -> ``--opt <choice or a>``; a bare flag stays."""
    words = group.split()
    if len(words) == 2:
        value = choices.get(words[0], words[1].split("|")[0])
        return f"{words[0]} {value}"
    return group


def doc_commands(
    doc: str, *, choices: dict[str, str] | None = None, names: dict[str, str] | None = None
) -> list[list[str]]:
    """The ``crossings ...`` command lines of the doc's shell blocks, as argument lists.

    Continuation lines are joined, comments dropped, every optional ``[--opt VALUE]`` is
    included (with ``choices[opt]`` instead of the doc's value, or the first of ``a|b``), and
    whole words found in ``names`` (placeholders such as ``JOB.ini``) are replaced.
    """
    choices, names = choices or {}, names or {}
    commands = []
    for block in code_blocks(doc) + code_blocks(doc, "sh"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            if not line.startswith("crossings "):
                continue
            line = re.sub(r"\[([^\]]+)\]", lambda m: _expand_optional(m.group(1), choices), line)
            words = [names.get(word, word) for word in shlex.split(line)[1:]]
            commands.append(words)
    return commands


def invoke(args: list, env: dict[str, str] | None = None):
    result = runner.invoke(app, [str(a) for a in args], env=env)
    assert result.exit_code == 0, f"crossings {' '.join(map(str, args))}\n{result.output}"
    return result


def help_text(command: list[str]) -> str:
    """``crossings <command> --help``, wide and without colours, so option names stay whole."""
    wide = {"COLUMNS": "200", "TERMINAL_WIDTH": "200", "NO_COLOR": "1"}
    output = invoke([*command, "--help"], env=wide).output
    return re.sub(r"\x1b\[[0-9;]*m", "", output)  # in case a CI forces colours anyway


def run_python(doc: str, namespace: dict) -> list[dict]:
    """Run every ``python`` block of the doc in a copy of ``namespace``; the namespaces after."""
    done = []
    for block in code_blocks(doc, "python"):
        scope = dict(namespace)
        exec(compile(block, f"docs/{doc}", "exec"), scope)  # noqa: S102 - the doc's own example
        done.append(scope)
    return done


def file_patterns(cell: str, prefix: str) -> list[re.Pattern]:
    """Backticked ``<prefix>_..._<a>_<b>.asc`` names of a table cell as regular expressions."""
    patterns = []
    for name in re.findall(r"`(<prefix>[^`]*)`", cell):
        regex = re.escape(name).replace(re.escape("<prefix>"), re.escape(prefix))
        regex = re.sub(r"<(a|b|id)>", r"-?\\d+", regex.replace("\\<", "<").replace("\\>", ">"))
        patterns.append(re.compile(regex + "$"))
    return patterns


def table_row(text: str, first_cell: str) -> str:
    """The line of a Markdown table whose first cell is ``first_cell``."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == first_cell:
            return line
    raise AssertionError(f"no table row {first_cell!r}")


def check_outputs(
    folder: Path, patterns: list[re.Pattern], *, prefix: str, every_pattern: bool = True
) -> None:
    """Every written output matches a pattern (and, if asked, every pattern a written file)."""
    written = sorted(p.name for p in folder.iterdir() if p.name.startswith(prefix))
    assert written
    for pattern in patterns if every_pattern else patterns[:1]:
        assert any(pattern.match(name) for name in written), (pattern.pattern, written)
    for name in written:
        assert any(pattern.match(name) for pattern in patterns), (name, folder)
    assert (folder / "run.toml").is_file() and (folder / "manifest.json").is_file()


# --- connectivity.md and solvers.md: Circuitscape jobs ------------------------------------


CS_JOBS = {
    "pairwise": "input/raster/pairwise/1/sgVerify1.ini",
    "one-to-all, all-to-one": "input/raster/one_to_all/1/oneToAllVerify1.ini",
    "advanced": "input/raster/advanced/1/mgVerify1.ini",
}


def circuitscape_command(ini: Path, out_dir: Path) -> list[str]:
    """The doc's ``crossings circuitscape run JOB.ini [...]`` line for one corpus job."""
    (command,) = doc_commands(
        "connectivity.md",
        # "auto": CHOLMOD is optional, the doc's first choice may be missing.
        choices={
            "--run-dir": str(CS_DATA),
            "--out-dir": str(out_dir),
            "--max-memory-gb": "4",
            "--solver": "auto",
        },
        names={"JOB.ini": str(ini)},
    )
    return command


@pytest.mark.parametrize("mode", sorted(CS_JOBS))
def test_connectivity_circuitscape_command_writes_the_documented_files(tmp_path, mode):
    command = circuitscape_command(CS_DATA / CS_JOBS[mode], tmp_path)
    assert command[:2] == ["circuitscape", "run"] and "--solver" in command
    invoke(command)
    prefix = Path(CS_JOBS[mode]).stem
    row = table_row(section("connectivity.md", "Running a Circuitscape job"), mode)
    # oneToAllVerify1 does not ask for max maps; the other two jobs write every map.
    every = mode != "one-to-all, all-to-one"
    check_outputs(tmp_path, file_patterns(row, prefix), prefix=prefix, every_pattern=every)


def test_connectivity_quoted_error_message_is_the_real_one():
    quoted = re.search(r"the allowed values \(`([^`]+)`\)", (DOCS / "connectivity.md").read_text())
    message = " ".join(quoted.group(1).split())
    bad = re.search(r"got '(\w+)'", message).group(1)
    ini = CS_DATA / CS_JOBS["pairwise"]
    result = runner.invoke(app, ["circuitscape", "run", str(ini), "--solver", bad])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("mode", "ini"),
    [("pairwise", "sgNetworkVerify1.ini"), ("advanced", "mgNetworkVerify1.ini")],
)
def test_solvers_network_mode_writes_the_documented_files(tmp_path, mode, ini):
    command = circuitscape_command(CS_DATA / "input" / "network" / ini, tmp_path)
    invoke(command)
    prefix = Path(ini).stem
    row = table_row(section("solvers.md", "Network (graph) mode"), mode)
    check_outputs(tmp_path, file_patterns(row, prefix), prefix=prefix)


def test_connectivity_python_api():
    syn = gallery.straight_fence(12, 16, 90.0, gap_width=200.0)
    ids = np.zeros(syn.grid.shape, int)
    ids[6, 1], ids[6, 14], ids[2, 2] = 1, 2, 3
    sources, grounds = np.zeros(syn.grid.shape), np.zeros(syn.grid.shape)
    sources[6, 1], grounds[6, 14] = 1.0, 1.0
    (scope,) = run_python(
        "connectivity.md",
        {
            "landscape": Landscape(syn.grid, syn.resistance, syn.fences, syn.openings),
            "id_grid": ids,
            "region_a_bool_grid": ids == 1,
            "region_b_bool_grid": ids == 2,
            "sources_grid": sources,
            "ground_conductance_grid": grounds,
        },
    )
    assert scope["r"] == pytest.approx(scope["result"].resistances[0, 1], rel=1e-8)
    assert scope["res"].voltage.shape == syn.grid.shape
    assert list(scope["one"].ids) == [1, 2, 3]


def test_solvers_python_api():
    graph = gallery.uniform_grid(8, 8).graph()
    matrix = graph.laplacian().tocsr()[1:, 1:]  # grounded at node 0
    n = matrix.shape[0]
    (solve_scope, network_scope) = run_python(
        "solvers.md",
        {
            "matrix": matrix,
            "b": np.ones(n),
            "n": n,
            "nnz": matrix.nnz,
            "n_rhs": 3,
            "ids_a": np.array([1, 2, 3]),
            "ids_b": np.array([2, 3, 4]),
            "values": np.array([1.0, 2.0, 3.0]),
            "focal_ids": [1, 4],
            "source_ids": [1],
            "strengths": [1.0],
            "ground_ids": [4],
            "ground_conductances": [np.inf],
        },
    )
    assert np.allclose(matrix @ solve_scope["x"], 1.0)
    # Three resistors of 1, 2 and 3 ohm in series.
    assert network_scope["result"].resistances[0, 1] == pytest.approx(6.0)
    assert network_scope["flow"].voltages.max() == pytest.approx(6.0)


def test_solvers_automatic_choice_is_as_documented():
    from crossings.core import solve

    text = section("solvers.md", "Using the solvers")
    for name, value in re.findall(r"`(DIRECT_\w+)` = ([\d,]+)", text):
        assert getattr(solve, name) == int(value.replace(",", "")), name
    base, per_million = map(int, re.search(r"from `(\d+) \+ (\d+) x millions", text).groups())
    for unknowns in (250_000, 1_000_000, 2_000_000):
        threshold = base + per_million * unknowns / 1e6
        above, below = int(np.ceil(threshold)), int(np.ceil(threshold)) - 1
        assert solve.choose_solver(unknowns, below) is solve.Solver.CG_AMG, unknowns
        # "CHOLMOD from ... on, else cg_amg": without CHOLMOD, AMG-CG stays the choice.
        expected = solve.choose_solver(1000, 1)  # the direct method of this machine
        if expected is not solve.Solver.CHOLMOD:
            expected = solve.Solver.CG_AMG
        assert solve.choose_solver(unknowns, above) is expected, unknowns
    assert solve.choose_solver(solve.DIRECT_HARD_MAX_UNKNOWNS + 1, 1000) is solve.Solver.CG_AMG


# --- scenarios.md: crossings connectivity run ----------------------------------------------


CRS = "EPSG:3857"


def _scenario_inputs(folder: Path) -> None:
    """resistance.tif, fences.gpkg (fences, openings) and areas.gpkg as the job names them."""
    land = gallery.straight_fence(12, 16, 90.0, offset=-100.0, crs=CRS)
    fence = land.fences[0]
    gap = Opening(fence.fence_id, 800.0, 600.0, 300.0, 1.0, "full_gap")
    write_geotiff(folder / "resistance.tif", land.grid, land.resistance)
    write_gpkg(
        folder / "fences.gpkg",
        {"fences": fences_to_gdf(land.fences, CRS), "openings": openings_to_gdf([gap], CRS)},
    )
    areas = gpd.GeoDataFrame(
        {"name": ["west", "east"]},
        geometry=[shapely.box(100, 300, 300, 900), shapely.box(1300, 300, 1500, 900)],
        crs=CRS,
    )
    write_gpkg(folder / "areas.gpkg", {"areas": areas.to_crs("EPSG:4326")})


def test_scenarios_job_and_command(tmp_path, monkeypatch):
    (job,) = code_blocks("scenarios.md", "toml")
    _scenario_inputs(tmp_path)
    (tmp_path / "job.toml").write_text(job)
    monkeypatch.chdir(tmp_path)
    (command,) = doc_commands("scenarios.md")
    assert command[:2] == ["connectivity", "run"]
    invoke(command)
    out = tmp_path / command[command.index("--out") + 1]
    scenarios = tomllib.loads(job)["scenarios"]
    outputs = section("scenarios.md", "Outputs")
    for name in re.findall(r"`([\w<>]+\.(?:tif|csv|toml|json))`", outputs):
        for scenario in scenarios:
            assert (out / name.replace("<scenario>", scenario)).is_file(), name
    with open(out / "pairs.csv", newline="") as handle:
        (pair,) = list(csv.DictReader(handle))
    for scenario in scenarios:
        assert f"resistance_{scenario}" in pair
        assert scenario == "no_fence" or f"conductance_kept_pct_{scenario}" in pair
    assert float(pair["resistance_fence_closed"]) == -1.0  # the gap is the only way through
    level = re.search(r"marks the outputs `(\w+)`", (DOCS / "scenarios.md").read_text()).group(1)
    assert json.loads((out / "manifest.json").read_text())["sensitivity"]["level"] == level
    assert 0 < float(pair["conductance_kept_pct_fence_mitigated"]) < 100


def test_scenarios_job_options_left_commented_out_are_valid_keys(tmp_path):
    from crossings.jobs.connectivity import load_config

    (job,) = code_blocks("scenarios.md", "toml")
    full = re.sub(r"^# (\w+ = )", r"\1", job, flags=re.M)
    assert full != job
    (tmp_path / "job.toml").write_text(full)
    config = load_config(tmp_path / "job.toml")
    assert config.landscape.crs and config.focal.id_column


# --- jobs.md: crossings run ---------------------------------------------------------------


def test_jobs_toml_runs_and_matches_its_own_command(tmp_path, monkeypatch):
    (job,) = code_blocks("jobs.md", "toml")
    _scenario_inputs(tmp_path)
    (tmp_path / "job.toml").write_text(job)
    monkeypatch.chdir(tmp_path)
    (command,) = doc_commands("jobs.md")
    assert command[:2] == ["run", "job.toml"]
    invoke(command)
    out = tmp_path / command[command.index("--out") + 1]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["job"] == tomllib.loads(job)["job"]
    assert not list(out.glob("*.png"))  # maps = false
    assert (out / "pairs.csv").is_file()


def test_jobs_python_api(tmp_path, monkeypatch):
    _scenario_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    (scope,) = run_python("jobs.md", {})
    assert scope["record"].job == "connectivity"
    assert (tmp_path / "results-py" / "pairs.csv").is_file()


# --- fences.md ----------------------------------------------------------------------------


def test_fences_python_api():
    graph = gallery.uniform_grid(10, 10).graph()
    (scope,) = run_python(
        "fences.md",
        {
            "x0": 0.0,
            "y0": 500.0,
            "x1": 500.0,
            "y1": 520.0,
            "x2": 1000.0,
            "y2": 500.0,
            "x": 300.0,
            "y": 510.0,
            "graph": graph,
        },
    )

    def total(g):
        return sum(float(w.sum()) for w in g.edge_weights)

    closed = apply_fences(graph, [scope["fence"]])
    assert total(closed) < total(scope["fenced_graph"]) < total(graph)  # the gap restores edges


def test_fences_api_table_gives_the_real_signatures():
    import inspect

    from crossings.core import barriers

    table = section("fences.md", "API in brief")
    rows = re.findall(r"^\| `(\w+)\(([^`]*)\)` \|", table, re.M)
    assert len(rows) >= 4
    for name, documented in rows:
        signature = inspect.signature(getattr(barriers, name))
        bare = signature.replace(
            parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
            return_annotation=signature.empty,
        )
        assert f"({documented})" == str(bare), name


# --- planner.md -----------------------------------------------------------------------------


def test_planner_command_is_the_bundled_example():
    (command,) = doc_commands("planner.md")
    assert command[0] == "plan"
    from crossings.jobs.plan import load_config

    config = load_config(ROOT / command[1])
    assert config.landscape.demo is True


def test_planner_example_options_left_commented_out_are_valid_keys(tmp_path):
    """Uncommenting any option of the bundled example gives a config the planner accepts."""
    from crossings.jobs.plan import load_config

    (command,) = doc_commands("planner.md")
    text = (ROOT / command[1]).read_text(encoding="utf-8")
    full = re.sub(r"^# (\[\[|\w+ = )", r"\1", text, flags=re.M)
    assert full.count("\n") == text.count("\n") and full != text
    (tmp_path / "plan.toml").write_text(full)
    config = load_config(tmp_path / "plan.toml")
    assert config.constraints.sectors and config.constraints.veto and config.candidates.file


def test_planner_default_opening_widths_are_the_documented_ones():
    from crossings.jobs.plan import default_opening_types

    text = section("planner.md", "Candidates and opening types")
    widths = dict(re.findall(r"`(\w+)`\s+\([^)]*?(\d+) m[,)]", text))
    types = default_opening_types()
    assert set(widths) == set(types)
    for name, width in widths.items():
        assert types[name].width == float(width), name


def _plan_inputs(folder: Path, example: dict) -> dict:
    """A 16 x 20 landscape with a closed fence and the example's two focal areas."""
    land = gallery.straight_fence(16, 20, 90.0, offset=-100.0, crs=CRS)
    write_geotiff(folder / "resistance.tif", land.grid, land.resistance)
    write_gpkg(folder / "fences.gpkg", {"fences": fences_to_gdf(land.fences, CRS)})
    objective = example["objective"]
    names = objective["side_a"] + objective["side_b"]
    areas = gpd.GeoDataFrame(
        {objective["id_column"]: names},
        geometry=[shapely.box(100, 300, 500, 1300), shapely.box(1500, 300, 1900, 1300)],
        crs=CRS,
    )
    write_gpkg(folder / "areas.gpkg", {"areas": areas})
    # The doc's own opening-types line, as a top-level key, pointing to a copy of the default.
    line = re.search(r'`(opening_types = "[^"]+")`', (DOCS / "planner.md").read_text()).group(1)
    config = {**tomllib.loads(line), **example}
    shutil.copy(
        ROOT / "src/crossings/data/plan/opening_types.toml", folder / config["opening_types"]
    )
    config["landscape"] = {"resistance": "resistance.tif", "fences": "fences.gpkg"}
    config["objective"] = {**objective, "focal_areas": "areas.gpkg"}
    # The example's spacings are for a 325 km fence; this one is 1.6 km long.
    config["candidates"] = {**example["candidates"], "spacing": 200.0}
    config["constraints"] = {**example["constraints"], "min_spacing": 300.0}
    return config


def test_planner_outputs_on_a_small_copy_of_the_example(tmp_path):
    (command,) = doc_commands("planner.md")
    example = tomllib.loads((ROOT / command[1]).read_text(encoding="utf-8"))
    config = _plan_inputs(tmp_path, example)
    (tmp_path / "plan.toml").write_text(tomli_w.dumps(config))
    out = tmp_path / "plan-out"
    invoke(["plan", tmp_path / "plan.toml", "--out", out])
    assert config["opening_types"] in (out / "manifest.json").read_text()  # read, with its hash
    outputs = section("planner.md", "Outputs")
    for name in re.findall(r"`(\w+\.(?:csv|gpkg|png|toml|json))`", outputs):
        if name != "messages.txt":
            assert (out / name).is_file(), name
    with open(out / "openings.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {r["sensitivity"] for r in rows} == {"confidential"}
    header = re.search(r"per chosen opening: `([^`]+)`", outputs).group(1)
    assert list(rows[0]) == [c.strip() for c in header.split(",")]


def test_planner_python_api():
    syn = gallery.straight_fence(12, 12, 90.0)
    free = syn.graph()
    west = np.zeros(syn.grid.shape, bool)
    west[:, 0] = True
    (scope,) = run_python(
        "planner.md",
        {
            "fences": syn.fences,
            "free_graph": free,
            "existing_openings": (),
            "fenced_graph": apply_fences(free, syn.fences),
            "a": west,
            "b": west[:, ::-1],
        },
    )
    plan = scope["plan"]
    assert plan.value_before == 0.0 < plan.value  # the closed fence cut the two sides apart
    assert plan.value == pytest.approx(scope["evaluator"].value([s.candidate for s in plan.steps]))


# --- tracks.md ------------------------------------------------------------------------------


def test_tracks_commands_write_the_documented_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    commands = doc_commands(
        "tracks.md",
        choices={"--format": "xy", "--plots": "figs"},
        names={
            "TRACKS.csv": str(DATA / "baba" / "muleDeer.csv"),
            "FENCES.gpkg": str(DATA / "baba" / "fences.gpkg"),
        },
    )
    assert [c[:2] for c in commands] == [["tracks", "classify"], ["tracks", "rank"]]
    classify, rank = commands
    assert "--distance" in classify and "--plots" in rank
    invoke(classify)
    invoke(rank + ["--crs", classify[classify.index("--crs") + 1]])
    outputs = section("tracks.md", "Outputs")
    with open("events.csv", newline="") as handle:
        columns = list(csv.DictReader(handle).fieldnames)
    documented = re.search(r"R's `\$classification`: (.*?) written as", outputs, re.S).group(1)
    named = re.findall(r"`(\w+)`", documented) + ["fence_id"]
    assert columns[: len(named)] == named  # then the fence layer's own columns
    assert columns[len(named) :] == ["FID_Fence0", "Shape_Leng"]
    assert {n for n, _ in pyogrio.list_layers("points.gpkg")} == {"encounters", "crossings"}
    for name in re.findall(r"`(rank_[\w]+\.csv)`", outputs):
        assert Path(name).is_file(), name
    plots = sorted(p.name for p in Path("figs").iterdir())
    assert "classes_per_fence.png" in plots and any(p.startswith("track_") for p in plots)
    assert Path("run.toml").is_file() and Path("manifest.json").is_file()


def test_tracks_option_table_defaults_are_babaconfigs():
    from crossings.core.baba import BabaConfig

    fields = {
        "--max-cross": "max_cross",
        "--tolerance": "tolerance",
        "--b-time": "b_time",
        "--p-time": "p_time",
        "--window": "w",
        "--sd-multiplier": "sd_multiplier",
    }
    defaults = BabaConfig(distance=1.0)
    table = section("tracks.md", "Commands")
    for option, field in fields.items():
        default = table_row(table, f"`{option}`").split("|")[2].strip()
        assert float(default.split()[0]) == getattr(defaults, field), option


def test_camera_documented_defaults_are_eventconfigs():
    from crossings.core.camtrap import EventConfig

    text = section("camera.md", "Events")
    config = EventConfig()
    threshold = re.search(r"`--animal-threshold`\s+([\d.]+)", text).group(1)
    assert config.animal_threshold == float(threshold)
    gap = re.search(r"`--sequence-gap`\s+\((\d+) s\)", text).group(1)
    assert config.sequence_gap_s == float(gap)
    independence = re.search(r"`--independence`\s+\((\d+) s", text).group(1)
    assert config.independence_s == float(independence)


def test_tracks_python_api(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(DATA / "baba" / "pronghorn.csv", "fixes.csv")
    shutil.copy(DATA / "baba" / "fences.gpkg", "fences.gpkg")
    (scope,) = run_python("tracks.md", {})
    events = scope["result"].events.columns()
    # The doc's settings (110 m, max_cross 4) are those of one of the R package's reference runs.
    reference = DATA / "baba" / "reference" / "pronghorn_d110_maxcross4_classification.csv"
    with open(reference, newline="") as handle:
        expected = [row["eventTYPE"] for row in csv.DictReader(handle)]
    assert list(events["eventTYPE"]) == expected
    assert set(scope["crossings_per_month"](scope["crossings"])) == {
        "fence_id", "month", "direction", "crossings"}  # fmt: skip


# --- camera.md ------------------------------------------------------------------------------


def _camera_scene(folder: Path) -> None:
    """IMAGES/ with EXIF times, md.json, deployments.csv and labels.csv: a gazelle crossing."""
    from crossings.io.camera import write_jpeg_with_exif

    rng = np.random.default_rng(0)
    scene = [  # file, local time, (category, confidence, box)
        ("C1/0001.jpg", dt.datetime(2023, 4, 20, 18, 0, 0), ("1", 0.9, [0.3, 0.1, 0.1, 0.2])),
        ("C1/0002.jpg", dt.datetime(2023, 4, 20, 18, 0, 10), ("1", 0.9, [0.35, 0.3, 0.1, 0.2])),
        ("C1/0003.jpg", dt.datetime(2023, 4, 20, 18, 0, 20), ("1", 0.9, [0.4, 0.5, 0.1, 0.2])),
        ("C1/0004.jpg", dt.datetime(2023, 5, 2, 11, 0, 0), ("2", 0.95, [0.2, 0.2, 0.5, 0.6])),
    ]
    images = []
    for file, local, (category, conf, box) in scene:
        write_jpeg_with_exif(folder / "IMAGES" / file, rng.integers(0, 256, (48, 64, 3), np.uint8),
                             local_time=local, make="RECONYX")  # fmt: skip
        images.append({"file": file, "detections": [{"category": category, "conf": conf,
                                                     "bbox": box}]})  # fmt: skip
    md = {"info": {"format_version": "1.4", "detector": "md_v5a"},
          "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
          "images": images}  # fmt: skip
    (folder / "md.json").write_text(json.dumps(md))
    (folder / "deployments.csv").write_text(
        "camera_id,fence_id,opening_id,start,end,opening_date,latitude,longitude,"
        "line_x1,line_y1,line_x2,line_y2,side_a,side_b\n"
        "C1,KZ-UZ-07,O3,2023-03-01T00:00:00+05:00,2023-06-01T00:00:00+05:00,"
        "2023-04-01T00:00:00+05:00,44.2512,56.1133,0,0.4,1,0.4,KAZ,UZB\n"
    )
    labels = "".join(f"C1/000{i}.jpg,Gazella subgutturosa,1\n" for i in (1, 2, 3))
    (folder / "labels.csv").write_text("file,species,count\n" + labels)


def test_camera_commands_write_the_documented_files(tmp_path, monkeypatch):
    _camera_scene(tmp_path)
    monkeypatch.chdir(tmp_path)
    commands = [c for c in doc_commands("camera.md") if c[1] != "detect"]  # no model weights
    assert [c[1] for c in commands] == [
        "events", "export-camtrapdp", "export-camtrapdp", "events", "events"]  # fmt: skip
    events, export, reexport, from_package, tagged = commands
    invoke(events)
    event_files = re.findall(r"`(\w+\.(?:csv|png))`", section("camera.md", "Outputs of `events`"))
    optional = {"effort_season.csv", "people_per_month.csv"}  # with --season, --people
    for name in set(event_files) - optional | {"run.toml", "manifest.json"}:
        assert (tmp_path / "results" / name).is_file(), name
    assert not any((tmp_path / "results" / name).exists() for name in optional)
    with open("results/events.csv", newline="") as handle:
        (event,) = list(csv.DictReader(handle))  # the person is withheld
    assert (event["species"], event["direction"]) == ("Gazella subgutturosa", "A to B")
    invoke(export)
    package_files = re.findall(r"`(\w+\.(?:json|csv))`", section("camera.md", "Camtrap DP export"))
    for name in package_files[:4]:
        assert (tmp_path / "package" / name).is_file(), name
    with open("package/media.csv", newline="") as handle:
        public = {row["fileName"]: row["filePublic"] for row in csv.DictReader(handle)}
    assert public == {"0001.jpg": "true", "0002.jpg": "true", "0003.jpg": "true",
                      "0004.jpg": "false"}  # fmt: skip
    observations = Path("package/observations.csv").read_text()
    assert "human" not in observations and "vehicle" not in observations
    assert Path("package/media/C1/0004.jpg").is_file()  # --copy-media: blurred copies
    shutil.copytree("package", "other")
    shutil.rmtree("package")
    shutil.rmtree("results")
    invoke(reexport)
    assert (tmp_path / "package" / "datapackage.json").is_file()
    invoke(from_package)
    with open("results/events.csv", newline="") as handle:
        (again,) = list(csv.DictReader(handle))
    # The doc's export has no --labels, so the species is the detector's "animal" there.
    assert (again["start"], again["end"], again["direction"]) == (
        event["start"], event["end"], event["direction"])  # fmt: skip
    Path("records.csv").write_text(
        "site,datetime,species,count,direction\n"
        f"C1,{event['start']},Gazella subgutturosa,1,A to B\n"
        "C1,2023-05-02T11:00:00+05:00,person,1,\n"
    )
    Path("names.csv").write_text("name,species\ngoitered gazelle,Gazella subgutturosa\n")
    shutil.rmtree("results")
    invoke(tagged)
    for name in optional:
        assert (tmp_path / "results" / name).is_file(), name
    with open("results/events.csv", newline="") as handle:
        (from_records,) = list(csv.DictReader(handle))
    assert (from_records["start"], from_records["direction"]) == (event["start"], "A to B")


def test_camera_detect_command(tmp_path, monkeypatch):
    from test_camera_detector import tiny_model

    _camera_scene(tmp_path)
    monkeypatch.chdir(tmp_path)
    (detect,) = [c for c in doc_commands("camera.md") if c[1] == "detect"]
    tiny_model(tmp_path / detect[detect.index("--model") + 1])
    Path(detect[detect.index("--out") + 1]).unlink()
    invoke(detect)
    md = json.loads(Path(detect[detect.index("--out") + 1]).read_text())
    assert sorted(image["file"] for image in md["images"]) == [
        f"C1/000{i}.jpg" for i in (1, 2, 3, 4)
    ]


def test_camera_python_api(tmp_path, monkeypatch):
    _camera_scene(tmp_path)
    monkeypatch.chdir(tmp_path)
    (scope,) = run_python("camera.md", {})
    events = scope["result"].events
    assert list(events["direction"]) == ["A to B"]


# --- demo.md --------------------------------------------------------------------------------


def test_demo_command_options_exist():
    commands = doc_commands("demo.md")
    make_line = code_blocks("demo.md")[0]
    inline = re.search(r"# or: (crossings .*)", make_line).group(1)
    for command in commands + [shlex.split(inline)[1:]]:
        assert command[0] == "demo"
        options = help_text(command[:1])
        for option in [w for w in command if w.startswith("--")] + ["--no-mitigation"]:
            assert option in options, option


def test_demo_python_api(tmp_path, monkeypatch):
    from crossings.landscape import load_demo

    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "src/crossings/data/demo/resistance_model.toml", "my_model.toml")
    land = _own_data(tmp_path)
    blocks = code_blocks("demo.md", "python")
    assert len(blocks) == 3
    model_scope, demo_scope, own_scope = run_python(
        "demo.md",
        {
            "landcover_codes": np.array([[10, 7], [0, 13]]),
            "slope_degrees": np.zeros((2, 2)),
            "elevation_m": np.zeros((2, 2)),
        },
    )
    assert model_scope["resistance"][0, 0] == 1.0 and np.isnan(model_scope["resistance"][1, 0])
    demo = demo_scope["land"]
    text = (DOCS / "demo.md").read_text(encoding="utf-8")
    rows, cols = map(int, re.search(r"The grid: (\d+) x (\d+) cells", text).groups())
    valid = int(re.search(r"; ([\d,]+) cells with data", text).group(1).replace(",", ""))
    assert demo.grid.shape == (rows, cols) and int(np.isfinite(demo.resistance).sum()) == valid
    last_fence = re.search(r"`KAZ-UZB-01` \.\. `(KAZ-UZB-\d+)`", text).group(1)
    assert [f.fence_id for f in demo.fences][-1] == last_fence
    assert len(demo.fences) == int(last_fence.rsplit("-", 1)[1])
    n_openings = int(re.search(r"\((\d+) points, ids `OPEN-0001`", text).group(1))
    assert len(demo.openings) == n_openings
    ranges = demo_scope["ranges"]
    assert set(np.unique(ranges)) == {0, 1, 2}
    north = np.nonzero(ranges == 1)[0].mean() < np.nonzero(ranges == 2)[0].mean()
    assert north  # "1 summer" (north of the fence), "2 winter"
    assert load_demo(mitigation=False).openings == ()
    own = own_scope["land"]
    assert own.grid == land.grid and [f.fence_id for f in own.fences] == ["F1"]
    assert len(own.openings) == 1
    assert len(own.protected_areas) == 1 and list(own.ranges["season"]) == ["summer"]


def _own_data(folder: Path):
    """The files of "Your own data": resistance.tif, fences.gpkg, openings.gpkg, wdpa.shp..."""
    land = gallery.straight_fence(10, 10, 90.0, offset=-50.0, crs=CRS)
    fence = Fence("F1", land.fences[0].coords, 0.0, "KAZ-UZB")
    write_geotiff(folder / "resistance.tif", land.grid, land.resistance)
    write_gpkg(folder / "fences.gpkg", {"fences": fences_to_gdf([fence], CRS)})
    gap = Opening("F1", 450.0, 500.0, 50.0, 1.0, "full_gap", "O1")
    write_gpkg(folder / "openings.gpkg", {"openings": openings_to_gdf([gap], CRS)})
    polygon = gpd.GeoDataFrame({"name": ["PA"]}, geometry=[shapely.box(0, 0, 300, 300)], crs=CRS)
    polygon.to_file(folder / "wdpa.shp")
    ranges = polygon.assign(season=["summer"])
    write_gpkg(folder / "ranges.gpkg", {"ranges": ranges})
    return land


# --- every name, path and option a doc mentions exists ----------------------------------------

DOC_COMMANDS = {
    "jobs.md": [["run"], ["connectivity", "run"]],
    "connectivity.md": [["circuitscape", "run"]],
    "scenarios.md": [["connectivity", "run"]],
    "planner.md": [["plan"]],
    "tracks.md": [["tracks", "classify"], ["tracks", "rank"]],
    "camera.md": [["camera", "detect"], ["camera", "events"], ["camera", "export-camtrapdp"]],
    "demo.md": [["demo"]],
    "omniscape.md": [["omniscape", "run"]],
    "scale.md": [["omniscape", "run"]],
    "solvers.md": [["circuitscape", "run"]],
    "service.md": [["serve"], ["serve", "adduser"], ["serve", "import"]],
    "report.md": [["report"]],
}


def _resolve(dotted: str):
    parts = dotted.replace(":", ".").split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(dotted)


@pytest.mark.parametrize("doc", sorted(p.name for p in DOCS.glob("*.md")))
def test_names_paths_and_options_in_the_doc_exist(doc):
    text = (DOCS / doc).read_text(encoding="utf-8")
    for dotted in set(re.findall(r"`(crossings(?:\.\w+)+(?::\w+)?)", text)):
        _resolve(dotted)
    for path in set(re.findall(r"\b((?:bench|scripts|src|tests|docs)/[\w./-]+\w)", text)):
        assert (ROOT / path).exists(), path
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for extra in re.findall(r"crossings\[(\w+)\]", text):
        assert extra in extras, f"pip install 'crossings[{extra}]': no such extra in pyproject.toml"
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        assert link.startswith("http") or (DOCS / link).exists(), link
    helps = "".join(help_text(command) for command in DOC_COMMANDS.get(doc, []))
    if doc == "demo.md":  # "Rebuilding the demo" names an option of the build script
        helps += (ROOT / "scripts" / "build_demo.py").read_text(encoding="utf-8")
    for option in set(re.findall(r"`(--[a-z][\w-]*)", text)):
        assert option in helps, f"{doc}: {option} is not an option of {DOC_COMMANDS.get(doc)}"


#: Where the bare function names of the docs' inline code live.
API_MODULES = (
    "crossings.core.circuit",
    "crossings.core.solve",
    "crossings.core.barriers",
    "crossings.core.network",
    "crossings.io.camtrap_dp",
    "crossings.landscape.Landscape",
)


def _api_object(name: str):
    if name.startswith("crossings."):
        return _resolve(name)
    for module in API_MODULES:
        try:
            return _resolve(f"{module}.{name}")
        except (ImportError, AttributeError):
            continue
    return None


@pytest.mark.parametrize("doc", sorted(p.name for p in DOCS.glob("*.md")))
def test_inline_calls_in_the_doc_fit_the_real_signatures(doc):
    """``read_camtrapdp(path)``, ``write_camtrapdp(package, out, withhold_private=False)``, ..."""
    import ast
    import inspect

    prose = re.sub(r"^```.*?^```", "", (DOCS / doc).read_text(encoding="utf-8"), flags=re.S | re.M)
    for span in re.findall(r"`([^`]+)`", prose):
        try:
            call = ast.parse(span.split("->")[0].strip(), mode="eval").body
        except SyntaxError:
            continue  # a signature with `*` or annotations: see the fences table test
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name | ast.Attribute):
            continue
        function = _api_object(ast.unparse(call.func))
        if function is None:
            continue
        keywords = {k.arg: None for k in call.keywords}
        inspect.signature(function).bind_partial(*[None] * len(call.args), **keywords)


def _error_inputs(folder: Path, case: str) -> None:
    """The bad input of one row of demo.md's error table, under the file names the row uses."""
    import rasterio
    from rasterio.transform import from_origin

    def tif(name, values, crs=CRS, cell=100.0):
        with rasterio.open(
            folder / name, "w", driver="GTiff", width=values.shape[1], height=values.shape[0],
            count=1, dtype="float32", nodata=-9999.0, crs=crs,
            transform=from_origin(0.0, 400.0, cell, cell),
        ) as dst:  # fmt: skip
            dst.write(values.astype("float32")[None])

    ones = np.ones((4, 4))
    if case == "raster without CRS":
        tif("r.tif", ones, crs=None)
    elif case == "two rasters not aligned":
        tif("a.tif", ones)
        tif("b.tif", ones, cell=200.0)
    elif case == "zero or negative resistance":
        zeros = ones.copy()
        zeros[2, 1] = zeros[2, 3] = zeros[3, 0] = 0.0
        tif("r.tif", zeros)
    elif case == "all NoData":
        tif("r.tif", np.full((4, 4), -9999.0))
    elif case == "missing fence column":
        tif("r.tif", ones)
        fence = gpd.GeoDataFrame(
            {"fence_id": ["a"]}, geometry=[shapely.LineString([(0, 0), (400, 400)])], crs=CRS
        )
        fence.to_file(folder / "f.gpkg")


ERROR_CALLS = {
    "raster without CRS": lambda: load_landscape("r.tif"),
    "two rasters not aligned": lambda: read_aligned(["a.tif", "b.tif"]),
    "zero or negative resistance": lambda: load_landscape("r.tif"),
    "all NoData": lambda: load_landscape("r.tif"),
    "missing fence column": lambda: load_landscape("r.tif", "f.gpkg"),
    "missing or unreadable file": lambda: load_landscape("x.tif"),
}


def assert_quoted(quoted: str, message: str) -> None:
    """A doc's shortened message (``...`` marks left-out text) is what the code says."""
    for fragment in re.split(r"\s*\.\.\.\s*", quoted):
        assert fragment in message, (fragment, message)


@pytest.mark.parametrize("case", sorted(ERROR_CALLS))
def test_demo_error_table_quotes_the_real_messages(tmp_path, monkeypatch, case):
    from crossings.errors import CrossingsError

    monkeypatch.chdir(tmp_path)
    _error_inputs(tmp_path, case)
    row = table_row(section("demo.md", "Your own data"), case)
    quoted = re.search(r"`([^`]+)`", row.split("|")[2]).group(1)
    with pytest.raises(CrossingsError) as raised:
        ERROR_CALLS[case]()
    assert_quoted(quoted, str(raised.value))
    if case == "missing or unreadable file":  # the row's second message: `x.tif: cannot be read`
        (tmp_path / "x.tif").write_text("not a raster")
        unreadable = re.findall(r"`([^`]+)`", row.split("|")[2])[1]
        with pytest.raises(CrossingsError) as raised:
            ERROR_CALLS[case]()
        assert_quoted(unreadable, str(raised.value))


def test_omniscape_command_writes_the_documented_files(tmp_path, monkeypatch):
    block = code_blocks("omniscape.md", "sh")[0]
    (command,) = [line for line in block.splitlines() if line.startswith("crossings ")]
    shutil.copytree(DATA / "omniscape" / "input", tmp_path / "input")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, shlex.split(command.replace("JOB.ini", "input/config2.ini"))[1:])
    assert result.exit_code == 0, result.output
    written = {p.name for p in (tmp_path / "runs" / "test2").iterdir()}
    assert {"cum_currmap.asc", "config.ini", "run.toml", "manifest.json"} <= written


def test_omniscape_native_job_is_the_demo_job_and_both_commands_write_its_files(tmp_path):
    from crossings.jobs.omniscape import DEMO_JOB
    from crossings.landscape import demo_path

    (job,) = code_blocks("omniscape.md", "toml")
    assert {k: v for k, v in tomllib.loads(job).items() if k != "job"} == DEMO_JOB
    for name in ("resistance.tif", "layers.gpkg"):
        shutil.copy(demo_path(name), tmp_path / name)
    (tmp_path / "omniscape.toml").write_text(job)
    commands = [line for line in code_blocks("omniscape.md", "sh")[1].splitlines() if line]
    section_text = section("omniscape.md", "Fences inside every window: the native job")
    stems = re.findall(r"`(\w+)_S\.tif`", section_text)
    others = [
        name
        for name in re.findall(r"`(\w+\.(?:tif|csv|toml|json))`", section_text)
        if not name.endswith("_S.tif")
    ]
    folders = []
    for number, command in enumerate(commands):
        args = shlex.split(command.replace("runs/omniscape", str(tmp_path / f"out{number}")))
        result = runner.invoke(
            app,
            [
                a.replace("omniscape.toml", str(tmp_path / a)) if a.endswith(".toml") else a
                for a in args[1:]
            ],
        )
        assert result.exit_code == 0, result.output
        folders.append(tmp_path / f"out{number}")
    for folder in folders:
        written = {p.name for p in folder.iterdir()}
        for scenario in tomllib.loads(job).get(
            "scenarios", ["no_fence", "fence_closed", "fence_mitigated"]
        ):
            assert {f"{stem}_{scenario}.tif" for stem in stems} <= written
        assert set(others) - {"resistance.tif"} <= written
    first, second = (json.loads((f / "manifest.json").read_text()) for f in folders)
    assert first["job"] == second["job"] == "omniscape"
    assert [o["sha256"] for o in first["outputs"]] == [o["sha256"] for o in second["outputs"]]


def test_scale_command_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    block = code_blocks("scale.md", "sh")[0]
    (command,) = [line for line in block.splitlines() if line.startswith("crossings ")]
    shutil.copytree(DATA / "omniscape" / "input", tmp_path / "input")
    monkeypatch.chdir(tmp_path)
    args = shlex.split(command.replace("JOB.ini", "input/config6.ini"))[1:]
    args = [a for a in args if a not in ("--workers", "2")]  # Dask is tested in test_scale_windows
    assert runner.invoke(app, args).exit_code == 0
    assert list((tmp_path / "tiles").glob("tile_*.npz"))
    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "test6_1" / "run.toml").exists()
