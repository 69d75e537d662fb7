"""The study report: one self-contained HTML file and a Markdown twin, from stored results.

A report shows what was simulated and under which assumptions (every cost parameter with its
value, range, source and confidence; every VM size with its price and sources), throughput
and latency per VM size with 95 % confidence intervals over replications, latency against
load, where the time goes, the EPC knee with each size's EPC marked, the cost per million
operations, and, when the scenario has service-level objectives, the recommendation with its
reasons, the sensitivity of the decision and the what-ifs (:mod:`epcsim.sizing`).

It is built from frames and the stored sizing result only; it never runs the model, so
``epcsim report RESULTS_DIR`` rebuilds the same bytes from the files ``epcsim run`` stored.
``report.html`` embeds its plots as base64 PNG and has no external CSS, scripts, fonts or
links, so it opens offline. ``report.md`` carries the same text and tables and links the
plots, written as PNG files into ``figures/`` beside it. Every file is written atomically
(temporary file in the same folder, then rename) and only inside the results folder. Nothing
in the output depends on the clock, so identical inputs give identical files.
"""

from __future__ import annotations

import base64
import html
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from epcsim import __version__
from epcsim.errors import EpcsimError
from epcsim.reference.catalog import HOURS_PER_MONTH, canonical_name, load_catalog
from epcsim.reference.cost_parameters import cost_parameters
from epcsim.report import plots
from epcsim.sizing import SizingResult, knee_from_curve

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

HTML_NAME = "report.html"
MD_NAME = "report.md"
FIGURES_DIR = "figures"


# --------------------------------------------------------------------------- frames


def _failed(summary: pd.DataFrame) -> pd.Series:
    """Runs that did not complete: a non-empty ``error``, or a ``status`` other than ok."""
    failed = pd.Series(False, index=summary.index)
    if "error" in summary:
        failed |= _error_text(summary["error"]).str.strip() != ""
    if "status" in summary:
        failed |= summary["status"].astype(object).where(summary["status"].notna(), "ok") != "ok"
    return failed


def _error_text(errors: pd.Series) -> pd.Series:
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
    ok = summary[~_failed(summary)]
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


def _epc_by_size(summary: pd.DataFrame, sizing: SizingResult | None) -> dict[str, float]:
    out: dict[str, float] = {}
    if {"vm_size", "epc_mib"} <= set(summary.columns):
        for size, epc in zip(summary["vm_size"], summary["epc_mib"], strict=True):
            out.setdefault(str(size), float(epc))
    if sizing is not None:
        for cap in sizing.capacities:
            out.setdefault(cap.vm_size, cap.epc_mib)
    return out


# --------------------------------------------------------------------------- formatting


def _num(value: Any, digits: int = 3) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    if not math.isfinite(x):
        return "n/a" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if x != 0 and (abs(x) >= 1e7 or abs(x) < 1e-3):
        return f"{x:.{digits}g}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def _ms(value: Any) -> str:
    try:
        return _num(float(value) * 1e3)
    except (TypeError, ValueError):
        return ""


def _pct(value: Any) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return ""
    return f"{x:.0%}" if math.isfinite(x) else "n/a"


def _usd(value: Any) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(x):
        return "n/a"
    if x < 1:
        return f"${x:.3g}"
    return f"${x:,.2f}" if x < 100 else f"${x:,.0f}"


def _with_ci(row: Mapping[Any, Any], metric: str, fmt: Any = _num) -> str:
    text = str(fmt(row.get(metric)))
    lo, hi = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    try:
        if lo is not None and hi is not None and math.isfinite(float(lo)) and math.isfinite(
                float(hi)):
            text += f" [{fmt(lo)}, {fmt(hi)}]"
    except (TypeError, ValueError):
        pass
    return text


class _Doc:
    """Builds the HTML and the Markdown side by side from the same calls."""

    def __init__(self) -> None:
        self.html: list[str] = []
        self.md: list[str] = []
        self.figures: list[tuple[str, bytes]] = []

    def heading(self, text: str, level: int = 2, anchor: str | None = None) -> None:
        ident = f' id="{html.escape(anchor)}"' if anchor else ""
        self.html.append(f"<h{level}{ident}>{html.escape(text)}</h{level}>")
        self.md.append(f"{'#' * level} {text}\n")

    def para(self, text: str, cls: str | None = None) -> None:
        klass = f' class="{cls}"' if cls else ""
        self.html.append(f"<p{klass}>{html.escape(text)}</p>")
        self.md.append(f"{text}\n")

    def bullets(self, items: Sequence[str]) -> None:
        if not items:
            return
        self.html.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) +
                         "</ul>")
        self.md.append("\n".join(f"- {i}" for i in items) + "\n")

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]],
              caption: str | None = None) -> None:
        if caption:
            self.para(caption, cls="caption")
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
            for r in rows)
        self.html.append(f'<div class="tw"><table><thead><tr>{head}</tr></thead>'
                         f"<tbody>{body}</tbody></table></div>")

        def cell(c: Any) -> str:
            return str(c).replace("|", "\\|").replace("\n", " ")

        lines = ["| " + " | ".join(cell(h) for h in header) + " |",
                 "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
        self.md.append("\n".join(lines) + "\n")

    def figure(self, name: str, fig: Any, alt: str) -> None:
        png = plots.figure_png(fig)
        fig.clear()
        self.figures.append((name, png))
        data = base64.b64encode(png).decode("ascii")
        self.html.append(f'<figure><img src="data:image/png;base64,{data}" '
                         f'alt="{html.escape(alt)}"><figcaption>{html.escape(alt)}'
                         "</figcaption></figure>")
        self.md.append(f"![{alt}]({FIGURES_DIR}/{name}.png)\n")

    def pre(self, text: str) -> None:
        self.html.append(f"<pre>{html.escape(text)}</pre>")
        self.md.append(f"```\n{text.rstrip()}\n```\n")

    def preformatted(self, text: str, summary: str) -> None:
        self.html.append(f"<details><summary>{html.escape(summary)}</summary><pre>"
                         f"{html.escape(text)}</pre></details>")
        self.md.append(f"<details><summary>{summary}</summary>\n\n```yaml\n{text}```\n"
                       "</details>\n")


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:0 auto;max-width:1100px;padding:1.5em;color:#1d1d1f;line-height:1.45}
h1{border-bottom:3px solid #4C72B0;padding-bottom:.3em}
h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eef2f8}tr:nth-child(even) td{background:#fafafa}
.tw{overflow-x:auto}figure{margin:1em 0}img{max-width:100%;height:auto}
figcaption,.caption{font-size:.85em;color:#555}
.verdict{background:#eef7ee;border-left:6px solid #55A868;padding:.8em 1em;font-size:1.1em}
.warn{background:#fdf1e7;border-left:6px solid #DD8452;padding:.8em 1em}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.8em}
"""


# --------------------------------------------------------------------------- sections


def _what_was_simulated(doc: _Doc, info: Mapping[str, Any], summary: pd.DataFrame,
                        agg: pd.DataFrame) -> None:
    doc.heading("What was simulated", anchor="simulated")
    scen = info.get("scenario") or {}
    description = info.get("description") or scen.get("description") or ""
    if description:
        doc.para(str(description).strip())
    facts = []
    sizes = list(dict.fromkeys(summary["vm_size"])) if "vm_size" in summary else []
    if sizes:
        facts.append(f"VM sizes: {', '.join(plots.short_name(s) for s in sizes)}")
    sweep = plots.sweep_columns(summary)
    for col in sweep:
        values = list(dict.fromkeys(summary[col]))
        facts.append(f"sweep {col}: " + ", ".join(
            f"{v:g}" if isinstance(v, float | np.floating) else str(v) for v in values))
    if "replication" in summary:
        facts.append(f"replications per point: {summary['replication'].nunique()}")
    if "seed" in summary and summary["seed"].nunique() == 1:
        facts.append(f"root seed: {summary['seed'].iloc[0]}")
    facts.append(f"runs: {len(summary)} ({int(_failed(summary).sum())} failed)")
    sim = scen.get("simulation") if isinstance(scen, Mapping) else None
    if isinstance(sim, Mapping):
        facts.append("simulation settings: " + ", ".join(
            f"{k}={v}" for k, v in sim.items() if not isinstance(v, Mapping | list)))
    doc.bullets(facts)
    if info.get("plan"):
        doc.para("The study plan:")
        doc.pre(str(info["plan"]))
    if scen:
        doc.preformatted(yaml.safe_dump(_plain(scen), sort_keys=False, allow_unicode=True),
                         "The resolved scenario (base units: bytes, seconds, cycles)")


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _recommendation_box(doc: _Doc, sizing: SizingResult | None,
                        info: Mapping[str, Any]) -> None:
    if sizing is None:
        scen = info.get("scenario")
        if isinstance(scen, Mapping) and scen.get("slo"):
            doc.para("No sizing: the scenario has a service-level objective (slo), but no "
                     "sizing result was stored with these results (sizing.json), so this "
                     "report shows the simulated results only.", cls="warn")
        else:
            doc.para("No sizing: the scenario sets no service-level objective (slo), so this "
                     "report shows the simulated results only.", cls="warn")
        return
    rec = sizing.recommended
    if rec is None:
        doc.para("Recommendation: none. " + (sizing.reasons[0] if sizing.reasons else ""),
                 cls="warn")
        return
    text = (f"Recommendation: {rec.vm_count} x {plots.short_name(rec.vm_size)} for "
            f"{_usd(rec.usd_per_month)}/month, meeting {sizing.slo.describe()}; binding "
            f"resource: {sizing.binding_resource}.")
    if sizing.successor is not None and sizing.successor.to_size:
        s = sizing.successor
        text += (f" {rec.series} {'retired' if s.retired else 'retires'} on {s.retires_on}: "
                 f"move to {s.vm_count} x {plots.short_name(s.to_size)} ({s.to_series}).")
    if sizing.sensitivity:
        held = sum(c.same_size for c in sizing.sensitivity)
        text += f" The choice holds in {held} of {len(sizing.sensitivity)} sensitivity cases."
    doc.para(text, cls="verdict")


def _results_per_size(doc: _Doc, agg: pd.DataFrame, sizing: SizingResult | None) -> None:
    doc.heading("Throughput and latency per VM size", anchor="results")
    if agg.empty:
        doc.para("No successful runs to show.", cls="warn")
        return
    labels = plots.point_labels(agg)
    header = ["VM size", "point", "n", "throughput ops/s [95% CI]", "p50 ms", "p95 ms",
              "p99 ms [95% CI]", "vCPU util.", "EPC faults/s", "slowdown vs native",
              "USD per M ops"]
    rows = []
    for (_, row), label in zip(agg.iterrows(), labels, strict=True):
        r = row.to_dict()
        usd_m = math.nan
        if "usd_per_hour" in r and r.get("throughput_ops_s"):
            usd_m = float(r["usd_per_hour"]) / (float(r["throughput_ops_s"]) * 3600) * 1e6
        rows.append([plots.short_name(str(r["vm_size"])), label or "-",
                     int(r.get("n_replications", 1)),
                     _with_ci(r, "throughput_ops_s"), _ms(r.get("latency_p50_s")),
                     _ms(r.get("latency_p95_s")), _with_ci(r, "latency_p99_s", _ms),
                     _pct(r.get("vcpu_utilisation")), _num(r.get("epc_faults_per_s")),
                     _num(r.get("slowdown_vs_native")), _usd(usd_m)])
    doc.table(header, rows, caption="Means over replications with 95% Student-t confidence "
                                    "intervals; USD per million operations at the simulated "
                                    "throughput and the VM's hourly price.")
    doc.figure("throughput", plots.plot_throughput_by_size(agg),
               "Throughput per VM size (mean and 95% CI over replications)")
    bound = sizing.slo.latency_bound_s if sizing else None
    if "latency_p99_s" in agg:
        doc.figure("latency", plots.plot_latency_by_size(agg, 99, bound),
                   "p99 latency per VM size (mean and 95% CI)")


def _latency_vs_load(doc: _Doc, agg: pd.DataFrame, sizing: SizingResult | None) -> None:
    frames = []
    if "offered_load_ops_s" in agg and agg.groupby("vm_size")["offered_load_ops_s"].nunique(
            ).max() > 1:
        frames.append(("simulated study runs",
                       agg.rename(columns={"offered_load_ops_s": "load_ops_s"})))
    if sizing is not None and sizing.probes:
        frames.append(("capacity-search evaluations", pd.DataFrame(sizing.probes)))
    if not frames:
        return
    doc.heading("Latency percentiles against load", anchor="load")
    bound = sizing.slo.latency_bound_s if sizing else None
    for i, (what, frame) in enumerate(frames):
        if what.startswith("capacity") and sizing is not None:
            # Many sizes: show only the SLO percentile, on a log load axis.
            pcts: list[float] = [sizing.slo.latency_percentile]
            log_x = True
        else:
            pcts = [p for p in (50.0, 95.0, 99.0) if f"latency_p{p:g}_s" in frame]
            log_x = False
        doc.figure(f"latency_vs_load_{i}",
                   plots.plot_latency_vs_load(frame, pcts, bound, log_load=log_x),
                   f"Latency percentiles against offered load ({what}); overloaded points "
                   "(latency above 20 x the bound) are left out")


def _breakdown(doc: _Doc, agg: pd.DataFrame) -> None:
    shares = [c for c, _ in plots.SHARE_COLUMNS if c in agg]
    if not shares or agg.empty:
        return
    doc.heading("Where the time goes", anchor="breakdown")
    doc.figure("breakdown", plots.plot_time_breakdown(agg),
               "Share of the mean latency spent in compute, memory, enclave transitions, "
               "EPC paging and queueing")
    labels = plots.point_labels(agg)
    rows = [[plots.short_name(str(r["vm_size"])), lab or "-",
             *[_pct(r[c]) for c in shares]]
            for (_, r), lab in zip(agg.iterrows(), labels, strict=True)]
    names = dict(plots.SHARE_COLUMNS)
    doc.table(["VM size", "point", *[names[c] for c in shares]], rows)


def _knee(doc: _Doc, summary_agg: pd.DataFrame, sizing: SizingResult | None,
          mrc: pd.DataFrame | None, epc: Mapping[str, float]) -> None:
    have_sweep = ("working_set_mib" in summary_agg and not summary_agg.empty and
                  summary_agg.groupby("vm_size")["working_set_mib"].nunique().max() > 1)
    knee = sizing.knee if sizing is not None else None
    has_ws = "working_set_mib" in summary_agg and not summary_agg.empty
    if not (have_sweep or (knee and knee.curve) or (mrc is not None and not mrc.empty)
            or has_ws):
        return
    doc.heading("The EPC knee", anchor="knee")
    doc.para("The knee is the working set at which throughput has fallen to half of its "
             "value with a small working set; each VM size's EPC is marked.")
    if has_ws:
        rows = []
        for r in summary_agg.drop_duplicates("vm_size").to_dict("records"):
            ws, vm_name = float(r["working_set_mib"]), str(r["vm_size"])
            cap = epc.get(vm_name, math.nan)
            rows.append([plots.short_name(vm_name), _num(ws), _num(cap),
                         _pct(ws / cap) if cap else "n/a",
                         "yes" if ws > cap else "no", _num(r.get("epc_faults_per_s")),
                         _pct(r.get("share_paging"))])
        doc.table(["VM size", "working set MiB", "EPC MiB", "working set / EPC",
                   "exceeds the EPC", "EPC faults/s", "time in paging"], rows,
                  caption="The workload's working set (the regions its operations touch) "
                          "against each VM size's EPC, with the simulated paging.")
    if knee is not None and knee.curve:
        doc.figure("knee", plots.plot_epc_knee(pd.DataFrame(knee.curve), epc,
                                               knee.knee_working_set_mib,
                                               knee.working_set_mib),
                   f"Saturated throughput on {plots.short_name(knee.vm_size)} against the "
                   "enclave working set")
        doc.para(f"On {plots.short_name(knee.vm_size)}: {knee.note}.")
    if have_sweep:
        frame = summary_agg[["vm_size", "working_set_mib", "throughput_ops_s"]].dropna()
        doc.figure("knee_sweep", plots.plot_epc_knee(frame, epc),
                   "Simulated throughput against the swept working set, per VM size (the knee "
                   "reads true only where the runs saturate: an open-loop run that keeps up "
                   "shows its offered load)")
        knee_rows = []
        for size, sub in frame.groupby("vm_size", sort=False):
            sub = sub.sort_values("working_set_mib")
            k = knee_from_curve(list(sub["working_set_mib"]), list(sub["throughput_ops_s"]))
            knee_rows.append([plots.short_name(str(size)), _num(epc.get(str(size))),
                              _num(k) if k is not None else "not reached in the sweep"])
        doc.table(["VM size", "EPC MiB", "knee (throughput halved), MiB"], knee_rows)
    if mrc is not None and not mrc.empty:
        doc.figure("mrc", plots.plot_miss_ratio_curve(mrc, epc),
                   "LRU miss ratio of the page trace against EPC capacity, with each VM "
                   "size's EPC marked")


def _sizing_sections(doc: _Doc, sizing: SizingResult) -> None:
    doc.heading("Capacity and cost per VM size", anchor="cost")
    slo = sizing.slo
    doc.para(f"Objective: {slo.describe()}. Capacity is the highest offered load one VM "
             f"sustains within the bound (bisection, tolerance {sizing.rel_tol:.0%}, "
             "assuming latency grows with load); the target is served by as many VMs as "
             f"needed with {slo.headroom_fraction:.0%} headroom each. Monthly prices use "
             f"{HOURS_PER_MONTH:g} hours.")
    frame = pd.DataFrame(sizing.capacity_rows())
    rows = []
    for r in frame.to_dict("records"):
        rows.append([plots.short_name(r["vm_size"]), r["vcpus"], _num(r["epc_mib"]),
                     _usd(r["usd_per_hour"]),
                     ("≥ " if r["capacity_is_lower_bound"] else "") + _num(r["capacity_ops_s"]),
                     _num(r["ops_per_usd"] / 1e6), _usd(r["usd_per_million_ops"]),
                     r["vm_count"] if r["feasible"] else "-",
                     _usd(r["usd_per_month_at_target"]) if r["feasible"] else "-",
                     r["binding_resource"]])
    doc.table(["VM size", "vCPUs", "EPC MiB", "USD/h", "capacity ops/s", "M ops per USD",
               "USD per M ops", "VMs for target", "USD/month at target", "binding resource"],
              rows)
    doc.figure("cost", plots.plot_cost(frame),
               "Cost per million operations at capacity, and monthly cost at the target load "
               "(number of VMs above each bar)")

    doc.heading("Recommendation and reasons", anchor="recommendation")
    doc.bullets(sizing.reasons)
    detail = [f"{plots.short_name(c.vm_size)}: {c.binding_resource}: {c.binding_reason}"
              for c in sizing.capacities]
    doc.para("Binding resource of each size at its capacity:")
    doc.bullets(detail)

    if sizing.sensitivity:
        doc.heading("Sensitivity to uncertain cost parameters", anchor="sensitivity")
        doc.para("The decision repeated with each group of the least certain cost parameters "
                 "at the low and the high end of its plausible range (epcsim/reference/data/"
                 "cost_parameters.csv).")
        rows = [[c.group, c.end, ", ".join(f"{k}={_num(v)}" for k, v in c.costs.items()),
                 (f"{c.vm_count} x {plots.short_name(c.vm_size)}" if c.vm_size else "none"),
                 _usd(c.usd_per_month), "yes" if c.same_size else "no", c.note]
                for c in sizing.sensitivity]
        doc.table(["parameters", "end", "values", "recommendation", "USD/month",
                   "same size", "note"], rows)
    if sizing.what_ifs:
        doc.heading("What-ifs a developer can act on", anchor="whatifs")
        rows = [[w.name, w.description, _num(w.base_capacity_ops_s), _num(w.capacity_ops_s),
                 (f"{w.capacity_change_fraction:+.0%}"
                  if w.capacity_change_fraction is not None else "n/a"),
                 (f"{w.best_vm_count} x {plots.short_name(w.best_vm_size)}"
                  if w.best_vm_size else "none"),
                 (f"{w.monthly_change_usd:+,.0f}" if w.monthly_change_usd is not None
                  else "n/a")]
                for w in sizing.what_ifs]
        size = plots.short_name(sizing.what_ifs[0].vm_size)
        doc.table(["what-if", "change", f"capacity on {size} now", "with the change",
                   "capacity change", "cheapest option then", "USD/month change"], rows)
    doc.para(f"Sizing used {sizing.evaluations} model evaluations ({sizing.cache_hits} "
             f"answered from the cache); decision date for retirements: {sizing.as_of}.",
             cls="caption")


def _assumptions(doc: _Doc, info: Mapping[str, Any], sizes: Sequence[str]) -> None:
    doc.heading("Assumptions and their sources", anchor="assumptions")
    params = cost_parameters()
    scen = info.get("scenario") or {}
    used: Mapping[str, Any] = info.get("costs") or (
        scen.get("costs") if isinstance(scen, Mapping) else None) or {}
    rows = []
    for name, p in params.items():
        value = used.get(name, p.default)
        changed = not math.isclose(float(value), p.default, rel_tol=1e-12)
        rows.append([name, _num(value, 4) + (" (scenario)" if changed else ""),
                     _num(p.default, 4), p.unit, f"{_num(p.low, 4)} - {_num(p.high, 4)}",
                     p.applies_to, p.confidence, p.source])
    doc.table(["cost parameter", "value used", "default", "unit", "plausible range",
               "applies to", "confidence", "source"], rows,
              caption="Cost parameters (epcsim/reference/data/cost_parameters.csv, with the "
                      "scenario's "
                      "overrides marked).")
    catalog = {vm.size: vm for vm in load_catalog()}
    vm_rows = []
    for size in sizes:
        canon = canonical_name(size)
        vm = catalog.get(canon) if canon else None
        if vm is None:
            vm_rows.append([size, "custom size defined in the scenario", "", "", "", ""])
            continue
        vm_rows.append([plots.short_name(vm.size), f"{vm.vcpus} vCPU, {vm.epc_mib:g} MiB EPC, "
                        f"SGX{vm.sgx_generation}, {vm.memory_protection}",
                        f"{_usd(vm.linux_usd_per_hour)}/h as of {vm.price_as_of}",
                        vm.retires_on or "-", vm.confidence, vm.sources])
    if vm_rows:
        doc.table(["VM size", "hardware", "price (Linux, pay as you go)", "retires on",
                   "confidence", "sources"], vm_rows,
                  caption="VM sizes (epcsim/reference/data/vm_sizes.csv). Prices are list prices "
                          "and may have changed.")


def _provenance(doc: _Doc, info: Mapping[str, Any], summary: pd.DataFrame) -> None:
    doc.heading("Provenance", anchor="provenance")
    prov = info.get("provenance") or {}
    items = [f"report written by epcsim {__version__}"]
    if info.get("source"):
        items.append(f"scenario file: {info['source']}")
    for k, v in (prov.items() if isinstance(prov, Mapping) else []):
        if isinstance(v, Mapping | list):
            v = yaml.safe_dump(_plain(v), default_flow_style=True, width=10_000).strip()
        items.append(f"{k}: {v}")
    doc.bullets(items)
    failed = summary[_failed(summary)]
    if not failed.empty:
        doc.para(f"{len(failed)} run(s) failed and are left out of the means:", cls="warn")
        doc.bullets([f"{r.get('vm_size', '?')} replication {r.get('replication', '?')}: "
                     f"{r.get('error') or r.get('status', 'failed')}"
                     for r in failed.to_dict("records")])


# --------------------------------------------------------------------------- writing


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; reports are meant to be shared
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_report(summary: pd.DataFrame, sizing: SizingResult | None,
                 scenario_info: Mapping[str, Any], mrc: pd.DataFrame | None = None
                 ) -> tuple[str, str, list[tuple[str, bytes]]]:
    """The report as (HTML text, Markdown text, [(figure name, PNG bytes)]); no I/O."""
    summary = summary.copy()
    if "error" in summary:
        summary["error"] = _error_text(summary["error"])
    agg = aggregate_runs(summary)
    scen = scenario_info.get("scenario") or {}
    name = str(scenario_info.get("name") or (scen.get("name") if isinstance(scen, Mapping)
                                             else None) or "study")
    epc = _epc_by_size(summary, sizing)
    doc = _Doc()
    doc.heading(f"epcsim report: {name}", level=1)
    _recommendation_box(doc, sizing, scenario_info)
    _what_was_simulated(doc, scenario_info, summary, agg)
    _results_per_size(doc, agg, sizing)
    _latency_vs_load(doc, agg, sizing)
    _breakdown(doc, agg)
    _knee(doc, agg, sizing, mrc, epc)
    if sizing is not None:
        _sizing_sections(doc, sizing)
    sizes = list(dict.fromkeys(list(summary.get("vm_size", [])) +
                               ([c.vm_size for c in sizing.capacities] if sizing else [])))
    _assumptions(doc, scenario_info, [str(s) for s in sizes])
    _provenance(doc, scenario_info, summary)
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>epcsim report: {html.escape(name)}</title><style>{_CSS}</style>"
            "</head><body>\n" + "\n".join(doc.html) + "\n</body></html>\n")
    md = "\n".join(doc.md)
    return page, md, doc.figures


def write_report(results_dir: str | os.PathLike[str], summary: pd.DataFrame,
                 sizing: SizingResult | None, scenario_info: Mapping[str, Any],
                 mrc: pd.DataFrame | None = None) -> tuple[Path, Path]:
    """Write ``report.html``, ``report.md`` and ``figures/*.png`` into ``results_dir``.

    ``summary``: the per-run summary frame (or an aggregated one with ``n_replications``);
    ``sizing``: the sizing result or None; ``scenario_info``: optional keys ``name``,
    ``description``, ``scenario`` (the resolved scenario as a dict), ``costs`` (cost
    parameter values used, by name; default: ``scenario["costs"]``), ``plan`` (the study
    plan's description), ``source`` (scenario file), ``provenance`` (dict); ``mrc``: optional
    miss-ratio curve frame (``capacity_mib`` or ``capacity_pages``, ``miss_ratio``, optional
    ``label``). Returns the paths of the HTML and Markdown files.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise EpcsimError(f"{root}: not a results folder (it does not exist)")
    page, md, figures = build_report(summary, sizing, scenario_info, mrc)
    fig_dir = root / FIGURES_DIR
    fig_dir.mkdir(exist_ok=True)
    for name, png in figures:
        _atomic_write(fig_dir / f"{name}.png", png)
    html_path, md_path = root / HTML_NAME, root / MD_NAME
    _atomic_write(md_path, md.encode("utf-8"))
    _atomic_write(html_path, page.encode("utf-8"))
    return html_path, md_path


# --------------------------------------------------------------------------- reading back


def load_results(results_dir: str | os.PathLike[str]) -> tuple[
        pd.DataFrame, SizingResult | None, dict[str, Any], pd.DataFrame | None]:
    """Read what ``epcsim run`` stored: ``summary.csv`` (required), ``sizing.json``,
    ``scenario.resolved.yaml`` (or ``.json``), ``mrc.csv`` and ``provenance.json`` (optional).

    Returns ``(summary, sizing, scenario_info, mrc)`` for :func:`write_report`. Raises
    :class:`EpcsimError` when the folder or its summary is missing or unreadable.
    """
    import json

    root = Path(results_dir)
    if not root.is_dir():
        raise EpcsimError(f"{root}: no such results folder (expected the folder that "
                          "`epcsim run` wrote, e.g. results/quickstart)")
    summary_path = root / "summary.csv"
    if not summary_path.is_file():
        raise EpcsimError(f"{summary_path}: missing; {root} does not look like a finished "
                          "study (run `epcsim run SCENARIO` first)")
    try:
        summary = pd.read_csv(summary_path, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EpcsimError(f"{summary_path}: not a readable CSV file ({exc})") from exc
    if "vm_size" not in summary:
        raise EpcsimError(f"{summary_path}: expected a 'vm_size' column, found columns "
                          f"{', '.join(map(str, summary.columns[:10]))}")
    sizing = None
    sizing_path = root / "sizing.json"
    if sizing_path.is_file():
        try:
            sizing = SizingResult.from_json(sizing_path.read_text("utf-8"))
        except EpcsimError as exc:
            raise EpcsimError(f"{sizing_path}: {exc}") from exc
    info: dict[str, Any] = {}
    for name in ("scenario.resolved.yaml", "scenario.resolved.json"):
        path = root / name
        if path.is_file():
            try:
                text = path.read_text("utf-8")
                scen = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
            except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise EpcsimError(f"{path}: not readable ({exc})") from exc
            if isinstance(scen, dict):
                info["scenario"] = scen
                info["name"] = scen.get("name")
            break
    prov_path = root / "provenance.json"
    if prov_path.is_file():
        try:
            prov = json.loads(prov_path.read_text("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EpcsimError(f"{prov_path}: not valid JSON ({exc})") from exc
        if isinstance(prov, dict):
            info["provenance"] = prov
            for key in ("plan", "source"):
                if key in prov and key not in info:
                    info[key] = prov[key]
    if not info.get("name"):
        info["name"] = root.name
    mrc = None
    mrc_path = root / "mrc.csv"
    if mrc_path.is_file():
        try:
            mrc = pd.read_csv(mrc_path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise EpcsimError(f"{mrc_path}: not a readable CSV file ({exc})") from exc
    return summary, sizing, info, mrc


def report_from_results(results_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Rebuild the report from the files in ``results_dir`` (see :func:`load_results`).

    ``epcsim run`` should call this after storing its files, and ``epcsim report`` calls it
    too, so both give byte-identical reports.
    """
    return write_report(results_dir, *load_results(results_dir))
