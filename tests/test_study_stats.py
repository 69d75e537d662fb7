"""Replication statistics: Student-t intervals against scipy and against M/M/1 theory."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from epcsim.study import PrecisionTarget, confidence_intervals, replications_needed, t_interval
from epcsim.study.mm1 import mm1_mean_wait_s, mm1_waits

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_t_interval_matches_scipy() -> None:
    x = np.array([1.0, 2.5, 2.0, 4.0, 3.5])
    mean, low, high = t_interval(x, 0.95)
    ref_low, ref_high = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert mean == pytest.approx(x.mean())
    assert low == pytest.approx(ref_low, rel=1e-12)
    assert high == pytest.approx(ref_high, rel=1e-12)


def test_one_replication_has_nan_bounds_and_constant_values_zero_width() -> None:
    mean, low, high = t_interval([3.0])
    assert mean == 3.0 and math.isnan(low) and math.isnan(high)
    assert t_interval([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="non-empty"):
        t_interval([])


def test_confidence_intervals_columns_grouping_and_failed_rows() -> None:
    frame = pd.DataFrame({
        "run_key": [f"{i:08x}" for i in range(7)],
        "vm_size": ["a", "a", "a", "b", "b", "b", "c"],
        "replication": [0, 1, 2, 0, 1, 2, 0],
        "status": ["ok", "ok", "ok", "ok", "ok", "failed", "ok"],
        "lat_s": [1.0, 2.0, 3.0, 10.0, 12.0, np.nan, 5.0],
        "error": [None] * 5 + ["ValueError: x", None],
    })
    frame.attrs["label_columns"] = ["vm_size", "replication"]
    frame.attrs["metric_columns"] = ["lat_s"]
    ci = confidence_intervals(frame)
    assert list(ci.columns) == ["vm_size", "lat_s", "lat_s_ci_low", "lat_s_ci_high",
                                "n_replications"]
    assert list(ci["vm_size"]) == ["a", "b", "c"]
    assert list(ci["n_replications"]) == [3, 2, 1]
    half_a = sps.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)
    assert ci.loc[0, "lat_s"] == pytest.approx(2.0)
    assert ci.loc[0, "lat_s_ci_low"] == pytest.approx(2.0 - half_a)
    half_b = sps.t.ppf(0.975, 1) * np.std([10.0, 12.0], ddof=1) / math.sqrt(2)
    assert ci.loc[1, "lat_s_ci_high"] == pytest.approx(11.0 + half_b)
    assert ci.loc[2, "lat_s"] == 5.0 and math.isnan(ci.loc[2, "lat_s_ci_low"])


def test_confidence_intervals_nan_metric_propagates_and_no_grouping() -> None:
    frame = pd.DataFrame({"replication": [0, 1, 2], "x": [1.0, np.nan, 3.0],
                          "y": [1.0, 2.0, 3.0]})
    ci = confidence_intervals(frame, metrics=["x", "y"])
    assert len(ci) == 1 and ci.loc[0, "n_replications"] == 3
    assert math.isnan(ci.loc[0, "x"]) and math.isnan(ci.loc[0, "x_ci_high"])
    assert ci.loc[0, "y"] == 2.0
    with pytest.raises(ValueError, match="metric"):
        confidence_intervals(frame.drop(columns="x"))
    # No successful run: no rows, same columns, grouped or not.
    failed = frame.assign(status="failed", vm="a")
    assert confidence_intervals(failed, metrics=["y"], by=[]).empty
    empty = confidence_intervals(failed, metrics=["y"], by=["vm"])
    assert empty.empty and list(empty.columns) == ["vm", "y", "y_ci_low", "y_ci_high",
                                                   "n_replications"]
    with pytest.raises(ValueError, match="confidence"):
        confidence_intervals(frame, metrics=["y"], confidence=1.5)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(finite, min_size=1, max_size=8), min_size=1, max_size=5),
       st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_confidence_intervals_agree_with_per_group_t_interval(
        groups: list[list[float]], confidence: float) -> None:
    rows = [{"point": g, "replication": r, "m": v}
            for g, values in enumerate(groups) for r, v in enumerate(values)]
    ci = confidence_intervals(pd.DataFrame(rows), metrics=["m"], confidence=confidence)
    assert list(ci["point"]) == list(range(len(groups)))
    for g, values in enumerate(groups):
        mean, low, high = t_interval(values, confidence)
        row = ci.iloc[g]
        assert row["n_replications"] == len(values)
        assert row["m"] == pytest.approx(mean, rel=1e-9, abs=1e-6)
        if len(values) == 1:
            assert math.isnan(row["m_ci_low"]) and math.isnan(row["m_ci_high"])
        else:
            assert row["m_ci_low"] == pytest.approx(low, rel=1e-9, abs=1e-6)
            assert row["m_ci_high"] == pytest.approx(high, rel=1e-9, abs=1e-6)
            assert row["m_ci_low"] <= row["m"] + 1e-9 <= row["m_ci_high"] + 2e-9


def _lindley_loop(w0: float, service_s: np.ndarray, gaps_s: np.ndarray) -> np.ndarray:
    waits = [w0]
    for s, a in zip(service_s, gaps_s, strict=True):
        waits.append(max(0.0, waits[-1] + s - a))
    return np.array(waits)


def test_vectorised_lindley_matches_the_recursion() -> None:
    lam, mu, n = 0.7, 1.0, 400
    waits = mm1_waits(lam, mu, n, np.random.default_rng(7), size=3)
    # Replay the same draws in the same order as mm1_waits and run the plain recursion.
    rng = np.random.default_rng(7)
    busy = rng.random(3) < lam / mu
    w0 = np.where(busy, rng.exponential(1.0 / (mu - lam), 3), 0.0)
    service_s = rng.exponential(1.0 / mu, (3, n - 1))
    gaps_s = rng.exponential(1.0 / lam, (3, n - 1))
    for i in range(3):
        ref = _lindley_loop(float(w0[i]), service_s[i], gaps_s[i])
        np.testing.assert_allclose(waits[i], ref, rtol=1e-10, atol=1e-10)
    assert (waits >= 0).all()


def test_student_t_intervals_cover_the_mm1_mean_wait_at_nominal_rate() -> None:
    # 200 independent 95% intervals, each from 5 replications of 4000 stationary customers.
    lam, mu = 0.5, 1.0
    truth = mm1_mean_wait_s(lam, mu)
    n_points, n_reps = 200, 5
    waits = mm1_waits(lam, mu, 4000, np.random.default_rng(2024), size=n_points * n_reps)
    frame = pd.DataFrame({
        "point": np.repeat(np.arange(n_points), n_reps),
        "replication": np.tile(np.arange(n_reps), n_points),
        "mean_wait_s": waits.mean(axis=1),
    })
    ci = confidence_intervals(frame, metrics=["mean_wait_s"])
    assert len(ci) == n_points and (ci["n_replications"] == n_reps).all()
    covered = (ci["mean_wait_s_ci_low"] <= truth) & (truth <= ci["mean_wait_s_ci_high"])
    assert 0.90 <= covered.mean() <= 0.99
    # Informative, not trivially wide: half-widths of a few percent of the mean.
    rel_half = (ci["mean_wait_s_ci_high"] - ci["mean_wait_s"]) / truth
    assert rel_half.median() < 0.15
    # A normal quantile instead of Student's (wrong for n=5) would under-cover noticeably.
    z_half = 1.959964 * frame.groupby("point")["mean_wait_s"].std(ddof=1) / math.sqrt(n_reps)
    z_covered = ((ci["mean_wait_s"] - z_half.to_numpy() <= truth)
                 & (truth <= ci["mean_wait_s"] + z_half.to_numpy()))
    assert z_covered.mean() < covered.mean()


def test_precision_target_validation() -> None:
    with pytest.raises(ValueError, match="relative_half_width"):
        PrecisionTarget(("x",), relative_half_width=None, absolute_half_width=None)
    with pytest.raises(ValueError, match="min_replications"):
        PrecisionTarget(("x",), min_replications=1)
    with pytest.raises(ValueError, match="> 0"):
        PrecisionTarget(("x",), relative_half_width=-0.1)
    assert PrecisionTarget("x").metrics == ("x",)  # type: ignore[arg-type]


def test_replications_needed_grows_with_noise_and_respects_the_cap() -> None:
    target = PrecisionTarget(("x",), relative_half_width=0.05, min_replications=3,
                             max_replications=10)
    # Precise enough: no more replications.
    assert replications_needed({"x": [100.0, 100.5, 99.5]}, target, 3) == 3
    # Far too noisy: at most double, then the cap.
    assert replications_needed({"x": [50.0, 150.0, 100.0]}, target, 3) == 6
    assert replications_needed({"x": [50.0, 150.0, 100.0, 80, 120, 90]}, target, 6) == 10
    assert replications_needed({"x": [50.0, 150.0]}, target, 10) == 10
    # Slightly too noisy: one more.
    x = [100.0, 104.0, 96.0, 101.0]
    mean, low, high = t_interval(x)
    loose = PrecisionTarget(("x",), relative_half_width=((high - low) / 2) / mean * 0.95,
                            max_replications=50)
    assert replications_needed({"x": x}, loose, 4) == 5
    # Failed replications (fewer values than planned) ask for more.
    assert replications_needed({"x": [1.0]}, target, 3) == 4
    # An absolute target rescues a metric whose mean is about zero.
    absolute = PrecisionTarget(("x",), relative_half_width=0.05, absolute_half_width=1.0)
    assert replications_needed({"x": [-0.1, 0.1, 0.0]}, absolute, 3) == 3
