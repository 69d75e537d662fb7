"""``epcsim check FILE...``: validate scenarios and print each resolved study plan.

Every file is checked, even after one fails; all problems of all files are reported together
(one located line each) and the exit status is 2 if any file failed. Nothing is written.
"""

from __future__ import annotations

import argparse
import dataclasses

from epcsim.errors import EpcsimError, Problem, ScenarioError
from epcsim.scenario import load_scenario, plan_study
from epcsim.scenario.overrides import add_set_argument


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check", help="validate scenarios and print the study plan",
                       description="Validate scenario files and print the resolved study "
                                   "plan: VM sizes x sweep points x replications = runs.")
    p.add_argument("files", nargs="+", metavar="FILE", help="scenario YAML files")
    add_set_argument(p)
    p.add_argument("--quiet", "-q", action="store_true",
                   help="print only problems (exit status says whether all files passed)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    problems: list[Problem] = []
    for n, path in enumerate(args.files):
        try:
            scenario = load_scenario(path, overrides=args.set)
            plan = plan_study(scenario)
        except ScenarioError as exc:  # the study plan's problems name no file: this one
            problems.extend(p if p.file else dataclasses.replace(p, file=path)
                            for p in exc.problems)
            continue
        except EpcsimError as exc:
            problems.append(Problem(str(exc), file=path))
            continue
        if not args.quiet:
            if n:
                print()
            print(f"{path}: ok")
            print(plan.describe())
    if problems:
        raise ScenarioError(problems)
    return 0
