"""docs/service.md: its commands run, and its policy table is the service's default policy."""

from __future__ import annotations

import re

from service_support import write_run
from test_docs_examples import doc_commands, invoke, section

from crossings.service.policy import DEFAULT_POLICY


def test_service_doc_commands_run(tmp_path):
    write_run(tmp_path / "run")
    db = f"sqlite:///{tmp_path / 'service.db'}"
    commands = doc_commands(
        "service.md", names={"RUN_DIR": str(tmp_path / "run"), "sqlite:///service.db": db}
    )
    assert [c[:2] for c in commands] == [
        ["serve", "adduser"],
        ["serve", "import"],
        ["serve", "--db"],
    ]
    adduser, publish, _start = commands  # starting the server is left to the browser tests
    from typer.testing import CliRunner

    from crossings.cli import app

    result = CliRunner().invoke(app, adduser, input="a long enough passphrase\n")
    assert result.exit_code == 0, result.output
    assert "layer fences: 4 features" in invoke(publish).output


CELL = {
    "exact": ("exact", 10.0),
    "10 km": ("generalised", 10.0),
    "1 km": ("generalised", 1.0),
    "withheld": ("withheld", 10.0),
}


def test_policy_table_in_the_doc_is_the_default_policy():
    rows = re.findall(
        r"^\| (public|restricted|confidential)([^|]*)\|(.*)\|$",
        section("service.md", "What each role sees"),
        re.M,
    )
    roles = ["border_agency", "nature_agency", "scientist", "public"]
    assert len(rows) == 5
    for level, where, cells in rows:
        for role, cell in zip(roles, cells.split("|"), strict=True):
            inside, outside, km = DEFAULT_POLICY[("*", level, role)]
            treatment = outside if "elsewhere" in where else inside
            want = CELL[cell.strip()]
            assert treatment == want[0] and (treatment != "generalised" or km == want[1]), (
                level,
                where,
                role,
            )
