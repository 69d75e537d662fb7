"""Capacity of one VM size under the SLO: the binding resource of an evaluation and the
bracketing/bisection search for the highest load that meets the objective.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from epcsim.errors import EpcsimError
from epcsim.reference.catalog import HOURS_PER_MONTH, VmSize
from epcsim.sizing.evaluator import CachedEvaluator
from epcsim.sizing.slo import (
    BIND_CONFIG,
    BIND_EPC,
    BIND_KSGXD,
    BIND_SERVICE,
    BIND_THREADS,
    BIND_TRANSITIONS,
    BIND_VCPUS,
    DEFAULT_REL_TOL,
    MAX_LOAD_MULTIPLE,
    MIN_LOAD_FRACTION,
    NEGLIGIBLE_QUEUEING_SHARE,
    SATURATED_UTILISATION,
    SUSTAIN_FRACTION,
    Evaluate,
    Slo,
)

# --------------------------------------------------------------------------- binding resource


def binding_resource(metrics: Mapping[str, float], vm: VmSize) -> tuple[str, str]:
    """Name the resource that limits ``vm`` at the evaluated point, and say why.

    Rules, in order: ksgxd busy >= 85 % -> ksgxd; enclave threads busy >= 85 % while the vCPUs
    are not -> enclave threads; EPC paging the largest of the service-time shares -> EPC
    paging; queueing >= 50 % of the latency while at least one vCPU's worth sits idle ->
    enclave threads (something other than the vCPUs limits concurrency; the model's only such
    limit is the TCS count); transitions the largest share -> enclave transitions; vCPUs busy
    >= 85 % -> vCPUs; else the per-operation service time itself is close to the bound.
    Shares in the explanation are of the service time (queueing excluded).
    """
    util = metrics.get("vcpu_utilisation", math.nan)
    ksgxd = metrics.get("ksgxd_utilisation", math.nan)
    threads = metrics.get("enclave_thread_utilisation", math.nan)
    paging = metrics.get("share_paging", 0.0)
    trans = metrics.get("share_transitions", 0.0)
    work = (metrics.get("share_compute", 0.0) + metrics.get("share_memory", 0.0)
            + metrics.get("share_tlb", 0.0))
    ws = metrics.get("working_set_mib", math.nan)
    faults = metrics.get("epc_faults_per_s", 0.0)
    ws_text = (f"working set {ws:,.0f} MiB vs {vm.epc_mib:,.0f} MiB EPC"
               if math.isfinite(ws) else f"{vm.epc_mib:,.0f} MiB EPC")
    if math.isfinite(ksgxd) and ksgxd >= SATURATED_UTILISATION:
        return BIND_KSGXD, (f"the EPC reclaimer ksgxd is busy {ksgxd:.0%} of the time "
                            f"({faults:,.0f} EPC faults/s; {ws_text})")
    if (math.isfinite(threads) and threads >= SATURATED_UTILISATION
            and not (util >= SATURATED_UTILISATION)):
        return BIND_THREADS, (f"every enclave thread is busy ({threads:.0%}) while the vCPUs "
                              f"are {util:.0%} busy")
    service = paging + trans + work
    if service <= 0:
        return BIND_SERVICE, "the evaluator reported no time shares"
    busy = (f"the {vm.vcpus} vCPU(s) are {util:.0%} busy"
            if math.isfinite(util) else f"{vm.vcpus} vCPU(s)")
    largest = max(paging, trans, work)
    if largest == paging:
        return BIND_EPC, (f"EPC paging takes {paging / service:.0%} of each operation's service "
                          f"time ({faults:,.0f} EPC faults/s; {ws_text}); {busy}")
    queueing = metrics.get("share_queueing", 0.0)
    idle_vcpus = vm.vcpus * (1.0 - util) if math.isfinite(util) else 0.0
    if queueing >= 0.5 and idle_vcpus >= 1.0:
        return BIND_THREADS, (f"requests queue ({queueing:.0%} of the mean latency) while "
                              f"{idle_vcpus:.1f} of {vm.vcpus} vCPUs sit idle: the enclave "
                              "threads (TCS slots) limit how many operations run at once")
    if largest == trans:
        return BIND_TRANSITIONS, (f"enclave transitions (ECALL/OCALL/AEX) take "
                                  f"{trans / service:.0%} of each operation's service time; "
                                  f"{busy}")
    if util >= SATURATED_UTILISATION:
        return BIND_VCPUS, (f"{busy} with enclave compute and memory work "
                            f"({work / service:.0%} of each operation's service time)")
    return BIND_SERVICE, (f"compute and memory take {work / service:.0%} of each operation's "
                          f"service time and {busy}: the latency bound is close to one "
                          "operation's own service time")


# --------------------------------------------------------------------------- capacity search


@dataclass(frozen=True)
class SizeCapacity:
    """The capacity of one VM size under the SLO (for one variant)."""

    vm_size: str
    series: str
    vcpus: int
    epc_mib: float
    usd_per_hour: float
    retires_on: str | None
    capacity_ops_s: float
    meets_at_any_load: bool
    capacity_is_lower_bound: bool
    binding_resource: str
    binding_reason: str
    metrics_at_capacity: dict[str, float]
    bracket_low_ops_s: float
    bracket_high_ops_s: float
    evaluations: int

    @property
    def ops_per_usd(self) -> float:
        """Operations per US dollar when one VM runs at its capacity (throughput per dollar)."""
        return self.capacity_ops_s * 3600.0 / self.usd_per_hour if self.usd_per_hour else 0.0

    @property
    def usd_per_million_ops(self) -> float | None:
        """Cost of a million operations at capacity; None when the size cannot meet the SLO."""
        if self.capacity_ops_s <= 0:
            return None
        return self.usd_per_hour / (self.capacity_ops_s * 3600.0) * 1e6

    @property
    def usd_per_month(self) -> float:
        return self.usd_per_hour * HOURS_PER_MONTH

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SizeCapacity:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


def _keeps_up(metrics: Mapping[str, float], load_ops_s: float) -> bool:
    """Throughput is at least SUSTAIN_FRACTION of the load that arrived: the realised arrival
    rate (``arrival_rate_ops_s``) when the evaluator reports it, else the nominal load. (A
    short run's Poisson arrivals can fall 5 % short of the nominal rate; with common random
    numbers the same shortfall would repeat at every load.)"""
    throughput = metrics.get("throughput_ops_s", math.nan)
    offered = metrics.get("arrival_rate_ops_s", load_ops_s)
    if not math.isfinite(offered) or offered <= 0:
        offered = load_ops_s
    return math.isfinite(throughput) and throughput >= SUSTAIN_FRACTION * offered


def _meets(metrics: Mapping[str, float], load_ops_s: float, slo: Slo) -> bool:
    latency = metrics.get(slo.latency_metric, math.nan)
    return (math.isfinite(latency) and latency <= slo.latency_bound_s
            and _keeps_up(metrics, load_ops_s))


def _service_bound(metrics: Mapping[str, float], load_ops_s: float, slo: Slo) -> bool:
    """True when a failing evaluation failed on service time alone, so no lower load can meet
    the bound: either it kept up with the load and queueing is a negligible share of its
    latency, or its mean service time (mean latency less the queueing share) already
    exceeds the bound (a percentile of latency is at least the service time's typical
    value; this also catches overloaded runs, whose queueing hides the service time)."""
    if not metrics:
        return False
    queueing = metrics.get("share_queueing", math.nan)
    latency = metrics.get(slo.latency_metric, math.nan)
    if not (math.isfinite(queueing) and latency > slo.latency_bound_s):
        return False
    if queueing < NEGLIGIBLE_QUEUEING_SHARE and _keeps_up(metrics, load_ops_s):
        return True
    service_s = metrics.get("latency_mean_s", math.nan) * (1.0 - queueing)
    return math.isfinite(service_s) and service_s > slo.latency_bound_s


def capacity_search(
    evaluate: CachedEvaluator | Evaluate,
    vm: VmSize,
    slo: Slo,
    variant: Mapping[str, Any] | None = None,
    *,
    rel_tol: float = DEFAULT_REL_TOL,
    start_ops_s: float | None = None,
) -> SizeCapacity:
    """Highest offered load (ops/s) at which ``vm`` meets ``slo``, by bracketing + bisection.

    See the module docstring for the monotonicity assumption. ``rel_tol`` is the final bracket
    width relative to its lower end. Without ``start_ops_s`` the bracket starts at the target
    load and doubles or halves; with it (a warm start, e.g. the capacity of the same size
    before a what-if) it starts there with steps of x1.25 that grow to x2. Costs about
    log2(range) + log2(1/rel_tol) evaluations cold, a few fewer warm.
    """
    if not 0 < rel_tol < 1:
        raise ValueError(f"rel_tol must be in (0, 1), got {rel_tol!r}")
    ev = evaluate if isinstance(evaluate, CachedEvaluator) else CachedEvaluator(evaluate)
    variant = dict(variant or {})
    calls_before = ev.calls + ev.hits
    target = slo.target_load_ops_s
    floor_ops_s, ceiling_ops_s = target * MIN_LOAD_FRACTION, target * MAX_LOAD_MULTIPLE

    errors: list[str] = []

    def probe(load: float) -> tuple[bool, dict[str, float]]:
        try:
            m = ev(vm, load, variant)
        except EpcsimError as exc:  # the scenario or variant cannot run at this point
            errors.append(str(exc))
            return False, {}
        if slo.latency_metric not in m:
            raise ValueError(f"evaluate() returned no {slo.latency_metric} (the SLO "
                             f"percentile) for {vm.size}")
        return _meets(m, load, slo), m

    warm = start_ops_s is not None and math.isfinite(start_ops_s) and start_ops_s > 0
    load = target
    if start_ops_s is not None and warm:
        load = min(max(float(start_ops_s), floor_ops_s), ceiling_ops_s)
    step = 1.25 if warm else 2.0
    ok, metrics = probe(load)
    if errors:
        # The scenario (or this variant of it) cannot run on this size at all, e.g. the
        # switchless workers would take every vCPU: rule the size out and say why.
        return SizeCapacity(
            vm.size, vm.series, vm.vcpus, vm.epc_mib, vm.linux_usd_per_hour, vm.retires_on,
            0.0, False, False, BIND_CONFIG, f"cannot run on this size: {errors[0]}", {}, 0.0,
            load, ev.calls + ev.hits - calls_before)
    lower_bound = False
    if ok:
        lo, lo_metrics = load, metrics
        hi = math.inf
        while load < ceiling_ops_s:
            load *= step
            step = min(step * step, 2.0)
            ok, metrics = probe(load)
            if not ok:
                hi = load
                break
            lo, lo_metrics = load, metrics
        if math.isinf(hi):
            lower_bound = True
            hi = lo
    else:
        hi, fail_metrics = load, metrics
        lo = 0.0
        lo_metrics = {}
        while load > floor_ops_s and not _service_bound(fail_metrics, load, slo):
            load /= step
            step = min(step * step, 2.0)
            ok, metrics = probe(load)
            if ok:
                lo, lo_metrics = load, metrics
                break
            hi, fail_metrics = load, metrics
        if lo == 0.0:
            name, reason = (binding_resource(fail_metrics, vm) if fail_metrics else
                            (BIND_CONFIG, f"the evaluation failed: {errors[-1]}"))
            return SizeCapacity(
                vm.size, vm.series, vm.vcpus, vm.epc_mib, vm.linux_usd_per_hour, vm.retires_on,
                0.0, False, False, name,
                f"cannot meet the SLO at any load (fails at {hi:,.3g} ops/s): {reason}",
                fail_metrics, 0.0, hi, ev.calls + ev.hits - calls_before)
    while not lower_bound and hi - lo > rel_tol * lo:
        mid = 0.5 * (lo + hi)
        ok, metrics = probe(mid)
        if ok:
            lo, lo_metrics = mid, metrics
        else:
            hi = mid
    name, reason = binding_resource(lo_metrics, vm)
    return SizeCapacity(
        vm.size, vm.series, vm.vcpus, vm.epc_mib, vm.linux_usd_per_hour, vm.retires_on,
        lo, True, lower_bound, name, reason, lo_metrics, lo, hi,
        ev.calls + ev.hits - calls_before)


