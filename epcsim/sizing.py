"""Sizing: which VM size meets the service-level objectives, and at what cost.

The question a team brings is "which size should we deploy, and what will it cost?". This
module answers it from an injected evaluation function, so the same logic runs on the SimPy
model (the lead plugs it in), on an analytic model (the tests do) or on anything else that
predicts a metrics dict for a VM size at an offered load::

    evaluate(vm: VmSize, load_ops_s: float, variant: dict) -> dict[str, float]

The metrics dict uses the summary column names (:data:`REQUIRED_METRICS`): latency at the SLO
percentile (``latency_p99_s`` for p99, ``latency_p99.9_s`` for p99.9; see
:func:`latency_key`), ``throughput_ops_s`` (completions per second), the time shares
``share_compute``, ``share_memory``, ``share_transitions``, ``share_paging``,
``share_queueing`` (fractions of the mean latency, summing to about 1), ``epc_faults_per_s``
and ``vcpu_utilisation`` (0..1). Optional keys that sharpen the explanation:
``working_set_mib`` (needed for the EPC knee), ``ksgxd_utilisation`` (fraction of time the
reclaimer thread is busy), ``enclave_thread_utilisation`` (fraction of TCS slots busy).

``variant`` is a plain JSON-able dict that the evaluator applies on top of the scenario. The
keys this module uses (the evaluator must honour them; an empty dict means "as written"):

- ``"costs"``: ``{cost_parameter_name: value}`` overrides, in each parameter's own unit
  (:mod:`epcsim.costs`); used by the sensitivity analysis;
- ``"ocall_mode"``: ``"switchless"`` makes every operation's OCALLs switchless;
- ``"ocalls_per_op_scale"``: multiply every operation's OCALL count (batching: 0.5 = half);
- ``"working_set_scale"``: multiply the size of every enclave and of each of its regions
  (the distinct pages an operation touches stay as written; the EPC knee search and the
  smaller-working-set what-if);
- ``"enclave_threads_scale"``: multiply every enclave's thread (TCS) count.

:func:`apply_variant` writes a variant and an offered load into a loaded
:class:`~epcsim.scenario.spec.Scenario` (through the scenario's own key paths and validation),
so an evaluator over the simulator is: apply the variant, build the model config for the VM,
simulate, return the summary metrics. For example (the run function and adapter live
elsewhere; this module never imports the model)::

    def evaluate(vm, load_ops_s, variant):
        scn = apply_variant(scenario, load_ops_s, variant)
        metrics = dict(simulate(model_config(scn, vm), 0, scn.simulation.seed).metrics)
        metrics["working_set_mib"] = working_set_bytes(scn) / 2**20
        return metrics

    result = recommend(CachedEvaluator(evaluate, namespace=scenario_hash), vms,
                       Slo.from_spec(scenario.slo))
    (results_dir / "sizing.json").write_text(result.to_json())

Capacity search (one VM size): the highest offered load at which the size *meets* the latency
objective, where meeting means ``latency_pN_s <= latency_bound_s`` and the size keeps up
(``throughput_ops_s >= SUSTAIN_FRACTION * load``, the load being the arrival rate the run
actually saw when the evaluator reports ``arrival_rate_ops_s``; an open-loop run that falls
behind is overloaded whatever its latency says). Assumption: meeting is monotone in load (true below
the capacity, false above). The search brackets the capacity by doubling or halving from the
target load, then bisects until the bracket is narrower than ``rel_tol`` (default 2 %) of its
lower end; the reported capacity is the lower end of the final bracket (a load shown to meet
the objective), so it errs on the safe side. A size that fails even at
``MIN_LOAD_FRACTION * target``, or fails on service time alone (it kept up with the load and
queued for less than ``NEGLIGIBLE_QUEUEING_SHARE`` of its latency, so no lower load can
help), "cannot meet the SLO at any load", and the binding resource at
that load says why. Simulation noise can break monotonicity near the capacity; with common
random numbers (same seed at every load) the error stays within the bracket in practice.
Every evaluation is cached by a SHA-256 hash of (VM size fields, load, variant), so repeated
decisions (sensitivity, what-ifs, successor search) never rerun a point.

Scaling out: load is assumed to split evenly across identical VMs (each with its own EPC and
vCPUs), so ``n`` VMs of a size sustain ``n`` times its capacity. The headroom objective keeps
``headroom_fraction`` of every VM's capacity unused at the target load.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import math
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from epcsim.catalog import HOURS_PER_MONTH, VmSize, load_catalog, successor_series
from epcsim.costs import cost_parameters
from epcsim.errors import EpcsimError

#: The signature of the injected evaluation function.
Evaluate = Callable[[VmSize, float, dict[str, Any]], dict[str, float]]

#: Metrics every evaluation must return (besides the latency at the SLO percentile).
REQUIRED_METRICS = (
    "throughput_ops_s",
    "share_compute",
    "share_memory",
    "share_transitions",
    "share_paging",
    "share_queueing",
    "epc_faults_per_s",
    "vcpu_utilisation",
)

#: A run "keeps up" when it completes at least this fraction of the offered load.
SUSTAIN_FRACTION = 0.95
#: The capacity search gives up (cannot meet the SLO at any load) below this share of target.
MIN_LOAD_FRACTION = 1e-3
#: A failing size whose queueing share of latency is below this, while it keeps up with the
#: load, fails on service time alone: the search stops halving ("cannot meet at any load").
NEGLIGIBLE_QUEUEING_SHARE = 0.01
#: The capacity search stops doubling at this multiple of the target (capacity "at least").
MAX_LOAD_MULTIPLE = 1024.0
#: Default capacity-search tolerance: the final bracket's width relative to its lower end. A
#: short simulated run's throughput and tail latency vary by a percent or two between seeds,
#: so a finer tolerance buys evaluations, not accuracy.
DEFAULT_REL_TOL = 0.02
#: Utilisation above which a resource counts as saturated when naming the binding resource.
SATURATED_UTILISATION = 0.85

#: Binding resources, as the report names them.
BIND_EPC = "EPC paging"
BIND_VCPUS = "vCPUs"
BIND_TRANSITIONS = "enclave transitions"
BIND_KSGXD = "ksgxd"
BIND_THREADS = "enclave threads"
BIND_SERVICE = "per-operation service time"
BIND_CONFIG = "configuration"

#: Cost parameters varied by the sensitivity analysis, by group (the least certain ones).
SENSITIVITY_GROUPS: dict[str, tuple[str, ...]] = {
    "EPC swap cost": (
        "aex_cycles",
        "fault_handler_cycles",
        "eldu_cycles",
        "eresume_cycles",
        "ewb_cycles",
    ),
    "enclave transition costs": ("ecall_cycles", "ocall_cycles"),
    "memory-protection penalty": ("mee_miss_penalty_ns", "tme_dependent_miss_penalty_ns"),
}


@dataclass(frozen=True)
class WhatIf:
    """A change a developer can make, expressed as an evaluation variant."""

    name: str
    description: str
    variant: dict[str, Any]


#: What-ifs a developer can act on, evaluated by default.
DEFAULT_WHAT_IFS: tuple[WhatIf, ...] = (
    WhatIf("switchless OCALLs", "make every OCALL switchless (untrusted worker threads)",
           {"ocall_mode": "switchless"}),
    WhatIf("batch OCALLs", "halve the OCALLs per operation by batching them",
           {"ocalls_per_op_scale": 0.5}),
    WhatIf("smaller working set", "shrink the enclave working set by 25 %",
           {"working_set_scale": 0.75}),
    WhatIf("more enclave threads", "double the enclave threads (TCS count)",
           {"enclave_threads_scale": 2.0}),
)


def latency_key(percentile: float) -> str:
    """The metric name of a latency percentile: 99 -> ``latency_p99_s``, 99.9 ->
    ``latency_p99.9_s``."""
    return f"latency_p{percentile:g}_s"


@dataclass(frozen=True)
class Slo:
    """Service-level objectives.

    ``target_load_ops_s``: the load to serve (operations per second); ``latency_percentile``:
    which percentile is bounded (e.g. 99); ``latency_bound_s``: the bound, in seconds;
    ``budget_usd_per_month``: optional ceiling on the monthly cost; ``headroom_fraction``:
    share of each VM's capacity to keep unused at the target load (0 <= h < 1).
    """

    target_load_ops_s: float
    latency_bound_s: float
    latency_percentile: float = 99.0
    budget_usd_per_month: float | None = None
    headroom_fraction: float = 0.0

    def __post_init__(self) -> None:
        checks = [
            ("target_load_ops_s", self.target_load_ops_s, "a positive number of ops/s",
             lambda v: v > 0),
            ("latency_bound_s", self.latency_bound_s, "a positive time in seconds",
             lambda v: v > 0),
            ("latency_percentile", self.latency_percentile, "a percentile in (0, 100)",
             lambda v: 0 < v < 100),
            ("headroom_fraction", self.headroom_fraction, "a fraction in [0, 1)",
             lambda v: 0 <= v < 1),
        ]
        if self.budget_usd_per_month is not None:
            checks.append(("budget_usd_per_month", self.budget_usd_per_month,
                           "a positive amount of USD", lambda v: v > 0))
        for name, value, expected, ok in checks:
            if not isinstance(value, int | float) or not math.isfinite(value) or not ok(value):
                raise EpcsimError(f"slo.{name}: expected {expected}, found {value!r}")

    @property
    def latency_metric(self) -> str:
        return latency_key(self.latency_percentile)

    def describe(self) -> str:
        text = (f"p{self.latency_percentile:g} latency <= {_fmt_time(self.latency_bound_s)} "
                f"at {self.target_load_ops_s:,.0f} ops/s")
        if self.headroom_fraction:
            text += f", {self.headroom_fraction:.0%} headroom"
        if self.budget_usd_per_month is not None:
            text += f", budget ${self.budget_usd_per_month:,.0f}/month"
        return text

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Slo:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})

    @classmethod
    def from_spec(cls, spec: Any) -> Slo:
        """From a scenario's ``slo`` section (:class:`epcsim.scenario.spec.Slo`: fields
        ``target_load_per_s``, ``latency_bound_s``, ``latency_percentile``,
        ``budget_usd_per_month``, ``headroom``), read by attribute so this module does not
        import the scenario package. Raises :class:`EpcsimError` when the target load or the
        latency bound is missing (sizing needs both)."""
        target = getattr(spec, "target_load_per_s", None)
        bound = getattr(spec, "latency_bound_s", None)
        missing = [k for k, v in (("slo.target_load", target), ("slo.latency_bound", bound))
                   if v is None]
        if target is None or bound is None:
            raise EpcsimError(f"{' and '.join(missing)}: sizing needs a target load and a "
                              "latency bound (e.g. `target_load: 20000/s`, "
                              "`latency_bound: 5 ms`)")
        return cls(target_load_ops_s=float(target), latency_bound_s=float(bound),
                   latency_percentile=float(getattr(spec, "latency_percentile", 99.0)),
                   budget_usd_per_month=getattr(spec, "budget_usd_per_month", None),
                   headroom_fraction=float(getattr(spec, "headroom", 0.0)))


# --------------------------------------------------------------------------- evaluation cache


def evaluation_key(vm: VmSize, load_ops_s: float, variant: Mapping[str, Any],
                   namespace: str = "") -> str:
    """SHA-256 hex digest of everything that determines one evaluation: every field of the VM
    size, the load (exactly, as a float's hex form), the variant, and ``namespace`` (what the
    evaluator itself depends on, e.g. a hash of the resolved scenario and the epcsim version,
    so a cache kept between runs never answers for a changed scenario)."""
    payload = json.dumps(
        {"vm": vm.to_dict(), "load_ops_s": float(load_ops_s).hex(), "variant": variant,
         "namespace": namespace},
        sort_keys=True, default=str, separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class Probe:
    """One evaluation as recorded by :class:`CachedEvaluator`."""

    vm_size: str
    load_ops_s: float
    variant: dict[str, Any]
    metrics: dict[str, float]


class CachedEvaluator:
    """Wraps an ``evaluate`` function with a cache keyed by :func:`evaluation_key`.

    ``cache`` may be passed in (any mutable mapping, e.g. a dict loaded from JSON) to reuse
    evaluations between processes; ``namespace`` is folded into every key (see
    :func:`evaluation_key`). ``calls`` counts real evaluations, ``hits`` cached answers;
    ``probes`` lists every distinct evaluation this evaluator answered, in first-use order
    (the report plots latency against load from them), whether it came from the cache or not,
    so results do not depend on what the cache held.
    """

    def __init__(self, evaluate: Evaluate,
                 cache: MutableMapping[str, dict[str, float]] | None = None,
                 namespace: str = "") -> None:
        self._evaluate = evaluate
        self.cache: MutableMapping[str, dict[str, float]] = {} if cache is None else cache
        self.namespace = namespace
        self.calls = 0
        self.hits = 0
        self.probes: list[Probe] = []
        self._seen: set[str] = set()

    def __call__(self, vm: VmSize, load_ops_s: float, variant: Mapping[str, Any]) -> dict[
            str, float]:
        key = evaluation_key(vm, load_ops_s, variant, self.namespace)
        metrics = self.cache.get(key)
        if metrics is not None:
            self.hits += 1
        else:
            metrics = {k: float(v)
                       for k, v in self._evaluate(vm, load_ops_s, dict(variant)).items()}
            missing = [m for m in REQUIRED_METRICS if m not in metrics]
            if missing:
                raise ValueError(f"evaluate() for {vm.size} at {load_ops_s:g} ops/s returned "
                                 f"no {', '.join(missing)}")
            self.calls += 1
            self.cache[key] = metrics
        if key not in self._seen:
            self._seen.add(key)
            self.probes.append(Probe(vm.size, float(load_ops_s), dict(variant), metrics))
        return metrics


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
    work = metrics.get("share_compute", 0.0) + metrics.get("share_memory", 0.0)
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


# --------------------------------------------------------------------------- options, decision


@dataclass(frozen=True)
class SizingOption:
    """Deploying ``vm_count`` VMs of one size to serve the target load."""

    vm_size: str
    series: str
    vm_count: int
    capacity_ops_s: float
    per_vm_load_ops_s: float
    usd_per_month: float
    headroom_left_fraction: float
    feasible: bool
    within_budget: bool
    note: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SizingOption:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


def size_option(cap: SizeCapacity, slo: Slo, max_vms: int = 64) -> SizingOption:
    """How many VMs of ``cap``'s size serve the target load within headroom, and the cost."""
    if cap.capacity_ops_s <= 0:
        return SizingOption(cap.vm_size, cap.series, 0, 0.0, 0.0, math.inf, 0.0, False, False,
                            cap.binding_reason)
    usable = cap.capacity_ops_s * (1.0 - slo.headroom_fraction)
    count = max(1, math.ceil(slo.target_load_ops_s / usable * (1 - 1e-12)))
    monthly = count * cap.usd_per_hour * HOURS_PER_MONTH
    left = 1.0 - slo.target_load_ops_s / (count * cap.capacity_ops_s)
    budget_ok = slo.budget_usd_per_month is None or monthly <= slo.budget_usd_per_month
    if count > max_vms:
        return SizingOption(cap.vm_size, cap.series, count, cap.capacity_ops_s,
                            slo.target_load_ops_s / count, monthly, left, False, budget_ok,
                            f"would need {count} VMs (more than {max_vms}); "
                            f"{cap.binding_resource} binds: {cap.binding_reason}")
    note = (f"{count} x {cap.vm_size} at {slo.target_load_ops_s / count:,.0f} ops/s each "
            f"(capacity {cap.capacity_ops_s:,.0f} ops/s, {left:.0%} headroom left)")
    return SizingOption(cap.vm_size, cap.series, count, cap.capacity_ops_s,
                        slo.target_load_ops_s / count, monthly, left, True, budget_ok, note)


def _option_order(opt: SizingOption) -> tuple[float, int, float, str]:
    return (opt.usd_per_month, opt.vm_count, -opt.headroom_left_fraction, opt.vm_size)


def _cheapest(options: Sequence[SizingOption]) -> SizingOption | None:
    feasible = [o for o in options if o.feasible]
    return min(feasible, key=_option_order) if feasible else None


def _decide(ev: CachedEvaluator, vms: Sequence[VmSize], slo: Slo, variant: Mapping[str, Any],
            rel_tol: float, max_vms: int, prune: bool,
            hints: Mapping[str, float] | None = None,
            ) -> tuple[SizingOption | None, list[SizeCapacity], list[SizingOption]]:
    """Cheapest feasible option over ``vms``. With ``prune``, sizes whose single-VM price is
    already above the best option found are not searched (they cannot be cheaper).
    ``hints``: VM size -> a capacity to start each search from (warm start)."""
    caps: list[SizeCapacity] = []
    options: list[SizingOption] = []
    best: SizingOption | None = None
    for vm in sorted(vms, key=lambda v: (v.linux_usd_per_hour, v.size)):
        if prune and best is not None and vm.linux_usd_per_hour * HOURS_PER_MONTH > (
                best.usd_per_month * (1 + 1e-12)):
            continue
        hint = (hints or {}).get(vm.size)
        cap = capacity_search(ev, vm, slo, variant, rel_tol=rel_tol,
                              start_ops_s=hint if hint and hint > 0 else None)
        opt = size_option(cap, slo, max_vms)
        caps.append(cap)
        options.append(opt)
        best = _cheapest(options)
    return best, caps, options


# --------------------------------------------------------------------------- EPC knee


@dataclass(frozen=True)
class Knee:
    """Throughput against working set at one size; the knee is where throughput halves."""

    vm_size: str
    epc_mib: float
    working_set_mib: float
    knee_working_set_mib: float | None
    load_ops_s: float
    curve: list[dict[str, float]]  # each: working_set_scale, working_set_mib, throughput_ops_s
    note: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Knee:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


#: Working sets probed for the knee, as multiples of the VM's EPC.
KNEE_EPC_MULTIPLES = (0.5, 0.8, 0.95, 1.05, 1.2, 1.5, 2.0, 3.0, 5.0)


def knee_from_curve(working_set_mib: Sequence[float], throughput_ops_s: Sequence[float]
                    ) -> float | None:
    """Working set (MiB) at which throughput first falls to half of the smallest working
    set's throughput, interpolated linearly in log(working set); None if it never does.

    ``working_set_mib`` must be increasing; both sequences have the same length.
    """
    if len(working_set_mib) < 2:
        return None
    base = throughput_ops_s[0]
    half = 0.5 * base
    for i in range(1, len(working_set_mib)):
        y0, y1 = throughput_ops_s[i - 1], throughput_ops_s[i]
        if y1 <= half < y0 or y1 <= half == y0:
            if y0 == y1:
                return float(working_set_mib[i])
            x0, x1 = math.log(working_set_mib[i - 1]), math.log(working_set_mib[i])
            return float(math.exp(x0 + (x1 - x0) * (y0 - half) / (y0 - y1)))
    return None


def find_knee(ev: CachedEvaluator, vm: VmSize, base_load_ops_s: float,
              variant: Mapping[str, Any] | None = None,
              multiples: Sequence[float] = KNEE_EPC_MULTIPLES) -> Knee:
    """Saturated throughput of ``vm`` against working set, scaled around the VM's EPC.

    The load is raised from ``base_load_ops_s`` until the smallest working set saturates
    (throughput < 90 % of the offered load), so every larger working set (assumed no faster)
    is saturated too and its throughput is the size's maximum.
    """
    base_variant = dict(variant or {})
    m = ev(vm, base_load_ops_s, base_variant)
    ws = m.get("working_set_mib", math.nan)
    if not math.isfinite(ws) or ws <= 0:
        return Knee(vm.size, vm.epc_mib, math.nan, None, base_load_ops_s, [],
                    "the evaluator reports no working_set_mib, so the knee was not searched")
    scales = sorted({mult * vm.epc_mib / ws for mult in multiples})
    errors: list[str] = []

    def attempt(load_ops_s: float, scale: float) -> dict[str, float] | None:
        try:
            return ev(vm, load_ops_s, {**base_variant,
                                       "working_set_scale": _scale(base_variant, scale)})
        except EpcsimError as exc:  # e.g. an enclave larger than the VM allows
            errors.append(f"{scale * ws:,.0f} MiB: {exc}")
            return None

    load = max(base_load_ops_s, 1.0)
    for _ in range(24):
        probe = next((p for p in (attempt(load, sc) for sc in scales) if p is not None), None)
        if probe is None or probe["throughput_ops_s"] < 0.9 * load:
            break
        load *= 2.0
    curve = []
    for sc in scales:
        pm = attempt(load, sc)
        if pm is None:
            continue
        curve.append({"working_set_scale": sc,
                      "working_set_mib": pm.get("working_set_mib", sc * ws),
                      "throughput_ops_s": pm["throughput_ops_s"]})
    knee = knee_from_curve([c["working_set_mib"] for c in curve],
                           [c["throughput_ops_s"] for c in curve])
    if len(curve) < 2:
        note = "too few working sets could be simulated to find the knee"
    elif knee is None:
        note = (f"throughput never halved between {curve[0]['working_set_mib']:,.0f} and "
                f"{curve[-1]['working_set_mib']:,.0f} MiB")
    else:
        note = (f"throughput halves at a working set of {knee:,.0f} MiB "
                f"({knee / vm.epc_mib:.2f} x the {vm.epc_mib:,.0f} MiB EPC); the workload's "
                f"working set is {ws:,.0f} MiB ({ws / knee:.0%} of the knee)")
    if errors:
        note += f" (left out: {'; '.join(dict.fromkeys(errors))})"
    return Knee(vm.size, vm.epc_mib, ws, knee, load, curve, note)


def _scale(variant: Mapping[str, Any], s: float) -> float:
    return float(variant.get("working_set_scale", 1.0)) * s


# --------------------------------------------------------------------------- result types


@dataclass(frozen=True)
class Successor:
    """Where a team on a retired size should go, and the predicted change."""

    from_size: str
    retires_on: str
    retired: bool
    to_size: str
    to_series: str
    vm_count: int
    capacity_ops_s: float
    usd_per_month: float
    capacity_change_fraction: float
    monthly_change_usd: float
    note: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Successor:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class SensitivityCase:
    """The decision repeated with one group of cost parameters at one end of its range."""

    group: str
    end: str  # "low" or "high"
    costs: dict[str, float]
    vm_size: str | None
    vm_count: int
    usd_per_month: float | None
    same_size: bool
    same_option: bool
    note: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SensitivityCase:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class WhatIfResult:
    """Predicted effect of one what-if, at the recommended size and on the decision."""

    name: str
    description: str
    variant: dict[str, Any]
    vm_size: str
    base_capacity_ops_s: float
    capacity_ops_s: float
    capacity_change_fraction: float | None
    best_vm_size: str | None
    best_vm_count: int
    best_usd_per_month: float | None
    monthly_change_usd: float | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WhatIfResult:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class SizingResult:
    """Everything the sizing produced; serialisable with :meth:`to_json`."""

    slo: Slo
    as_of: str
    rel_tol: float
    capacities: list[SizeCapacity]
    options: list[SizingOption]
    recommended: SizingOption | None
    reasons: list[str]
    binding_resource: str | None
    knee: Knee | None
    successor: Successor | None
    sensitivity: list[SensitivityCase]
    what_ifs: list[WhatIfResult]
    probes: list[dict[str, Any]]
    evaluations: int
    cache_hits: int
    variant: dict[str, Any] = field(default_factory=dict)

    @property
    def recommendation_holds(self) -> bool:
        """True when every sensitivity case recommends the same size."""
        return all(c.same_size for c in self.sensitivity)

    def capacity_of(self, vm_size: str) -> SizeCapacity | None:
        return next((c for c in self.capacities if c.vm_size == vm_size), None)

    def capacity_rows(self) -> list[dict[str, Any]]:
        """One flat row per VM size (for a DataFrame): capacity, cost and the chosen option."""
        rows = []
        opts = {o.vm_size: o for o in self.options}
        for c in self.capacities:
            o = opts.get(c.vm_size)
            rows.append({
                "vm_size": c.vm_size, "series": c.series, "vcpus": c.vcpus,
                "epc_mib": c.epc_mib, "usd_per_hour": c.usd_per_hour,
                "capacity_ops_s": c.capacity_ops_s,
                "capacity_is_lower_bound": c.capacity_is_lower_bound,
                "ops_per_usd": c.ops_per_usd,
                "usd_per_million_ops": c.usd_per_million_ops,
                "vm_count": o.vm_count if o else None,
                "usd_per_month_at_target": (o.usd_per_month if o and o.feasible else None),
                "headroom_left_fraction": o.headroom_left_fraction if o else None,
                "feasible": bool(o and o.feasible),
                "binding_resource": c.binding_resource,
                "binding_reason": c.binding_reason,
            })
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "epcsim.sizing/1",
            "slo": self.slo.to_dict(),
            "as_of": self.as_of,
            "rel_tol": self.rel_tol,
            "capacities": [c.to_dict() for c in self.capacities],
            "options": [o.to_dict() for o in self.options],
            "recommended": self.recommended.to_dict() if self.recommended else None,
            "reasons": list(self.reasons),
            "binding_resource": self.binding_resource,
            "knee": self.knee.to_dict() if self.knee else None,
            "successor": self.successor.to_dict() if self.successor else None,
            "sensitivity": [c.to_dict() for c in self.sensitivity],
            "what_ifs": [w.to_dict() for w in self.what_ifs],
            "probes": self.probes,
            "evaluations": self.evaluations,
            "cache_hits": self.cache_hits,
            "variant": self.variant,
        }

    def to_json(self) -> str:
        """JSON text; infinities and NaN become null so any JSON reader accepts it."""
        return json.dumps(_json_safe(self.to_dict()), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SizingResult:
        if data.get("format") != "epcsim.sizing/1":
            raise EpcsimError(f"sizing result: expected format 'epcsim.sizing/1', found "
                              f"{data.get('format')!r}")
        try:
            options = [SizingOption.from_dict(_inf(o)) for o in data["options"]]
            return cls(
                slo=Slo.from_dict(data["slo"]),
                as_of=data["as_of"],
                rel_tol=data["rel_tol"],
                capacities=[SizeCapacity.from_dict(_nan_metrics(c))
                            for c in data["capacities"]],
                options=options,
                recommended=(SizingOption.from_dict(_inf(data["recommended"]))
                             if data["recommended"] else None),
                reasons=list(data["reasons"]),
                binding_resource=data["binding_resource"],
                knee=Knee.from_dict(_knee_nan(data["knee"])) if data["knee"] else None,
                successor=Successor.from_dict(data["successor"]) if data["successor"] else None,
                sensitivity=[SensitivityCase.from_dict(c) for c in data["sensitivity"]],
                what_ifs=[WhatIfResult.from_dict(w) for w in data["what_ifs"]],
                probes=list(data["probes"]),
                evaluations=data["evaluations"],
                cache_hits=data["cache_hits"],
                variant=dict(data.get("variant") or {}),
            )
        except (KeyError, TypeError) as exc:
            raise EpcsimError(f"sizing result: missing or malformed field ({exc})") from exc

    @classmethod
    def from_json(cls, text: str) -> SizingResult:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EpcsimError(f"sizing result: not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise EpcsimError("sizing result: expected a JSON object")
        return cls.from_dict(data)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def _inf(opt: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(opt)
    if out.get("usd_per_month") is None:
        out["usd_per_month"] = math.inf
    return out


def _nan_metrics(cap: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(cap)
    out["metrics_at_capacity"] = {k: (math.nan if v is None else v)
                                  for k, v in cap["metrics_at_capacity"].items()}
    return out


def _knee_nan(knee: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(knee)
    if out.get("working_set_mib") is None:
        out["working_set_mib"] = math.nan
    return out


# --------------------------------------------------------------------------- the whole sizing


def _fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:g} ms"
    return f"{seconds * 1e6:g} us"


def _successor(ev: CachedEvaluator, chosen: SizingOption, chosen_cap: SizeCapacity,
               vm: VmSize, vms: Sequence[VmSize], slo: Slo, variant: Mapping[str, Any],
               rel_tol: float, max_vms: int, as_of: _dt.date) -> Successor | None:
    series = successor_series(vm)
    if not series or not vm.retires_on:
        return None
    # The sizes of the successor series the scenario defines (with its overrides), plus the
    # catalogue's other sizes of those series: the cheapest may not be among those asked for.
    given = [v for v in vms if v.series in series]
    names = {v.size for v in given}
    pool = given + [v for v in load_catalog() if v.series in series and v.size not in names]
    best, caps, _ = _decide(ev, pool, slo, variant, rel_tol, max_vms, prune=True)
    retired = vm.is_retired(as_of)
    verb = "retired" if retired else "retires"
    if best is None:
        return Successor(vm.size, vm.retires_on, retired, "", "", 0, 0.0, math.inf, 0.0,
                         math.inf, f"{vm.series} {verb} on {vm.retires_on}; no "
                         f"{'/'.join(series)} size meets the objectives")
    cap = next(c for c in caps if c.vm_size == best.vm_size)
    change = cap.capacity_ops_s / chosen_cap.capacity_ops_s - 1.0
    monthly_change = best.usd_per_month - chosen.usd_per_month
    note = (f"{vm.series} {verb} on {vm.retires_on}: move to {best.vm_count} x {best.vm_size} "
            f"({best.series}); predicted capacity {cap.capacity_ops_s:,.0f} ops/s per VM "
            f"({change:+.0%} vs {vm.size}), ${best.usd_per_month:,.0f}/month "
            f"({monthly_change:+,.0f} USD/month)")
    return Successor(vm.size, vm.retires_on, retired, best.vm_size, best.series,
                     best.vm_count, cap.capacity_ops_s, best.usd_per_month, change,
                     monthly_change, note)


def recommend(
    evaluate: Evaluate | CachedEvaluator,
    vms: Sequence[VmSize],
    slo: Slo,
    *,
    variant: Mapping[str, Any] | None = None,
    rel_tol: float = DEFAULT_REL_TOL,
    max_vms: int = 64,
    sensitivity: bool = True,
    what_ifs: Sequence[WhatIf] | None = DEFAULT_WHAT_IFS,
    knee: bool = True,
    as_of: _dt.date | None = None,
) -> SizingResult:
    """Size every VM in ``vms`` under ``slo`` and recommend the cheapest option that meets it.

    ``variant`` is the base variant (usually empty). Sensitivity repeats the decision with each
    group of :data:`SENSITIVITY_GROUPS` at the ``low`` and ``high`` ends of its plausible range;
    ``what_ifs`` are evaluated at the recommended size and re-decided. ``as_of`` (default
    today) decides whether a size is retired. Raises :class:`EpcsimError` for an empty ``vms``.
    """
    if not vms:
        raise EpcsimError("sizing: no VM sizes to evaluate")
    unique: dict[str, VmSize] = {}
    for vm_size in vms:
        unique.setdefault(vm_size.size, vm_size)  # the first entry of each name wins
    vms = list(unique.values())
    ev = evaluate if isinstance(evaluate, CachedEvaluator) else CachedEvaluator(evaluate)
    base = dict(variant or {})
    day = as_of or _dt.date.today()
    by_name = {vm.size: vm for vm in vms}
    best, caps, options = _decide(ev, vms, slo, base, rel_tol, max_vms, prune=False)
    order = {vm.size: i for i, vm in enumerate(vms)}
    hints = {c.vm_size: c.capacity_ops_s for c in caps if c.capacity_ops_s > 0}
    caps.sort(key=lambda c: order[c.vm_size])
    options.sort(key=lambda o: order[o.vm_size])

    reasons: list[str] = []
    chosen = best
    if best is not None and not best.within_budget:
        reasons.append(f"No option meets the budget of ${slo.budget_usd_per_month:,.0f}/month: "
                       f"the cheapest that meets the latency objective, {best.vm_count} x "
                       f"{best.vm_size}, costs ${best.usd_per_month:,.0f}/month.")
        chosen = None
    if best is None:
        reasons.append(f"No size meets {slo.describe()} with at most {max_vms} VMs.")
    result_knee: Knee | None = None
    succ: Successor | None = None
    bind: str | None = None
    cap_map = {c.vm_size: c for c in caps}
    if chosen is not None:
        cap = cap_map[chosen.vm_size]
        vm = by_name[chosen.vm_size]
        bind = cap.binding_resource
        bound = "at least " if cap.capacity_is_lower_bound else ""
        reasons.append(
            f"{chosen.vm_count} x {chosen.vm_size} is the cheapest option that meets "
            f"{slo.describe()}: one VM sustains {bound}{cap.capacity_ops_s:,.0f} ops/s within "
            f"the bound (bisection to {rel_tol:.0%}), leaving {chosen.headroom_left_fraction:.0%}"
            f" headroom at the target, for ${chosen.usd_per_month:,.0f}/month.")
        reasons.append(f"At that size the binding resource is {cap.binding_resource}: "
                       f"{cap.binding_reason}.")
        for opt in sorted(options, key=lambda o: by_name[o.vm_size].linux_usd_per_hour):
            if opt.vm_size == chosen.vm_size:
                continue
            other = cap_map[opt.vm_size]
            if not opt.feasible:
                reasons.append(f"{opt.vm_size} is ruled out ({other.binding_resource}): "
                               f"{opt.note}.")
            elif opt.usd_per_month <= chosen.usd_per_month * 1.5 or other.binding_resource in (
                    BIND_EPC, BIND_KSGXD):
                reasons.append(
                    f"{opt.vm_size} needs {opt.vm_count} VM(s) for "
                    f"${opt.usd_per_month:,.0f}/month "
                    f"(+${opt.usd_per_month - chosen.usd_per_month:,.0f}); it is limited by "
                    f"{other.binding_resource}: {other.binding_reason}.")
        if knee:
            result_knee = find_knee(ev, vm, max(cap.capacity_ops_s, slo.target_load_ops_s),
                                    base)
            reasons.append(f"EPC knee at {vm.size}: {result_knee.note}.")
        succ = _successor(ev, chosen, cap, vm, vms, slo, base, rel_tol, max_vms, day)
        if succ is not None:
            reasons.append(succ.note + ".")

    cases: list[SensitivityCase] = []
    if sensitivity and chosen is not None:
        params = cost_parameters()
        for group, names in SENSITIVITY_GROUPS.items():
            for end in ("low", "high"):
                costs = {n: float(getattr(params[n], end)) for n in names if n in params}
                merged = {**base, "costs": {**base.get("costs", {}), **costs}}
                alt, _, _ = _decide(ev, vms, slo, merged, rel_tol, max_vms, prune=True,
                                    hints=hints)
                same_size = alt is not None and alt.vm_size == chosen.vm_size
                same = same_size and alt is not None and alt.vm_count == chosen.vm_count
                if alt is None:
                    note = "no size meets the objectives"
                elif same:
                    note = f"holds: {alt.vm_count} x {alt.vm_size}"
                elif same_size:
                    note = (f"same size, {alt.vm_count} VM(s) instead of {chosen.vm_count} "
                            f"(${alt.usd_per_month:,.0f}/month)")
                else:
                    note = (f"changes to {alt.vm_count} x {alt.vm_size} "
                            f"(${alt.usd_per_month:,.0f}/month)")
                cases.append(SensitivityCase(group, end, costs,
                                             alt.vm_size if alt else None,
                                             alt.vm_count if alt else 0,
                                             alt.usd_per_month if alt else None,
                                             same_size, same, note))
        held = sum(c.same_size for c in cases)
        reasons.append(f"Sensitivity: the recommendation holds in {held} of {len(cases)} cases "
                       "with the least certain cost parameters at the ends of their ranges"
                       + ("." if held == len(cases) else
                          "; see the sensitivity table for the cases where it changes."))

    results: list[WhatIfResult] = []
    if what_ifs and chosen is not None:
        cap = cap_map[chosen.vm_size]
        vm = by_name[chosen.vm_size]
        for w in what_ifs:
            merged = {**base, **w.variant}
            wcap = capacity_search(ev, vm, slo, merged, rel_tol=rel_tol,
                                   start_ops_s=hints.get(vm.size))
            alt, _, _ = _decide(ev, vms, slo, merged, rel_tol, max_vms, prune=True,
                                hints=hints)
            change = (wcap.capacity_ops_s / cap.capacity_ops_s - 1.0
                      if cap.capacity_ops_s > 0 else None)
            monthly = alt.usd_per_month - chosen.usd_per_month if alt else None
            if wcap.meets_at_any_load:
                note = (f"{vm.size} capacity {cap.capacity_ops_s:,.0f} -> "
                        f"{wcap.capacity_ops_s:,.0f} ops/s"
                        + (f" ({change:+.0%})" if change is not None else ""))
            else:
                note = f"{vm.size} {wcap.binding_reason}"
            if alt is not None and monthly is not None:
                note += (f"; cheapest option {alt.vm_count} x {alt.vm_size}, "
                         f"{monthly:+,.0f} USD/month")
            results.append(WhatIfResult(w.name, w.description, dict(w.variant), vm.size,
                                        cap.capacity_ops_s, wcap.capacity_ops_s, change,
                                        alt.vm_size if alt else None,
                                        alt.vm_count if alt else 0,
                                        alt.usd_per_month if alt else None, monthly, note))

    probes = [
        {"vm_size": p.vm_size, "load_ops_s": p.load_ops_s,
         "meets": _meets(p.metrics, p.load_ops_s, slo),
         **{k: v for k, v in p.metrics.items()
            if k.startswith("latency_") or k in ("throughput_ops_s", "vcpu_utilisation")}}
        for p in ev.probes if p.variant == base
    ]
    return SizingResult(slo, day.isoformat(), rel_tol, caps, options, chosen, reasons, bind,
                        result_knee, succ, cases, results, probes, ev.calls, ev.hits, base)


# --------------------------------------------------------------------------- scenario variants


def variant_assignments(scenario: Any, load_ops_s: float | None, variant: Mapping[str, Any]
                        ) -> dict[str, object]:
    """Key-path assignments (``--set`` style) that put ``variant`` and an open-loop Poisson
    load of ``load_ops_s`` (None: keep the arrivals) into ``scenario``.

    ``scenario`` is an :class:`epcsim.scenario.spec.Scenario` (read by attribute). Values are
    in base units (bytes, ops/s). Rules: the load replaces the workload's arrival process and
    every phase's own arrival process; ``working_set_scale`` scales each region (rounded up to
    whole 4 KiB pages, at least one) and each enclave's size (at least the sum of its regions);
    ``ocalls_per_op_scale`` rounds each operation's OCALL count (an operation with OCALLs
    keeps at least one) and keeps its host-side work per operation, so each remaining OCALL
    carries proportionally more host time; ``ocall_mode`` sets every operation with OCALLs to
    that call mode and gives each enclave at least one switchless worker when it is
    ``switchless``; ``enclave_threads_scale`` rounds each enclave's thread count (at least 1);
    ``costs`` sets cost parameters by name. Unknown variant keys raise :class:`EpcsimError`.
    """
    known = {"costs", "ocall_mode", "ocalls_per_op_scale", "working_set_scale",
             "enclave_threads_scale"}
    unknown = sorted(set(variant) - known)
    if unknown:
        raise EpcsimError(f"sizing variant: unknown key(s) {', '.join(unknown)} (known: "
                          f"{', '.join(sorted(known))})")
    page = 4096
    out: dict[str, object] = {}
    if load_ops_s is not None:
        poisson = {"kind": "poisson", "rate": float(load_ops_s)}
        out["workload.arrival"] = poisson
        for phase in scenario.workload.phases:
            if phase.arrival is not None:
                out[f"workload.phases.{phase.name}.arrival"] = dict(poisson)
    ws = float(variant.get("working_set_scale", 1.0))
    threads = float(variant.get("enclave_threads_scale", 1.0))
    mode = variant.get("ocall_mode")
    if ws <= 0 or threads <= 0:
        raise EpcsimError("sizing variant: scales must be positive")
    for enc in scenario.enclaves:
        if ws != 1.0:
            total = 0
            for region in enc.regions:
                pages = max(1, math.ceil(region.size_bytes * ws / page))
                out[f"enclaves.{enc.name}.regions.{region.name}.size"] = pages * page
                total += pages * page
            out[f"enclaves.{enc.name}.size"] = max(total, math.ceil(enc.size_bytes * ws / page)
                                                   * page)
        if threads != 1.0:
            out[f"enclaves.{enc.name}.threads"] = max(1, round(enc.threads * threads))
        if mode == "switchless" and enc.switchless_workers < 1:
            out[f"enclaves.{enc.name}.switchless_workers"] = 1
    ocall_scale = float(variant.get("ocalls_per_op_scale", 1.0))
    if ocall_scale < 0:
        raise EpcsimError("sizing variant: ocalls_per_op_scale must be >= 0")
    for op in scenario.workload.operations:
        if op.ocalls <= 0:
            continue
        if ocall_scale != 1.0:
            n = max(1, round(op.ocalls * ocall_scale))
            out[f"workload.operations.{op.name}.ocalls"] = n
            if op.ocall_host_time_s:
                out[f"workload.operations.{op.name}.ocall_host_time"] = (
                    op.ocall_host_time_s * op.ocalls / n)
        if mode is not None:
            out[f"workload.operations.{op.name}.call_mode"] = str(mode)
    for name, value in dict(variant.get("costs") or {}).items():
        out[f"costs.{name}"] = float(value)
    return out


def apply_variant(scenario: Any, load_ops_s: float | None, variant: Mapping[str, Any]) -> Any:
    """``scenario`` with :func:`variant_assignments` applied and validated again (its sweep is
    emptied: the result is one point). Returns a new Scenario."""
    from epcsim.scenario.plan import apply_point

    return apply_point(scenario, variant_assignments(scenario, load_ops_s, variant))
