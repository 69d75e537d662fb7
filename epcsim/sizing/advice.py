"""When nothing fits: what would. Sentences for a sizing in which no size that can be bought
meets the objectives (latency, load within the VM cap, budget).

Three kinds of change, each found by deciding again (a decision search,
:mod:`epcsim.sizing.decision`: the cheapest option without capacities, so a sentence gives
the per-VM load one VM was shown to meet, not a capacity): more VMs of a size behind a load
balancer than the cap allows (from the options already searched, no new evaluation), a
larger size of a series that can still be bought (the catalogue's sizes with more vCPUs or
more EPC than any the study asked for), and each what-if (switchless OCALLs, batching, ...)
on the study's sizes. ``epcsim run`` exits with status 3 when the recommendation is empty
and prints these sentences.
"""
from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from epcsim.reference.catalog import HOURS_PER_MONTH, VmSize, load_catalog
from epcsim.sizing.capacity import SizeCapacity
from epcsim.sizing.decision import DecisionBound, decision_steps
from epcsim.sizing.options import SizingOption, offer_for
from epcsim.sizing.slo import Slo, WhatIf
from epcsim.sizing.steps import Steps, gather


def _short(name: str) -> str:
    return name.removeprefix("Standard_")


def _option_text(opt: SizingOption, caps: Sequence[SizeCapacity] = ()) -> str:
    """The option in words; a decision search's option (``caps`` holds its
    :class:`~epcsim.sizing.decision.DecisionBound`) says the load one VM was shown to meet,
    not a capacity."""
    cap = next((c for c in caps if c.vm_size == opt.vm_size), None)
    if isinstance(cap, DecisionBound):
        return (f"{opt.vm_count} x {_short(opt.vm_size)} (one VM meets the objectives at "
                f"{opt.capacity_ops_s:,.0f} ops/s, ${opt.usd_per_month:,.0f}/month)")
    return (f"{opt.vm_count} x {_short(opt.vm_size)} (capacity {opt.capacity_ops_s:,.0f} "
            f"ops/s per VM, ${opt.usd_per_month:,.0f}/month)")


def what_would_fit(options: Sequence[SizingOption], caps: Sequence[SizeCapacity],
                   vms: Sequence[VmSize], slo: Slo, variant: Mapping[str, Any], max_vms: int,
                   day: _dt.date, what_ifs: Sequence[WhatIf], decide: Callable[..., Any],
                   rel_tol: float, analytic: bool, decisions: bool = True
                   ) -> Steps[list[str]]:
    """Sentences, cheapest change first within each kind; ``decide`` is the recommendation's
    decision over sizes (passed in to keep the modules acyclic), used when ``decisions`` is
    false; else the decision searches of :mod:`epcsim.sizing.decision` (no capacities)."""
    advice: list[str] = []
    over_budget = [o for o in options if o.recommendable and not o.within_budget]
    if over_budget:
        o = min(over_budget, key=lambda x: x.usd_per_month)
        advice.append(f"a budget of ${o.usd_per_month:,.0f}/month: {_option_text(o)}")
    over_cap = [o for o in options if o.purchasable and o.usd_per_hour is not None
                and o.capacity_ops_s > 0 and not o.feasible and o.vm_count > max_vms]
    if over_cap:
        o = min(over_cap, key=lambda x: (x.vm_count * (x.usd_per_hour or math.inf), x.vm_size))
        monthly = o.vm_count * (o.usd_per_hour or math.inf) * HOURS_PER_MONTH
        advice.append(f"more VMs behind a load balancer: {o.vm_count} x {_short(o.vm_size)} "
                      f"(each at {o.per_vm_load_ops_s:,.0f} ops/s of its "
                      f"{o.capacity_ops_s:,.0f}), more than the cap of {max_vms} VMs, for "
                      f"${monthly:,.0f}/month")
    studied = {v.size for v in vms}
    most_vcpus = max(v.vcpus for v in vms)
    most_epc = max(v.epc_mib for v in vms)
    larger = [v for v in load_catalog() if v.size not in studied
              and (v.vcpus > most_vcpus or v.epc_mib > most_epc)
              and offer_for(v, slo, day).recommendable]
    hints = {c.vm_size: c.capacity_ops_s for c in caps}

    def search(sizes: list[VmSize], changed: Mapping[str, Any],
               hints: Mapping[str, float] | None) -> Steps[Any]:
        if decisions:
            return decision_steps(sizes, slo, changed, max_vms, hints=hints, day=day,
                                  rel_tol=rel_tol, analytic=analytic)
        return decide(sizes, slo, changed, rel_tol, max_vms, prune=True, analytic=analytic,
                      day=day, hints={k: v for k, v in (hints or {}).items() if v > 0})

    searches = [search(larger, variant, None)]
    for w in what_ifs:
        searches.append(search(list(vms), {**variant, **w.variant}, hints))
    answers = yield from gather(searches)
    big, big_caps, _ = answers[0]
    if big is not None:
        advice.append(f"a larger size (not in the study; add it to vm.sizes): "
                      f"{_option_text(big, big_caps)}")
    for w, (alt, alt_caps, _) in zip(what_ifs, answers[1:], strict=True):
        if alt is not None:
            advice.append(f"the what-if '{w.name}' ({w.description}): "
                          f"{_option_text(alt, alt_caps)}")
    if not advice:
        advice.append("none of the changes epcsim evaluated (more VMs, larger sizes, the "
                      "what-ifs) meets the objectives: relax the latency bound or lower the "
                      "target load")
    return advice
