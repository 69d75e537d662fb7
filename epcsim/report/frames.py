"""The report's frames: means over replications with confidence intervals, and the sizing
result as tidy frames.

These are the numbers the report and the notebooks show; they are computed from the stored
per-run summary and sizing result only (never by running the model). Failed runs (a
non-empty ``error`` or a ``status`` other than ``ok``) are left out of every mean.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from epcsim.report import plots
from epcsim.sizing import SizingResult

#: Metrics averaged over replications (those present in the frame are used).
METRICS = (
    "offered_load_ops_s", "throughput_ops_s", "latency_mean_s", "latency_p50_s",
    "latency_p95_s", "latency_p99_s", "vcpu_utilisation", "epc_faults_per_s",
    "epc_evictions_per_s", "ksgxd_batches_per_s", "slowdown_vs_native", "share_compute",
    "share_memory", "share_transitions", "share_paging", "share_tlb", "share_queueing",
    "enclave_startup_s", "working_set_mib", "native_throughput_ops_s",
)
#: Per-size description columns carried through aggregation.
VM_COLUMNS = ("vm_size", "series", "vcpus", "epc_mib", "usd_per_hour")

def failed_runs(summary: pd.DataFrame) -> pd.Series:
    """Runs that did not complete: a non-empty ``error``, or a ``status`` other than ok."""
    failed = pd.Series(False, index=summary.index)
    if "error" in summary:
        failed |= error_text(summary["error"]).str.strip() != ""
    if "status" in summary:
        failed |= summary["status"].astype(object).where(summary["status"].notna(), "ok") != "ok"
    return failed


def error_text(errors: pd.Series) -> pd.Series:
    """The error column as strings, "" where empty (a CSV reads empty cells as NaN)."""
    return errors.astype(object).where(errors.notna(), "").astype(str)


def aggregate_runs(summary: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Means over replications with Student-t confidence intervals.

    One row per VM size and sweep point (columns: :data:`VM_COLUMNS`, the sweep key paths,
    each metric's mean, ``<metric>_ci_low``, ``<metric>_ci_high``, ``n_replications``).
    Failed runs (non-empty ``error``) are left out. With one replication the interval is NaN.
    A frame that already has ``n_replications`` is returned unchanged.
    """
    if "n_replications" in summary:
        return summary.copy()
    ok = summary[~failed_runs(summary)]
    keys = [c for c in VM_COLUMNS if c in ok] + plots.sweep_columns(ok)
    metrics = [m for m in METRICS if m in ok]
    rows = []
    for _, group in ok.groupby(keys, sort=False, dropna=False):
        row: dict[str, Any] = {k: group[k].iloc[0] for k in keys}
        n = len(group)
        row["n_replications"] = n
        for m in metrics:
            vals = pd.to_numeric(group[m], errors="coerce").to_numpy(float)
            vals = vals[np.isfinite(vals)]
            mean = float(vals.mean()) if len(vals) else math.nan
            if len(vals) > 1:
                half = float(stats.t.ppf(0.5 + confidence / 2, len(vals) - 1)
                             * vals.std(ddof=1) / math.sqrt(len(vals)))
            else:
                half = math.nan
            row[m] = mean
            row[f"{m}_ci_low"] = mean - half
            row[f"{m}_ci_high"] = mean + half
        rows.append(row)
    return pd.DataFrame(rows)


def sizing_frames(sizing: SizingResult) -> dict[str, pd.DataFrame]:
    """The sizing result as tidy frames, for notebooks and for the plots.

    Keys: ``capacity`` (one row per VM size: capacity, cost, VMs needed, binding resource),
    ``probes`` (every evaluation: ``vm_size``, ``load_ops_s``, latencies, throughput,
    ``meets``), ``knee`` (``working_set_mib``, ``throughput_ops_s`` at the recommended size;
    empty without a knee), ``sensitivity`` and ``what_ifs`` (one row per case).
    """
    knee = pd.DataFrame(sizing.knee.curve) if sizing.knee is not None else pd.DataFrame(
        columns=["working_set_scale", "working_set_mib", "throughput_ops_s"])
    sens = pd.DataFrame([{**{k: v for k, v in c.to_dict().items() if k != "costs"},
                          "costs": ", ".join(f"{n}={v:g}" for n, v in c.costs.items())}
                         for c in sizing.sensitivity])
    whatifs = pd.DataFrame([{k: v for k, v in w.to_dict().items() if k != "variant"}
                            for w in sizing.what_ifs])
    return {"capacity": pd.DataFrame(sizing.capacity_rows()),
            "probes": pd.DataFrame(sizing.probes), "knee": knee, "sensitivity": sens,
            "what_ifs": whatifs}


def epc_by_size(summary: pd.DataFrame, sizing: SizingResult | None) -> dict[str, float]:
    out: dict[str, float] = {}
    if {"vm_size", "epc_mib"} <= set(summary.columns):
        for size, epc in zip(summary["vm_size"], summary["epc_mib"], strict=True):
            out.setdefault(str(size), float(epc))
    if sizing is not None:
        for cap in sizing.capacities:
            out.setdefault(cap.vm_size, cap.epc_mib)
    return out
