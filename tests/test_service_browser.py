"""The map and the phone page in Debian's Chromium (Playwright), against a live local server.

Skipped where Chromium or Playwright is absent; CI sets CROSSINGS_REQUIRE_BROWSER=1, which turns
the skip into a failure. Screenshots go to tests/artifacts/service/ (not committed).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from optional_parts import chromium_or_skip
from service_support import PASSWORD, make_world

ARTIFACTS = Path(__file__).parent / "artifacts" / "service"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
]  # fmt: skip


@pytest.fixture(scope="module")
def chromium_path():
    return chromium_or_skip()


@pytest.fixture(scope="module")
def live(chromium_path, tmp_path_factory):
    import uvicorn

    folder = tmp_path_factory.mktemp("browser")
    world = make_world(f"sqlite:///{folder / 'db.sqlite'}", folder / "run")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(world.app, host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.1)
    world.base = f"http://127.0.0.1:{port}"
    yield world
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(live, chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


def open_map(browser, live, user):
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    page = context.new_page()
    page.goto(live.base + "/")
    page.wait_for_function("window.crossingsState && window.crossingsState.ready", timeout=30000)
    if user:
        page.fill("#login input[name=username]", user)
        page.fill("#login input[name=password]", PASSWORD)
        page.click("#login button[type=submit]")
        page.wait_for_function(
            "u => window.crossingsState.me && window.crossingsState.me.username === u"
            " && window.crossingsState.ready", arg=user, timeout=30000)  # fmt: skip
    return context, page


def server_counts(live, user):
    counts = {}
    for layer in live.client.get("/api/layers").json():
        features = live.client.get(
            f"/api/layers/{layer['name']}/features", headers=live.headers(user)
        ).json()["features"]
        exact = sum(f["properties"]["treatment"] == "exact" for f in features)
        general = sum(f["properties"].get("count", 1) for f in features) - exact
        counts[layer["name"]] = {"exact": exact, "generalised": general}
    return counts


@pytest.mark.parametrize("user", [None, "public_kaz", "border_kaz", "nature_uzb", "scientist_kaz"])
def test_each_role_sees_on_the_map_what_the_server_allows(browser, live, user):
    context, page = open_map(browser, live, user)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"map_{user or 'anonymous'}.png"))
    shown = page.evaluate("window.crossingsState.layers")
    expected = server_counts(live, user)
    assert {k: shown[k] for k in expected} == expected
    # Exact opening positions are confidential: only the border agency sees them, in its country.
    assert (shown["openings"]["exact"] > 0) == (user == "border_kaz")
    assert page.evaluate("!!document.querySelector('canvas.maplibregl-canvas')")
    context.close()


def test_field_report_queued_offline_syncs_when_online(browser, live):
    context = browser.new_context(viewport={"width": 400, "height": 800})
    page = context.new_page()
    page.goto(live.base + "/field")
    page.wait_for_function("window.crossingsField && window.crossingsField.ready", timeout=30000)
    page.fill("#login input[name=username]", "nature_uzb")
    page.fill("#login input[name=password]", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_function("window.crossingsField.me && window.crossingsField.me.username")
    page.wait_for_function("window.crossingsField.workerReady", timeout=30000)
    page.reload()  # now the service worker controls the page and has cached it
    page.wait_for_function("window.crossingsField.ready", timeout=30000)
    context.set_offline(True)
    page.reload()  # the page itself comes from the service worker's cache
    page.wait_for_function("window.crossingsField.ready", timeout=30000)
    page.fill("#report input[name=species]", "kulan-offline")
    page.fill("#report input[name=count]", "4")
    page.fill("#report input[name=lon]", "56.3")
    page.fill("#report input[name=lat]", "44.05")
    page.select_option("#report select[name=country]", "UZB")
    page.click("#report button[type=submit]")
    page.wait_for_function("document.querySelector('#queue-count')?.dataset.total === '1'")
    page.reload()  # a queued report survives a reload while offline
    page.wait_for_function("document.querySelector('#queue-count')?.dataset.total === '1'")
    stored = live.client.get("/api/reports", headers=live.headers("nature_uzb")).json()
    assert "kulan-offline" not in str(stored)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "field_offline.png"))
    context.set_offline(False)
    page.wait_for_function(
        "document.querySelector('#queue-count')?.dataset.total === '0'", timeout=30000
    )
    stored = live.client.get("/api/reports", headers=live.headers("nature_uzb")).json()
    species = [f["properties"]["species"] for f in stored["features"]]
    assert species.count("kulan-offline") == 1
    context.close()


def test_border_agency_approves_and_the_admin_finds_it_in_the_audit_log(browser, live):
    made = live.client.post(
        "/api/proposals",
        headers=live.headers("nature_uzb"),
        json={"title": "Gap 7", "country": "UZB", "fence_id": "F-3", "lon": 56.3, "lat": 44.1},
    )
    pid = made.json()["id"]
    context, page = open_map(browser, live, "border_uzb")
    page.wait_for_selector(f".proposal[data-id='{pid}'] .decide-approve")
    page.click(f".proposal[data-id='{pid}'] .decide-approve")
    page.wait_for_function(
        "id => !document.querySelector(`.proposal[data-id='${id}'] .decide-approve`)", arg=pid
    )
    context.close()
    status = live.client.get(f"/api/proposals/{pid}", headers=live.headers("border_uzb")).json()
    assert status["status"] == "approved"
    context, page = open_map(browser, live, "admin_kaz")
    page.wait_for_selector("#audit-table")
    rows = page.inner_text("#audit-table")
    assert "approve" in rows and pid in rows and "border_uzb" in rows
    page.screenshot(path=str(ARTIFACTS / "audit_admin.png"))
    context.close()


def test_an_admin_edits_the_policy_table_on_the_page(browser, live):
    context, page = open_map(browser, live, "admin_kaz")
    page.wait_for_selector("#policy-table")
    new_row = page.locator("#policy-table tr").last
    new_row.locator("input").fill("crossings")
    selects = new_row.locator("select")
    selects.nth(0).select_option("restricted")
    selects.nth(1).select_option("public")
    selects.nth(2).select_option("withheld")
    selects.nth(3).select_option("withheld")
    new_row.locator("button").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#policy-table input')]"
        ".some((i) => i.disabled && i.value === 'crossings')"
    )
    page.screenshot(path=str(ARTIFACTS / "policy_admin.png"))
    context.close()
    admin = live.headers("admin_kaz")
    log = live.client.get("/api/audit", params={"action": "policy_change"}, headers=admin).json()
    assert log and log[0]["target"] == "crossings/restricted/public"
    assert live.client.get("/api/layers/crossings/features").json()["features"] == []
    query = {"layer": "crossings", "sensitivity": "restricted", "role": "public"}
    assert live.client.delete("/api/policy", params=query, headers=admin).status_code == 200
