"""Fitting cost parameters to the corpus's ``fit`` series (``epcsim calibrate --corpus``).

The objective is the relative residuals ``predicted / measured - 1`` of every scored point of
every ``fit`` series that the chosen parameters act on (after each series' ``compare``, as
``epcsim validate`` scores them), solved by the same bounded least squares, identifiability
checks and standard errors as a user's own calibration
(:func:`epcsim.validation.calibration.solve`). ``test`` series are never read here: that is
what keeps them a test.

Each evaluation runs every fit point with the candidate costs as ``costs.NAME=value``
overrides, on ``workers`` processes; the same seed everywhere (common random numbers).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from epcsim.errors import EpcsimError
from epcsim.reference.cost_parameters import cost_parameters
from epcsim.validation.calibration import CalibrationPoint, CalibrationResult, solve
from epcsim.validation.corpus import CorpusSeries, default_corpus_dir, load_corpus
from epcsim.validation.corpus_run import select_series
from epcsim.validation.predict import job_for, model_value, run_jobs


class _CorpusEvaluator:
    """Predictions of every scored fit point for a parameter vector (cached)."""

    def __init__(self, series: Sequence[CorpusSeries], params: Sequence[str],
                 workers: int) -> None:
        self.series = list(series)
        self.params = list(params)
        self.workers = workers
        self.cache: dict[tuple[float, ...], np.ndarray] = {}
        self.runs = 0

    def metrics(self, values: Mapping[str, float]) -> np.ndarray:
        key = tuple(round(values[p], 9) for p in self.params)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        costs = [f"costs.{p}={values[p]!r}" for p in self.params]
        jobs = {(s.series, pt.line): job_for(s, pt, costs)
                for s in self.series for pt in s.points}
        results = run_jobs(jobs.values(), workers=self.workers)
        self.runs += len(set(jobs.values()))
        out = []
        for s in self.series:
            raw = [model_value(s, results[jobs[(s.series, pt.line)]]) for pt in s.points]
            first = raw[0] if s.compare == "per_first" else 1.0
            for i, pt in enumerate(s.points):
                if pt.is_input or (s.compare == "per_first" and i == 0):
                    continue
                out.append(raw[i] / first if first else math.nan)
        arr = np.array(out)
        self.cache[key] = arr
        return arr


def fit_points(series: Sequence[CorpusSeries]) -> list[CalibrationPoint]:
    """The measured side of the objective: every scored point, normalised as scored."""
    out = []
    for s in series:
        first = s.points[0].value if s.compare == "per_first" else 1.0
        for i, pt in enumerate(s.points):
            if pt.is_input or (s.compare == "per_first" and i == 0):
                continue
            out.append(CalibrationPoint(x_key=s.series, x_value=pt.x, metric=s.metric,
                                        value=pt.value / first, vm_size=None, line=pt.line))
    return out


def fit_corpus(params: Sequence[str], *, folder: str | Path | None = None,
               series: Sequence[str] | None = None,
               bounds: Mapping[str, tuple[float, float]] | None = None,
               rel_step: float = 0.05, max_evals: int = 40, workers: int = 2,
               progress: Callable[[str], None] | None = None) -> CalibrationResult:
    """Fit ``params`` to the corpus's fit series (all, or the named ones, which must be
    ``fit`` series). Starts from the packaged defaults, within each parameter's plausible
    range (or ``bounds``)."""
    t0 = time.perf_counter()
    root = Path(folder) if folder is not None else default_corpus_dir()
    corpus = load_corpus(root)
    chosen = select_series(corpus, series=series, split=None)
    tests = [s.series for s in chosen if s.split != "fit"]
    if tests:
        raise EpcsimError(f"--series: {', '.join(tests)} is a test series; only fit series "
                          f"may set a parameter (series.csv, column split)")
    chosen = [s for s in chosen if s.split == "fit"]
    known = cost_parameters()
    params = list(dict.fromkeys(params))
    for name in params:
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise EpcsimError(f"--fit: unknown cost parameter {name!r}{hint}")
    bnd = {}
    for name in params:
        lo, hi = (bounds or {}).get(name, (known[name].low, known[name].high))
        if not 0 < lo < hi:
            raise EpcsimError(f"{name}: bounds must satisfy 0 < low < high (found "
                              f"[{lo:g}, {hi:g}]); give --bounds {name}=LOW:HIGH")
        bnd[name] = (float(lo), float(hi))
    start = {p: min(max(known[p].default, bnd[p][0]), bnd[p][1]) for p in params}
    points = fit_points(chosen)
    if len(points) <= len(params):
        raise EpcsimError(f"cannot fit {len(params)} parameter(s) to {len(points)} point(s) "
                          f"of the fit series")
    ev = _CorpusEvaluator(chosen, params, workers)
    return solve(ev, points, params, start, bnd, rel_step=rel_step, max_evals=max_evals,
                 progress=progress, t0=t0,
                 settings={"rel_step": rel_step, "corpus": str(root),
                           "series": [s.series for s in chosen]})
