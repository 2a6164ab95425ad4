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


def _config(sequence_gap: float, independence: float, animal: float, person: float,
            vehicle: float, include_private: bool):  # fmt: skip
    from crossings.config import from_mapping
    from crossings.core.camtrap import EventConfig

    return from_mapping(
        EventConfig,
        {
            "sequence_gap_s": sequence_gap,
            "independence_s": independence,
            "animal_threshold": animal,
            "person_threshold": person,
            "vehicle_threshold": vehicle,
            "include_private": include_private,
        },
        source="command line",
    )


def _analyse(detections: Path, deployments: Path, images: Path | None, labels: Path | None,
             config, workers: int):  # fmt: skip
    from crossings.core.camtrap import analyse
    from crossings.io.camera import (
        load_detections,
        read_deployments,
        read_labels,
        read_megadetector,
        warn_outside,
    )

    md = read_megadetector(detections)
    deps = read_deployments(deployments)
    label_map = read_labels(labels) if labels else None
    inputs = load_detections(md, deps, images_dir=images, labels=label_map, workers=workers)
    result = analyse(inputs.detections, deps, config)
    warn_outside(result.outside_deployments, str(detections))
    return md, deps, inputs, result


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
    sequence_gap: Annotated[float, typer.Option(help="Sequence gap, seconds.")] = 60.0,
    independence: Annotated[float, typer.Option(help="Independence between events, s.")] = 1800.0,
    animal_threshold: Annotated[float, typer.Option(help="Min. animal confidence.")] = 0.2,
    person_threshold: Annotated[float, typer.Option(help="Min. person confidence.")] = 0.2,
    vehicle_threshold: Annotated[float, typer.Option(help="Min. vehicle confidence.")] = 0.2,
    include_private: Annotated[
        bool, typer.Option(help="Keep person/vehicle records (confidential outputs only).")
    ] = False,
    workers: Annotated[int, typer.Option(help="Threads reading EXIF.")] = 2,
):
    """Events, crossings by direction and use per opening: CSV tables and PNG plots."""
    with handle_errors(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from crossings.config import to_mapping
        from crossings.io.runlog import RunLog

        config = _config(sequence_gap, independence, animal_threshold, person_threshold,
                         vehicle_threshold, include_private)  # fmt: skip
        inputs = {"detections": detections, "deployments": deployments, "images": images,
                  "labels": labels, "package": package}  # fmt: skip
        log = RunLog(out, command="crossings camera events", config={
            **to_mapping(config), **{k: str(v or "") for k, v in inputs.items()}})  # fmt: skip
        log.add_inputs([p for p in (detections, deployments, labels, package) if p])
        with progress() as bar:
            task = bar.add_task("reading and analysing", total=None)
            n_images, deps, result = _events_from(inputs, config, workers)
            bar.update(task, completed=1, total=1)
        log.add_outputs(_write_results(result, out))
        log.add_figures(images=n_images, events=len(result.events),
                        withheld_private=result.withheld, below_threshold=result.below_threshold,
                        outside_deployments=result.outside_deployments)  # fmt: skip
        log.finish()
        _show_warnings(caught)
        console.print(
            f"{n_images} images, {len(result.events)} events at "
            f"{len({(d.fence_id, d.opening_id) for d in deps})} openings; "
            f"{result.withheld} person/vehicle detections withheld; outputs in {out}"
        )


def _events_from(inputs: dict, config, workers: int):
    """(number of images, deployments, CameraResult) from detections or a Camtrap DP package."""
    from crossings.core.camtrap import analyse
    from crossings.errors import ConfigError
    from crossings.io.camera import warn_outside
    from crossings.io.camtrap_dp import read_camtrapdp, to_camera_inputs

    if inputs["package"] is not None:
        table, deps = to_camera_inputs(read_camtrapdp(inputs["package"]))
        result = analyse(table, deps, config)
        warn_outside(result.outside_deployments, str(inputs["package"]))
        return len(set(table.file)), deps, result
    if inputs["detections"] is None or inputs["deployments"] is None:
        raise ConfigError("give --detections and --deployments, or --package", field="--detections")
    md, deps, _, result = _analyse(inputs["detections"], inputs["deployments"], inputs["images"],
                                   inputs["labels"], config, workers)  # fmt: skip
    return len(md.files), deps, result


def _write_results(result, out: Path) -> list[Path]:
    from crossings.io.camera import write_table
    from crossings.report.camera_plots import write_camera_plots

    return [
        write_table(result.events, out / "events.csv", time_columns=("start", "end")),
        write_table(result.use, out / "use_by_opening.csv"),
        write_table(result.monthly, out / "monthly.csv"),
        write_table(result.diel, out / "diel.csv"),
        *write_camera_plots(result, out),
    ]


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
    with handle_errors(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from crossings.errors import ConfigError
        from crossings.io.camera import write_blurred_copies
        from crossings.io.camtrap_dp import build_export, read_camtrapdp, write_camtrapdp
        from crossings.io.runlog import RunLog

        grid_m = coordinate_grid_km * 1000 if coordinate_grid_km else None
        settings = {
            "package": str(package or ""),
            "detections": str(detections or ""),
            "coordinate_grid_km": coordinate_grid_km or 0,
            "keep_private": keep_private,
        }
        log = RunLog(out, command="crossings camera export-camtrapdp", config=settings)
        if package is not None:
            pkg = read_camtrapdp(package)
            log.add_inputs([package])
        else:
            if detections is None or deployments is None:
                raise ConfigError(
                    "give --package, or --detections and --deployments", field="--detections"
                )
            config = _config(60.0, independence, animal_threshold, 0.2, 0.2, False)
            md, deps, inputs, result = _analyse(detections, deployments, images, labels, config, 2)
            pkg = build_export(inputs, md, deps, result, title=title, contributor=contributor,
                               media_prefix="media/" if copy_media else "")  # fmt: skip
            log.add_inputs([p for p in (detections, deployments, labels) if p])
            if copy_media:
                if images is None:
                    raise ConfigError("--copy-media needs --images", field="--copy-media")
                log.add_outputs(write_blurred_copies(md, images, out / "media"))
        written = write_camtrapdp(
            pkg, out, withhold_private=not keep_private, coordinate_grid_m=grid_m
        )
        log.add_outputs(written)
        log.finish()
        _show_warnings(caught)
        console.print(f"Camtrap DP 1.0 package written and validated: {out / 'datapackage.json'}")


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


def demo_step(landscape, out_dir: Path) -> list[str]:
    """``crossings demo`` step: camera traps at three of the landscape's fence openings.

    The detections are SYNTHETIC (``crossings.io.camera.write_synthetic_survey``), placed at real
    demo openings: events, use tables, plots and a public Camtrap DP export (coordinates
    generalised to 10 km) go to ``out_dir/camera``.
    """
    import numpy as np
    from pyproj import Transformer

    from crossings.core.camtrap import analyse
    from crossings.io.atomic import write_text_atomic
    from crossings.io.camera import (
        load_detections,
        read_deployments,
        read_megadetector,
        write_synthetic_survey,
        write_table,
    )
    from crossings.io.camtrap_dp import build_export, write_camtrapdp
    from crossings.report.camera_plots import write_camera_plots

    if not landscape.openings:
        return ["camera traps: the landscape has no openings; step skipped"]
    folder = Path(out_dir) / "camera"
    cameras = _demo_cameras(landscape, Transformer, np)
    md_path, dep_path = write_synthetic_survey(folder / "input", 3000, cameras=cameras, seed=0)
    md, deps = read_megadetector(md_path), read_deployments(dep_path)
    inputs = load_detections(md, deps)
    result = analyse(inputs.detections, deps)
    write_table(result.events, folder / "events.csv", time_columns=("start", "end"))
    write_table(result.use, folder / "use_by_opening.csv")
    write_camera_plots(
        result, folder, caption="SYNTHETIC detections (demo): not real camera-trap data"
    )
    package = build_export(inputs, md, deps, result, title="Ustyurt fence openings (SYNTHETIC)",
                           contributor="crossings demo")  # fmt: skip
    write_camtrapdp(package, folder / "camtrapdp", coordinate_grid_m=10_000)
    write_text_atomic(folder / "README.txt", _DEMO_NOTE)
    direction = result.events["direction"]
    forth, back = int((direction == "A to B").sum()), int((direction == "B to A").sum())
    sides = f"{cameras[0]['side_a']}->{cameras[0]['side_b']}"
    summary = (
        f"camera traps (SYNTHETIC detections) at {len(cameras)} openings: "
        f"{len(result.events)} events, {forth} crossings {sides}, {back} back; "
        f"{result.withheld} person/vehicle detections withheld"
    )
    outputs = f"camera outputs: {folder.name}/events.csv, use_by_opening.csv, 4 plots, camtrapdp/"
    return [summary, outputs]


_DEMO_NOTE = (
    "SYNTHETIC camera-trap data. The cameras stand at real openings of the demo fence, but every\n"
    "detection is generated (crossings.io.camera.write_synthetic_survey): species, times,\n"
    "directions, patrols and vehicles are illustrative, not observations.\n"
)


def _demo_cameras(landscape, transformer, np) -> list[dict[str, str]]:
    openings = landscape.openings
    picks = sorted({int(i) for i in np.linspace(0, len(openings) - 1, 3).round()})
    to_wgs84 = transformer.from_crs(landscape.grid.crs, "EPSG:4326", always_xy=True)
    pairs = {f.fence_id: f.country_pair for f in landscape.fences}
    cameras = []
    for i in picks:
        opening = openings[i]
        lon, lat = to_wgs84.transform(opening.x, opening.y)
        sides = (pairs.get(opening.fence_id) or "A-B").split("-")
        cameras.append({
            "deployment_id": f"dep-{opening.opening_id}", "camera_id": f"CAM-{opening.opening_id}",
            "fence_id": opening.fence_id, "opening_id": opening.opening_id,
            "opening_date": "2023-06-01T00:00:00+05:00", "latitude": f"{lat:.5f}",
            "longitude": f"{lon:.5f}", "line_x1": "0", "line_y1": "0.6", "line_x2": "1",
            "line_y2": "0.58", "side_a": sides[0], "side_b": sides[-1],
        })  # fmt: skip
    return cameras
