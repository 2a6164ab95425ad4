"""Report sections of the indicators, hotspots and Omniscape runs; maps, charts and licences."""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from report_tables import (
    check_tables_equal_csvs,
    csv_rows,
    shown_number,
    table_from,
    tables,
    without_data_uris,
)
from typer.testing import CliRunner

from crossings.cli import app
from crossings.core.grid import GridSpec
from crossings.errors import CrossingsWarning
from crossings.io.raster import write_geotiff
from crossings.io.runlog import RunLog
from crossings.report import document_maps
from crossings.report.document import build_report
from crossings.report.document_context import ANALYSIS_CRS
from crossings.report.document_i18n import language
from crossings.report.licences import licence

OMNISCAPE_DATA = Path(__file__).parent / "data" / "omniscape"
SCENARIOS = ("no_fence", "fence_closed", "fence_mitigated")
#: The opening of the synthetic Omniscape run: (row, col) of its cell, 1 km cells.
OPENING = (13, 20)


# -- run folders ----------------------------------------------------------------------------------


def _native_omniscape_run(folder: Path) -> Path:
    """A native Omniscape run folder with the agreed names: a fence down column 20, one opening.

    Written with the project's GeoTIFF writer and run log (as the job writes them), so the
    section is tested on the files and manifest the job produces.
    """
    grid = GridSpec.from_origin(-840_000.0, 260_000.0, 1_000.0, (40, 40), ANALYSIS_CRS)
    rows, cols = np.mgrid[0:40, 0:40]
    no_fence = 1.0 + np.exp(-(((cols - 20) / 8.0) ** 2))
    closed = no_fence.copy()
    closed[:, 19:22] *= 0.05
    mitigated = closed.copy()
    mitigated[OPENING] = 3.0
    maps = {}
    for name, cumulative in zip(SCENARIOS, (no_fence, closed, mitigated), strict=True):
        maps[f"cum_currmap_{name}.tif"] = cumulative
        maps[f"normalized_cum_currmap_{name}.tif"] = cumulative / no_fence
    maps["cum_currmap_difference_no_fence_minus_fence_closed.tif"] = no_fence - closed
    maps["cum_currmap_difference_fence_mitigated_minus_fence_closed.tif"] = mitigated - closed
    folder.mkdir(parents=True)
    outputs = [write_geotiff(folder / name, grid, values) for name, values in maps.items()]
    failed = folder / "failed_windows.csv"
    failed.write_text(
        "scenario,row,col,reason\nfence_closed,3,4,solver did not converge\n"
        "fence_mitigated,30,31,singular window\n"
    )
    log = RunLog(
        folder,
        command="crossings omniscape run",
        config={"radius_m": 12_000.0, "block_size": 3, "solver": "cg+amg"},
        sensitivity="restricted",
        job="omniscape",
    )
    log.add_outputs([*outputs, failed])
    log.add_figures(
        windows_per_scenario=1600,
        failed_windows={"no_fence": 0, "fence_closed": 1, "fence_mitigated": 1},
        radius_cells=12,
        block_size=3,
    )
    log.finish()
    return folder


@pytest.fixture(scope="module")
def ini_omniscape(tmp_path_factory) -> Path:
    """A tiny INI run through ``crossings omniscape run`` (Omniscape.jl's test1, MIT)."""
    parent = tmp_path_factory.mktemp("omniscape-ini")
    with pytest.warns(CrossingsWarning):  # Omniscape's own: an even block size, a bad solver
        result = CliRunner().invoke(
            app,
            [
                "omniscape",
                "run",
                str(OMNISCAPE_DATA / "input" / "config.ini"),
                "--run-dir",
                str(OMNISCAPE_DATA),
                "--out-dir",
                str(parent),
            ],
        )
    assert result.exit_code == 0, result.output
    return parent / "test1"


@pytest.fixture(scope="module")
def runs(demo_cli_run, tmp_path_factory, ini_omniscape) -> dict[str, Path]:
    result, demo = demo_cli_run
    assert result.exit_code == 0, result.output
    root = tmp_path_factory.mktemp("section-runs")
    for job in ("indicators", "hotspots"):
        shutil.copytree(demo / job, root / job)
    shutil.copy(demo / "fences.gpkg", root)  # the fence drawn under every map
    _native_omniscape_run(root / "omniscape")
    shutil.copytree(ini_omniscape, root / "omniscape-ini")
    return {"root": root, "demo": demo}


@pytest.fixture(scope="module")
def drawn(runs, tmp_path_factory):
    """Reports for the public and the restricted audience, and the rasters each map drew."""
    out, seen = {}, {}
    original = document_maps._read_generalised
    for audience, langs in (("public", ("en", "ru")), ("restricted", ("en",))):
        arrays = seen.setdefault(audience, {})

        def record(path, block, arrays=arrays):
            grid, values = original(path, block)
            arrays[Path(path).name] = values
            return grid, values

        folder = tmp_path_factory.mktemp(f"sections-{audience}")
        document_maps._read_generalised = record
        try:
            build_report([runs["root"]], folder, languages=langs, audience=audience, pdf=False)
        finally:
            document_maps._read_generalised = original
        out[audience] = {
            lang: (folder / f"report.{lang}.html").read_text(encoding="utf-8") for lang in langs
        }
    return out, seen


def _chapter(page: str, job: str, nth: int = 0) -> str:
    found = re.findall(
        rf'<section id="[^"]+" class="chapter" data-job="{job}">(.*?)</section>', page, re.S
    )
    return found[nth]


def _captions(html: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", c).strip()
        for c in re.findall(r"<figcaption>(.*?)</figcaption>", html, re.S)
    ]


# -- indicators -----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_protconn_per_country_table_equals_the_csv(drawn, runs, lang):
    page = drawn[0]["public"][lang]
    assert check_tables_equal_csvs(page, runs["root"], lang) > 150
    table = table_from(page, "indicators/protconn.csv")
    headers = [c["data-column"] for c in table["columns"]]
    assert {"protconn", "protconn_trans", "protconn_trans_land"} <= set(headers)
    rows = csv_rows(runs["root"] / "indicators" / "protconn.csv")
    shown_scenarios = {row[headers.index("scenario")] for row in table["rows"]}
    expected = {"en": "fence closed", "ru": "забор закрыт"}[lang]
    assert expected in shown_scenarios and len(table["rows"]) == len(rows)


def test_protconn_key_figure_and_chart(drawn, runs):
    page = drawn[0]["public"]["en"]
    rows = csv_rows(runs["root"] / "indicators" / "protconn.csv")
    kaz = next(r for r in rows if r["region"] == "KAZ" and r["scenario"] == "fence_closed")
    figure = re.search(r"ProtConn of KAZ \(% of its land\)</th><td>([^<]+)</td>", page)[1]
    shown = re.search(r"fence closed: ([\d.]+)%", figure)[1]
    assert float(shown) == round(float(kaz["protconn"]), 3)
    chapter = _chapter(page, "indicators")
    assert "Protected and connected land per country and fence scenario" in _captions(chapter)
    assert "Охраняемая и связанная территория" in drawn[0]["public"]["ru"]


def test_sections_csv_of_an_indicators_run_is_a_table_equal_to_it(tmp_path, runs):
    folder = tmp_path / "indicators"
    shutil.copytree(runs["root"] / "indicators", folder)
    header = "section_id,region,scenario,length_m,trans_now,trans_closed,trans_opened,drop,gain,"
    lines = [header + "share_percent"]
    for k in range(4):
        lines.append(
            f"KAZ-UZB-{k:02d},KAZ,fence_closed,25000,{0.001 * k},0,0.01,{0.0005 * k},0,{25 * k}"
        )
    (folder / "sections.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    build_report([tmp_path], tmp_path / "out", languages=("ru",), pdf=False)
    page = (tmp_path / "out" / "report.ru.html").read_text(encoding="utf-8")
    table = table_from(page, "indicators/sections.csv")
    assert len(table["rows"]) == 4
    # 15 rows x 7 number columns of protconn.csv, 4 x 4 of sections.csv
    assert check_tables_equal_csvs(page, tmp_path, "ru") == 15 * 7 + 4 * 4


# -- hotspots -------------------------------------------------------------------------------------


def test_hotspot_ranking_equals_the_csv_for_the_restricted_audience(drawn, runs):
    page = drawn[0]["restricted"]["en"]
    assert check_tables_equal_csvs(page, runs["root"], "en") > 150
    table = table_from(page, "hotspots/hotspots.csv")
    columns = [c["data-column"] for c in table["columns"]]
    assert columns[:5] == ["rank", "section_id", "score", "rank_low", "rank_high"]
    assert "fence_closed_m" in columns
    ranked = csv_rows(runs["root"] / "hotspots" / "hotspots.csv")
    assert [row[1] for row in table["rows"]] == [r["section_id"] for r in ranked]


def _fence_lengths(runs) -> set[str]:
    values = {
        round(float(r["fence_closed_m"]))
        for r in csv_rows(runs["root"] / "hotspots" / "hotspots.csv")
    }
    found = set()
    for value in (v for v in values if v >= 1000):
        found |= {f"{value}", f"{value:,}", f"{value:,}".replace(",", "\xa0")}
    return found


def test_public_hotspots_keep_the_ranking_and_withhold_fence_lengths(drawn, runs):
    for lang, page in drawn[0]["public"].items():
        table = table_from(page, "hotspots/hotspots.csv")
        columns = [c["data-column"] for c in table["columns"]]
        assert "score" in columns and "current" in columns
        assert "fence_closed_m" not in columns and "fence_length_m" not in columns
        text = without_data_uris(page)
        assert not [s for s in _fence_lengths(runs) if s in text], lang
    # the restricted report shows them: the search above can find them
    restricted = without_data_uris(drawn[0]["restricted"]["en"])
    assert [s for s in _fence_lengths(runs) if s in restricted]
    data = json.loads(
        re.search(r'id="report-data">(.*?)</script>', drawn[0]["public"]["en"], re.S)[1]
    )
    subjects = {r["subject"]: r for r in data["generalised_or_withheld"]}
    withheld = subjects[
        "fence length, tracked crossings or camera use per border section (hotspots)"
    ]
    assert withheld["action"] == "withheld" and "restricted" in withheld["reason"]
    assert subjects["hotspot border sections on the map"]["precision_published_m"] == 10_000


def test_hotspot_map_is_drawn_at_the_audience_precision(drawn):
    public = _captions(_chapter(drawn[0]["public"]["en"], "hotspots"))
    restricted = _captions(_chapter(drawn[0]["restricted"]["en"], "hotspots"))
    assert any("(sections shown as the 10 km cells they cross)" in c for c in public)
    assert any(c.startswith("Border sections coloured by score") for c in restricted)
    assert not any("cells they cross" in c for c in restricted)
    ru = _captions(_chapter(drawn[0]["public"]["ru"], "hotspots"))
    assert any("ячейками 10 км" in c for c in ru)


# -- Omniscape ------------------------------------------------------------------------------------


def test_native_omniscape_maps_per_scenario_and_differences(drawn, runs):
    chapter = _chapter(drawn[0]["restricted"]["en"], "omniscape")
    captions = _captions(chapter)
    for scenario in ("no fence", "fence closed", "fence with openings"):
        assert f"Cumulative current, {scenario}" in captions
        assert any(c.startswith("Normalised current") and c.endswith(scenario) for c in captions)
    assert "Current the openings give back (with openings minus fence closed)" in captions
    assert "Current the closed fence takes away (no fence minus fence closed)" in captions
    drawn_files = drawn[1]["restricted"]
    assert {f"cum_currmap_{s}.tif" for s in SCENARIOS} <= set(drawn_files)


def test_native_omniscape_current_kept_equals_the_maps(drawn, runs):
    from crossings.io.raster import read_raster

    folder = runs["root"] / "omniscape"
    total = {
        s: float(np.nansum(read_raster(folder / f"cum_currmap_{s}.tif")[1])) for s in SCENARIOS
    }
    page = drawn[0]["public"]["en"]
    shown = re.search(r"Total current kept, fence closed</th><td>([^<]+)</td>", page)[1]
    assert shown_number(shown, "en") == round(100 * total["fence_closed"] / total["no_fence"], 1)
    assert "1,600 windows, 2 failed" in page and "12 cells, blocks of 3 cells" in page
    failed = table_from(page, "omniscape/failed_windows.csv")
    assert [row[:3] for row in failed["rows"]] == [
        ["fence closed", "3", "4"],
        ["fence with openings", "30", "31"],
    ]


def test_public_omniscape_maps_do_not_show_where_the_opening_is(drawn):
    """The difference map peaks at the opening: published, it is one value per 10 km block."""
    name = "cum_currmap_difference_fence_mitigated_minus_fence_closed.tif"
    public, restricted = drawn[1]["public"][name], drawn[1]["restricted"][name]
    assert np.unravel_index(np.nanargmax(restricted), restricted.shape) == OPENING
    block = public[10:20, 20:30]
    assert np.allclose(block, block[0, 0])  # the opening's block is uniform
    assert public.max() < restricted.max() / 10
    captions = _captions(_chapter(drawn[0]["public"]["en"], "omniscape"))
    assert all("(averaged over 10 km cells)" in c for c in captions)
    data = json.loads(
        re.search(r'id="report-data">(.*?)</script>', drawn[0]["public"]["en"], re.S)[1]
    )
    entry = next(e for e in data["generalised_or_withheld"] if e["subject"].startswith("Omniscape"))
    assert entry["count"] == 8 and entry["precision_published_m"] == 10_000


def test_ini_omniscape_run_keeps_omniscape_names(drawn, ini_omniscape):
    assert {"cum_currmap.tif", "normalized_cum_currmap.tif", "flow_potential.tif"} <= {
        p.name for p in ini_omniscape.iterdir()
    }
    manifest = json.loads((ini_omniscape / "manifest.json").read_text())
    page = drawn[0]["restricted"]["en"]
    chapters = re.findall(r'data-job="omniscape">(.*?)</section>', page, re.S)
    ini = next(c for c in chapters if "Flow potential" in c)
    assert _captions(ini) == [
        "Cumulative current",
        "Normalised current (cumulative over flow potential)",
        "Flow potential (current with a resistance of 1 everywhere)",
    ]
    windows = manifest["figures"]["windows"]
    assert f"{windows} windows, 0 failed" in page


def test_an_omniscape_run_missing_some_maps_still_reports(tmp_path, ini_omniscape):
    folder = tmp_path / "partial"
    shutil.copytree(ini_omniscape, folder)
    (folder / "normalized_cum_currmap.tif").unlink()
    (folder / "flow_potential.tif").unlink()
    build_report([folder], tmp_path / "out", languages=("ru",), pdf=False)
    page = (tmp_path / "out" / "report.ru.html").read_text(encoding="utf-8")
    # public (the run's level): no CRS, so cells of unknown size are averaged over the raster
    assert _captions(_chapter(page, "omniscape")) == [
        "Суммарный ток (усреднено по блокам 30 × 30 ячеек)"
    ]


# -- overview map, charts, sizes ------------------------------------------------------------------


def _png_sizes(page: str) -> list[tuple[int, int, int]]:
    import base64

    sizes = []
    for blob in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page):
        data = base64.b64decode(blob)
        width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
        sizes.append((len(data), width, height))
    return sizes


def test_landscape_overview_map_and_images_are_small(drawn):
    page = drawn[0]["public"]["en"]
    overview = re.search(
        r'<figure class="summary-map overview">.*?<figcaption>(.*?)</figcaption>', page, re.S
    )
    assert overview[1].startswith("The landscape: resistance to movement, borders and the fence")
    assert "(the fence as the 10 km cells it crosses)" in overview[1]
    sizes = _png_sizes(page)
    assert len(sizes) >= 15
    assert all(size < 250_000 and width <= 1000 and height <= 800 for size, width, height in sizes)


# -- licences -------------------------------------------------------------------------------------


def test_licences_keep_identifier_and_url_and_translate_name():
    text = "CC-BY-4.0 (https://creativecommons.org/licenses/by/4.0/)"
    with language("ru"):
        shown = licence(text)
        unknown = licence("Custom terms of the Ministry, see the agreement")
    assert shown.identifier == "CC-BY-4.0"
    assert shown.url == "https://creativecommons.org/licenses/by/4.0/"
    assert "указанием авторства" in shown.name and not shown.english_only
    assert unknown.english_only and unknown.name.startswith("Custom terms")
    with language("en"):
        assert licence("public domain").name == "public domain"


def test_russian_sources_show_translated_licences(drawn):
    ru = drawn[0]["public"]["ru"]
    en = drawn[0]["public"]["en"]
    sources = re.search(r'<section id="sources".*?</section>', ru, re.S)[0]
    assert "общественное достояние" in sources and "Политика данных NASA LP DAAC" in sources
    assert "public domain" not in sources and "no use restrictions" not in sources
    assert "только на английском" in sources  # the binding texts are English originals
    assert "public domain" in re.search(r'<section id="sources".*?</section>', en, re.S)[0]


def test_a_licence_without_translation_is_marked_english_only(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    layer = data / "layer.csv"
    layer.write_text("a\n1\n")
    sources = [
        {"layer": "land cover", "source": "Ministry survey", "licence": "Terms of the owner"}
    ]
    (data / "metadata.json").write_text(json.dumps({"sources": sources}))
    run = tmp_path / "run"
    log = RunLog(run, command="crossings something run", config={}, job="something")
    log.add_inputs([layer])
    log.finish()
    build_report([run], tmp_path / "out", languages=("ru",), pdf=False)
    page = (tmp_path / "out" / "report.ru.html").read_text(encoding="utf-8")
    sources_html = re.search(r'<section id="sources".*?</section>', page, re.S)[0]
    assert "растительный покров" in sources_html and "Terms of the owner" in sources_html
    assert "(исходный текст, только на английском)" in sources_html
    assert len(tables(sources_html)) == 2
