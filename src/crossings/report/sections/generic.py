"""Any job without a section of its own: what ran, with which parameters, and what it wrote."""

from __future__ import annotations

from crossings.report import document_i18n as i18n
from crossings.report.document_i18n import gettext as _
from crossings.report.sections import Column, Section, Table

JOB = "*"


def flatten(config: dict, prefix: str = "") -> list[tuple[str, str]]:
    """``run.toml`` as ``(dotted key, value)`` pairs."""
    pairs: list[tuple[str, str]] = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            pairs.extend(flatten(value, name + "."))
        else:
            pairs.append((name, str(value)))
    return pairs


def parameters_table(run) -> Table:
    return Table(
        _("Parameters (run.toml)"),
        (Column("key", _("Parameter")), Column("value", _("Value"))),
        tuple(flatten(run.config)),
        "run.toml",
        per_row=False,
    )


def outputs_table(run) -> Table:
    rows = tuple(
        (record["path"].rsplit("/", 1)[-1], i18n.number(record["bytes"]), record["sha256"][:16])
        for record in run.manifest.get("outputs", [])
    )
    return Table(
        _("Outputs (manifest.json)"),
        (
            Column("path", _("File")),
            Column("bytes", _("Bytes"), "integer"),
            Column("sha256", _("SHA-256 (first 16 digits)")),
        ),
        rows,
        "manifest.json",
        per_row=False,
    )


def build(run, ctx) -> Section:
    section = Section(
        run.job,
        _("Run of job “%(job)s”") % {"job": run.job},
        _("What the run “%(job)s” computed (no dedicated section exists for this job yet).")
        % {"job": run.job},
    )
    section.key_figures.append((_("Command"), run.manifest.get("command", "–")))
    for key, value in sorted(run.manifest.get("figures", {}).items()):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            section.key_figures.append(
                (key, i18n.number(value, 0 if isinstance(value, int) else 3))
            )
    if run.config:
        section.blocks.append(parameters_table(run))
    section.blocks.append(outputs_table(run))
    return section
