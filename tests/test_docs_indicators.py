"""docs/indicators.md and docs/hotspots.md: their jobs run and give the tables they show."""

from __future__ import annotations

import re
import shlex
import shutil
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crossings.cli import app
from crossings.jobs import hotspots, indicators
from crossings.landscape import demo_path

DOCS = Path(__file__).resolve().parents[1] / "docs"
runner = CliRunner()


def blocks(doc: str, lang: str) -> list[str]:
    text = (DOCS / doc).read_text(encoding="utf-8")
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.S | re.M)


def doc_table(doc: str, after: str) -> list[list[str]]:
    """Rows of the first Markdown table after the text ``after``."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    rows = []
    for line in text[text.index(after) :].splitlines():
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # header and rule


def run_doc_job(doc: str, toml_text: str, folder: Path) -> Path:
    """Write the doc's job beside copies of the demo files; run the doc's command on it."""
    for name in ("layers.gpkg", "resistance.tif", "states.gpkg"):
        shutil.copy(demo_path(name), folder / name)
    (folder / "JOB.toml").write_text(toml_text, encoding="utf-8")
    (command,) = [
        line for block in blocks(doc, "sh") for line in block.splitlines() if "crossings" in line
    ]
    words = [w for w in shlex.split(command.replace("[--out DIR]", "--out DIR"))[1:]]
    words = [str(folder / "JOB.toml") if w == "JOB.toml" else w for w in words]
    words = [str(folder / "out") if w == "DIR" else w for w in words]
    result = runner.invoke(app, words)
    assert result.exit_code == 0, result.output
    return folder / "out"


def without_job(text: str) -> dict:
    data = tomllib.loads(text)
    assert data.pop("job") in ("indicators", "hotspots")
    return data


def test_indicators_doc_job_is_the_demo_job_and_gives_the_doc_table(tmp_path):
    demo_job, sections_job = blocks("indicators.md", "toml")
    assert without_job(demo_job) == indicators.DEMO_JOB
    out = run_doc_job("indicators.md", demo_job, tmp_path)
    table = pd.read_csv(out / "protconn.csv").set_index(["region", "scenario"])
    rows = doc_table("indicators.md", "| region | scenario |")
    assert len(rows) == 4
    for region, scenario, prot, protconn, trans_land, trans in rows:
        got = table.loc[(region, scenario)]
        assert f"{got['prot']:.4f}" == prot
        assert f"{got['protconn']:.4f}" == protconn
        assert f"{got['protconn_trans_land']:.4f}" == trans_land
        assert f"{got['protconn_trans']:.2f}" == trans
    for region in ("KGZ", "TJK", "TKM"):
        assert table.loc[(region, "fence_closed")]["prot"] == 0


def test_indicators_doc_sections_example_says_what_it_gives(tmp_path):
    _, sections_job = blocks("indicators.md", "toml")
    out = run_doc_job("indicators.md", sections_job, tmp_path)
    shares = pd.read_csv(out / "sections.csv")
    kaz = shares[shares["region"] == "KAZ"].set_index(["scenario", "section_id"])
    free = kaz.loc["no_fence"]
    assert len(free) == 4
    assert free.loc["KAZ-UZB-04", "share_percent"] == pytest.approx(100.0)
    assert (free.drop("KAZ-UZB-04")["share_percent"] == 0).all()
    closed = kaz.loc["fence_closed"]
    assert (closed["trans_now"] == 0).all()
    assert closed.loc["KAZ-UZB-04", "gain"] == pytest.approx(free.loc["KAZ-UZB-04", "trans_now"])
    importance = pd.read_csv(out / "pa_importance.csv")
    foreign = importance[(importance["region"] == "KAZ") & (importance["kind"] == "foreign")]
    assert (foreign["dpc_connector"] > 0).all() and (foreign["dpc_flux"] == 0).all()


def test_indicators_doc_python_example_finds_a_trans_part(capsys):
    (code,) = blocks("indicators.md", "python")
    scope: dict = {}
    exec(compile(code, "docs/indicators.md", "exec"), scope)  # noqa: S102 - the doc's example
    assert scope["result"].protconn_trans > 0
    assert capsys.readouterr().out.split()[2] == "1"


def hotspot_rows(out: Path) -> list[list[str]]:
    table = pd.read_csv(out / "hotspots.csv")
    return [
        [str(r.rank), r.section_id, f"{r.score:.2f}", f"{r.rank_low}-{r.rank_high}"]
        for r in table.head(5).itertuples()
    ]


def test_hotspots_doc_job_is_the_demo_job_and_weights_move_the_ranking(tmp_path):
    job, weights = blocks("hotspots.md", "toml")
    assert without_job(job) == hotspots.DEMO_JOB
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    out = run_doc_job("hotspots.md", job, tmp_path / "a")
    assert hotspot_rows(out) == doc_table("hotspots.md", "With every criterion at weight 1")
    out = run_doc_job("hotspots.md", job + "\n" + weights, tmp_path / "b")
    assert hotspot_rows(out) == doc_table("hotspots.md", "lifts `KAZ-UZB-20`")
    assert (out / "hotspots.gpkg").is_file() and (out / "hotspots.png").is_file()


def test_hotspots_doc_python_example_runs():
    (code,) = blocks("hotspots.md", "python")
    scope: dict = {}
    exec(compile(code, "docs/hotspots.md", "exec"), scope)  # noqa: S102 - the doc's example
    assert scope["result"].rank.tolist() == [1, 2, 3]
