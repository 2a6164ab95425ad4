"""``crossings camera events | export-camtrapdp | detect``: camera traps at fence openings."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from crossings.cli.common import console, err_console, handle_errors, progress

app = typer.Typer(
    help="Camera traps at fence openings: events, crossings, use per opening, Camtrap DP.",
    no_args_is_help=True,
)

Images = Annotated[
    Path | None, typer.Option("--images", help="Folder the detector ran on (EXIF times).")
]
Labels = Annotated[
    Path | None, typer.Option("--labels", help="Species labels CSV: file, species, count.")
]
Out = Annotated[Path, typer.Option("--out", help="Output folder.")]


def _run(config, out: Path) -> None:
    """Run the camera job into ``out``; print its warnings (each once) and summary."""
    from crossings.jobs import camera as job

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with progress() as bar:
            task = bar.add_task("reading and analysing", total=None)
            record = job.run(config, out)
            bar.update(task, completed=1, total=1)
    _show_warnings(caught)
    for line in record.figures["summary"]:
        console.print(line)


def _show_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        err_console.print(f"warning: {w.message}", style="yellow", highlight=False)


@app.command()
def events(
    out: Out,
    detections: Annotated[
        Path | None, typer.Option(help="MegaDetector batch output JSON (format 1.x).")
    ] = None,
    deployments: Annotated[
        Path | None, typer.Option(help="Deployments table CSV (see docs/camera.md).")
    ] = None,
    images: Images = None,
    labels: Labels = None,
    package: Annotated[
        Path | None, typer.Option(help="Analyse a Camtrap DP 1.0 package instead.")
    ] = None,
    tagged: Annotated[
        Path | None,
        typer.Option(help="Tagged-records CSV (site, datetime, species, count, direction)."),
    ] = None,
    species_map: Annotated[
        Path | None, typer.Option(help="Species mapping CSV: name, species[, group].")
    ] = None,
    count: Annotated[
        str, typer.Option("--count", help="Individuals per event: max, sum or records.")
    ] = "max",
    season: Annotated[
        list[str] | None,
        typer.Option("--season", help="A season NAME:MM-DD:MM-DD (repeat for several)."),
    ] = None,
    merge_overlaps: Annotated[
        bool, typer.Option(help="Merge overlapping deployments of a camera (with a warning).")
    ] = False,
    people: Annotated[
        bool, typer.Option(help="Write people/vehicles per opening and month (RESTRICTED).")
    ] = False,
    sequence_gap: Annotated[float, typer.Option(help="Sequence gap, seconds.")] = 60.0,
    independence: Annotated[float, typer.Option(help="Independence between events, s.")] = 1800.0,
    animal_threshold: Annotated[float, typer.Option(help="Min. animal confidence.")] = 0.2,
    person_threshold: Annotated[float, typer.Option(help="Min. person confidence.")] = 0.2,
    vehicle_threshold: Annotated[float, typer.Option(help="Min. vehicle confidence.")] = 0.2,
    include_private: Annotated[
        bool, typer.Option(help="Keep person/vehicle records (confidential outputs only).")
    ] = False,
    workers: Annotated[int, typer.Option(help="Threads reading EXIF.")] = 2,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write the PNG plots.")] = True,
):
    """Events, crossings by direction, use per opening and effort over time: tables and plots."""
    with handle_errors():
        from crossings.core.camtrap import EventConfig
        from crossings.jobs.camera import Config

        rules = EventConfig(
            sequence_gap_s=sequence_gap,
            independence_s=independence,
            animal_threshold=animal_threshold,
            person_threshold=person_threshold,
            vehicle_threshold=vehicle_threshold,
            include_private=include_private,
            count=count,
            merge_overlaps=merge_overlaps,
        )
        config = Config(detections=detections, deployments=deployments, images=images,
                        labels=labels, package=package, tagged=tagged, species_map=species_map,
                        seasons=tuple(season or ()), people=people, events=rules,
                        workers=workers, plots=plots)  # fmt: skip
        _run(config, out)


@app.command("export-camtrapdp")
def export_camtrapdp(
    out: Out,
    detections: Annotated[Path | None, typer.Option(help="MegaDetector batch JSON.")] = None,
    deployments: Annotated[Path | None, typer.Option(help="Deployments table CSV.")] = None,
    images: Images = None,
    labels: Labels = None,
    package: Annotated[
        Path | None, typer.Option(help="Re-export an existing Camtrap DP (datapackage.json).")
    ] = None,
    coordinate_grid_km: Annotated[
        float | None, typer.Option(help="Generalise deployment coordinates to this grid (km).")
    ] = None,
    keep_private: Annotated[
        bool, typer.Option(help="Archive copy: keep human/vehicle observations (not public).")
    ] = False,
    copy_media: Annotated[
        bool, typer.Option(help="Write image copies (people and vehicles blurred) to media/.")
    ] = False,
    title: Annotated[str, typer.Option(help="Package and project title.")] = "Camera traps at "
    "fence openings",
    contributor: Annotated[str, typer.Option(help="Contact person or organisation.")] = "unknown",
    independence: Annotated[float, typer.Option(help="Independence between events, s.")] = 1800.0,
    animal_threshold: Annotated[float, typer.Option(help="Min. animal confidence.")] = 0.2,
):
    """Write a Camtrap DP 1.0 package (validated offline) with openings and crossing directions."""
    with handle_errors():
        from crossings.core.camtrap import EventConfig
        from crossings.jobs.camera import Config

        rules = EventConfig(independence_s=independence, animal_threshold=animal_threshold)
        config = Config(detections=detections, deployments=deployments, images=images,
                        labels=labels, package=package, events=rules, tables=False,
                        camtrapdp=".", coordinate_grid_km=coordinate_grid_km,
                        keep_private=keep_private, copy_media=copy_media, title=title,
                        contributor=contributor)  # fmt: skip
        _run(config, out)


@app.command()
def detect(
    model: Annotated[Path, typer.Option("--model", help="YOLOv5-format ONNX detector file.")],
    images: Annotated[Path, typer.Option("--images", help="Folder of images.")],
    out: Annotated[Path, typer.Option("--out", help="MegaDetector batch JSON to write.")],
    confidence: Annotated[float, typer.Option(help="Lowest confidence written.")] = 0.005,
    image_size: Annotated[int | None, typer.Option(help="Model input size (pixels).")] = None,
    threads: Annotated[int, typer.Option(help="CPU threads.")] = 2,
):
    """Run an ONNX detector (e.g. MegaDetector v5 exported to ONNX) on a folder of images."""
    with handle_errors():
        from crossings.io.camera import IMAGE_SUFFIXES
        from crossings.io.detector import OnnxDetector, detect_folder

        detector = OnnxDetector(model, image_size=image_size, threads=threads)
        files = sorted(p.relative_to(images).as_posix() for p in images.rglob("*")
                       if p.suffix.lower() in IMAGE_SUFFIXES)  # fmt: skip
        with progress() as bar:
            task = bar.add_task("detecting", total=len(files))
            result = detect_folder(detector, images, out, files=files, conf_threshold=confidence,
                                   on_image=lambda _: bar.advance(task))  # fmt: skip
        failures = sum(1 for im in result["images"] if "failure" in im)
        console.print(f"{len(files)} images, {failures} failures; detections in {out}")
