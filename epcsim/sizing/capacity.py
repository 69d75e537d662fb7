"""Capacity of one VM size under the SLO: the binding resource of an evaluation and the
search for the highest load that meets the objective.

The search (:func:`capacity_steps`) evaluates one load first: the capacity of the same size
before a change (a warm start), else the analytic estimate of :mod:`epcsim.sizing.analytic`
from the study's own run of the size, else the target load. When the evaluator replays its
runs (the simulator's does: :mod:`epcsim.sizing.replay`, metric ``replay_capacity_ops_s``,
the highest load at which the run's own requests, replayed in a first-come-first-served
queue at other loads, still meet the objective), the search then works from the replayed
capacity: a replay far (more than ``LOCAL_REPLAY``) from every evaluated load is evaluated
alone, and replayed in turn; a local one is straddled by two loads ``0.94 rel_tol`` apart,
or by one load just inside the bracket when it lies within ``rel_tol`` of an evaluated end;
when two runs' replays point to opposite sides of their loads, the secant's fixed point
between them is used. This assumes that a run's service times change little with the load
near the capacity: exact for compute, memory and transitions with common random numbers
(the simulator's arrivals at ``k`` times the load are its arrivals divided by ``k``), a
guess for EPC paging, whose reclaim sessions are replayed as background work at the run's
own cost per eviction. Runs far past the bound (``OVERLOADED_BOUNDS``) take no part in a
secant. A replay that keeps pointing at an end of the bracket already evaluated moves that
end by ``0.95 rel_tol``, then 2, 4, 8 x as far; after four local rounds in a row that did
not close the bracket, the search bisects it. When every load fails and the replays of the
lowest and of one at least twice as high both say that no load meets the bound (their
service times alone exceed it), the size cannot meet the objective. When a load at which
the VM count changes (``target / ((1 - headroom) n)``) lies inside the final bracket, it is
evaluated too, so the count does not depend on where in the bracket the search stopped (the
earlier search leaves that to chance). The bracket reported is always two evaluated loads,
the lower meeting the objective and the upper failing it, at most ``rel_tol`` apart.

Without replays (an evaluator that does not report them, e.g. the tests' analytic ones), it
brackets around the analytic guess and places two loads ``rel_tol`` apart around the
crossing interpolated with a waiting-time model, as before. With ``analytic=False`` the
search is the earlier one (:func:`legacy_capacity_steps`: double or halve from the target,
then bisect), kept to measure the difference. Each round's loads are one batch, evaluated
in parallel when the evaluator can.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from epcsim.errors import EpcsimError
from epcsim.reference.catalog import HOURS_PER_MONTH, VmSize
from epcsim.sizing.analytic import estimate_capacity
from epcsim.sizing.evaluator import CachedEvaluator
from epcsim.sizing.replay import LOCAL_REPLAY, REPLAY_KEY, replay_guess, replay_loads
from epcsim.sizing.slo import (
    BIND_CONFIG,
    BIND_EPC,
    BIND_KSGXD,
    BIND_SERVICE,
    BIND_THREADS,
    BIND_TRANSITIONS,
    BIND_VCPUS,
    DEFAULT_MAX_VMS,
    DEFAULT_REL_TOL,
    MAX_LOAD_MULTIPLE,
    MIN_LOAD_FRACTION,
    NEGLIGIBLE_QUEUEING_SHARE,
    SATURATED_UTILISATION,
    SUSTAIN_FRACTION,
    Evaluate,
    Slo,
    vm_load,
)
from epcsim.sizing.steps import Steps, drive

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


def _cap(vm: VmSize, capacity: float, meets: bool, lower_bound: bool, name: str, reason: str,
         metrics: dict[str, float], low: float, high: float, evaluations: int) -> SizeCapacity:
    return SizeCapacity(vm.size, vm.series, vm.vcpus, vm.epc_mib, vm.linux_usd_per_hour,
                        vm.retires_on, capacity, meets, lower_bound, name, reason, metrics,
                        low, high, evaluations)


class _Probes:
    """The evaluations one search made: a batch of loads in, (meets, metrics) out."""

    def __init__(self, vm: VmSize, slo: Slo, variant: dict[str, Any]) -> None:
        self.vm, self.slo, self.variant = vm, slo, variant
        self.count = 0
        self.errors: list[str] = []

    def run(self, loads: list[float]) -> Steps[list[tuple[bool, dict[str, float]]]]:
        outcomes = yield [(self.vm, load, self.variant) for load in loads]
        self.count += len(loads)
        answers: list[tuple[bool, dict[str, float]]] = []
        for load, out in zip(loads, outcomes, strict=True):
            if isinstance(out, EpcsimError):  # this point cannot run at all
                self.errors.append(str(out))
                answers.append((False, {}))
                continue
            if self.slo.latency_metric not in out:
                raise ValueError(f"evaluate() returned no {self.slo.latency_metric} (the SLO "
                                 f"percentile) for {self.vm.size}")
            answers.append((_meets(out, load, self.slo), out))
        return answers

    def config_failure(self, load: float) -> SizeCapacity:
        # The scenario (or this variant of it) cannot run on this size at all, e.g. the
        # switchless workers would take every vCPU: rule the size out and say why.
        return _cap(self.vm, 0.0, False, False, BIND_CONFIG,
                    f"cannot run on this size: {self.errors[0]}", {}, 0.0, load, self.count)

    def cannot_meet(self, high: float, fail_metrics: dict[str, float]) -> SizeCapacity:
        name, reason = (binding_resource(fail_metrics, self.vm) if fail_metrics else
                        (BIND_CONFIG, f"the evaluation failed: {self.errors[-1]}"))
        return _cap(self.vm, 0.0, False, False, name,
                    f"cannot meet the SLO at any load (fails at {high:,.3g} ops/s): {reason}",
                    fail_metrics, 0.0, high, self.count)


def legacy_capacity_steps(vm: VmSize, slo: Slo, variant: Mapping[str, Any] | None = None, *,
                          rel_tol: float = DEFAULT_REL_TOL, start_ops_s: float | None = None
                          ) -> Steps[SizeCapacity]:
    """The earlier search, one evaluation at a time: bracket by doubling or halving from the
    target load (x1.25 growing to x2 from a warm start), then bisect until the bracket is
    narrower than ``rel_tol`` of its lower end."""
    pr = _Probes(vm, slo, dict(variant or {}))
    target = slo.target_load_ops_s
    floor_ops_s, ceiling_ops_s = target * MIN_LOAD_FRACTION, target * MAX_LOAD_MULTIPLE

    def probe(load: float) -> Steps[tuple[bool, dict[str, float]]]:
        return (yield from pr.run([load]))[0]

    warm = start_ops_s is not None and math.isfinite(start_ops_s) and start_ops_s > 0
    load = target
    if start_ops_s is not None and warm:
        load = min(max(float(start_ops_s), floor_ops_s), ceiling_ops_s)
    step = 1.25 if warm else 2.0
    ok, metrics = yield from probe(load)
    if pr.errors:
        return pr.config_failure(load)
    lower_bound = False
    if ok:
        lo, lo_metrics = load, metrics
        hi = math.inf
        while load < ceiling_ops_s:
            load *= step
            step = min(step * step, 2.0)
            ok, metrics = yield from probe(load)
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
            ok, metrics = yield from probe(load)
            if ok:
                lo, lo_metrics = load, metrics
                break
            hi, fail_metrics = load, metrics
        if lo == 0.0:
            return pr.cannot_meet(hi, fail_metrics)
    while not lower_bound and hi - lo > rel_tol * lo:
        mid = 0.5 * (lo + hi)
        ok, metrics = yield from probe(mid)
        if ok:
            lo, lo_metrics = mid, metrics
        else:
            hi = mid
    name, reason = binding_resource(lo_metrics, vm)
    return _cap(vm, lo, True, lower_bound, name, reason, lo_metrics, lo, hi, pr.count)


#: Runs whose latency percentile is past this many times the bound take no part in the
#: replayed guess's secant.
OVERLOADED_BOUNDS = 4.0

#: Half-width of the first bracket around the capacity guess, relative to the guess.
BRACKET_HALF_WIDTH = 0.1


def _curve_point(metrics: Mapping[str, float], load: float, slo: Slo
                 ) -> tuple[float, float] | None:
    """(load, 1 / latency percentile) of an evaluation: for M/M/1 the inverse of a latency
    percentile is linear in the load and reaches 0 at saturation. A run that did not keep up
    is placed at its throughput (about the saturation load) with 0."""
    if not metrics:
        return None
    latency = metrics.get(slo.latency_metric, math.nan)
    if _keeps_up(metrics, load) and math.isfinite(latency) and latency > 0:
        return load, 1.0 / latency
    throughput = metrics.get("throughput_ops_s", math.nan)
    x = min(load, throughput) if math.isfinite(throughput) and throughput > 0 else load
    return x, 0.0


def _crossing(a: tuple[float, float], b: tuple[float, float], goal: float) -> float | None:
    """Load where the line through (load, y) points ``a`` and ``b`` reaches ``goal``."""
    (xa, ya), (xb, yb) = a, b
    if xa == xb or ya == yb:
        return None
    x = xa + (goal - ya) * (xb - xa) / (yb - ya)
    return x if math.isfinite(x) and x > 0 else None


def _saturation(runs: list[tuple[float, Mapping[str, float]]], slo: Slo) -> float | None:
    """The load at which the size saturates: the lowest throughput of a run that did not
    keep up, else the utilisation law (throughput / busiest resource's utilisation) at the
    busiest run that did."""
    over = [m.get("throughput_ops_s", math.nan) for x, m in runs if not _keeps_up(m, x)]
    over = [t for t in over if math.isfinite(t) and t > 0]
    if over:
        return min(over)
    best: tuple[float, float] | None = None
    for _, m in runs:
        utils = [m.get(k, math.nan) for k in ("vcpu_utilisation", "enclave_thread_utilisation",
                                              "ksgxd_utilisation")]
        u = max((v for v in utils if math.isfinite(v) and v > 0), default=math.nan)
        t = m.get("throughput_ops_s", math.nan)
        if math.isfinite(u) and math.isfinite(t) and t > 0 and (best is None or u > best[0]):
            best = (u, t / min(u, 1.0))
    return best[1] if best is not None and best[0] >= 0.3 else None


def _queue_guess(runs: list[tuple[float, Mapping[str, float]]], slo: Slo) -> float | None:
    """Where the latency percentile reaches the bound if it grows like ``a + b / (saturation
    - load)`` (the waiting-time percentile of M/M/c near saturation), fitted through the two
    runs that kept up nearest the bound on either side (or the two highest below it)."""
    sat = _saturation(runs, slo)
    if sat is None:
        return None
    bound = slo.latency_bound_s
    pts = []
    for x, m in runs:
        latency = m.get(slo.latency_metric, math.nan)
        if _keeps_up(m, x) and math.isfinite(latency) and 0 < x < sat:
            pts.append((x, latency))
    under = sorted(p for p in pts if p[1] <= bound)
    over = sorted(p for p in pts if p[1] > bound)
    if under and over:
        a, b = under[-1], over[0]
    elif len(under) >= 2:
        a, b = under[-2], under[-1]
    elif len(over) >= 2:
        a, b = over[0], over[1]
    else:
        return None
    ua, ub = 1.0 / (sat - a[0]), 1.0 / (sat - b[0])
    if ua == ub or a[1] == b[1]:
        return None
    u = ua + (bound - a[1]) * (ub - ua) / (b[1] - a[1])
    if not (math.isfinite(u) and u > 0):
        return None
    x = sat - 1.0 / u
    return x if 0 < x < sat else None


def _guess(points: list[tuple[float, float]], goal: float) -> float | None:
    """Where the inverse latency reaches ``goal``: interpolated between the highest point
    above it and the lowest below, else extrapolated from the two highest points above."""
    above = sorted(p for p in points if p[1] >= goal)
    below = sorted(p for p in points if p[1] < goal)
    if above and below and below[0][0] > above[-1][0]:
        return _crossing(above[-1], below[0], goal)
    if not below and len(above) >= 2:
        return _crossing(above[-2], above[-1], goal)
    return None


def _replays_service_bound(runs: list[tuple[float, Mapping[str, float]]], hi: float) -> bool:
    """True when the replays of the lowest failing run and of one at least twice its load
    both say that no load meets the objective (their requests' service times alone exceed
    the bound: replayed capacity 0), so that evaluating lower loads would not help."""
    zero = [x for x, m in runs if m.get(REPLAY_KEY, math.nan) == 0.0]
    return hi in zero and any(x >= 2.0 * hi for x in zero)


def capacity_steps(vm: VmSize, slo: Slo, variant: Mapping[str, Any] | None = None, *,
                   rel_tol: float = DEFAULT_REL_TOL, start_ops_s: float | None = None,
                   estimate: tuple[Mapping[str, float], float] | None = None,
                   analytic: bool = True) -> Steps[SizeCapacity]:
    """The capacity search as steps (see the module doc and :mod:`epcsim.sizing.steps`).

    ``start_ops_s``: a capacity to start from (warm start); ``estimate``: (metrics, load) of
    a run of this size at a known load, for the analytic guess; without either the first
    evaluation is at the target load. ``analytic=False``: :func:`legacy_capacity_steps`.
    """
    if not 0 < rel_tol < 1:
        raise ValueError(f"rel_tol must be in (0, 1), got {rel_tol!r}")
    if not analytic:
        return (yield from legacy_capacity_steps(vm, slo, variant, rel_tol=rel_tol,
                                                 start_ops_s=start_ops_s))
    pr = _Probes(vm, slo, dict(variant or {}))
    target = slo.target_load_ops_s
    floor_ops_s, ceiling_ops_s = target * MIN_LOAD_FRACTION, target * MAX_LOAD_MULTIPLE
    goal = 1.0 / slo.latency_bound_s
    lo, lo_m = 0.0, {}
    hi, hi_m = math.inf, {}
    points: list[tuple[float, float]] = []  # (load, inverse latency), see _curve_point
    runs: list[tuple[float, Mapping[str, float]]] = []  # (load, metrics) of every run

    def next_guess() -> float | None:
        x = _queue_guess(runs, slo)
        return x if x is not None else _guess(points, goal)

    def clamp(x: float) -> float:
        return min(max(x, floor_ops_s), ceiling_ops_s)

    def probe(loads: list[float]) -> Steps[None]:
        nonlocal lo, lo_m, hi, hi_m
        loads = sorted({x for x in loads if lo < x < hi})
        if not loads:
            return
        for x, (ok, m) in zip(loads, (yield from pr.run(loads)), strict=True):
            point = _curve_point(m, x, slo)
            if point is not None:
                points.append(point)
                runs.append((x, m))
            if ok and x > lo:
                lo, lo_m = x, m
            elif not ok and x < hi:
                hi, hi_m = x, m

    centre: float | None = None
    if start_ops_s is not None and math.isfinite(start_ops_s) and start_ops_s > 0:
        centre = float(start_ops_s)
    elif estimate is not None:
        centre = estimate_capacity(estimate[0], estimate[1], slo)
    first = clamp(centre) if centre is not None else target
    yield from probe([first])
    if pr.errors:
        return pr.config_failure(first)
    if lo == 0.0 and (_service_bound(hi_m, first, slo) or first <= floor_ops_s):
        return pr.cannot_meet(hi, hi_m)
    if replay_guess(runs) is None:
        # No replay from the evaluator: bracket around the analytic guess from this run.
        first_m = lo_m or hi_m
        guess = estimate_capacity(first_m, first, slo) if first_m else None
        if centre is None or guess is not None:
            centre = guess if guess is not None else (2.0 * first if lo else 0.5 * first)
        # The first load is one end of the bracket already: one load beyond the guess.
        if lo:
            yield from probe([clamp(max(centre, lo) * (1 + BRACKET_HALF_WIDTH))])
        else:
            yield from probe([clamp(min(centre, hi) * (1 - BRACKET_HALF_WIDTH))])
    growth = 2.0
    misses = 0  # rounds in a row whose two loads fell on the same side of the capacity
    crawl = 0  # replayed single steps in a row that did not close the bracket
    while True:
        if lo > 0.0 and math.isfinite(hi) and hi - lo <= rel_tol * lo:
            break
        # Runs far past the bound replay poorly (their service times carry the overload's
        # paging contention): no secant through them.
        sane = [x for x, m in runs
                if m.get(slo.latency_metric, math.inf) <= OVERLOADED_BOUNDS * slo.latency_bound_s]
        replayed = replay_guess(runs, secant_loads=sane)
        if (replayed is not None and not (math.isinf(hi) and lo >= ceiling_ops_s)
                and not (lo == 0.0 and (_service_bound(hi_m, hi, slo)
                                        or hi <= floor_ops_s))):
            g = clamp(replayed)
            far = min(abs(math.log(g / x)) for x, _ in runs) > LOCAL_REPLAY
            if misses >= 4 and lo > 0.0 and math.isfinite(hi):
                loads = [0.5 * (lo + hi)]  # the replays keep missing: bisect
            elif lo < g < hi and far:
                loads = [g]  # far from every run: evaluate it, and replay it in turn
            else:
                loads = [clamp(x) for x in replay_loads(g, lo, hi, rel_tol, 2.0 ** crawl)]
            loads = [x for x in loads if lo < x < hi]
            if loads:
                yield from probe(loads)
                closed = lo > 0.0 and math.isfinite(hi) and hi - lo <= rel_tol * lo
                misses = 0 if closed or far else misses + 1
                # One load in a row at the same end that did not close the bracket: the
                # replay is biased to that side, so the next step there is twice as long.
                crawl = crawl + 1 if len(loads) == 1 and not closed and not far else 0
                continue
        if math.isinf(hi):  # every load so far meets: go up
            if lo >= ceiling_ops_s:
                name, reason = binding_resource(lo_m, vm)
                return _cap(vm, lo, True, True, name, reason, lo_m, lo, lo, pr.count)
            x = next_guess()
            nxt = min(max(x, 1.1 * lo), growth * lo) if x is not None else growth * lo
            growth = min(growth * 2.0, 8.0)
            yield from probe([clamp(nxt)])
        elif lo == 0.0:  # every load so far fails: go down, unless no load can help
            if (_service_bound(hi_m, hi, slo) or hi <= floor_ops_s
                    or _replays_service_bound(runs, hi)):
                return pr.cannot_meet(hi, hi_m)
            est = estimate_capacity(hi_m, hi, slo) if hi_m else None
            nxt = (est * (1 - BRACKET_HALF_WIDTH) if est is not None and est < hi
                   else hi / growth)
            growth = min(growth * 2.0, 8.0)
            yield from probe([clamp(max(nxt, hi / 8.0))])
        else:
            width = hi - lo
            if width <= rel_tol * lo:
                break
            eps = 0.45 * rel_tol * lo  # two loads 0.9 rel_tol * lo apart around the guess
            if 2 * eps >= 0.5 * width:
                yield from probe([0.5 * (lo + hi)])
                continue
            x = next_guess()
            if x is None or misses >= 2:  # the model keeps missing: halve the bracket
                x = 0.5 * (lo + hi)
            x = min(max(x, lo + eps + 0.05 * width), hi - eps - 0.05 * width)
            before = (lo, hi)
            yield from probe([x - eps, x + eps])
            moved_lo, moved_hi = lo != before[0], hi != before[1]
            misses = misses + 1 if moved_lo != moved_hi else 0
    # The VM count changes where the capacity crosses target / ((1 - headroom) n): when one
    # such load lies inside the bracket, evaluate it, so the count does not hang on where
    # in the bracket the search happened to stop.
    for n in range(1, DEFAULT_MAX_VMS + 1):
        threshold = vm_load(slo, n) * (1 + 1e-9)
        if lo < threshold < hi:
            yield from probe([threshold])
    name, reason = binding_resource(lo_m, vm)
    return _cap(vm, lo, True, False, name, reason, lo_m, lo, hi, pr.count)


def capacity_search(
    evaluate: CachedEvaluator | Evaluate,
    vm: VmSize,
    slo: Slo,
    variant: Mapping[str, Any] | None = None,
    *,
    rel_tol: float = DEFAULT_REL_TOL,
    start_ops_s: float | None = None,
    estimate: tuple[Mapping[str, float], float] | None = None,
    analytic: bool = True,
) -> SizeCapacity:
    """Highest offered load (ops/s) at which ``vm`` meets ``slo`` (see the module doc and
    :func:`capacity_steps`). ``rel_tol`` is the final bracket width relative to its lower end.
    The monotonicity assumption is the package docstring's."""
    ev = evaluate if isinstance(evaluate, CachedEvaluator) else CachedEvaluator(evaluate)
    return drive(capacity_steps(vm, slo, variant, rel_tol=rel_tol, start_ops_s=start_ops_s,
                                estimate=estimate, analytic=analytic), ev)
