"""The numbers a scenario resolves to, for a user to confirm before running (``epcsim check``).

A scenario says ``rate: 10k/s``, ``size: 96 MiB``, ``compute: 3000 cycles``, ``vm: [DC4s_v2]``;
what the model will use is only visible after parsing, defaults and the catalogue: the SLO
with its decision date, region and pricing; the run length and warm-up; the arrival rate and
the operations per run; each enclave's committed and touched footprint; and per VM size its
vCPUs, clock, EPC and the EPC left for enclave pages, its price and whether it can be bought.
:func:`resolved_numbers` returns them as data (``epcsim check --json`` prints it as is; the
text form is laid out by :mod:`epcsim.report.tables` in the CLI).

Assumptions, the same as the model's and the feasibility check's: EPC left for enclave pages
is the VM's EPC less each enclave's SECS, TCS and SSA pages
(:func:`epcsim.epc.engine.usable_epc_pages`), its Version Array pages
(:func:`epcsim.epc.engine.enclave_va_pages`) and the platform enclaves' pages; an enclave's
touched footprint is the sum of the in-enclave regions that some operation touches (an upper
bound of its working set: a skewed pattern may leave parts of a region cold).
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

from epcsim import units
from epcsim.scenario.feasibility import SSA_PAGES_PER_THREAD, _committed_pages, _expected_operations
from epcsim.scenario.plan import StudyPlan
from epcsim.scenario.vms import resolve_vm_sizes

_MIB = 2**20


def _mib(pages: int) -> float:
    return pages * units.PAGE_BYTES / _MIB


def _slo(scn: Any) -> dict[str, Any]:
    from epcsim.scenario.workload import Slo

    slo = scn.slo if scn.slo is not None else Slo.model_validate({})
    return {
        "target_load_per_s": slo.target_load_per_s,
        "latency_percentile": slo.latency_percentile,
        "latency_bound_s": slo.latency_bound_s,
        "headroom_fraction": slo.headroom,
        "budget_usd_per_month": slo.budget_usd_per_month,
        "as_of": (slo.as_of or _dt.date.today()).isoformat(),
        "as_of_is_default": slo.as_of is None,
        "region": slo.region, "pricing": slo.pricing, "subscription": slo.subscription,
    }


def _arrival(scn: Any) -> dict[str, Any]:
    arrival = scn.workload.arrival
    out: dict[str, Any] = {"kind": arrival.kind, "rate_per_s": None, "clients": None,
                           "think_time_s": None}
    if arrival.kind == "poisson":
        out["rate_per_s"] = arrival.rate_per_s
    elif arrival.kind == "closed":
        out["clients"] = arrival.clients
        out["think_time_s"] = arrival.think_time_s
    sim = scn.simulation
    measured = max(0.0, sim.duration_s - sim.warmup_s)
    out["expected_operations_per_run"] = (
        _expected_operations(arrival, 0.0, sim.duration_s) if not scn.workload.phases
        and arrival.kind != "closed" else None)
    out["expected_measured_operations_per_run"] = (
        _expected_operations(arrival, 0.0, measured) if not scn.workload.phases
        and arrival.kind == "poisson" else None)
    out["phases"] = len(scn.workload.phases)
    return out


def _enclaves(scn: Any) -> list[dict[str, Any]]:
    committed = _committed_pages(scn)
    ops = scn.workload.operations
    total_weight = math.fsum(op.weight for op in ops) or 1.0
    out = []
    for enc, pages in zip(scn.enclaves, committed, strict=True):
        touched_names = {m.region for op in ops if op.enclave == enc.name for m in op.memory}
        regions = {r.name: r for r in enc.regions}
        touched = sum(r.size_pages for name, r in regions.items()
                      if name in touched_names and r.location == "enclave")
        per_op = math.fsum(op.weight / total_weight * float(m.pages.mean or 0.0)
                           for op in ops if op.enclave == enc.name for m in op.memory)
        out.append({
            "name": enc.name, "threads": enc.threads,
            "committed_pages": pages, "committed_mib": _mib(pages),
            "touched_pages": touched, "touched_mib": _mib(touched),
            "touched_regions": sorted(touched_names),
            "page_touches_per_op": per_op,
        })
    return out


def _operations(scn: Any) -> list[dict[str, Any]]:
    ops = scn.workload.operations
    total_weight = math.fsum(op.weight for op in ops) or 1.0
    return [{
        "name": op.name, "share": op.weight / total_weight, "enclave": op.enclave,
        "ecalls": op.ecalls, "ocalls": op.ocalls, "ocall_host_time_s": op.ocall_host_time_s,
        "compute_cycles": op.compute.cycles, "compute_time_s": op.compute.time_s,
        "page_touches": math.fsum(float(m.pages.mean or 0.0) for m in op.memory),
    } for op in ops]


def _vm_sizes(scn: Any) -> list[dict[str, Any]]:
    from epcsim.epc.engine import enclave_va_pages, usable_epc_pages
    from epcsim.reference.market import availability, price_of
    from epcsim.scenario.workload import Slo

    slo = scn.slo if scn.slo is not None else Slo.model_validate({})
    as_of = slo.as_of or _dt.date.today()
    committed = _committed_pages(scn)
    va = sum(enclave_va_pages(n) for n in committed)
    platform = math.ceil(scn.simulation.platform_enclaves_bytes / units.PAGE_BYTES)
    rows = []
    for vm in resolve_vm_sizes(scn):
        usable = usable_epc_pages(vm.epc_bytes, [(e.threads,) for e in scn.enclaves],
                                  ssa_pages_per_thread=SSA_PAGES_PER_THREAD) - va - platform
        price = price_of(vm, slo.region, slo.pricing)
        avail = availability(vm, as_of, slo.subscription)
        clock = vm.turbo_ghz if scn.simulation.clock == "turbo" else vm.base_ghz
        rows.append({
            "vm_size": vm.size, "series": vm.series, "vcpus": vm.vcpus,
            "clock_ghz": clock, "sgx_generation": vm.sgx_generation,
            "epc_mib": vm.epc_mib, "epc_usable_pages": max(usable, 0),
            "epc_usable_mib": _mib(max(usable, 0)),
            "enclaves_fit_in_epc": sum(committed) <= max(usable, 0),
            "usd_per_hour": price.usd_per_hour, "price_reason": price.reason,
            "purchasable": avail.purchasable, "availability": avail.status,
        })
    return rows


def resolved_numbers(plan: StudyPlan) -> dict[str, Any]:
    """Every resolved number of a planned study a user would want to confirm (see the
    module's docstring), as plain data in base units (seconds, pages, MiB, per second)."""
    scn = plan.scenario
    sim = scn.simulation
    reps = {p.scenario.simulation.replications for p in plan.points}
    return {
        "scenario": scn.name,
        "slo": _slo(scn),
        "simulation": {
            "duration_s": sim.duration_s, "warmup_s": sim.warmup_s,
            "measured_s": max(0.0, sim.duration_s - sim.warmup_s),
            "replications": reps.pop() if len(reps) == 1 else None, "seed": sim.seed,
            "clock": sim.clock, "epc_policy": sim.epc_policy,
            "native_baseline": sim.native_baseline,
        },
        "plan": {"vm_sizes": len(plan.vm_sizes), "sweep_points": len(plan.points),
                 "runs": len(plan.runs)},
        "arrival": _arrival(scn),
        "enclaves": _enclaves(scn),
        "operations": _operations(scn),
        "vm_sizes": _vm_sizes(scn),
        "notes": list(plan.notes),
    }
