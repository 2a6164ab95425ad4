"""``crossings tracks classify|rank``: GPS tracks against fences (BaBA), a thin shell.

Both commands build a :class:`crossings.jobs.tracks.Config` from their options and run the
tracks job; the run folder is the folder of ``--out``.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from crossings.cli import common

app = typer.Typer(
    help="GPS tracks against fences: encounters, crossings and barrier behaviour (BaBA).",
    no_args_is_help=True,
)

TRACKS_ARG = typer.Argument(..., help="Movebank CSV or plain id,timestamp,x,y CSV.")
FENCES_ARG = typer.Argument(..., help="Fence lines (GeoPackage, GeoJSON, Shapefile).")
DISTANCE = typer.Option(..., "--distance", "-d", help="Buffer distance around fences, metres.")
MAX_CROSS = typer.Option(0, "--max-cross", help="Crossings allowed for Trace / Back_n_forth.")
TOLERANCE = typer.Option(0.0, "--tolerance", help="Bridge in-buffer gaps up to this, hours.")
INTERVAL = typer.Option(None, "--interval", help="Fix interval, hours (default: the mode).")
B_TIME = typer.Option(4.0, "--b-time", help="Longest short event (Bounce/Quick_Cross), hours.")
P_TIME = typer.Option(36.0, "--p-time", help="Events longer than this are Trapped, hours.")
WINDOW = typer.Option(168.0, "--window", help="Straightness baseline window w, hours.")
SD_MULT = typer.Option(1.0, "--sd-multiplier", help="Width of the normal straightness band.")
EXCLUDE = typer.Option(False, "--exclude-buffer", help="Leave encounter fixes out of baselines.")
ROUND = typer.Option(False, "--round-fixes", help="Round time steps to hours to find interval.")
FORMAT = typer.Option("auto", "--format", help="Track file format: auto, movebank or xy.")
CRS = typer.Option(None, "--crs", help="CRS of x, y in an xy CSV (e.g. EPSG:32612).")
LAYER = typer.Option(None, "--layer", help="Layer of the fence file.")
FENCE_ID = typer.Option(None, "--fence-id", help="Column with fence ids (default: fence_id).")
EVENTS_OUT = typer.Option(..., "--out", help="Events CSV to write (one row per encounter).")
GPKG_OUT = typer.Option(None, "--gpkg", help="Also write encounter and crossing points here.")
RANK_OUT = typer.Option(..., "--out", help="Per-fence table (CSV) to write.")
MIN_ENC = typer.Option(0, "--min-total-enc", help="Index only fences with this many events.")
PLOTS = typer.Option(None, "--plots", help="Folder for track maps and class bar charts.")


def _baba(distance, interval, b_time, p_time, window, tolerance, max_cross, sd_mult, excl, rnd):
    from crossings.core.baba import BabaConfig

    return BabaConfig(
        distance=distance,
        interval=interval,
        b_time=b_time,
        p_time=p_time,
        w=window,
        tolerance=tolerance,
        max_cross=max_cross,
        sd_multiplier=sd_mult,
        exclude_buffer=excl,
        round_fixes=rnd,
    )


def _check_out(out: Path, suffix: str) -> None:
    from crossings.errors import ConfigError

    if out.suffix.lower() != suffix:
        raise ConfigError(f"must end with {suffix}; got {out.name!r}", field="--out")


def _in_run_dir(out: Path, path: Path | None) -> str | None:
    """``path`` relative to the run folder (the folder of ``--out``), as the job takes it."""
    return None if path is None else os.path.relpath(path, out.parent)


def _run(out: Path, **settings) -> None:
    from crossings.jobs import tracks as job

    config = job.Config(**settings)
    with common.job_progress("tracks") as progress:
        record = job.run(config, out.parent, progress)
    for line in record.figures["summary"]:
        style = "yellow" if line.startswith("note:") else None
        common.console.print(line, style=style, highlight=False, soft_wrap=True)
    written = [f.path for f in record.outputs]
    shown = ", ".join(written[:3]) + (f" and {len(written) - 3} plots" if len(written) > 3 else "")
    common.console.print(f"wrote {shown}", highlight=False, soft_wrap=True)


@app.command("classify")
def classify_command(
    tracks_path: Path = TRACKS_ARG,
    fences_path: Path = FENCES_ARG,
    distance: float = DISTANCE,
    out: Path = EVENTS_OUT,
    gpkg: Path = GPKG_OUT,
    max_cross: int = MAX_CROSS,
    tolerance: float = TOLERANCE,
    interval: float = INTERVAL,
    b_time: float = B_TIME,
    p_time: float = P_TIME,
    window: float = WINDOW,
    sd_multiplier: float = SD_MULT,
    exclude_buffer: bool = EXCLUDE,
    round_fixes: bool = ROUND,
    fmt: str = FORMAT,
    crs: str = CRS,
    layer: str = LAYER,
    fence_id: str = FENCE_ID,
):
    """Find encounters with fences and classify them (BaBA); write one row per event."""
    with common.handle_errors():
        _check_out(out, ".csv")
        if gpkg is not None:
            _check_out(gpkg, ".gpkg")
        args = (distance, interval, b_time, p_time, window, tolerance, max_cross, sd_multiplier)
        _run(
            out,
            tracks=tracks_path,
            fences=fences_path,
            baba=_baba(*args, exclude_buffer, round_fixes),
            format=fmt,
            crs=crs,
            fences_layer=layer,
            fence_id=fence_id,
            events=out.name,
            gpkg=_in_run_dir(out, gpkg),
        )


@app.command("rank")
def rank_command(
    tracks_path: Path = TRACKS_ARG,
    fences_path: Path = FENCES_ARG,
    distance: float = DISTANCE,
    out: Path = RANK_OUT,
    min_total_enc: int = MIN_ENC,
    plots: Path = PLOTS,
    max_cross: int = MAX_CROSS,
    tolerance: float = TOLERANCE,
    interval: float = INTERVAL,
    b_time: float = B_TIME,
    p_time: float = P_TIME,
    window: float = WINDOW,
    sd_multiplier: float = SD_MULT,
    exclude_buffer: bool = EXCLUDE,
    round_fixes: bool = ROUND,
    fmt: str = FORMAT,
    crs: str = CRS,
    layer: str = LAYER,
    fence_id: str = FENCE_ID,
):
    """Rank fences by barrier effect (BaRanking) and list every located crossing.

    Writes OUT (one row per fence with encounters), OUT_crossings.csv (every crossing with time
    and direction) and OUT_crossings_per_month.csv beside it.
    """
    with common.handle_errors():
        _check_out(out, ".csv")
        args = (distance, interval, b_time, p_time, window, tolerance, max_cross, sd_multiplier)
        _run(
            out,
            tracks=tracks_path,
            fences=fences_path,
            baba=_baba(*args, exclude_buffer, round_fixes),
            format=fmt,
            crs=crs,
            fences_layer=layer,
            fence_id=fence_id,
            events=None,
            ranking=out.name,
            min_total_enc=min_total_enc,
            plots=_in_run_dir(out, plots),
        )
