"""``epcsim calibrate``: fit cost parameters to measurements, or import profiler output.

Three modes (docs/calibration.md, docs/measurements.md):

- ``epcsim calibrate MEASUREMENTS.csv --scenario S --fit ewb_cycles,eldu_cycles``: bounded
  least squares (:func:`epcsim.validation.calibration.fit_costs`); prints the fitted values with
  standard errors and 95 % intervals, every point's relative error and the RMSE, and writes
  a cost profile (a ``costs:`` YAML block) with ``--out``.
- ``epcsim calibrate --corpus --fit ecall_cycles,ocall_cycles``: the same fit against the
  ``fit`` series of the validation corpus (:func:`epcsim.validation.corpus_fit.fit_corpus`;
  ``test`` series are never used), which is how the packaged defaults are set; ``--out``
  writes the fitted values with their standard errors and series as CSV rows for
  epcsim/reference/data/cost_parameters.csv.
- ``epcsim calibrate --from-profile calls.csv --requests N``: prints a scenario operation
  skeleton (ECALLs/OCALLs per request, host time per OCALL) from a call profile.
- ``epcsim calibrate --from-counters epc.csv --x-key K --x-value V``: prints calibration
  rows (``epc_evictions_per_s``, and ``epc_faults_per_s`` when loads are counted) measured
  by EPC counters, to append to a MEASUREMENTS.csv.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from epcsim.cli import options
from epcsim.errors import EpcsimError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("calibrate",
                       help="fit cost parameters to your measurements; import profiles")
    p.add_argument("measurements", nargs="?", type=Path,
                   help="CSV: x_key, x_value, metric, value[, vm_size]")
    p.add_argument("--scenario", type=Path, help="the scenario the measurements belong to")
    p.add_argument("--corpus", type=Path, nargs="?", const=Path(), default=None,
                   metavar="CORPUS_DIR",
                   help="fit to the fit series of the validation corpus (default folder: "
                        "validation/corpus) instead of MEASUREMENTS.csv")
    p.add_argument("--series", action="append", default=None, metavar="ID",
                   help="with --corpus: only these fit series (repeatable)")
    p.add_argument("--workers", type=options.int_in(1, 64), default=2,
                   help="with --corpus: simulation processes (default 2, at most 64)")
    p.add_argument("--fit", type=options.text(1000),
                   help="comma-separated cost parameters to fit, e.g. ewb_cycles,eldu_cycles")
    p.add_argument("--bounds", action="append", default=[], metavar="NAME=LOW:HIGH",
                   help="bounds in the parameter's unit (default: its plausible range)")
    from epcsim.scenario.overrides import add_set_argument

    add_set_argument(p)
    p.add_argument("--rel-step", type=options.float_in(0.0, 0.5, open_low=True), default=0.05,
                   help="relative finite-difference step (default 0.05 = 5%%)")
    p.add_argument("--max-evals", type=options.int_in(2, options.MAX_EVALS), default=60,
                   help="most model evaluations (each runs every point; default 60)")
    p.add_argument("--out", type=Path, help="write the cost profile (YAML) here")
    p.add_argument("--json", action="store_true", help="print the fit as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    g = p.add_argument_group("importing measured counters")
    g.add_argument("--from-profile", type=Path, metavar="CALLS.csv",
                   help="call profile: call_type, name, count, total_time_s")
    g.add_argument("--requests", type=options.int_in(1, 10**15),
                   help="requests served during the profile")
    g.add_argument("--name", default="request", type=options.text(64),
                   help="operation name for the skeleton")
    g.add_argument("--from-counters", type=Path, metavar="EPC.csv",
                   help="EPC counters: t_s, pages_evicted[, pages_loaded, free_pages]")
    g.add_argument("--x-key", type=options.text(),
                   help="with --from-counters: the scenario key path measured")
    g.add_argument("--x-value", type=options.text(),
                   help="with --from-counters: its value during the interval")
    g.add_argument("--vm-size", type=options.text(64),
                   help="with --from-counters: the VM size measured on")
    p.set_defaults(func=main)


def _from_profile(args: argparse.Namespace) -> int:
    from epcsim.validation.measurements import read_call_profile, skeleton_yaml

    if args.requests is None:
        raise EpcsimError("--from-profile needs --requests N (requests served while "
                          "profiling)")
    sys.stdout.write(skeleton_yaml(read_call_profile(args.from_profile), args.requests,
                                   name=args.name))
    return 0


def _from_counters(args: argparse.Namespace) -> int:
    from epcsim.validation.measurements import read_epc_counters

    if not args.x_key or args.x_value is None:
        raise EpcsimError("--from-counters needs --x-key KEY.PATH and --x-value VALUE (the "
                          "setting the counters were measured at)")
    c = read_epc_counters(args.from_counters)
    vm = args.vm_size or ""
    header = "x_key,x_value,metric,value" + (",vm_size" if vm else "")
    print(f"# from {args.from_counters}: {c.interval_s:g} s, "
          f"{c.pages_evicted[-1] - c.pages_evicted[0]:g} pages evicted")
    print(header)
    tail = f",{vm}" if vm else ""
    print(f"{args.x_key},{args.x_value},epc_evictions_per_s,{c.eviction_rate_per_s():.6g}{tail}")
    loads = c.load_rate_per_s()
    if loads is not None:
        print(f"{args.x_key},{args.x_value},epc_faults_per_s,{loads:.6g}{tail}")
    return 0


def _corpus(args: argparse.Namespace) -> int:
    import csv

    from epcsim.validation.calibration import parse_bounds
    from epcsim.validation.corpus_fit import fit_corpus

    if not args.fit:
        raise EpcsimError("--corpus needs --fit NAME[,NAME...]")
    if not 1 <= args.workers <= 64:
        raise EpcsimError(f"--workers: expected an integer from 1 to 64, found {args.workers}")
    if args.max_evals < 2:
        raise EpcsimError(f"--max-evals: expected an integer >= 2, found {args.max_evals}")
    params = [p.strip() for p in args.fit.split(",") if p.strip()]

    def progress(line: str) -> None:
        if not (args.quiet or args.json):
            print(f"  {line}", file=sys.stderr)

    folder = args.corpus if args.corpus != Path() else None
    result = fit_corpus(params, folder=folder, series=args.series,
                        bounds=parse_bounds(args.bounds), rel_step=args.rel_step,
                        max_evals=args.max_evals, workers=args.workers, progress=progress)
    if args.json:
        from epcsim.cli.jsonout import emit, stream

        emit(result.to_json(), stream(args))
    else:
        print(result.format())
    if args.out is not None:
        series = ";".join(result.settings.get("series", []))
        try:
            with args.out.open("w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh, lineterminator="\n")
                w.writerow(["name", "fit_value", "fit_std_error", "fit_series"])
                for name in result.params:
                    w.writerow([name, f"{result.values[name]:.6g}",
                                f"{result.std_errors[name]:.3g}", series])
        except OSError as exc:
            raise EpcsimError(f"{args.out}: cannot write ({exc.strerror})") from None
        print(f"fitted values: {args.out}", file=sys.stderr)
    return 0


def main(args: argparse.Namespace) -> int:
    modes = [args.measurements is not None, args.from_profile is not None,
             args.from_counters is not None, args.corpus is not None]
    if sum(modes) != 1:
        raise EpcsimError("give exactly one of: MEASUREMENTS.csv (with --scenario and --fit), "
                          "--corpus (with --fit), --from-profile CALLS.csv, "
                          "--from-counters EPC.csv")
    if args.corpus is not None:
        return _corpus(args)
    if args.from_profile is not None:
        return _from_profile(args)
    if args.from_counters is not None:
        return _from_counters(args)
    from epcsim.validation.calibration import (
        cost_profile_yaml,
        fit_costs,
        parse_bounds,
        read_calibration_measurements,
    )

    if args.scenario is None or not args.fit:
        raise EpcsimError("calibrating needs --scenario FILE and --fit NAME[,NAME...]")
    points = read_calibration_measurements(args.measurements)
    params = [p.strip() for p in args.fit.split(",") if p.strip()]

    def progress(line: str) -> None:
        if not (args.quiet or args.json):
            print(f"  {line}", file=sys.stderr)

    result = fit_costs(args.scenario, points, params, bounds=parse_bounds(args.bounds),
                       overrides=args.set, rel_step=args.rel_step, max_evals=args.max_evals,
                       progress=progress)
    if args.json:
        from epcsim.cli.jsonout import emit, stream

        emit(result.to_json(), stream(args))
    else:
        print(result.format())
    profile = cost_profile_yaml(result, source=f"{args.measurements} on {args.scenario}")
    if args.out is not None:
        try:
            args.out.write_text(profile, encoding="utf-8")
        except OSError as exc:
            raise EpcsimError(f"{args.out}: cannot write the profile ({exc.strerror})") from None
        print(f"cost profile: {args.out} (paste its costs: block into a scenario, or pass "
              f"--set costs.NAME=VALUE)", file=sys.stderr)
    elif not args.json:
        print()
        print(profile, end="")
    return 0
