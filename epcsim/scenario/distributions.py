"""Service-time distributions in the scenario format.

An operation's ``compute`` and ``ocall_host_time`` take either a plain quantity (fixed) or a
mapping ``{dist: fixed|exponential|lognormal|gamma|uniform, mean: ..., cv: ...}`` (``low`` and
``high`` instead of ``mean`` for ``uniform``), or ``{dist: empirical, file: samples.csv,
unit: us}``. :func:`split_distribution` turns such a mapping into the plain mean (which the
field keeps) and a :class:`DistShape` (kept in ``compute_dist`` / ``ocall_host_time_dist``):
the shape as a multiplier of the mean, which :mod:`epcsim.model.servicetime` draws.

An empirical file is read here once, bounded (:data:`MAX_SAMPLE_BYTES`,
:data:`MAX_SAMPLES`), checked (one non-negative number per line, the first column of a CSV,
one header line allowed), and its SHA-256 is stored in the shape, so the run key changes when
the file's content changes (not only its path).
"""
from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field

from epcsim import units
from epcsim.scenario.fields import INPUT_FILE, _fail, _Spec
from epcsim.units import UnitError

#: Largest empirical sample file read (bytes) and most samples kept.
MAX_SAMPLE_BYTES = 64 * 1024 * 1024
MAX_SAMPLES = 5_000_000

DistName = Literal["fixed", "exponential", "lognormal", "gamma", "uniform", "empirical"]


class DistShape(_Spec):
    """The shape of a service-time quantity (set from `{dist: ...}` on `compute` or
    `ocall_host_time`; rarely written by hand)."""

    dist: DistName = Field(description="`fixed`, `exponential`, `lognormal`, `gamma`, "
                                       "`uniform` or `empirical`.")
    cv: float = Field(0.0, ge=0, le=100, description="Coefficient of variation (lognormal, "
                                                     "gamma).")
    low_ratio: float = Field(1.0, ge=0, description="Uniform: low / mean.")
    high_ratio: float = Field(1.0, ge=0, description="Uniform: high / mean.")
    file: Annotated[str | None, INPUT_FILE] = Field(
        None, description="Empirical: the sample file (absolute).")
    unit: Literal["s", "ms", "us", "ns", "cycles"] = Field(
        "s", description="Empirical: unit of the file's numbers.")
    sha256: str | None = Field(None, description="Empirical: SHA-256 of the file's content "
                                                 "(part of the run key).")


def read_samples(path: str, where: str) -> list[float]:
    """Non-negative numbers from a CSV/text file, one per line (first column; one header line
    allowed). Raises a validation error naming ``where`` on anything else."""
    try:
        size = os.path.getsize(path)
        if size > MAX_SAMPLE_BYTES:
            raise _fail("file", f"{where}: sample file too large", expected=f"at most "
                        f"{MAX_SAMPLE_BYTES // 2**20} MiB", found=f"{size} bytes")
        with open(path, encoding="utf-8") as fh:
            lines = fh.read(MAX_SAMPLE_BYTES).splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail("file", f"{where}: cannot read the sample file", expected="a readable "
                    "UTF-8 text file", found=str(exc)) from None
    values: list[float] = []
    for number, line in enumerate(lines, start=1):
        text = line.split(",")[0].strip()
        if not text or text.startswith("#"):
            continue
        try:
            value = float(text)
        except ValueError:
            if not values and number == 1:
                continue  # a header
            raise _fail("file", f"{path}:{number}: not a number", expected="one number per "
                        "line", found=text[:40]) from None
        if not math.isfinite(value) or value < 0:
            raise _fail("file", f"{path}:{number}: sample out of range", expected="a finite "
                        "number >= 0", found=text[:40])
        values.append(value)
        if len(values) > MAX_SAMPLES:
            raise _fail("file", f"{where}: too many samples", expected=f"at most "
                        f"{MAX_SAMPLES}", found=f"more than {MAX_SAMPLES}")
    if not values or sum(values) <= 0:
        raise _fail("file", f"{where}: no positive sample", expected="at least one sample "
                    "> 0", found=f"{len(values)} samples")
    return values


def _file_hash(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(MAX_SAMPLE_BYTES + 1))
    return h.hexdigest()


_KEYS = {"dist", "mean", "cv", "low", "high", "file", "unit"}


def split_distribution(spec: dict[str, Any], parse: Callable[[object], tuple[str, float]],
                       base_dir: str | None, where: str
                       ) -> tuple[tuple[str, float], dict[str, Any]]:
    """((unit kind, mean), the DistShape data) of a ``{dist: ...}`` mapping.

    ``parse`` turns a quantity into ``(kind, value)``, kind being ``"cycles"`` or ``"time"``
    (seconds); the mean comes back the same way."""
    unknown = set(spec) - _KEYS
    if unknown:
        raise _fail("distribution", f"unknown key {sorted(unknown)[0]!r}",
                    expected="dist, mean, cv, low, high, file, unit", found=sorted(unknown))
    dist = spec.get("dist")
    if dist not in ("fixed", "exponential", "lognormal", "gamma", "uniform", "empirical"):
        raise _fail("distribution", "unknown distribution", expected="fixed, exponential, "
                    "lognormal, gamma, uniform or empirical", found=dist)

    def back(kind: str, value: float) -> tuple[str, float]:
        return kind, value

    shape: dict[str, Any] = {"dist": dist}
    if dist == "empirical":
        for k in ("mean", "cv", "low", "high"):
            if k in spec:
                raise _fail("distribution", f"`empirical` takes no `{k}`: the file gives the "
                            "shape and the mean", expected="file (and unit)", found=k)
        file = spec.get("file")
        if not isinstance(file, str) or not file:
            raise _fail("distribution", "`empirical` needs `file`", expected="a sample file",
                        found=file)
        path = file if os.path.isabs(file) or base_dir is None else os.path.join(base_dir, file)
        path = os.path.normpath(os.path.abspath(path))
        if not os.path.isfile(path):
            raise _fail("file", "sample file not found", expected="an existing file (relative "
                        "to the scenario file)", found=file)
        unit = spec.get("unit", "s")
        if unit not in ("s", "ms", "us", "ns", "cycles"):
            raise _fail("distribution", "unknown unit", expected="s, ms, us, ns or cycles",
                        found=unit)
        values = read_samples(path, where)
        mean = math.fsum(values) / len(values)
        shape.update(file=path, unit=unit, sha256=_file_hash(path))
        if unit == "cycles":
            return back("cycles", mean), shape
        scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}[unit]
        return back("time", mean * scale), shape
    for k in ("file", "unit"):
        if k in spec:
            raise _fail("distribution", f"`{k}` belongs to `empirical`", expected="mean, cv "
                        "(or low, high)", found=k)
    if dist == "uniform":
        if "low" not in spec or "high" not in spec or "mean" in spec or "cv" in spec:
            raise _fail("distribution", "`uniform` takes `low` and `high`",
                        expected="{dist: uniform, low, high}", found=sorted(spec))
        (k_lo, lo), (k_hi, hi) = parse(spec["low"]), parse(spec["high"])
        if k_lo != k_hi:
            raise _fail("distribution", "`low` and `high` must be in the same kind of unit",
                        expected="both cycles or both times", found=f"{k_lo}, {k_hi}")
        if not 0 <= lo <= hi:
            raise _fail("distribution", "`uniform` needs 0 <= low <= high",
                        expected="low <= high", found=f"{lo!r}, {hi!r}")
        mean = (lo + hi) / 2
        if mean > 0:
            shape.update(low_ratio=lo / mean, high_ratio=hi / mean)
        return back(k_lo, mean), shape
    if "low" in spec or "high" in spec:
        raise _fail("distribution", "`low`/`high` belong to `uniform`",
                    expected="mean (and cv)", found=sorted(spec))
    if "mean" not in spec:
        raise _fail("distribution", f"`{dist}` needs `mean`", expected="a mean (`50000 "
                    "cycles`, `10 us`)", found="no mean")
    kind, mean = parse(spec["mean"])
    cv = spec.get("cv")
    if dist in ("lognormal", "gamma"):
        if not isinstance(cv, int | float) or isinstance(cv, bool) or not 0 < cv <= 100:
            raise _fail("distribution", f"`{dist}` needs `cv` (std / mean) > 0",
                        expected="a number in (0, 100]", found=cv)
        shape["cv"] = float(cv)
    elif cv is not None:
        fixed_cv = 1.0 if dist == "exponential" else 0.0
        if cv != fixed_cv:
            raise _fail("distribution", f"`{dist}` has cv {fixed_cv:g}", expected=f"no cv, or "
                        f"{fixed_cv:g}", found=cv)
        shape["cv"] = fixed_cv
    elif dist == "exponential":
        shape["cv"] = 1.0
    return back(kind, mean), shape


def parse_time_quantity(v: object) -> tuple[str, float]:
    """``("time", seconds)`` of a time quantity (for ``ocall_host_time``)."""
    try:
        return "time", units.parse_time(v)
    except UnitError as exc:
        raise _fail("quantity", exc.reason, expected=exc.expected, found=exc.found) from None
