"""``epcsim validate``: predict the published measurements and score the model.

Runs the scenarios in ``validation/`` against ``validation/published-measurements.csv``
(see :mod:`epcsim.validation` and docs/validation.md) and prints every point (measured,
predicted, error) and a summary per series (target, achieved, pass/miss). ``--json`` prints
the same as JSON; ``--write-docs`` regenerates docs/validation.md's table and
docs/validation.png. Exit status 0 whether or not targets are met (a miss is a finding, not
an error); ``--strict`` exits 1 when a series misses its target.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from epcsim.cli import options


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("validate", help="compare the model with published SGX measurements")
    p.add_argument("--dir", type=Path, default=None,
                   help="validation folder (default: ./validation, else the one beside "
                        "the package)")
    p.add_argument("--series", action="append", default=None, metavar="ID",
                   type=options.text(),
                   help="only this series (repeatable; default: all)")
    p.add_argument("--workers", type=options.int_in(1, options.MAX_WORKERS), default=2,
                   help="simulation processes (default 2; 1 = in-process)")
    p.add_argument("--full", action="store_true",
                   help="simulate every probe batch of the joins instead of a 192-batch "
                        "sample (slower, same figures within ~1%%)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--write-docs", type=Path, nargs="?", const=Path("docs"), default=None,
                   metavar="DOCS_DIR",
                   help="rewrite the table in DOCS_DIR/validation.md and "
                        "DOCS_DIR/validation.png (default docs/)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when a series misses its target")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from epcsim.validation import run_validation, write_docs

    quiet = args.json

    def progress(line: str) -> None:
        if not quiet:
            print(f"  simulated {line}", file=sys.stderr)

    report = run_validation(args.dir, series=args.series, workers=args.workers,
                            probe_sample_batches=None if args.full else 192,
                            progress=progress)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(report.format_points())
        print()
        print(report.format_summary())
        print("Why each series passes or misses: docs/validation.md")
    if args.write_docs is not None:
        for path in write_docs(report, args.write_docs):
            print(f"wrote {path}", file=sys.stderr)
    if args.strict and report.passed < len(report.series):
        return 1
    return 0
