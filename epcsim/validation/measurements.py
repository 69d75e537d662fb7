"""Measured counters from a real SGX application: call profiles and EPC counters.

Two CSV formats (docs/measurements.md has the columns, units and examples):

- **Call profile** (what SGX profilers such as sgx-perf record per ECALL/OCALL):
  ``call_type`` (``ecall`` or ``ocall``), ``name``, ``count`` (calls in the profiled
  interval), ``total_time_s`` (seconds spent in those calls, summed). From a profile and the
  number of requests served in the same interval, :func:`operation_skeleton` derives a
  scenario's operation section: ECALLs and OCALLs per request, host time per OCALL
  (total OCALL time / OCALL count: the untrusted side's time, which a profiler measures
  outside the enclave) and the in-enclave time per request (ECALL time minus the OCALL time
  nested in it, per request). Assumption: OCALLs are nested in the ECALLs (the usual SDK
  shape); the skeleton says so in its comments.
- **EPC counters** (sampled from the SGX driver, e.g. an instrumented driver's EWB/ELDU
  counts, or ``sgx_nr_free_pages``): ``t_s`` (sample time, seconds, increasing),
  ``pages_evicted`` (cumulative EWB count), and optionally ``pages_loaded`` (cumulative ELDU
  count) and ``free_pages`` (free EPC pages at the sample). :class:`EpcCounters` gives the
  rates over the interval, usable as calibration targets (``epc_evictions_per_s``,
  ``epc_faults_per_s``).

Every row is checked; all problems of a file are raised together as one
:class:`~epcsim.errors.ScenarioError` with file, line, column, expected and found (the CLI
exits 2). Files are read as text only (no pickle, no eval).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from epcsim.errors import EpcsimError, Problem, ScenarioError
from epcsim.traces.files import csv_cells, read_text

#: Largest measurement file read (bytes).
MAX_FILE_BYTES = 64 * 1024 * 1024

CALL_PROFILE_COLUMNS = ("call_type", "name", "count", "total_time_s")
EPC_COUNTER_COLUMNS = ("t_s", "pages_evicted")
EPC_COUNTER_OPTIONAL = ("pages_loaded", "free_pages")


@dataclass(frozen=True)
class CallRecord:
    """One row of a call profile: ``count`` calls of ``name`` taking ``total_time_s``."""

    call_type: str
    name: str
    count: int
    total_time_s: float
    line: int


@dataclass(frozen=True)
class CallProfile:
    """A parsed call profile (rows in file order)."""

    path: str
    records: tuple[CallRecord, ...]

    def total(self, call_type: str) -> tuple[int, float]:
        """(calls, seconds) summed over rows of ``call_type``."""
        rows = [r for r in self.records if r.call_type == call_type]
        return sum(r.count for r in rows), math.fsum(r.total_time_s for r in rows)


@dataclass(frozen=True)
class EpcCounters:
    """EPC counter samples. Arrays are tuples of equal length (one entry per sample)."""

    path: str
    t_s: tuple[float, ...]
    pages_evicted: tuple[float, ...]
    pages_loaded: tuple[float, ...] | None
    free_pages: tuple[float, ...] | None

    @property
    def interval_s(self) -> float:
        return self.t_s[-1] - self.t_s[0]

    def eviction_rate_per_s(self) -> float:
        """EWBs per second over the whole interval (the model's ``epc_evictions_per_s``)."""
        return (self.pages_evicted[-1] - self.pages_evicted[0]) / self.interval_s

    def load_rate_per_s(self) -> float | None:
        """ELDUs per second (each is a fault: the model's ``epc_faults_per_s``), if given."""
        if self.pages_loaded is None:
            return None
        return (self.pages_loaded[-1] - self.pages_loaded[0]) / self.interval_s


def _read_rows(path: str | Path, required: tuple[str, ...],
               optional: tuple[str, ...] = ()) -> tuple[list[tuple[int, dict[str, str]]],
                                                        list[str]]:
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise EpcsimError(f"{p}: cannot read ({exc.strerror})") from None
    if size > MAX_FILE_BYTES:
        raise EpcsimError(f"{p}: {size:,} bytes, larger than the {MAX_FILE_BYTES // 2**20} MiB "
                          "a measurement CSV may have; refused without reading it")
    text = read_text(p, "measurement CSV")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise ScenarioError([Problem("the file is empty", file=str(p),
                                     expected="a header: " + ",".join(required))])
    header_line, header_text = lines[0]
    header = csv_cells(header_text, p, header_line)
    missing = [c for c in required if c not in header]
    unknown = [c for c in header if c not in required and c not in optional]
    problems = []
    if missing:
        problems.append(Problem("missing columns", file=str(p), line=header_line,
                                expected=", ".join(required + optional),
                                found=", ".join(header)))
    if unknown:
        problems.append(Problem(f"unknown columns {', '.join(unknown)}", file=str(p),
                                line=header_line,
                                expected=", ".join(required + optional)))
    if problems:
        raise ScenarioError(problems)
    rows = []
    for n, line in lines[1:]:
        cells = csv_cells(line, p, n)
        if len(cells) != len(header):
            problems.append(Problem("wrong number of cells", file=str(p), line=n,
                                    expected=f"{len(header)} ({','.join(header)})",
                                    found=str(len(cells))))
            continue
        rows.append((n, dict(zip(header, cells, strict=True))))
    if problems:
        raise ScenarioError(problems)
    if not rows:
        raise ScenarioError([Problem("no data rows", file=str(p), line=header_line)])
    return rows, header


def _number(text: str, *, path: str, line: int, column: str, problems: list[Problem],
            integer: bool = False, minimum: float = 0.0) -> float | None:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    ok = math.isfinite(value) and value >= minimum and (not integer or value == int(value))
    if not ok:
        problems.append(Problem("bad value", file=path, line=line, key_path=column,
                                expected=("a whole number" if integer else "a number")
                                + f" >= {minimum:g}", found=repr(text)))
        return None
    return value


def read_call_profile(path: str | Path) -> CallProfile:
    """Read and check a call-profile CSV (columns :data:`CALL_PROFILE_COLUMNS`)."""
    rows, _ = _read_rows(path, CALL_PROFILE_COLUMNS)
    problems: list[Problem] = []
    out = []
    p = str(path)
    for n, row in rows:
        kind = row["call_type"].lower()
        if kind not in ("ecall", "ocall"):
            problems.append(Problem("unknown call type", file=p, line=n, key_path="call_type",
                                    expected="ecall or ocall", found=repr(row["call_type"])))
        if not row["name"]:
            problems.append(Problem("empty call name", file=p, line=n, key_path="name",
                                    expected="the ECALL/OCALL function name"))
        count = _number(row["count"], path=p, line=n, column="count", problems=problems,
                        integer=True)
        total = _number(row["total_time_s"], path=p, line=n, column="total_time_s",
                        problems=problems)
        if count is not None and total is not None and count == 0 and total > 0:
            problems.append(Problem("time without calls", file=p, line=n,
                                    key_path="total_time_s", expected="0 when count is 0",
                                    found=row["total_time_s"]))
        if count is not None and total is not None:
            out.append(CallRecord(kind, row["name"], int(count), total, n))
    if problems:
        raise ScenarioError(problems)
    if not any(r.call_type == "ecall" and r.count > 0 for r in out):
        raise ScenarioError([Problem("the profile has no ECALLs", file=p,
                                     expected="at least one ecall row with count > 0")])
    return CallProfile(p, tuple(out))


def read_epc_counters(path: str | Path) -> EpcCounters:
    """Read and check an EPC counter CSV (columns ``t_s, pages_evicted`` and optionally
    ``pages_loaded``, ``free_pages``): times increase, cumulative counters never decrease."""
    rows, header = _read_rows(path, EPC_COUNTER_COLUMNS, EPC_COUNTER_OPTIONAL)
    p = str(path)
    problems: list[Problem] = []
    cols: dict[str, list[float]] = {c: [] for c in header}
    for n, row in rows:
        values = {}
        for c in header:
            v = _number(row[c], path=p, line=n, column=c, problems=problems,
                        integer=c != "t_s")
            if v is not None:
                values[c] = v
        if len(values) != len(header):
            continue
        for c in header:
            prev = cols[c][-1] if cols[c] else None
            if prev is not None and c == "t_s" and values[c] <= prev:
                problems.append(Problem("times must increase", file=p, line=n, key_path=c,
                                        expected=f"> {prev:g}", found=row[c]))
            if prev is not None and c in ("pages_evicted", "pages_loaded") and values[c] < prev:
                problems.append(Problem("a cumulative counter went down", file=p, line=n,
                                        key_path=c, expected=f">= {prev:g}",
                                        found=row[c],
                                        suggestion="give cumulative counts, not per-interval "
                                                   "counts"))
            cols[c].append(values[c])
    if problems:
        raise ScenarioError(problems)
    if len(cols["t_s"]) < 2:
        raise ScenarioError([Problem("need at least two samples", file=p,
                                     expected="2 or more rows", found=str(len(cols["t_s"])))])
    return EpcCounters(
        path=p, t_s=tuple(cols["t_s"]), pages_evicted=tuple(cols["pages_evicted"]),
        pages_loaded=tuple(cols["pages_loaded"]) if "pages_loaded" in cols else None,
        free_pages=tuple(cols["free_pages"]) if "free_pages" in cols else None)


def operation_skeleton(profile: CallProfile, requests: int, *,
                       name: str = "request") -> dict[str, object]:
    """An operation for a scenario's ``workload.operations`` from a profile of ``requests``
    requests: ``{name, ecalls, ocalls, ocall_host_time, compute}`` (times as strings with
    units). ``compute`` is the in-enclave time per request (ECALL time - OCALL time); it
    still contains the transitions and any paging of the profiled machine, so it is an upper
    bound for the pure compute (docs/measurements.md)."""
    if requests < 1:
        raise EpcsimError(f"--requests: expected an integer >= 1, found {requests}")
    n_ecall, t_ecall = profile.total("ecall")
    n_ocall, t_ocall = profile.total("ocall")
    host_s = t_ocall / n_ocall if n_ocall else 0.0
    inside_s = max(0.0, t_ecall - t_ocall) / requests
    op: dict[str, object] = {
        "name": name,
        "ecalls": max(1, round(n_ecall / requests)),
        "ocalls": round(n_ocall / requests),
    }
    if op["ocalls"]:
        op["ocall_host_time"] = f"{host_s * 1e6:.4g} us"
    op["compute"] = f"{inside_s * 1e6:.4g} us"
    return op


def skeleton_yaml(profile: CallProfile, requests: int, *, name: str = "request") -> str:
    """The operation skeleton as commented YAML, ready to paste under
    ``workload: operations:``."""
    op = operation_skeleton(profile, requests, name=name)
    n_ecall, t_ecall = profile.total("ecall")
    n_ocall, t_ocall = profile.total("ocall")
    lines = [
        f"# From {profile.path}: {n_ecall} ECALLs ({t_ecall:.6g} s), {n_ocall} OCALLs "
        f"({t_ocall:.6g} s) for {requests} requests.",
        "# Per call (count, mean time):",
    ]
    for r in profile.records:
        mean = r.total_time_s / r.count if r.count else 0.0
        lines.append(f"#   {r.call_type} {r.name}: {r.count} calls, {mean * 1e6:.4g} us each "
                     f"({r.count / requests:.3g} per request)")
    lines += [
        "# Assumes the OCALLs are made from inside the ECALLs (nested), so compute = (ECALL",
        "# time - OCALL time) / requests; it still includes transitions and paging of the",
        "# profiled machine. Add `memory:` accesses by hand (docs/scenarios.md).",
        "operations:",
        f"  - name: {op['name']}",
        f"    ecalls: {op['ecalls']}                  # ECALLs per request",
        f"    ocalls: {op['ocalls']}                  # OCALLs per request",
    ]
    if "ocall_host_time" in op:
        lines.append(f"    ocall_host_time: {op['ocall_host_time']}   # untrusted time per OCALL")
    lines.append(f"    compute: {op['compute']}           # in-enclave time per request")
    return "\n".join(lines) + "\n"
