"""Scenario variants: the key-path assignments that put a sizing variant and an offered load
into a loaded scenario, through the scenario's own validation.
"""
from __future__ import annotations

import dataclasses
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
    ``costs`` sets cost parameters by name; ``set`` ({key path: value in base units}, last)
    writes any field (a draw of the uncertain inputs). Unknown variant keys raise
    :class:`EpcsimError`.
    """
    known = {"costs", "ocall_mode", "ocalls_per_op_scale", "working_set_scale",
             "enclave_threads_scale", "set"}
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
    for key, value in dict(variant.get("set") or {}).items():
        out[str(key)] = value
    return out


def apply_variant(scenario: Any, load_ops_s: float | None, variant: Mapping[str, Any], *,
                  vm_size: str | None = None) -> Any:
    """``scenario`` with :func:`variant_assignments` applied and validated again (its sweep is
    emptied: the result is one point). Returns a new Scenario. ``vm_size``: the one size the
    result will run on (the scenario's checks against its VM sizes then apply to that size
    only, not to sizes it will not run on).

    A variant the scenario language refuses (e.g. a working set whose enclaves no longer fit
    the VM's memory) raises :class:`~epcsim.errors.ScenarioError` naming the variant, the
    load and each problem's key path, never a validation library's exception."""
    from pydantic import ValidationError

    from epcsim.errors import Problem, ScenarioError
    from epcsim.scenario.plan import apply_point
    from epcsim.scenario.problems import issues_from_validation_error

    assignments = variant_assignments(scenario, load_ops_s, variant)
    if vm_size is not None and vm_size in list(getattr(scenario.vm, "sizes", ())):
        assignments["vm.sizes"] = [vm_size]
    where = (f"sizing variant {dict(variant)!r}"
             + (f" at {load_ops_s:,.6g} ops/s" if load_ops_s is not None else "")
             + (f" on {vm_size}" if vm_size else ""))
    try:
        return apply_point(scenario, assignments)
    except ScenarioError as exc:  # the scenario layer located it already: name the variant
        raise ScenarioError([dataclasses.replace(p, message=f"{where}: {p.message}")
                             for p in exc.problems]) from None
    except ValidationError as exc:
        from epcsim.scenario import Scenario

        problems = [Problem(f"{where}: {issue.message}",
                            key_path=".".join(str(p) for p in issue.path) or None,
                            expected=issue.expected, found=issue.found)
                    for issue in issues_from_validation_error(exc, scenario.source, Scenario)]
        raise ScenarioError(problems or [Problem(f"{where}: {exc}")]) from None
