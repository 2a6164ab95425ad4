"""The UI's static side: every visible string is in the Russian catalogue, assets are local."""

from __future__ import annotations

import re
from pathlib import Path

from service_support import make_world, write_run

STATIC = Path(__file__).parents[1] / "src" / "crossings" / "service" / "static"


def ui_strings() -> set[str]:
    found = set()
    for page in ("index.html", "field.html"):
        found |= set(re.findall(r'data-t(?:-placeholder)?="([^"]+)"', (STATIC / page).read_text()))
    for script in ("app.js", "field.js"):
        found |= set(re.findall(r'\bt\("([^"]+)"\)', (STATIC / script).read_text()))
    return found


def test_every_ui_string_has_a_russian_translation(tmp_path):
    world = make_world(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "run")
    russian = world.client.get("/api/i18n/ru").json()
    strings = ui_strings()
    assert len(strings) > 30
    missing = sorted(s for s in strings if not russian.get(s))
    assert not missing, f"add to service/locale/ru/LC_MESSAGES/service.po: {missing}"
    assert all(re.search("[а-яА-Я]", russian[s]) for s in strings)
    assert world.client.get("/api/i18n/en").json() == {}
    assert world.client.get("/api/i18n/xx").status_code == 422


def test_pages_load_nothing_from_the_internet(tmp_path):
    world = make_world(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "run")
    for page in ("/", "/field", "/sw.js", "/static/app.js", "/static/field.js"):
        reply = world.client.get(page)
        assert reply.status_code == 200, page
        assert not re.search(r"(src|href)=\"https?://", reply.text), page
    vendored = world.client.get("/static/vendor/maplibre-gl/maplibre-gl.js")
    assert vendored.status_code == 200 and "MapLibre GL JS" in vendored.text[:200]
    assert world.client.get("/static/borders.geojson").json()["features"]


def test_serve_demo_publishes_every_run_of_crossings_out(tmp_path, monkeypatch):
    from crossings.cli.serve import _publish_demo
    from crossings.service.db import open_database, system_session
    from crossings.service.models import Layer

    write_run(tmp_path / "crossings-out", level="restricted")
    write_run(tmp_path / "crossings-out" / "plan", level="confidential")
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    _publish_demo(url)
    with system_session(open_database(url)) as session:
        levels = {layer.name: layer.sensitivity for layer in session.query(Layer)}
    # The nested run is published once, under its own name and level, not as part of the top run.
    assert levels["protected_areas"] == "restricted"
    assert levels["plan.protected_areas"] == "confidential"
    assert "plan.openings" in levels and len(levels) == 8
