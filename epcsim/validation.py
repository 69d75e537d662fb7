"""Model validation: epcsim's predictions against published SGX measurements.

What it does: for every measurement series in ``validation/published-measurements.csv`` (a
copy of the project's reference data, with its source columns) it runs the scenario in
``validation/`` that describes the measured workload on the measured hardware, predicts the
measured metric at every measured x, and scores the series against its target
(docs/validation.md defines each target precisely):

- ``knee``: the TeeBench CHT join throughput curve. The *knee* is the consecutive pair of
  measured x values with the largest throughput ratio ``X(x_i) / X(x_{i+1})``; its
  *position* is the midpoint ``(x_i + x_{i+1}) / 2`` and the *drop* is that ratio. Targets:
  position within 5 %, drop within 25 % (``|drop_pred / drop_meas - 1|``).
- ``factor``: every point within a factor (EWB counts: 1.5).
- ``relative``: every point within a relative error (enclave build times: 20 %).
- ``ratio``: the ratio of the first to the last point within a relative error (the 16 MiB
  probe-table series, where no cliff is expected).

How the hash join is run (:func:`simulate_hash_join`): the scenario's operations are batches
of tuples; the join is a batch job, so instead of an arrival process the harness issues
exactly the join's work in phase order (init, partition, build, probe; each phase's batches
arrive together and queue first come first served for the enclave threads) and runs the
model to completion. Throughput is (|R| + |S|) tuples / (end of the last probe batch - start
of the first partition batch), as TeeBench computes it; evictions are every EWB of the
process, the enclave build's included, as TeeBench's instrumented driver counts them.

Assumptions: the harness changes only sizes, batch counts and arrivals, never a cost
parameter or a per-tuple cost (those are in the scenario files, with their reasons). Runs use
one replication with the scenario's seed (the results are deterministic).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from epcsim.errors import EpcsimError
from epcsim.units import PAGE_BYTES

MIB = 2**20
#: TeeBench tuples: 4-byte key + 4-byte payload (scripts: 131072 tuples per "MB").
TUPLE_BYTES = 8
TUPLES_PER_PAGE = PAGE_BYTES // TUPLE_BYTES
#: CHT bitmap: one 64-bit word (32 bits used + 32-bit prefix count) per 32 tuple slots.
BITMAP_BYTES_PER_TUPLE = 8 / 32
#: Batch size of the scenario files' join operations (pages of tuples per operation).
SCENARIO_BATCH_PAGES = 16
#: Far-away horizon for batch jobs (the model skips idle time, so this costs nothing).
BATCH_HORIZON_S = 3600.0
#: Columns of the measurement CSV (the reference file's header).
MEASUREMENT_COLUMNS = ("id", "workload", "hardware", "epc_usable_mib", "x_name", "x_value",
                       "x_unit", "metric", "value", "unit", "source")


@dataclass(frozen=True)
class Measurement:
    """One published data point (a row of the measurement CSV, series fields filled in)."""

    series: str
    x_name: str
    x_value: float
    x_unit: str
    metric: str
    value: float
    unit: str
    workload: str
    hardware: str
    epc_usable_mib: float
    source: str
    line: int


def default_validation_dir() -> Path:
    """``validation/`` in the working folder if present, else next to the package."""
    here = Path("validation")
    if (here / "published-measurements.csv").is_file():
        return here
    return Path(__file__).resolve().parent.parent / "validation"


def load_measurements(path: str | Path) -> list[Measurement]:
    """Read the published-measurements CSV; series-level columns left blank after a series'
    first row are carried down. Raises :class:`EpcsimError` with file:line on bad rows."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EpcsimError(f"{path}: cannot read measurements ({exc})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or tuple(c.strip() for c in rows[0]) != MEASUREMENT_COLUMNS:
        raise EpcsimError(f"{path}:1: expected the header {','.join(MEASUREMENT_COLUMNS)}")
    out: list[Measurement] = []
    carried: dict[str, dict[str, str]] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(MEASUREMENT_COLUMNS):
            raise EpcsimError(f"{path}:{number}: expected {len(MEASUREMENT_COLUMNS)} columns, "
                              f"found {len(row)}")
        rec = dict(zip(MEASUREMENT_COLUMNS, (c.strip() for c in row), strict=True))
        series = rec["id"]
        prev = carried.setdefault(series, {})
        for key in ("workload", "hardware", "source", "epc_usable_mib"):
            if rec[key]:
                prev[key] = rec[key]
            else:
                rec[key] = prev.get(key, "")
        try:
            x_value = float(rec["x_value"])
            value = float(rec["value"])
            epc = float(rec["epc_usable_mib"]) if rec["epc_usable_mib"] else float("nan")
        except ValueError:
            raise EpcsimError(f"{path}:{number}: x_value, value and epc_usable_mib must be "
                              f"numbers (found {rec['x_value']!r}, {rec['value']!r}, "
                              f"{rec['epc_usable_mib']!r})") from None
        out.append(Measurement(series=series, x_name=rec["x_name"], x_value=x_value,
                               x_unit=rec["x_unit"], metric=rec["metric"], value=value,
                               unit=rec["unit"], workload=rec["workload"],
                               hardware=rec["hardware"], epc_usable_mib=epc,
                               source=rec["source"], line=number))
    return out


# -- the hash join as a batch job -----------------------------------------------------------

@dataclass(frozen=True)
class JoinPrediction:
    """One simulated TeeBench CHT join (R = build table, S = probe table)."""

    build_mib: float
    probe_mib: float
    throughput_mrec_s: float
    ewb_pages: float
    join_time_s: float
    phase_time_s: dict[str, float]
    faults: float
    batch_pages: int
    wall_s: float


def _floor_pow2(n: int) -> int:
    return 1 << (max(1, n).bit_length() - 1)


def join_layout(build_mib: float, probe_mib: float) -> dict[str, int]:
    """Bytes and pages of the join's EPC data (see validation/teebench_cht_s100.yaml).

    ``part_buffer_bytes`` = |R|; ``hash_table_bytes`` = |R| (tuple array) + |R|/32 (bitmap);
    ``probed_fraction_ppm``: share of the hash table the probes reach, min(1, |S|/|R|), in
    parts per million; ``batch_pages``: pages of tuples per operation (16, fewer when the
    hash table has fewer pages than one probe batch has probes)."""
    r_bytes = round(build_mib * MIB)
    ht_bytes = round(r_bytes * (1 + BITMAP_BYTES_PER_TUPLE / TUPLE_BYTES))
    ht_pages = math.ceil(ht_bytes / PAGE_BYTES)
    if ht_pages < TUPLES_PER_PAGE:
        raise EpcsimError(f"build table of {build_mib:g} MiB: the hash table has fewer pages "
                          f"({ht_pages}) than one page of probes ({TUPLES_PER_PAGE}); the "
                          f"harness needs at least 2 MiB")
    batch = min(SCENARIO_BATCH_PAGES, _floor_pow2(ht_pages // TUPLES_PER_PAGE))
    return {
        "part_buffer_bytes": r_bytes,
        "hash_table_bytes": ht_bytes,
        "hash_table_pages": ht_pages,
        "build_pages": math.ceil(r_bytes / PAGE_BYTES),
        "probe_pages": math.ceil(round(probe_mib * MIB) / PAGE_BYTES),
        "probed_fraction_ppm": round(min(1.0, probe_mib / build_mib) * 1e6),
        "batch_pages": batch,
    }


def _join_overrides(scenario: Any, layout: dict[str, int]) -> list[str]:
    """Overrides that size the regions and scale every operation to the batch size."""
    f = layout["batch_pages"] / SCENARIO_BATCH_PAGES
    out = [f"enclaves.join.regions.part_buffer.size={layout['part_buffer_bytes']}",
           f"enclaves.join.regions.hash_table.size={layout['hash_table_bytes']}",
           "workload.operations.probe.memory.0.pattern.hot_pages_fraction="
           f"{layout['probed_fraction_ppm'] / 1e6!r}"]
    for op in scenario.workload.operations:
        if f != 1.0:
            out.append(f"workload.operations.{op.name}.compute={op.compute.cycles * f!r}")
            for j, m in enumerate(op.memory):
                pages = m.pages if isinstance(m.pages, int) else (
                    m.pages.mean if m.pages.distribution == "fixed" else None)
                if pages is None:
                    raise EpcsimError(f"validation scenario: workload.operations.{op.name}."
                                      f"memory.{j}.pages must be a fixed count")
                out.append(f"workload.operations.{op.name}.memory.{j}.pages="
                           f"{max(1, round(pages * f))}")
    return out


def simulate_hash_join(scenario_path: str | Path, build_mib: float, probe_mib: float,
                       *, probe_sample_batches: int | None = 192,
                       seed: int | None = None) -> JoinPrediction:
    """Run the TeeBench CHT join of ``scenario_path`` with |R| = ``build_mib`` MiB and
    |S| = ``probe_mib`` MiB to completion (see the module docstring).

    ``probe_sample_batches``: simulate at most this many probe batches and extrapolate the
    rest of the probe phase (``None``: simulate all of it). The probe phase is stationary
    (the hash table no longer changes; S streams from untrusted memory): the sample's
    completion rate between its median and third-quartile completions (past the transient
    after the build, before any straggling last batches) carries the phase on to its
    ``N``-th completion, unless a straggler of the sample ends later; the batches left add
    the second half's faults per batch as evictions (in steady state every fault needs one
    eviction)."""
    from epcsim.adapter import model_config
    from epcsim.model import ArrivalConfig, PhaseConfig, simulate
    from epcsim.scenario import load_scenario, resolve_vm_sizes

    t0 = time.perf_counter()
    base = load_scenario(scenario_path)
    layout = join_layout(build_mib, probe_mib)
    scn = load_scenario(scenario_path, _join_overrides(base, layout))
    vm = resolve_vm_sizes(scn)[0]
    cfg = model_config(scn, vm)
    batch = layout["batch_pages"]
    counts = {
        "init_table": math.ceil(layout["hash_table_pages"] / batch),
        "partition": math.ceil(layout["build_pages"] / batch),
        "build": math.ceil(layout["build_pages"] / batch),
        "probe": math.ceil(layout["probe_pages"] / batch),
    }
    probe_total = counts["probe"]
    if probe_sample_batches is not None:
        if probe_sample_batches < 8:
            raise EpcsimError("probe_sample_batches must be at least 8 (or None)")
        counts["probe"] = min(probe_total, probe_sample_batches)
    names = [op.name for op in cfg.operations]
    if sorted(names) != sorted(counts):
        raise EpcsimError(f"{scenario_path}: a hash-join validation scenario needs the "
                          f"operations {', '.join(counts)} (found {', '.join(names)})")
    phases = []
    order = list(counts)
    for k, name in enumerate(order):
        arrival = ArrivalConfig(kind="trace", timestamps_s=(0.0,) * counts[name])
        phases.append(PhaseConfig(name=name, duration_s=None if k == len(order) - 1 else 1e-9,
                                  mix={name: 1.0}, arrival=arrival))
    cfg = dataclasses.replace(
        cfg, phases=tuple(phases),
        settings=dataclasses.replace(cfg.settings, duration_s=BATCH_HORIZON_S, warmup_s=0.0))
    result = simulate(cfg, 0, scn.simulation.seed if seed is None else seed)
    a = result.arrays
    end = a["end_s"]
    if np.isnan(end).any():
        raise EpcsimError(f"{scenario_path}: the join did not finish within "
                          f"{BATCH_HORIZON_S:g} s of simulated time")
    phase = a["phase"]
    start = a["start_s"]
    phase_time = {}
    for k, name in enumerate(order):
        sel = phase == k
        phase_time[name] = float(end[sel].max() - start[sel].min())
    timed = phase >= order.index("partition")
    join_time = float(end[timed].max() - start[timed].min())
    evictions = float(result.counters["evictions"] + result.counters["build_evictions"])
    faults = float(result.counters["faults"])
    left = probe_total - counts["probe"]
    if left > 0:
        probe_idx = np.flatnonzero(phase == order.index("probe"))
        n = len(probe_idx)
        t_probe0 = float(start[probe_idx].min())
        ends = np.sort(end[probe_idx]) - t_probe0
        # Completion rate between the sample's median and third-quartile completions:
        # past the transient after the build, and before any straggling last batches.
        q2, q3 = n // 2, (3 * n) // 4
        per_batch_s = float(ends[q3 - 1] - ends[q2 - 1]) / (q3 - q2)
        per_batch_faults = float(a["faults"][probe_idx][q2:].mean())
        # The batches left complete at that rate after the third-quartile completion; a
        # straggler of the sample (the first batches after the build fault in the probed
        # table) may still end later, and then it ends the phase.
        probe_s = max(float(ends[-1]), float(ends[q3 - 1]) + (left + n - q3) * per_batch_s)
        join_time = t_probe0 - float(start[timed].min()) + probe_s
        phase_time["probe"] = probe_s
        evictions += left * per_batch_faults
        faults += left * per_batch_faults
    tuples = (layout["build_pages"] + layout["probe_pages"]) * TUPLES_PER_PAGE
    return JoinPrediction(
        build_mib=build_mib, probe_mib=probe_mib,
        throughput_mrec_s=tuples / join_time / 1e6,
        ewb_pages=evictions, join_time_s=join_time, phase_time_s=phase_time,
        faults=faults, batch_pages=batch,
        wall_s=time.perf_counter() - t0)


# -- enclave build time -----------------------------------------------------------------------

def simulate_enclave_build(scenario_path: str | Path, heap_mib: float) -> float:
    """Predicted build time (s) of the scenario's only enclave with a ``heap_mib`` MiB heap
    region (enclave size = heap + the scenario's size beyond its regions)."""
    from epcsim.api import simulate_run
    from epcsim.scenario import load_scenario, resolve_vm_sizes

    base = load_scenario(scenario_path)
    if len(base.enclaves) != 1 or len(base.enclaves[0].regions) != 1:
        raise EpcsimError(f"{scenario_path}: a build-time validation scenario needs one "
                          f"enclave with one region (the heap)")
    enc = base.enclaves[0]
    region = enc.regions[0]
    extra = enc.size_bytes - region.size_bytes
    heap = round(heap_mib * MIB)
    scn = load_scenario(scenario_path, [
        f"enclaves.{enc.name}.size={heap + extra}",
        f"enclaves.{enc.name}.regions.{region.name}.size={heap}"])
    vm = resolve_vm_sizes(scn)[0]
    return float(simulate_run(scn, vm).metrics["enclave_startup_s"])


# -- series, targets and scoring --------------------------------------------------------------

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

    def format_points(self) -> str:
        """Plain-text table: every point, measured, predicted and error."""
        lines = []
        for s in self.series:
            lines.append(f"{s.spec.series} ({s.spec.scenario})")
            unit = s.points[0].unit if s.points else ""
            lines.append(f"  {'x':>10}  {'measured':>12}  {'predicted':>12}  {'error':>8}"
                         f"   [{unit}]")
            for p in s.points:
                mark = "" if p.scored else "  (input, not scored)"
                lines.append(f"  {p.x:>7g} {p.x_unit:<2}  {p.measured:>12.4g}  "
                             f"{p.predicted:>12.4g}  {p.error:>+8.1%}{mark}")
        return "\n".join(lines)

    def format_summary(self) -> str:
        """Plain-text summary: per series, the target, what was achieved, pass/miss."""
        rows = [("series", "target", "achieved", "result")]
        rows += [(s.spec.series, s.target_text, s.achieved_text,
                  "pass" if s.passed else "MISS") for s in self.series]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        out = []
        for n, r in enumerate(rows):
            out.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
            if n == 0:
                out.append("  ".join("-" * w for w in widths))
        out.append(f"{self.passed} of {len(self.series)} series meet their target "
                   f"({self.wall_s:.1f} s)")
        return "\n".join(out)

    def markdown_table(self) -> str:
        """The summary and the points as Markdown (for docs/validation.md)."""
        out = ["| series | target | achieved | result |", "|---|---|---|---|"]
        for s in self.series:
            out.append(f"| `{s.spec.series}` | {s.target_text} | {s.achieved_text} | "
                       f"{'pass' if s.passed else '**miss**'} |")
        for s in self.series:
            unit = s.points[0].unit if s.points else ""
            out += ["", f"**{s.spec.series}** (`validation/{s.spec.scenario}`), {unit}:", "",
                    "| x | measured | predicted | error |", "|---:|---:|---:|---:|"]
            for p in s.points:
                note = " (input)" if not p.scored else ""
                out.append(f"| {p.x:g} {p.x_unit}{note} | {p.measured:.4g} | "
                           f"{p.predicted:.4g} | {p.error:+.1%} |")
        return "\n".join(out)


def _predict_job(job: tuple[str, str, float, float, int | None]) -> dict[str, float]:
    driver, scenario, x, probe_mib, sample = job
    if driver == "hash_join":
        p = simulate_hash_join(scenario, x, probe_mib, probe_sample_batches=sample)
        return {"throughput_mrec_s": p.throughput_mrec_s, "ewb_pages": p.ewb_pages,
                "join_time_s": p.join_time_s, "faults": p.faults}
    if driver == "enclave_build":
        return {"build_time_s": simulate_enclave_build(scenario, x)}
    raise EpcsimError(f"unknown validation driver {driver!r}")


def run_validation(directory: str | Path | None = None, *,
                   series: Iterable[str] | None = None, workers: int = 1,
                   probe_sample_batches: int | None = 192,
                   progress: Callable[[str], None] | None = None) -> ValidationReport:
    """Predict every point of the chosen series and score them.

    Args:
        directory: the validation folder (scenarios + published-measurements.csv); default
            :func:`default_validation_dir`.
        series: series ids to run (default: all of :data:`SERIES`).
        workers: processes for the simulations (1 = in this process).
        probe_sample_batches: see :func:`simulate_hash_join` (``None`` = whole probe phase).
        progress: called with a line of text per finished simulation.
    """
    t0 = time.perf_counter()
    folder = Path(directory) if directory is not None else default_validation_dir()
    measurements = load_measurements(folder / "published-measurements.csv")
    by_series: dict[str, list[Measurement]] = {}
    for m in measurements:
        by_series.setdefault(m.series, []).append(m)
    known = {s.series: s for s in SERIES}
    chosen = list(series) if series is not None else [s.series for s in SERIES]
    for name in chosen:
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise EpcsimError(f"unknown validation series {name!r} (known: "
                              f"{', '.join(known)}{hint})")
        if name not in by_series:
            raise EpcsimError(f"{folder / 'published-measurements.csv'}: no rows for series "
                              f"{name!r}")
    jobs: dict[tuple[str, str, float, float, int | None], dict[str, float]] = {}
    for name in chosen:
        spec = known[name]
        path = folder / spec.scenario
        if not path.is_file():
            raise EpcsimError(f"{path}: validation scenario not found")
        for m in by_series[name]:
            jobs.setdefault((spec.driver, str(path), m.x_value, spec.probe_mib,
                             probe_sample_batches), {})
    keys = list(jobs)
    if workers > 1 and len(keys) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            for key, value in zip(keys, pool.map(_predict_job, keys), strict=True):
                jobs[key] = value
                if progress:
                    progress(f"{Path(key[1]).name} x={key[2]:g}")
    else:
        for key in keys:
            jobs[key] = _predict_job(key)
            if progress:
                progress(f"{Path(key[1]).name} x={key[2]:g}")
    results = []
    for name in chosen:
        spec = known[name]
        pts = []
        for m in sorted(by_series[name], key=lambda m: m.x_value):
            pred = jobs[(spec.driver, str(folder / spec.scenario), m.x_value, spec.probe_mib,
                         probe_sample_batches)][spec.quantity]
            pts.append(PointResult(x=m.x_value, x_unit=m.x_unit, measured=m.value,
                                   predicted=pred, unit=m.unit, error=pred / m.value - 1,
                                   scored=m.x_value not in spec.inputs, x_name=m.x_name))
        results.append(score_series(spec, pts))
    settings = {"directory": str(folder), "probe_sample_batches": probe_sample_batches,
                "workers": workers}
    return ValidationReport(results, time.perf_counter() - t0, settings)


# -- docs: the figure and the table (read results only; never run the model) -----------------

TABLE_START = "<!-- validation-table:start (generated by `epcsim validate --write-docs`) -->"
TABLE_END = "<!-- validation-table:end -->"


def plot_validation(report: ValidationReport, path: str | Path) -> Path:
    """Predicted against measured curves, one panel per series, written to ``path`` (PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(report.series)
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(5.2 * cols, 3.6 * rows), dpi=110)
    FigureCanvasAgg(fig)
    for k, s in enumerate(report.series):
        ax = fig.add_subplot(rows, cols, k + 1)
        xs = [p.x for p in s.points]
        ax.plot(xs, [p.measured for p in s.points], "o-", color="black", label="measured")
        ax.plot(xs, [p.predicted for p in s.points], "s--", color="tab:red",
                label="epcsim")
        if s.spec.target == "knee":
            ax.axvline(s.details["knee_measured"], color="grey", lw=0.8, ls=":")
        if s.spec.quantity in ("ewb_pages", "build_time_s") or s.spec.target == "knee":
            ax.set_yscale("log")
        if s.spec.quantity == "build_time_s":
            ax.set_xscale("log")
        unit = s.points[0].unit if s.points else ""
        if s.points:
            ax.set_xlabel(f"{s.points[0].x_name.replace('_', ' ')} [{s.points[0].x_unit}]")
        ax.set_ylabel(unit)
        ax.set_title(f"{s.spec.series}: {'pass' if s.passed else 'miss'}", fontsize=9)
        ax.grid(True, which="both", lw=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    return out


def write_docs(report: ValidationReport, docs_dir: str | Path) -> list[Path]:
    """Regenerate ``validation.png`` and the table between the markers of
    ``validation.md`` in ``docs_dir`` (the prose around the markers is kept)."""
    docs = Path(docs_dir)
    md = docs / "validation.md"
    try:
        text = md.read_text(encoding="utf-8")
    except OSError as exc:
        raise EpcsimError(f"{md}: cannot read ({exc.strerror})") from None
    if TABLE_START not in text or TABLE_END not in text:
        raise EpcsimError(f"{md}: the table markers are missing ({TABLE_START!r} ... "
                          f"{TABLE_END!r})")
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    settings = (f"\n_Settings: probe sample {report.settings['probe_sample_batches']} "
                f"batches; {report.passed} of {len(report.series)} series meet their "
                f"target._\n")
    new = f"{head}{TABLE_START}\n{report.markdown_table()}\n{settings}{TABLE_END}{tail}"
    md.write_text(new, encoding="utf-8")
    png = plot_validation(report, docs / "validation.png")
    return [md, png]
