"""Propagating the uncertainty of the user's inputs through the capacity search.

The inputs of the scenario's ``uncertain:`` section (:mod:`epcsim.scenario.uncertain`) are
drawn by Latin hypercube sampling: each input's range of probability is cut into ``N`` equal
strata, one value is drawn in each stratum and the strata are paired at random across inputs,
so ``N`` draws cover every input's whole range. The generator is derived from the root seed
with a fixed stream id (no global random state), so the draws are the same whatever the number
of workers. Each draw is the scenario with the drawn values (a sizing variant ``{"set":
{key path: value}}``), and every VM size's capacity is searched for it by the usual capacity
search; all draws' searches run together, one batch per round, on the study's backend, and
the evaluations are cached and stored like any other sizing evaluation.

Outputs: per size, the capacity's 5th, 50th and 95th percentiles over the draws; per size, the
share of draws in which it is the cheapest option that meets the SLO; and the tornado: the
recommended size's capacity with each input at the low and at the high end of its range and
every other input at its midpoint (one-at-a-time; not rank correlations).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from epcsim.reference.catalog import VmSize
from epcsim.sizing.capacity import SizeCapacity, capacity_steps
from epcsim.sizing.evaluator import CachedEvaluator
from epcsim.sizing.options import _cheapest, size_option
from epcsim.sizing.slo import DEFAULT_MAX_VMS, Slo
from epcsim.sizing.steps import Steps, drive, gather

#: Stream id of the uncertainty draws in the root seed's SeedSequence.
DRAW_STREAM = 0x17
#: Percentiles of the capacity interval.
INTERVAL = (5.0, 95.0)
_LOAD_KEYS = ("workload.arrival.rate", "slo.target_load")


def _ppf(item: Any, u: float) -> float:
    """The value of input ``item`` (a ResolvedInput) at probability ``u`` in (0, 1)."""
    p = item.params
    if item.dist == "uniform":
        return float(p["low"] + u * (p["high"] - p["low"]))
    if item.dist == "triangular":
        a, c, b = p["low"], p["mode"], p["high"]
        f = (c - a) / (b - a)
        if u < f:
            return float(a + math.sqrt(u * (b - a) * (c - a)))
        return float(b - math.sqrt((1 - u) * (b - a) * (b - c)))
    z = NormalDist()
    lo, hi = z.cdf(-3.0), z.cdf(3.0)  # truncated at 3 standard deviations
    q = z.inv_cdf(lo + u * (hi - lo))
    if item.dist == "normal":
        return float(p["mean"] + q * p["sd"])
    return float(p["median"] * math.exp(q * p["sigma"]))


def latin_hypercube(inputs: Sequence[Any], draws: int, seed: int) -> list[dict[str, float]]:
    """``draws`` Latin-hypercube draws of ``inputs`` (ResolvedInput): a list of {key: value
    in base units}, rounded where the field is whole. Pure function of its arguments."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(DRAW_STREAM,)))
    out: list[dict[str, float]] = [{} for _ in range(draws)]
    for item in inputs:
        u = (rng.permutation(draws) + rng.random(draws)) / draws
        for i in range(draws):
            out[i][item.key] = item.rounded(_ppf(item, float(u[i])))
    return out


def _split(values: Mapping[str, float], inputs: Sequence[Any], slo: Slo
           ) -> tuple[dict[str, Any], Slo]:
    """(sizing variant, SLO) of one draw: load keys scale the target load, the rest are
    written into the scenario."""
    by_key = {i.key: i for i in inputs}
    assign: dict[str, float] = {}
    target = slo.target_load_ops_s
    for key, value in values.items():
        item = by_key[key]
        if key in _LOAD_KEYS:
            target *= value / item.nominal
        else:
            assign[item.write_key or key] = int(value) if item.integer else value
    import dataclasses

    return ({"set": assign} if assign else {}), dataclasses.replace(slo, target_load_ops_s=target)


def _caps_for(vms: Sequence[VmSize], slo: Slo, variant: Mapping[str, Any], rel_tol: float,
              hints: Mapping[str, float], analytic: bool) -> Steps[list[SizeCapacity]]:
    return gather([capacity_steps(vm, slo, variant, rel_tol=rel_tol,
                                  start_ops_s=hints.get(vm.size) or None, analytic=analytic)
                   for vm in vms])


def propagate(ev: CachedEvaluator, vms: Sequence[VmSize], slo: Slo, inputs: Sequence[Any],
              draws: int, seed: int, *, recommended: str | None,
              hints: Mapping[str, float] | None = None, rel_tol: float = 0.02,
              max_vms: int = DEFAULT_MAX_VMS, analytic: bool = True) -> dict[str, Any]:
    """Search every size's capacity for each draw and for the tornado's ends (see module
    doc). ``recommended``: the size the tornado is about (default: the size cheapest in most
    draws). Returns a JSON-able dict (``draws``, ``capacity`` per size, ``cheapest_share``,
    ``tornado``, ``inputs``, ``method``)."""
    hints = dict(hints or {})
    values = latin_hypercube(inputs, draws, seed)
    cases = [_split(v, inputs, slo) for v in values]
    mids = {i.key: i.mid for i in inputs}
    ends: list[tuple[str, str, dict[str, float]]] = []
    for item in inputs:
        for end, x in (("low", item.rounded(item.lo)), ("high", item.rounded(item.hi))):
            ends.append((item.key, end, {**mids, item.key: x}))
    end_cases = [_split(v, inputs, slo) for _, _, v in ends]
    ev.expect(5 * len(vms) * (len(cases) + len(end_cases)))
    searches = [_caps_for(vms, s, var, rel_tol, hints, analytic) for var, s in cases]
    searches += [_caps_for(vms, s, var, rel_tol, hints, analytic) for var, s in end_cases]
    answers = drive(gather(searches), ev)
    per_draw = answers[:len(cases)]
    names = [vm.size for vm in vms]
    cheapest: dict[str, int] = dict.fromkeys(names, 0)
    none = 0
    rows = []
    for (_, s), caps, v in zip(cases, per_draw, values, strict=True):
        best = _cheapest([size_option(c, s, max_vms) for c in caps])
        if best is None:
            none += 1
        else:
            cheapest[best.vm_size] += 1
        rows.append({"values": v, "target_load_ops_s": s.target_load_ops_s,
                     "capacity_ops_s": {c.vm_size: c.capacity_ops_s for c in caps},
                     "cheapest": best.vm_size if best else None,
                     "vm_count": best.vm_count if best else 0})
    capacity = {}
    for j, name in enumerate(names):
        xs = np.array([caps[j].capacity_ops_s for caps in per_draw], dtype=float)
        capacity[name] = {"p5": float(np.percentile(xs, INTERVAL[0])),
                          "p50": float(np.percentile(xs, 50.0)),
                          "p95": float(np.percentile(xs, INTERVAL[1])),
                          "min": float(xs.min()), "max": float(xs.max())}
    focus = recommended if recommended in names else max(names, key=lambda n: cheapest[n])
    j = names.index(focus)

    tornado = []
    for item in inputs:
        pair = {}
        for (key, end, _), caps, (_, s) in zip(ends, answers[len(cases):], end_cases,
                                               strict=True):
            if key == item.key:
                pair[end] = caps[j].capacity_ops_s
                pair[f"{end}_vms"] = size_option(caps[j], s, max_vms).vm_count
        tornado.append({"input": item.key, "low_value": item.rounded(item.lo),
                        "high_value": item.rounded(item.hi),
                        "capacity_low_ops_s": pair.get("low", math.nan),
                        "capacity_high_ops_s": pair.get("high", math.nan),
                        "vms_low": pair.get("low_vms", 0), "vms_high": pair.get("high_vms", 0),
                        "swing_ops_s": abs(pair.get("high", 0.0) - pair.get("low", 0.0))})
    tornado.sort(key=lambda t: -t["swing_ops_s"])

    return {
        "draws": draws, "seed": seed, "method": "latin hypercube",
        "interval_percentiles": list(INTERVAL),
        "inputs": [i.to_dict() for i in inputs],
        "capacity": capacity,
        "cheapest_share": {n: cheapest[n] / draws for n in names},
        "no_size_share": none / draws,
        "tornado_size": focus,
        "tornado_method": ("one at a time: the capacity of the size at each input's low and "
                           "high end, every other input at the middle of its range"),
        "tornado": tornado,
        "per_draw": rows,
    }


def propagate_scenario(scenario: Any, ev: Any, vms: Sequence[VmSize], slo: Slo, result: Any,
                 analytic: bool) -> dict[str, Any]:
    """The ``uncertain:`` inputs propagated through the capacity search (issue 17)."""
    from epcsim.errors import EpcsimError
    from epcsim.scenario.uncertain import resolve_inputs

    inputs, issues = resolve_inputs(scenario)
    if issues:
        raise EpcsimError(f"uncertain: {issues[0].message}")
    settings = scenario.uncertainty
    seed = settings.seed if settings.seed is not None else scenario.simulation.seed
    hints = {c.vm_size: c.capacity_ops_s for c in result.capacities if c.capacity_ops_s > 0}
    chosen = result.recommended.vm_size if result.recommended else None
    return propagate(ev, vms, slo, inputs, settings.draws, seed, recommended=chosen,
                     hints=hints, rel_tol=result.rel_tol, analytic=analytic)


def uncertainty_lines(result: Mapping[str, Any]) -> list[str]:
    """The terminal's block: a heading and the indented :func:`summary_lines`."""
    return [f"uncertain inputs ({result['draws']} draws):",
            *(f"  {line}" for line in summary_lines(result))]


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """Sentences for the terminal and the report."""
    lines = []
    n = result["draws"]
    shares = sorted(result["cheapest_share"].items(), key=lambda kv: -kv[1])
    for name, share in shares:
        if share > 0:
            lines.append(f"{name} is the cheapest option in {share:.0%} of {n} draws")
    if result.get("no_size_share"):
        lines.append(f"no size meets the SLO in {result['no_size_share']:.0%} of draws")
    for name, c in result["capacity"].items():
        lines.append(f"{name}: capacity {c['p5']:,.0f} to {c['p95']:,.0f} ops/s "
                     f"(5th-95th percentile over the draws; median {c['p50']:,.0f})")
    if result["tornado"]:
        top = result["tornado"][0]
        lines.append(f"input that matters most for {result['tornado_size']}: {top['input']} "
                     f"(capacity {top['capacity_low_ops_s']:,.0f} -> "
                     f"{top['capacity_high_ops_s']:,.0f} ops/s from its low to its high end)")
    return lines
