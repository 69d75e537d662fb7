"""Plots of results: throughput, latency, time breakdown, EPC knee and cost per VM size.

Every function takes pandas DataFrames (result frames: the per-run summary, the aggregated
summary with ``<metric>_ci_low``/``<metric>_ci_high`` columns, the sizing frames) and returns a
:class:`matplotlib.figure.Figure`. Nothing here runs the model, touches files or uses pyplot's
global state: figures are built with ``Figure()`` directly, so they work the same in a report
(:func:`figure_png`), in a notebook (a Figure displays itself) and in parallel threads.

Conventions: a column whose name contains a dot is a sweep key path (``workload.arrival.rate``);
rows with several sweep points per VM size are drawn as grouped bars (one bar per point) or as
one line per VM size. Confidence intervals are drawn when the ``_ci_low``/``_ci_high`` columns
exist and are finite. VM names lose their ``Standard_`` prefix on the axes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: The time-share columns, in stacking order, with their legend labels.
SHARE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("share_compute", "compute"),
    ("share_memory", "memory (LLC misses, MEE/TME)"),
    ("share_transitions", "enclave transitions"),
    ("share_paging", "EPC paging"),
    ("share_tlb", "TLB misses (page walks)"),
    ("share_queueing", "queueing"),
)

_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3",
            "#8C8C8C", "#CCB974", "#64B5CD")


def short_name(vm_size: str) -> str:
    """``Standard_DC4s_v2`` -> ``DC4s_v2``."""
    return vm_size[len("Standard_"):] if vm_size.startswith("Standard_") else vm_size


def sweep_columns(frame: pd.DataFrame) -> list[str]:
    """The sweep key-path columns of a result frame (names with a dot), in frame order."""
    return [c for c in frame.columns if "." in str(c) and not str(c).endswith(("_ci_low",
                                                                                "_ci_high"))]


def point_labels(frame: pd.DataFrame) -> pd.Series:
    """One label per row naming its sweep point (``rate=20000``), or "" without a sweep."""
    cols = [c for c in sweep_columns(frame) if frame[c].nunique(dropna=False) > 1]
    if not cols:
        return pd.Series([""] * len(frame), index=frame.index)
    return frame[cols].apply(
        lambda row: ", ".join(f"{c.rsplit('.', 1)[-1]}={row[c]:g}" if isinstance(
            row[c], int | float | np.number) else f"{c.rsplit('.', 1)[-1]}={row[c]}"
            for c in cols), axis=1)


def _sizes(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(frame["vm_size"]))


def _new_figure(width_in: float = 7.5, height_in: float = 4.0) -> Figure:
    return Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")


def _yerr(sub: pd.DataFrame, metric: str) -> np.ndarray | None:
    lo, hi = f"{metric}_ci_low", f"{metric}_ci_high"
    if lo not in sub or hi not in sub:
        return None
    mean = sub[metric].to_numpy(float)
    err = np.vstack([mean - sub[lo].to_numpy(float), sub[hi].to_numpy(float) - mean])
    err = np.where(np.isfinite(err), np.clip(err, 0, None), 0.0)
    return err if err.any() else None


#: Written on a plot whose metric has no finite value (no operation completed in the window).
NO_DATA_TEXT = "no operation completed in the measurement window"


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, NO_DATA_TEXT, transform=ax.transAxes, ha="center", va="center",
            fontsize=9, color="#C44E52")


def _positive(values: np.ndarray) -> bool:
    """True when ``values`` has a finite value > 0 (a log axis can show it)."""
    arr = np.asarray(values, dtype=float)
    return bool(np.any(np.isfinite(arr) & (arr > 0)))


def _grouped_bars(frame: pd.DataFrame, metric: str, ylabel: str, title: str,
                  scale: float = 1.0, hline: float | None = None,
                  hline_label: str = "", log: bool = False) -> Figure:
    fig = _new_figure()
    ax = fig.add_subplot()
    sizes = _sizes(frame)
    labels = point_labels(frame)
    points = list(dict.fromkeys(labels))
    width = 0.8 / max(1, len(points))
    x = np.arange(len(sizes))
    shown = np.array([], dtype=float)
    for k, point in enumerate(points):
        sub = frame[labels == point].drop_duplicates("vm_size").set_index("vm_size")
        sub = sub.reindex(sizes)
        err = _yerr(sub, metric)
        shown = np.concatenate([shown, sub[metric].to_numpy(float) * scale])
        ax.bar(x + (k - (len(points) - 1) / 2) * width, sub[metric].to_numpy(float) * scale,
               width, yerr=None if err is None else err * scale, capsize=3,
               label=point or None, color=_COLOURS[k % len(_COLOURS)])
    if hline is not None:
        ax.axhline(hline * scale, color="black", linestyle="--", linewidth=1, label=hline_label)
    ax.set_xticks(x, [short_name(s) for s in sizes], rotation=30 if len(sizes) > 5 else 0,
                  ha="right" if len(sizes) > 5 else "center")
    if not np.isfinite(shown).any():
        _no_data(ax)
    if log and _positive(np.append(shown, [] if hline is None else [hline * scale])):
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    if len(points) > 1 or hline is not None:
        ax.legend(fontsize=8)
    return fig


def plot_throughput_by_size(frame: pd.DataFrame) -> Figure:
    """Mean throughput (ops/s) per VM size, with 95 % CIs when the frame has them.

    ``frame``: one row per VM size (and sweep point) with ``vm_size`` and
    ``throughput_ops_s`` (and optionally ``throughput_ops_s_ci_low``/``_ci_high``).
    """
    return _grouped_bars(frame, "throughput_ops_s", "throughput (ops/s)",
                         "Throughput per VM size (mean, 95% CI)")


def plot_latency_by_size(frame: pd.DataFrame, percentile: float = 99.0,
                         bound_s: float | None = None) -> Figure:
    """Latency at ``percentile`` (ms) per VM size with CIs and the SLO bound; a log scale
    only when the values (and the bound) span more than 30 x, so no bar hides."""
    metric = f"latency_p{percentile:g}_s"
    vals = frame[metric].to_numpy(float) if metric in frame else np.array([])
    vals = np.append(vals, [] if bound_s is None else [bound_s])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    log = bool(len(vals)) and float(vals.max() / vals.min()) > 30
    return _grouped_bars(frame, metric, f"p{percentile:g} latency (ms)",
                         f"p{percentile:g} latency per VM size (mean, 95% CI)", scale=1e3,
                         hline=bound_s, hline_label="SLO bound", log=log)


def plot_latency_vs_load(frame: pd.DataFrame, percentiles: Sequence[float] = (50, 95, 99),
                         bound_s: float | None = None, load_column: str = "load_ops_s",
                         max_latency_s: float | None = None, log_load: bool = False) -> Figure:
    """Latency percentiles (ms, log scale) against offered load (ops/s), one colour per VM
    size and one line style per percentile; the SLO bound as a dashed line.

    ``frame``: rows with ``vm_size``, ``load_column`` and ``latency_p<N>_s`` columns (e.g. the
    sizing probes, or a summary swept over ``workload.arrival.rate``). Points above
    ``max_latency_s`` (default: 20 x the bound) are overloaded runs and are left out.
    ``log_load`` puts the load axis on a log scale.
    """
    fig = _new_figure(7.5, 4.5)
    ax = fig.add_subplot()
    styles = ("-", "--", ":", "-.")
    cap = max_latency_s if max_latency_s is not None else (
        20 * bound_s if bound_s is not None else math.inf)
    for i, size in enumerate(_sizes(frame)):
        sub = frame[frame["vm_size"] == size].sort_values(load_column)
        for j, pct in enumerate(percentiles):
            col = f"latency_p{pct:g}_s"
            if col not in sub:
                continue
            keep = sub[np.isfinite(sub[col].to_numpy(float)) & (sub[col] <= cap)]
            if keep.empty:
                continue
            ax.plot(keep[load_column], keep[col] * 1e3, styles[j % len(styles)], marker=".",
                    color=_COLOURS[i % len(_COLOURS)],
                    label=f"{short_name(size)} p{pct:g}")
    if bound_s is not None:
        ax.axhline(bound_s * 1e3, color="black", linestyle="--", linewidth=1, label="SLO bound")
    if ax.lines:
        ax.set_yscale("log")
    else:
        _no_data(ax)
    if log_load and _positive(frame[load_column].to_numpy(float) if load_column in frame
                              else np.array([])):
        ax.set_xscale("log")
    ax.set_xlabel("offered load (ops/s)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency percentiles against load")
    ax.grid(alpha=0.3, which="both")
    if ax.lines:
        ax.legend(fontsize=7, ncol=2)
    return fig


def plot_time_breakdown(frame: pd.DataFrame) -> Figure:
    """Where each operation's time goes, per VM size (and sweep point): stacked shares of
    compute, memory, transitions, EPC paging and queueing (fractions of mean latency)."""
    labels = point_labels(frame)
    rows = [f"{short_name(s)}" + (f" [{p}]" if p else "")
            for s, p in zip(frame["vm_size"], labels, strict=True)]
    fig = _new_figure(7.5, max(2.5, 0.45 * len(rows) + 1.5))
    ax = fig.add_subplot()
    left = np.zeros(len(frame))
    y = np.arange(len(frame))
    for k, (col, name) in enumerate(SHARE_COLUMNS):
        if col not in frame:
            continue
        vals = np.nan_to_num(frame[col].to_numpy(float))
        ax.barh(y, vals, left=left, color=_COLOURS[k], label=name)
        left += vals
    ax.set_yticks(y, rows)
    ax.invert_yaxis()
    ax.set_xlim(0, max(1.0, float(left.max()) if len(left) else 1.0))
    ax.set_xlabel("share of mean latency")
    ax.set_title("Time breakdown per VM size")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.08), ncol=3)
    return fig


def _epc_marks(ax: Axes, epc_mib: Mapping[str, float], xmin: float, xmax: float) -> None:
    seen: dict[float, list[str]] = {}
    for size, epc in epc_mib.items():
        seen.setdefault(float(epc), []).append(short_name(size))
    for epc, names in sorted(seen.items()):
        if not xmin <= epc <= xmax:
            continue
        ax.axvline(epc, color="grey", linestyle=":", linewidth=1)
        ax.annotate(", ".join(names) + f"\n{epc:g} MiB", (epc, 1.0),
                    xycoords=("data", "axes fraction"), fontsize=7, rotation=90,
                    va="top", ha="right")


def plot_epc_knee(knee: pd.DataFrame, epc_mib: Mapping[str, float],
                  knee_mib: float | None = None, working_set_mib: float | None = None) -> Figure:
    """Throughput (ops/s) against enclave working set (MiB, log scale), with every VM size's
    EPC marked, the knee (throughput halved) and the workload's own working set.

    ``knee``: rows with ``working_set_mib`` and ``throughput_ops_s`` (optionally ``vm_size``
    for several curves). ``epc_mib``: VM size -> EPC size in MiB.
    """
    fig = _new_figure(7.5, 4.5)
    ax = fig.add_subplot()
    groups = [("", knee)] if "vm_size" not in knee else [
        (s, knee[knee["vm_size"] == s]) for s in _sizes(knee)]
    for i, (size, sub) in enumerate(groups):
        sub = sub.sort_values("working_set_mib")
        ax.plot(sub["working_set_mib"], sub["throughput_ops_s"], marker="o",
                color=_COLOURS[i % len(_COLOURS)],
                label=f"throughput on {short_name(size)}" if size else "throughput")
    if _positive(knee["working_set_mib"].to_numpy(float)) if len(knee) else False:
        ax.set_xscale("log")
    if not len(knee) or not np.isfinite(knee["throughput_ops_s"].to_numpy(float)).any():
        _no_data(ax)
    xmin = float(knee["working_set_mib"].min()) if len(knee) else 1.0
    xmax = float(knee["working_set_mib"].max()) if len(knee) else 1.0
    _epc_marks(ax, epc_mib, xmin, xmax)
    if knee_mib is not None and math.isfinite(knee_mib):
        ax.axvline(knee_mib, color="#C44E52", linewidth=1.5,
                   label=f"knee: throughput halved ({knee_mib:,.0f} MiB)")
    if working_set_mib is not None and math.isfinite(working_set_mib):
        ax.axvline(working_set_mib, color="#55A868", linestyle="--", linewidth=1.5,
                   label=f"this workload ({working_set_mib:,.0f} MiB)")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("enclave working set (MiB)")
    ax.set_ylabel("throughput (ops/s)")
    ax.set_title("EPC knee: throughput against working set")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower left")
    return fig


def plot_miss_ratio_curve(mrc: pd.DataFrame, epc_mib: Mapping[str, float]) -> Figure:
    """EPC miss ratio against EPC capacity (MiB, log scale) with each VM size's EPC marked.

    ``mrc``: rows with ``miss_ratio`` and ``capacity_mib`` (or ``capacity_pages``, 4 KiB
    pages), optionally ``label`` for several curves.
    """
    frame = mrc.copy()
    if "capacity_mib" not in frame:
        frame["capacity_mib"] = frame["capacity_pages"].astype(float) * 4096 / 2**20
    frame = frame[frame["capacity_mib"] > 0]
    fig = _new_figure(7.5, 4.0)
    ax = fig.add_subplot()
    groups = [("", frame)] if "label" not in frame else [
        (str(lab), frame[frame["label"] == lab]) for lab in dict.fromkeys(frame["label"])]
    for i, (label, sub) in enumerate(groups):
        sub = sub.sort_values("capacity_mib")
        ax.step(sub["capacity_mib"], sub["miss_ratio"], where="post",
                color=_COLOURS[i % len(_COLOURS)], label=label or "LRU miss ratio")
    if len(frame):
        ax.set_xscale("log")
    if len(frame):
        _epc_marks(ax, epc_mib, float(frame["capacity_mib"].min()),
                   float(frame["capacity_mib"].max()))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("EPC capacity (MiB)")
    ax.set_ylabel("miss ratio")
    ax.set_title("Miss-ratio curve of the page trace")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


def plot_cost(capacity: pd.DataFrame) -> Figure:
    """Cost per million operations at capacity (USD) and monthly cost at the target load
    (USD/month, scale-out included), per VM size; sizes that cannot meet the SLO are marked.

    ``capacity``: the sizing frame (:meth:`epcsim.sizing.SizingResult.capacity_rows`) with
    ``vm_size``, ``usd_per_million_ops``, ``usd_per_month_at_target``, ``vm_count``.
    """
    fig = _new_figure(7.5, 4.0)
    ax1, ax2 = fig.subplots(1, 2)
    sizes = list(capacity["vm_size"])
    x = np.arange(len(sizes))
    names = [short_name(s) for s in sizes]
    for ax, col, title in ((ax1, "usd_per_million_ops", "USD per million operations"),
                           (ax2, "usd_per_month_at_target", "USD/month at the target load")):
        vals = pd.to_numeric(capacity[col], errors="coerce").to_numpy(float)
        ok = np.isfinite(vals)
        ax.bar(x[ok], vals[ok], color=_COLOURS[0])
        top = float(np.nanmax(vals)) if ok.any() else 1.0
        for xi in x[~ok]:
            ax.text(xi, top * 0.02, "fails SLO", rotation=90, ha="center", va="bottom",
                    fontsize=7, color="#C44E52")
        if col == "usd_per_month_at_target" and "vm_count" in capacity:
            for xi, v, n in zip(x[ok], vals[ok], capacity["vm_count"].to_numpy()[ok],
                                strict=True):
                ax.text(xi, v, f"{int(n)}x", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    return fig


def plot_tornado(rows: Sequence[tuple[str, float, float]], base: float, xlabel: str,
                 title: str) -> Figure:
    """A tornado chart: one horizontal bar per input from its value at the input's low end
    to its value at the high end, widest swing on top, a line at ``base``.

    ``rows``: (label, value at the low end, value at the high end), in any order; NaN ends
    are drawn as missing. The low end's bar part is one colour, the high end's another.
    """
    order = sorted(rows, key=lambda r: abs(r[2] - r[1]) if np.isfinite(r[2] - r[1]) else -1)
    fig = _new_figure(7.5, max(2.0, 0.55 * len(order) + 1.2))
    ax = fig.subplots()
    if not order:
        _no_data(ax)
        return fig
    y = np.arange(len(order))
    for yi, (_, low, high) in zip(y, order, strict=True):
        for end, value, colour in (("low end", low, _COLOURS[0]), ("high end", high,
                                                                    _COLOURS[1])):
            if np.isfinite(value):
                ax.barh(yi, value - base, left=base, color=colour, height=0.6,
                        label=end if yi == y[-1] else None)
    ax.axvline(base, color="black", linewidth=0.8)
    ax.set_yticks(y, [r[0] for r in order], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def figure_png(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (for embedding in a report)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
