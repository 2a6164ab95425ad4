"""Security properties: rate limits, fixation, CSRF, uploads, injection, enumeration."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from service_support import PASSWORD, db_url, make_world, world  # noqa: F401
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from crossings.service.settings import SESSION_COOKIE


@pytest.fixture()
def fresh(tmp_path):
    built = make_world(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "run")
    yield built
    built.close()


def login(client, username, password=PASSWORD):
    return client.post("/api/login", json={"username": username, "password": password})


def test_login_brute_force_is_rate_limited(fresh):
    for _ in range(5):
        assert login(fresh.client, "border_kaz", "wrong password guess").status_code == 401
    blocked = login(fresh.client, "border_kaz")  # even the right password, during the lockout
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers
    assert login(fresh.client, "border_uzb").status_code == 200  # another user is not locked


def test_session_fixation_is_refused(fresh):
    client = fresh.client
    client.cookies.set(SESSION_COOKIE, "attacker-chosen-value")
    reply = login(client, "border_kaz")
    assert reply.status_code == 200
    cookie = reply.headers["set-cookie"]
    assert f"{SESSION_COOKIE}={reply.json()['token']}" in cookie
    assert "attacker-chosen-value" not in cookie
    fixed = {"Authorization": "Bearer attacker-chosen-value"}
    assert client.get("/api/me", headers=fixed).status_code == 401
    # A real session planted in the victim's browser is revoked by the victim's login.
    planted = fresh.tokens["border_uzb"]
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, planted)
    assert login(client, "border_kaz").status_code == 200
    assert client.get("/api/me", headers={"Authorization": f"Bearer {planted}"}).status_code == 401
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()


def proposal_body():
    return {"title": "Gap at km 12", "country": "UZB", "fence_id": "F-1", "lon": 56.1, "lat": 44.1}


def test_csrf_is_refused_on_cookie_borne_writes(fresh):
    client = fresh.client
    csrf = login(client, "nature_uzb").json()["csrf_token"]
    assert client.post("/api/proposals", json=proposal_body()).status_code == 403
    wrong = client.post("/api/proposals", json=proposal_body(), headers={"X-CSRF-Token": "x"})
    assert wrong.status_code == 403
    assert (
        client.post(
            "/api/proposals", json=proposal_body(), headers={"X-CSRF-Token": csrf}
        ).status_code
        == 201
    )
    client.cookies.clear()
    bearer = client.post(
        "/api/proposals", json=proposal_body(), headers=fresh.headers("nature_uzb")
    )
    assert bearer.status_code == 201  # a bearer token is not sent by a browser on its own


def report_form(**overrides):
    form = {
        "client_id": "phone-0001-abcdef",
        "kind": "crossing",
        "species": "saiga",
        "count": "3",
        "observed_at": "2025-05-01T06:00:00Z",
        "lon": "56.2",
        "lat": "44.1",
        "country": "UZB",
        "fence_id": "F-1",
    }
    form.update(overrides)
    return form


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (120, 90, 60))
    exif = Image.Exif()
    exif[0x8825] = {2: (44.0, 6.0, 0.0), 1: "N", 4: (56.0, 12.0, 0.0), 3: "E"}
    exif[0x010F] = "CameraMaker"
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_uploads_are_validated_and_cleaned(fresh):
    client, auth = fresh.client, fresh.headers("nature_uzb")
    big = b"\xff\xd8\xff" + bytes(50 * 1024 * 1024)
    reply = client.post(
        "/api/reports", data=report_form(), files={"photo": ("a.jpg", big)}, headers=auth
    )
    assert reply.status_code == 413
    html = b"<html><script>alert(1)</script></html>"
    reply = client.post(
        "/api/reports", data=report_form(), files={"photo": ("a.jpg", html)}, headers=auth
    )
    assert reply.status_code == 415
    truncated = jpeg_with_gps()[:40]
    reply = client.post(
        "/api/reports", data=report_form(), files={"photo": ("a.jpg", truncated)}, headers=auth
    )
    assert reply.status_code == 415
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the test photo has GPS
    reply = client.post(
        "/api/reports", data=report_form(), files={"photo": ("a.jpg", original)}, headers=auth
    )
    assert reply.status_code == 201, reply.text
    stored = client.get(f"/api/reports/{reply.json()['id']}/photo", headers=auth)
    assert stored.status_code == 200
    exif = Image.open(io.BytesIO(stored.content)).getexif()
    assert not exif.get_ifd(0x8825) and 0x010F not in exif
    again = client.post("/api/reports", data=report_form(), headers=auth)
    assert again.status_code == 200 and again.json()["duplicate"]  # a re-sync stores nothing
    # Only the reporter sees an unscreened photo, even an agency with exact access does not.
    other = client.get(f"/api/reports/{reply.json()['id']}/photo", headers=fresh.headers("multi"))
    assert other.status_code == 404


@pytest.mark.parametrize(
    "bad",
    [
        {"count": "0"},
        {"count": "-4"},
        {"lat": "91"},
        {"lon": "nan"},
        {"observed_at": "2025-05-01T06:00:00"},
        {"observed_at": "2999-01-01T00:00:00Z"},
        {"kind": "rumour"},
        {"country": "RUS"},
        {"client_id": "../../etc"},
    ],
)
def test_bad_report_fields_are_refused(world, bad):
    reply = world.client.post(
        "/api/reports", data=report_form(**bad), headers=world.headers("nature_uzb")
    )
    assert reply.status_code == 422, reply.text


INJECTIONS = [
    "' OR 1=1 --",
    "F-1'; DROP TABLE features; --",
    "1) OR (1=1",
    "POLYGON((0 0,0 90,180 90,180 0,0 0))",
    "ST_GeomFromText('POINT(0 0)')",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_in_filter_parameters_is_harmless(world, payload):
    client = world.client
    before = client.get("/api/layers/fences/features", headers=world.headers("border_kaz")).json()
    reply = client.get("/api/layers/fences/features", params={"fence_id": payload})
    assert reply.status_code == 200 and reply.json()["features"] == []
    assert client.get("/api/layers/fences/features", params={"bbox": payload}).status_code == 422
    assert client.get(f"/api/layers/{payload}/features").status_code == 404
    assert client.get(f"/api/segments/{payload}").json()["layers"] == {}
    after = client.get("/api/layers/fences/features", headers=world.headers("border_kaz")).json()
    assert after == before


def test_public_user_cannot_enumerate_restricted_ids(world):
    with world.factory() as session:
        session.info["grants"] = "*system*"
        confidential = (
            session.execute(text("SELECT id FROM features WHERE sensitivity = 'confidential'"))
            .scalars()
            .all()
        )
    assert confidential
    for user in (None, "public_kaz"):
        missing = world.client.get("/api/features/doesnotexist00", headers=world.headers(user))
        for feature_id in confidential:
            reply = world.client.get(f"/api/features/{feature_id}", headers=world.headers(user))
            assert (reply.status_code, reply.json()) == (missing.status_code, missing.json())
        listing = world.client.get("/api/layers/openings/features", headers=world.headers(user))
        assert not any(fid in listing.text for fid in confidential)


def test_protected_routes_refuse_anonymous_callers(world):
    for method, path in [
        ("get", "/api/me"),
        ("get", "/api/proposals"),
        ("post", "/api/proposals"),
        ("get", "/api/reports"),
        ("post", "/api/reports"),
        ("get", "/api/audit"),
        ("get", "/api/audit.csv"),
        ("get", "/api/policy"),
        ("post", "/api/logout"),
    ]:
        assert getattr(world.client, method)(path).status_code == 401, path


def test_audit_log_is_append_only(world):
    for statement in ("UPDATE audit_log SET username = 'x'", "DELETE FROM audit_log"):
        with world.factory() as session:
            with pytest.raises(DBAPIError):
                session.execute(text(statement))
                session.commit()
