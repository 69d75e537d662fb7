"""``epcsim run SCENARIO``: run a study and print the headline table.

Runs every VM size x sweep point x replication (reusing runs already in the results folder),
writes ``results/<scenario name>/`` (or ``--out``), prints one line per VM size and sweep
point (means over replications with 95% confidence half-widths), then the sizing answer
(capacity, VMs, cost, binding resource and metrics at the target load per size; a retired
size beside its successor) and the path to the report. Exit status 3 when sizing ran and
no size meets the SLO (:data:`EXIT_NOTHING_FITS`), with what would fit. ``--json``: all of
that on stderr, and one document on stdout (:func:`run_document`; schema
``epcsim/report/schemas/run.schema.json``).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from epcsim.cli import options
from epcsim.errors import EpcsimError

if TYPE_CHECKING:
    import pandas as pd

#: Exit status of ``epcsim run`` when sizing ran and no VM size meets the SLO.
EXIT_NOTHING_FITS = 3


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    p = sub.add_parser(
        "run", help="simulate a scenario on its VM sizes and write results",
        description="Simulate a scenario on its VM sizes, size them under its slo and write "
                    "the report.",
        epilog="exit status: 0 done; 1 some runs failed; 2 bad input (scenario, options); "
               "3 sizing ran and no VM size that can be bought meets the SLO (the output "
               "says what would fit: more VMs, a larger size, a what-if).")
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--out", metavar="DIR", help="results folder (default results/<name>)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: one per core; 1 = in-process)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", default=None,
                   help="run on a Dask cluster (or set EPCSIM_SCHEDULER)")
    p.add_argument("--until-ci", metavar="FRACTION", default=None, type=options.fraction_open,
                   help="replicate each VM size and sweep point until the 95%% intervals of "
                        "--ci-metrics are within this fraction of the mean (e.g. 5%%)")
    p.add_argument("--ci-metrics", default=("throughput_ops_s", "latency_p99_s"),
                   type=options.ci_metrics,
                   help="metrics --until-ci applies to (comma-separated summary columns)")
    p.add_argument("--max-replications", type=options.int_in(2, options.MAX_REPLICATIONS),
                   default=30,
                   help="cap on replications with --until-ci (default 30)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document on stdout (plan, per-size results, sizing; "
                        "schema: epcsim schema --output run); everything else goes to stderr")
    p.add_argument("--force", action="store_true", help="rerun runs already in the folder")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failing run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-sizing", action="store_true",
                   help="skip the SLO sizing search (the report still shows the runs)")
    p.add_argument("--no-report", action="store_true", help="skip sizing and the report")
    p.add_argument("--sizing-workers", type=int, default=None, metavar="N",
                   help="worker processes for the sizing search (default: as --workers)")
    p.add_argument("--no-sizing-cache", action="store_true",
                   help="do not keep or reuse sizing evaluations in <results>/sizing-evals/")
    p.add_argument("--no-analytic-bracket", action="store_true",
                   help="search each size's capacity without the analytic first guess and "
                        "re-decide the sensitivity cases and what-ifs by capacity searches "
                        "(the earlier, slower search; for comparison)")
    from epcsim.scenario.overrides import add_set_argument

    add_set_argument(p)
    p.set_defaults(func=main)


def headline(aggregate: pd.DataFrame, sweep_keys: list[str]) -> str:
    """One line per VM size and sweep point: throughput, latency, slowdown, paging, cost."""
    from epcsim.report.format import compact, duration, plus_minus
    from epcsim.report.tables import Table, text_table

    if aggregate.empty:
        return "no successful runs"
    rows = []
    echo = _echoes_offered_load(aggregate)
    for _, series in aggregate.iterrows():
        r = series.to_dict()
        thr = r.get("throughput_ops_s", math.nan)
        usd = r.get("usd_per_hour", math.nan)
        per_m = usd / (thr * 3600) * 1e6 if thr and math.isfinite(thr) and thr > 0 else math.nan
        util = r.get("vcpu_utilisation", math.nan)
        rows.append([str(r["vm_size"]), *[str(r.get(k)) for k in sweep_keys],
                     compact(r.get("epc_mib", math.nan), digits=6),
                     plus_minus(r, "throughput_ops_s"), plus_minus(r, "latency_mean_s", duration),
                     plus_minus(r, "latency_p99_s", duration),
                     compact(r.get("slowdown_vs_native")),
                     compact(r.get("epc_faults_per_s", math.nan)),
                     f"{util:.0%}" if math.isfinite(util) else "-", compact(per_m)])
    header = ["vm_size", *sweep_keys, "EPC MiB", "ops/s", "mean latency", "p99 latency",
              "slowdown", "faults/s", "vCPU util", "USD/M ops"]
    notes = ["(means over replications; ±: 95% confidence half-width relative to the "
             "mean; USD/M ops at the simulated throughput)"]
    if echo:  # an open-loop run that keeps up completes what arrives: nothing to compare
        at = 2 + len(sweep_keys)
        header.pop(at)
        rows = [r[:at] + r[at + 1:] for r in rows]
        notes.append("(every size kept up with the offered load, so throughput equals it and "
                     "is not shown; the sizing table gives each size's capacity)")
    return text_table(Table.of(header, rows, align="l" + "r" * (len(header) - 1),
                               notes=notes))


def _echoes_offered_load(aggregate: pd.DataFrame) -> bool:
    """True when every row's throughput is within 5% of its offered load (open loop)."""
    if "offered_load_ops_s" not in aggregate or "throughput_ops_s" not in aggregate:
        return False
    offered = aggregate["offered_load_ops_s"].to_numpy(float)
    done = aggregate["throughput_ops_s"].to_numpy(float)
    ok = (offered > 0) & (abs(done - offered) <= 0.05 * offered)
    return bool(len(ok) and ok.all())


def _status_word(status: int) -> str:
    return {0: "ok", 1: "runs_failed", EXIT_NOTHING_FITS: "nothing_fits"}.get(status, "error")


def run_document(study: Any, source_file: str, status: int) -> dict[str, Any]:
    """``epcsim run --json``'s document: the plan, one row per VM size and sweep point (means
    and 95% intervals, columns as in docs/metrics.md), the sizing answer, the files written
    and the exit status (schema ``run.schema.json``)."""
    from epcsim import __version__
    from epcsim.sizing import SizingResult

    plan = study.plan
    reps = {p.scenario.simulation.replications for p in plan.points}
    sweep_keys = list(study.scenario.sweep)
    results = []
    for _, row in study.aggregate.iterrows():
        r = row.to_dict()
        results.append({
            "vm_size": str(r.pop("vm_size")),
            "sweep": {k: r.pop(k, None) for k in sweep_keys},
            "n_replications": r.pop("n_replications", None),
            "metrics": r,
        })
    out = study.out_dir
    sizing: dict[str, Any] | None = None
    path = out / "sizing.json"
    if path.is_file():
        result = SizingResult.from_json(path.read_text(encoding="utf-8"))
        rec = result.recommended
        sizing = {
            "file": str(path), "as_of": result.as_of, "slo": result.slo.to_dict(),
            "recommended": None if rec is None else {
                "vm_size": rec.vm_size, "series": rec.series, "vm_count": rec.vm_count,
                "usd_per_month": rec.usd_per_month, "usd_per_hour": rec.usd_per_hour,
                "capacity_ops_s": rec.capacity_ops_s,
                "per_vm_load_ops_s": rec.per_vm_load_ops_s,
                "headroom_left_fraction": rec.headroom_left_fraction,
                "metrics_at_target": rec.metrics_at_target},
            "reasons": list(result.reasons), "binding_resource": result.binding_resource,
            "sizes": result.capacity_rows(),
            "successor": result.successor.to_dict() if result.successor else None,
            "knee": result.knee.to_dict() if result.knee else None,
            "advice": list(result.advice),
            "uncertainty": _uncertainty_summary(result.uncertainty),
        }
    return {
        "format": "epcsim.run/1", "epcsim_version": __version__,
        "scenario": {"name": study.scenario.name, "file": source_file},
        "results_dir": str(out),
        "files": {name: str(out / name) for name in (
            "summary.csv", "summary_ci.csv", "sizing.json", "report.html", "report.md")
            if (out / name).is_file()},
        "exit_status": status, "status": _status_word(status),
        "plan": {"vm_sizes": list(plan.vm_sizes), "sweep_points": len(plan.points),
                 "replications": reps.pop() if len(reps) == 1 else None,
                 "runs": len(plan.runs)},
        "runs": {"total": len(study.summary), "failed": int(study.n_failed)},
        "results": results,
        "sizing": sizing,
    }


def _uncertainty_summary(unc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``uncertain:`` propagation without its per-draw rows (they stay in sizing.json)."""
    if unc is None:
        return None
    return {k: v for k, v in unc.items() if k != "per_draw"}


def sizing_answer(out_dir: Path) -> tuple[list[str], bool | None]:
    """The sizing tables for the terminal and whether a size was recommended (None: no
    sizing was stored)."""
    from epcsim.report.sizing_table import sizing_table, successor_table
    from epcsim.report.tables import text_table
    from epcsim.sizing import SizingResult

    path = out_dir / "sizing.json"
    if not path.is_file():
        return [], None
    result = SizingResult.from_json(path.read_text(encoding="utf-8"))
    table = sizing_table(result)
    lines = [text_table(table), table.caption, ""]
    succ = successor_table(result)
    if succ is not None:
        lines += [text_table(succ), ""]
    if result.recommended is None:
        lines.append("No size meets the objectives. What would fit:")
        lines += [f"  - {a}" for a in result.advice]
        lines.append("")
    return lines, result.recommended is not None


def _precision(args: argparse.Namespace, replications: int) -> object:
    """The PrecisionTarget that --until-ci asks for, or None."""
    if args.until_ci is None:
        return None
    from epcsim.study import PrecisionTarget

    width = float(args.until_ci)
    metrics = tuple(args.ci_metrics)
    low = max(2, replications)
    if args.max_replications < low:
        raise EpcsimError(f"--max-replications: expected at least {low} (the scenario's "
                          f"replications, and 2), found {args.max_replications}")
    return PrecisionTarget(metrics=metrics, relative_half_width=width, min_replications=low,
                           max_replications=args.max_replications)


def _warn_rejected(rejected: dict[str, str]) -> None:
    """One stderr line per stored run that failed verification and was run again."""
    for key, reason in rejected.items():
        print(f"epcsim: warning: stored run {key} not reused ({reason}); run again",
              file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    from epcsim.api import run_study
    from epcsim.scenario import load_scenario
    from epcsim.study.executor import check_workers

    for flag, value in (("--workers", args.workers), ("--sizing-workers", args.sizing_workers)):
        if value is not None:
            try:
                check_workers(value)
            except EpcsimError as exc:
                raise EpcsimError(f"{flag}: {exc}") from None
    scenario = load_scenario(args.scenario, args.set)
    out = Path(args.out) if args.out else None
    precision = _precision(args, scenario.simulation.replications)
    progress = not args.no_progress
    from epcsim.api import finish_study, results_dir, study_lock
    from epcsim.scenario import plan_study

    print(plan_study(scenario).describe(), flush=True)  # the plan, before anything runs
    # One lock from the runs to the report: no other run can write a summary in between.
    with study_lock(results_dir(scenario, out)):
        study = run_study(scenario, out_dir=out, workers=args.workers,
                          backend=args.scheduler, force=args.force, fail_fast=args.fail_fast,
                          progress=progress, source_file=args.scenario, precision=precision,
                          argv=sys.argv)
        if not progress:
            print(study.report_text.splitlines()[0])
        _warn_rejected(study.extra.get("rejected_runs") or {})
        print()
        print(headline(study.aggregate, list(scenario.sweep)))
        print(flush=True)
        if not args.no_report:
            sizing_workers = args.sizing_workers if args.sizing_workers is not None \
                else args.workers
            for line in finish_study(study, sizing=not args.no_sizing, progress=progress,
                                     workers=sizing_workers, force=args.force,
                                     sizing_cache=not args.no_sizing_cache,
                                     analytic=not args.no_analytic_bracket):
                print(line)
    answer, recommended = sizing_answer(study.out_dir) if not args.no_report else ([], None)
    for line in answer:
        print(line)
    print(f"results: {study.out_dir}/ (summary.csv, summary_ci.csv, runs/)")
    status = 0
    if study.n_failed:
        print(study.report_text, file=sys.stderr)
        status = 1
    elif recommended is False:
        print("epcsim: no VM size meets the SLO (exit status 3); see 'What would fit' above",
              file=sys.stderr)
        status = EXIT_NOTHING_FITS
    if getattr(args, "json_out", None) is not None:
        from epcsim.cli.jsonout import emit

        emit(run_document(study, args.scenario, status), args.json_out)
    return status
