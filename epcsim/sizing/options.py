"""Options and pricing: how many VMs of a size serve the target load, what they cost a month
and in USD per million operations, and the order in which options are preferred.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from epcsim.reference.catalog import HOURS_PER_MONTH
from epcsim.sizing.capacity import SizeCapacity
from epcsim.sizing.slo import Slo

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


