"""The report of the demo: built in both languages, tables equal to the CSVs, nothing leaked."""

from __future__ import annotations

import base64
import importlib.abc
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from optional_parts import chromium_or_skip, missing
from report_tables import check_tables_equal_csvs, without_data_uris
from report_tables import csv_rows as _csv_rows
from report_tables import shown_number as _shown_number
from report_tables import tables as _tables
from typer.testing import CliRunner

from crossings.cli import app
from crossings.report.document import build_report, pdf_available
from crossings.report.document_runs import discover_runs
from crossings.security import generalise_point

ARTIFACTS = Path(__file__).parent / "artifacts" / "report"
REQUIRE_PDF = os.environ.get("CROSSINGS_REQUIRE_PDF") == "1"


def _need_pdf_tools():
    problems = [pdf_available()] + [
        f"{tool} is not installed (apt-get install poppler-utils)"
        for tool in ("pdftotext", "pdftoppm")
        if shutil.which(tool) is None
    ]
    problems = [p for p in problems if p]
    if problems:
        missing("; ".join(problems), "CROSSINGS_REQUIRE_PDF")


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_out(demo_cli_run):
    result, out = demo_cli_run
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def public_report(demo_out, tmp_path_factory):
    out = tmp_path_factory.mktemp("public-report")
    result = build_report([demo_out], out, languages=("en", "ru"), audience="public")
    return result, out


@pytest.fixture(scope="module")
def confidential_html(demo_out, tmp_path_factory):
    out = tmp_path_factory.mktemp("confidential-report")
    build_report([demo_out], out, languages=("en",), audience="confidential", pdf=False)
    return (out / "report.en.html").read_text(encoding="utf-8")


# -- the demo's own report -------------------------------------------------------------------------


def test_demo_writes_its_report_in_both_languages(demo_cli_run):
    result, out = demo_cli_run
    report = out / "report"
    for lang in ("en", "ru"):
        assert (report / f"report.{lang}.html").stat().st_size > 100_000
    manifest = json.loads((report / "manifest.json").read_text())
    assert manifest["command"] == "crossings report"
    assert "report for the" in result.output
    why_no_pdf = pdf_available()
    if not why_no_pdf:
        for lang in ("en", "ru"):
            assert (report / f"report.{lang}.pdf").read_bytes()[:5] == b"%PDF-"
    elif REQUIRE_PDF:
        pytest.fail(f"CROSSINGS_REQUIRE_PDF=1 but {why_no_pdf}")


def test_html_is_self_contained_and_small(public_report):
    result, out = public_report
    for lang in ("en", "ru"):
        path = out / f"report.{lang}.html"
        page = path.read_text(encoding="utf-8")
        assert path.stat().st_size < 10_000_000
        assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)
        assert not re.search(r"url\((?!data:)", page)
        assert "<link" not in page
        images = re.findall(r'<img src="([^"]{0,30})', page)
        assert images and all(src.startswith("data:image/png;base64,") for src in images)
        assert "@font-face" in page and "data:font/ttf;base64," in page


def test_each_language_has_its_own_text(public_report):
    _, out = public_report
    en = (out / "report.en.html").read_text(encoding="utf-8")
    ru = (out / "report.ru.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in en and '<html lang="ru">' in ru
    assert "Contents" in en and "What was generalised or withheld" in en
    assert "Содержание" in ru and "Что обобщено или скрыто" in ru
    # Russian numbers use a decimal comma, English a point
    assert re.search(r"\d,\d%", ru.replace("\xa0", "")) and re.search(r"\d\.\d%", en)
    assert "Saiga tatarica (сайгак)" in ru and "Saiga tatarica (saiga)" in en
    assert "not a decision" in en and "а не решение" in ru


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_table_shows_the_numbers_of_its_csv(public_report, demo_out, lang):
    _, out = public_report
    page = (out / f"report.{lang}.html").read_text(encoding="utf-8")
    assert check_tables_equal_csvs(page, demo_out, lang) > 400
    sources = {t["attrs"].get("data-source") for t in _tables(page)}
    assert {"indicators/protconn.csv", "hotspots/hotspots.csv"} <= sources


def test_the_demo_omniscape_run_is_reported_per_scenario(public_report, demo_out):
    """The job's own output names (cum_currmap_<scenario>.tif and the differences)."""
    _, out = public_report
    page = (out / "report.en.html").read_text(encoding="utf-8")
    chapter = re.search(r'data-job="omniscape">(.*?)</section>', page, re.S)[1]
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", chapter, re.S)
    written = {p.name for p in (demo_out / "omniscape").glob("cum_currmap*.tif")}
    assert len(written) == 5 and sum(c.startswith("Cumulative current, ") for c in captions) == 3
    assert sum(c.startswith("Current the ") for c in captions) == 2
    assert all(c.endswith("(averaged over 10 km cells)") for c in captions)


def test_rejected_candidates_by_rule_count_the_csv(public_report, demo_out):
    _, out = public_report
    tables = _tables((out / "report.en.html").read_text(encoding="utf-8"))
    rules = next(t for t in tables if t["attrs"].get("data-source") == "plan/rejected.csv")
    shown = sum(int(_shown_number(row[1], "en")) for row in rules["rows"])
    assert shown == len(_csv_rows(demo_out / "plan" / "rejected.csv"))


def test_generalised_locations_are_the_grid_cells_of_the_openings(public_report, demo_out):
    _, out = public_report
    tables = _tables((out / "report.en.html").read_text(encoding="utf-8"))
    table = next(t for t in tables if t["attrs"].get("data-source") == "plan/openings.csv")
    column = [c["data-column"] for c in table["columns"]].index("location")
    import numpy as np

    from crossings.report.document_context import to_lonlat

    for shown, row in zip(
        table["rows"], _csv_rows(demo_out / "plan" / "openings.csv"), strict=True
    ):
        cx, cy = generalise_point(float(row["x"]), float(row["y"]), 10_000)
        lon, lat = to_lonlat(np.array([[cx, cy]]))[0]
        assert shown[column].startswith(f"{lat:.1f}° N, {lon:.1f}° E"), shown[column]
        assert "± 7 km" in shown[column]


# -- security -------------------------------------------------------------------------------------


def _exact_strings(demo_out: Path) -> set[str]:
    """Exact coordinates of openings, cameras and crossings, written as a report might."""
    found: set[str] = set()

    def add_metres(value: str):
        integer = int(abs(float(value)))
        found.update({f"{integer}", f"{integer:,}", f"{integer:,}".replace(",", "\xa0")})

    def add_degrees(value: str):
        number = float(value)
        for digits in (3, 4, 5):
            text = f"{abs(number):.{digits}f}"
            found.update({text, text.replace(".", ",")})

    for row in _csv_rows(demo_out / "plan" / "openings.csv"):
        add_metres(row["x"]), add_metres(row["y"])
        add_degrees(row["lon"]), add_degrees(row["lat"])
        found.add(row["candidate_id"])
    for row in _csv_rows(demo_out / "camera" / "input" / "deployments.csv"):
        add_degrees(row["latitude"]), add_degrees(row["longitude"])
    for row in _csv_rows(demo_out / "tracks" / "crossings.csv"):
        add_metres(row["x"]), add_metres(row["y"])
    for row in _csv_rows(demo_out / "plan" / "rejected.csv"):
        found.add(row["detail"])
    found.add("illustrative post")
    found |= _hotspot_strings(demo_out / "hotspots")
    return found


def _hotspot_strings(folder: Path) -> set[str]:
    """Closed fence lengths per border section (restricted) and the sections' exact vertices."""
    import pyogrio

    found: set[str] = set()
    values = [float(r["fence_closed_m"]) for r in _csv_rows(folder / "hotspots.csv")]
    frame = pyogrio.read_dataframe(folder / "hotspots.gpkg", layer="sections")
    for line in frame.geometry:
        values += [abs(v) for xy in line.coords for v in xy]
    for value in (v for v in values if v >= 1000):
        for integer in {int(value), round(value)}:
            found.update({f"{integer}", f"{integer:,}", f"{integer:,}".replace(",", "\xa0")})
    return found


def _embedded_payloads(page: str) -> list[bytes]:
    blobs = [base64.b64decode(m) for m in re.findall(r"base64,([A-Za-z0-9+/=]+)", page)]
    script = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S
    )
    return blobs + [script.group(1).encode()]


def _leaks(text: str, secrets: set[str]) -> list[str]:
    # Embedded images and fonts are decoded and searched apart (_embedded_payloads): as base64
    # text they could hold a short number by chance.
    text = without_data_uris(text)
    return sorted(s for s in secrets if s in text)


def test_public_report_holds_no_exact_position_or_post(public_report, demo_out):
    _, out = public_report
    secrets = _exact_strings(demo_out)
    for lang in ("en", "ru"):
        page = (out / f"report.{lang}.html").read_text(encoding="utf-8")
        assert _leaks(page, secrets) == [], lang
        for blob in _embedded_payloads(page):
            assert not any(s.encode() in blob for s in secrets if len(s) > 5)


def test_the_leak_search_finds_positions_in_a_confidential_report(confidential_html, demo_out):
    leaks = _leaks(confidential_html, _exact_strings(demo_out))
    assert any("@" in s for s in leaks)  # candidate ids (position along the fence)
    assert any("illustrative post" in s for s in leaks)  # rejection details name the posts
    assert any(re.fullmatch(r"\d+\.\d{4}", s) for s in leaks)  # exact latitude or longitude
    # closed fence length per border section (hotspots, restricted)
    assert set(leaks) & _hotspot_strings(demo_out / "hotspots")


def test_public_pdf_text_holds_no_exact_position(public_report, demo_out):
    _need_pdf_tools()
    _, out = public_report
    secrets = _exact_strings(demo_out)
    for lang in ("en", "ru"):
        text = subprocess.run(
            ["pdftotext", "-layout", str(out / f"report.{lang}.pdf"), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert _leaks(text, secrets) == [], lang


def test_report_states_what_was_generalised_and_withheld(public_report, demo_out):
    _, out = public_report
    page = (out / "report.en.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))
    assert data["audience"] == "public"
    records = {r["content"]: r for r in data["generalised_or_withheld"]}
    assert records["opening_location"]["precision_published_m"] == 10_000
    assert records["camera_location"]["action"] == "generalised"
    assert records["fence_infrastructure"]["action"] == "withheld"
    private = sum(
        1
        for r in _csv_rows(demo_out / "camera" / "camtrapdp" / "media.csv")
        if r["filePublic"] == "false"
    )
    assert records["person_image"] == {**records["person_image"], "count": private}
    assert records["person_image"]["action"] == "withheld"
    assert "images of people are personal data" in page


def test_person_images_are_withheld_even_from_the_owner(confidential_html):
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', confidential_html, re.S)[1])
    contents = {r["content"]: r["action"] for r in data["generalised_or_withheld"]}
    assert contents == {"person_image": "withheld"}


# -- runs of other jobs, audience default ----------------------------------------------------------


def _fake_run(folder: Path, job: str, level: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "result.csv").write_text("a,b\n1,2\n")
    manifest = {
        "job": job,
        "command": f"crossings {job} run",
        "crossings_version": "0.1.0",
        "sensitivity": {"level": level, "reason": "test"},
        "started": "2026-01-02T03:04:05+00:00",
        "inputs": [],
        "outputs": [{"path": str(folder / "result.csv"), "bytes": 8, "sha256": "ab" * 32}],
        "figures": {"windows": 12, "seconds": 1.5},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "run.toml").write_text('radius = 30\n[solver]\nname = "cg_amg"\n')
    return folder


def test_default_audience_is_the_most_restrictive_of_the_runs(tmp_path):
    a = _fake_run(tmp_path / "a", "survey", "public")
    b = _fake_run(tmp_path / "b", "census", "restricted")
    result = build_report([a, b], tmp_path / "out", languages=("ru",), pdf=False)
    assert result.audience == "restricted"
    page = (tmp_path / "out" / "report.ru.html").read_text(encoding="utf-8")
    # jobs without a section of their own get the generic one
    assert "Расчёт задачи «survey»" in page and "Расчёт задачи «census»" in page
    assert "solver.name" in page and "cg_amg" in page and "result.csv" in page


def test_demo_folder_parts_become_runs_of_their_jobs(demo_out):
    jobs = [run.job for run in discover_runs([demo_out])]
    # jobs with a section of their own come first, in the registry's order; others follow
    assert jobs[:4] == ["connectivity", "plan", "tracks", "camera"]
    assert len(jobs) == len(set(jobs))


def test_cli_writes_the_report_and_refuses_bad_input(tmp_path):
    run = _fake_run(tmp_path / "run", "indicators", "public")
    runner = CliRunner()
    result = runner.invoke(
        app, ["report", str(run), "--out", str(tmp_path / "r"), "--lang", "en", "--no-pdf"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "report.en.html").is_file()
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["sensitivity"]["level"] == "public"
    bad = runner.invoke(
        app, ["report", str(run), "--out", str(tmp_path / "r"), "--audience", "pubic"]
    )
    assert bad.exit_code == 1
    assert "Did you mean 'public'?" in bad.output and "Traceback" not in bad.output
    missing = runner.invoke(app, ["report", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "is not a folder" in missing.output


# -- PDF and browser ------------------------------------------------------------------------------


class _WeasyPrintWithoutPango(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import weasyprint`` as on a machine without Pango: a banner on stdout, then OSError."""

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name == "weasyprint" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        print("\n-----\n\nWeasyPrint could not import some external libraries.\n-----\n")
        raise OSError("cannot load library 'libpango-1.0-0': libpango-1.0-0: cannot open shared")


def test_without_pango_the_report_is_html_and_one_line_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "weasyprint", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_WeasyPrintWithoutPango(), *sys.meta_path])
    run = _fake_run(tmp_path / "run", "indicators", "public")
    result = CliRunner().invoke(
        app, ["report", str(run), "--out", str(tmp_path / "r"), "--lang", "en"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "report.en.html").is_file()
    assert not (tmp_path / "r" / "report.en.pdf").exists()
    said = " ".join(result.output.split())  # the terminal may wrap the line
    assert said.count("no PDF:") == 1, result.output
    assert "to write PDFs: apt-get install libpango-1.0-0 libpangoft2-1.0-0" in said
    assert "could not import" not in result.output and "-----" not in result.output


def test_pdf_is_a4_with_page_numbers_contents_and_both_scripts(public_report):
    _need_pdf_tools()
    _, out = public_report
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for lang, words in (("en", ("Contents", "Summary")), ("ru", ("Содержание", "Резюме"))):
        pdf = out / f"report.{lang}.pdf"
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
        pages = int(re.search(r"Pages:\s+(\d+)", info)[1])
        assert re.search(r"Page size:\s+595\.\d* x 841\.\d* pts \(A4\)", info), info
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
        for word in words:
            assert word in text
        assert f"2 / {pages}" in text and f"{pages} / {pages}" in text
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                "60",
                "-png",
                "-f",
                "1",
                "-l",
                "3",
                str(pdf),
                str(ARTIFACTS / f"pdf-{lang}"),
            ],
            check=True,
        )
        assert len(list(ARTIFACTS.glob(f"pdf-{lang}-*.png"))) == 3


def test_html_opens_offline_in_chromium_and_screenshots_are_kept(public_report):
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    _, out = public_report
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    flags = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=flags)
        try:
            for lang in ("en", "ru"):
                page = browser.new_page(viewport={"width": 1000, "height": 1400})
                requests: list[str] = []
                page.on("request", lambda r, seen=requests: seen.append(r.url))
                page.goto((out / f"report.{lang}.html").as_uri())
                page.wait_for_load_state("load")
                external = [u for u in requests if not u.startswith(("file:", "data:"))]
                assert external == []
                assert page.evaluate("document.fonts.check('12px \"Report Sans\"')")
                broken = page.evaluate(
                    "Array.from(document.images).filter(i => !i.naturalWidth).length"
                )
                assert broken == 0
                for n in range(2):
                    page.evaluate(f"window.scrollTo(0, {n * 1400})")
                    page.screenshot(path=str(ARTIFACTS / f"html-{lang}-{n + 1}.png"))
                page.close()
        finally:
            browser.close()
    assert len(list(ARTIFACTS.glob("html-*.png"))) == 4


# -- docs/report.md -------------------------------------------------------------------------------


def test_report_doc_command_and_python_examples_run(tmp_path, monkeypatch):
    from test_docs_examples import code_blocks, doc_commands, run_python

    monkeypatch.chdir(tmp_path)
    _fake_run(tmp_path / "crossings-out", "omniscape", "restricted")
    commands = [c for c in doc_commands("report.md") if c[1] == "crossings-out"]
    assert commands, "the doc's first command reports on crossings-out"
    for command in commands:
        result = CliRunner().invoke(app, [*command, "--no-pdf"])
        assert result.exit_code == 0, result.output
    out = tmp_path / commands[0][commands[0].index("--out") + 1]
    assert (out / "report.en.html").is_file() and (out / "report.ru.html").is_file()
    assert len(code_blocks("report.md", "python")) == 2
    security, python_api = run_python("report.md", {"run_folders": [tmp_path / "crossings-out"]})
    assert security["shown"].tolist() == [[-835000.0, 195000.0]]
    assert python_api["result"].audience == "public"


def test_report_job_runs_from_a_toml_file_like_the_command(tmp_path):
    run = _fake_run(tmp_path / "run", "hotspots", "restricted")
    job_file = tmp_path / "report.toml"
    job_file.write_text('job = "report"\nruns = ["run"]\nlanguages = ["en"]\npdf = false\n')
    result = CliRunner().invoke(app, ["run", str(job_file), "--out", str(tmp_path / "via-run")])
    assert result.exit_code == 0, result.output
    command = CliRunner().invoke(
        app, ["report", str(run), "--out", str(tmp_path / "via-cmd"), "--lang", "en", "--no-pdf"]
    )
    assert command.exit_code == 0, command.output
    from crossings.jobs.base import RunRecord

    by_run, by_command = RunRecord.read(tmp_path / "via-run"), RunRecord.read(tmp_path / "via-cmd")
    assert by_run.job == by_command.job == "report"
    assert by_run.sensitivity == by_command.sensitivity == "restricted"
    assert [Path(o.path).name for o in by_run.outputs] == ["report.en.html"]


@pytest.mark.parametrize(
    "manifest, job",
    [
        ({"job": "omniscape", "command": "crossings omniscape run"}, "omniscape"),
        ({"job": "demo", "command": "crossings demo (planner step)"}, "plan"),
        ({"job": "demo", "command": "crossings demo"}, "demo"),
        ({"command": "crossings tracks rank"}, "tracks"),
        ({"command": "crossings connectivity run"}, "connectivity"),
    ],
)
def test_the_job_of_a_manifest(manifest, job):
    from crossings.report.document_runs import infer_job

    assert infer_job(manifest) == job
