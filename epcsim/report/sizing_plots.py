"""Plots of the sizing answer: capacity per VM size against the target load, the SLO
percentile against load per size with the bound, and the monthly cost at the target load.

Each function takes the sizing frame (:meth:`epcsim.sizing.SizingResult.capacity_rows`) or
the capacity-search probes and returns a :class:`matplotlib.figure.Figure` built without
pyplot (as :mod:`epcsim.report.plots`). Colours say what a buyer may do with a size: the
recommended one, one that can be bought, one that cannot (retired, closed, no price).
Legends sit beside the axes, outside the data; a log axis is used only when the values span
more than :data:`LOG_SPAN`, so no series is squashed against an axis.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from epcsim.report.plots import _COLOURS, short_name

#: A value axis turns logarithmic when its largest value exceeds the smallest by this factor.
LOG_SPAN = 30.0
RECOMMENDED, BUYABLE, UNAVAILABLE = "#55A868", "#4C72B0", "#B0B0B0"


def _colour(row: Mapping[Any, Any], recommended: str | None) -> str:
    if row["vm_size"] == recommended:
        return RECOMMENDED
    price = float(row["usd_per_hour"])
    return BUYABLE if row["purchasable"] and math.isfinite(price) else UNAVAILABLE


def _legend_patches() -> list[Patch]:
    return [Patch(color=RECOMMENDED, label="recommended"),
            Patch(color=BUYABLE, label="can be bought"),
            Patch(color=UNAVAILABLE, label="cannot be bought\n(retired, closed, no price)")]


def _figure(rows: int) -> Figure:
    return Figure(figsize=(8.5, max(2.6, 0.42 * rows + 1.4)), dpi=100, layout="constrained")


def plot_capacity(frame: pd.DataFrame, target_ops_s: float, recommended: str | None,
                  headroom_fraction: float = 0.0) -> Figure:
    """One VM's capacity per size (horizontal bars) with the search's bracket as an error
    bar, against the target load (and, with headroom, the capacity one VM would need to
    carry it alone)."""
    fig = _figure(len(frame))
    ax = fig.add_subplot()
    rows = frame.to_dict("records")
    y = np.arange(len(rows))[::-1]
    caps = np.array([float(r["capacity_ops_s"]) for r in rows])
    for yi, r, cap in zip(y, rows, caps, strict=True):
        colour = _colour(r, recommended)
        if cap <= 0:
            ax.text(0.01, yi, "cannot meet the SLO at any load",
                    transform=ax.get_yaxis_transform(), va="center", fontsize=8,
                    color="#C44E52")
            continue
        low, high = float(r["bracket_low_ops_s"]), float(r["bracket_high_ops_s"])
        err = None
        if math.isfinite(high) and high > low and not r["capacity_is_lower_bound"]:
            err = [[cap - low], [high - cap]]
        ax.barh(yi, cap, color=colour, xerr=err, capsize=3, height=0.6)
        ax.text(cap, yi, "  ≥" if r["capacity_is_lower_bound"] else "", va="center", fontsize=8)
    ax.axvline(target_ops_s, color="black", linestyle="--", linewidth=1.2)
    handles: list[Patch | Line2D] = [*_legend_patches(), Line2D(
        [], [], color="black", linestyle="--", label="target load")]
    need = target_ops_s / (1 - headroom_fraction) if headroom_fraction else None
    if need is not None:
        ax.axvline(need, color="black", linestyle=":", linewidth=1.2)
        handles.append(Line2D([], [], color="black", linestyle=":",
                              label=f"target + {headroom_fraction:.0%} headroom"))
    shown = caps[caps > 0]
    values = np.append(shown, [target_ops_s] + ([need] if need else []))
    if len(values) and values.max() / max(values.min(), 1e-12) > LOG_SPAN:
        ax.set_xscale("log")
    else:
        ax.set_xlim(0, float(values.max()) * 1.12 if len(values) else 1.0)
    ax.set_yticks(y, [short_name(str(r["vm_size"])) for r in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)  # a lone row's text clear of the axis
    ax.set_xlabel("capacity of one VM within the SLO (ops/s); bar: bracket of the search")
    ax.set_title("Capacity per VM size against the target load")
    ax.grid(axis="x", alpha=0.3, which="both")
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_latency_against_load(probes: pd.DataFrame, percentile: float, bound_s: float,
                              order: list[str]) -> Figure:
    """The SLO percentile (log scale, in ms) against the offered load on one VM, one line
    per size (every load the capacity search and the target-load check evaluated), the bound
    as a dashed line. Points above 20 x the bound (overload) are drawn at the top edge as
    crosses, so every size shows."""
    key = f"latency_p{percentile:g}_s"
    fig = Figure(figsize=(8.5, 4.6), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    top = 20 * bound_s
    for i, size in enumerate(order):
        sub = probes[probes["vm_size"] == size].sort_values("load_ops_s")
        if sub.empty or key not in sub:
            continue
        sub = sub.drop_duplicates("load_ops_s")
        lat = pd.to_numeric(sub[key], errors="coerce").to_numpy(float)
        load = sub["load_ops_s"].to_numpy(float)
        ok = np.isfinite(lat) & (lat <= top)
        colour = _COLOURS[i % len(_COLOURS)]
        ax.plot(load[ok], lat[ok] * 1e3, "-o", markersize=3, color=colour,
                label=short_name(size))
        if (~ok).any():
            ax.plot(load[~ok], np.full((~ok).sum(), top * 1e3), "x", color=colour)
    ax.axhline(bound_s * 1e3, color="black", linestyle="--", linewidth=1.2,
               label=f"SLO bound ({bound_s * 1e3:g} ms)")
    ax.set_yscale("log")
    loads = probes["load_ops_s"].to_numpy(float) if "load_ops_s" in probes else np.array([])
    loads = loads[np.isfinite(loads) & (loads > 0)]
    if len(loads) and loads.max() / loads.min() > LOG_SPAN:
        ax.set_xscale("log")
    ax.set_xlabel("offered load on one VM (ops/s)")
    ax.set_ylabel(f"p{percentile:g} latency (ms)")
    ax.set_title(f"p{percentile:g} latency against load per VM size (x: overloaded, above "
                 "20 x the bound)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_monthly_cost(frame: pd.DataFrame, recommended: str | None) -> Figure:
    """Monthly cost of the VMs each size needs for the target load (horizontal bars, the VM
    count at each bar's end); sizes that cannot meet the SLO or have no price say so."""
    fig = _figure(len(frame))
    ax = fig.add_subplot()
    rows = frame.to_dict("records")
    y = np.arange(len(rows))[::-1]
    costs = []
    for yi, r in zip(y, rows, strict=True):
        price = float(r["usd_per_hour"])
        if not r["feasible"] or not math.isfinite(price):
            why = "no price under this pricing" if r["feasible"] else "cannot meet the SLO"
            ax.text(0.01, yi, why, transform=ax.get_yaxis_transform(), va="center",
                    fontsize=8, color="#C44E52")
            continue
        cost = int(r["vm_count"]) * price * 730.0
        costs.append(cost)
        ax.barh(yi, cost, color=_colour(r, recommended), height=0.6)
        ax.text(cost, yi, f"  {int(r['vm_count'])} VM" + ("s" if int(r["vm_count"]) > 1
                                                           else ""),
                va="center", fontsize=8)
    ax.set_xlim(0, max(costs) * 1.25 if costs else 1.0)
    ax.set_yticks(y, [short_name(str(r["vm_size"])) for r in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("USD per month at the target load (730 h)")
    ax.set_title("Monthly cost per VM size at the target load")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(handles=_legend_patches(), fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))
    return fig
