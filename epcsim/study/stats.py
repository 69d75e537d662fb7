"""Replications with confidence: Student-t intervals over replications, and how many more.

A study runs each point (VM size x sweep values) several times with independent random
numbers: replication ``r`` of a point uses generators derived from
``SeedSequence(root_seed, spawn_key=(r, stream))``. The replications' metric values are then
independent, identically distributed estimates of the point's true mean, and the classic
interval applies::

    mean +- t_{1 - alpha/2, n-1} * s / sqrt(n)

with ``s`` the sample standard deviation (n-1 in the denominator) and ``t`` Student's
quantile with n-1 degrees of freedom. With one replication the spread is unknown: the
half-width and both bounds are NaN (not zero: one run says nothing about its own noise). The
interval assumes the replication means are close to normal, which holds for means over long
enough runs (central limit theorem); tests check its coverage on an M/M/1 queue.

Common random numbers (the same arrivals and page traces for every VM size within one
replication, so that differences between sizes are much less noisy) are the run function's
responsibility: it derives its generators from (seed, replication) only, never from the VM
size or sweep point. The intervals here are per point; for the difference between two sizes
under common random numbers, take the per-replication difference first and then the
interval of that column.

Sequential replication (:class:`PrecisionTarget`, :func:`replications_needed`): run a few
replications, compute the intervals, and give the points whose interval is still too wide
more replications, in rounds, up to a cap. :func:`epcsim.study.run_sequential` drives the
rounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from epcsim.study.task import RESERVED_COLUMNS


def _check_confidence(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), found {confidence!r}")
    return float(confidence)


def t_quantile(n: int | np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """Student's two-sided quantile ``t_{1-alpha/2, n-1}``; NaN where ``n < 2``."""
    confidence = _check_confidence(confidence)
    n_arr = np.asarray(n, dtype=np.float64)
    dof = np.where(n_arr >= 2, n_arr - 1.0, np.nan)
    # scipy.special's inverse Student t: the same numbers as scipy.stats.t.ppf, without
    # importing scipy.stats (seconds of start-up for every command); imported here, not at
    # the top, so a command that computes no interval (a rerun) does not load scipy at all.
    from scipy import special

    return np.asarray(special.stdtrit(dof, 0.5 + confidence / 2.0))


def t_interval(values: ArrayLike, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)`` of the Student-t interval for the mean of ``values`` (1-D).

    NaN in ``values`` propagates (the interval is NaN); one value gives NaN bounds.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"values must be a non-empty 1-D array, found shape {x.shape}")
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(t_quantile(x.size, confidence) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def _columns(frame: pd.DataFrame, metrics: Sequence[str] | None, by: Sequence[str] | None,
             replication: str) -> tuple[list[str], list[str]]:
    if metrics is None:
        metrics = frame.attrs.get("metric_columns")
        if metrics is None:
            raise ValueError(
                "say which columns are metrics (metrics=[...]); this frame does not carry "
                "the study's metric list in .attrs['metric_columns']")
    metrics = list(metrics)
    missing = [m for m in metrics if m not in frame.columns]
    if missing:
        raise ValueError(f"metric columns not in the frame: {missing}")
    if by is None:
        labels = frame.attrs.get("label_columns")
        if labels is None:
            labels = [c for c in frame.columns if c not in metrics and c not in RESERVED_COLUMNS]
        by = [c for c in labels if c != replication and c not in metrics]
    by = list(by)
    missing = [c for c in by if c not in frame.columns]
    if missing:
        raise ValueError(f"grouping columns not in the frame: {missing}")
    return metrics, by


def confidence_intervals(frame: pd.DataFrame, metrics: Sequence[str] | None = None,
                         by: Sequence[str] | None = None, *, replication: str = "replication",
                         confidence: float = 0.95) -> pd.DataFrame:
    """Mean and Student-t confidence interval of each metric over replications.

    Args:
        frame: tidy frame with one row per run (e.g. :attr:`StudyResult.summary`). If it has
            a ``status`` column, only rows with status ``ok`` count.
        metrics: metric columns; default ``frame.attrs["metric_columns"]`` (set on study
            summaries).
        by: grouping columns; default: every label column except ``replication`` (the
            study's ``frame.attrs["label_columns"]``, else every column that is not a metric
            or ``run_key``/``status``/``error``).
        replication: the replication column's name (excluded from the grouping).
        confidence: two-sided confidence level, default 0.95.

    Returns:
        One row per group, in order of first appearance: the ``by`` columns, then for each
        metric ``<metric>`` (mean), ``<metric>_ci_low``, ``<metric>_ci_high``, then
        ``n_replications`` (successful runs in the group). A group with one replication has
        NaN bounds; a NaN metric value in a group makes that metric's mean and bounds NaN.
    """
    confidence = _check_confidence(confidence)
    metrics, by = _columns(frame, metrics, by, replication)
    data = frame
    if "status" in data.columns:
        data = data[data["status"] == "ok"]
    values = data[metrics].astype(np.float64)
    if by:
        keys = [data[c] for c in by]
        grouped = values.groupby(keys, sort=False, dropna=False)
        n = grouped.size()
        mean = grouped.mean()
        std = grouped.std(ddof=1)
        has_nan = values.isna().groupby(keys, sort=False, dropna=False).any()
        index = n.index
    elif len(values) == 0:
        columns = [c for m in metrics for c in (m, f"{m}_ci_low", f"{m}_ci_high")]
        return pd.DataFrame({c: pd.Series(dtype=np.float64) for c in columns}
                            | {"n_replications": pd.Series(dtype=np.int64)})
    else:
        n = pd.Series([len(values)])
        mean = values.mean().to_frame().T
        std = values.std(ddof=1).to_frame().T
        has_nan = values.isna().any().to_frame().T
        index = None
    counts = n.to_numpy(dtype=np.float64)
    tq = t_quantile(counts, confidence)
    out: dict[str, np.ndarray] = {}
    for m in metrics:
        mu = np.where(has_nan[m].to_numpy(dtype=bool), np.nan, mean[m].to_numpy(np.float64))
        half = tq * std[m].to_numpy(np.float64) / np.sqrt(counts)
        half = np.where(np.isnan(mu), np.nan, half)
        out[m] = mu
        out[f"{m}_ci_low"] = mu - half
        out[f"{m}_ci_high"] = mu + half
    result = pd.DataFrame(out)
    if by and index is not None:
        keys_frame = index.to_frame(index=False)
        keys_frame.columns = by
        result = pd.concat([keys_frame, result], axis=1)
    result["n_replications"] = n.to_numpy(dtype=np.int64)
    return result


@dataclass(frozen=True)
class PrecisionTarget:
    """How precise each point's estimate must be before replicating stops.

    A metric is precise enough when its interval's half-width is at most
    ``absolute_half_width`` (in the metric's unit) or at most ``relative_half_width`` times
    ``|mean|``, whichever is looser (give one or both). A point is done when every metric in
    ``metrics`` is precise enough, or it has ``max_replications`` replications.
    """

    metrics: tuple[str, ...]
    relative_half_width: float | None = 0.05
    absolute_half_width: float | None = None
    confidence: float = 0.95
    min_replications: int = 3
    max_replications: int = 30

    def __post_init__(self) -> None:
        if isinstance(self.metrics, str):
            object.__setattr__(self, "metrics", (self.metrics,))
        if not self.metrics:
            raise ValueError("PrecisionTarget needs at least one metric")
        if self.relative_half_width is None and self.absolute_half_width is None:
            raise ValueError("give relative_half_width, absolute_half_width or both")
        for name in ("relative_half_width", "absolute_half_width"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0, found {value!r}")
        _check_confidence(self.confidence)
        if not 2 <= self.min_replications <= self.max_replications:
            raise ValueError(
                "need 2 <= min_replications <= max_replications, found "
                f"{self.min_replications} and {self.max_replications}")

    def allowed_half_width(self, mean: float) -> float:
        """The largest acceptable half-width for a metric whose mean is ``mean``."""
        allowed = 0.0
        if self.absolute_half_width is not None:
            allowed = self.absolute_half_width
        if self.relative_half_width is not None and math.isfinite(mean):
            allowed = max(allowed, self.relative_half_width * abs(mean))
        return allowed


def replications_needed(values: Mapping[str, ArrayLike], target: PrecisionTarget,
                        n_planned: int) -> int:
    """Replications a point should have after the next round (``n_planned`` if done).

    Args:
        values: metric name -> 1-D array of the point's successful replications' values.
        target: the precision wanted.
        n_planned: replications planned for the point so far (successful or not).

    The estimate scales the current count by ``(half_width / allowed)^2`` (the half-width
    shrinks like 1/sqrt(n)), is at least one more than planned and at most twice as many
    (a noisy early spread estimate must not send a point straight to the cap), and never
    exceeds ``target.max_replications``.
    """
    if n_planned >= target.max_replications:
        return n_planned
    wanted = n_planned
    for metric in target.metrics:
        x = np.asarray(values.get(metric, ()), dtype=np.float64)
        if x.size < 2 or np.isnan(x).any():
            wanted = max(wanted, n_planned + max(1, 2 - x.size))
            continue
        mean, low, high = t_interval(x, target.confidence)
        half = (high - low) / 2.0
        allowed = target.allowed_half_width(mean)
        if half <= allowed:
            continue
        if allowed <= 0.0:
            estimate = 2 * n_planned
        else:
            estimate = math.ceil(x.size * (half / allowed) ** 2)
        wanted = max(wanted, min(2 * n_planned, max(n_planned + 1, estimate)))
    return min(wanted, target.max_replications)
