"""Plots read frames and draw exactly what the frames say; no pyplot global state."""

from __future__ import annotations

import io
import subprocess
import sys

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from epcsim.report import plots


def agg_frame() -> pd.DataFrame:
    rows = []
    for size, epc, tput in (("Standard_DC2s_v2", 56.0, 900.0), ("Standard_DC4s_v2", 112.0,
                                                               2000.0)):
        for rate in (1000.0, 2000.0):
            t = min(tput, rate)
            rows.append({"vm_size": size, "epc_mib": epc, "workload.arrival.rate": rate,
                         "throughput_ops_s": t, "throughput_ops_s_ci_low": t - 10,
                         "throughput_ops_s_ci_high": t + 30,
                         "latency_p99_s": 0.002 if t == rate else 3.0,
                         "latency_p99_s_ci_low": 0.0015 if t == rate else 2.5,
                         "latency_p99_s_ci_high": 0.0025 if t == rate else 3.5,
                         "share_compute": 0.5, "share_memory": 0.1, "share_transitions": 0.1,
                         "share_paging": 0.2, "share_queueing": 0.1})
    return pd.DataFrame(rows)


def bars(fig: Figure) -> list[tuple[float, float]]:
    ax = fig.axes[0]
    return [(p.get_x() + p.get_width() / 2, p.get_height()) for p in ax.patches]


def test_sweep_columns_and_labels() -> None:
    frame = agg_frame()
    assert plots.sweep_columns(frame) == ["workload.arrival.rate"]
    assert list(plots.point_labels(frame)) == ["rate=1000", "rate=2000"] * 2
    assert list(plots.point_labels(frame.iloc[:1])) == [""]
    assert plots.short_name("Standard_DC4s_v2") == "DC4s_v2" and plots.short_name("x") == "x"


def test_throughput_bars_match_the_frame() -> None:
    frame = agg_frame()
    fig = plots.plot_throughput_by_size(frame)
    heights = sorted(h for _, h in bars(fig))
    assert heights == sorted(frame["throughput_ops_s"])
    # Error bars: one line collection per point group, spanning ci_low..ci_high.
    segs = np.concatenate([c.get_segments() for c in fig.axes[0].collections])
    spans = sorted((float(s[0][1]), float(s[1][1])) for s in segs)
    expected = sorted(zip(frame["throughput_ops_s_ci_low"], frame["throughput_ops_s_ci_high"],
                          strict=True))
    assert np.allclose(spans, expected)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["DC2s_v2", "DC4s_v2"]


def test_latency_bars_are_in_ms_with_bound() -> None:
    fig = plots.plot_latency_by_size(agg_frame(), 99, bound_s=0.005)
    assert sorted(h for _, h in bars(fig)) == pytest.approx(
        sorted(agg_frame()["latency_p99_s"] * 1e3))
    assert fig.axes[0].get_yscale() == "log"
    hlines = [ln for ln in fig.axes[0].lines if ln.get_label() == "SLO bound"]
    assert hlines and hlines[0].get_ydata()[0] == pytest.approx(5.0)


def test_latency_vs_load_leaves_out_overloaded_points() -> None:
    frame = pd.DataFrame({"vm_size": ["A"] * 4, "load_ops_s": [1, 2, 3, 4],
                          "latency_p99_s": [0.001, 0.002, 0.004, 5.0]})
    fig = plots.plot_latency_vs_load(frame, [99], bound_s=0.005)
    data = next(ln for ln in fig.axes[0].lines if ln.get_label() == "A p99")
    assert list(data.get_xdata()) == [1, 2, 3]
    assert list(data.get_ydata()) == pytest.approx([1.0, 2.0, 4.0])


def test_time_breakdown_stacks_the_shares() -> None:
    frame = agg_frame()
    fig = plots.plot_time_breakdown(frame)
    ax = fig.axes[0]
    widths = np.array([p.get_width() for p in ax.patches]).reshape(5, len(frame))
    assert widths.sum(axis=0) == pytest.approx(np.ones(len(frame)))
    assert widths[3] == pytest.approx(frame["share_paging"].to_numpy())


def test_knee_marks_every_epc_in_range() -> None:
    knee = pd.DataFrame({"working_set_mib": [20, 50, 100, 200, 400],
                         "throughput_ops_s": [100, 100, 90, 40, 10]})
    epc = {"Standard_DC1s_v2": 28.0, "Standard_DC2s_v2": 56.0, "Standard_DC4s_v2": 112.0,
           "Standard_DC1s_v3": 4096.0}
    fig = plots.plot_epc_knee(knee, epc, knee_mib=150.0, working_set_mib=80.0)
    ax = fig.axes[0]
    xs = sorted(float(ln.get_xdata()[0]) for ln in ax.lines if ln.get_linestyle() == ":")
    assert xs == [28.0, 56.0, 112.0]  # 4096 MiB is outside the curve's range
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "DC2s_v2" in texts and "DC1s_v3" not in texts
    assert ax.get_xscale() == "log"


def test_miss_ratio_curve_converts_pages_to_mib() -> None:
    mrc = pd.DataFrame({"capacity_pages": [0, 256, 512, 1024], "miss_ratio": [1, .5, .2, 0]})
    fig = plots.plot_miss_ratio_curve(mrc, {"X": 2.0})
    line = fig.axes[0].lines[0]
    assert list(line.get_xdata()) == [1.0, 2.0, 4.0]  # capacity 0 dropped (log axis)


def test_cost_plot_marks_sizes_that_fail() -> None:
    frame = pd.DataFrame({"vm_size": ["A", "B"], "usd_per_million_ops": [None, 0.5],
                          "usd_per_month_at_target": [None, 70.0], "vm_count": [0, 1]})
    fig = plots.plot_cost(frame)
    assert len(fig.axes) == 2
    assert any(t.get_text() == "fails SLO" for t in fig.axes[0].texts)
    assert [p.get_height() for p in fig.axes[1].patches] == [70.0]


def test_figure_png_decodes() -> None:
    png = plots.figure_png(plots.plot_throughput_by_size(agg_frame()), dpi=50)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(io.BytesIO(png), format="png")
    assert img.shape[:2] == (200, 375) and img.std() > 0.05


def test_plots_never_import_pyplot_or_the_model() -> None:
    code = ("import sys, epcsim.report.plots, epcsim.report; "
            "bad = [m for m in ('matplotlib.pyplot', 'simpy', 'epcsim.model') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def no_completion_frame() -> pd.DataFrame:
    """A study in which no operation completed in the window: every latency is NaN."""
    return pd.DataFrame({"vm_size": ["Standard_DC2s_v2", "Standard_DC4s_v2"],
                         "throughput_ops_s": [0.0, 0.0], "load_ops_s": [1e7, 1e7],
                         "latency_p50_s": [np.nan, np.nan], "latency_p95_s": [np.nan, np.nan],
                         "latency_p99_s": [np.nan, np.nan],
                         "latency_p99_s_ci_low": [np.nan, np.nan],
                         "latency_p99_s_ci_high": [np.nan, np.nan],
                         "share_compute": [np.nan, np.nan], "share_queueing": [np.nan, np.nan]})


@pytest.mark.parametrize("draw", [
    lambda f: plots.plot_latency_by_size(f),
    lambda f: plots.plot_latency_by_size(f, bound_s=1e-3),
    lambda f: plots.plot_throughput_by_size(f),
    lambda f: plots.plot_time_breakdown(f),
    lambda f: plots.plot_latency_vs_load(f, log_load=True),
    lambda f: plots.plot_epc_knee(pd.DataFrame({"working_set_mib": [1.0, 2.0],
                                                "throughput_ops_s": [np.nan, np.nan]}),
                                  {"Standard_DC2s_v2": 56.0}),
    lambda f: plots.plot_epc_knee(pd.DataFrame({"working_set_mib": [],
                                                "throughput_ops_s": []}), {}),
    lambda f: plots.plot_miss_ratio_curve(pd.DataFrame({"capacity_pages": [],
                                                        "miss_ratio": []}), {}),
], ids=["latency", "latency-bound", "throughput", "breakdown", "vs-load", "knee",
        "knee-empty", "mrc-empty"])
def test_no_operation_completed_still_draws(draw) -> None:
    """Overload or a window shorter than one service time: NaN/empty metrics must render
    (a log axis over no positive value raised 'Data cannot be log-scaled')."""
    fig = draw(no_completion_frame())
    assert plots.figure_png(fig).startswith(b"\x89PNG")


def test_no_operation_completed_says_so() -> None:
    fig = plots.plot_latency_by_size(no_completion_frame())
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert plots.NO_DATA_TEXT in texts
