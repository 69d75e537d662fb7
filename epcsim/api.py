"""The public Python API: what the command line does, in a line or two from a notebook.

>>> import epcsim
>>> scn = epcsim.load_scenario("scenarios/quickstart.yaml", overrides=["simulation.seed=7"])
>>> study = epcsim.run_study(scn, out_dir="results/quickstart")   # doctest: +SKIP
>>> study.aggregate[["vm_size", "throughput_ops_s", "latency_p99_s"]]  # doctest: +SKIP

:func:`run_study` expands the scenario into runs (VM sizes x sweep points x replications),
executes the runs not already in ``out_dir`` on a local process pool or a Dask cluster, and
returns a :class:`StudyOutput` with pandas frames. It writes only inside ``out_dir``:
``summary.csv`` (one row per run), ``summary_ci.csv`` (means and 95% confidence intervals
over replications), ``runs/`` (one record per run, reused on a rerun), ``scenario.yaml`` (the
file as given), ``scenario.resolved.json`` and ``provenance.json``. Nothing here prints
unless ``progress=True``.

:func:`simulate_run` runs one VM size and replication in-process and writes nothing.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from epcsim import __version__
from epcsim.errors import EpcsimError
from epcsim.model import RunResult
from epcsim.reference.catalog import VmSize
from epcsim.scenario import RunPoint, Scenario, StudyPlan, load_scenario, plan_study
from epcsim.study import confidence_intervals
from epcsim.study import run_study as _run_tasks
from epcsim.study.configure import model_config, offered_load_ops_s, working_set_bytes
from epcsim.study.execute import RunPayload, simulate_scenario
from epcsim.study.store import atomic_write_bytes
from epcsim.study.task import RunTask

__all__ = ["StudyOutput", "finish_study", "load_scenario", "plan_study", "recommend",
           "run_study", "simulate_run", "study_tasks", "with_overrides"]

#: The folder every study writes below unless told otherwise.
RESULTS_ROOT = Path("results")


@dataclass
class StudyOutput:
    """A finished (or partly failed) study.

    Attributes:
        scenario: the scenario as loaded; ``plan``: its runs.
        out_dir: the results folder.
        summary: one row per run (columns in docs/metrics.md); the same as ``summary.csv``.
        aggregate: one row per VM size and sweep point: each metric's mean over replications
            with ``<metric>_ci_low``/``<metric>_ci_high`` (95% Student t) and
            ``n_replications``; the same as ``summary_ci.csv``.
        n_failed: runs that failed (their ``error`` column says why).
        report_text: the study machinery's closing summary (runs reused, run, failed).
        extra: ``rejected_runs``: run key -> why its stored record failed verification
            (those runs were executed again, not reused).
        details: run key -> per-operation DataFrame, read lazily from ``runs/``.
    """

    scenario: Scenario
    plan: StudyPlan
    out_dir: Path
    summary: pd.DataFrame
    aggregate: pd.DataFrame
    n_failed: int
    report_text: str
    details: Mapping[str, pd.DataFrame]
    wall_s: float
    extra: dict[str, Any] = field(default_factory=dict)


def _labels(run: RunPoint) -> dict[str, Any]:
    vm = run.vm
    labels: dict[str, Any] = {
        "vm_size": vm.size,
        "series": vm.series,
        "vcpus": vm.vcpus,
        "epc_mib": vm.epc_mib,
        "sgx_generation": vm.sgx_generation,
        "usd_per_hour": vm.linux_usd_per_hour,
    }
    for key, value in run.point_normalised.items():
        labels[key] = value if isinstance(value, str | int | float | bool) or value is None \
            else json.dumps(value, sort_keys=True)
    labels["working_set_mib"] = working_set_bytes(run.scenario) / 2**20
    labels["offered_load_ops_s"] = offered_load_ops_s(run.scenario)
    labels["replication"] = run.replication
    labels["seed"] = run.seed
    return labels


def _task(run: RunPoint, config: Any, keep_detail: bool) -> RunTask:
    payload = RunPayload(config=config, replication=run.replication, seed=run.seed,
                         native_baseline=run.scenario.simulation.native_baseline,
                         keep_detail=keep_detail)
    return RunTask(run_key=run.run_key, fn="epcsim.study.execute:run_point", payload=payload,
                   labels=_labels(run))


def study_tasks(plan: StudyPlan, *, keep_detail: bool = True) -> list[RunTask]:
    """One :class:`RunTask` per run of ``plan``, in plan order."""
    configs: dict[tuple[int, str], Any] = {}
    tasks = []
    for run in plan.runs:
        key = (run.point_index, run.vm.size)
        if key not in configs:
            configs[key] = model_config(run.scenario, run.vm)
        tasks.append(_task(run, configs[key], keep_detail))
    return tasks


def _sequential(plan: StudyPlan, target: Any, out: Path, keep_detail: bool,
                **kwargs: Any) -> Any:
    """Replicate each (sweep point, VM size) until ``target`` holds (see run_sequential)."""
    import dataclasses

    from epcsim.scenario.plan import run_key
    from epcsim.study import run_sequential

    firsts: dict[tuple[int, str], RunPoint] = {}
    for run in plan.runs:
        firsts.setdefault((run.point_index, run.vm.size), run)
    points: list[dict[str, Any]] = [{"point_index": i, "vm_size": vm} for (i, vm) in firsts]
    configs = {key: model_config(run.scenario, run.vm) for key, run in firsts.items()}
    # The planned replications first (reused by the rounds below): they tell whether the
    # target's metrics exist before any further round is spent on them.
    first_round = _run_tasks(study_tasks(plan, keep_detail=keep_detail), out, **kwargs)
    columns = list(first_round.summary.columns)
    unknown = [m for m in target.metrics if m not in columns]
    if unknown:
        from epcsim.reference.catalog import suggest

        hints = [f"{m!r}" + (f" (did you mean {hint!r}?)" if (hint := suggest(m, columns))
                            else "") for m in unknown]
        raise EpcsimError("precision target: no summary column " + ", ".join(hints)
                          + "; see docs/metrics.md")
    kwargs = {**kwargs, "force": False}

    def make_task(point: Mapping[str, Any], replication: int) -> RunTask:
        key = (int(point["point_index"]), str(point["vm_size"]))
        first = firsts[key]
        run = dataclasses.replace(first, replication=replication,
                                  run_key=run_key(first.scenario, first.vm, replication,
                                                  first.seed))
        return _task(run, configs[key], keep_detail)

    return run_sequential(make_task, points, target, out, **kwargs)


def _resolve_out_dir(scenario: Scenario, out_dir: str | os.PathLike[str] | None) -> Path:
    if out_dir is not None:
        return Path(out_dir)
    return RESULTS_ROOT / scenario.name


def _provenance(scenario: Scenario, plan: StudyPlan, started: float, wall_s: float,
                backend: str, argv: Sequence[str] | None) -> dict[str, Any]:
    import numpy
    import simpy

    return {
        "epcsim_version": __version__,
        "scenario": scenario.name,
        "seed": scenario.simulation.seed,
        "runs": len(plan.runs),
        "started_utc": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "wall_s": round(wall_s, 3),
        "backend": backend,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "simpy": getattr(simpy, "__version__", "unknown"),
        "pandas": pd.__version__,
        "argv": list(argv) if argv is not None else None,
    }


def _source_bytes(scenario: Scenario, source_file: str | os.PathLike[str]) -> bytes:
    """The scenario file's bytes as the loader read them (a pipe cannot be read twice), or,
    for a scenario loaded from elsewhere, the file read now."""
    context = scenario.context
    if context.get("source_file") == os.fspath(source_file) and "source_bytes" in context:
        return bytes(context["source_bytes"])
    try:
        return Path(source_file).read_bytes()
    except OSError as exc:
        raise EpcsimError(f"{source_file}: cannot read the scenario file to copy it "
                          f"({exc.strerror or exc})") from None


def run_study(scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any], *,
              overrides: Iterable[str] = (), out_dir: str | os.PathLike[str] | None = None,
              workers: int | None = None, backend: Any = None, force: bool = False,
              fail_fast: bool = False, progress: bool = False, keep_detail: bool = True,
              source_file: str | os.PathLike[str] | None = None,
              precision: Any = None,
              argv: Sequence[str] | None = None) -> StudyOutput:
    """Run every VM size x sweep point x replication of ``scenario``; see the module doc.

    Args:
        scenario: a loaded :class:`Scenario`, a path to a YAML file, or a mapping.
        overrides: ``"key.path=value"`` strings (only when ``scenario`` is not loaded yet).
        out_dir: results folder (default ``results/<scenario name>``).
        workers: local worker processes (default: one per core; 1 = in-process).
        backend: ``None``/``"local"``, ``"dask"`` or ``"tcp://HOST:PORT"`` (a Dask scheduler),
            or a backend object (see :mod:`epcsim.study.executor`).
        force: rerun runs already stored in ``out_dir``.
        fail_fast: stop at the first failing run.
        progress: show a progress bar and the closing summary on stderr.
        keep_detail: store each run's per-operation table (Parquet).
        source_file: the scenario's YAML file, copied into ``out_dir`` as ``scenario.yaml``
            (default: ``scenario`` itself when it is a path).
        precision: an :class:`epcsim.study.PrecisionTarget`: instead of the scenario's fixed
            replication count, replicate every VM size and sweep point in rounds until the
            95% intervals of ``precision.metrics`` are narrow enough (at least
            ``min_replications``, at most ``max_replications``).
    """
    t0 = time.time()
    if not isinstance(scenario, Scenario):
        if isinstance(scenario, str | os.PathLike) and source_file is None:
            source_file = scenario
        scenario = load_scenario(scenario, overrides)
    elif list(overrides):
        raise EpcsimError("overrides apply when loading; pass them to load_scenario")
    plan = plan_study(scenario)
    out = _resolve_out_dir(scenario, out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EpcsimError(f"{out}: cannot create the results folder ({exc.strerror})") from None
    options = {"backend": backend, "workers": workers, "force": force,
               "fail_fast": fail_fast, "progress": progress, "description": scenario.name}
    if precision is None:
        result = _run_tasks(study_tasks(plan, keep_detail=keep_detail), out, **options)
    else:
        result = _sequential(plan, precision, out, keep_detail, **options)
    summary = result.summary
    aggregate = confidence_intervals(summary) if (summary["status"] == "ok").any() \
        else pd.DataFrame()
    atomic_write_bytes(out / "summary_ci.csv",
                       aggregate.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    if source_file is not None:
        atomic_write_bytes(out / "scenario.yaml", _source_bytes(scenario, source_file))
    resolved = scenario.model_dump(mode="json", by_alias=True)
    atomic_write_bytes(out / "scenario.resolved.json",
                       (json.dumps(resolved, indent=2, sort_keys=False) + "\n").encode("utf-8"))
    wall = time.time() - t0
    prov = _provenance(scenario, plan, t0, wall, result.backend, argv)
    prov.update({"runs_reused": result.n_reused, "runs_run": result.n_run,
                 "runs_failed": result.n_failed, "plan": plan.describe()})
    atomic_write_bytes(out / "provenance.json",
                       (json.dumps(prov, indent=2) + "\n").encode("utf-8"))
    return StudyOutput(scenario=scenario, plan=plan, out_dir=out, summary=summary,
                       aggregate=aggregate, n_failed=result.n_failed,
                       report_text=result.report(), details=result.details, wall_s=wall,
                       extra={"rejected_runs": dict(result.rejected)})


def with_overrides(scenario: Scenario, overrides: Iterable[str]) -> Scenario:
    """``scenario`` reloaded with ``"key.path=value"`` overrides (values parsed as YAML), as
    if they had been given to :func:`load_scenario`; raises ScenarioError like it."""
    return load_scenario(scenario.source, overrides,
                         base_dir=scenario.context.get("base_dir"))


def simulate_run(scenario: Scenario, vm: VmSize | str, *, replication: int = 0,
                 native: bool = False) -> RunResult:
    """One run in-process, no files: ``scenario`` (no sweep, or its first point) on ``vm``."""
    return simulate_scenario(scenario, vm, replication=replication, native=native)


def recommend(scenario: Scenario, *, vm_sizes: Sequence[VmSize] | None = None,
              sensitivity: bool = True, what_ifs: bool = True, knee: bool = True,
              measured_ops: int = 5000, as_of: Any = None) -> Any:
    """Size the scenario's VM sizes under its ``slo`` and recommend the cheapest option.

    Returns an :class:`epcsim.sizing.SizingResult` (capacities, costs, the recommendation
    and its reasons, the EPC knee, sensitivity, what-ifs). Runs the simulator in-process
    (:class:`epcsim.sizing.simulator.SimulatorEvaluator`); writes nothing. ``as_of`` (a
    ``datetime.date``, default today) decides which sizes are retired. Raises
    :class:`EpcsimError` when the scenario has no target load and latency bound.
    """
    from epcsim.scenario import resolve_vm_sizes
    from epcsim.sizing import DEFAULT_WHAT_IFS, Slo
    from epcsim.sizing import recommend as _recommend
    from epcsim.sizing.simulator import SimulatorEvaluator

    if scenario.slo is None:
        raise EpcsimError("slo: sizing needs an `slo` section with target_load and "
                          "latency_bound")
    slo = Slo.from_spec(scenario.slo)
    evaluator = SimulatorEvaluator(scenario, reference_load_ops_s=slo.target_load_ops_s,
                                   latency_percentile=slo.latency_percentile,
                                   measured_ops=measured_ops)
    vms = list(vm_sizes) if vm_sizes is not None else resolve_vm_sizes(scenario)
    return _recommend(evaluator, vms, slo, sensitivity=sensitivity,
                      what_ifs=DEFAULT_WHAT_IFS if what_ifs else (), knee=knee, as_of=as_of)


def finish_study(study: StudyOutput, *, sizing: bool = True, mrc: bool = True,
                 progress: bool = False) -> list[str]:
    """Size (when the scenario has an SLO), compute the miss-ratio curve, write the report.

    Writes ``sizing.json``, ``mrc.csv``, ``report.html``, ``report.md`` and ``figures/``
    inside ``study.out_dir``, then builds the report from those stored files (so ``epcsim
    report`` on the folder gives the same bytes); returns lines for people. ``progress``
    says on stderr when the sizing search starts and how long it took.
    """
    from epcsim.report import report_from_results

    scenario = study.scenario
    lines: list[str] = []
    slo = scenario.slo
    if sizing and slo is not None and slo.target_load_per_s and slo.latency_bound_s:
        if progress:
            print(f"sizing: capacity search under the SLO on {len(study.plan.vm_sizes)} "
                  "sizes (in-process simulations; can take minutes)...", file=sys.stderr)
        t0 = time.perf_counter()
        result = recommend(scenario)
        if progress:
            print(f"sizing: {result.evaluations} evaluations in "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
        atomic_write_bytes(study.out_dir / "sizing.json", result.to_json().encode("utf-8"))
        lines.append("recommendation:")
        lines.extend(f"  {reason}" for reason in result.reasons)
    else:  # never leave an earlier study's sizing beside these results
        (study.out_dir / "sizing.json").unlink(missing_ok=True)
    if mrc and any(op.memory for op in scenario.workload.operations):
        from epcsim.study.page_trace import scenario_mrc

        curve = scenario_mrc(scenario)
        frame = pd.DataFrame({"capacity_mib": curve["capacity_mib"],
                              "miss_ratio": curve["miss_ratio"], "label": curve["label"]})
        atomic_write_bytes(study.out_dir / "mrc.csv",
                           frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))
        lines.append(f"EPC knee of the LRU miss-ratio curve ({curve['label']}): "
                     f"{float(curve['knee_mib']):.1f} MiB")
    else:
        (study.out_dir / "mrc.csv").unlink(missing_ok=True)
    html_path, md_path = report_from_results(study.out_dir)
    lines.append(f"report: {html_path} (and {md_path.name})")
    return lines
