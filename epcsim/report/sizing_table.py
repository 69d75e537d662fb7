"""The sizing answer as tables: one row per VM size with what a buyer decides on, shared by
``epcsim run`` (terminal) and the report (HTML and Markdown), so both read the same.

Per size: whether it can be bought on the decision date, its capacity (the highest load one
VM sustains within the SLO) with the bracket the search ended on, the VMs needed for the
target load, their monthly cost under the SLO's region and pricing, the binding resource,
and the metrics of one VM at its share of the target load. Retired sizes sit beside their
successor in a second table. Numbers go through :mod:`epcsim.report.format` (latencies in
human units: ``112 us``, ``3.4 ms``).
"""
from __future__ import annotations

import math
from typing import Any

from epcsim.reference.market import PRICING_WORDS
from epcsim.report.format import compact, duration, pct, usd
from epcsim.report.tables import Table
from epcsim.sizing import SizingResult


def _short(name: Any) -> str:
    return str(name).removeprefix("Standard_")


def capacity_text(row: dict[str, Any]) -> str:
    """``11,183 [11,183, 11,382]``: the capacity and the bracket the search ended on."""
    cap = float(row["capacity_ops_s"])
    if cap <= 0:
        return "cannot meet"
    text = ("≥ " if row["capacity_is_lower_bound"] else "") + compact(cap)
    low, high = float(row["bracket_low_ops_s"]), float(row["bracket_high_ops_s"])
    if math.isfinite(high) and high > low > 0 and not row["capacity_is_lower_bound"]:
        text += f" [{compact(low)}, {compact(high)}]"
    return text


def _status(row: dict[str, Any], recommended: str | None) -> str:
    if row["vm_size"] == recommended:
        return "recommended"
    if not row["purchasable"]:
        return str(row["availability"])
    if not math.isfinite(float(row["usd_per_hour"])):
        return "no price"
    if row["availability"] != "available":
        return str(row["availability"])
    return "meets SLO" if row["feasible"] else "does not meet"


def sizing_table(result: SizingResult) -> Table:
    """The headline: one row per VM size (the study's, and a successor it moved to)."""
    slo = result.slo
    key = slo.latency_metric
    rec = result.recommended.vm_size if result.recommended else None
    rows = []
    for r in result.capacity_rows():
        at = r.get("metrics_at_target") or {}
        rows.append([
            _short(r["vm_size"]), _status(r, rec), capacity_text(r),
            str(r["vm_count"]) if r["feasible"] else "-",
            usd(r["vm_count"] * r["usd_per_hour"] * 730.0) + "/mo"
            if r["feasible"] and math.isfinite(float(r["usd_per_hour"])) else "-",
            r["binding_resource"],
            duration(at.get(key)) if at else "-",
            pct(at.get("vcpu_utilisation")) if at else "-",
        ])
    return Table.of(
        ["VM size", "status", "capacity ops/s per VM [bracket]", "VMs for target",
         "cost at target", "binding resource", f"p{slo.latency_percentile:g} at target",
         "vCPU util. at target"], rows, align="llrrrlrr",
        caption=(f"Objective: {slo.describe()}; Linux {PRICING_WORDS[slo.pricing]} prices "
                 f"in {slo.region}; {slo.subscription} subscription; decision date "
                 f"{result.as_of}. Capacity: the highest load one VM sustains within the "
                 f"bound (searched to {result.rel_tol:.0%}; the bracket is the last load "
                 "that met it and the first that did not). The metrics are one VM's at its "
                 "share of the target load. Costs use 730 hours a month."),
        title="Sizing: capacity, VMs and cost per VM size")


def successor_table(result: SizingResult) -> Table | None:
    """A retired (or closing) size beside the successor the sizing moves it to."""
    s = result.successor
    if s is None or not s.to_size:
        return None
    verb = "retired" if s.retired else "retires"
    before = [f"{_short(s.from_size)} ({verb} {s.retires_on})",
              compact(s.from_capacity_ops_s) if s.from_capacity_ops_s > 0 else "cannot meet",
              str(s.from_vm_count) if s.from_vm_count else "-",
              usd(s.from_usd_per_month) + "/mo" if s.from_usd_per_month is not None else "-"]
    after = [f"{_short(s.to_size)} ({s.to_series})", compact(s.capacity_ops_s),
             str(s.vm_count), usd(s.usd_per_month) + "/mo"]
    return Table.of(["", "VM size", "capacity ops/s per VM", "VMs for target",
                     "cost at target"], [["now", *before], ["move to", *after]],
                    align="llrrr", title="Retired size beside its successor",
                    caption=s.note + ".")
