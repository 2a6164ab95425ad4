"""One report from any set of run folders: a self-contained HTML file and an A4 PDF, per language.

The report is made for one audience (a sensitivity level): every section applies the rules of
:mod:`crossings.security` for it, and the report lists what was generalised or withheld and why.
The HTML embeds its images, styles and fonts as data URIs, so it opens from a USB stick with no
network; the PDF (WeasyPrint) has page numbers and a table of contents.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import html
import io
import json
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import tomli_w

from crossings import __version__
from crossings.errors import MissingDependencyError
from crossings.io.atomic import write_bytes_atomic, write_text_atomic
from crossings.report import document_i18n as i18n
from crossings.report.document_context import ReportContext
from crossings.report.document_runs import Run, discover_runs
from crossings.report.licences import layer_name, licence
from crossings.report.sections import ODMAP, Figure, Section, Table, section_module
from crossings.security import check_level, most_restrictive

__all__ = ["ReportResult", "build_report", "render_html", "pdf_available", "output_names"]

_TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class ReportResult:
    """What :func:`build_report` wrote.

    Attributes
    ----------
    files : tuple of Path
        HTML (and PDF) files, per language.
    audience : str
    languages : tuple of str
    runs : int
        Run folders the report covers.
    pdf_skipped : str
        Why no PDF was written (empty when it was).
    seconds : float
    """

    out_dir: Path
    files: tuple[Path, ...]
    audience: str
    languages: tuple[str, ...]
    runs: int
    pdf_skipped: str
    seconds: float


def output_names(lang: str) -> tuple[str, str]:
    """``report.<lang>.html`` and ``report.<lang>.pdf``."""
    return f"report.{lang}.html", f"report.{lang}.pdf"


_NO_PANGO_FIX = "apt-get install libpango-1.0-0 libpangoft2-1.0-0"


def _import_weasyprint():
    """WeasyPrint, or MissingDependencyError saying why not and what to install (one line)."""
    # Without Pango, WeasyPrint prints a multi-line banner to stdout before raising: keep it out
    # of the command's output, the one-line reason says it all.
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import weasyprint
    except ImportError:
        raise MissingDependencyError(
            "WeasyPrint is not installed (pip install 'crossings[report]')"
        ) from None
    except OSError as exc:  # Pango missing: WeasyPrint raises OSError on import
        raise MissingDependencyError(
            f"WeasyPrint cannot load Pango ({str(exc).split(':')[0]}); to write PDFs: "
            + _NO_PANGO_FIX
        ) from None
    return weasyprint


def pdf_available() -> str:
    """Empty when WeasyPrint can write PDFs here, else why not and the fix (one line)."""
    try:
        _import_weasyprint()
    except MissingDependencyError as exc:
        return str(exc)
    return ""


def build_report(
    run_dirs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    languages: Sequence[str] = ("en", "ru"),
    audience: str | None = None,
    pdf: bool = True,
    progress=None,
) -> ReportResult:
    """Write the report of ``run_dirs`` into ``out_dir`` for ``audience`` in ``languages``.

    Parameters
    ----------
    run_dirs : paths
        Run folders (each with ``manifest.json``; their direct subfolders are searched too).
    out_dir : path
    languages : sequence of str
        Languages with a catalogue (``crossings.report.document_i18n.available_languages()``).
    audience : str, optional
        ``public``, ``restricted`` or ``confidential``; default the most restrictive level among
        the runs' manifests.
    pdf : bool
        Also write the PDF (skipped, with the reason in the result, where WeasyPrint is missing).
    progress : callable, optional
        ``progress(stage, done, total)``.
    """
    started = time.perf_counter()
    runs = discover_runs(run_dirs)
    audience = check_level(audience) if audience else most_restrictive(r.level for r in runs)
    languages = tuple(i18n.check_language(lang) for lang in languages)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    skipped = "" if pdf else "not asked for"
    if pdf and not skipped:
        skipped = pdf_available()
    files: list[Path] = []
    for done, lang in enumerate(languages):
        if progress is not None:
            progress(f"report ({lang})", done, len(languages))
        page = render_html(runs, audience, lang)
        html_name, pdf_name = output_names(lang)
        files.append(write_text_atomic(out / html_name, page))
        if not skipped:
            files.append(write_bytes_atomic(out / pdf_name, _pdf(page)))
    if progress is not None:
        progress("report", len(languages), len(languages))
    return ReportResult(
        out, tuple(files), audience, languages, len(runs), skipped, time.perf_counter() - started
    )


def _pdf(page: str) -> bytes:
    return _import_weasyprint().HTML(string=page, base_url=None).write_pdf()


# -- rendering ----------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(
        i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext
    )
    env.filters["data_uri"] = lambda png: "data:image/png;base64," + base64.b64encode(png).decode()
    env.tests["table"] = lambda block: isinstance(block, Table)
    env.tests["figure"] = lambda block: isinstance(block, Figure)
    return env


def render_html(runs: list[Run], audience: str, lang: str) -> str:
    """The report of ``runs`` for ``audience`` in ``lang``, as one self-contained HTML page."""
    with i18n.language(lang):
        ctx = ReportContext(audience, runs)
        sections = [_build_section(run, ctx, index) for index, run in enumerate(runs)]
        overview = _landscape_figure(ctx)  # before the ledger is read: it may add to it
        template = _environment().get_template("report.html.j2")
        today = dt.datetime.now(dt.timezone.utc)
        page = template.render(
            lang=lang,
            audience=audience,
            audience_label=_audience_label(audience),
            date=i18n.date(today),
            version=__version__,
            sections=sections,
            ledger=[_translated_entry(e) for e in ctx.ledger.entries],
            sources=_data_sources(runs),
            reproducibility=[_reproducibility(run) for run in runs],
            odmap=[(key, i18n.gettext(title)) for key, title in ODMAP],
            overview=overview,
            embedded_json=_embedded_json(audience, lang, ctx),
            css="",
        )
    return _with_styles(page)


def _build_section(run: Run, ctx: ReportContext, index: int) -> Section:
    section = section_module(run.job).build(run, ctx)
    section.anchor = f"s{index + 1}-{re.sub(r'[^a-z0-9]+', '-', run.job.lower())}"
    return section


def _resistance_raster(runs: list[Run]) -> Path | None:
    """The landscape's resistance GeoTIFF: an input of a run, or one beside a run folder."""
    for run in runs:
        for record in run.manifest.get("inputs", []):
            path = Path(record.get("path", ""))
            if path.suffix == ".tif" and "resist" in path.name and path.is_file():
                return path
    for run in runs:
        for folder in (run.folder, run.folder.parent):
            if (folder / "resistance.tif").is_file():
                return folder / "resistance.tif"
    return None


def _landscape_figure(ctx: ReportContext) -> Figure | None:
    from crossings.report.document_maps import raster_figure

    path = _resistance_raster(ctx.runs)
    if path is None:
        return None
    basemap = ctx.basemap()
    png = raster_figure(path, block=1, basemap=basemap, cmap="YlOrBr")
    text = i18n.gettext("The landscape: resistance to movement, borders and the fence")
    if basemap.fence_cells is not None:
        text += " " + i18n.gettext("(the fence as the %(km)s km cells it crosses)") % {
            "km": i18n.number(basemap.fence_grid_m / 1000)
        }
    return Figure(text, png, text, i18n.gettext("Resistance to movement (log scale)"))


def _audience_label(audience: str) -> str:
    labels = {
        "public": i18n.N_("Public"),
        "restricted": i18n.N_("Restricted: agencies of the countries concerned"),
        "confidential": i18n.N_("Confidential: data owner only"),
    }
    return i18n.gettext(labels[audience])


def _translated_entry(entry) -> dict[str, Any]:
    actions = {"generalised": i18n.N_("generalised"), "withheld": i18n.N_("withheld")}
    published = (
        i18n.gettext("%(km)s km grid")
        % {"km": i18n.number(entry.grid_m / 1000, 1 if entry.grid_m < 1000 else 0)}
        if entry.grid_m
        else i18n.gettext("not published")
    )
    return {
        "subject": i18n.gettext(entry.subject),
        "action": i18n.gettext(actions[entry.action]),
        "count": i18n.number(entry.count),
        "provided": i18n.gettext("exact"),
        "published": published,
        "reason": i18n.gettext(entry.reason),
    }


def _licences_beside(path: Path) -> list[dict[str, str]]:
    metadata = path.parent / "metadata.json"
    if not metadata.is_file():
        return []
    try:
        sources = json.loads(metadata.read_text(encoding="utf-8")).get("sources", [])
    except (OSError, json.JSONDecodeError, AttributeError):
        return []
    return [s for s in sources if isinstance(s, dict)]


def _data_sources(runs: list[Run]) -> dict[str, Any]:
    files, seen, sources = [], set(), []
    for run in runs:
        for record in run.manifest.get("inputs", []):
            key = record.get("sha256")
            if key in seen:
                continue
            seen.add(key)
            path = Path(record.get("path", ""))
            files.append(
                {"name": path.name, "bytes": i18n.number(record.get("bytes", 0)), "sha256": key}
            )
            for source in _licences_beside(path):
                if source not in sources:
                    sources.append(source)
    shown = [
        {
            "layer": layer_name(str(source.get("layer", ""))),
            "source": str(source.get("source", "")),
            "licence": licence(str(source.get("licence", ""))),
        }
        for source in sources
    ]
    english = i18n.current_language() == "en"
    return {
        "files": files,
        "sources": shown,
        "english_only": not english and any(s["licence"].english_only for s in shown),
        "translated": not english and bool(shown),
    }


def _reproducibility(run: Run) -> dict[str, Any]:
    started = run.manifest.get("started", "")
    try:
        started = i18n.datetime(dt.datetime.fromisoformat(started))
    except (TypeError, ValueError):
        pass
    return {
        "label": run.job,
        "folder": run.relative(run.folder) if run.manifest_path else run.folder.name,
        "command": run.manifest.get("command", ""),
        "version": run.manifest.get("crossings_version", ""),
        "started": started,
        "level": run.level,
        "config": tomli_w.dumps(run.config) if run.config else "",
    }


def _embedded_json(audience: str, lang: str, ctx: ReportContext) -> str:
    data = {
        "crossings_version": __version__,
        "audience": audience,
        "language": lang,
        "generalised_or_withheld": ctx.ledger.to_records(),
    }
    # Escape "<" so the JSON cannot close the script element it sits in.
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")


# -- styles and fonts ---------------------------------------------------------------------------

_FONT_FILES = {("normal", "normal"): "DejaVuSans.ttf", ("bold", "normal"): "DejaVuSans-Bold.ttf"}


def _font_dir() -> Path:
    """DejaVu fonts as matplotlib ships them (Latin and Cyrillic; no system fonts needed)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _subset_font(path: Path, text: str) -> bytes:
    import logging

    from fontTools import subset

    # fontTools logs every table it drops (e.g. FFTM) at WARNING: not the user's concern.
    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)

    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    font = subset.load_font(str(path), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    buffer = io.BytesIO()
    subset.save_font(font, buffer, options)
    return buffer.getvalue()


def _font_faces(page: str) -> str:
    # Only the characters the page uses: the fonts then add tens of kilobytes, not megabytes.
    text = html.unescape(re.sub(r"<[^>]+>", " ", page)) + "0123456789–—°±%()“”«».,:;-"
    faces = []
    for (weight, style), name in _FONT_FILES.items():
        data = base64.b64encode(_subset_font(_font_dir() / name, text)).decode()
        faces.append(
            "@font-face { font-family: 'Report Sans'; font-weight: %s; font-style: %s; "
            "src: url(data:font/ttf;base64,%s) format('truetype'); }" % (weight, style, data)
        )
    return "\n".join(faces)


def _with_styles(page: str) -> str:
    css = (_TEMPLATES / "report.css").read_text(encoding="utf-8")
    style = f"<style>\n{_font_faces(page)}\n{css}\n</style>"
    return page.replace("<!--styles-->", style, 1)
