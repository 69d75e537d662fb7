"""``epcsim mechanisms SCENARIO``: what each issue-14 mechanism does to capacity.

For every VM size of the scenario (or ``--sizes``): the capacity under its ``slo`` with every
mechanism on, then with each mechanism switched off in turn (``simulation.mechanisms``), and
with the other SGX driver; printed as one table (or ``--json``) and written to
``<results>/mechanisms.json`` and ``mechanisms.md`` (``--out``, default
``results/<name>/``; ``--no-save`` writes nothing). Evaluations are kept in
``<results>/mechanisms-evals/`` and reused by a later call (``--force`` reruns them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from epcsim.cli import options
from epcsim.errors import EpcsimError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    p = sub.add_parser(
        "mechanisms", help="capacity per VM size with each paging mechanism off in turn",
        description="Measure the effect of each issue-14 mechanism (enclave lock, TLB "
                    "shootdowns, VM IPI surcharge, page walks, TME-MK penalty, SSBD, build "
                    "costs, VA pages, platform enclaves, SGX1 MEE writes and bandwidth, EDMM "
                    "EACCEPT; and the SGX driver) on the capacity "
                    "of each VM size under the scenario's slo.",
        epilog="exit status: 0 done; 2 bad input (scenario, options, no slo).")
    p.add_argument("scenario", help="scenario YAML file (needs an slo section)")
    p.add_argument("--sizes", type=options.text(1000), default=None, metavar="A,B,...",
                   help="VM sizes to measure (default: the scenario's vm.sizes)")
    p.add_argument("--only", type=options.text(1000), default=None, metavar="M1,M2,...",
                   help="mechanisms to switch off (default: every one the scenario has on)")
    p.add_argument("--no-driver", action="store_true",
                   help="do not measure the other SGX driver (simulation.sgx_driver)")
    p.add_argument("--measured-ops", type=options.int_in(200, 1_000_000), default=2000,
                   help="measured operations per evaluation (default 2000: p99 from the "
                        "slowest 20)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: one per core; 1 = in-process)")
    p.add_argument("--out", metavar="DIR", help="results folder (default results/<name>)")
    p.add_argument("--no-save", action="store_true", help="write no file")
    p.add_argument("--force", action="store_true", help="rerun stored evaluations")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from epcsim.scenario.overrides import add_set_argument

    add_set_argument(p)
    p.set_defaults(func=main)


def _names(text: str | None, flag: str) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise EpcsimError(f"{flag}: expected a comma-separated list, found {text!r}")
    return names


def main(args: argparse.Namespace) -> int:
    from epcsim.api import _SizingProgress, mechanism_effects, results_dir
    from epcsim.report.mechanisms_table import mechanism_table
    from epcsim.report.tables import markdown_table, text_table
    from epcsim.scenario import load_scenario
    from epcsim.study.executor import check_workers
    from epcsim.study.store import atomic_write_bytes

    if args.workers is not None:
        try:
            check_workers(args.workers)
        except EpcsimError as exc:
            raise EpcsimError(f"--workers: {exc}") from None
    overrides = list(args.set)
    sizes = _names(args.sizes, "--sizes")
    if sizes is not None:
        overrides.append("vm.sizes=[" + ", ".join(json.dumps(s) for s in sizes) + "]")
    scenario = load_scenario(args.scenario, overrides)
    if scenario.slo is None or scenario.slo.target_load_per_s is None \
            or scenario.slo.latency_bound_s is None:
        raise EpcsimError(f"{args.scenario}: slo: expected target_load and latency_bound "
                          "(the capacity is the highest load meeting them), found none; add "
                          "them or --set slo.target_load=... --set slo.latency_bound=...")
    out = results_dir(scenario, args.out)
    store = None if args.no_save else out / "mechanisms-evals"
    bar = None if args.no_progress else _SizingProgress()
    t0 = time.perf_counter()
    try:
        effects = mechanism_effects(scenario, mechanisms=_names(args.only, "--only"),
                                    driver=not args.no_driver, measured_ops=args.measured_ops,
                                    workers=args.workers, store_dir=store, force=args.force,
                                    progress=bar)
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t0
    effects.notes.append(f"({args.measured_ops} measured operations per evaluation; "
                         f"{wall:.0f} s wall time)")
    table = mechanism_table(effects)
    if not args.no_save:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / "mechanisms.json", effects.to_json().encode("utf-8"))
        atomic_write_bytes(out / "mechanisms.md",
                           (f"# {table.title}\n\n{markdown_table(table)}\n").encode())
    if args.json:
        sys.stdout.write(effects.to_json())
    else:
        print(text_table(table))
        if not args.no_save:
            print(f"\nresults: {Path(out)}/mechanisms.json, mechanisms.md")
    return 0
