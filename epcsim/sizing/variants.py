"""Scenario variants: the key-path assignments that put a sizing variant and an offered load
into a loaded scenario, through the scenario's own validation.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from epcsim.errors import EpcsimError

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
