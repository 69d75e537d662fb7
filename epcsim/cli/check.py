"""``epcsim check FILE...``: validate scenarios, print each resolved study plan and the
numbers it resolves to.

Every file is checked, even after one fails; all problems of all files are reported together
(one located line each) and the exit status is 2 if any file failed. Nothing is written. For
each valid file it prints the plan (VM sizes x sweep points x replications = runs) and the
resolved numbers a user would want to confirm (:mod:`epcsim.scenario.confirm`): the SLO, the
run length and warm-up, the arrivals, each enclave's footprint, each operation, and per VM
size its vCPUs, EPC, EPC left for enclave pages, price and availability. ``--json``: one
document on stdout (schema ``check.schema.json``) with every file, its plan, its numbers and
its problems; the located messages are on stderr as well.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from epcsim.errors import EpcsimError, Problem, ScenarioError
from epcsim.scenario import load_scenario, plan_study
from epcsim.scenario.overrides import add_set_argument


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check", help="validate scenarios and print the study plan",
                       description="Validate scenario files and print the resolved study "
                                   "plan (VM sizes x sweep points x replications = runs) and "
                                   "the numbers it resolves to: the SLO, run length, "
                                   "arrivals, footprints, and per VM size its EPC, vCPUs and "
                                   "price.")
    p.add_argument("files", nargs="+", metavar="FILE", help="scenario YAML files")
    add_set_argument(p)
    p.add_argument("--quiet", "-q", action="store_true",
                   help="print only problems (exit status says whether all files passed)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document on stdout (every file: ok, plan, resolved "
                        "numbers, problems)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from epcsim.report.confirm_tables import confirm_tables
    from epcsim.report.tables import text_table
    from epcsim.scenario.confirm import resolved_numbers

    problems: list[Problem] = []
    files: list[dict[str, Any]] = []
    for n, path in enumerate(args.files):
        found: list[Problem] = []
        try:
            scenario = load_scenario(path, overrides=args.set)
            plan = plan_study(scenario)
        except ScenarioError as exc:  # the study plan's problems name no file: this one
            found = [p if p.file else dataclasses.replace(p, file=path) for p in exc.problems]
        except EpcsimError as exc:
            found = [Problem(str(exc), file=path)]
        if found:
            problems.extend(found)
            files.append({"file": path, "ok": False, "plan": None, "resolved": None,
                          "problems": found})
            continue
        numbers = resolved_numbers(plan)
        files.append({"file": path, "ok": True, "plan": plan.describe(), "resolved": numbers,
                      "problems": []})
        if not args.quiet:
            if n:
                print()
            print(f"{path}: ok")
            print(plan.describe())
            for table in confirm_tables(numbers):
                print()
                print(text_table(table))
    if getattr(args, "json_out", None) is not None:
        from epcsim.cli.jsonout import emit, problem_dict

        emit({"format": "epcsim.check/1", "ok": not problems,
              "exit_status": 2 if problems else 0,
              "files": [{**f, "problems": [problem_dict(p) for p in f["problems"]]}
                        for f in files]}, args.json_out)
        args.json_out = None  # the document is out: no error document after it
    if problems:
        raise ScenarioError(problems)
    return 0
