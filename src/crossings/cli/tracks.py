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
MAX_GAP = typer.Option(
    None, "--max-gap", help="Split tracks at gaps longer than this, hours (default: 6 fix "
    "intervals).",
)  # fmt: skip
KEEP_OUTLIERS = typer.Option(False, "--keep-outliers", help="Keep spikes (still flagged).")
SPIKE_SPEED = typer.Option(
    None, "--spike-speed-factor", help="A spike's speeds in and out exceed this multiple of the "
    "individual's median speed (default 20; Bjørneraas et al. 2010, see docs/tracks.md).",
)  # fmt: skip
SPIKE_COS = typer.Option(
    None, "--spike-cos", help="A spike's turning angle has a cosine below this (default -0.97, "
    "a turn of more than about 166 degrees).",
)  # fmt: skip
OPENINGS = typer.Option(None, "--openings", help="Openings or gaps: points or short lines.")
OPENING_ID = typer.Option(
    None, "--opening-id-column", help="Column of --openings with the ids (default: opening_id)."
)
OPENING_TOL = typer.Option(50.0, "--opening-tolerance", help="Crossing-to-opening distance, m.")
SIDES = typer.Option(None, "--sides", help="Polygons naming the sides (countries, properties).")
SIDES_COLUMN = typer.Option(None, "--sides-column", help="Name column of --sides.")
ID_COLUMN = typer.Option(None, "--id-column", help="Column of the individual id.")
TIME_COLUMN = typer.Option(None, "--time-column", help="Column of the fix time.")
X_COLUMN = typer.Option(None, "--x-column", help="Column of x (or longitude).")
Y_COLUMN = typer.Option(None, "--y-column", help="Column of y (or latitude).")
TIME_FORMAT = typer.Option(None, "--time-format", help="strftime format, e.g. '%m/%d/%Y %H:%M'.")
TIMEZONE = typer.Option(None, "--timezone", help="IANA zone of times without an offset.")


#: The options of both commands that become job settings as they are.
FIELD_OPTIONS = (
    "openings",
    "opening_id_column",
    "opening_tolerance",
    "sides",
    "sides_column",
    "id_column",
    "time_column",
    "x_column",
    "y_column",
    "time_format",
    "timezone",
)


def _field(options: dict) -> dict:
    """The job settings of the quality-control, openings, sides and input-column options
    (``options``: the command's arguments)."""
    from crossings.core.track_qc import QCConfig
    from crossings.errors import ConfigError

    spike = {name: options[name] for name in ("spike_speed_factor", "spike_cos")
             if options[name] is not None}  # fmt: skip
    try:
        qc = QCConfig(max_gap_hours=options["max_gap"], keep_outliers=options["keep_outliers"],
                      **spike)  # fmt: skip
    except ConfigError as exc:  # name the option as typed
        raise ConfigError(exc.message, field=f"--{exc.field.replace('_', '-')}") from None
    return {"qc": qc, **{name: options[name] for name in FIELD_OPTIONS}}


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
    max_gap: float = MAX_GAP,
    keep_outliers: bool = KEEP_OUTLIERS,
    spike_speed_factor: float = SPIKE_SPEED,
    spike_cos: float = SPIKE_COS,
    openings: Path = OPENINGS,
    opening_id_column: str = OPENING_ID,
    opening_tolerance: float = OPENING_TOL,
    sides: Path = SIDES,
    sides_column: str = SIDES_COLUMN,
    id_column: str = ID_COLUMN,
    time_column: str = TIME_COLUMN,
    x_column: str = X_COLUMN,
    y_column: str = Y_COLUMN,
    time_format: str = TIME_FORMAT,
    timezone: str = TIMEZONE,
):
    """Find encounters with fences and classify them (BaBA); write one row per event.

    Also writes OUT_qc.csv (quality control per individual) beside OUT.
    """
    options = dict(locals())
    with common.handle_errors():
        extra = _field(options)
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
            **extra,
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
    max_gap: float = MAX_GAP,
    keep_outliers: bool = KEEP_OUTLIERS,
    spike_speed_factor: float = SPIKE_SPEED,
    spike_cos: float = SPIKE_COS,
    openings: Path = OPENINGS,
    opening_id_column: str = OPENING_ID,
    opening_tolerance: float = OPENING_TOL,
    sides: Path = SIDES,
    sides_column: str = SIDES_COLUMN,
    id_column: str = ID_COLUMN,
    time_column: str = TIME_COLUMN,
    x_column: str = X_COLUMN,
    y_column: str = Y_COLUMN,
    time_format: str = TIME_FORMAT,
    timezone: str = TIMEZONE,
):
    """Rank fences by barrier effect (BaRanking) and list every located crossing.

    Writes OUT (every fence crossed or encountered), OUT_crossings.csv (every crossing and gap
    passage with time, direction, opening and QC flag), OUT_crossings_per_month.csv and
    OUT_qc.csv; with --openings OUT_openings.csv, with a fence type column OUT_by_type.csv.
    """
    options = dict(locals())
    with common.handle_errors():
        extra = _field(options)
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
            **extra,
        )
