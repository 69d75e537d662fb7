"""The validation corpus: published measurement series, each tagged ``fit`` or ``test``.

A *series* is one published curve or table (a paper's figure or table, a benchmark
repository's result file at a commit), measured on stated hardware with stated software. The
corpus lives in ``validation/corpus/`` as two CSV files and one scenario per series:

- ``series.csv``: one row per series: its split (``fit``: cost parameters may be fitted to
  it with ``epcsim calibrate --corpus``; ``test``: never used to set anything, only scored),
  categories, kind (``absolute`` values or ``ratio``\\ s), the scenario that models it, how a
  prediction is made (``predictor``, ``compare``, ``metric``, ``native_metric``, ``scale``),
  and its provenance (citation, hardware and clock, software, what was measured, confidence).
- ``points.csv``: one row per published point: the series, the x label, the measured value
  and unit, a note, and ``set``: the literal ``key=value`` scenario assignments (``;``
  separated) that put the scenario at that point. Points whose note starts with ``input``
  set a scenario input and are shown but not scored.

How a point is predicted (``predictor`` column):

- ``run``: load the scenario with the point's assignments (and one replication), simulate it
  on the scenario's first VM size, read ``metric`` from the run's summary metrics
  (docs/metrics.md); with ``native_metric`` also simulate the native baseline.
- ``hash_join:probe_mib=P``: the TeeBench join harness
  (:func:`epcsim.validation.harness.simulate_hash_join`), x = build table MiB;
  metrics ``throughput_mrec_s``, ``ewb_pages``.
- ``enclave_build``: :func:`epcsim.validation.harness.simulate_enclave_build`, x = heap MiB;
  metric ``build_time_s``.

What is compared (``compare`` column), with ``scale`` multiplying the model's value:

- ``value``: ``scale * metric`` against the measured value;
- ``sgx_over_native`` / ``native_over_sgx``: the SGX run's ``metric`` over the native run's
  ``native_metric`` (or the inverse), e.g. a slowdown or a throughput ratio;
- ``per_first``: every point over the series' first point, for measured and predicted alike
  (shapes: a knee's drop, a scaling curve); the first point is then not scored.

Nothing here evaluates an expression: assignments are literal scenario values, checked by
the scenario loader like ``--set``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from epcsim.errors import EpcsimError

#: Largest corpus CSV read (the files are a few KiB; a bigger one is not a corpus file).
MAX_CSV_BYTES = 4 * 2**20

SERIES_COLUMNS = ("series", "split", "category", "kind", "scenario", "x_param", "x_unit",
                  "metric", "native_metric", "citation", "hardware", "clock_ghz", "software",
                  "measured", "confidence", "notes", "predictor", "compare", "scale")
POINT_COLUMNS = ("series", "x", "value", "unit", "note", "set")
SPLITS = ("fit", "test")
KINDS = ("absolute", "ratio")
COMPARES = ("value", "sgx_over_native", "native_over_sgx", "per_first")
PREDICTORS = ("run", "hash_join", "enclave_build")
CATEGORIES = ("epc_paging_cliff", "kv_store", "db_index", "join", "transition_microbench",
              "switchless", "syscall_server", "sgx2_memory", "enclave_build_startup",
              "sgx_in_vm", "multithread_paging", "lvi_mitigation")
#: Metrics the harness predictors give.
HARNESS_METRICS = {"hash_join": ("throughput_mrec_s", "ewb_pages"),
                   "enclave_build": ("build_time_s",)}


@dataclass(frozen=True)
class CorpusPoint:
    """One published point of a series."""

    series: str
    x: str
    value: float
    unit: str
    note: str
    assignments: tuple[str, ...]
    line: int

    @property
    def is_input(self) -> bool:
        """The point set a scenario input: shown, not scored."""
        return self.note.strip().lower().startswith("input")

    @property
    def x_value(self) -> float:
        """The x label as a number (NaN for a categorical x such as a call mode)."""
        try:
            return float(self.x)
        except ValueError:
            return math.nan


@dataclass(frozen=True)
class CorpusSeries:
    """One published series with its provenance and how the model predicts it."""

    series: str
    split: str
    categories: tuple[str, ...]
    kind: str
    scenario: Path
    x_param: str
    x_unit: str
    metric: str
    native_metric: str
    citation: str
    hardware: str
    clock_ghz: float  # NaN where the source does not state it
    software: str
    measured: str
    confidence: str
    notes: str
    predictor: str
    predictor_args: dict[str, float]
    compare: str
    scale: float
    line: int
    points: tuple[CorpusPoint, ...] = field(default=())

    @property
    def needs_native(self) -> bool:
        return self.compare in ("sgx_over_native", "native_over_sgx")


def default_corpus_dir() -> Path:
    """``validation/corpus`` in the working folder if present, else beside the package."""
    here = Path("validation") / "corpus"
    if (here / "series.csv").is_file():
        return here
    return Path(__file__).resolve().parents[2] / "validation" / "corpus"


def _read_csv(path: Path, columns: Sequence[str], required: Sequence[str]
              ) -> list[tuple[int, dict[str, str]]]:
    try:
        size = path.stat().st_size
        if size > MAX_CSV_BYTES:
            raise EpcsimError(f"{path}: {size} bytes; a corpus file is at most "
                              f"{MAX_CSV_BYTES // 2**20} MiB")
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise EpcsimError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise EpcsimError(f"{path}: not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = [c.strip() for c in next(reader)]
    except StopIteration:
        raise EpcsimError(f"{path}: empty file (expected the header "
                          f"{','.join(columns)})") from None
    unknown = [c for c in header if c not in columns]
    missing = [c for c in required if c not in header]
    if unknown or missing:
        raise EpcsimError(f"{path}:1: bad header: "
                          + (f"unknown column(s) {', '.join(unknown)}; " if unknown else "")
                          + (f"missing {', '.join(missing)}; " if missing else "")
                          + f"expected {','.join(columns)}")
    rows = []
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        if len(row) != len(header):
            raise EpcsimError(f"{path}:{line}: expected {len(header)} fields, found {len(row)}")
        rec = {c: "" for c in columns}
        rec.update({h: v.strip() for h, v in zip(header, row, strict=True)})
        rows.append((line, rec))
    return rows


def _number(path: Path, line: int, column: str, text: str, *, positive: bool = True) -> float:
    try:
        value = float(text)
    except ValueError:
        raise EpcsimError(f"{path}:{line}: {column}: expected a number, found {text!r}") \
            from None
    if not math.isfinite(value) or (positive and value <= 0):
        raise EpcsimError(f"{path}:{line}: {column}: expected a finite number > 0, "
                          f"found {text!r}")
    return value


def _predictor(path: Path, line: int, text: str) -> tuple[str, dict[str, float]]:
    name, _, rest = (text or "run").partition(":")
    if name not in PREDICTORS:
        raise EpcsimError(f"{path}:{line}: predictor: expected one of {', '.join(PREDICTORS)} "
                          f"(optionally with ':key=value,...'), found {text!r}")
    args: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise EpcsimError(f"{path}:{line}: predictor: expected key=value, found {item!r}")
        args[key.strip()] = _number(path, line, f"predictor {key.strip()}", value.strip())
    if name == "hash_join" and "probe_mib" not in args:
        raise EpcsimError(f"{path}:{line}: predictor: hash_join needs probe_mib=... "
                          f"(the probe table in MiB)")
    return name, args


def load_corpus(folder: str | Path | None = None) -> list[CorpusSeries]:
    """Read and check ``series.csv`` and ``points.csv`` of the corpus in ``folder``.

    Raises :class:`~epcsim.errors.EpcsimError` with file:line on any bad row: unknown split,
    kind, category, compare or predictor; a scenario file that does not exist; a point of an
    unknown series; a series without points; values that are not positive numbers."""
    root = Path(folder) if folder is not None else default_corpus_dir()
    spath, ppath = root / "series.csv", root / "points.csv"
    series: dict[str, CorpusSeries] = {}
    for line, rec in _read_csv(spath, SERIES_COLUMNS, SERIES_COLUMNS[:16]):
        name = rec["series"]
        where = f"{spath}:{line}"
        if not name or name in series:
            raise EpcsimError(f"{where}: series: {'empty' if not name else 'repeated'} id "
                              f"{name!r}")
        if rec["split"] not in SPLITS:
            raise EpcsimError(f"{where}: split: expected fit or test, found {rec['split']!r}")
        if rec["kind"] not in KINDS:
            raise EpcsimError(f"{where}: kind: expected absolute or ratio, found "
                              f"{rec['kind']!r}")
        cats = tuple(c.strip() for c in rec["category"].split(";") if c.strip())
        bad = [c for c in cats if c not in CATEGORIES]
        if not cats or bad:
            raise EpcsimError(f"{where}: category: expected ';'-separated names from "
                              f"{', '.join(CATEGORIES)}, found {rec['category']!r}")
        compare = rec["compare"] or "value"
        if compare not in COMPARES:
            raise EpcsimError(f"{where}: compare: expected one of {', '.join(COMPARES)}, "
                              f"found {compare!r}")
        predictor, args = _predictor(spath, line, rec["predictor"])
        if predictor in HARNESS_METRICS and rec["metric"] not in HARNESS_METRICS[predictor]:
            raise EpcsimError(f"{where}: metric: the {predictor} predictor gives "
                              f"{', '.join(HARNESS_METRICS[predictor])}, found "
                              f"{rec['metric']!r}")
        if compare in ("sgx_over_native", "native_over_sgx") and not rec["native_metric"]:
            raise EpcsimError(f"{where}: native_metric: compare={compare} needs the native "
                              f"run's metric")
        scenario = (root / rec["scenario"]).resolve()
        if not scenario.is_file():
            raise EpcsimError(f"{where}: scenario: {rec['scenario']!r} not found (relative "
                              f"to {root})")
        series[name] = CorpusSeries(
            series=name, split=rec["split"], categories=cats, kind=rec["kind"],
            scenario=scenario, x_param=rec["x_param"], x_unit=rec["x_unit"],
            metric=rec["metric"], native_metric=rec["native_metric"],
            citation=rec["citation"], hardware=rec["hardware"],
            clock_ghz=(_number(spath, line, "clock_ghz", rec["clock_ghz"])
                       if rec["clock_ghz"] else math.nan),
            software=rec["software"], measured=rec["measured"],
            confidence=rec["confidence"], notes=rec["notes"], predictor=predictor,
            predictor_args=args, compare=compare,
            scale=_number(spath, line, "scale", rec["scale"]) if rec["scale"] else 1.0,
            line=line)
    points: dict[str, list[CorpusPoint]] = {name: [] for name in series}
    for line, rec in _read_csv(ppath, POINT_COLUMNS, POINT_COLUMNS[:4]):
        name = rec["series"]
        if name not in series:
            import difflib

            close = difflib.get_close_matches(name, list(series), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise EpcsimError(f"{ppath}:{line}: series: {name!r} is not in series.csv{hint}")
        assignments = tuple(a.strip() for a in rec["set"].split(";") if a.strip())
        for a in assignments:
            if "=" not in a:
                raise EpcsimError(f"{ppath}:{line}: set: expected key=value assignments "
                                  f"separated by ';', found {a!r}")
        points[name].append(CorpusPoint(
            series=name, x=rec["x"], value=_number(ppath, line, "value", rec["value"]),
            unit=rec["unit"], note=rec["note"], assignments=assignments, line=line))
    out = []
    for name, s in series.items():
        if not points[name]:
            raise EpcsimError(f"{spath}:{s.line}: series {name!r} has no points in "
                              f"points.csv")
        out.append(dataclasses.replace(s, points=tuple(points[name])))
    return out
