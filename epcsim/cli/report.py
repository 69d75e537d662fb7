"""``epcsim report RESULTS_DIR``: rebuild report.html and report.md from stored results.

Reads what ``epcsim run`` stored in the folder (``summary.csv``, and when present
``sizing.json``, ``scenario.resolved.yaml`` or ``.json``, ``mrc.csv``, ``provenance.json``)
and rewrites the report without running the model. See :mod:`epcsim.report`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="rebuild a study's report from its stored results",
                       description="Rebuild report.html and report.md in RESULTS_DIR from the "
                                   "results `epcsim run` stored there, without simulating.")
    p.add_argument("results_dir", metavar="RESULTS_DIR",
                   help="a study's results folder, e.g. results/quickstart")
    p.set_defaults(func=main)


def check_same_study(results: str) -> None:
    """Raise :class:`EpcsimError` when the folder's ``sizing.json`` records the SHA-256 of
    another ``summary.csv`` than the one beside it: a report must never mix two studies."""
    import hashlib
    import json
    from pathlib import Path

    from epcsim.errors import EpcsimError

    out = Path(results)
    try:
        recorded = json.loads((out / "sizing.json").read_text("utf-8")).get("summary_sha256")
        summary = hashlib.sha256((out / "summary.csv").read_bytes()).hexdigest()
    except (OSError, ValueError, AttributeError):
        return  # absent or unreadable: the report says so itself
    if recorded is not None and recorded != summary:
        raise EpcsimError(f"{out / 'sizing.json'}: belongs to another study (it records a "
                          "different summary.csv); rerun `epcsim run` on the scenario, or "
                          "delete sizing.json to report the runs alone")


def main(args: argparse.Namespace) -> int:
    from epcsim.report import report_from_results  # pandas and matplotlib: only when used
    from epcsim.study.store import check_results_folder

    root = Path(args.results_dir)
    if (root / "summary.csv").exists() or (root / "summary.csv").is_symlink():
        # (without a summary, report_from_results says what is missing, writing nothing)
        check_results_folder(root)  # never write a report among a user's own files
    check_same_study(args.results_dir)  # never a report that mixes two studies
    html_path, md_path = report_from_results(args.results_dir)
    print(f"report: {html_path}")
    print(f"        {md_path}")
    return 0
