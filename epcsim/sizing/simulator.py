"""The simulator as the sizing module's evaluation function.

:mod:`epcsim.sizing` searches for each VM size's capacity under a latency objective by asking
an injected ``evaluate(vm, load_ops_s, variant) -> metrics`` many times. This module provides
that function over the SimPy model: write the variant and an open-loop Poisson load into the
scenario (:func:`epcsim.sizing.apply_variant`, through the scenario's own validation), build
the model config for the VM, simulate, and return the run's summary metrics.

Run length. A capacity search needs many evaluations at loads far from the scenario's own,
so each one is sized in operations, not in the scenario's seconds: a warm-up of as many
operations as the scenario's warm-up holds at the SLO's target load (at most
``max_warmup_ops``; the EPC reaches its steady state after a number of page touches, not
after a time), then ``measured_ops`` measured operations (at least ``min_measure_s``).
With the default 5,000 measured operations the p99 rests on the slowest 50: enough
to place a capacity within the bisection tolerance, not a substitute for the study's own
replicated runs, which the report shows beside the sizing. Heavy operations (an inference
that streams 20,000 pages) would make that slow, so both counts are also capped by a budget
of page touches per evaluation (``touch_budget``, default 4 million), with at least
``min_measured_ops`` (200) measured operations. Every evaluation uses the
scenario's root seed and replication 0 (common random numbers), so the latency is a smooth
function of load and the bisection sees a consistent ordering.

Replay. Given the SLO's bound (``latency_bound_s``), each evaluation also replays its own
requests at other loads (:mod:`epcsim.sizing.replay`) and adds plain floats the capacity
search starts from: ``replay_capacity_ops_s``, ``replay_servers``,
``replay_hold_fraction`` and ``replay_load_scale`` (see ``_replay``). The bound and the
replay's version are part of the evaluator's settings, hence of the evaluation store's
namespace.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from epcsim.errors import EpcsimError
from epcsim.model import simulate
from epcsim.model.run_costs import run_costs
from epcsim.reference.catalog import VmSize
from epcsim.scenario import Scenario
from epcsim.sizing import apply_variant, latency_key
from epcsim.sizing.replay import REPLAY_VERSION, replay_calibration, replay_capacity, replay_servers
from epcsim.sizing.slo import SUSTAIN_FRACTION
from epcsim.study.configure import model_config, working_set_bytes
from epcsim.study.task import RunOutcome


def mean_touches_per_op(scenario: Scenario) -> float:
    """Mean page touches of one operation of the scenario's mix (weights as written)."""
    total_weight = sum(op.weight for op in scenario.workload.operations)
    touches = 0.0
    for op in scenario.workload.operations:
        per_op = 0.0
        for m in op.memory:
            pages = m.pages
            if isinstance(pages, int):
                per_op += pages
            elif pages.mean is not None:
                per_op += pages.mean
            else:
                per_op += ((pages.min or 0) + (pages.max or 0)) / 2
        touches += op.weight / total_weight * per_op
    return touches


class SimulatorEvaluator:
    """``evaluate(vm, load_ops_s, variant)`` over the SimPy model (see the module doc)."""

    def __init__(self, scenario: Scenario, *, reference_load_ops_s: float,
                 latency_percentile: float = 99.0, measured_ops: int = 5000,
                 max_warmup_ops: int = 20_000, min_measure_s: float = 1e-3,
                 touch_budget: float = 4e6, min_measured_ops: int = 200,
                 latency_bound_s: float | None = None) -> None:
        self.scenario = scenario
        self.latency_bound_s = latency_bound_s
        self.latency_percentile = latency_percentile
        per_op = max(1.0, mean_touches_per_op(scenario))
        self.measured_ops = max(min_measured_ops, min(measured_ops,
                                                      int(touch_budget / per_op)))
        self.warmup_ops = min(max_warmup_ops, int(touch_budget / per_op),
                              math.ceil(scenario.simulation.warmup_s * reference_load_ops_s))
        self.min_measure_s = min_measure_s
        self.runs = 0
        self.infeasible: list[str] = []

    def window_s(self, load_ops_s: float) -> tuple[float, float]:
        """(warm-up, measured) simulated seconds of one evaluation at ``load_ops_s``."""
        return (self.warmup_ops / load_ops_s,
                max(self.measured_ops / load_ops_s, self.min_measure_s))

    def __call__(self, vm: VmSize, load_ops_s: float, variant: dict[str, Any]) -> dict[str, float]:
        scn = apply_variant(self.scenario, load_ops_s, variant, vm_size=vm.size)
        config = model_config(scn, vm)
        warmup_s, measure_s = self.window_s(load_ops_s)
        settings = dataclasses.replace(config.settings, warmup_s=warmup_s,
                                       duration_s=warmup_s + measure_s)
        config = dataclasses.replace(config, settings=settings)
        try:
            result = simulate(config, 0, scn.simulation.seed)
        except EpcsimError as exc:
            # The variant does not fit this VM (e.g. switchless workers on 1 vCPU): it
            # cannot serve any load there.
            return self._infeasible(str(exc))
        self.runs += 1
        # Wall-clock time is not a prediction (and differs run to run): leave it out, so an
        # evaluation is a pure function of its inputs.
        metrics = {k: float(v) for k, v in result.metrics.items() if k != "wall_time_s"}
        key = latency_key(self.latency_percentile)
        if key not in metrics:
            a = result.arrays
            done = a["measured"] & ~np.isnan(a["end_s"])
            lat = a["latency_s"][done]
            metrics[key] = (float(np.quantile(lat, self.latency_percentile / 100))
                            if lat.size else math.nan)
        metrics["working_set_mib"] = working_set_bytes(scn) / 2**20
        metrics["enclave_mib"] = sum(e.size_bytes for e in scn.enclaves) / 2**20
        metrics["arrival_rate_ops_s"] = metrics["ops_arrived"] / measure_s
        if self.latency_bound_s is not None:
            metrics.update(self._replay(result.arrays, config, load_ops_s, self.latency_bound_s,
                                        (warmup_s, warmup_s + measure_s), metrics))
        return metrics

    @staticmethod
    def _reclaim_sessions(faults: np.ndarray, arrival_s: np.ndarray, config: Any,
                          metrics: dict[str, float]) -> tuple[np.ndarray, np.ndarray] | None:
        """ksgxd's reclaim sessions as background work for the replay: ksgxd wakes when the
        free pages fall below the low watermark and holds a vCPU until the high watermark,
        so a session starts every ``high - low`` faults (at the request whose faults cross
        the next multiple) and lasts that many evictions at the run's ksgxd time per
        eviction."""
        evictions = metrics.get("epc_evictions_per_s", 0.0)
        busy = metrics.get("ksgxd_utilisation", 0.0)
        if not (evictions > 0 and busy > 0 and faults.sum() > 0):
            return None
        costs = run_costs(config)
        pages = max(1, costs.high_watermark_pages - costs.low_watermark_pages)
        crossed = np.diff(np.concatenate([[0], np.cumsum(faults) // pages]))
        idx = np.nonzero(crossed)[0]
        return arrival_s[idx], crossed[idx] * pages * busy / evictions

    def _replay(self, a: dict[str, np.ndarray], config: Any, load_ops_s: float,
                bound_s: float, window: tuple[float, float], metrics: dict[str, float]
                ) -> dict[str, float]:
        """The replayed capacity of this run (:mod:`epcsim.sizing.replay`): its requests in
        a FCFS queue whose server count is fitted to the run, at the load multiple where the
        SLO percentile reaches the bound. Plain floats, so the evaluation store keeps them."""
        live = ~a["dropped"]
        arrival = a["arrival_s"][live]
        start, end = a["start_s"][live], a["end_s"][live]
        measured = a["measured"][live]
        done = ~np.isnan(end) & ~np.isnan(start)
        if done.sum() < 2 or not measured.any():
            return {}
        service = np.where(done, end - start, np.median((end - start)[done]))
        vcpus = config.vm.vcpus
        threads = sum(e.threads for e in config.enclaves)
        hold = 1.0
        if threads and threads <= vcpus:
            limit = threads  # the TCS slots, held from start to end, bound the concurrency
        else:
            # The vCPUs bound it; an operation holds one for less than its service time when
            # it releases it (blocking OCALLs): the ratio of the run's vCPU time for
            # operations (ksgxd's excluded) to their summed service times.
            limit = vcpus
            sel = done & measured
            held_s = float((end - start)[sel].sum()) / (window[1] - window[0])
            ops_vcpu = (metrics.get("vcpu_utilisation", math.nan) * vcpus
                        - metrics.get("ksgxd_utilisation", 0.0))
            if held_s > 0 and math.isfinite(ops_vcpu) and ops_vcpu > 0:
                hold = min(1.0, ops_vcpu / held_s)
        # ksgxd takes a vCPU: it competes with the operations when the vCPUs bound them (or
        # are as many as the TCS slots); with fewer TCS slots than vCPUs it runs beside them.
        background = (None if threads and threads < vcpus else
                      self._reclaim_sessions(a["faults"][live], arrival, config, metrics))
        servers = replay_servers(arrival, service, a["latency_s"][live], limit, background,
                                 done & measured, hold)
        k = replay_capacity(arrival, service, window, servers, self.latency_percentile,
                            bound_s, SUSTAIN_FRACTION, background=background,
                            hold_fraction=hold)
        scale = 1.0
        if 0.8 <= k <= 1.25:  # near the capacity: correct the replay's load axis by the run
            own = metrics.get(latency_key(self.latency_percentile), math.nan)
            scale = replay_calibration(arrival, service, window, servers,
                                       self.latency_percentile, own, background=background,
                                       hold_fraction=hold)
        return {"replay_servers": float(servers), "replay_hold_fraction": hold,
                "replay_load_scale": scale, "replay_capacity_ops_s": k / scale * load_ops_s}

    def _infeasible(self, why: str) -> dict[str, float]:
        nan = math.nan
        self.infeasible.append(why)
        return {"throughput_ops_s": 0.0, latency_key(self.latency_percentile): math.inf,
                "share_compute": nan, "share_memory": nan, "share_transitions": nan,
                "share_paging": nan, "share_tlb": nan, "share_queueing": nan,
                "epc_faults_per_s": 0.0,
                "vcpu_utilisation": 1.0,
                "working_set_mib": working_set_bytes(self.scenario) / 2**20}


@dataclass(frozen=True)
class EvaluationPayload:
    """What a worker needs for one evaluation (picklable: it travels to worker processes)."""

    scenario: Scenario
    settings: dict[str, Any]
    vm: VmSize
    load_ops_s: float
    variant: dict[str, Any]


def evaluator_settings(evaluator: SimulatorEvaluator) -> dict[str, Any]:
    """The evaluator's own parameters, as the keyword arguments of :func:`rebuild`."""
    return {"latency_percentile": evaluator.latency_percentile,
            "measured_ops": evaluator.measured_ops, "warmup_ops": evaluator.warmup_ops,
            "min_measure_s": evaluator.min_measure_s,
            "latency_bound_s": evaluator.latency_bound_s, "replay": REPLAY_VERSION}


def rebuild(scenario: Scenario, settings: dict[str, Any]) -> SimulatorEvaluator:
    """A :class:`SimulatorEvaluator` with exactly these run lengths."""
    ev = SimulatorEvaluator(scenario, reference_load_ops_s=1.0,
                            latency_percentile=settings["latency_percentile"])
    ev.measured_ops = int(settings["measured_ops"])
    ev.warmup_ops = int(settings["warmup_ops"])
    ev.min_measure_s = float(settings["min_measure_s"])
    ev.latency_bound_s = settings.get("latency_bound_s")
    return ev


def evaluate_payload(payload: EvaluationPayload) -> RunOutcome:
    """The run function of one evaluation on a study backend (``epcsim.study.task``): the
    metrics, or a failed outcome of type ``EpcsimError`` when the point cannot run."""
    ev = rebuild(payload.scenario, payload.settings)
    try:
        metrics = ev(payload.vm, payload.load_ops_s, payload.variant)
    except EpcsimError as exc:
        return RunOutcome(error=str(exc), error_type="EpcsimError")
    return RunOutcome(metrics=metrics)
