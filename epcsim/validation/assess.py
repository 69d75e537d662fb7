"""Scoring the corpus: relative errors per point, per series and per split.

Error of a point: ``predicted / measured - 1`` (after the series' ``compare``; for
``per_first`` series both curves are divided by their first point, which is then not scored,
and points marked ``input`` are shown but not scored). Per series: the median and the worst
absolute error over its scored points. Per split and kind (``fit``/``test`` x
``absolute``/``ratio``): the median of the series medians (so a 16-point curve and a 2-point
table weigh alike) and the worst series, beside the median over all points.

Targets (issue 13; the project's goal is 10 %): on ``test`` series, median relative error
at most 25 % on absolute values and at most 15 % on ratios. ``epcsim validate --strict``
exits 1 when one is missed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from epcsim.errors import EpcsimError
from epcsim.validation.corpus import CorpusSeries

#: (split, kind) -> the target on the median relative error of that group's series.
TARGETS: dict[tuple[str, str], float] = {("test", "absolute"): 0.25, ("test", "ratio"): 0.15}


def knee(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, int]:
    """The knee of a throughput curve: ``(position, drop, i)`` where ``i`` maximises
    ``y[i] / y[i+1]`` over consecutive points, ``drop`` is that ratio and ``position`` is
    ``(x[i] + x[i+1]) / 2``. ``x`` must be increasing and ``y`` positive (at least 2 points)."""
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if len(xs) < 2 or len(xs) != len(ys) or np.any(np.diff(xs) <= 0) or np.any(ys <= 0):
        raise EpcsimError("a knee needs >= 2 points, increasing x and positive throughput")
    ratios = ys[:-1] / ys[1:]
    i = int(np.argmax(ratios))
    return float((xs[i] + xs[i + 1]) / 2), float(ratios[i]), i


@dataclass(frozen=True)
class ScoredPoint:
    """One point: what was measured, what the model says, and the error."""

    x: str
    measured: float
    predicted: float
    unit: str
    error: float
    scored: bool
    line: int


@dataclass
class ScoredSeries:
    """A series with its points scored."""

    spec: CorpusSeries
    points: list[ScoredPoint]
    error: str = ""

    @property
    def scored(self) -> list[ScoredPoint]:
        return [p for p in self.points if p.scored and math.isfinite(p.error)]

    @property
    def median_error(self) -> float:
        errs = [abs(p.error) for p in self.scored]
        return statistics.median(errs) if errs else math.nan

    @property
    def worst_error(self) -> float:
        errs = [abs(p.error) for p in self.scored]
        return max(errs) if errs else math.nan

    def knee(self) -> dict[str, float] | None:
        """For a paging-cliff series with a numeric x: the measured and predicted knee
        (position and throughput drop across it, :func:`knee`)."""
        if "epc_paging_cliff" not in self.spec.categories or self.spec.compare != "value":
            return None
        pts = [p for p in self.points if math.isfinite(p.predicted) and p.predicted > 0]
        try:
            xs = [float(p.x) for p in pts]
            km = knee(xs, [p.measured for p in pts])
            kp = knee(xs, [p.predicted for p in pts])
        except (ValueError, EpcsimError):
            return None
        return {"knee_measured": km[0], "knee_predicted": kp[0], "drop_measured": km[1],
                "drop_predicted": kp[1]}

    def to_json(self) -> dict[str, Any]:
        s = self.spec
        return {"series": s.series, "knee": self.knee(), "split": s.split, "kind": s.kind,
                "categories": list(s.categories), "compare": s.compare,
                "scenario": s.scenario.name, "citation": s.citation,
                "hardware": s.hardware, "clock_ghz": s.clock_ghz,
                "median_abs_error": _num(self.median_error),
                "worst_abs_error": _num(self.worst_error), "error": self.error or None,
                "points": [{"x": p.x, "measured": p.measured, "predicted": _num(p.predicted),
                            "unit": p.unit, "error": _num(p.error), "scored": p.scored}
                           for p in self.points]}


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def score(spec: CorpusSeries, predicted: Mapping[int, float]) -> ScoredSeries:
    """Score ``spec`` given the model's value per point line (before normalisation)."""
    pts = list(spec.points)
    meas = [p.value for p in pts]
    pred = [predicted.get(p.line, math.nan) for p in pts]
    first_scored = True
    if spec.compare == "per_first":
        m0, p0 = meas[0], pred[0]
        meas = [m / m0 for m in meas]
        pred = [x / p0 if p0 and math.isfinite(p0) else math.nan for x in pred]
        first_scored = False
    out = []
    for i, p in enumerate(pts):
        err = pred[i] / meas[i] - 1 if math.isfinite(pred[i]) else math.nan
        scored = not p.is_input and (i > 0 or first_scored)
        unit = "ratio to first" if spec.compare == "per_first" else p.unit
        out.append(ScoredPoint(p.x, meas[i], pred[i], unit, err, scored, p.line))
    return ScoredSeries(spec, out)


@dataclass
class GroupSummary:
    """Errors of the series of one split and kind."""

    split: str
    kind: str
    series: list[str]
    median_of_series: float
    worst_series: float
    median_of_points: float
    n_points: int
    target: float | None

    @property
    def met(self) -> bool | None:
        if self.target is None or not math.isfinite(self.median_of_series):
            return None
        return self.median_of_series <= self.target


@dataclass
class CorpusReport:
    """Everything ``epcsim validate`` prints, writes and checks."""

    series: list[ScoredSeries]
    wall_s: float
    settings: dict[str, Any] = field(default_factory=dict)

    def groups(self) -> list[GroupSummary]:
        out = []
        for split in ("test", "fit"):
            for kind in ("absolute", "ratio"):
                members = [s for s in self.series if s.spec.split == split
                           and s.spec.kind == kind and math.isfinite(s.median_error)]
                pts = [abs(p.error) for s in members for p in s.scored]
                meds = [s.median_error for s in members]
                out.append(GroupSummary(
                    split, kind, [s.spec.series for s in members],
                    statistics.median(meds) if meds else math.nan,
                    max(meds) if meds else math.nan,
                    statistics.median(pts) if pts else math.nan, len(pts),
                    TARGETS.get((split, kind))))
        return out

    @property
    def targets_met(self) -> bool:
        return all(g.met is not False for g in self.groups())

    def to_json(self) -> dict[str, Any]:
        return {"series": [s.to_json() for s in self.series],
                "groups": [{"split": g.split, "kind": g.kind, "series": g.series,
                            "median_abs_error_of_series": _num(g.median_of_series),
                            "worst_series_median_abs_error": _num(g.worst_series),
                            "median_abs_error_of_points": _num(g.median_of_points),
                            "points": g.n_points, "target": g.target, "met": g.met}
                           for g in self.groups()],
                "targets_met": self.targets_met, "wall_s": self.wall_s,
                "settings": self.settings}

    # -- tables (rows of strings; the CLI and the docs lay them out) --------------------------

    def point_rows(self) -> tuple[list[str], list[list[str]]]:
        header = ["series", "split", "x", "measured", "predicted", "unit", "error"]
        rows = []
        for s in self.series:
            for p in s.points:
                err = "input" if not p.scored else _pct(p.error)
                rows.append([s.spec.series, s.spec.split, p.x, f"{p.measured:.4g}",
                             f"{p.predicted:.4g}" if math.isfinite(p.predicted) else "-",
                             p.unit, err])
        return header, rows

    def series_rows(self) -> tuple[list[str], list[list[str]]]:
        header = ["series", "split", "kind", "categories", "points", "median |error|",
                  "worst |error|", "source"]
        rows = []
        for s in sorted(self.series, key=lambda s: (s.spec.split != "test", s.spec.series)):
            rows.append([s.spec.series, s.spec.split, s.spec.kind,
                         ", ".join(s.spec.categories), str(len(s.scored)),
                         _pct(s.median_error, signed=False), _pct(s.worst_error, signed=False),
                         s.spec.citation.split(";")[0][:70]
                         + (f" [failed: {s.error}]" if s.error else "")])
        return header, rows

    def group_rows(self) -> tuple[list[str], list[list[str]]]:
        header = ["split", "kind", "series", "median |error| (of series)", "worst series",
                  "median |error| (of points)", "target", "met"]
        rows = []
        for g in self.groups():
            met = {True: "yes", False: "MISSED", None: "-"}[g.met]
            rows.append([g.split, g.kind, str(len(g.series)),
                         _pct(g.median_of_series, signed=False),
                         _pct(g.worst_series, signed=False),
                         _pct(g.median_of_points, signed=False),
                         f"<= {g.target:.0%}" if g.target is not None else "-", met])
        return header, rows


def _pct(x: float, *, signed: bool = True) -> str:
    if not math.isfinite(x):
        return "-"
    return f"{x:+.1%}" if signed else f"{x:.1%}"
