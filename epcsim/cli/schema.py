"""``epcsim schema``: print the JSON Schema of the scenario format (for editors), or with
``--markdown`` the scenario reference page (docs/scenarios.md, generated from the field help),
or with ``--output COMMAND`` the JSON Schema of that command's ``--json`` document (``run``,
``check``, ``trace``, ``validate``, ``error``; shipped in ``epcsim/report/schemas/``)."""

from __future__ import annotations

import argparse
import json
import sys

from epcsim.scenario import scenario_json_schema


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of scenario files",
                       description="Print the JSON Schema of the scenario format, so editors "
                                   "(e.g. VS Code's YAML extension) can validate and complete "
                                   "scenarios.")
    p.add_argument("--markdown", action="store_true",
                   help="print the scenario reference (docs/scenarios.md) instead")
    p.add_argument("--output", metavar="COMMAND",
                   choices=("run", "check", "trace", "validate", "error"),
                   help="print the JSON Schema of COMMAND's --json document instead (run, "
                        "check, trace, validate; error: what stdout holds when a --json "
                        "command fails)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.output:
        from epcsim.cli.jsonout import schema

        json.dump(schema(args.output), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if args.markdown:
        from epcsim.scenario.docgen import generate

        sys.stdout.write(generate())
        return 0
    json.dump(scenario_json_schema(), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
    return 0
