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

import dataclasses
import datetime as _dt
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
from epcsim.sizing.uncertainty import uncertainty_lines
from epcsim.study import confidence_intervals
from epcsim.study import run_study as _run_tasks
from epcsim.study.configure import model_config
from epcsim.study.execute import simulate_scenario
from epcsim.study.plan_tasks import _task, study_tasks
from epcsim.study.store import SUMMARY_FILE, atomic_write_bytes, study_lock
from epcsim.study.task import RunTask

__all__ = ["StudyOutput", "finish_study", "load_scenario", "plan_study",
           "recommend", "results_dir", "run_study", "simulate_run", "study_estimates",
           "study_lock", "study_tasks", "with_overrides"]

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


def results_dir(scenario: Scenario, out_dir: str | os.PathLike[str] | None = None) -> Path:
    """The results folder of ``scenario``: ``out_dir``, or ``results/<scenario name>``."""
    if out_dir is not None:
        return Path(out_dir)
    return RESULTS_ROOT / scenario.name


_resolve_out_dir = results_dir


def _sha256_file(path: Path) -> str | None:
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


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
    with study_lock(out):
        if precision is None:
            result = _run_tasks(study_tasks(plan, keep_detail=keep_detail), out, **options)
        else:
            result = _sequential(plan, precision, out, keep_detail, **options)
        summary_sha = _sha256_file(out / SUMMARY_FILE)
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
                       extra={"rejected_runs": dict(result.rejected),
                              "summary_sha256": summary_sha, "workers": workers,
                              "backend": backend})


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
              measured_ops: int = 5000, as_of: Any = None, workers: int | None = None,
              backend: Any = None, store_dir: str | os.PathLike[str] | None = None,
              force: bool = False, analytic: bool = True,
              estimates: Mapping[str, tuple[Mapping[str, float], float]] | None = None,
              progress: Any = None) -> Any:
    """Size the scenario's VM sizes under its ``slo`` and recommend the cheapest option.

    Returns an :class:`epcsim.sizing.SizingResult` (capacities, costs, the recommendation
    and its reasons, the EPC knee, sensitivity, what-ifs). The evaluations are simulations
    (:class:`epcsim.sizing.simulator.SimulatorEvaluator`) run on a local process pool
    (``workers``, default one per core; 1 = in this process) or a Dask cluster (``backend``,
    as for :func:`run_study`); the result is the same whichever. ``store_dir``: a folder
    where every evaluation is kept (``<key>.json``) and reused by a later call (``force``
    recomputes them); nothing is written without it. ``analytic=False`` searches without the
    analytic first guess (the earlier search, for comparison); ``estimates``: VM size ->
    (metrics, load) of a run of that size, e.g. the study's own. ``progress(done, total,
    reused)`` is called as evaluations finish. ``as_of`` (a ``datetime.date``, default today)
    decides which sizes are retired. Raises :class:`EpcsimError` when the scenario has no
    target load and latency bound.
    """
    result, _ = _size(scenario, vm_sizes=vm_sizes, sensitivity=sensitivity, what_ifs=what_ifs,
                      knee=knee, measured_ops=measured_ops, as_of=as_of, workers=workers,
                      backend=backend, store_dir=store_dir, force=force, analytic=analytic,
                      estimates=estimates, progress=progress)
    return result


def _size(scenario: Scenario, *, vm_sizes: Sequence[VmSize] | None, sensitivity: bool,
          what_ifs: bool, knee: bool, measured_ops: int, as_of: Any, workers: int | None,
          backend: Any, store_dir: str | os.PathLike[str] | None, force: bool, analytic: bool,
          estimates: Mapping[str, tuple[Mapping[str, float], float]] | None,
          progress: Any) -> tuple[Any, Any]:
    from epcsim.scenario import resolve_vm_sizes
    from epcsim.sizing import DEFAULT_WHAT_IFS, Slo
    from epcsim.sizing import recommend as _recommend
    from epcsim.sizing.parallel import simulator_cache

    if scenario.slo is None:
        raise EpcsimError("slo: sizing needs an `slo` section with target_load and "
                          "latency_bound")
    slo = Slo.from_spec(scenario.slo)
    vms = list(vm_sizes) if vm_sizes is not None else resolve_vm_sizes(scenario)
    ev, be = simulator_cache(scenario, slo, measured_ops=measured_ops, workers=workers,
                             backend=backend, force=force, progress=progress,
                             store_dir=Path(store_dir) if store_dir is not None else None)
    try:
        result = _recommend(ev, vms, slo, sensitivity=sensitivity,
                            what_ifs=DEFAULT_WHAT_IFS if what_ifs else (), knee=knee,
                            as_of=as_of, estimates=estimates, analytic=analytic)
        if scenario.uncertain:
            from epcsim.sizing.uncertainty import propagate_scenario

            result = dataclasses.replace(result, uncertainty=propagate_scenario(
                scenario, ev, vms, slo, result, analytic))
    finally:
        if be is not None:
            be.close()
    return result, ev


def mechanism_effects(scenario: Scenario, *, vm_sizes: Sequence[VmSize] | None = None,
                      mechanisms: Sequence[str] | None = None, driver: bool = True,
                      measured_ops: int = 2000, workers: int | None = None,
                      backend: Any = None, store_dir: str | os.PathLike[str] | None = None,
                      force: bool = False, progress: Any = None) -> Any:
    """Capacity of each VM size under the scenario's ``slo`` with every issue-14 mechanism
    on, and with each one (``mechanisms``, default all) switched off in turn, plus the other
    SGX driver (``driver``): an :class:`epcsim.sizing.mechanisms.MechanismEffects`. The
    evaluations run as :func:`recommend`'s do (``measured_ops`` per run, ``workers``,
    ``backend``, ``store_dir``, ``force``, ``progress``)."""
    from epcsim.scenario import resolve_vm_sizes
    from epcsim.sizing import Slo
    from epcsim.sizing.mechanisms import mechanism_cases, mechanism_steps, same_model_on
    from epcsim.sizing.parallel import simulator_cache
    from epcsim.sizing.steps import drive

    if scenario.slo is None:
        raise EpcsimError("slo: measuring capacities needs an `slo` section with target_load "
                          "and latency_bound")
    slo = Slo.from_spec(scenario.slo)
    cases = mechanism_cases(scenario, mechanisms, driver)
    vms = list(vm_sizes) if vm_sizes is not None else resolve_vm_sizes(scenario)
    ev, be = simulator_cache(scenario, slo, measured_ops=measured_ops, workers=workers,
                             backend=backend, force=force, progress=progress,
                             store_dir=Path(store_dir) if store_dir is not None else None)
    try:
        effects = drive(mechanism_steps(vms, slo, cases,
                                        same_model_on(scenario, slo.target_load_ops_s)), ev)
    finally:
        if be is not None:
            be.close()
    off = [n for n, on in scenario.simulation.mechanisms.model_dump().items() if not on]
    if off:
        effects.notes.append(f"off in the scenario itself (not measured): {', '.join(off)}")
    return effects


class _SizingProgress:
    """Sizing progress on stderr: evaluations done/expected, reused, time left. A tqdm bar
    on a terminal; elsewhere (a log file, CI) one line at most every ``interval_s``."""

    def __init__(self, interval_s: float = 5.0) -> None:
        self.stream = sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.monotonic()
        self.last = self.t0
        self.interval_s = interval_s
        self.done = self.total = self.reused = 0
        self.bar: Any = None
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=0, desc="sizing", unit="eval", file=self.stream,
                            dynamic_ncols=True, mininterval=0.2)

    def left_s(self) -> float | None:
        computed = self.done - self.reused
        if computed <= 0:
            return None
        rate = computed / max(time.monotonic() - self.t0, 1e-9)
        return max(0, self.total - self.done) / rate

    def __call__(self, done: int, total: int, reused: int) -> None:
        self.done, self.total, self.reused = done, total, reused
        if self.bar is not None:
            self.bar.total = total
            self.bar.set_postfix(reused=reused, refresh=False)
            self.bar.update(done - self.bar.n)
            return
        now = time.monotonic()
        if now - self.last >= self.interval_s:
            self.last = now
            print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        left = self.left_s()
        return (f"sizing: {self.done}/~{self.total} evaluations ({self.reused} reused), "
                f"{time.monotonic() - self.t0:.0f} s elapsed"
                + (f", about {left:.0f} s left" if left is not None else ""))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.total = self.bar.n
            self.bar.refresh()
            self.bar.close()


#: Files derived from a study's summary (and scenario) by :func:`finish_study`.
DERIVED_FILES = ("sizing.json", "mrc.csv", "report.html", "report.md")
#: The record that ties the derived files to the summary they came from.
DERIVED_MANIFEST = "derived.json"


def _remove_derived(out: Path) -> None:
    for name in (DERIVED_MANIFEST, *DERIVED_FILES):
        try:
            (out / name).unlink(missing_ok=True)
        except OSError as exc:
            raise EpcsimError(f"cannot remove {out / name}: {exc.strerror or exc}") from None


def _up_to_date(out: Path, key: str) -> list[str] | None:
    """The stored lines when every derived file is there, unchanged, for this ``key``."""
    try:
        manifest = json.loads((out / DERIVED_MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("key") != key:
        return None
    files = manifest.get("files")
    lines = manifest.get("lines")
    if not isinstance(files, dict) or not isinstance(lines, list):
        return None
    for name, digest in files.items():
        if name not in DERIVED_FILES or _sha256_file(out / name) != digest:
            return None
    return [str(line) for line in lines]


def study_estimates(study: StudyOutput) -> dict[str, tuple[dict[str, float], float]] | None:
    """VM size -> (mean metrics, offered load) of the study's own runs, when the study has
    one point per size (no sweep): the analytic first guess of each size's capacity."""
    agg = study.aggregate
    if study.scenario.sweep or agg.empty or "offered_load_ops_s" not in agg:
        return None
    estimates: dict[str, tuple[dict[str, float], float]] = {}
    for _, row in agg.iterrows():
        metrics = {str(k): float(v) for k, v in row.items()
                   if isinstance(v, int | float) and not isinstance(v, bool)}
        load = metrics.get("offered_load_ops_s", float("nan"))
        if load > 0:
            estimates[str(row["vm_size"])] = (metrics, load)
    return estimates or None


def finish_study(study: StudyOutput, *, sizing: bool = True, mrc: bool = True,
                 progress: bool = False, workers: int | None = None, backend: Any = None,
                 force: bool = False, sizing_cache: bool = True,
                 analytic: bool = True) -> list[str]:
    """Size (when the scenario has an SLO), compute the miss-ratio curve, write the report.

    Writes ``sizing.json``, ``mrc.csv``, ``report.html``, ``report.md`` and ``figures/``
    inside ``study.out_dir``, then builds the report from those stored files (so ``epcsim
    report`` on the folder gives the same bytes); returns lines for people.

    The derived files belong to one summary: ``sizing.json`` records the SHA-256 of the
    ``summary.csv`` it came from, and ``derived.json`` records that digest, the inputs and
    each derived file's digest. When they still match (nothing changed since the last call)
    the files are kept as they are; otherwise they are removed first and rebuilt, and removed
    again if this call fails or is interrupted, so an earlier study's sizing or report never
    stands beside a newer summary. The study lock is held throughout; if another process
    wrote a new summary since ``study`` ran, this raises :class:`EpcsimError`.

    Sizing evaluations run on ``workers``/``backend`` (as for :func:`run_study`; default: the
    study's) and are kept in ``sizing-evals/`` (unless ``sizing_cache`` is false) for the next
    call; ``force`` recomputes them and rebuilds everything. ``progress`` shows the sizing
    search's progress (evaluations done/expected, time left) on stderr.
    """
    import hashlib

    scenario = study.scenario
    out = study.out_dir
    workers = workers if workers is not None else study.extra.get("workers")
    backend = backend if backend is not None else study.extra.get("backend")
    slo = scenario.slo
    do_sizing = bool(sizing and slo is not None and slo.target_load_per_s
                     and slo.latency_bound_s)
    do_mrc = bool(mrc and any(op.memory for op in scenario.workload.operations))
    with study_lock(out):
        summary_sha = _sha256_file(out / SUMMARY_FILE)
        expected = study.extra.get("summary_sha256")
        if expected is not None and summary_sha != expected:
            raise EpcsimError(f"{out / SUMMARY_FILE}: changed since this study ran (another "
                              "epcsim run wrote to the folder); run the study again")
        key = hashlib.sha256(json.dumps(
            {"summary_sha256": summary_sha, "epcsim": __version__, "sizing": do_sizing,
             "mrc": do_mrc, "analytic": analytic, "today": _dt.date.today().isoformat()
             if slo is None or slo.as_of is None else None,
             "scenario": scenario.model_dump(mode="json", by_alias=True)},
            sort_keys=True, default=str).encode("utf-8")).hexdigest()
        if not force:
            kept = _up_to_date(out, key)
            if kept is not None:
                if progress:
                    print("sizing and report: up to date with summary.csv (kept)",
                          file=sys.stderr)
                return kept
        _remove_derived(out)
        from epcsim.report import report_from_results  # matplotlib: only when rebuilding

        try:
            lines = _derive(study, out, summary_sha, do_sizing, do_mrc, progress, workers,
                            backend, force, sizing_cache, analytic)
            html_path, md_path = report_from_results(out)
            lines.append(f"report: {html_path} (and {md_path.name})")
            files = {name: _sha256_file(out / name) for name in DERIVED_FILES
                     if (out / name).is_file()}
            manifest = {"key": key, "summary_sha256": summary_sha, "files": files,
                        "lines": lines}
            atomic_write_bytes(out / DERIVED_MANIFEST,
                               (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
        except BaseException:
            _remove_derived(out)  # never leave a half-derived set beside the summary
            raise
    return lines


def _derive(study: StudyOutput, out: Path, summary_sha: str | None, do_sizing: bool,
            do_mrc: bool, progress: bool, workers: int | None, backend: Any, force: bool,
            sizing_cache: bool, analytic: bool) -> list[str]:
    scenario = study.scenario
    lines: list[str] = []
    if do_sizing:
        bar = _SizingProgress() if progress else None
        if progress:
            print(f"sizing: capacity search under the SLO on {len(study.plan.vm_sizes)} sizes"
                  + (" (evaluations kept in sizing-evals/)" if sizing_cache else ""),
                  file=sys.stderr)
        t0 = time.perf_counter()
        try:
            result, ev = _size(scenario, vm_sizes=None, sensitivity=True, what_ifs=True,
                               knee=True, measured_ops=5000, as_of=None, workers=workers,
                               backend=backend,
                               store_dir=out / "sizing-evals" if sizing_cache else None,
                               force=force, analytic=analytic,
                               estimates=study_estimates(study) if analytic else None,
                               progress=bar)
        finally:
            if bar is not None:
                bar.close()
        if progress:
            print(f"sizing: {ev.calls} evaluations ({ev.reused} reused, {ev.computed} run) in "
                  f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
        data = json.loads(result.to_json())
        data["summary_sha256"] = summary_sha
        atomic_write_bytes(out / "sizing.json",
                           (json.dumps(data, indent=2) + "\n").encode("utf-8"))
        lines.append("recommendation:")
        lines.extend(f"  {reason}" for reason in result.reasons)
        if result.uncertainty:  # issue 17: the uncertain inputs' draws
            lines.extend(uncertainty_lines(result.uncertainty))
    if do_mrc:
        from epcsim.study.page_trace import scenario_mrc

        curve = scenario_mrc(scenario)
        frame = pd.DataFrame({"capacity_mib": curve["capacity_mib"],
                              "miss_ratio": curve["miss_ratio"], "label": curve["label"]})
        atomic_write_bytes(out / "mrc.csv",
                           frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))
        lines.append(f"Hot-set knee ({curve['label']}): {float(curve['knee_mib']):.1f} MiB, "
                     "the EPC beyond which more EPC buys few fewer misses (LRU miss-ratio "
                     "curve of the page trace; the hot set, not the whole working set)")
    return lines
