"""Benchmark the circuit engine as users run it: whole ``crossings circuitscape run`` processes.

Cases (issue 15): ``startup`` (100 cells, one pair: the fixed cost of a whole process), one
pair on 1M and 4M cells, 20 focal points (190 pairs) with a cumulative
current map on 1M cells, and (on request, ``--cases 12m-20``) 20 focal points on 12M cells
(4000 x 3000, a Circuitscape BigTests size). Inputs are Circuitscape files: an ASCII resistance
grid (log-uniform 1..100, seed 42, 8 neighbours) and an ``id x y`` point list; the job writes
the resistances and the cumulative current map (ASCII).

Every run is a fresh process (Python start-up and imports included); its wall time and peak
resident memory (``ru_maxrss`` of that process alone) are measured from outside. Inside, the
time is split into stages by timing the engine's functions (exclusive time: a stage called
from another one counts only once): start (interpreter + imports), read, graph, laplacian,
setup (AMG hierarchy or factorisation), solves, maps, write, other.

The baseline is the engine before issue 15 (``--baseline REV``, a git revision of this
repository; its ``src`` is extracted to a temporary folder and run with the same Python), so old
and new run side by side on the same loaded machine. Each case runs ``--repeat`` times per code;
the table gives the minimum and median wall time and the stages of the fastest run.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import math
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: The engine before issue 15 (last commit of main before it).
DEFAULT_BASELINE = "c77cd3f"

CASES = {
    # name: (rows, cols, focal points, target seconds, target peak MB)
    # startup: 100 cells, one pair: the fixed cost of a process (interpreter, imports, CLI,
    # run record), what every run pays before and after its grid work.
    "startup": (10, 10, 2, None, None),
    "1m-1": (1000, 1000, 2, 2.5, None),
    "4m-1": (2000, 2000, 2, 8.0, 1024),
    "1m-190": (1000, 1000, 20, 8.0, None),
    "12m-20": (4000, 3000, 20, 90.0, 6144),
}
DEFAULT_CASES = ["1m-1", "4m-1", "1m-190"]
STAGES = ("start", "read", "graph", "laplacian", "setup", "solves", "maps", "write", "other")

#: Functions timed as each stage (module, attribute[.method]); missing ones are skipped, so the
#: same list times the baseline and the new engine.
STAGE_FUNCTIONS = {
    "read": [
        ("crossings.io.circuitscape", "read_grid"),
        ("crossings.io.circuitscape", "read_point_file"),
    ],
    "graph": [("crossings.core.graph", "build_graph")],
    "laplacian": [("crossings.core.circuit", "build_network")],
    "setup": [("crossings.core.solve", "SPDSolver._setup")],
    "solves": [
        ("crossings.core.solve", "SPDSolver.solve"),
        ("crossings.core.solve", "SPDSolver.solve_block"),
    ],
    "maps": [
        ("crossings.core.circuit", "_pair_maps"),
        ("crossings.core.circuit", "_cumulative_pair_currents"),
    ],
    "write": [
        ("crossings.io.circuitscape", "write_grid"),
        ("crossings.io.circuitscape", "write_resistances"),
    ],
}


# ----------------------------------------------------------------------------------------------
# Inputs


def write_inputs(case: str, folder: Path) -> Path:
    """Write the case's resistance grid, point list and INI file; return the INI path."""
    rows, cols, n_focal = CASES[case][:3]
    folder.mkdir(parents=True, exist_ok=True)
    ini = folder / "job.ini"
    if ini.exists():
        return ini
    rng = np.random.default_rng(42)
    resistance = 10.0 ** rng.uniform(0.0, 2.0, (rows, cols))
    cell = 100.0
    with open(folder / "resistance.asc", "w", encoding="ascii") as handle:
        handle.write(
            f"ncols {cols}\nnrows {rows}\nxllcorner 0\nyllcorner 0\ncellsize {cell:g}\n"
            "NODATA_value -9999\n"
        )
        np.savetxt(handle, resistance, fmt="%.6g")
    focal_rows, focal_cols = _focal(rows, cols, n_focal)
    with open(folder / "points.txt", "w", encoding="ascii") as handle:
        for k, (r, c) in enumerate(zip(focal_rows, focal_cols, strict=True), start=1):
            handle.write(f"{k} {(c + 0.5) * cell:g} {(rows - r - 0.5) * cell:g}\n")
    ini.write_text(
        "[Options]\ndata_type = raster\nscenario = pairwise\n"
        f"habitat_file = {folder / 'resistance.asc'}\nhabitat_map_is_resistances = True\n"
        f"point_file = {folder / 'points.txt'}\noutput_file = {folder / 'out' / 'job.out'}\n"
        "write_cur_maps = True\nwrite_cum_cur_map_only = True\nsolver = cg+amg\n"
    )
    return ini


def _focal(rows: int, cols: int, count: int, seed: int = 7):
    if count == 2:  # one pair, far apart (10 % in from opposite corners)
        return (
            np.array([rows // 10, rows - 1 - rows // 10]),
            np.array([cols // 10, cols - 1 - cols // 10]),
        )
    rng = np.random.default_rng(seed)
    cells = rng.choice(rows * cols, size=count, replace=False)
    return cells // cols, cells % cols


# ----------------------------------------------------------------------------------------------
# One run (in the child process)


class StageClock:
    """Exclusive time per stage: entering a stage pauses the one that called it.

    ``clock`` is ``time.perf_counter`` (wall seconds) or ``time.process_time`` (CPU seconds of
    all threads: on a shared machine the CPU seconds say what a stage costs, the wall seconds
    also what the neighbours took).
    """

    def __init__(self, clock=time.perf_counter):
        self.seconds = dict.fromkeys(STAGES, 0.0)
        #: How much each stage raised the process's peak resident memory (MB).
        self.peak_rise = dict.fromkeys(STAGES, 0.0)
        self._clock = clock
        self._stack: list[str] = []
        self._since = clock()
        self._peak = _peak_mb()

    def _switch(self) -> None:
        now, peak = self._clock(), _peak_mb()
        if self._stack:
            self.seconds[self._stack[-1]] += now - self._since
            self.peak_rise[self._stack[-1]] += peak - self._peak
        self._since, self._peak = now, peak

    @contextlib.contextmanager
    def stage(self, name: str):
        self._switch()
        self._stack.append(name)
        try:
            yield
        finally:
            self._switch()
            self._stack.pop()

    def wrap(self, name: str, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            with self.stage(name):
                return function(*args, **kwargs)

        return timed


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _instrument(clock: StageClock) -> None:
    for stage, targets in STAGE_FUNCTIONS.items():
        for module_name, attribute in targets:
            owner = importlib.import_module(module_name)
            *path, name = attribute.split(".")
            for part in path:
                owner = getattr(owner, part)
            if hasattr(owner, name):
                setattr(owner, name, clock.wrap(stage, getattr(owner, name)))


def run_child(ini: str, solver: str, started_ns: int, cpu: bool = False, workers=None) -> dict:
    """Run the job like the ``crossings`` command does, timing every stage (CPU seconds with
    ``cpu``)."""
    clock = StageClock(time.process_time if cpu else time.perf_counter)
    with clock.stage("other"):
        with clock.stage("start"):
            from crossings.cli import main  # the console entry point

            _instrument(clock)
        sys.argv = ["crossings", "circuitscape", "run", ini, "--solver", solver]
        sys.argv += ["--workers", str(workers)] if workers else []
        with contextlib.redirect_stdout(sys.stderr):
            try:
                main()
            except SystemExit as exc:
                if exc.code not in (0, None):
                    raise
    # Interpreter start-up before this function ran counts as start.
    total = time.process_time() if cpu else (time.perf_counter_ns() - started_ns) / 1e9
    clock.seconds["start"] += total - sum(clock.seconds.values())
    return {"stages": clock.seconds, "peak_rise": clock.peak_rise}


# ----------------------------------------------------------------------------------------------
# Orchestration


def _baseline_src(revision: str, folder: Path) -> Path:
    archive = folder / "baseline.tar"
    with open(archive, "wb") as handle:
        subprocess.run(
            ["git", "-C", str(REPO), "archive", revision, "src"], stdout=handle, check=True
        )
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "baseline", filter="data")
    return folder / "baseline" / "src"


def run_once(ini: Path, solver: str, src: Path | None, cpu: bool = False, workers=None) -> dict:
    """One whole process: wall and CPU seconds, peak MB, stage seconds and the job's outputs."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    started_ns = time.perf_counter_ns()
    command = [sys.executable, __file__, "--child", str(ini), solver, str(started_ns)]
    command += ["--cpu-stages"] if cpu else []
    command += ["--workers", str(workers)] if workers else []
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    with _TreeMemory(process.pid) if workers else contextlib.nullcontext() as tree:
        stdout, stderr = process.communicate()
    wall = (time.perf_counter_ns() - started_ns) / 1e9
    if process.returncode != 0:
        raise RuntimeError(f"{ini}: {stderr.strip().splitlines()[-3:]}")
    figures = json.loads(stdout.strip().splitlines()[-1])
    figures["seconds"] = wall
    figures["peak_mb"] = figures.pop("peak_kb") / 1024
    figures["cpu_seconds"] = figures.pop("cpu")
    if tree is not None:
        figures["tree_peak_mb"] = tree.peak_bytes / 2**20
    figures.update(_outputs(ini))
    return figures


class _TreeMemory:
    """Peak of the summed resident memory of a process and all its descendants (the client
    and its Dask workers), sampled every 0.2 s on a thread (``ru_maxrss`` counts one process)."""

    def __init__(self, pid: int):
        import psutil  # installed with dask.distributed, which --workers needs

        self._root = psutil.Process(pid)
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _sample(self):
        import psutil

        while not self._stop.wait(0.2):
            with contextlib.suppress(psutil.Error):
                processes = [self._root, *self._root.children(recursive=True)]
                total = 0
                for proc in processes:
                    with contextlib.suppress(psutil.Error):
                        total += proc.memory_info().rss
                self.peak_bytes = max(self.peak_bytes, total)


def _outputs(ini: Path) -> dict:
    out = ini.parent / "out"
    table = np.loadtxt(out / "job_resistances.out")
    cumulative = np.loadtxt(out / "job_cum_curmap.asc", skiprows=6)
    return {"resistances": table[1:, 1:].tolist(), "current_sum": float(cumulative.sum())}


def _agree(base: dict, new: dict) -> float:
    """Largest relative difference of the resistances and of the summed current."""
    a, b = np.asarray(base["resistances"]), np.asarray(new["resistances"])
    worst = float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-300), initial=0.0))
    current = abs(base["current_sum"] - new["current_sum"]) / abs(base["current_sum"])
    return max(worst, current)


def _row(case, code, runs, reference):
    rows, cols, n_focal, target_s, target_mb = CASES[case]
    walls = [r["seconds"] for r in runs]
    best = min(runs, key=lambda r: r["seconds"])
    cpu = min(r["cpu_seconds"] for r in runs)
    ratio = cpu_ratio = ""
    if reference is not None:
        ratio, cpu_ratio = f"{min(walls) / reference[0]:.2f}", f"{cpu / reference[1]:.2f}"
    stages = " ".join(f"{best['stages'][s]:>6.2f}" for s in STAGES)
    targets = f"{target_s:g} s" if target_s else "-"
    targets += f", {target_mb / 1024:g} GB" if target_mb else ""
    return (
        f"{case:<7} {code:<8} {rows * cols:>10,} {n_focal * (n_focal - 1) // 2:>5} "
        f"{min(walls):>7.2f} {statistics.median(walls):>7.2f} {cpu:>6.2f} "
        f"{max(r['peak_mb'] for r in runs):>7.0f} {stages} {ratio:>6} {cpu_ratio:>6} {targets:>12}"
    )


def _header() -> str:
    stages = " ".join(f"{s:>6}" for s in STAGES)
    head = (
        f"{'case':<7} {'code':<8} {'cells':>10} {'pairs':>5} {'min s':>7} {'med s':>7} "
        f"{'cpu s':>6} "
        f"{'peak MB':>7} {stages} {'ratio':>6} {'cpu r':>6} {'target':>12}"
    )
    return head + "\n" + "-" * len(head)


def _square_laplacian(side: int):
    """The benchmark's landscape (log-uniform resistances 1..100, seed 42) as a Laplacian."""
    from crossings.core.circuit import build_network
    from crossings.core.graph import build_graph
    from crossings.core.grid import GridSpec

    resistance = 10.0 ** np.random.default_rng(42).uniform(0.0, 2.0, (side, side))
    grid = GridSpec.from_origin(0.0, side * 100.0, 100.0, (side, side), "EPSG:3857")
    return build_network(build_graph(grid, 1.0 / resistance)).laplacian


def solver_costs(sides=(500, 1000), n_rhs: int = 4) -> None:
    """Setup and per-solve seconds of each method on grounded grid Laplacians, and the number
    of right-hand sides from which CHOLMOD beats AMG-CG (the automatic choice's break-even),
    in wall seconds and in CPU seconds (all threads: what a loaded machine still shows)."""
    from crossings.core.circuit import _grounded_in_place
    from crossings.core.solve import Solver, SPDSolver, available_solvers

    print(f"\nsolver costs (tolerance 1e-8, {n_rhs} right-hand sides, best of 2)")
    print(
        f"{'cells':>10} {'solver':<8} {'setup s':>8} {'per solve s':>11} {'break-even':>10} "
        f"{'setup cpu':>9} {'solve cpu':>9} {'even cpu':>8}"
    )
    for side in sides:
        laplacian = _square_laplacian(side)
        rhs = np.zeros((side * side, n_rhs))
        rhs[np.arange(n_rhs) * side * side // n_rhs + side // 2, np.arange(n_rhs)] = 1.0
        costs = {}
        with _grounded_in_place(laplacian, 0) as matrix:
            for method in (Solver.CG_AMG, Solver.CHOLMOD):
                if method not in available_solvers():
                    continue
                best = [math.inf] * 4
                for _ in range(2):
                    started, cpu_started = time.perf_counter(), time.process_time()
                    solver = SPDSolver(matrix, solver=method, tol=1e-8)
                    set_up, cpu_set_up = time.perf_counter(), time.process_time()
                    solver.solve(rhs)
                    done, cpu_done = time.perf_counter(), time.process_time()
                    figures = (
                        set_up - started,
                        (done - set_up) / n_rhs,
                        cpu_set_up - cpu_started,
                        (cpu_done - cpu_set_up) / n_rhs,
                    )
                    best = [min(b, f) for b, f in zip(best, figures, strict=True)]
                    del solver
                costs[method] = best
        for method, (setup, per_solve, setup_cpu, solve_cpu) in costs.items():
            even = even_cpu = ""
            if len(costs) == 2 and method is Solver.CHOLMOD:
                amg = costs[Solver.CG_AMG]
                even = _break_even(amg[0], amg[1], setup, per_solve)
                even_cpu = _break_even(amg[2], amg[3], setup_cpu, solve_cpu)
            print(
                f"{side * side:>10,} {method.value:<8} {setup:>8.2f} {per_solve:>11.3f} "
                f"{even:>10} {setup_cpu:>9.2f} {solve_cpu:>9.3f} {even_cpu:>8}"
            )


def cholmod_orderings(sides=(500, 1000), n_rhs: int = 19) -> None:
    """CHOLMOD on grounded grid Laplacians (8 neighbours) with its default (AMD) ordering and
    with the geometric nested dissection of :mod:`crossings.core.ordering`: seconds of each step
    (wall and CPU), factor entries and flops (sum of squared column counts), ``n_rhs`` solves
    in one batch, and the largest difference of the solutions (relative to their largest)."""
    from crossings.core import ordering, solve

    cholmod = solve._cholmod_module()
    if cholmod is None:
        print(f"\nCHOLMOD orderings: not measured, {solve.MISSING_CHOLMOD}")
        return
    from crossings.core.circuit import _grounded_in_place
    from crossings.core.solve import _PermutedSolve

    print(f"\nCHOLMOD orderings ({n_rhs} right-hand sides; seconds wall / CPU)")
    print(
        f"{'cells':>10} {'ordering':<10} {'order s':>11} {'analyze s':>11} {'factor s':>11} "
        f"{'solves s':>11} {'nnz(L)':>7} {'GFlop':>6} {'max diff':>8}"
    )
    for side in sides:
        laplacian = _square_laplacian(side)
        n = side * side
        rhs = np.zeros((n, n_rhs), order="F")
        rhs[np.arange(n_rhs) * n // n_rhs + side // 2, np.arange(n_rhs)] = 1.0
        reference = None
        with _grounded_in_place(laplacian, 0) as matrix:
            for name in ("amd", "geometric"):
                clock = _Clock()
                if name == "geometric":
                    order = ordering.fill_reducing_order(matrix)
                    permuted = ordering.permute_symmetric(matrix, order)
                    ordered = clock.lap()
                    symbolic = cholmod.analyze(permuted.T, ordering_method="natural")
                else:
                    order, permuted, ordered = None, matrix, clock.lap()
                    symbolic = cholmod.analyze(matrix.T)
                analysed = clock.lap()
                factor = symbolic.cholesky(permuted.T)
                factored = clock.lap()
                # As the engine solves: through the permutation (core.solve) for the geometric one.
                solve = factor.solve_A if order is None else _PermutedSolve(factor.solve_A, order)
                x = solve(rhs)
                solved = clock.lap()
                counts = np.diff(factor.L().indptr).astype(float)
                reference = x if reference is None else reference
                diff = np.abs(x - reference).max() / np.abs(reference).max()
                print(
                    f"{n:>10,} {name:<10} {_pair(ordered):>11} {_pair(analysed):>11} "
                    f"{_pair(factored):>11} {_pair(solved):>11} {counts.sum() / 1e6:>6.1f}M "
                    f"{(counts**2).sum() / 1e9:>6.1f} {diff:>8.1e}",
                    flush=True,
                )
                del factor, symbolic, permuted, x, solve


class _Clock:
    """Wall and CPU seconds since the last lap."""

    def __init__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        figures = (wall - self._wall, cpu - self._cpu)
        self._wall, self._cpu = wall, cpu
        return figures


def _pair(figures: tuple[float, float]) -> str:
    return f"{figures[0]:.2f}/{figures[1]:.2f}"


def _break_even(amg_setup, amg_solve, direct_setup, direct_solve) -> str:
    gain = amg_solve - direct_solve
    return f"{(direct_setup - amg_setup) / gain:.1f}" if gain > 0 else "never"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=DEFAULT_CASES, choices=list(CASES))
    parser.add_argument("--solver", default="auto", help="auto, cg+amg or cholmod")
    parser.add_argument(
        "--workers",
        type=int,
        help="solve on a Dask LocalCluster of N workers (with --baseline none: the engine before "
        "issue 15 has no --workers; peak MB and cpu s are then the client process's only)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per case and code")
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision, or 'none'")
    parser.add_argument("--workdir", type=Path, help="keep generated inputs here")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument(
        "--cpu-stages",
        action="store_true",
        help="stages in CPU seconds (all threads) instead of wall seconds: for a shared machine",
    )
    parser.add_argument(
        "--solver-costs", action="store_true", help="only the per-method setup/solve costs"
    )
    parser.add_argument(
        "--cholmod-orderings",
        action="store_true",
        help="only CHOLMOD's steps with its default (AMD) and the geometric grid ordering",
    )
    args = parser.parse_args(argv)
    if args.solver_costs:
        solver_costs()
        return 0
    if args.cholmod_orderings:
        cholmod_orderings()
        return 0
    if args.child:
        import resource

        figures = run_child(
            args.child[0], args.child[1], int(args.child[2]), args.cpu_stages, args.workers
        )
        usage = resource.getrusage(resource.RUSAGE_SELF)
        figures["peak_kb"] = usage.ru_maxrss
        figures["cpu"] = usage.ru_utime + usage.ru_stime
        print(json.dumps(figures))
        return 0
    with tempfile.TemporaryDirectory(prefix="crossings-bench-") as tmp:
        work = args.workdir or Path(tmp)
        codes = {"new": None}
        if args.baseline != "none":
            codes = {"baseline": _baseline_src(args.baseline, Path(tmp)), "new": None}
        clock = "CPU" if args.cpu_stages else "wall"
        print(
            f"whole `crossings circuitscape run` processes; stages in {clock} seconds "
            "(exclusive); cpu s = fewest user + system seconds of the runs, cpu r its ratio to the "
            "baseline's; "
            f"solver {args.solver}; {os.cpu_count()} cores, load average "
            + ", ".join(f"{v:.1f}" for v in os.getloadavg())
        )
        lines = [_header()]
        print(lines[0], flush=True)
        for case in args.cases:
            ini = write_inputs(case, work / case)
            results = {}
            for _ in range(args.repeat):  # interleave old and new: same load for both
                for code, src in codes.items():
                    run = run_once(ini, args.solver, src, args.cpu_stages, args.workers)
                    results.setdefault(code, []).append(run)
            reference = None
            for code, runs in results.items():
                line = _row(case, code, runs, reference)
                walls = min(r["seconds"] for r in runs)
                reference = reference or (walls, min(r["cpu_seconds"] for r in runs))
                lines.append(line)
                print(line, flush=True)
            for code, runs in results.items():
                rise = max(runs, key=lambda r: r["peak_mb"])["peak_rise"]
                parts = ", ".join(f"{s} {rise[s]:,.0f}" for s in STAGES if rise[s] >= 1)
                tree = max((r.get("tree_peak_mb", 0.0) for r in runs), default=0.0)
                if tree:
                    parts += f"; client and workers together peaked at {tree:,.0f} MB"
                lines.append(f"{case} {code}: peak memory raised by stage (MB): {parts}")
                print(lines[-1], flush=True)
            if "baseline" in results:
                diff = _agree(results["baseline"][0], results["new"][0])
                lines.append(f"{case}: new vs baseline, largest relative difference {diff:.1e}")
                print(lines[-1], flush=True)
        print("\n".join(["", *lines]))
        print("load average at end " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
