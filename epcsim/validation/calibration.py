"""Calibration: fit cost parameters to a team's own measurements.

What it does: given a scenario describing the team's workload and VM, and measurements of a
summary metric at a few settings of a scenario key (e.g. ``throughput_ops_s`` at three
working-set sizes), :func:`fit_costs` finds the values of chosen cost parameters
(epcsim/reference/data/cost_parameters.csv) that make the model reproduce the measurements: bounded
nonlinear least squares (``scipy.optimize.least_squares``, trust-region reflective) on the
relative residuals ``predicted / measured - 1``, within each parameter's plausible
``[low, high]`` range or the user's bounds.

Assumptions and choices (docs/calibration.md):

- **Common random numbers.** Every evaluation runs the same seed and replication, so the
  objective is a deterministic function of the parameters; it is still piecewise smooth at
  best (a page fault count is an integer), so derivatives are finite differences with a
  *large* relative step (default 5 % of each parameter, ``rel_step``), not the default
  machine-epsilon-sized step that would see only noise.
- **Scaling.** The solver works on ``theta = value / start`` (all parameters near 1), so one
  relative step suits every parameter whatever its unit.
- **Identifiability.** Before fitting, the Jacobian at the start is computed; the fit is
  refused (:class:`~epcsim.errors.EpcsimError`, exit 2) when there are not more points than
  parameters, when a parameter does not move any fitted metric, or when the Jacobian is
  rank-deficient (two parameters act on the data only together).
- **Uncertainty.** From the Jacobian at the solution: covariance ``s^2 (J^T J)^-1`` with
  ``s^2 = SSR / (n - p)``; standard errors and 95 % Student-t intervals. They describe the fit
  (measurement scatter and model misfit around the best values), not systematic model error.

The measurement CSV: ``x_key`` (a scenario key path, e.g. ``enclaves.kv.regions.table.size``),
``x_value`` (its value, as written in a scenario: ``64 MiB``), ``metric`` (a summary metric
name, docs/metrics.md), ``value`` (the measured value, in the metric's base unit), optional
``vm_size`` (default: the scenario's first size).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from epcsim.errors import EpcsimError, Problem, ScenarioError
from epcsim.reference.cost_parameters import cost_parameters
from epcsim.traces.files import csv_cells, read_text

#: Summary metrics that can be fitted (the model's run metrics, docs/metrics.md).
FITTABLE_METRICS = (
    "throughput_ops_s", "latency_mean_s", "latency_p50_s", "latency_p95_s", "latency_p99_s",
    "latency_max_s", "mean_in_system", "vcpu_utilisation", "epc_faults_per_s",
    "epc_evictions_per_s", "epc_faults_per_op", "ksgxd_batches_per_s", "ksgxd_utilisation",
    "ipis_per_s", "aex_per_s", "enclave_startup_s", "edmm_augments_per_s",
)
REQUIRED_COLUMNS = ("x_key", "x_value", "metric", "value")
OPTIONAL_COLUMNS = ("vm_size",)
#: A smallest singular value of the column-normalised Jacobian below this fraction of the
#: largest means a rank-deficient Jacobian: one combination of the parameters is determined
#: 10x worse than another. A simulator's finite differences are noisy (two parameters that
#: act identically, such as eldu_cycles and fault_handler_cycles, come out at 0.06-0.09,
#: not 0), so the threshold is deliberately coarse.
RANK_TOLERANCE = 0.1
#: A parameter whose Jacobian column is below this (relative residual per relative change)
#: does not affect the fitted metrics.
MIN_SENSITIVITY = 1e-4


@dataclass(frozen=True)
class CalibrationPoint:
    """One measured value: ``metric`` = ``value`` when ``x_key`` = ``x_value``."""

    x_key: str
    x_value: str
    metric: str
    value: float
    vm_size: str | None
    line: int


@dataclass
class CalibrationResult:
    """A finished fit (values in each parameter's own unit)."""

    params: list[str]
    start: dict[str, float]
    values: dict[str, float]
    std_errors: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    bounds: dict[str, tuple[float, float]]
    points: list[CalibrationPoint]
    predicted: list[float]
    relative_errors: list[float]
    rmse_relative: float
    evaluations: int
    success: bool
    message: str
    wall_s: float
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "params": {p: {"value": self.values[p], "start": self.start[p],
                           "std_error": self.std_errors[p], "ci95": list(self.ci95[p]),
                           "bounds": list(self.bounds[p]),
                           "unit": cost_parameters()[p].unit} for p in self.params},
            "rmse_relative": self.rmse_relative,
            "points": [{"x_key": pt.x_key, "x_value": pt.x_value, "metric": pt.metric,
                        "vm_size": pt.vm_size, "measured": pt.value, "predicted": pred,
                        "relative_error": err}
                       for pt, pred, err in zip(self.points, self.predicted,
                                                self.relative_errors, strict=True)],
            "evaluations": self.evaluations,
            "success": self.success,
            "message": self.message,
            "settings": self.settings,
        }

    def format(self) -> str:
        """Plain-text report: parameters with intervals, then every point."""
        lines = [f"{'parameter':<24} {'start':>12} {'fitted':>12} {'std err':>10} "
                 f"{'95% interval':>27}  unit"]
        for p in self.params:
            lo, hi = self.ci95[p]
            lines.append(f"{p:<24} {self.start[p]:>12.6g} {self.values[p]:>12.6g} "
                         f"{self.std_errors[p]:>10.3g} {f'[{lo:.6g}, {hi:.6g}]':>27}  "
                         f"{cost_parameters()[p].unit}")
        lines.append("")
        lines.append(f"{'x_key = x_value':<48} {'metric':<20} {'measured':>11} "
                     f"{'predicted':>11} {'error':>8}")
        for pt, pred, err in zip(self.points, self.predicted, self.relative_errors,
                                 strict=True):
            where = f"{pt.x_key} = {pt.x_value}" + (f" @ {pt.vm_size}" if pt.vm_size else "")
            lines.append(f"{where:<48} {pt.metric:<20} {pt.value:>11.5g} {pred:>11.5g} "
                         f"{err:>+8.2%}")
        lines.append(f"RMSE of relative errors: {self.rmse_relative:.3%} over "
                     f"{len(self.points)} points, {self.evaluations} model evaluations, "
                     f"{self.wall_s:.1f} s ({self.message})")
        return "\n".join(lines)


def read_calibration_measurements(path: str | Path) -> list[CalibrationPoint]:
    """Read and check a calibration measurement CSV (see the module docstring)."""
    p = Path(path)
    text = read_text(p, "calibration measurement CSV")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise ScenarioError([Problem("the file is empty", file=str(p),
                                     expected="a header: " + ",".join(REQUIRED_COLUMNS))])
    hline, htext = lines[0]
    header = csv_cells(htext, p, hline)
    problems: list[Problem] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown:
        raise ScenarioError([Problem(
            "bad header", file=str(p), line=hline,
            expected=", ".join(REQUIRED_COLUMNS) + " [, vm_size]", found=", ".join(header))])
    out = []
    for n, line in lines[1:]:
        cells = csv_cells(line, p, n)
        if len(cells) != len(header):
            problems.append(Problem("wrong number of cells", file=str(p), line=n,
                                    expected=str(len(header)), found=str(len(cells))))
            continue
        row = dict(zip(header, cells, strict=True))
        if not row["x_key"]:
            problems.append(Problem("empty key path", file=str(p), line=n, key_path="x_key",
                                    expected="a scenario key path such as "
                                             "enclaves.kv.regions.table.size"))
        if row["metric"] not in FITTABLE_METRICS:
            import difflib

            close = difflib.get_close_matches(row["metric"], FITTABLE_METRICS, n=1)
            problems.append(Problem("unknown metric", file=str(p), line=n, key_path="metric",
                                    expected="a summary metric (docs/metrics.md)",
                                    found=repr(row["metric"]),
                                    suggestion=f"did you mean {close[0]!r}?" if close
                                    else None))
        try:
            value = float(row["value"])
        except ValueError:
            value = float("nan")
        if not (math.isfinite(value) and value > 0):
            problems.append(Problem("bad value", file=str(p), line=n, key_path="value",
                                    expected="a number > 0 in the metric's base unit",
                                    found=repr(row["value"])))
        out.append(CalibrationPoint(row["x_key"], row["x_value"], row["metric"], value,
                                    row.get("vm_size") or None, n))
    if problems:
        raise ScenarioError(problems)
    if not out:
        raise ScenarioError([Problem("no data rows", file=str(p), line=hline)])
    return out


def parse_bounds(specs: Sequence[str]) -> dict[str, tuple[float, float]]:
    """``["ewb_cycles=8000:16000", ...]`` -> ``{"ewb_cycles": (8000.0, 16000.0)}``."""
    out = {}
    for spec in specs:
        name, sep, rng = spec.partition("=")
        lo_s, sep2, hi_s = rng.partition(":")
        try:
            lo, hi = float(lo_s), float(hi_s)
        except ValueError:
            lo = hi = float("nan")
        if not sep or not sep2 or not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise EpcsimError(f"--bounds {spec!r}: expected NAME=LOW:HIGH with LOW < HIGH "
                              f"(in the parameter's unit)")
        out[name.strip()] = (lo, hi)
    return out


def _match_vm(name: str, sizes: Sequence[Any]) -> Any:
    """The size in ``sizes`` called ``name`` (any case, ``Standard_`` optional), or None."""
    from epcsim.reference.catalog import canonical_name

    canon = canonical_name(name, tuple(sizes))
    return next((v for v in sizes if v.size == canon), None)


class _Evaluator:
    """Runs the scenario at every point for a parameter vector (cached, same seed)."""

    def __init__(self, scenario_source: str | Path | Mapping[str, Any], base_overrides:
                 Sequence[str], points: Sequence[CalibrationPoint], params: Sequence[str],
                 replication: int) -> None:
        from epcsim.scenario import load_scenario, resolve_vm_sizes

        self.source = scenario_source
        self.base = list(base_overrides)
        self.points = list(points)
        self.params = list(params)
        self.replication = replication
        self.cache: dict[tuple[float, ...], np.ndarray] = {}
        self.runs = 0
        # Check every point's key path and value, and its VM size, once, up front.
        problems: list[Problem] = []
        for pt in self.points:
            try:
                scn = load_scenario(scenario_source, [*self.base, f"{pt.x_key}={pt.x_value}"])
            except ScenarioError as exc:
                for pr in exc.problems:
                    problems.append(Problem(f"measurement line {pt.line}: {pr.message}",
                                            file=pr.file, line=pr.line, key_path=pr.key_path,
                                            expected=pr.expected, found=pr.found,
                                            suggestion=pr.suggestion))
                continue
            if pt.vm_size is not None:
                sizes = resolve_vm_sizes(scn)
                if _match_vm(pt.vm_size, sizes) is None:
                    problems.append(Problem(
                        f"measurement line {pt.line}: VM size not in the scenario",
                        key_path="vm_size", found=repr(pt.vm_size),
                        expected="one of " + ", ".join(v.size for v in sizes)))
        if problems:
            raise ScenarioError(problems)

    def metrics(self, values: Mapping[str, float]) -> np.ndarray:
        """Predicted metric per point for parameter ``values`` (own units)."""
        from epcsim.scenario import load_scenario, resolve_vm_sizes
        from epcsim.study.execute import simulate_scenario as simulate_run

        key = tuple(round(values[p], 9) for p in self.params)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        costs = [f"costs.{p}={values[p]!r}" for p in self.params]
        out = np.empty(len(self.points))
        for i, pt in enumerate(self.points):
            scn = load_scenario(self.source, [*self.base, *costs, f"{pt.x_key}={pt.x_value}"])
            sizes = resolve_vm_sizes(scn)
            vm = sizes[0]
            if pt.vm_size is not None:
                vm = _match_vm(pt.vm_size, sizes) or vm
            m = simulate_run(scn, vm, replication=self.replication).metrics
            self.runs += 1
            value = float(m[pt.metric])
            out[i] = value
        self.cache[key] = out
        return out


def fit_costs(scenario: str | Path | Mapping[str, Any], points: Sequence[CalibrationPoint],
              params: Sequence[str], *, bounds: Mapping[str, tuple[float, float]] | None = None,
              overrides: Sequence[str] = (), rel_step: float = 0.05, max_evals: int = 60,
              replication: int = 0,
              progress: Callable[[str], None] | None = None) -> CalibrationResult:
    """Fit ``params`` so that ``scenario`` reproduces ``points`` (module docstring).

    Args:
        scenario: scenario file (or mapping); its ``costs:`` give the starting values.
        points: the measurements (:func:`read_calibration_measurements`).
        params: cost parameter names to fit.
        bounds: name -> (low, high) in the parameter's unit (default: its plausible range
            from cost_parameters.csv).
        overrides: ``key=value`` overrides applied to the scenario first.
        rel_step: relative finite-difference step (fraction of each parameter).
        max_evals: most model evaluations (each runs every point once).
        replication: the replication every evaluation runs (common random numbers).
    Raises:
        EpcsimError: unknown parameters, bad bounds, too few points, parameters the data
            cannot determine.
    """

    from epcsim.scenario import load_scenario

    t0 = time.perf_counter()
    known = cost_parameters()
    params = list(dict.fromkeys(params))
    if not params:
        raise EpcsimError("--fit: name at least one cost parameter")
    for name in params:
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise EpcsimError(f"--fit: unknown cost parameter {name!r}{hint}")
    user_bounds = dict(bounds or {})
    for name in user_bounds:
        if name not in params:
            raise EpcsimError(f"--bounds: {name!r} is not being fitted (--fit {','.join(params)})")
    if not 0 < rel_step < 0.5:
        raise EpcsimError(f"--rel-step: expected a fraction in (0, 0.5), found {rel_step}")
    n, k = len(points), len(params)
    if n <= k:
        raise EpcsimError(
            f"cannot fit {k} parameter(s) to {n} measurement(s): the fit needs more points "
            f"than parameters (n > p) to be determined and to estimate its uncertainty; add "
            f"measurements or fit fewer parameters")
    bnd = {}
    for name in params:
        lo, hi = user_bounds.get(name, (known[name].low, known[name].high))
        if not lo < hi:
            raise EpcsimError(f"{name}: its documented range is [{lo:g}, {hi:g}] (a fixed "
                              f"value); give --bounds {name}=LOW:HIGH to fit it")
        if lo <= 0:
            raise EpcsimError(f"{name}: bounds must be > 0 (found [{lo:g}, {hi:g}])")
        bnd[name] = (float(lo), float(hi))
    base = load_scenario(scenario, overrides)
    start = {p: min(max(float(base.costs[p]), bnd[p][0]), bnd[p][1]) for p in params}
    ev = _Evaluator(scenario, overrides, points, params, replication)
    return solve(ev, points, params, start, bnd, rel_step=rel_step, max_evals=max_evals,
                 progress=progress, t0=t0,
                 settings={"rel_step": rel_step, "replication": replication,
                           "overrides": list(overrides)})


def solve(ev: Any, points: Sequence[CalibrationPoint], params: Sequence[str],
          start: Mapping[str, float], bnd: Mapping[str, tuple[float, float]], *,
          rel_step: float, max_evals: int, progress: Callable[[str], None] | None,
          t0: float, settings: Mapping[str, Any]) -> CalibrationResult:
    """Bounded least squares of the relative residuals of ``ev.metrics(values)`` against the
    points' values, with the identifiability checks and standard errors of the module
    docstring. ``ev`` has ``metrics(values) -> array`` (one prediction per point, cached by
    values), ``cache`` and ``runs``."""
    from scipy.optimize import least_squares
    from scipy.stats import t as student_t

    params = list(params)
    n, k = len(points), len(params)
    measured = np.array([pt.value for pt in points])
    scale = np.array([start[p] for p in params])

    def values_of(theta: np.ndarray) -> dict[str, float]:
        return {p: float(theta[i] * scale[i]) for i, p in enumerate(params)}

    evals = 0
    rows = np.ones(n, dtype=bool)  # the points the fitted parameters act on (see below)

    def residuals(theta: np.ndarray) -> np.ndarray:
        nonlocal evals
        evals += 1
        if evals > max_evals:
            raise _Budget()
        pred = ev.metrics(values_of(theta))
        if progress:
            progress(f"evaluation {evals}: " + ", ".join(
                f"{p}={v:.6g}" for p, v in values_of(theta).items()))
        res: np.ndarray = (pred / measured - 1.0)[rows]
        return res

    lower = np.array([bnd[p][0] for p in params]) / scale
    upper = np.array([bnd[p][1] for p in params]) / scale
    theta0 = np.ones(k)
    # Identifiability at the start: forward differences (backward at an upper bound).
    r0 = residuals(theta0)
    if not np.all(np.isfinite(r0)):
        bad = [points[int(i)] for i in np.flatnonzero(~np.isfinite(r0))]
        raise EpcsimError("the model gives no value for " + "; ".join(
            f"{b.metric} at {b.x_key}={b.x_value} (line {b.line})" for b in bad)
            + " (e.g. no operation completed); check the scenario")
    jac0 = _jacobian(residuals, theta0, r0, rel_step, lower, upper)
    # Points that no fitted parameter moves (another mechanism sets them) carry no
    # information about the parameters: they are left out of the objective, so that their
    # misfit does not pass for uncertainty of the fitted values.
    rows = np.abs(jac0).max(axis=1) >= MIN_SENSITIVITY
    ignored = [points[int(i)] for i in np.flatnonzero(~rows)]
    jac0 = jac0[rows]
    n = int(rows.sum())
    if 0 < n <= k:
        raise EpcsimError(
            f"cannot fit {k} parameter(s): they act on only {n} of the {len(points)} "
            f"measured points (the others do not move by {rel_step:.0%}); the fit needs more "
            f"points than parameters; add measurements they affect or fit fewer")
    norms = np.linalg.norm(jac0, axis=0)
    dead = [params[i] for i in range(k) if norms[i] < MIN_SENSITIVITY]
    if dead:
        metrics = sorted({pt.metric for pt in points})
        raise EpcsimError(
            f"cannot fit {', '.join(dead)}: changing it by {rel_step:.0%} does not change "
            f"the measured metric(s) {', '.join(metrics)} in this scenario (the data cannot "
            f"determine it); drop it from --fit or add measurements it affects")
    sv = np.linalg.svd(jac0 / norms, compute_uv=False)
    if k > 1 and sv[-1] < RANK_TOLERANCE * sv[0]:
        _, _, vt = np.linalg.svd(jac0 / norms)
        null = vt[-1]
        involved = [params[i] for i in np.argsort(-np.abs(null))[:2]]
        raise EpcsimError(
            f"cannot fit {', '.join(params)} together: the measurements constrain only a "
            f"combination of {' and '.join(involved)} (rank-deficient Jacobian, singular "
            f"values {', '.join(f'{s:.2g}' for s in sv)}); fit one of them, or add "
            f"measurements that separate them")
    message = ""
    try:
        sol = least_squares(residuals, theta0, bounds=(lower, upper), jac="2-point",
                            diff_step=rel_step, method="trf", x_scale=1.0,
                            max_nfev=max(1, max_evals), xtol=1e-3, ftol=1e-6)
        theta = sol.x
        success = bool(sol.success)
        message = str(sol.message)
    except _Budget:
        success = False
        message = f"stopped after {max_evals} evaluations (--max-evals)"
        best = min(ev.cache.items(), key=lambda kv: float(np.sum(
            (kv[1] / measured - 1.0)[rows] ** 2)))
        theta = np.array(best[0]) / scale
    evals_budget = max_evals
    max_evals = 10**9  # the final Jacobian may run past the budget
    r = residuals(theta)
    jac = _jacobian(residuals, theta, r, rel_step, lower, upper)
    max_evals = evals_budget
    dof = n - k
    ssr = float(np.sum(r**2))
    s2 = ssr / dof
    try:
        cov_theta = s2 * np.linalg.inv(jac.T @ jac)
    except np.linalg.LinAlgError:
        cov_theta = np.full((k, k), np.inf)
    se_theta = np.sqrt(np.clip(np.diag(cov_theta), 0, None))
    tq = float(student_t.ppf(0.975, dof))
    values = values_of(theta)
    se = {p: float(se_theta[i] * scale[i]) for i, p in enumerate(params)}
    ci = {p: (values[p] - tq * se[p], values[p] + tq * se[p]) for p in params}
    pred = ev.metrics(values)
    rel = list(pred / measured - 1.0)
    return CalibrationResult(
        params=params, start=dict(start), values=values, std_errors=se, ci95=ci, bounds=dict(bnd),
        points=list(points), predicted=[float(x) for x in pred],
        relative_errors=[float(x) for x in rel],
        rmse_relative=float(math.sqrt(np.mean(np.square(rel)))), evaluations=evals,
        success=success, message=message, wall_s=time.perf_counter() - t0,
        settings={**settings, "model_runs": ev.runs,
                  "points_not_moved_by_the_parameters": [
                      f"{b.x_key}={b.x_value} (line {b.line})" for b in ignored]})


class _Budget(Exception):
    """The evaluation budget ran out."""


def _jacobian(fun: Callable[[np.ndarray], np.ndarray], theta: np.ndarray, f0: np.ndarray,
              rel_step: float, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """One-sided finite-difference Jacobian d residual / d theta (shape (n, k)), stepping
    ``rel_step * theta`` forward, or backward where that would leave the bounds."""
    jac = np.empty((len(f0), len(theta)))
    for j in range(len(theta)):
        h = rel_step * max(abs(theta[j]), 1e-12)
        step = h if theta[j] + h <= upper[j] else -h
        if theta[j] + step < lower[j]:
            step = upper[j] - theta[j] if upper[j] - theta[j] > theta[j] - lower[j] \
                else lower[j] - theta[j]
        t = theta.copy()
        t[j] += step
        jac[:, j] = (fun(t) - f0) / step
    return jac


def cost_profile_yaml(result: CalibrationResult, *, source: str = "") -> str:
    """The fitted values as a ``costs:`` block with a header comment describing the fit.

    The scenario format has no include mechanism: paste the block into a scenario's
    ``costs:`` section, or pass each value with ``--set costs.NAME=VALUE``."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    lines = [
        f"# epcsim cost profile, fitted {stamp}" + (f" from {source}" if source else ""),
        f"# {len(result.points)} measurements, RMSE of relative errors "
        f"{result.rmse_relative:.2%}; {result.message}",
        "# parameter: fitted value (standard error; 95% interval) [bounds]",
    ]
    for p in result.params:
        lo, hi = result.ci95[p]
        blo, bhi = result.bounds[p]
        lines.append(f"#   {p}: {result.values[p]:.6g} ({result.std_errors[p]:.3g}; "
                     f"[{lo:.6g}, {hi:.6g}]) [{blo:g}, {bhi:g}]")
    lines += ["# Use: paste under a scenario's `costs:` or pass --set costs.NAME=VALUE.",
              "costs:"]
    for p in result.params:
        lines.append(f"  {p}: {result.values[p]:.6g}")
    return "\n".join(lines) + "\n"
