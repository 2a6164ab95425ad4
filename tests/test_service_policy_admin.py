"""Editing the policy table in the API: admins only, CSRF on cookies, audited, applied at once."""

from __future__ import annotations

import pytest
from service_support import PASSWORD, make_world

ROW = {
    "layer": "crossings",
    "sensitivity": "restricted",
    "role": "public",
    "in_country": "withheld",
    "elsewhere": "withheld",
    "grid_km": 10,
}
URL = "/api/layers/crossings/features"


@pytest.fixture()
def world(tmp_path):
    built = make_world(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "run")
    yield built
    built.close()


def test_only_admins_may_change_the_policy(world):
    assert world.client.put("/api/policy", json=ROW).status_code == 401
    for user in ("border_kaz", "scientist_kaz", "multi"):
        reply = world.client.put("/api/policy", json=ROW, headers=world.headers(user))
        assert reply.status_code == 403, user
    assert world.client.get("/api/policy", headers=world.headers("border_kaz")).status_code == 403


def test_a_cookie_session_needs_the_csrf_token(world):
    signed = world.client.post("/api/login", json={"username": "admin_kaz", "password": PASSWORD})
    csrf = signed.json()["csrf_token"]
    try:
        assert world.client.put("/api/policy", json=ROW).status_code == 403
        reply = world.client.put("/api/policy", json=ROW, headers={"X-CSRF-Token": csrf})
        assert reply.status_code == 200, reply.text
    finally:
        world.client.cookies.clear()


def test_a_change_applies_at_once_is_audited_and_can_be_undone(world):
    admin = world.headers("admin_kaz")
    assert world.client.get(URL).json()["features"]  # the public sees crossings generalised
    reply = world.client.put("/api/policy", json=ROW, headers=admin)
    assert reply.status_code == 200 and reply.json()["in_country"] == "withheld"
    assert world.client.get(URL).json()["features"] == []
    # Another layer and another role are untouched.
    assert world.client.get("/api/layers/fences/features").json()["features"]
    assert world.client.get(URL, headers=world.headers("border_kaz")).json()["features"]
    rows = world.client.get("/api/policy", headers=admin).json()
    assert {**ROW, "grid_km": 10.0} in rows
    query = {k: ROW[k] for k in ("layer", "sensitivity", "role")}
    assert world.client.delete("/api/policy", params=query, headers=admin).status_code == 200
    assert world.client.get(URL).json()["features"]
    log = world.client.get("/api/audit", headers=admin).json()
    actions = [(e["action"], e["target"], e["username"]) for e in log]
    assert ("policy_change", "crossings/restricted/public", "admin_kaz") in actions
    assert ("policy_delete", "crossings/restricted/public", "admin_kaz") in actions
    change = next(e for e in log if e["action"] == "policy_change")
    assert (
        change["detail"]["before"] is None and change["detail"]["after"]["elsewhere"] == "withheld"
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"in_country": "generalised", "grid_km": 3}, "GBIF's precision categories"),
        ({"role": "minister"}, ""),
        ({"in_country": "hidden"}, ""),
        ({"layer": "x'; DROP TABLE policy; --"}, ""),
    ],
)
def test_bad_rows_are_refused_with_a_reason(world, change, message):
    reply = world.client.put(
        "/api/policy", json={**ROW, **change}, headers=world.headers("admin_kaz")
    )
    assert reply.status_code == 422
    assert message in reply.text


def test_default_rows_can_be_changed_but_not_deleted(world):
    query = {"layer": "*", "sensitivity": "restricted", "role": "public"}
    reply = world.client.delete("/api/policy", params=query, headers=world.headers("admin_kaz"))
    assert reply.status_code == 409
    missing = {**query, "layer": "openings"}
    reply = world.client.delete("/api/policy", params=missing, headers=world.headers("admin_kaz"))
    assert reply.status_code == 404
