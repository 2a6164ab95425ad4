"""Shared fixtures of the service tests: one database per backend, a synthetic run, users."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field

import pytest
from optional_parts import missing

pytest.importorskip("fastapi", reason="the service extra is not installed")

import geopandas as gpd  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from shapely import LineString, Point, Polygon  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from crossings.service import auth  # noqa: E402
from crossings.service.app import create_app  # noqa: E402
from crossings.service.db import open_database, system_session  # noqa: E402
from crossings.service.publish import publish_run  # noqa: E402
from crossings.service.settings import ServiceSettings  # noqa: E402
from crossings.service.users import add_user  # noqa: E402

auth.set_hash_cost(time_cost=1, memory_kib=1024, parallelism=1)  # still argon2, just cheap
POSTGRES_URL = os.environ.get("CROSSINGS_TEST_POSTGRES_URL", "")
PASSWORD = "correct horse battery staple"
ALBERS = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m"

#: user name -> grants (role, country, verbs)
USERS = {
    "public_kaz": [("public", "KAZ", ("view",))],
    "border_kaz": [("border_agency", "KAZ", ("view", "comment", "approve"))],
    "border_uzb": [("border_agency", "UZB", ("view", "comment", "approve"))],
    "nature_uzb": [("nature_agency", "UZB", ("view", "comment", "propose", "upload"))],
    "scientist_kaz": [("scientist", "KAZ", ("view", "comment", "propose", "upload"))],
    "multi": [("nature_agency", "KAZ", ("view",)), ("scientist", "UZB", ("view", "comment"))],
    "admin_kaz": [("border_agency", "KAZ", ("view", "admin"))],
}


def backend_params():
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgis", id="postgis"),
    ]


def postgis_database() -> tuple[str, callable]:
    """A fresh database owned by a role that row-level security applies to; returns (url, drop)."""
    if not POSTGRES_URL:
        message = (
            "no PostgreSQL/PostGIS server: apt-get install postgresql-15-postgis-3, then set "
            "CROSSINGS_TEST_POSTGRES_URL to the URL scripts/test_postgres.sh prints (.ci/run does)"
        )
        missing(message, "CROSSINGS_REQUIRE_POSTGIS")
    name = "crossings_" + secrets.token_hex(4)
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname='crossings_app'"))
        if exists.first() is None:
            connection.execute(text("CREATE ROLE crossings_app LOGIN NOSUPERUSER NOBYPASSRLS"))
        connection.execute(text(f"CREATE DATABASE {name} OWNER crossings_app"))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    ext = create_engine(f"{base}/{name}", isolation_level="AUTOCOMMIT")
    with ext.connect() as connection:
        connection.execute(text("CREATE EXTENSION postgis"))
    ext.dispose()
    app_url = base.replace("postgres@", "crossings_app@", 1) + f"/{name}"

    def drop():
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    return app_url, drop


@pytest.fixture(scope="module", params=backend_params())
def db_url(request, tmp_path_factory):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'service.db'}"
        return
    url, drop = postgis_database()
    yield url
    drop()


def write_run(folder, level: str = "public") -> None:
    """A run folder like a job writes: layers in the Albers CRS and a manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    to_albers = lambda frame: frame.set_crs("EPSG:4326").to_crs(ALBERS)  # noqa: E731

    def frame(rows):
        return to_albers(gpd.GeoDataFrame(rows, geometry="geometry"))

    countries = ["KAZ", "UZB", "TKM", "KAZ-UZB"]
    fences = [
        {
            "fence_id": f"F-{i}",
            "country_pair": "KAZ-UZB",
            "permeability": 0.0,
            "note": f"secret-fence-{i};",
            "geometry": LineString([(56 + i * 0.1, 44.0), (56.05 + i * 0.1, 44.2)]),
        }
        for i in range(4)
    ]
    openings = [
        {
            "fence_id": f"F-{i % 4}",
            "country_pair": countries[i % 4],
            "type": "gap",
            "note": f"secret-opening-{i};",
            "geometry": Point(56.013 + i * 0.071, 44.107 + i * 0.01),
        }
        for i in range(8)
    ]
    crossings = [
        {
            "fence_id": f"F-{i % 4}",
            "country": countries[i % 4],
            "species": "saiga",
            "note": f"secret-crossing-{i};",
            "geometry": Point(56.2 + i * 0.033, 43.9 + i * 0.021),
        }
        for i in range(12)
    ]
    areas = [
        {
            "name": "Ustyurt",
            "country": "KAZ",
            "note": "public-area-0;",
            "geometry": Polygon([(55.5, 44.5), (56.5, 44.5), (56.5, 45.0), (55.5, 45.0)]),
        },
        {
            "name": "Saigachy",
            "country": "UZB",
            "note": "secret-area-1;",
            "sensitivity": "confidential",
            "geometry": Polygon([(57.5, 43.0), (58.0, 43.0), (58.0, 43.4)]),
        },
    ]
    path = folder / "layers.gpkg"
    frame(fences).to_file(path, layer="fences", driver="GPKG")
    frame(openings).to_file(path, layer="openings", driver="GPKG")
    frame(crossings).to_file(path, layer="crossings", driver="GPKG")
    frame(areas).to_file(path, layer="protected_areas", driver="GPKG")
    (folder / "pairs.csv").write_text("pair,kept\nA-B,0.5\n")
    manifest = {"job": "synthetic", "sensitivity": {"level": level, "reason": "test"}}
    (folder / "manifest.json").write_text(json.dumps(manifest))


@dataclass
class World:
    client: TestClient
    app: object
    factory: object
    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        self.app.state.reads.close()  # its last batch, before the database goes
        self.client.close()
        self.factory.kw["bind"].dispose()

    def headers(self, user: str | None) -> dict:
        return {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}


def make_world(url: str, run_dir, **settings) -> World:
    write_run(run_dir)
    factory = open_database(url)
    with system_session(factory) as session:
        publish_run(session, run_dir)
        for name, grants in USERS.items():
            add_user(session, name, PASSWORD, grants)
    app = create_app(ServiceSettings(db_url=url, **settings))
    client = TestClient(app)
    world = World(client, app, factory, url)
    for name in USERS:
        reply = client.post("/api/login", json={"username": name, "password": PASSWORD})
        assert reply.status_code == 200, reply.text
        world.tokens[name] = reply.json()["token"]
        client.cookies.clear()  # else the next login revokes this session (fixation defence)
    return world


@pytest.fixture(scope="module")
def world(db_url, tmp_path_factory):
    built = make_world(db_url, tmp_path_factory.mktemp("run"))
    yield built
    built.close()
