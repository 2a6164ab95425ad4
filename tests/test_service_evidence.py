"""Field reports feed each opening's evidence in the segment panel, beside camera and tracks rows.

Reports are sent through the API by rangers of two countries; the expected counts by opening,
kind, species and month are recomputed here from the list that was sent, keeping only the reports
each caller may see exactly (their own, or in a country where they hold an agency/scientist
grant): a report seen only generalised must not come back as a count per opening.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from service_support import USERS, make_world
from test_service_matrix import expected_treatment

from crossings.service.db import system_session
from crossings.service.publish import publish_run

# (reporter, kind, species, count, observed_at, country, opening_id)
SENT = [
    ("scientist_kaz", "crossing", "saiga", 12, "2025-05-03T06:00:00Z", "KAZ", "O-1"),
    ("scientist_kaz", "crossing", "saiga", 3, "2025-05-20T18:00:00Z", "KAZ", "O-1"),
    ("scientist_kaz", "crossing", "saiga", 5, "2025-06-01T07:00:00Z", "KAZ", "O-1"),
    ("scientist_kaz", "observation", "kulan", 2, "2025-05-04T09:30:00Z", "KAZ", "O-2"),
    ("scientist_kaz", "crossing", "goitered gazelle", 1, "2025-05-05T05:00:00Z", "KAZ", ""),
    ("nature_uzb", "crossing", "saiga", 40, "2025-05-11T05:00:00Z", "UZB", "O-1"),
    ("nature_uzb", "crossing", "saiga", 7, "2025-07-02T05:00:00Z", "UZB", "O-3"),
]
FENCE = "F-1"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("evidence")
    built = make_world(f"sqlite:///{root / 'db.sqlite'}", root / "run")
    camera = root / "camera"
    camera.mkdir()
    (camera / "use_by_opening.csv").write_text(
        "fence_id,opening_id,species,events\nF-1,O-1,saiga,9\nF-1,O-2,kulan,1\nF-2,O-9,saiga,4\n"
    )
    (camera / "manifest.json").write_text(json.dumps({"sensitivity": {"level": "public"}}))
    with system_session(built.factory) as session:
        publish_run(session, camera)
    for i, (user, kind, species, count, at, country, opening) in enumerate(SENT):
        form = {
            "client_id": f"evidence-{i:04d}",
            "kind": kind,
            "species": species,
            "count": str(count),
            "observed_at": at,
            "lon": "56.2",
            "lat": "44.1",
            "country": country,
            "fence_id": FENCE,
            "opening_id": opening,
        }
        reply = built.client.post("/api/reports", data=form, headers=built.headers(user))
        assert reply.status_code == 201, reply.text
    yield built
    built.close()


def seen_exactly(user: str | None, reporter: str, country: str) -> bool:
    return user == reporter or expected_treatment(user, "restricted", country) == "exact"


@pytest.mark.parametrize("user", [None, *USERS])
def test_each_opening_counts_the_reports_the_caller_sees_exactly(world, user):
    panel = world.client.get(f"/api/segments/{FENCE}", headers=world.headers(user)).json()
    want = Counter()
    animals = Counter()
    for reporter, kind, species, count, at, country, opening in SENT:
        if user is not None and seen_exactly(user, reporter, country):
            key = (opening, kind, species, at[:7])
            want[key] += 1
            animals[key] += count
    got = {
        (opening, r["kind"], r["species"], r["month"]): (r["reports"], r["animals"])
        for opening, evidence in panel["openings"].items()
        for r in evidence["field_reports"]
    }
    assert got == {key: (n, animals[key]) for key, n in want.items()}, user


def test_camera_rows_and_reports_meet_under_their_opening(world):
    # Camera tables are confidential (rule "*opening*"): a border agency of the country sees them.
    panel = world.client.get(f"/api/segments/{FENCE}", headers=world.headers("border_kaz"))
    openings = panel.json()["openings"]
    assert [r["events"] for r in openings["O-1"]["sources"]["use_by_opening"]] == ["9"]
    assert openings["O-2"]["sources"]["use_by_opening"][0]["species"] == "kulan"
    assert "O-9" not in openings  # another segment's camera
    may = [r for r in openings["O-1"]["field_reports"] if r["month"] == "2025-05"]
    assert may == [
        {"kind": "crossing", "species": "saiga", "month": "2025-05", "reports": 2, "animals": 15}
    ]
    assert openings[""]["field_reports"][0]["species"] == "goitered gazelle"
