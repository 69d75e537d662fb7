"""One run of a study: the function that worker processes call.

A study (see :mod:`epcsim.api`) turns every :class:`~epcsim.scenario.RunPoint` into a
:class:`~epcsim.study.RunTask` whose payload is a :class:`RunPayload`: the resolved
:class:`~epcsim.model.ModelConfig`, the replication and the root seed. :func:`run_point`
simulates it with SGX and, when the scenario asks for it, without (the native baseline, with
the same seed, so both see the same arrivals, mix and page traces), and returns a
:class:`~epcsim.study.RunOutcome`: the summary metrics (docs/metrics.md), the per-operation
detail table, and provenance.

Only deterministic numbers go into the metrics: the wall time and anything else that varies
between executions of the same run goes into provenance, so ``summary.csv`` is the same bytes
with one worker, many, or a Dask cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from epcsim.model import ModelConfig, RunResult, simulate
from epcsim.study.task import RunOutcome

#: Model metrics that vary between executions of the same run; kept out of the summary.
NONDETERMINISTIC_METRICS = ("wall_time_s",)

#: Per-operation columns written to each run's Parquet detail table.
DETAIL_COLUMNS = ("arrival_s", "start_s", "end_s", "latency_s", "op_type", "phase", "faults",
                  "dropped", "measured", "compute_s", "memory_s", "transitions_s",
                  "paging_s", "tlb_s", "queueing_s")


@dataclass(frozen=True)
class RunPayload:
    """What a worker needs for one run (picklable: frozen dataclasses and numbers)."""

    config: ModelConfig
    replication: int
    seed: int
    native_baseline: bool = True
    keep_detail: bool = True


def _ratio(a: float, b: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b)) or b == 0:
        return float("nan")
    return a / b


def combine(sgx: RunResult, native: RunResult | None) -> dict[str, float]:
    """Summary metrics of a run: the SGX run's, plus the native baseline and slowdowns.

    ``slowdown_vs_native`` = SGX mean latency / native mean latency (for a closed loop
    without think time this is also native throughput / SGX throughput, by Little's law);
    ``throughput_ratio_vs_native`` = SGX throughput / native throughput.
    """
    metrics = {k: float(v) for k, v in sgx.metrics.items()
               if k not in NONDETERMINISTIC_METRICS}
    if native is not None:
        n = native.metrics
        metrics["native_throughput_ops_s"] = float(n["throughput_ops_s"])
        metrics["native_latency_mean_s"] = float(n["latency_mean_s"])
        metrics["native_latency_p99_s"] = float(n["latency_p99_s"])
        metrics["native_vcpu_utilisation"] = float(n["vcpu_utilisation"])
        metrics["slowdown_vs_native"] = _ratio(metrics["latency_mean_s"],
                                               float(n["latency_mean_s"]))
        metrics["throughput_ratio_vs_native"] = _ratio(metrics["throughput_ops_s"],
                                                       float(n["throughput_ops_s"]))
    else:
        for key in ("native_throughput_ops_s", "native_latency_mean_s", "native_latency_p99_s",
                    "native_vcpu_utilisation", "slowdown_vs_native",
                    "throughput_ratio_vs_native"):
            metrics[key] = float("nan")
    return metrics


def detail_table(result: RunResult) -> dict[str, np.ndarray]:
    """Per-operation columns of a run (warm-up included; ``measured`` marks the window)."""
    table = {name: np.asarray(result.arrays[name]) for name in DETAIL_COLUMNS
             if name in result.arrays}
    if "op_type" in table:
        names = np.asarray(result.op_names, dtype=object)
        table["op_name"] = names[table["op_type"]].astype(str)
    return table


def run_point(payload: RunPayload) -> RunOutcome:
    """Simulate one run (SGX, and native when asked) and package its outcome."""
    sgx = simulate(payload.config, payload.replication, payload.seed)
    native = (simulate(payload.config, payload.replication, payload.seed, native=True)
              if payload.native_baseline else None)
    provenance = {
        "seed": payload.seed,
        "replication": payload.replication,
        "vm": payload.config.vm.name,
        "sgx_wall_time_s": sgx.wall_time_s,
        "native_wall_time_s": native.wall_time_s if native is not None else None,
        "sim_time_s": sgx.sim_time_s,
        "notes": list(sgx.notes),
    }
    return RunOutcome(
        metrics=combine(sgx, native),
        detail=detail_table(sgx) if payload.keep_detail else None,
        provenance=provenance,
    )


def simulate_scenario(scenario: Any, vm: Any, *, replication: int = 0,
                      native: bool = False) -> RunResult:
    """One run in-process, no files: ``scenario`` (no sweep, or its first point) on ``vm`` (a
    :class:`~epcsim.reference.catalog.VmSize`, or a size name: a custom size of the scenario
    or a catalogue size)."""
    from epcsim.reference.catalog import get_vm
    from epcsim.scenario import plan_study, resolve_vm_sizes
    from epcsim.study.configure import model_config

    if isinstance(vm, str):
        custom = {v.size: v for v in resolve_vm_sizes(scenario)}
        vm = custom.get(vm) or get_vm(vm)
    scn = plan_study(scenario, check_sizes=False).points[0].scenario
    return simulate(model_config(scn, vm), replication, scn.simulation.seed, native=native)
