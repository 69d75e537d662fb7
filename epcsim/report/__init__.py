"""The report stage: HTML and Markdown reports and their figures, built from stored results.

Nothing here runs the model: :func:`report_from_results` reads a results folder
(``summary.csv``, ``sizing.json``, the resolved scenario) and writes ``report.html`` (one
self-contained file, figures inlined) and ``report.md`` (figures under ``figures/``).

- :mod:`epcsim.report.frames`: means over replications with confidence intervals; the sizing
  result as tidy frames.
- :mod:`epcsim.report.format`: how numbers are written (report and terminal alike).
- :mod:`epcsim.report.tables`: tables as data, and their plain-text form for the terminal.
- :mod:`epcsim.report.context`: the report's content as data for the templates.
- :mod:`epcsim.report.build`: renders the Jinja2 templates in ``templates/``, writes and
  reads back results folders.
- :mod:`epcsim.report.plots`: the plotting functions the notebooks use too.

The names below are imported on first use, so ``epcsim.report.tables`` and
``epcsim.report.format`` load without pandas, matplotlib or Jinja2 (the CLI's tables).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from epcsim.report.build import (
        HTML_NAME,
        MD_NAME,
        build_report,
        load_results,
        report_from_results,
        write_report,
    )
    from epcsim.report.context import FIGURES_DIR
    from epcsim.report.frames import aggregate_runs, sizing_frames

_WHERE = {
    "FIGURES_DIR": "epcsim.report.context",
    "HTML_NAME": "epcsim.report.build",
    "MD_NAME": "epcsim.report.build",
    "aggregate_runs": "epcsim.report.frames",
    "build_report": "epcsim.report.build",
    "load_results": "epcsim.report.build",
    "report_from_results": "epcsim.report.build",
    "sizing_frames": "epcsim.report.frames",
    "write_report": "epcsim.report.build",
}

__all__ = [
    "FIGURES_DIR",
    "HTML_NAME",
    "MD_NAME",
    "aggregate_runs",
    "build_report",
    "load_results",
    "report_from_results",
    "sizing_frames",
    "write_report",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'epcsim.report' has no attribute {name!r}")
