"""``crossings serve adduser`` and ``crossings serve import`` through the command line."""

from __future__ import annotations

from service_support import write_run
from typer.testing import CliRunner

from crossings.cli import app


def test_adduser_and_import_then_sign_in(tmp_path):
    db = f"sqlite:///{tmp_path / 'service.db'}"
    runner = CliRunner()
    added = runner.invoke(
        app,
        [
            "serve",
            "adduser",
            "ranger1",
            "--grant",
            "border_agency:KAZ:view,upload",
            "--db",
            db,
            "--password-stdin",
        ],
        input="a long enough passphrase\n",
    )
    assert added.exit_code == 0, added.output
    weak = runner.invoke(
        app,
        [
            "serve",
            "adduser",
            "ranger2",
            "--grant",
            "public:KAZ:view",
            "--db",
            db,
            "--password-stdin",
        ],
        input="short\n",
    )
    assert weak.exit_code == 1 and "at least 12 characters" in weak.output
    bad = runner.invoke(
        app,
        [
            "serve",
            "adduser",
            "ranger3",
            "--grant",
            "border:KAZ:view",
            "--db",
            db,
            "--password-stdin",
        ],
        input="a long enough passphrase\n",
    )
    assert bad.exit_code == 1 and "Did you mean 'border_agency'" in bad.output
    write_run(tmp_path / "run", level="restricted")
    imported = runner.invoke(app, ["serve", "import", str(tmp_path / "run"), "--db", db])
    assert imported.exit_code == 0, imported.output
    assert "layer openings: 8 features" in imported.output
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = runner.invoke(app, ["serve", "import", str(empty), "--db", db])
    assert missing.exit_code == 1 and "manifest.json: is missing" in missing.output

    from fastapi.testclient import TestClient

    from crossings.service.app import create_app
    from crossings.service.settings import ServiceSettings

    client = TestClient(create_app(ServiceSettings(db_url=db)))
    token = client.post(
        "/api/login", json={"username": "ranger1", "password": "a long enough passphrase"}
    ).json()["token"]
    client.cookies.clear()
    # The run is restricted: even its public-rule layers are restricted now.
    areas = client.get("/api/layers/protected_areas/features").json()["features"]
    assert areas and all(f["properties"]["treatment"] == "generalised" for f in areas)
    mine = client.get(
        "/api/layers/protected_areas/features", headers={"Authorization": f"Bearer {token}"}
    ).json()["features"]
    assert any(f["properties"]["treatment"] == "exact" for f in mine)
