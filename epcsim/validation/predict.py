"""Predicting the corpus: every published point run on the model, in parallel, deterministic.

A point becomes a :class:`PredictJob` (the predictor, the scenario file, the point's literal
assignments, optional cost-parameter overrides and whether the native baseline is needed).
Jobs are independent and deterministic (the scenario's seed, replication 0, one
replication), so they run in any order on any number of processes and give the same
numbers. Identical jobs (two series read from the same runs, e.g. an absolute series and its
slowdown) run once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from epcsim.errors import EpcsimError
from epcsim.validation.corpus import CorpusPoint, CorpusSeries


@dataclass(frozen=True)
class PredictJob:
    """One model evaluation for one point (hashable, picklable)."""

    predictor: str
    scenario: str
    x: float
    assignments: tuple[str, ...]
    args: tuple[tuple[str, float], ...]
    native: bool
    costs: tuple[str, ...] = ()


def job_for(series: CorpusSeries, point: CorpusPoint, costs: Sequence[str] = ()
            ) -> PredictJob:
    """The job that predicts ``point`` of ``series`` (``costs``: ``costs.NAME=value``)."""
    return PredictJob(series.predictor, str(series.scenario), point.x_value, point.assignments,
                      tuple(sorted(series.predictor_args.items())), series.needs_native,
                      tuple(costs))


def run_job(job: PredictJob) -> dict[str, float]:
    """Simulate one job; the metrics it gives (native ones prefixed ``native:``)."""
    from epcsim.validation.harness import simulate_enclave_build, simulate_hash_join

    overrides = [*job.assignments, *job.costs]
    args = dict(job.args)
    if job.predictor == "hash_join":
        p = simulate_hash_join(job.scenario, job.x, args["probe_mib"], overrides=overrides)
        return {"throughput_mrec_s": p.throughput_mrec_s, "ewb_pages": p.ewb_pages}
    if job.predictor == "enclave_build":
        return {"build_time_s": simulate_enclave_build(job.scenario, job.x,
                                                       overrides=overrides)}
    if job.predictor != "run":
        raise EpcsimError(f"unknown predictor {job.predictor!r}")
    from epcsim.scenario import load_scenario, resolve_vm_sizes
    from epcsim.study.execute import simulate_scenario

    scn = load_scenario(job.scenario, [*overrides, "simulation.replications=1"])
    vm = resolve_vm_sizes(scn)[0]
    out = {k: float(v) for k, v in simulate_scenario(scn, vm).metrics.items()
           if isinstance(v, int | float)}
    if job.native:
        native = simulate_scenario(scn, vm, native=True).metrics
        out.update({f"native:{k}": float(v) for k, v in native.items()
                    if isinstance(v, int | float)})
    return out


def run_job_or_error(job: PredictJob) -> dict[str, float] | str:
    """:func:`run_job`, or the first line of its error (one series' failure must not stop
    the others)."""
    try:
        return run_job(job)
    except EpcsimError as exc:
        return str(exc).splitlines()[0][:300]


def run_jobs(jobs: Iterable[PredictJob], *, workers: int = 1,
             progress: Callable[[PredictJob], None] | None = None,
             runner: Callable[[PredictJob], Any] = run_job) -> dict[PredictJob, Any]:
    """Run each distinct job once with ``runner`` (``workers`` processes; 1 = in this
    process), in job order."""
    unique = list(dict.fromkeys(jobs))
    out: dict[PredictJob, Any] = {}
    if workers > 1 and len(unique) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(workers, len(unique))) as pool:
            for job, value in zip(unique, pool.map(runner, unique), strict=True):
                out[job] = value
                if progress:
                    progress(job)
    else:
        for job in unique:
            out[job] = runner(job)
            if progress:
                progress(job)
    return out


def model_value(series: CorpusSeries, metrics: dict[str, float]) -> float:
    """The model's counterpart of one measured point, before any per-first normalisation."""
    def get(name: str) -> float:
        if name not in metrics:
            raise EpcsimError(f"series {series.series}: the model gives no metric {name!r} "
                              f"(known: {', '.join(sorted(k for k in metrics if ':' not in k))})")
        return metrics[name]

    value = get(series.metric)
    if series.compare == "sgx_over_native":
        native = get(f"native:{series.native_metric}")
        value = value / native if native else math.nan
    elif series.compare == "native_over_sgx":
        native = get(f"native:{series.native_metric}")
        value = native / value if value else math.nan
    return series.scale * value
