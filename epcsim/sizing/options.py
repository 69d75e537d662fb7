"""Options and pricing: how many VMs of a size serve the target load, what they cost a month
(at the SLO's region and pricing, :mod:`epcsim.reference.market`), whether the size can be
bought on the decision date, and the order in which options are preferred. Only an option
that meets the SLO, can be bought and has a price is ever recommended; the others are kept,
with the reason, so the report can show them.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from epcsim.reference.catalog import HOURS_PER_MONTH, VmSize
from epcsim.reference.market import availability, price_of
from epcsim.sizing.capacity import SizeCapacity
from epcsim.sizing.slo import DEFAULT_MAX_VMS, Slo

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
    #: The hourly price under the SLO's region and pricing (None: no price published).
    usd_per_hour: float | None = None
    #: Can be bought on the decision date (for the SLO's kind of subscription).
    purchasable: bool = True
    #: "available", "existing subscriptions only", "new subscriptions closed" or "retired".
    availability: str = "available"
    #: Why the option is never recommended ("" when it may be): retired, no price, ...
    unavailable_reason: str = ""
    #: Metrics of one VM at its share of the target load (``per_vm_load_ops_s``).
    metrics_at_target: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def recommendable(self) -> bool:
        """Meets the SLO, can be bought and has a finite monthly price."""
        return (self.feasible and self.purchasable and self.usd_per_hour is not None
                and math.isfinite(self.usd_per_month))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SizingOption:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


@dataclass(frozen=True)
class Offer:
    """What buying one size means on the decision date: its price, and whether it can be
    bought at all (``reason`` says why not, or why it has no price)."""

    usd_per_hour: float | None
    purchasable: bool
    availability: str
    reason: str

    @property
    def recommendable(self) -> bool:
        return self.purchasable and self.usd_per_hour is not None

    @property
    def hourly_or_inf(self) -> float:
        """The hourly price, infinite when the size has none (it sorts last)."""
        return self.usd_per_hour if self.usd_per_hour is not None else math.inf


def offer_for(vm: VmSize, slo: Slo, day: _dt.date) -> Offer:
    """``vm``'s price under ``slo.region``/``slo.pricing`` and its availability on ``day``."""
    price = price_of(vm, slo.region, slo.pricing)
    avail = availability(vm, day, slo.subscription)
    reasons = [r for r in ((avail.reason if not avail.purchasable else ""), price.reason) if r]
    return Offer(price.usd_per_hour, avail.purchasable, avail.status, "; ".join(reasons))


def offers_by_price(vms: Sequence[VmSize], slo: Slo, day: _dt.date
                    ) -> tuple[dict[str, Offer], list[VmSize]]:
    """Each size's offer on ``day``, and the sizes in the order a decision walks them: by
    hourly price (sizes without one last), then by name."""
    offers = {vm.size: offer_for(vm, slo, day) for vm in vms}
    return offers, sorted(vms, key=lambda v: (offers[v.size].hourly_or_inf, v.size))


def size_option(cap: SizeCapacity, slo: Slo, max_vms: int = DEFAULT_MAX_VMS,
                offer: Offer | None = None) -> SizingOption:
    """How many VMs of ``cap``'s size serve the target load within headroom, and the cost
    (``offer``: its price and availability; default: the capacity's own price, buyable)."""
    offer = offer or Offer(cap.usd_per_hour, True, "available", "")
    market = dict(usd_per_hour=offer.usd_per_hour, purchasable=offer.purchasable,
                  availability=offer.availability, unavailable_reason=offer.reason)
    if cap.capacity_ops_s <= 0:
        return SizingOption(cap.vm_size, cap.series, 0, 0.0, 0.0, math.inf, 0.0, False, False,
                            cap.binding_reason, **market)  # type: ignore[arg-type]
    usable = cap.capacity_ops_s * (1.0 - slo.headroom_fraction)
    count = max(1, math.ceil(slo.target_load_ops_s / usable * (1 - 1e-12)))
    monthly = (count * offer.usd_per_hour * HOURS_PER_MONTH if offer.usd_per_hour is not None
               else math.inf)
    left = 1.0 - slo.target_load_ops_s / (count * cap.capacity_ops_s)
    budget_ok = slo.budget_usd_per_month is None or monthly <= slo.budget_usd_per_month
    if count > max_vms:
        return SizingOption(cap.vm_size, cap.series, count, cap.capacity_ops_s,
                            slo.target_load_ops_s / count, monthly, left, False, budget_ok,
                            f"would need {count} VMs (more than {max_vms}); "
                            f"{cap.binding_resource} binds: {cap.binding_reason}",
                            **market)  # type: ignore[arg-type]
    note = (f"{count} x {cap.vm_size} at {slo.target_load_ops_s / count:,.0f} ops/s each "
            f"(capacity {cap.capacity_ops_s:,.0f} ops/s, {left:.0%} headroom left)")
    return SizingOption(cap.vm_size, cap.series, count, cap.capacity_ops_s,
                        slo.target_load_ops_s / count, monthly, left, True, budget_ok, note,
                        **market)  # type: ignore[arg-type]


def _option_order(opt: SizingOption) -> tuple[float, int, float, str]:
    return (opt.usd_per_month, opt.vm_count, -opt.headroom_left_fraction, opt.vm_size)


def _cheapest(options: Sequence[SizingOption]) -> SizingOption | None:
    feasible = [o for o in options if o.recommendable]
    return min(feasible, key=_option_order) if feasible else None


