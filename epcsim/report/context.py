"""The report's content as data: one context dict for the HTML and Markdown templates.

:func:`report_context` turns the stored results (per-run summary, sizing result, scenario
information, miss-ratio curve) into plain values: sentences, lists of sentences,
:class:`~epcsim.report.tables.Table` objects whose cells are already formatted by
:mod:`epcsim.report.format`, and :class:`Figure` objects holding PNG bytes. The templates in
``epcsim/report/templates/`` decide the markup; nothing here writes HTML or Markdown. A
section the results cannot fill is None, and the templates leave it out.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import yaml

from epcsim import __version__
from epcsim.reference.catalog import HOURS_PER_MONTH, canonical_name, load_catalog
from epcsim.reference.cost_parameters import cost_parameters
from epcsim.reference.market import PRICING_WORDS
from epcsim.report import plots, sizing_plots
from epcsim.report.format import duration, num, pct, usd, with_ci
from epcsim.report.frames import aggregate_runs, epc_by_size, error_text, failed_runs
from epcsim.report.sizing_table import sizing_table, successor_table
from epcsim.report.tables import Table
from epcsim.sizing import SizingResult, knee_from_curve

FIGURES_DIR = "figures"


@dataclass(frozen=True)
class Figure:
    """One plot of the report: ``name`` (file stem under ``figures/``), ``alt`` (its
    caption and alternative text) and the PNG bytes."""

    name: str
    alt: str
    png: bytes

    @property
    def png_base64(self) -> str:
        """The PNG as base64 text, for a ``data:`` URL in the self-contained HTML."""
        return base64.b64encode(self.png).decode("ascii")

    @property
    def path(self) -> str:
        """The PNG's path relative to the report, for the Markdown twin."""
        return f"{FIGURES_DIR}/{self.name}.png"


class _Figures:
    """Renders matplotlib figures to PNG in the order the report shows them."""

    def __init__(self) -> None:
        self.all: list[Figure] = []

    def add(self, name: str, fig: Any, alt: str) -> Figure:
        png = plots.figure_png(fig)
        fig.clear()
        figure = Figure(name, alt, png)
        self.all.append(figure)
        return figure


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _short(vm_size: Any) -> str:
    return plots.short_name(str(vm_size))


# --------------------------------------------------------------------------- sections


def _recommendation(sizing: SizingResult | None, info: Mapping[str, Any]) -> dict[str, str]:
    """The verdict box: ``kind`` (``verdict`` or ``warn``) and its sentence."""
    if sizing is None:
        scen = info.get("scenario")
        if isinstance(scen, Mapping) and scen.get("slo"):
            return {"kind": "warn", "text": (
                "No sizing: the scenario has a service-level objective (slo), but no "
                "sizing result was stored with these results (sizing.json), so this "
                "report shows the simulated results only.")}
        return {"kind": "warn", "text": (
            "No sizing: the scenario sets no service-level objective (slo), so this "
            "report shows the simulated results only.")}
    rec = sizing.recommended
    if rec is None:
        return {"kind": "warn", "text": "Recommendation: none. " + (
            sizing.reasons[0] if sizing.reasons else "")}
    text = (f"Recommendation: {rec.vm_count} x {_short(rec.vm_size)} for "
            f"{usd(rec.usd_per_month)}/month, meeting {sizing.slo.describe()} (Linux "
            f"{PRICING_WORDS[sizing.slo.pricing]} prices in {sizing.slo.region}, bought on "
            f"{sizing.as_of}); binding resource: {sizing.binding_resource}.")
    s = sizing.successor
    if s is not None and s.to_size:
        verb = "retired" if s.retired else "retires"
        series = s.from_size.removeprefix("Standard_")
        if s.to_size == rec.vm_size:  # a study of retired sizes: lead with the move
            was = (f"{s.from_vm_count} x {series} ({usd(s.from_usd_per_month)}/month)"
                   if s.from_vm_count else series)
            text = (f"Move to {s.vm_count} x {_short(s.to_size)} ({s.to_series}): {was} "
                    f"{verb} on {s.retires_on}. " + text)
        else:
            text += (f" {series} {verb} on {s.retires_on}: its successor would be "
                     f"{s.vm_count} x {_short(s.to_size)} ({s.to_series}, "
                     f"{usd(s.usd_per_month)}/month).")
    if sizing.sensitivity:
        held = sum(c.same_size for c in sizing.sensitivity)
        text += f" The choice holds in {held} of {len(sizing.sensitivity)} sensitivity cases."
    return {"kind": "verdict", "text": text}


def _simulated(info: Mapping[str, Any], summary: pd.DataFrame) -> dict[str, Any]:
    scen = info.get("scenario") or {}
    description = info.get("description") or scen.get("description") or ""
    facts = []
    sizes = list(dict.fromkeys(summary["vm_size"])) if "vm_size" in summary else []
    if sizes:
        facts.append(f"VM sizes: {', '.join(_short(s) for s in sizes)}")
    for col in plots.sweep_columns(summary):
        values = list(dict.fromkeys(summary[col]))
        facts.append(f"sweep {col}: " + ", ".join(
            f"{v:g}" if isinstance(v, float | np.floating) else str(v) for v in values))
    if "replication" in summary:
        facts.append(f"replications per point: {summary['replication'].nunique()}")
    if "seed" in summary and summary["seed"].nunique() == 1:
        facts.append(f"root seed: {summary['seed'].iloc[0]}")
    facts.append(f"runs: {len(summary)} ({int(failed_runs(summary).sum())} failed)")
    sim = scen.get("simulation") if isinstance(scen, Mapping) else None
    if isinstance(sim, Mapping):
        facts.append("simulation settings: " + ", ".join(
            f"{k}={v}" for k, v in sim.items() if not isinstance(v, Mapping | list)))
    return {
        "description": str(description).strip(),
        "facts": facts,
        "plan": str(info["plan"]) if info.get("plan") else "",
        "scenario_yaml": (yaml.safe_dump(_plain(scen), sort_keys=False, allow_unicode=True)
                          if scen else ""),
    }


def _results(agg: pd.DataFrame, sizing: SizingResult | None,
             figures: _Figures) -> dict[str, Any] | None:
    if agg.empty:
        return None
    rows = []
    for (_, row), label in zip(agg.iterrows(), plots.point_labels(agg), strict=True):
        r = row.to_dict()
        usd_m = math.nan
        if "usd_per_hour" in r and r.get("throughput_ops_s"):
            usd_m = float(r["usd_per_hour"]) / (float(r["throughput_ops_s"]) * 3600) * 1e6
        rows.append([_short(r["vm_size"]), label or "-", int(r.get("n_replications", 1)),
                     with_ci(r, "throughput_ops_s"), duration(r.get("latency_p50_s")),
                     duration(r.get("latency_p95_s")), with_ci(r, "latency_p99_s", duration),
                     pct(r.get("vcpu_utilisation")), num(r.get("epc_faults_per_s")),
                     num(r.get("slowdown_vs_native")), usd(usd_m)])
    header = ["VM size", "point", "n", "throughput ops/s [95% CI]", "p50", "p95",
              "p99 [95% CI]", "vCPU util.", "EPC faults/s", "slowdown vs native",
              "USD per M ops"]
    caption = ("Means over replications with 95% Student-t confidence intervals; USD per "
               "million operations at the simulated throughput and the VM's hourly price.")
    if _echoes_offered_load(agg):
        header.pop(3)
        rows = [r[:3] + r[4:] for r in rows]
        caption += (" Every size kept up with the offered load, so its throughput equals the "
                    "load and is not shown; the sizing table gives each size's capacity.")
    table = Table.of(header, rows, caption=caption)
    shown = []
    if not _echoes_offered_load(agg):  # else every bar is the offered load: nothing to show
        shown.append(figures.add("throughput", plots.plot_throughput_by_size(agg),
                                 "Throughput per VM size (mean and 95% CI over replications)"))
    bound = sizing.slo.latency_bound_s if sizing else None
    if "latency_p99_s" in agg and sizing is None:  # with sizing: p99 against load instead
        shown.append(figures.add("latency", plots.plot_latency_by_size(agg, 99, bound),
                                 "p99 latency per VM size (mean and 95% CI)"))
    no_latency = ""
    if "latency_p99_s" in agg and not np.isfinite(agg["latency_p99_s"].to_numpy(float)).any():
        no_latency = (f"No latency to show: {plots.NO_DATA_TEXT} (overload, or a window "
                      f"shorter than one operation); lengthen simulation.duration or lower "
                      f"the load.")
    return {"table": table, "figures": shown, "no_latency": no_latency}


def _echoes_offered_load(agg: pd.DataFrame) -> bool:
    """Every row's throughput within 5% of its offered load (an open loop that keeps up)."""
    if "offered_load_ops_s" not in agg or "throughput_ops_s" not in agg or agg.empty:
        return False
    offered = agg["offered_load_ops_s"].to_numpy(float)
    done = agg["throughput_ops_s"].to_numpy(float)
    return bool(((offered > 0) & (np.abs(done - offered) <= 0.05 * offered)).all())


def _latency_vs_load(agg: pd.DataFrame, sizing: SizingResult | None,
                     figures: _Figures) -> list[Figure] | None:
    frames = []
    if "offered_load_ops_s" in agg and agg.groupby("vm_size")["offered_load_ops_s"].nunique(
            ).max() > 1:
        frames.append(("simulated study runs",
                       agg.rename(columns={"offered_load_ops_s": "load_ops_s"})))
    if not frames:  # the capacity-search probes are drawn in the sizing section
        return None
    bound = sizing.slo.latency_bound_s if sizing else None
    shown = []
    for i, (what, frame) in enumerate(frames):
        if what.startswith("capacity") and sizing is not None:
            # Many sizes: show only the SLO percentile, on a log load axis.
            pcts: list[float] = [sizing.slo.latency_percentile]
            log_x = True
        else:
            pcts = [p for p in (50.0, 95.0, 99.0) if f"latency_p{p:g}_s" in frame]
            log_x = False
        shown.append(figures.add(
            f"latency_vs_load_{i}", plots.plot_latency_vs_load(frame, pcts, bound, log_load=log_x),
            f"Latency percentiles against offered load ({what}); overloaded points "
            "(latency above 20 x the bound) are left out"))
    return shown


def _breakdown(agg: pd.DataFrame, figures: _Figures) -> dict[str, Any] | None:
    shares = [c for c, _ in plots.SHARE_COLUMNS if c in agg]
    if not shares or agg.empty:
        return None
    figure = figures.add("breakdown", plots.plot_time_breakdown(agg),
                         "Share of the mean latency spent in compute, memory, enclave "
                         "transitions, EPC paging and queueing")
    rows = [[_short(r["vm_size"]), lab or "-", *[pct(r[c]) for c in shares]]
            for (_, r), lab in zip(agg.iterrows(), plots.point_labels(agg), strict=True)]
    names = dict(plots.SHARE_COLUMNS)
    return {"figure": figure,
            "table": Table.of(["VM size", "point", *[names[c] for c in shares]], rows)}


def _knee(agg: pd.DataFrame, sizing: SizingResult | None, mrc: pd.DataFrame | None,
          epc: Mapping[str, float], figures: _Figures) -> dict[str, Any] | None:
    have_sweep = ("working_set_mib" in agg and not agg.empty and
                  agg.groupby("vm_size")["working_set_mib"].nunique().max() > 1)
    knee = sizing.knee if sizing is not None else None
    has_ws = "working_set_mib" in agg and not agg.empty
    if not (have_sweep or (knee and knee.curve) or (mrc is not None and not mrc.empty)
            or has_ws):
        return None
    out: dict[str, Any] = {"ws_table": None, "figure": None, "note": "",
                           "sweep_figure": None, "sweep_table": None, "mrc_figure": None}
    if has_ws:
        rows = []
        for r in agg.drop_duplicates("vm_size").to_dict("records"):
            ws, vm_name = float(r["working_set_mib"]), str(r["vm_size"])
            cap = epc.get(vm_name, math.nan)
            rows.append([_short(vm_name), num(ws), num(cap), pct(ws / cap) if cap else "n/a",
                         "yes" if ws > cap else "no", num(r.get("epc_faults_per_s")),
                         pct(r.get("share_paging"))])
        out["ws_table"] = Table.of(
            ["VM size", "working set MiB", "EPC MiB", "working set / EPC", "exceeds the EPC",
             "EPC faults/s", "time in paging"], rows,
            caption="The workload's working set (the regions its operations touch) against "
                    "each VM size's EPC, with the simulated paging.")
    if knee is not None and knee.curve:
        out["figure"] = figures.add(
            "knee", plots.plot_epc_knee(pd.DataFrame(knee.curve), epc,
                                        knee.knee_working_set_mib, knee.working_set_mib),
            f"Saturated throughput on {_short(knee.vm_size)} against the enclave working set")
        out["note"] = f"On {_short(knee.vm_size)}: {knee.note}."
    if have_sweep:
        frame = agg[["vm_size", "working_set_mib", "throughput_ops_s"]].dropna()
        out["sweep_figure"] = figures.add(
            "knee_sweep", plots.plot_epc_knee(frame, epc),
            "Simulated throughput against the swept working set, per VM size (the knee reads "
            "true only where the runs saturate: an open-loop run that keeps up shows its "
            "offered load)")
        rows = []
        for size, sub in frame.groupby("vm_size", sort=False):
            sub = sub.sort_values("working_set_mib")
            k = knee_from_curve(list(sub["working_set_mib"]), list(sub["throughput_ops_s"]))
            rows.append([_short(size), num(epc.get(str(size))),
                         num(k) if k is not None else "not reached in the sweep"])
        out["sweep_table"] = Table.of(["VM size", "EPC MiB", "knee (throughput halved), MiB"],
                                      rows)
    if mrc is not None and not mrc.empty:
        out["mrc_figure"] = figures.add(
            "mrc", plots.plot_miss_ratio_curve(mrc, epc),
            "LRU miss ratio of the page trace against EPC capacity, with each VM size's EPC "
            "marked")
    return out


def _sizing(sizing: SizingResult | None, figures: _Figures) -> dict[str, Any] | None:
    if sizing is None:
        return None
    slo = sizing.slo
    objective = (f"Objective: {slo.describe()}. Capacity is the highest offered load one VM "
                 f"sustains within the bound (bisection, tolerance {sizing.rel_tol:.0%}, "
                 "assuming latency grows with load); the target is served by as many VMs as "
                 f"needed with {slo.headroom_fraction:.0%} headroom each. Monthly prices use "
                 f"{HOURS_PER_MONTH:g} hours.")
    frame = pd.DataFrame(sizing.capacity_rows())
    rec = sizing.recommended.vm_size if sizing.recommended else None
    capacity = sizing_table(sizing)
    rows = []
    for r in frame.to_dict("records"):
        rows.append([_short(r["vm_size"]), r["vcpus"], num(r["epc_mib"]), usd(r["usd_per_hour"]),
                     num(r["ops_per_usd"] / 1e6), usd(r["usd_per_million_ops"]),
                     pct(r["headroom_left_fraction"]) if r["feasible"] else "-",
                     r["unavailable_reason"] or "-"])
    economics = Table.of(["VM size", "vCPUs", "EPC MiB", "USD/h", "M ops per USD at capacity",
                          "USD per M ops at capacity", "headroom left at target",
                          "why not recommended"], rows,
                         caption="Prices under the objective's region and pricing "
                                 "(epcsim/reference/data/vm_prices.csv); an empty price is "
                                 "one Azure does not publish in epcsim's data, never a "
                                 "guess.")
    cost = figures.add("cost", sizing_plots.plot_monthly_cost(frame, rec),
                       "Monthly cost of the VMs each size needs for the target load (the VM "
                       "count at each bar's end)")
    figs = [figures.add("capacity", sizing_plots.plot_capacity(
        frame, slo.target_load_ops_s, rec, slo.headroom_fraction),
        "Capacity of one VM per size (bar: the capacity search's bracket) against the "
        "target load")]
    if sizing.probes:
        figs.append(figures.add("latency_vs_load_sizing", sizing_plots.plot_latency_against_load(
            pd.DataFrame(sizing.probes), slo.latency_percentile, slo.latency_bound_s,
            [str(s) for s in frame["vm_size"]]),
            f"p{slo.latency_percentile:g} latency against the load on one VM, per size, "
            "with the SLO bound (every load the sizing evaluated)"))
    sensitivity = None
    if sizing.sensitivity:
        sensitivity = Table.of(
            ["parameters", "end", "values", "recommendation", "USD/month", "same size", "note"],
            [[c.group, c.end, ", ".join(f"{k}={num(v)}" for k, v in c.costs.items()),
              (f"{c.vm_count} x {_short(c.vm_size)}" if c.vm_size else "none"),
              usd(c.usd_per_month), "yes" if c.same_size else "no", c.note]
             for c in sizing.sensitivity])
    sensitivity_figure = _cost_tornado(sizing, figures)
    uncertainty = _uncertainty(sizing, figures)
    what_ifs = None
    if sizing.what_ifs:
        size = _short(sizing.what_ifs[0].vm_size)
        what_ifs = Table.of(
            ["what-if", "change", f"capacity on {size} now", "with the change",
             "capacity change", "cheapest option then", "USD/month change"],
            [[w.name, w.description, num(w.base_capacity_ops_s), num(w.capacity_ops_s),
              (f"{w.capacity_change_fraction:+.0%}"
               if w.capacity_change_fraction is not None else "n/a"),
              (f"{w.best_vm_count} x {_short(w.best_vm_size)}" if w.best_vm_size else "none"),
              (f"{w.monthly_change_usd:+,.0f}" if w.monthly_change_usd is not None else "n/a")]
             for w in sizing.what_ifs])
    return {
        "objective": objective,
        "capacity_table": capacity,
        "successor_table": successor_table(sizing),
        "economics_table": economics,
        "figures": figs,
        "advice": list(sizing.advice),
        "cost_figure": cost,
        "reasons": list(sizing.reasons),
        "binding": [f"{_short(c.vm_size)}: {c.binding_resource}: {c.binding_reason}"
                    for c in sizing.capacities],
        "sensitivity_table": sensitivity,
        "sensitivity_figure": sensitivity_figure,
        "uncertainty": uncertainty,
        "what_if_table": what_ifs,
        "footer": (f"Sizing used {sizing.evaluations} model evaluations ({sizing.cache_hits} "
                   f"answered from the cache); decision date for retirements: "
                   f"{sizing.as_of}."),
    }


def _cost_tornado(sizing: SizingResult, figures: _Figures) -> Figure | None:
    """The cost-parameter sensitivity in tornado form: USD/month of the cheapest option with
    each parameter group at its low and high end."""
    rec = sizing.recommended
    if not sizing.sensitivity or rec is None:
        return None
    ends: dict[str, dict[str, float]] = {}
    for c in sizing.sensitivity:
        value = c.usd_per_month if c.usd_per_month is not None else math.nan
        ends.setdefault(c.group, {})[c.end] = float(value)
    rows = [(g, e.get("low", math.nan), e.get("high", math.nan)) for g, e in ends.items()]
    return figures.add("sensitivity", plots.plot_tornado(
        rows, rec.usd_per_month, "USD/month of the cheapest option",
        "Cost parameters at the ends of their ranges (others as documented)"),
        "Tornado chart: monthly cost of the cheapest option with each cost-parameter group "
        "at its low and high end")


def _uncertainty(sizing: SizingResult, figures: _Figures) -> dict[str, Any] | None:
    """The uncertain inputs: capacity intervals, the cheapest share, the tornado chart."""
    from epcsim.sizing.uncertainty import summary_lines

    unc = sizing.uncertainty
    if not unc:
        return None
    focus = unc["tornado_size"]
    base = unc["capacity"].get(focus, {}).get("p50", math.nan)
    rows = [(t["input"].replace("workload.operations.", "")
             + f" [{num(t['low_value'])}..{num(t['high_value'])}]",
             float(t["capacity_low_ops_s"]), float(t["capacity_high_ops_s"]))
            for t in unc["tornado"]]
    tornado = figures.add("tornado", plots.plot_tornado(
        rows, base, f"capacity of {_short(focus)}, ops/s (line: median over the draws)",
        "Which uncertain inputs matter most"),
        f"Tornado chart: capacity of {_short(focus)} with each uncertain input at its low and "
        "high end, the others at their midpoints")
    cheapest = unc["cheapest_share"]
    table = Table.of(
        ["VM size", "capacity ops/s, 5th pct", "median", "95th pct", "cheapest in"],
        [[_short(n), num(c["p5"]), num(c["p50"]), num(c["p95"]),
          f"{cheapest.get(n, 0.0):.0%} of draws"] for n, c in unc["capacity"].items()],
        caption=f"{unc['draws']} Latin-hypercube draws of the uncertain inputs; each draw is "
                "a capacity search per size.")
    return {"lines": summary_lines(unc), "table": table, "tornado": tornado,
            "method": "Tornado: " + unc["tornado_method"] + "."}


def _assumptions(info: Mapping[str, Any], sizes: Sequence[str]) -> dict[str, Table | None]:
    scen = info.get("scenario") or {}
    used: Mapping[str, Any] = info.get("costs") or (
        scen.get("costs") if isinstance(scen, Mapping) else None) or {}
    rows = []
    for name, p in cost_parameters().items():
        value = used.get(name, p.default)
        changed = not math.isclose(float(value), p.default, rel_tol=1e-12)
        rows.append([name, num(value, 4) + (" (scenario)" if changed else ""),
                     num(p.default, 4), p.unit, f"{num(p.low, 4)} - {num(p.high, 4)}",
                     p.applies_to, p.confidence, p.source])
    costs = Table.of(["cost parameter", "value used", "default", "unit", "plausible range",
                      "applies to", "confidence", "source"], rows,
                     caption="Cost parameters (epcsim/reference/data/cost_parameters.csv, "
                             "with the scenario's overrides marked).")
    catalog = {vm.size: vm for vm in load_catalog()}
    vm_rows = []
    for size in sizes:
        canon = canonical_name(size)
        vm = catalog.get(canon) if canon else None
        if vm is None:
            vm_rows.append([size, "custom size defined in the scenario", "", "", "", ""])
            continue
        vm_rows.append([_short(vm.size), f"{vm.vcpus} vCPU, {vm.epc_mib:g} MiB EPC, "
                        f"SGX{vm.sgx_generation}, {vm.memory_protection}",
                        f"{usd(vm.linux_usd_per_hour)}/h as of {vm.price_as_of}",
                        vm.retires_on or "-", vm.confidence, vm.sources])
    vms = Table.of(["VM size", "hardware", "price (Linux, pay as you go)", "retires on",
                    "confidence", "sources"], vm_rows,
                   caption="VM sizes (epcsim/reference/data/vm_sizes.csv). Prices are list "
                           "prices and may have changed.") if vm_rows else None
    return {"costs": costs, "vms": vms}


def _provenance(info: Mapping[str, Any], summary: pd.DataFrame) -> dict[str, Any]:
    prov = info.get("provenance") or {}
    items = [f"report written by epcsim {__version__}"]
    if info.get("source"):
        items.append(f"scenario file: {info['source']}")
    for k, v in (prov.items() if isinstance(prov, Mapping) else []):
        if isinstance(v, Mapping | list):
            v = yaml.safe_dump(_plain(v), default_flow_style=True, width=10_000).strip()
        items.append(f"{k}: {v}")
    failed = summary[failed_runs(summary)]
    return {"lines": items,
            "failed": [f"{r.get('vm_size', '?')} replication {r.get('replication', '?')}: "
                       f"{r.get('error') or r.get('status', 'failed')}"
                       for r in failed.to_dict("records")]}


# --------------------------------------------------------------------------- the context


def report_context(summary: pd.DataFrame, sizing: SizingResult | None,
                   scenario_info: Mapping[str, Any], mrc: pd.DataFrame | None = None
                   ) -> tuple[dict[str, Any], list[Figure]]:
    """The templates' context and the figures in the order the report shows them.

    Arguments as :func:`epcsim.report.build.write_report`. Keys: ``title``,
    ``recommendation``, ``simulated``, ``results``, ``load``, ``breakdown``, ``knee``,
    ``sizing``, ``assumptions``, ``provenance`` (None where a section has nothing to show).
    """
    summary = summary.copy()
    if "error" in summary:
        summary["error"] = error_text(summary["error"])
    agg = aggregate_runs(summary)
    scen = scenario_info.get("scenario") or {}
    name = str(scenario_info.get("name") or (scen.get("name") if isinstance(scen, Mapping)
                                             else None) or "study")
    epc = epc_by_size(summary, sizing)
    figures = _Figures()
    sizes = list(dict.fromkeys(list(summary.get("vm_size", [])) +
                               ([c.vm_size for c in sizing.capacities] if sizing else [])))
    context = {
        "title": f"epcsim report: {name}",
        "recommendation": _recommendation(sizing, scenario_info),
        "simulated": _simulated(scenario_info, summary),
        "results": _results(agg, sizing, figures),
        "load": _latency_vs_load(agg, sizing, figures),
        "breakdown": _breakdown(agg, figures),
        "knee": _knee(agg, sizing, mrc, epc, figures),
        "sizing": _sizing(sizing, figures),
        "assumptions": _assumptions(scenario_info, [str(s) for s in sizes]),
        "provenance": _provenance(scenario_info, summary),
    }
    return context, figures.all
