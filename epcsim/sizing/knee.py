"""The EPC knee: the working set at which throughput at a fixed load falls off, from a
measured curve or by scaling the working set through the evaluator (within what the
scenario language accepts: the enclaves must fit the VM's memory).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from epcsim.errors import EpcsimError
from epcsim.reference.catalog import VmSize
from epcsim.sizing.evaluator import CachedEvaluator
from epcsim.sizing.steps import Steps, drive

# --------------------------------------------------------------------------- EPC knee


@dataclass(frozen=True)
class Knee:
    """Throughput against working set at one size; the knee is where throughput halves."""

    vm_size: str
    epc_mib: float
    working_set_mib: float
    knee_working_set_mib: float | None
    load_ops_s: float
    curve: list[dict[str, float]]  # each: working_set_scale, working_set_mib, throughput_ops_s
    note: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Knee:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


#: Working sets probed for the knee, as multiples of the VM's EPC.
KNEE_EPC_MULTIPLES = (0.5, 0.8, 0.95, 1.05, 1.2, 1.5, 2.0, 3.0, 5.0)


def knee_from_curve(working_set_mib: Sequence[float], throughput_ops_s: Sequence[float]
                    ) -> float | None:
    """Working set (MiB) at which throughput first falls to half of the smallest working
    set's throughput, interpolated linearly in log(working set); None if it never does.

    ``working_set_mib`` must be increasing; both sequences have the same length.
    """
    if len(working_set_mib) < 2:
        return None
    base = throughput_ops_s[0]
    half = 0.5 * base
    for i in range(1, len(working_set_mib)):
        y0, y1 = throughput_ops_s[i - 1], throughput_ops_s[i]
        if y1 <= half < y0 or y1 <= half == y0:
            if y0 == y1:
                return float(working_set_mib[i])
            x0, x1 = math.log(working_set_mib[i - 1]), math.log(working_set_mib[i])
            return float(math.exp(x0 + (x1 - x0) * (y0 - half) / (y0 - y1)))
    return None


def find_knee(ev: CachedEvaluator, vm: VmSize, base_load_ops_s: float,
              variant: Mapping[str, Any] | None = None,
              multiples: Sequence[float] = KNEE_EPC_MULTIPLES) -> Knee:
    """Saturated throughput of ``vm`` against working set, scaled around the VM's EPC.

    The load is raised from ``base_load_ops_s`` until the smallest working set saturates
    (throughput < 90 % of the offered load), so every larger working set (assumed no faster)
    is saturated too and its throughput is the size's maximum. Working sets whose enclaves
    would not fit the VM's memory (the scenario language refuses them) are not simulated:
    the largest scale that fits takes their place, and the note says so.
    """
    return drive(knee_steps(vm, base_load_ops_s, variant, multiples), ev)


def knee_steps(vm: VmSize, base_load_ops_s: float, variant: Mapping[str, Any] | None = None,
               multiples: Sequence[float] = KNEE_EPC_MULTIPLES) -> Steps[Knee]:
    """:func:`find_knee` as steps (:mod:`epcsim.sizing.steps`)."""
    base_variant = dict(variant or {})
    (m,) = yield [(vm, base_load_ops_s, base_variant)]
    if isinstance(m, EpcsimError):
        return Knee(vm.size, vm.epc_mib, math.nan, None, base_load_ops_s, [],
                    f"the knee was not searched: {m}")
    ws = m.get("working_set_mib", math.nan)
    if not math.isfinite(ws) or ws <= 0:
        return Knee(vm.size, vm.epc_mib, math.nan, None, base_load_ops_s, [],
                    "the evaluator reports no working_set_mib, so the knee was not searched")
    scales = sorted({mult * vm.epc_mib / ws for mult in multiples})
    notes: list[str] = []
    enclave_mib = m.get("enclave_mib", math.nan)
    memory_mib = vm.memory_gib * 1024.0
    if math.isfinite(enclave_mib) and enclave_mib > 0:
        # Page rounding can add a little to each region: keep 1 % clear of the memory.
        fits = 0.99 * memory_mib / enclave_mib
        if scales[-1] > fits:
            dropped = [sc for sc in scales if sc > fits]
            scales = sorted({*(sc for sc in scales if sc <= fits), fits})
            notes.append(f"working sets above {fits * ws:,.0f} MiB "
                         f"({len(dropped)} of the probed) were not simulated: the enclaves "
                         f"would exceed the {vm.memory_gib:g} GiB memory of {vm.size}")
    errors: list[str] = []

    def variant_at(scale: float) -> dict[str, Any]:
        return {**base_variant, "working_set_scale": _scale(base_variant, scale)}

    def attempt(load_ops_s: float, batch: Sequence[float]) -> Steps[list[dict[str, float] | None]]:
        outs = yield [(vm, load_ops_s, variant_at(sc)) for sc in batch]
        kept: list[dict[str, float] | None] = []
        for sc, out in zip(batch, outs, strict=True):
            if isinstance(out, EpcsimError):  # e.g. an enclave larger than the VM allows
                errors.append(f"{sc * ws:,.0f} MiB: {out}")
                kept.append(None)
            else:
                kept.append(out)
        return kept

    load = max(base_load_ops_s, 1.0)
    for _ in range(24):
        probe = None
        for sc in scales:
            (probe,) = yield from attempt(load, [sc])
            if probe is not None:
                break
        if probe is None or probe["throughput_ops_s"] < 0.9 * load:
            break
        load *= 2.0
    curve = []
    for sc, pm in zip(scales, (yield from attempt(load, scales)), strict=True):
        if pm is None:
            continue
        curve.append({"working_set_scale": sc,
                      "working_set_mib": pm.get("working_set_mib", sc * ws),
                      "throughput_ops_s": pm["throughput_ops_s"]})
    knee = knee_from_curve([c["working_set_mib"] for c in curve],
                           [c["throughput_ops_s"] for c in curve])
    if len(curve) < 2:
        note = "too few working sets could be simulated to find the knee"
    elif knee is None:
        note = (f"throughput never halved between {curve[0]['working_set_mib']:,.0f} and "
                f"{curve[-1]['working_set_mib']:,.0f} MiB")
    else:
        note = (f"throughput halves at a working set of {knee:,.0f} MiB "
                f"({knee / vm.epc_mib:.2f} x the {vm.epc_mib:,.0f} MiB EPC); the workload's "
                f"working set is {ws:,.0f} MiB ({ws / knee:.0%} of the knee)")
    if errors:
        notes.append(f"left out: {'; '.join(dict.fromkeys(errors))}")
    if notes:
        note += f" ({'; '.join(notes)})"
    return Knee(vm.size, vm.epc_mib, ws, knee, load, curve, note)


def _scale(variant: Mapping[str, Any], s: float) -> float:
    return float(variant.get("working_set_scale", 1.0)) * s


