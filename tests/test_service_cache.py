"""The hot path's caches follow the database: a publish, a policy edit or a sign-out shows.

The app here rereads the database after 0.2 s (``cache_ttl_s``), as another worker's change would
reach it; the tests wait that long rather than poke the caches.
"""

from __future__ import annotations

import json
import time

import geopandas as gpd
import pytest
from service_support import ALBERS, PASSWORD, make_world
from shapely import Point
from sqlalchemy import delete, update

from crossings.service.db import system_session
from crossings.service.models import Policy
from crossings.service.models import Session as LoginSession
from crossings.service.publish import publish_run

TTL = 0.2
URL = "/api/layers/crossings/features"


@pytest.fixture()
def fresh(tmp_path):
    world = make_world(f"sqlite:///{tmp_path / 'cache.db'}", tmp_path / "run", cache_ttl_s=TTL)
    yield world
    world.close()


def treatments(reply) -> list[str]:
    return sorted(f["properties"]["treatment"] for f in reply.json()["features"])


def test_a_policy_edit_reaches_the_cached_view_and_its_etag(fresh):
    before = fresh.client.get(URL)
    assert set(treatments(before)) == {"generalised"}
    with system_session(fresh.factory) as session:
        session.execute(
            update(Policy)
            .where(Policy.layer == "*", Policy.role == "public")
            .values(in_country="withheld", elsewhere="withheld")
        )
        session.commit()
    time.sleep(TTL * 1.5)
    after = fresh.client.get(URL, headers={"If-None-Match": before.headers["etag"]})
    # Every level now withheld from the public: the layer is empty.
    assert after.status_code == 200 and after.json()["features"] == []
    assert after.headers["etag"] != before.headers["etag"]


def test_a_republished_layer_replaces_the_cached_one(fresh, tmp_path):
    assert len(fresh.client.get(URL, headers=fresh.headers("border_kaz")).json()["features"]) > 1
    run = tmp_path / "again"
    run.mkdir()
    frame = gpd.GeoDataFrame(
        {"country": ["KAZ"], "fence_id": ["F-0"], "note": ["only-one;"]},
        geometry=[Point(56.3, 44.1)],
        crs="EPSG:4326",
    ).to_crs(ALBERS)
    frame.to_file(run / "layers.gpkg", layer="crossings", driver="GPKG")
    (run / "manifest.json").write_text(json.dumps({"sensitivity": {"level": "public"}}))
    with system_session(fresh.factory) as session:
        publish_run(session, run)
    time.sleep(TTL * 1.5)
    served = fresh.client.get(URL, headers=fresh.headers("border_kaz")).json()["features"]
    assert [f["properties"]["note"] for f in served] == ["only-one;"]


def test_signing_out_ends_the_cached_session_at_once(fresh):
    login = fresh.client.post("/api/login", json={"username": "border_kaz", "password": PASSWORD})
    fresh.client.cookies.clear()
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    assert "exact" in treatments(fresh.client.get(URL, headers=headers))
    assert fresh.client.post("/api/logout", headers=headers).status_code == 200
    assert "exact" not in treatments(fresh.client.get(URL, headers=headers))


def test_a_session_ended_elsewhere_stops_within_the_ttl(fresh):
    headers = fresh.headers("border_kaz")
    assert "exact" in treatments(fresh.client.get(URL, headers=headers))
    with system_session(fresh.factory) as session:  # as another worker's sign-out would
        session.execute(delete(LoginSession))
        session.commit()
    time.sleep(TTL * 1.5)
    assert "exact" not in treatments(fresh.client.get(URL, headers=headers))


def test_worker_processes_get_the_settings_through_the_environment(tmp_path, monkeypatch):
    from crossings.service.app import SETTINGS_ENV, app_from_environment
    from crossings.service.settings import ServiceSettings

    settings = ServiceSettings(
        db_url=f"sqlite:///{tmp_path / 'w.db'}", secure_cookies=True, cache_ttl_s=0.5
    )
    monkeypatch.setenv(SETTINGS_ENV, settings.to_json())
    app = app_from_environment()
    try:
        assert app.state.settings == settings
    finally:
        app.state.reads.close()
    with pytest.raises(ValueError, match="people_detector"):
        ServiceSettings(people_detector=lambda image: []).to_json()
