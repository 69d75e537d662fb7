"""The recommendation: the cheapest option that meets the SLO, its reasons, the knee, the
successor of a retired size, the cost-parameter sensitivity and the what-ifs.

The recommendation itself and the successor decide from capacities (searched to ``rel_tol``,
shown in the report); the sensitivity cases, the what-ifs' re-decisions and "what would fit"
need only the cheapest option and decide by decision searches (:mod:`epcsim.sizing.decision`).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from epcsim.errors import EpcsimError
from epcsim.reference.catalog import HOURS_PER_MONTH, VmSize, load_catalog, successor_series
from epcsim.reference.cost_parameters import cost_parameters
from epcsim.reference.market import availability, retires_on
from epcsim.sizing.advice import what_would_fit
from epcsim.sizing.capacity import SizeCapacity, _meets, capacity_steps
from epcsim.sizing.decision import decision_steps
from epcsim.sizing.evaluator import CachedEvaluator
from epcsim.sizing.knee import KNEE_EPC_MULTIPLES, Knee, knee_steps
from epcsim.sizing.options import SizingOption, _cheapest, offers_by_price, size_option
from epcsim.sizing.result import SensitivityCase, SizingResult, Successor, WhatIfResult
from epcsim.sizing.slo import (
    BIND_EPC,
    BIND_KSGXD,
    DEFAULT_MAX_VMS,
    DEFAULT_REL_TOL,
    DEFAULT_WHAT_IFS,
    SENSITIVITY_GROUPS,
    Evaluate,
    Slo,
    WhatIf,
)
from epcsim.sizing.steps import Steps, done, drive, gather


def _decide(vms: Sequence[VmSize], slo: Slo, variant: Mapping[str, Any], rel_tol: float,
            max_vms: int, prune: bool, hints: Mapping[str, float] | None = None,
            estimates: Mapping[str, tuple[Mapping[str, float], float]] | None = None,
            analytic: bool = True, day: _dt.date | None = None,
            known: Mapping[str, SizeCapacity] | None = None,
            ) -> Steps[tuple[SizingOption | None, list[SizeCapacity], list[SizingOption]]]:
    """Cheapest recommendable option over ``vms`` (meets the SLO, can be bought on ``day``,
    has a price under the SLO's pricing). Without ``prune`` every size is searched, all at
    once (one batch per round), so the sizes that cannot be bought are shown too. With
    ``prune`` only recommendable sizes are searched, one after another by price, and a size
    whose single-VM price is already above the best option found is not searched (it cannot
    be cheaper). ``hints``: VM size -> a capacity to start each search from (warm start);
    ``estimates``: VM size -> (metrics, load) for the analytic guess; ``known``: VM size ->
    its capacity under ``variant`` already searched (used instead of searching again)."""
    offers, ordered = offers_by_price(vms, slo, day or slo.decision_date())

    def search(vm: VmSize) -> Steps[SizeCapacity]:
        if known and vm.size in known:
            return done(known[vm.size])
        hint = (hints or {}).get(vm.size)
        return capacity_steps(vm, slo, variant, rel_tol=rel_tol,
                              start_ops_s=hint if hint and hint > 0 else None,
                              estimate=(estimates or {}).get(vm.size), analytic=analytic)

    caps: list[SizeCapacity] = []
    options: list[SizingOption] = []
    if not prune:
        caps = list((yield from gather([search(vm) for vm in ordered])))
        options = [size_option(cap, slo, max_vms, offers[cap.vm_size]) for cap in caps]
        return _cheapest(options), caps, options
    best: SizingOption | None = None
    for vm in ordered:
        if not offers[vm.size].recommendable:
            continue
        if best is not None and (offers[vm.size].hourly_or_inf * HOURS_PER_MONTH
                                 > best.usd_per_month * (1 + 1e-12)):
            continue
        cap = yield from search(vm)
        opt = size_option(cap, slo, max_vms, offers[vm.size])
        caps.append(cap)
        options.append(opt)
        best = _cheapest(options)
    return best, caps, options


def _at_target(options: Sequence[SizingOption], by_name: Mapping[str, VmSize],
               variant: Mapping[str, Any]) -> Steps[list[SizingOption]]:
    """``options`` with the metrics of one VM at its share of the target load (evaluated
    for each option that meets the SLO; the others are returned as they are)."""
    wanted = [o for o in options if o.feasible and o.vm_size in by_name]
    outs = yield [(by_name[o.vm_size], o.per_vm_load_ops_s, dict(variant)) for o in wanted]
    found = {o.vm_size: out for o, out in zip(wanted, outs, strict=True)
             if isinstance(out, dict)}
    return [dataclasses.replace(o, metrics_at_target={
        k: float(v) for k, v in found[o.vm_size].items()
        if k.startswith("latency_") or k in ("throughput_ops_s", "vcpu_utilisation",
                                             "epc_faults_per_s")})
            if o.vm_size in found else o for o in options]


# --------------------------------------------------------------------------- the whole sizing



def _successor(source: SizingOption, source_cap: SizeCapacity, vm: VmSize,
               vms: Sequence[VmSize], slo: Slo, variant: Mapping[str, Any], rel_tol: float,
               max_vms: int, as_of: _dt.date, analytic: bool,
               known: Mapping[str, SizeCapacity] | None = None,
               ) -> Steps[tuple[Successor, SizingOption | None, SizeCapacity | None] | None]:
    """Where a team on ``vm`` (retired, or closing, on ``as_of``) should go: the cheapest
    recommendable option of its successor series, among the scenario's sizes and the
    catalogue's; with ``source`` (the team's option on ``vm``) beside it. ``known``: the
    capacities already searched (phase 1's, same variant), reused for the sizes they cover."""
    series = successor_series(vm)
    retire = retires_on(vm)
    if not series or not retire:
        return None
    # The sizes of the successor series the scenario defines (with its overrides), plus the
    # catalogue's other sizes of those series: the cheapest may not be among those asked for.
    given = [v for v in vms if v.series in series]
    names = {v.size for v in given}
    pool = given + [v for v in load_catalog() if v.series in series and v.size not in names]
    best, caps, _ = yield from _decide(pool, slo, variant, rel_tol, max_vms, prune=True,
                                       analytic=analytic, day=as_of, known=known)
    retired = as_of >= _dt.date.fromisoformat(retire)
    verb = "retired" if retired else "retires"
    here = (dict(from_capacity_ops_s=source_cap.capacity_ops_s,
                 from_vm_count=source.vm_count if source.feasible else 0,
                 from_usd_per_month=source.usd_per_month if source.feasible else None))
    if best is None:
        return Successor(vm.size, retire, retired, "", "", 0, 0.0, math.inf, 0.0,
                         math.inf, f"{vm.series} {verb} on {retire}; no purchasable "
                         f"{'/'.join(series)} size meets the objectives",
                         **here), None, None  # type: ignore[arg-type]
    cap = next(c for c in caps if c.vm_size == best.vm_size)
    change = (cap.capacity_ops_s / source_cap.capacity_ops_s - 1.0
              if source_cap.capacity_ops_s > 0 else math.inf)
    monthly_change = (best.usd_per_month - source.usd_per_month if source.feasible
                      else math.inf)
    versus = (f" ({change:+.0%} vs {vm.size})" if math.isfinite(change)
              else f" ({vm.size} cannot meet the objectives)")
    note = (f"{vm.series} {verb} on {retire}: move to {best.vm_count} x {best.vm_size} "
            f"({best.series}); predicted capacity {cap.capacity_ops_s:,.0f} ops/s per VM"
            f"{versus}, ${best.usd_per_month:,.0f}/month"
            + (f" ({monthly_change:+,.0f} USD/month against {source.vm_count} x {vm.size})"
               if math.isfinite(monthly_change) else ""))
    return Successor(vm.size, retire, retired, best.vm_size, best.series,
                     best.vm_count, cap.capacity_ops_s, best.usd_per_month, change,
                     monthly_change, note, **here), best, cap  # type: ignore[arg-type]


def _sensitivity_note(alt: SizingOption | None, chosen: SizingOption) -> tuple[bool, bool, str]:
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
    return same_size, same, note


def _what_if_result(w: WhatIf, vm: VmSize, cap: SizeCapacity, wcap: SizeCapacity,
                    alt: SizingOption | None, chosen: SizingOption) -> WhatIfResult:
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
    return WhatIfResult(w.name, w.description, dict(w.variant), vm.size,
                        cap.capacity_ops_s, wcap.capacity_ops_s, change,
                        alt.vm_size if alt else None, alt.vm_count if alt else 0,
                        alt.usd_per_month if alt else None, monthly, note)


#: Evaluations one capacity search is expected to take (for progress estimates only).
_PER_SEARCH = {True: 5, False: 10}


def recommend(
    evaluate: Evaluate | CachedEvaluator,
    vms: Sequence[VmSize],
    slo: Slo,
    *,
    variant: Mapping[str, Any] | None = None,
    rel_tol: float = DEFAULT_REL_TOL,
    max_vms: int = DEFAULT_MAX_VMS,
    sensitivity: bool = True,
    what_ifs: Sequence[WhatIf] | None = DEFAULT_WHAT_IFS,
    knee: bool = True,
    as_of: _dt.date | None = None,
    estimates: Mapping[str, tuple[Mapping[str, float], float]] | None = None,
    analytic: bool = True,
    decisions: bool | None = None,
) -> SizingResult:
    """Size every VM in ``vms`` under ``slo`` and recommend the cheapest option that meets it.

    ``variant`` is the base variant (usually empty). Sensitivity repeats the decision with each
    group of :data:`SENSITIVITY_GROUPS` at the ``low`` and ``high`` ends of its plausible range;
    ``what_ifs`` are evaluated at the recommended size and re-decided. ``as_of`` (default
    today) decides whether a size is retired. ``estimates``: VM size -> (metrics, load) of a
    run of that size (e.g. the study's own), for the analytic first guess of its capacity;
    ``analytic=False`` searches as before the analytic bracket (to measure the difference);
    ``decisions=False`` re-decides the sensitivity cases and what-ifs by capacity searches of
    every size, as before the decision searches of :mod:`epcsim.sizing.decision` (default:
    as ``analytic``, so ``analytic=False`` is the earlier search throughout).
    Raises :class:`EpcsimError` for an empty ``vms``.

    Two phases, each one lockstep search (:func:`epcsim.sizing.steps.gather`): the capacity of
    every size, then everything that depends on the choice (knee, successor, sensitivity
    cases, what-ifs) together. The result does not depend on how the evaluator runs a batch.
    Phase 2 searches capacities only where one is shown (the what-if's at the chosen size,
    the successor's); a sensitivity case or a what-if's re-decision is a decision search
    (:mod:`epcsim.sizing.decision`): each size evaluated only at the per-VM loads of the VM
    counts that could still win.
    """
    if not vms:
        raise EpcsimError("sizing: no VM sizes to evaluate")
    unique: dict[str, VmSize] = {}
    for vm_size in vms:
        unique.setdefault(vm_size.size, vm_size)  # the first entry of each name wins
    vms = list(unique.values())
    decisions = analytic if decisions is None else decisions
    ev = evaluate if isinstance(evaluate, CachedEvaluator) else CachedEvaluator(evaluate)
    base = dict(variant or {})
    day = as_of or slo.decision_date()
    by_name = {vm.size: vm for vm in vms}
    per_search = _PER_SEARCH[analytic]
    ev.expect(per_search * len(vms))
    best, caps, options = drive(_decide(vms, slo, base, rel_tol, max_vms, prune=False,
                                        estimates=estimates if not base else None,
                                        analytic=analytic, day=day), ev)
    order = {vm.size: i for i, vm in enumerate(vms)}
    hints = {c.vm_size: c.capacity_ops_s for c in caps}  # 0: cannot meet as written
    caps.sort(key=lambda c: order[c.vm_size])
    options.sort(key=lambda o: order[o.vm_size])

    # Sizes retired (or closed to new subscriptions) on the decision date that have a
    # successor series: the team's best option among them, beside the successor's.
    succ: Successor | None = None
    gone = [o for o in options if o.availability != "available"
            and successor_series(by_name[o.vm_size]) and retires_on(by_name[o.vm_size])]
    if gone:
        source = min(gone, key=lambda o: (not o.feasible, o.usd_per_month,
                                          -o.capacity_ops_s, o.vm_size))
        found = drive(_successor(source, next(c for c in caps if c.vm_size == source.vm_size),
                                 by_name[source.vm_size], vms, slo, base, rel_tol, max_vms,
                                 day, analytic, {c.vm_size: c for c in caps}), ev)
        if found is not None:
            succ, succ_opt, succ_cap = found
            if succ_opt is not None and succ_cap is not None and best is None:
                best = succ_opt  # nothing in the study can be bought: move to the successor
                if succ_opt.vm_size not in order:
                    caps.append(succ_cap)  # shown beside the sizes the study asked for
                    options.append(succ_opt)
                    by_name[succ_opt.vm_size] = next(v for v in load_catalog()
                                                     if v.size == succ_opt.vm_size)
                    order[succ_opt.vm_size] = len(order)
    options = drive(_at_target(options, by_name, base), ev)
    if best is not None:  # the same option, now with its metrics at the target load
        best = next((o for o in options if o.vm_size == best.vm_size), best)

    reasons: list[str] = []
    advice: list[str] = []
    chosen = best
    if best is not None and not best.within_budget:
        reasons.append(f"No option meets the budget of ${slo.budget_usd_per_month:,.0f}/month: "
                       f"the cheapest that meets the latency objective, {best.vm_count} x "
                       f"{best.vm_size}, costs ${best.usd_per_month:,.0f}/month.")
        chosen = None
    if best is None:
        reasons.append(f"No size that can be bought on {day.isoformat()} meets "
                       f"{slo.describe()} with at most {max_vms} VMs.")
    if chosen is None:
        advice = drive(what_would_fit(options, caps, vms, slo, base, max_vms, day,
                                      what_ifs or (), _decide, rel_tol, analytic,
                                      decisions), ev)
        reasons.extend(f"What would fit: {a}" for a in advice)
    if succ is not None and chosen is not None and succ.to_size == chosen.vm_size:
        reasons.append(succ.note + ".")
    result_knee: Knee | None = None
    bind: str | None = None
    cap_map = {c.vm_size: c for c in caps}
    cases: list[SensitivityCase] = []
    results: list[WhatIfResult] = []
    if chosen is not None:
        cap = cap_map[chosen.vm_size]
        vm = by_name[chosen.vm_size]
        bind = cap.binding_resource
        bound = "at least " if cap.capacity_is_lower_bound else ""
        reasons.append(
            f"{chosen.vm_count} x {chosen.vm_size} is the cheapest option that can be bought "
            f"on {day.isoformat()} and meets {slo.describe()} ({slo.describe_market()}): one "
            f"VM sustains {bound}{cap.capacity_ops_s:,.0f} ops/s within "
            f"the bound (searched to {rel_tol:.0%}), leaving {chosen.headroom_left_fraction:.0%}"
            f" headroom at the target, for ${chosen.usd_per_month:,.0f}/month.")
        if chosen.availability != "available":
            reasons.append(f"Note: {availability(vm, day, slo.subscription).reason}; set "
                           "slo.subscription: new if yours does not deploy the series yet.")
        reasons.append(f"At that size the binding resource is {cap.binding_resource}: "
                       f"{cap.binding_reason}.")
        for opt in sorted(options, key=lambda o: (o.usd_per_hour or math.inf, o.vm_size)):
            if opt.vm_size == chosen.vm_size:
                continue
            other = cap_map[opt.vm_size]
            if not opt.purchasable or opt.usd_per_hour is None:
                reasons.append(f"{opt.vm_size} is not recommended: {opt.unavailable_reason}.")
            elif not opt.feasible:
                reasons.append(f"{opt.vm_size} is ruled out ({other.binding_resource}): "
                               f"{opt.note}.")
            elif opt.usd_per_month <= chosen.usd_per_month * 1.5 or other.binding_resource in (
                    BIND_EPC, BIND_KSGXD):
                reasons.append(
                    f"{opt.vm_size} needs {opt.vm_count} VM(s) for "
                    f"${opt.usd_per_month:,.0f}/month "
                    f"(+${opt.usd_per_month - chosen.usd_per_month:,.0f}); it is limited by "
                    f"{other.binding_resource}: {other.binding_reason}.")

        # Phase 2: everything that depends on the choice, searched together. A sensitivity
        # case or a what-if needs only the cheapest option, not capacities: a decision search
        # (epcsim.sizing.decision) unless decisions=False. Each re-decides over the study's
        # sizes and, when the choice is the successor's size (nothing in the study can be
        # bought), that size too: without it every case would find nothing.
        pool = list(by_name.values())

        def redecide(merged: Mapping[str, Any]) -> Steps[Any]:
            if decisions:
                return decision_steps(pool, slo, merged, max_vms, hints=hints, day=day,
                                      rel_tol=rel_tol, analytic=analytic)
            return _decide(pool, slo, merged, rel_tol, max_vms, prune=True, hints=hints,
                           analytic=analytic, day=day)

        def what_if(merged: Mapping[str, Any]) -> Steps[Any]:
            # The capacity at the chosen size (shown), then the decision, which reads the
            # loads that capacity already decides instead of evaluating them again.
            wcap = yield from capacity_steps(vm, slo, merged, rel_tol=rel_tol,
                                             start_ops_s=hints.get(vm.size), analytic=analytic)
            alt = yield from decision_steps(pool, slo, merged, max_vms, hints=hints, day=day,
                                            rel_tol=rel_tol, analytic=analytic,
                                            known={vm.size: wcap})
            return wcap, alt

        searches: list[Steps[Any]] = []
        searches.append(knee_steps(vm, max(cap.capacity_ops_s, slo.target_load_ops_s), base)
                        if knee else done(None))
        case_keys: list[tuple[str, str, dict[str, float]]] = []
        if sensitivity:
            params = cost_parameters()
            for group, names in SENSITIVITY_GROUPS.items():
                for end in ("low", "high"):
                    costs = {n: float(getattr(params[n], end)) for n in names if n in params}
                    merged = {**base, "costs": {**base.get("costs", {}), **costs}}
                    case_keys.append((group, end, costs))
                    searches.append(redecide(merged))
        for w in what_ifs or ():
            merged = {**base, **w.variant}
            if decisions:
                searches.append(what_if(merged))
                continue
            searches.append(gather([
                capacity_steps(vm, slo, merged, rel_tol=rel_tol,
                               start_ops_s=hints.get(vm.size), analytic=analytic),
                redecide(merged)]))
        per_decision = len(vms) + 1 if decisions else 2 * per_search
        ev.expect(per_search * (1 + len(what_ifs or ()))
                  + per_decision * (len(case_keys) + len(what_ifs or ()))
                  + (len(KNEE_EPC_MULTIPLES) + 3 if knee else 0))
        answers = drive(gather(searches), ev)
        result_knee = answers[0]
        if result_knee is not None:
            reasons.append(f"Throughput knee at {vm.size} (the working set at which one VM's "
                           f"saturated throughput halves, as EPC paging sets in): "
                           f"{result_knee.note}.")
        if succ is not None and succ.to_size != chosen.vm_size:
            reasons.append(succ.note + ".")
        for (group, end, costs), (alt, _, _) in zip(case_keys, answers[1:1 + len(case_keys)],
                                                    strict=True):
            same_size, same, note = _sensitivity_note(alt, chosen)
            cases.append(SensitivityCase(group, end, costs, alt.vm_size if alt else None,
                                         alt.vm_count if alt else 0,
                                         alt.usd_per_month if alt else None,
                                         same_size, same, note))
        if cases:
            held = sum(c.same_size for c in cases)
            reasons.append(f"Sensitivity: the recommendation holds in {held} of {len(cases)} "
                           "cases with the least certain cost parameters at the ends of their "
                           "ranges" + ("." if held == len(cases) else
                                       "; see the sensitivity table for the cases where it "
                                       "changes."))
        for w, (wcap, (alt, _, _)) in zip(what_ifs or (), answers[1 + len(case_keys):],
                                          strict=True):
            results.append(_what_if_result(w, vm, cap, wcap, alt, chosen))

    probes: list[dict[str, Any]] = [
        {"vm_size": p.vm_size, "load_ops_s": p.load_ops_s,
         "meets": _meets(p.metrics, p.load_ops_s, slo),
         **{k: v for k, v in p.metrics.items()
            if k.startswith("latency_") or k in ("throughput_ops_s", "vcpu_utilisation")}}
        for p in ev.probes if p.variant == base
    ]
    probes.sort(key=lambda p: (order.get(str(p["vm_size"]), len(order)), str(p["vm_size"]),
                               float(p["load_ops_s"])))
    return SizingResult(slo, day.isoformat(), rel_tol, caps, options, chosen, reasons, bind,
                        result_knee, succ, cases, results, probes, ev.calls, ev.hits, base,
                        advice)
