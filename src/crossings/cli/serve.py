"""``crossings serve``: the shared map and workspace, its users and what it publishes."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from crossings.cli import common
from crossings.errors import ConfigError, MissingDependencyError

app = typer.Typer(
    help="The shared, access-controlled map and workspace (FastAPI + MapLibre).",
    invoke_without_command=True,
    no_args_is_help=False,
)

DEFAULT_DB = "sqlite:///crossings-service.db"
DbOption = typer.Option(
    None, "--db", help=f"Database URL (sqlite:///FILE or postgresql://...); default {DEFAULT_DB}."
)


def _db(url: str | None) -> str:
    return url or os.environ.get("CROSSINGS_DB") or DEFAULT_DB


def _service():
    try:
        import crossings.service.app  # noqa: F401
    except ImportError as error:
        raise MissingDependencyError(
            f"crossings serve needs the service extra ({error.name} is missing): "
            "pip install 'crossings[service]'"
        ) from None
    import crossings.service as service

    return service


@app.callback()
def serve(
    ctx: typer.Context,
    db: str | None = DbOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    demo: bool = typer.Option(False, "--demo", help="Run the demo's jobs and publish their runs."),
    secure_cookies: bool = typer.Option(
        False, "--secure-cookies", help="Mark cookies Secure (behind a TLS reverse proxy)."
    ),
    trust_proxy: bool = typer.Option(
        False, "--trust-proxy", help="Take the client address from X-Forwarded-For."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Worker processes (each with its own caches; one database)."
    ),
    people: str | None = typer.Option(
        None,
        "--people-detector",
        help="Blur people in report photos: 'hog' (OpenCV, the people extra).",
    ),
):
    """Start the service (when no subcommand is given)."""
    if ctx.invoked_subcommand is not None:
        return
    with common.handle_errors():
        _service()
        import uvicorn

        from crossings.service.app import create_app
        from crossings.service.people import people_detector
        from crossings.service.settings import ServiceSettings

        people_detector(people)  # an unknown name or a missing OpenCV stops here, not per worker
        url = _db(db)
        if demo:
            _publish_demo(url)
        settings = ServiceSettings(
            db_url=url,
            secure_cookies=secure_cookies,
            trust_proxy=trust_proxy,
            people_detector=people,
        )
        common.console.print(
            f"crossings serve: http://{host}:{port}/ (database {url.split('@')[-1]})"
        )
        if workers == 1:
            uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
            return
        # Worker processes build their own app from the settings passed in the environment.
        from crossings.service.app import SETTINGS_ENV

        os.environ[SETTINGS_ENV] = settings.to_json()
        uvicorn.run(
            "crossings.service.app:app_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="warning",
        )


@app.command("adduser")
def adduser(
    username: Annotated[str, typer.Argument(help="The user name to sign in with.")],
    grant: Annotated[
        list[str],
        typer.Option("--grant", help="ROLE:COUNTRY:VERB,VERB; repeat for more countries or roles."),
    ],
    db: str | None = DbOption,
    display_name: str = typer.Option("", "--name", help="Name shown in the workspace."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input (for scripts)."
    ),
    replace: bool = typer.Option(False, "--replace", help="Reset an existing user."),
):
    """Add a user with grants, e.g. --grant border_agency:KAZ:view,comment,approve."""
    with common.handle_errors():
        _service()
        from crossings.service.db import open_database, system_session
        from crossings.service.users import add_user, parse_grant

        grants = [parse_grant(g) for g in grant]
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        with system_session(open_database(_db(db))) as session:
            add_user(
                session, username, password, grants, display_name=display_name, replace=replace
            )
        common.console.print(f"user {username}: {', '.join(grant)}")


@app.command("import")
def import_run(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (with manifest.json) to publish.")],
    db: str | None = DbOption,
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help='TOML: [layers."PATTERN"] sensitivity, kind, public_fields.'),
    ] = None,
    prefix: str = typer.Option("", "--prefix", help="Prefix for the published layer names."),
):
    """Publish a run's layers, tables and current maps (sensitivity: manifest and layer rules)."""
    with common.handle_errors():
        _service()
        from crossings.service.db import open_database, system_session
        from crossings.service.publish import DEFAULT_RULES, publish_run, read_rules

        chosen = read_rules(rules) if rules else DEFAULT_RULES
        with system_session(open_database(_db(db))) as session:
            result = publish_run(session, run_dir, chosen, prefix=prefix)
        for name, count in result.layers.items():
            common.console.print(f"layer {name}: {count} features")
        for name, count in result.tables.items():
            common.console.print(f"table {name}: {count} rows")
        for name, (width, height) in result.rasters.items():
            common.console.print(f"raster {name}: {width} x {height} cells")
        if not result.layers and not result.tables and not result.rasters:
            raise ConfigError(
                f"{run_dir}: no GeoPackage, GeoJSON, CSV or current-map GeoTIFF to publish"
            )


def _publish_demo(url: str) -> None:
    """Run the demo into a temporary folder (or reuse ./crossings-out) and publish it."""
    from crossings.service.db import open_database, system_session
    from crossings.service.publish import publish_run

    out = Path("crossings-out")
    if not (out / "manifest.json").is_file():
        from crossings.demo import run_demo

        out = Path(tempfile.mkdtemp(prefix="crossings-demo-"))
        common.console.print(f"running the demo into {out} ...")
        run_demo(out)
    with system_session(open_database(url)) as session:
        runs = sorted({p.parent for p in out.rglob("manifest.json")})
        for run in runs:
            nested = run.relative_to(out).as_posix()
            publish_run(session, run, prefix="" if nested == "." else f"{nested}.")
    common.console.print(f"published {len(runs)} demo run(s) from {out}")
