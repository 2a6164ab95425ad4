"""``crossings tracks classify|rank``: GPS tracks against fences (BaBA), a thin shell."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import typer

from crossings.cli import common
from crossings.config import to_mapping
from crossings.core.baba import BabaConfig, BabaResult, classify, rank_fences
from crossings.core.tracks import (
    FenceCrossings,
    FenceLayer,
    crossings_per_month,
    locate_crossings,
)
from crossings.errors import ConfigError
from crossings.io.gps import events_frame, read_barriers, read_tracks, to_projected, write_table_csv
from crossings.io.runlog import RunLog
from crossings.io.vector import write_gpkg

_SENSITIVE = "exact animal locations and fence crossing points"

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


def _load(tracks_path, fences_path, fmt, crs, layer, fence_id, distance):
    tracks = read_tracks(tracks_path, fmt=fmt, crs=crs)
    fences, fences_crs = read_barriers(fences_path, layer=layer, id_column=fence_id)
    tracks, fences, crs_out = to_projected(tracks, fences, fences_crs, distance=distance)
    return tracks, FenceLayer.from_fences(fences), crs_out


def _config(distance, interval, b_time, p_time, window, tolerance, max_cross, sd_mult, excl, rnd):
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


def _points(x, y, columns: dict, crs: str) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(columns)
    for name in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[name]):
            frame[name] = frame[name].dt.tz_localize("UTC")
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(x, y), crs=crs)


def _crossings_frame(crossings: FenceCrossings) -> pd.DataFrame:
    frame = pd.DataFrame(crossings.columns())
    for name in ("time", "step_start", "step_end"):
        frame[name] = [f"{t}Z" for t in np.asarray(frame[name]).astype("datetime64[s]")]
    return frame


def _report(result: BabaResult) -> None:
    if result.message:
        common.err_console.print(
            f"note: {result.message}", style="yellow", highlight=False, soft_wrap=True
        )
        return
    counts = ", ".join(f"{k} {v}" for k, v in result.events.class_counts().items() if v)
    common.console.print(
        f"{len(result.events)} encounter events ({counts}); interval {result.interval:g} h",
        soft_wrap=True,
    )


def _run_log(out: Path, command: str, settings: dict) -> RunLog:
    """The run log of ``crossings tracks <command>``; its outputs hold exact animal locations."""
    return RunLog(
        out.parent,
        command=f"crossings tracks {command}",
        config=settings,
        sensitivity="confidential",
        sensitivity_reason=_SENSITIVE,
    )


def _load_and_classify(log: RunLog, config, tracks_path: Path, fences_path: Path, *load_options):
    """Read tracks and fences (recorded as inputs), classify encounters and print the summary.

    ``load_options`` are :func:`_load`'s arguments after the two paths.
    """
    tracks, fences, crs_out = _load(tracks_path, fences_path, *load_options)
    log.add_inputs([tracks_path, fences_path])
    result = classify(tracks, fences, config)
    _report(result)
    return tracks, fences, crs_out, result


def _check_out(out: Path, suffix: str) -> None:
    if out.suffix.lower() != suffix:
        raise ConfigError(f"must end with {suffix}; got {out.name!r}", field="--out")


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
    with common.handle_errors(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _check_out(out, ".csv")
        args = (distance, interval, b_time, p_time, window, tolerance, max_cross, sd_multiplier)
        config = _config(*args, exclude_buffer, round_fixes)
        log = _run_log(out, "classify", to_mapping(config))
        load = (fmt, crs, layer, fence_id, distance)
        tracks, fences, crs_out, result = _load_and_classify(
            log, config, tracks_path, fences_path, *load
        )
        written = [write_table_csv(events_frame(result.events), out)]
        if gpkg is not None:
            _check_out(gpkg, ".gpkg")
            crossings = locate_crossings(tracks, fences)
            ev = result.events
            layers = {
                "encounters": _points(ev.easting, ev.northing, ev.columns(), crs_out),
                "crossings": _points(crossings.x, crossings.y, crossings.columns(), crs_out),
            }
            written.append(write_gpkg(gpkg, layers))
        log.add_outputs(written)
        log.add_figures(events=len(result.events), **result.events.class_counts())
        log.finish()
        common.console.print(f"wrote {', '.join(str(p) for p in written)}", soft_wrap=True)


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
    with common.handle_errors(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _check_out(out, ".csv")
        args = (distance, interval, b_time, p_time, window, tolerance, max_cross, sd_multiplier)
        config = _config(*args, exclude_buffer, round_fixes)
        settings = {**to_mapping(config), "min_total_enc": min_total_enc}
        log = _run_log(out, "rank", settings)
        load = (fmt, crs, layer, fence_id, distance)
        tracks, fences, _, result = _load_and_classify(log, config, tracks_path, fences_path, *load)
        ranking = rank_fences(result.events, fences, distance, min_total_enc=min_total_enc)
        crossings = locate_crossings(tracks, fences)
        table = pd.DataFrame(ranking.columns())
        observed = pd.Series(crossings.fence_id).value_counts()
        table["crossings"] = table["fence_id"].map(observed).fillna(0).astype(int)
        table = table.sort_values(["index", "total_enc"], ascending=False, na_position="last")
        stem = out.with_suffix("")
        written = [
            write_table_csv(table, out),
            write_table_csv(_crossings_frame(crossings), f"{stem}_crossings.csv"),
            write_table_csv(
                pd.DataFrame(crossings_per_month(crossings)), f"{stem}_crossings_per_month.csv"
            ),
        ]
        if plots is not None:
            from crossings.report.tracks_plots import plot_all

            written += plot_all(tracks, fences, result, ranking, plots)
        log.add_outputs(written)
        log.add_figures(fences_ranked=len(ranking), crossings=len(crossings))
        log.finish()
        common.console.print(
            f"{len(ranking)} fences with encounters, {len(crossings)} crossings located; "
            f"wrote {', '.join(str(p) for p in written[:3])}"
            + (f" and {len(written) - 3} plots" if len(written) > 3 else ""),
            soft_wrap=True,
        )
