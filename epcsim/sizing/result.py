"""Result types of a sizing (per-size capacities, options, knee, successor, sensitivity,
what-ifs) and their JSON form, as ``sizing.json`` stores it.
"""
from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from epcsim.errors import EpcsimError
from epcsim.sizing.capacity import SizeCapacity
from epcsim.sizing.knee import Knee
from epcsim.sizing.options import SizingOption
from epcsim.sizing.slo import Slo

# --------------------------------------------------------------------------- result types


@dataclass(frozen=True)
class Successor:
    """Where a team on a retired size should go, and the predicted change."""

    from_size: str
    retires_on: str
    retired: bool
    to_size: str
    to_series: str
    vm_count: int
    capacity_ops_s: float
    usd_per_month: float
    capacity_change_fraction: float
    monthly_change_usd: float
    note: str
    #: The team's option on the retired size, shown beside the successor's (0/None: the
    #: retired size cannot meet the objectives).
    from_capacity_ops_s: float = 0.0
    from_vm_count: int = 0
    from_usd_per_month: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Successor:
        out = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}
        for key in ("usd_per_month", "capacity_change_fraction", "monthly_change_usd"):
            if out.get(key) is None:
                out[key] = math.inf
        return cls(**out)


@dataclass(frozen=True)
class SensitivityCase:
    """The decision repeated with one group of cost parameters at one end of its range."""

    group: str
    end: str  # "low" or "high"
    costs: dict[str, float]
    vm_size: str | None
    vm_count: int
    usd_per_month: float | None
    same_size: bool
    same_option: bool
    note: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SensitivityCase:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class WhatIfResult:
    """Predicted effect of one what-if, at the recommended size and on the decision."""

    name: str
    description: str
    variant: dict[str, Any]
    vm_size: str
    base_capacity_ops_s: float
    capacity_ops_s: float
    capacity_change_fraction: float | None
    best_vm_size: str | None
    best_vm_count: int
    best_usd_per_month: float | None
    monthly_change_usd: float | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WhatIfResult:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class SizingResult:
    """Everything the sizing produced; serialisable with :meth:`to_json`."""

    slo: Slo
    as_of: str
    rel_tol: float
    capacities: list[SizeCapacity]
    options: list[SizingOption]
    recommended: SizingOption | None
    reasons: list[str]
    binding_resource: str | None
    knee: Knee | None
    successor: Successor | None
    sensitivity: list[SensitivityCase]
    what_ifs: list[WhatIfResult]
    probes: list[dict[str, Any]]
    evaluations: int
    cache_hits: int
    variant: dict[str, Any] = field(default_factory=dict)
    #: When nothing fits: what would (more VMs, a larger size, a what-if); else empty.
    advice: list[str] = field(default_factory=list)
    #: The uncertain inputs propagated through the capacity search
    #: (:func:`epcsim.sizing.uncertainty.propagate`), or None without an ``uncertain:`` section.
    uncertainty: dict[str, Any] | None = None

    @property
    def recommendation_holds(self) -> bool:
        """True when every sensitivity case recommends the same size."""
        return all(c.same_size for c in self.sensitivity)

    def capacity_of(self, vm_size: str) -> SizeCapacity | None:
        return next((c for c in self.capacities if c.vm_size == vm_size), None)

    def capacity_rows(self) -> list[dict[str, Any]]:
        """One flat row per VM size (for a DataFrame): capacity, cost and the chosen option."""
        rows = []
        opts = {o.vm_size: o for o in self.options}
        for c in self.capacities:
            o = opts.get(c.vm_size)
            price = o.usd_per_hour if o is not None else c.usd_per_hour
            rows.append({
                "vm_size": c.vm_size, "series": c.series, "vcpus": c.vcpus,
                "epc_mib": c.epc_mib, "usd_per_hour": math.nan if price is None else price,
                "capacity_ops_s": c.capacity_ops_s,
                "capacity_is_lower_bound": c.capacity_is_lower_bound,
                "ops_per_usd": (c.capacity_ops_s * 3600.0 / price if price else math.nan),
                "usd_per_million_ops": (price / (c.capacity_ops_s * 3600.0) * 1e6
                                        if price is not None and c.capacity_ops_s > 0
                                        else None),
                "vm_count": o.vm_count if o else None,
                "usd_per_month_at_target": (o.usd_per_month if o and o.feasible else None),
                "headroom_left_fraction": o.headroom_left_fraction if o else None,
                "feasible": bool(o and o.feasible),
                "recommendable": bool(o and o.recommendable),
                "purchasable": bool(o is None or o.purchasable),
                "availability": o.availability if o else "available",
                "unavailable_reason": o.unavailable_reason if o else "",
                "bracket_low_ops_s": c.bracket_low_ops_s,
                "bracket_high_ops_s": c.bracket_high_ops_s,
                "per_vm_load_ops_s": o.per_vm_load_ops_s if o else None,
                "metrics_at_target": dict(o.metrics_at_target) if o else {},
                "binding_resource": c.binding_resource,
                "binding_reason": c.binding_reason,
            })
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "epcsim.sizing/1",
            "slo": self.slo.to_dict(),
            "as_of": self.as_of,
            "rel_tol": self.rel_tol,
            "capacities": [c.to_dict() for c in self.capacities],
            "options": [o.to_dict() for o in self.options],
            "recommended": self.recommended.to_dict() if self.recommended else None,
            "reasons": list(self.reasons),
            "binding_resource": self.binding_resource,
            "knee": self.knee.to_dict() if self.knee else None,
            "successor": self.successor.to_dict() if self.successor else None,
            "sensitivity": [c.to_dict() for c in self.sensitivity],
            "what_ifs": [w.to_dict() for w in self.what_ifs],
            "probes": self.probes,
            "evaluations": self.evaluations,
            "cache_hits": self.cache_hits,
            "variant": self.variant,
            "advice": list(self.advice),
            "uncertainty": self.uncertainty,
        }

    def to_json(self) -> str:
        """JSON text; infinities and NaN become null so any JSON reader accepts it."""
        return json.dumps(_json_safe(self.to_dict()), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SizingResult:
        if data.get("format") != "epcsim.sizing/1":
            raise EpcsimError(f"sizing result: expected format 'epcsim.sizing/1', found "
                              f"{data.get('format')!r}")
        try:
            options = [SizingOption.from_dict(_inf(o)) for o in data["options"]]
            return cls(
                slo=Slo.from_dict(data["slo"]),
                as_of=data["as_of"],
                rel_tol=data["rel_tol"],
                capacities=[SizeCapacity.from_dict(_nan_metrics(c))
                            for c in data["capacities"]],
                options=options,
                recommended=(SizingOption.from_dict(_inf(data["recommended"]))
                             if data["recommended"] else None),
                reasons=list(data["reasons"]),
                binding_resource=data["binding_resource"],
                knee=Knee.from_dict(_knee_nan(data["knee"])) if data["knee"] else None,
                successor=Successor.from_dict(data["successor"]) if data["successor"] else None,
                sensitivity=[SensitivityCase.from_dict(c) for c in data["sensitivity"]],
                what_ifs=[WhatIfResult.from_dict(w) for w in data["what_ifs"]],
                probes=list(data["probes"]),
                evaluations=data["evaluations"],
                cache_hits=data["cache_hits"],
                variant=dict(data.get("variant") or {}),
                advice=list(data.get("advice") or []),
                uncertainty=data.get("uncertainty"),
            )
        except (KeyError, TypeError) as exc:
            raise EpcsimError(f"sizing result: missing or malformed field ({exc})") from exc

    @classmethod
    def from_json(cls, text: str) -> SizingResult:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EpcsimError(f"sizing result: not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise EpcsimError("sizing result: expected a JSON object")
        return cls.from_dict(data)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def _inf(opt: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(opt)
    if out.get("usd_per_month") is None:
        out["usd_per_month"] = math.inf
    return out


def _nan_metrics(cap: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(cap)
    out["metrics_at_capacity"] = {k: (math.nan if v is None else v)
                                  for k, v in cap["metrics_at_capacity"].items()}
    return out


def _knee_nan(knee: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(knee)
    if out.get("working_set_mib") is None:
        out["working_set_mib"] = math.nan
    return out


