"""Decisions without capacities: the cheapest option that meets the SLO, found by evaluating
each size only at the per-VM loads of the VM counts that could win.

A sensitivity case or a what-if's re-decision needs the cheapest option, not each size's
capacity to ``rel_tol``. ``n`` VMs of a size serve the target load ``T`` with headroom ``h``
when one VM meets the objectives at ``vm_load(n) = T / (n (1 - h))`` (what
:func:`~epcsim.sizing.options.size_option` asks of a capacity: ``capacity >= vm_load(n)``).
Under the package's monotonicity assumption (meeting the objective is monotone in load, see
:mod:`epcsim.sizing`) one evaluation at ``vm_load(n)`` decides exactly whether ``n`` VMs
suffice, so the decision is found from evaluations at such loads:

- sizes are walked in price order with the offers, availability rules and order of the
  capacity-based decision (``_decide(prune=True)`` in :mod:`epcsim.sizing.recommend`);
- with a best option so far costing ``B`` a month, a size priced ``p`` an hour can only win
  with at most ``n_max`` VMs, the most whose monthly price ``n p H`` is at most ``B``. One
  evaluation at ``vm_load(n_max)`` comes first: if it fails the size cannot win and is left
  (pruned after one evaluation); if it meets, the fewest VMs that meet is found by an
  integer search from the hint;
- with no best yet, the search starts from the hint's count ``ceil(vm_load(1) / hint)``
  (``hint``: the size's capacity before the change, e.g. phase 1's), from the VM cap when
  the hint is 0 (the size could not meet before the change) and from one VM without one;
- the integer search gallops away from its start (1, 2, 4, ... VMs, towards fewer VMs after
  a load that meets, towards more after one that fails) until the answer is bracketed, then
  bisects; one evaluation per step (the steps of many decisions share batches in
  :func:`~epcsim.sizing.steps.gather`);
- a failure on service time alone (no lower load can help) or an evaluation that cannot
  run ends the size, as it ends a capacity search;
- a tie on (monthly price, VM count) is broken as :func:`~epcsim.sizing.options._cheapest`
  breaks it, on the headroom left, which needs capacities: the tied sizes' capacities are
  then searched (full searches; rare).

The result is the option the capacity-based decision returns with exact capacities (the
capacity-based one, with capacities searched to ``rel_tol``, can need one VM more where a
count's load falls inside the last bracket). Each searched size gets a
:class:`DecisionBound`: a :class:`~epcsim.sizing.capacity.SizeCapacity` whose
``capacity_ops_s`` is the highest per-VM load shown to meet (a lower bound of the capacity,
``decision_bound`` set), not a capacity, and must not be shown as one.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from epcsim.errors import EpcsimError
from epcsim.reference.catalog import HOURS_PER_MONTH, VmSize
from epcsim.sizing.capacity import (
    SizeCapacity,
    _meets,
    _service_bound,
    binding_resource,
    capacity_steps,
)
from epcsim.sizing.options import (
    Offer,
    SizingOption,
    _option_order,
    offers_by_price,
    size_option,
)
from epcsim.sizing.slo import BIND_CONFIG, DEFAULT_REL_TOL, Slo, vm_load
from epcsim.sizing.steps import Steps


@dataclass(frozen=True)
class DecisionBound(SizeCapacity):
    """A size's standing in a decision search (not its capacity): ``capacity_ops_s`` and
    ``bracket_low_ops_s`` are the highest per-VM load shown to meet (0: none),
    ``bracket_high_ops_s`` the lowest shown to fail (equal to the low end when none failed);
    ``vm_count`` the fewest VMs shown to meet (0: none within ``vm_count_limit``, the most
    VMs that could still win when the size was searched)."""

    decision_bound: bool = True
    vm_count: int = 0
    vm_count_limit: int = 0



def count_limit(best: SizingOption | None, usd_per_hour: float, max_vms: int) -> int:
    """The most VMs of a size priced ``usd_per_hour`` that can still win against ``best``
    (monthly price at most ``best``'s, computed as the option's own price is), capped."""
    if best is None:
        return max_vms
    unit = usd_per_hour * HOURS_PER_MONTH
    n = min(max_vms, int(best.usd_per_month // unit) + 1) if unit > 0 else max_vms
    while n > 0 and n * usd_per_hour * HOURS_PER_MONTH > best.usd_per_month:
        n -= 1
    return n


@dataclass
class _Search:
    """The evaluations of one size in one decision: VM count -> (meets, metrics)."""

    vm: VmSize
    slo: Slo
    variant: dict[str, Any]
    #: The size's capacity under the same variant, when a full search found it already.
    known: SizeCapacity | None = None
    seen: dict[int, tuple[bool, dict[str, float]]] = dataclasses.field(default_factory=dict)
    ended: str = ""  # why the size cannot meet at any load ("" when it may)
    evaluations: int = 0

    def from_known(self, load: float) -> bool | None:
        """Whether the known capacity decides ``load`` (None: it does not)."""
        cap = self.known
        if cap is None or not cap.meets_at_any_load:
            return None
        if load <= cap.bracket_low_ops_s:
            return True
        if not cap.capacity_is_lower_bound and load >= cap.bracket_high_ops_s:
            return False
        return None

    def probe(self, n: int) -> Steps[bool | None]:
        """Meets at ``vm_load(n)``; None when the size is ended (see the module doc)."""
        load = vm_load(self.slo, n)
        if self.known is not None and not self.known.meets_at_any_load:
            self.ended = self.known.binding_reason  # the full search ruled the size out
            return None
        decided = self.from_known(load)
        if decided is not None:
            self.seen[n] = (decided, dict(self.known.metrics_at_capacity if self.known
                                          else {}))
            return decided
        self.evaluations += 1
        out = (yield [(self.vm, load, self.variant)])[0]
        if isinstance(out, EpcsimError):
            self.ended = f"cannot run on this size: {out}"
            self.seen[n] = (False, {})
            return None
        if self.slo.latency_metric not in out:
            raise ValueError(f"evaluate() returned no {self.slo.latency_metric} (the SLO "
                             f"percentile) for {self.vm.size}")
        ok = _meets(out, load, self.slo)
        self.seen[n] = (ok, dict(out))
        if not ok and _service_bound(out, load, self.slo):
            reason = binding_resource(out, self.vm)[1]
            self.ended = (f"cannot meet the SLO at any load (fails at {load:,.3g} ops/s): "
                          f"{reason}")
            return None
        return ok

    def fewest(self, start: int, limit: int, check_limit: bool) -> Steps[int]:
        """The fewest VMs in 1..``limit`` whose per-VM load meets (0: none, or ended).
        ``check_limit``: evaluate at ``limit`` first (the size may not win at all)."""
        lo, hi = 0, 0  # most VMs shown to fail (0: none); fewest shown to meet (0: none)
        if limit < 1:
            return 0
        if check_limit:
            ok = yield from self.probe(limit)
            if not ok:
                return 0
            hi = limit
        n = min(max(start, 1), limit)
        if hi and n >= hi:
            n = hi - 1
        direction, step = "", 1
        while not (hi and hi - lo <= 1):
            if not hi and lo >= limit:
                return 0
            ok = yield from self.probe(n)
            if ok is None:
                return 0
            if ok:
                hi = n
            else:
                lo = n
            if hi and hi - lo <= 1:
                break
            went = "down" if ok else "up"
            if direction in ("", went):
                direction = went
                n = hi - step if ok else lo + step
                step *= 2
                if not hi:
                    n = min(n, limit)
                if not (lo < n and (not hi or n < hi)):
                    direction = "bisect"
            else:
                direction = "bisect"
            if direction == "bisect":
                n = (lo + hi) // 2
        return hi

    def record(self, n: int, limit: int) -> DecisionBound:
        """The honest record of what this search showed (see :class:`DecisionBound`)."""
        meets = sorted(k for k, (ok, _) in self.seen.items() if ok)
        fails = sorted(k for k, (ok, _) in self.seen.items() if not ok)
        low = vm_load(self.slo, n) if n else 0.0
        fail_n = max((k for k in fails if not n or k < n), default=0)
        high = vm_load(self.slo, fail_n) if fail_n else low
        metrics = self.seen[n][1] if n else (self.seen[fails[-1]][1] if fails else {})
        vm = self.vm
        if not self.seen:
            name, why = BIND_CONFIG, self.ended or "not evaluated"
        elif metrics:
            name, why = binding_resource(metrics, vm)
        else:
            name, why = BIND_CONFIG, self.ended
        if n:
            reason = (f"decision search (capacity not searched): one VM meets at {low:,.0f} "
                      f"ops/s ({n} VMs)" + (f" and fails at {high:,.0f} ops/s ({fail_n} VMs)"
                                            if fail_n else "") + f"; {why}")
        elif self.ended:
            reason = self.ended
        else:
            most = max(fails, default=limit)
            reason = (f"decision search (capacity not searched): one VM fails at "
                      f"{vm_load(self.slo, most):,.0f} ops/s, the load of {most} VMs, the "
                      f"most that could win; {why}")
        return DecisionBound(vm.size, vm.series, vm.vcpus, vm.epc_mib, vm.linux_usd_per_hour,
                             vm.retires_on, low, bool(meets), bool(n), name, reason, metrics,
                             low, high, self.evaluations, True, n, limit)


def _option(bound: DecisionBound, slo: Slo, max_vms: int, offer: Offer) -> SizingOption:
    """The option of a decision bound: its count, price and an honest note."""
    opt = size_option(bound, slo, max_vms, offer)
    if bound.vm_count == 0:
        return dataclasses.replace(opt, note=bound.binding_reason)
    n = bound.vm_count
    note = (f"{n} x {bound.vm_size} at {slo.target_load_ops_s / n:,.0f} ops/s each: one VM "
            f"meets the objectives at {bound.capacity_ops_s:,.0f} ops/s (its share with "
            f"{slo.headroom_fraction:.0%} headroom; decision search, capacity not searched, "
            f"so the headroom left is at least {opt.headroom_left_fraction:.0%})")
    return dataclasses.replace(opt, vm_count=n, note=note)


def decision_steps(vms: Sequence[VmSize], slo: Slo, variant: Mapping[str, Any],
                   max_vms: int, *, hints: Mapping[str, float] | None = None,
                   day: _dt.date | None = None, rel_tol: float = DEFAULT_REL_TOL,
                   analytic: bool = True, known: Mapping[str, SizeCapacity] | None = None,
                   ) -> Steps[tuple[SizingOption | None, list[SizeCapacity],
                                    list[SizingOption]]]:
    """The cheapest recommendable option over ``vms`` by decision searches (module doc):
    (best, one record per size searched, their options), as ``_decide(prune=True)`` returns.
    ``hints``: VM size -> a capacity (before the change, 0: could not meet) to start each
    search from;
    ``rel_tol``/``analytic``: for the capacity searches of a tie-break; ``known``: VM size
    -> its capacity under ``variant`` from a full search (e.g. a what-if's at the chosen
    size): loads at or below its bracket's low end meet, at or above its high end fail,
    without evaluating; a size it rules out is left."""
    base = dict(variant)
    offers, ordered = offers_by_price(vms, slo, day or slo.decision_date())
    by_name = {vm.size: vm for vm in vms}
    records: list[SizeCapacity] = []
    options: list[SizingOption] = []
    full: dict[str, SizeCapacity] = dict(known or {})
    best: SizingOption | None = None

    def capacity(name: str) -> Steps[float]:
        if name not in full:
            hint = (hints or {}).get(name)
            full[name] = yield from capacity_steps(
                by_name[name], slo, base, rel_tol=rel_tol,
                start_ops_s=hint if hint and hint > 0 else None, analytic=analytic)
        return full[name].capacity_ops_s

    for vm in ordered:
        offer = offers[vm.size]
        if not offer.recommendable:
            continue
        limit = count_limit(best, offer.hourly_or_inf, max_vms)
        if limit < 1:
            continue
        hint = (hints or {}).get(vm.size)
        if hint is not None and hint > 0:
            start = max(1, math.ceil(vm_load(slo, 1) / hint * (1 - 1e-12)))
        else:  # could not meet before the change: the most VMs first; never searched: one
            start = limit if hint is not None else 1
        search = _Search(vm, slo, base, (known or {}).get(vm.size))
        n = yield from search.fewest(start, limit, check_limit=best is not None)
        record = search.record(n, limit)
        opt = _option(record, slo, max_vms, offer)
        records.append(record)
        options.append(opt)
        if not n:
            continue
        if best is None or _option_order(opt)[:2] < _option_order(best)[:2]:
            best = opt
        elif _option_order(opt)[:2] == _option_order(best)[:2]:
            # The same monthly price and VM count: more headroom left (a larger capacity)
            # wins, then the name, as _cheapest decides.
            mine = yield from capacity(opt.vm_size)
            theirs = yield from capacity(best.vm_size)
            if (-mine, opt.vm_size) < (-theirs, best.vm_size):
                best = opt
    return best, records, options
