"""``crossings demo``: load the bundled Ustyurt landscape and run every demo step into a folder.

A demo step is any function ``demo_step(landscape, out_dir) -> list[str]``: it writes
its outputs into ``out_dir`` atomically and returns short summary lines for the terminal. The
steps run in the order of :data:`DEMO_STEPS`; a module joins the demo with ONE line there
(``"crossings.<module>:demo_step"``). Every step receives the same landscape (with the
mitigation openings); a step that needs the fence as built uses ``landscape.without_openings()``.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossings.errors import ConfigError
from crossings.io.raster import write_geotiff
from crossings.io.runlog import RunLog
from crossings.io.vector import write_gpkg
from crossings.landscape import DEMO_FILES, Landscape, demo_path, load_demo

__all__ = ["DEMO_STEPS", "DemoSummary", "run_demo", "landscape_step", "resolve_step"]

DemoStep = Callable[[Landscape, Path], list[str]]

#: The steps of ``crossings demo``, in order: "module:function" or a callable.
DEMO_STEPS: tuple[str | DemoStep, ...] = (
    "crossings.demo:landscape_step",
    "crossings.jobs.connectivity:demo_step",
    "crossings.jobs.plan:demo_step",
    "crossings.jobs.tracks:demo_step",
    "crossings.jobs.camera:demo_step",
    "crossings.jobs.indicators:demo_step",
    "crossings.jobs.hotspots:demo_step",
    "crossings.jobs.omniscape:demo_step",
)

#: Steps that read the demo's manifest, so they run after it is written (the report).
FINAL_STEPS: tuple[str | DemoStep, ...] = ("crossings.jobs.report:demo_step",)

MAP_FOOTNOTE = (
    "Borders: Natural Earth 1:10m (public domain). Resistance: model of assumed coefficients on "
    "NOAA GLOBE elevation and MODIS MCD12C1 2019 land cover. Fence follows the KAZ-UZB boundary "
    "(real alignment not public). Protected areas and ranges are ILLUSTRATIVE, not real "
    "boundaries."
)


@dataclass(frozen=True)
class DemoSummary:
    """What a demo run did.

    Attributes
    ----------
    out_dir : Path
    outputs : tuple of Path
        Files written or replaced by the steps (plus run.toml and manifest.json).
    lines : tuple of str
        Summary lines of every step, in order.
    steps : tuple of str
        Names of the steps that ran.
    seconds : float
    """

    out_dir: Path
    outputs: tuple[Path, ...]
    lines: tuple[str, ...]
    steps: tuple[str, ...]
    seconds: float


def resolve_step(step: str | DemoStep) -> tuple[str, DemoStep]:
    """``(name, function)`` for a step given as ``"module:function"`` or a callable."""
    if callable(step):
        return getattr(step, "__module__", "step") + ":" + step.__name__, step
    module_name, _, function_name = str(step).partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name or "demo_step")
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"cannot load demo step {step!r} ({exc}). Use 'package.module:function'",
            field="steps",
        ) from None
    return str(step), function


def _snapshot(folder: Path) -> dict[Path, tuple[float, int]]:
    if not folder.is_dir():
        return {}
    return {p: (p.stat().st_mtime, p.stat().st_size) for p in folder.rglob("*") if p.is_file()}


def run_demo(
    out_dir: str | os.PathLike = "crossings-out",
    steps: Sequence[str | DemoStep] | None = None,
    *,
    mitigation: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Run the demo steps on the bundled Ustyurt landscape into ``out_dir``.

    Parameters
    ----------
    out_dir : path-like
        Output folder (created if missing).
    steps : sequence, optional
        Steps to run (default :data:`DEMO_STEPS`).
    mitigation : bool
        Load the landscape with the mitigation openings (lower strands removed every 1 km).
    on_step : callable, optional
        Called with each step's name before it runs (progress display).

    Returns
    -------
    DemoSummary
    """
    started = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(
            "is a file, not a folder. Give a folder for the demo outputs (--out DIR)",
            source=str(out),
            field="out",
        )
    out.mkdir(parents=True, exist_ok=True)
    resolved = [resolve_step(s) for s in (DEMO_STEPS if steps is None else steps)]
    landscape = load_demo(mitigation=mitigation)
    log = RunLog(
        out,
        command="crossings demo",
        config={"mitigation": mitigation, "steps": [name for name, _ in resolved]},
    )
    log.add_inputs(demo_path(name) for name in DEMO_FILES.values())
    before = _snapshot(out)
    lines: list[str] = []
    for name, function in resolved:
        if on_step is not None:
            on_step(name)
        lines.extend(function(landscape, out))
    after = _snapshot(out)
    written = sorted(p for p, stamp in after.items() if before.get(p) != stamp)
    log.add_outputs(written)
    seconds = time.perf_counter() - started
    log.add_figures(seconds=round(seconds, 3), steps=len(resolved))
    outputs = tuple(written) + tuple(log.finish())
    if steps is None:
        for name, function in (resolve_step(s) for s in FINAL_STEPS):
            if on_step is not None:
                on_step(name)
            lines.extend(function(landscape, out))
        seconds = time.perf_counter() - started
    return DemoSummary(out, outputs, tuple(lines), tuple(n for n, _ in resolved), seconds)


def landscape_step(landscape: Landscape, out_dir: Path) -> list[str]:
    """Write the resistance GeoTIFF, the fences GeoPackage and the overview map."""
    from crossings.report.maps import plot_landscape  # matplotlib only when a map is drawn

    write_geotiff(
        out_dir / "resistance.tif",
        landscape.grid,
        landscape.resistance,
        tags={"units": "ohms per cell", "basis": "assumed coefficients, see docs"},
    )
    fence_notes = landscape.metadata.get("fence", {})
    mitigation_notes = landscape.metadata.get("mitigation", {})
    # Carry the caveats into the exported file: it travels without the docs.
    layers = {
        "fences": landscape.fences_gdf().assign(
            alignment=fence_notes.get("alignment", ""), extent=fence_notes.get("extent", "")
        )
    }
    if landscape.openings:
        layers["openings"] = landscape.openings_gdf().assign(
            width_basis=mitigation_notes.get("width_basis", ""),
            permeability_basis=mitigation_notes.get("permeability_basis", ""),
        )
    write_gpkg(out_dir / "fences.gpkg", layers)
    plot_landscape(
        landscape,
        out_dir / "landscape.png",
        raster=landscape.resistance,
        raster_label="Resistance to movement (ohms per cell; assumed model)",
        log_scale=True,
        cmap="YlOrBr",
        title=(
            "Ustyurt plateau: Kazakhstan border fence, mitigation openings and saiga ranges\n"
            "(demonstration data: fence alignment approximate, ranges and protected areas "
            "illustrative)"
        ),
        footnote=MAP_FOOTNOTE,
    )
    grid = landscape.grid
    fence_km = sum(f.length for f in landscape.fences) / 1000
    illustrative = ", ".join(landscape.metadata.get("illustrative_layers", [])) or "none"
    with_data = int(np.isfinite(landscape.resistance).sum())
    cell_km = grid.cell_size / 1000
    n_fences, n_openings = len(landscape.fences), len(landscape.openings)
    return [
        f"landscape: {grid.rows} x {grid.cols} cells of {cell_km:g} km ({with_data} with data)",
        f"fence: {n_fences} segments, {fence_km:.0f} km, {n_openings} openings",
        f"illustrative layers: {illustrative}",
        "wrote resistance.tif, fences.gpkg, landscape.png",
    ]
