"""Series, their targets and how a series is scored (knee, factor, relative, ratio).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from epcsim.errors import EpcsimError


@dataclass(frozen=True)
class SeriesSpec:
    """How one measured series is predicted and scored.

    ``driver``: ``"hash_join"`` (:func:`simulate_hash_join`; ``probe_mib`` = |S|) or
    ``"enclave_build"`` (:func:`simulate_enclave_build`). ``quantity``: which prediction is
    compared (``throughput_mrec_s``, ``ewb_pages``, ``build_time_s``). ``target``: ``knee``,
    ``factor``, ``relative`` or ``ratio`` (module docstring) with ``tolerance`` (and
    ``drop_tolerance`` for ``knee``). ``inputs``: x values whose measurement was used to set
    a scenario input (shown, not scored)."""

    series: str
    scenario: str
    driver: str
    quantity: str
    target: str
    tolerance: float
    drop_tolerance: float = 0.0
    probe_mib: float = 0.0
    inputs: tuple[float, ...] = ()


#: The validated series (ids as in validation/published-measurements.csv).
SERIES: tuple[SeriesSpec, ...] = (
    SeriesSpec("teebench_cht_s100", "teebench_cht_s100.yaml", "hash_join",
               "throughput_mrec_s", "knee", 0.05, drop_tolerance=0.25, probe_mib=100.0),
    SeriesSpec("teebench_cht_s100_ewb", "teebench_cht_s100.yaml", "hash_join", "ewb_pages",
               "factor", 1.5, probe_mib=100.0, inputs=(8.0,)),
    SeriesSpec("teebench_cht_s16", "teebench_cht_s16.yaml", "hash_join",
               "throughput_mrec_s", "ratio", 0.25, probe_mib=16.0),
    SeriesSpec("vxapps_build_sgx2", "vxapps_build_sgx2.yaml", "enclave_build",
               "build_time_s", "relative", 0.20),
)


@dataclass(frozen=True)
class PointResult:
    """One measured point and its prediction; ``error`` = predicted / measured - 1."""

    x: float
    x_unit: str
    measured: float
    predicted: float
    unit: str
    error: float
    scored: bool
    x_name: str = ""


@dataclass
class SeriesResult:
    """A series' points and its score against the target."""

    spec: SeriesSpec
    points: list[PointResult]
    target_text: str
    achieved_text: str
    passed: bool
    details: dict[str, float] = field(default_factory=dict)

    @property
    def unit(self) -> str:
        """The unit of the measured and predicted values."""
        return self.points[0].unit if self.points else ""

    def point_rows(self) -> list[tuple[str, str, str, str, str]]:
        """Per point, as text: x with its unit, measured, predicted (4 significant digits),
        the relative error, and a note for points used as inputs (not scored)."""
        return [(f"{p.x:g} {p.x_unit}".strip(), f"{p.measured:.4g}", f"{p.predicted:.4g}",
                 f"{p.error:+.1%}", "" if p.scored else "input, not scored")
                for p in self.points]


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


def score_series(spec: SeriesSpec, points: list[PointResult]) -> SeriesResult:
    """Apply ``spec``'s target to its points (see the module docstring)."""
    scored = [p for p in points if p.scored]
    if spec.target == "knee":
        xs = [p.x for p in points]
        pos_m, drop_m, _ = knee(xs, [p.measured for p in points])
        pos_p, drop_p, _ = knee(xs, [p.predicted for p in points])
        pos_err = pos_p / pos_m - 1
        drop_err = drop_p / drop_m - 1
        passed = abs(pos_err) <= spec.tolerance and abs(drop_err) <= spec.drop_tolerance
        return SeriesResult(
            spec, points,
            target_text=(f"knee position within {spec.tolerance:.0%}, drop within "
                         f"{spec.drop_tolerance:.0%}"),
            achieved_text=(f"knee at {pos_p:g} vs {pos_m:g} {points[0].x_unit} "
                           f"({pos_err:+.1%}); drop {drop_p:.2f}x vs {drop_m:.2f}x "
                           f"({drop_err:+.1%})"),
            passed=passed,
            details={"knee_measured": pos_m, "knee_predicted": pos_p,
                     "drop_measured": drop_m, "drop_predicted": drop_p,
                     "knee_error": pos_err, "drop_error": drop_err})
    if spec.target == "factor":
        factors = [max(p.predicted / p.measured, p.measured / p.predicted) for p in scored]
        worst = max(factors)
        return SeriesResult(spec, points, f"every point within a factor {spec.tolerance:g}",
                            f"worst factor {worst:.2f}", worst <= spec.tolerance,
                            {"worst_factor": worst})
    if spec.target == "relative":
        worst = max(abs(p.error) for p in scored)
        return SeriesResult(spec, points, f"every point within {spec.tolerance:.0%}",
                            f"worst error {worst:.1%}", worst <= spec.tolerance,
                            {"worst_error": worst})
    if spec.target == "ratio":
        first, last = scored[0], scored[-1]
        r_m = first.measured / last.measured
        r_p = first.predicted / last.predicted
        err = r_p / r_m - 1
        return SeriesResult(
            spec, points,
            f"throughput ratio first/last point within {spec.tolerance:.0%} (no cliff)",
            f"ratio {r_p:.2f} vs {r_m:.2f} ({err:+.1%})", abs(err) <= spec.tolerance,
            {"ratio_measured": r_m, "ratio_predicted": r_p, "ratio_error": err})
    raise EpcsimError(f"unknown target kind {spec.target!r}")


@dataclass
class ValidationReport:
    """Every validated series, with the run settings."""

    series: list[SeriesResult]
    wall_s: float
    settings: dict[str, Any]

    @property
    def passed(self) -> int:
        return sum(s.passed for s in self.series)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``epcsim validate --json``)."""
        return {
            "settings": self.settings,
            "wall_s": round(self.wall_s, 2),
            "series": [{
                "series": s.spec.series,
                "scenario": s.spec.scenario,
                "target": s.target_text,
                "achieved": s.achieved_text,
                "passed": s.passed,
                "details": s.details,
                "points": [dataclasses.asdict(p) for p in s.points],
            } for s in self.series],
        }

    def summary_rows(self) -> list[tuple[str, str, str, str]]:
        """Per series: its id, the target, what was achieved, ``pass`` or ``MISS`` (the
        terminal table of ``epcsim validate`` is laid out by :mod:`epcsim.report.tables`)."""
        return [(s.spec.series, s.target_text, s.achieved_text, "pass" if s.passed else "MISS")
                for s in self.series]

    def summary_note(self) -> str:
        """One line: how many series meet their target, and the wall time."""
        return (f"{self.passed} of {len(self.series)} series meet their target "
                f"({self.wall_s:.1f} s)")

    def markdown_table(self) -> str:
        """The summary and the points as Markdown (for docs/validation.md; the numbers as in
        :meth:`SeriesResult.point_rows`)."""
        out = ["| series | target | achieved | result |", "|---|---|---|---|"]
        for s in self.series:
            out.append(f"| `{s.spec.series}` | {s.target_text} | {s.achieved_text} | "
                       f"{'pass' if s.passed else '**miss**'} |")
        for s in self.series:
            out += ["", f"**{s.spec.series}** (`validation/{s.spec.scenario}`), {s.unit}:", "",
                    "| x | measured | predicted | error |", "|---:|---:|---:|---:|"]
            for x, measured, predicted, error, note in s.point_rows():
                suffix = " (input)" if note else ""
                out.append(f"| {x}{suffix} | {measured} | {predicted} | {error} |")
        return "\n".join(out)


