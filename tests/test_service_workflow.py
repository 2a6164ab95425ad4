"""Proposals between agencies: propose, comment, decide (two-person rule), history and audit."""

from __future__ import annotations

import csv
import io

from service_support import db_url, world  # noqa: F401


def post(world, user, path, body):
    return world.client.post(path, json=body, headers=world.headers(user))


def test_propose_comment_and_approve_by_the_countrys_border_agency(world):
    body = {
        "title": "Lower strands at km 40",
        "country": "UZB",
        "fence_id": "F-2",
        "opening_type": "lower_strands_removed",
        "lon": 56.2,
        "lat": 44.1,
    }
    assert post(world, "border_uzb", "/api/proposals", body).status_code == 403  # cannot propose
    made = post(world, "nature_uzb", "/api/proposals", body)
    assert made.status_code == 201, made.text
    pid = made.json()["id"]
    assert (
        post(
            world, "multi", f"/api/proposals/{pid}/comments", {"text": "Saiga cross here"}
        ).status_code
        == 201
    )
    # Out of country: the KAZ border agency may neither decide nor comment on a UZB opening.
    assert post(
        world, "border_kaz", f"/api/proposals/{pid}/decision", {"decision": "approve"}
    ).status_code in (403, 404)
    assert (
        post(
            world, "nature_uzb", f"/api/proposals/{pid}/decision", {"decision": "approve"}
        ).status_code
        == 403
    )
    decided = post(
        world,
        "border_uzb",
        f"/api/proposals/{pid}/decision",
        {"decision": "approve", "note": "patrol road is 2 km away"},
    )
    assert decided.status_code == 200, decided.text
    result = decided.json()
    assert result["status"] == "approved"
    assert [(h["status"], h["by"]) for h in result["history"]] == [
        ("proposed", "nature_uzb"),
        ("approved", "border_uzb"),
    ]
    assert [c["by"] for c in result["comments"]] == ["multi"]
    again = post(world, "border_uzb", f"/api/proposals/{pid}/decision", {"decision": "reject"})
    assert again.status_code == 409
    # The public sees no planned opening at all.
    assert world.client.get(f"/api/proposals/{pid}").status_code == 401
    listed = world.client.get("/api/proposals", headers=world.headers("public_kaz")).json()
    assert pid not in str(listed)
    log = world.client.get("/api/audit", headers=world.headers("admin_kaz"))
    assert log.status_code == 200
    actions = {(e["action"], e["target"], e["username"]) for e in log.json()}
    assert ("approve", pid, "border_uzb") in actions and ("propose", pid, "nature_uzb") in actions
    assert world.client.get("/api/audit", headers=world.headers("border_uzb")).status_code == 403
    exported = world.client.get("/api/audit.csv", headers=world.headers("admin_kaz")).text
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert any(r["action"] == "approve" and r["target"] == pid for r in rows)


def test_two_person_rule_stops_a_proposer_approving_their_own_opening(tmp_path):
    from service_support import make_world

    from crossings.service.db import system_session
    from crossings.service.users import add_user

    built = make_world(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "run")
    with system_session(built.factory) as session:
        add_user(
            session,
            "both_uzb",
            "a long enough passphrase",
            [
                ("nature_agency", "UZB", ("view", "propose")),
                ("border_agency", "UZB", ("view", "approve")),
            ],
        )
    token = built.client.post(
        "/api/login", json={"username": "both_uzb", "password": "a long enough passphrase"}
    ).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    made = built.client.post(
        "/api/proposals",
        headers=auth,
        json={"title": "Gap", "country": "UZB", "lon": 56.0, "lat": 44.0},
    )
    assert made.status_code == 201
    pid = made.json()["id"]
    refused = built.client.post(
        f"/api/proposals/{pid}/decision", headers=auth, json={"decision": "approve"}
    )
    assert refused.status_code == 403 and "two-person" in refused.json()["detail"]


def test_reads_of_restricted_layers_are_audited(world):
    world.client.get("/api/layers/openings/features", headers=world.headers("border_kaz"))
    log = world.client.get(
        "/api/audit", params={"action": "read_layer"}, headers=world.headers("admin_kaz")
    ).json()
    assert any(e["target"] == "openings" and e["username"] == "border_kaz" for e in log)
