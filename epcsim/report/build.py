"""The study report: one self-contained HTML file and a Markdown twin, from stored results.

A report shows what was simulated and under which assumptions (every cost parameter with its
value, range, source and confidence; every VM size with its price and sources), throughput
and latency per VM size with 95 % confidence intervals over replications, latency against
load, where the time goes, the EPC knee with each size's EPC marked, the cost per million
operations, and, when the scenario has service-level objectives, the recommendation with its
reasons, the sensitivity of the decision and the what-ifs (:mod:`epcsim.sizing`).

The content is computed in :mod:`epcsim.report.context` (data only) and laid out by the
Jinja2 templates in ``epcsim/report/templates/`` (``report.html.j2``, ``report.md.j2`` and
their macros); HTML escaping is Jinja2's autoescape. It is built from frames and the stored
sizing result only; it never runs the model, so ``epcsim report RESULTS_DIR`` rebuilds the
same bytes from the files ``epcsim run`` stored. ``report.html`` embeds its plots as base64
PNG and has no external CSS, scripts, fonts or links, so it opens offline. ``report.md``
carries the same text and tables and links the plots, written as PNG files into ``figures/``
beside it. Every file is written atomically (temporary file in the same folder, then rename)
and only inside the results folder. Nothing in the output depends on the clock, so identical
inputs give identical files.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import yaml

from epcsim.errors import EpcsimError
from epcsim.report.context import FIGURES_DIR, report_context
from epcsim.report.tables import markdown_cell
from epcsim.scenario.loader import read_scenario_file
from epcsim.sizing import SizingResult

HTML_NAME = "report.html"
MD_NAME = "report.md"


# --------------------------------------------------------------------------- writing


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; reports are meant to be shared
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("epcsim", "report/templates"),
        # The templates are named *.html.j2: select_autoescape matches the name's ending.
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
        lstrip_blocks=True)
    env.filters["md_cell"] = markdown_cell
    return env


def build_report(summary: pd.DataFrame, sizing: SizingResult | None,
                 scenario_info: Mapping[str, Any], mrc: pd.DataFrame | None = None
                 ) -> tuple[str, str, list[tuple[str, bytes]]]:
    """The report as (HTML text, Markdown text, [(figure name, PNG bytes)]); no I/O."""
    context, figures = report_context(summary, sizing, scenario_info, mrc)
    env = _environment()
    page = env.get_template("report.html.j2").render(context)
    md = env.get_template("report.md.j2").render(context).rstrip("\n") + "\n"
    return page, md, [(f.name, f.png) for f in figures]


def write_report(results_dir: str | os.PathLike[str], summary: pd.DataFrame,
                 sizing: SizingResult | None, scenario_info: Mapping[str, Any],
                 mrc: pd.DataFrame | None = None) -> tuple[Path, Path]:
    """Write ``report.html``, ``report.md`` and ``figures/*.png`` into ``results_dir``.

    ``summary``: the per-run summary frame (or an aggregated one with ``n_replications``);
    ``sizing``: the sizing result or None; ``scenario_info``: optional keys ``name``,
    ``description``, ``scenario`` (the resolved scenario as a dict), ``costs`` (cost
    parameter values used, by name; default: ``scenario["costs"]``), ``plan`` (the study
    plan's description), ``source`` (scenario file), ``provenance`` (dict); ``mrc``: optional
    miss-ratio curve frame (``capacity_mib`` or ``capacity_pages``, ``miss_ratio``, optional
    ``label``). Returns the paths of the HTML and Markdown files.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise EpcsimError(f"{root}: not a results folder (it does not exist)")
    page, md, figures = build_report(summary, sizing, scenario_info, mrc)
    fig_dir = root / FIGURES_DIR
    fig_dir.mkdir(exist_ok=True)
    for name, png in figures:
        _atomic_write(fig_dir / f"{name}.png", png)
    html_path, md_path = root / HTML_NAME, root / MD_NAME
    _atomic_write(md_path, md.encode("utf-8"))
    _atomic_write(html_path, page.encode("utf-8"))
    return html_path, md_path


# --------------------------------------------------------------------------- reading back


def load_results(results_dir: str | os.PathLike[str]) -> tuple[
        pd.DataFrame, SizingResult | None, dict[str, Any], pd.DataFrame | None]:
    """Read what ``epcsim run`` stored: ``summary.csv`` (required), ``sizing.json``,
    ``scenario.resolved.yaml`` (or ``.json``), ``mrc.csv`` and ``provenance.json`` (optional).

    Returns ``(summary, sizing, scenario_info, mrc)`` for :func:`write_report`. Raises
    :class:`EpcsimError` when the folder or its summary is missing or unreadable.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise EpcsimError(f"{root}: no such results folder (expected the folder that "
                          "`epcsim run` wrote, e.g. results/quickstart)")
    summary_path = root / "summary.csv"
    if not summary_path.is_file():
        raise EpcsimError(f"{summary_path}: missing; {root} does not look like a finished "
                          "study (run `epcsim run SCENARIO` first)")
    try:
        summary = pd.read_csv(summary_path, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EpcsimError(f"{summary_path}: not a readable CSV file ({exc})") from exc
    if "vm_size" not in summary:
        raise EpcsimError(f"{summary_path}: expected a 'vm_size' column, found columns "
                          f"{', '.join(map(str, summary.columns[:10]))}")
    sizing = None
    sizing_path = root / "sizing.json"
    if sizing_path.is_file():
        try:
            sizing = SizingResult.from_json(sizing_path.read_text("utf-8"))
        except EpcsimError as exc:
            raise EpcsimError(f"{sizing_path}: {exc}") from exc
    info: dict[str, Any] = {}
    for name in ("scenario.resolved.yaml", "scenario.resolved.json"):
        path = root / name
        if path.is_file():
            try:
                # YAML through the bounded loader: a results folder is input too (alias bombs)
                scen = json.loads(path.read_text("utf-8")) if name.endswith(".json") \
                    else read_scenario_file(path)[0]
            except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise EpcsimError(f"{path}: not readable ({exc})") from exc
            if isinstance(scen, dict):
                info["scenario"] = scen
                info["name"] = scen.get("name")
            break
    prov_path = root / "provenance.json"
    if prov_path.is_file():
        try:
            prov = json.loads(prov_path.read_text("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EpcsimError(f"{prov_path}: not valid JSON ({exc})") from exc
        if isinstance(prov, dict):
            info["provenance"] = prov
            for key in ("plan", "source"):
                if key in prov and key not in info:
                    info[key] = prov[key]
    if not info.get("name"):
        info["name"] = root.name
    mrc = None
    mrc_path = root / "mrc.csv"
    if mrc_path.is_file():
        try:
            mrc = pd.read_csv(mrc_path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise EpcsimError(f"{mrc_path}: not a readable CSV file ({exc})") from exc
    return summary, sizing, info, mrc


def report_from_results(results_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Rebuild the report from the files in ``results_dir`` (see :func:`load_results`).

    ``epcsim run`` should call this after storing its files, and ``epcsim report`` calls it
    too, so both give byte-identical reports.
    """
    return write_report(results_dir, *load_results(results_dir))
