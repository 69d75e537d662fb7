"""The effect of each issue-14 mechanism on capacity, one mechanism at a time.

For every VM size, the capacity under the SLO (the highest load that meets it,
:func:`epcsim.sizing.capacity.capacity_steps`) with every mechanism as the scenario has it,
then with exactly one mechanism switched off (``simulation.mechanisms.<name>: false``,
:mod:`epcsim.scenario.mechanisms`), and with the other SGX driver
(``simulation.sgx_driver``). A switch that leaves the model of a size unchanged (e.g. the
TME-MK penalty on an SGX1 size, platform enclaves when the scenario has none) is not
evaluated: its capacity is the baseline's, by construction. The searches of one round run
as one batch (:func:`epcsim.sizing.steps.gather`), the switched-off ones warm-started from
the baseline capacity.

Precision: each capacity is the lower end of a bracket narrower than ``rel_tol`` (default
2 %) of it, from runs of the evaluator's length; a change smaller than about ``rel_tol``
(plus the short runs' noise, which common random numbers keep small) is no change.
"""
from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from epcsim.errors import EpcsimError
from epcsim.reference.catalog import VmSize
from epcsim.scenario.mechanisms import MECHANISM_NAMES
from epcsim.sizing.capacity import SizeCapacity, capacity_steps
from epcsim.sizing.slo import DEFAULT_REL_TOL, Slo
from epcsim.sizing.steps import Steps, done, gather

#: The row label of the capacity with every mechanism as written.
BASELINE = "all on"


@dataclass(frozen=True)
class MechanismCase:
    """One row: a mechanism switched off (``kind="off"``) or another driver (``"variant"``),
    as a sizing variant."""

    label: str
    kind: str
    variant: dict[str, Any]


def mechanism_cases(scenario: Any, names: Sequence[str] | None = None,
                    driver: bool = True) -> list[MechanismCase]:
    """The cases for ``scenario``: each mechanism it has on (or only ``names``) switched
    off, then (``driver``) the other SGX driver. Unknown names raise :class:`EpcsimError`."""
    chosen = list(MECHANISM_NAMES) if names is None else list(names)
    unknown = [n for n in chosen if n not in MECHANISM_NAMES]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], MECHANISM_NAMES, n=1)
        raise EpcsimError(f"--only: unknown mechanism {unknown[0]!r} (expected some of "
                          f"{', '.join(MECHANISM_NAMES)})"
                          + (f"; did you mean {close[0]!r}?" if close else ""))
    mech = scenario.simulation.mechanisms
    cases = [MechanismCase(f"{n} off", "off", {"set": {f"simulation.mechanisms.{n}": False}})
             for n in chosen if getattr(mech, n)]
    if driver:
        other = "isgx" if scenario.simulation.sgx_driver == "upstream" else "upstream"
        cases.append(MechanismCase(f"sgx_driver {other}", "variant",
                                   {"set": {"simulation.sgx_driver": other}}))
    return cases


@dataclass
class MechanismEffects:
    """Capacities per VM size: ``baseline[size]`` with every mechanism as written and
    ``cases[label][size]`` with one switched; ``unchanged[label]`` lists the sizes whose
    model the case leaves identical (capacity = baseline, not evaluated)."""

    vm_sizes: list[str]
    baseline: dict[str, SizeCapacity]
    cases: dict[str, dict[str, SizeCapacity]]
    unchanged: dict[str, list[str]]
    rel_tol: float
    notes: list[str] = field(default_factory=list)

    def change(self, label: str, size: str) -> float | None:
        """Relative change of capacity (case / baseline - 1); None when neither meets the
        SLO at any load, inf when only the case does."""
        base = self.baseline[size].capacity_ops_s
        cap = self.capacity(label, size)
        if base <= 0:
            return None if cap <= 0 else math.inf
        return cap / base - 1.0

    def capacity(self, label: str, size: str) -> float:
        """Capacity (ops/s) of ``size`` in case ``label`` (the baseline when unchanged)."""
        if label == BASELINE or size in self.unchanged.get(label, ()):
            return self.baseline[size].capacity_ops_s
        return self.cases[label][size].capacity_ops_s

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for label in [BASELINE, *self.cases]:
            for size in self.vm_sizes:
                cap = (self.baseline[size] if label == BASELINE
                       or size in self.unchanged.get(label, ()) else self.cases[label][size])
                ch = None if label == BASELINE else self.change(label, size)
                rows.append({"case": label, "vm_size": size,
                             "capacity_ops_s": cap.capacity_ops_s,
                             "change": ch if ch is None or math.isfinite(ch) else repr(ch),
                             "model_unchanged": size in self.unchanged.get(label, ()),
                             "meets_at_any_load": cap.meets_at_any_load,
                             "capacity_is_lower_bound": cap.capacity_is_lower_bound,
                             "binding_resource": cap.binding_resource,
                             "evaluations": 0 if label != BASELINE and size in
                             self.unchanged.get(label, ()) else cap.evaluations})
        return {"format": "epcsim-mechanisms/1", "rel_tol": self.rel_tol,
                "vm_sizes": self.vm_sizes, "rows": rows, "notes": self.notes}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


#: Cost parameters the model never reads on a VM of this SGX generation
#: (:mod:`epcsim.model.run_costs`, :mod:`epcsim.model.tlb`).
OTHER_GENERATION_COSTS: dict[int, tuple[str, ...]] = {
    1: ("tme_dependent_miss_penalty_ns", "stlb_entries_sgx2", "enclave_build_s_per_page_sgx2",
        "eaccept_cycles", "edmm_exception_cycles"),
    2: ("mee_miss_penalty_ns", "stlb_entries_sgx1", "enclave_build_s_per_page_sgx1",
        "mee_write_penalty_ns", "mee_bandwidth_bytes_per_s"),
}

#: Cost parameters of the enclave start-up and teardown only, which are reported but not
#: simulated (:mod:`epcsim.model.startup`): they never change a capacity.
STARTUP_ONLY_COSTS = ("ecreate_einit_cycles", "eremove_cycles")

#: ``same(vm, variant)``: True when the variant leaves the model of ``vm`` unchanged.
SameModel = Callable[[VmSize, dict[str, Any]], bool]


def mechanism_steps(vms: Sequence[VmSize], slo: Slo, cases: Sequence[MechanismCase],
                    same: SameModel, *, rel_tol: float = DEFAULT_REL_TOL
                    ) -> Steps[MechanismEffects]:
    """The baseline searches of every size in one lockstep, then every (case, size) search
    whose model differs, warm-started from the size's baseline capacity."""
    base: list[SizeCapacity] = yield from gather(
        [capacity_steps(vm, slo, {}, rel_tol=rel_tol) for vm in vms])
    searches: list[Steps[Any]] = []
    unchanged: dict[str, list[str]] = {c.label: [] for c in cases}
    for case in cases:
        for vm, b in zip(vms, base, strict=True):
            if same(vm, case.variant):
                unchanged[case.label].append(vm.size)
                searches.append(done(None))
                continue
            start = b.capacity_ops_s if b.meets_at_any_load else None
            searches.append(capacity_steps(vm, slo, case.variant, rel_tol=rel_tol,
                                           start_ops_s=start))
    found = yield from gather(searches)
    out: dict[str, dict[str, SizeCapacity]] = {}
    k = 0
    for case in cases:
        out[case.label] = {}
        for vm in vms:
            if found[k] is not None:
                out[case.label][vm.size] = found[k]
            k += 1
    return MechanismEffects(vm_sizes=[vm.size for vm in vms],
                            baseline={vm.size: b for vm, b in zip(vms, base, strict=True)},
                            cases=out, unchanged=unchanged, rel_tol=rel_tol)


def same_model_on(scenario: Any, load_ops_s: float) -> SameModel:
    """``same(vm, variant)`` over the simulator's input: the resolved model configuration of
    the scenario at ``load_ops_s`` with and without the variant compare equal, costs
    resolved against the defaults (so ``ssbd_slowdown: 1`` equals the default 1) and
    without the costs the run never reads on ``vm`` (the other SGX generation's, and the
    start-up and teardown ones)."""
    from epcsim.model.config import resolved_costs
    from epcsim.sizing.variants import apply_variant
    from epcsim.study.configure import model_config

    def resolved(vm: VmSize, variant: dict[str, Any]) -> Any:
        cfg = model_config(apply_variant(scenario, load_ops_s, variant, vm_size=vm.size), vm)
        costs = resolved_costs(cfg)
        for name in (*OTHER_GENERATION_COSTS[cfg.vm.sgx_generation], *STARTUP_ONLY_COSTS):
            costs.pop(name, None)
        return dataclasses.replace(cfg, costs=costs)

    base: dict[str, Any] = {}

    def same(vm: VmSize, variant: dict[str, Any]) -> bool:
        try:
            if vm.size not in base:
                base[vm.size] = resolved(vm, {})
            return bool(base[vm.size] == resolved(vm, variant))
        except (ValueError, EpcsimError):  # arrays that do not compare, a variant that fails
            return False

    return same
