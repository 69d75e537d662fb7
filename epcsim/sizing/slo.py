"""The sizing question: service-level objectives, what-ifs, binding-resource names and the
constants that steer the capacity search (see the package docstring for the method).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from epcsim.errors import EpcsimError
from epcsim.reference.catalog import VmSize
from epcsim.reference.market import (
    DEFAULT_REGION,
    PRICING_WORDS,
    PRICINGS,
    SUBSCRIPTIONS,
    regions,
)

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
#: Most VMs of one size an option may use (the default of ``max_vms``).
DEFAULT_MAX_VMS = 64
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


def _fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:g} ms"
    return f"{seconds * 1e6:g} us"



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
    share of each VM's capacity to keep unused at the target load (0 <= h < 1);
    ``as_of``: the decision date (ISO text; None: the day the sizing runs), only sizes that
    can be bought on it are recommended; ``region``: the Azure region whose prices apply;
    ``pricing``: ``payg``, ``reserved-1y`` or ``reserved-3y``; ``subscription``:
    ``existing`` (a subscription that already deploys the series) or ``new``
    (:mod:`epcsim.reference.market`).
    """

    target_load_ops_s: float
    latency_bound_s: float
    latency_percentile: float = 99.0
    budget_usd_per_month: float | None = None
    headroom_fraction: float = 0.0
    as_of: str | None = None
    region: str = DEFAULT_REGION
    pricing: str = "payg"
    subscription: str = "existing"

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
        for name, text, allowed in (("region", self.region, regions()),
                                    ("pricing", self.pricing, tuple(PRICINGS)),
                                    ("subscription", self.subscription, SUBSCRIPTIONS)):
            if text not in allowed:
                raise EpcsimError(f"slo.{name}: expected one of {', '.join(allowed)}, found "
                                  f"{text!r}")
        if self.as_of is not None:
            try:
                _dt.date.fromisoformat(self.as_of)
            except (TypeError, ValueError):
                raise EpcsimError(f"slo.as_of: expected a date such as 2026-11-30, found "
                                  f"{self.as_of!r}") from None

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

    def decision_date(self, default: _dt.date | None = None) -> _dt.date:
        """``as_of`` as a date; ``default`` (else today) when it is not set."""
        if self.as_of is not None:
            return _dt.date.fromisoformat(self.as_of)
        return default or _dt.date.today()

    def describe_market(self) -> str:
        """``Linux pay-as-you-go prices in eastus; existing subscription``."""
        return (f"Linux {PRICING_WORDS[self.pricing]} prices in {self.region}; "
                f"{self.subscription} subscription")

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
                   headroom_fraction=float(getattr(spec, "headroom", 0.0)),
                   as_of=(None if getattr(spec, "as_of", None) is None
                          else str(spec.as_of)),
                   region=str(getattr(spec, "region", DEFAULT_REGION)),
                   pricing=str(getattr(spec, "pricing", "payg")),
                   subscription=str(getattr(spec, "subscription", "existing")))


def vm_load(slo: Slo, n: int) -> float:
    """The per-VM load at which one VM must meet the objectives for ``n`` VMs to serve the
    target within the headroom (what :func:`epcsim.sizing.options.size_option` asks of a
    capacity: ``capacity >= vm_load(n)``)."""
    return slo.target_load_ops_s / (n * (1.0 - slo.headroom_fraction))
