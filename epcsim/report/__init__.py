"""The report stage: HTML and Markdown reports and their figures, built from stored results.

Nothing here runs the model: :func:`report_from_results` reads a results folder
(``summary.csv``, ``sizing.json``, the resolved scenario) and writes ``report.html`` (one
self-contained file, figures inlined) and ``report.md`` (figures under ``figures/``).
:mod:`epcsim.report.plots` holds the plotting functions the notebooks use too.
"""

from __future__ import annotations

from epcsim.report.build import (
    FIGURES_DIR,
    HTML_NAME,
    MD_NAME,
    aggregate_runs,
    build_report,
    load_results,
    report_from_results,
    sizing_frames,
    write_report,
)

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
