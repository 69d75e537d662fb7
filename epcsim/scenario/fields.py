"""Building blocks of the scenario format: limits, quantities with units, safe names and the
strict base class every section derives from.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from epcsim import units
from epcsim.units import UnitError

# ---- limits (absurd magnitudes are refused with a clear message, not an out-of-memory) ----

#: Largest enclave or region size accepted: 1 TiB.
MAX_SIZE_BYTES = 1024**4
#: Largest TCS (thread) count of one enclave.
MAX_THREADS = 4096
#: Enclave threads per vCPU above which a scenario is refused (see checks.cross_check).
MAX_THREADS_PER_VCPU = 256
#: Longest simulated duration: one week.
MAX_DURATION_S = 7 * 24 * 3600.0
#: Highest arrival rate: 10^9 operations per second.
MAX_RATE_PER_S = 1e9
#: Most replications of one run.
MAX_REPLICATIONS = 10_000
#: Most closed-loop clients (each costs about 5 KB; ``simulation.max_operations`` also bounds
#: them).
MAX_CLIENTS = 100_000
#: Default of ``simulation.max_operations``: most operations one run may simulate (about
#: 2 GB and 30 s of simulation).
DEFAULT_MAX_OPERATIONS = 1_000_000
#: Highest ``simulation.max_operations`` a scenario may set.
MAX_OPERATIONS_LIMIT = 1_000_000_000
#: Most switchless workers per enclave.
MAX_SWITCHLESS_WORKERS = 1024
#: Most ECALLs or OCALLs per operation.
MAX_CALLS_PER_OP = 1_000_000
#: Most sweep points (the cartesian product of all sweep lists).
MAX_SWEEP_POINTS = 10_000
#: Largest cycle count of one quantity (10^15 cycles: days at 4 GHz).
MAX_CYCLES = 1e15

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _fail(kind: str, message: str, *, expected: str, found: object,
          suggestion: str | None = None) -> PydanticCustomError:
    """A validation error whose context carries the Problem fields."""
    text = repr(found)
    if len(text) > 60:
        text = text[:57] + "..."
    return PydanticCustomError(kind, message, {
        "expected": expected, "found": text, "suggestion": suggestion or ""})


@dataclass(frozen=True)
class Quantity:
    """Annotated marker: a quantity of ``kind`` (see :mod:`epcsim.units`) with bounds.

    Validation parses the text into base units (or into ``unit`` when given: a bare number is
    then taken in ``unit``) and checks ``gt``/``ge``/``le`` (in the same unit), naming the
    bound in words. ``docgen`` and the JSON schema read ``kind`` and the bounds.
    """

    kind: str
    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    unit: str | None = None
    integer: bool = False
    expected: str | None = None
    #: A bare number is fine in a file too: the YAML key names the unit (``ecall_bytes_in``).
    bare_ok: bool = False

    def parse(self, value: object) -> float | int:
        try:
            if self.unit is not None and self.kind == "bytes":
                x: float | int = units.parse_bytes(value, unit=self.unit)
            elif self.unit is not None and self.kind == "time":
                x = units.parse_time(value, unit=self.unit)
            elif self.unit is not None and self.kind == "frequency":
                x = units.parse_frequency(value, unit=self.unit)
            else:
                x = units.parse_quantity(value, self.kind)
        except UnitError as exc:
            raise PydanticCustomError("quantity", "{reason}", {
                "reason": exc.reason, "expected": self.expected or exc.expected,
                "found": exc.found, "suggestion": exc.suggestion or ""}) from None
        if isinstance(x, float) and not math.isfinite(x):
            raise _fail("quantity", "not a finite number", expected=self.bounds_text(),
                        found=value)
        if self.gt is not None and not x > self.gt:
            raise PydanticCustomError("too_small", "must be more than {bound}", {
                "bound": self.fmt(self.gt), "expected": self.bounds_text(),
                "found": _short(value), "suggestion": ""})
        if self.ge is not None and not x >= self.ge:
            raise PydanticCustomError("too_small", "must be at least {bound}", {
                "bound": self.fmt(self.ge), "expected": self.bounds_text(),
                "found": _short(value), "suggestion": ""})
        if self.le is not None and not x <= self.le:
            message = ("refused: larger than the limit of {bound}" if self.kind == "bytes"
                       and self.unit is None else "must be at most {bound}")
            raise PydanticCustomError("too_large", message, {
                "bound": self.fmt(self.le), "expected": self.bounds_text(),
                "found": _short(value), "suggestion": ""})
        if self.integer:
            if float(x) != int(x):
                raise _fail("quantity", "not a whole number", expected=self.bounds_text(),
                            found=value)
            return int(x)
        return x

    def fmt(self, x: float) -> str:
        if self.unit is not None:
            return f"{x:g} {self.unit}"
        if self.kind in ("bytes",):
            return units.format_bytes(int(x))
        if self.kind == "fraction":
            return f"{x:g}"
        return units.format_quantity(x, self.kind)

    def bounds_text(self) -> str:
        if self.expected is not None:
            return self.expected
        base = {
            "bytes": "a size such as '4 KiB' or '93 MiB'",
            "time": "a time such as '2.5 us', '5 ms' or '10 s'",
            "cycles": "a cycle count such as 8200 or '8200 cycles'",
            "rate": "a rate such as '20000/s' or '20k/s'",
            "frequency": "a frequency such as '3.7 GHz'",
            "fraction": "a fraction such as 0.25 or '25%'",
            "pages": "a page count such as 256 or '1 MiB'",
            "count": "a whole number",
        }[self.kind]
        if self.unit is not None:
            base = f"a number in {self.unit} or {base}"
        parts = []
        if self.gt is not None:
            parts.append(f"> {self.fmt(self.gt)}")
        if self.ge is not None:
            parts.append(f">= {self.fmt(self.ge)}")
        if self.le is not None:
            parts.append(f"<= {self.fmt(self.le)}")
        return base + (f" ({', '.join(parts)})" if parts else "")

    @property
    def unit_required(self) -> bool:
        """A bare number is refused in a scenario file: a time or a byte size whose YAML key
        does not name its unit (``duration: 10`` could mean 10 s or 10 ms; ``size: 100`` 100
        bytes or 100 MiB). Zero needs no unit."""
        return self.unit is None and not self.bare_ok and self.kind in UNIT_REQUIRED_KINDS

    def _validate(self, value: object, info: core_schema.ValidationInfo) -> float | int:
        if self.unit_required and units_required(info):
            refuse_bare_number(value, self.kind)
        return self.parse(value)

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.with_info_before_validator_function(self._validate, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        number: dict[str, Any] = {"type": "integer" if self.integer or (self.kind in (
            "bytes", "pages", "count") and self.unit is None) else "number"}
        if self.ge is not None:
            number["minimum"] = self.ge
        if self.gt is not None:
            number["exclusiveMinimum"] = self.gt
        if self.le is not None:
            number["maximum"] = self.le
        return {"anyOf": [number, {"type": "string", "description": self.bounds_text()}]}


#: Kinds whose bare numbers a scenario file may not use (see :attr:`Quantity.unit_required`).
UNIT_REQUIRED_KINDS = ("time", "bytes")
#: Validation-context key set by the loader for scenario files (and their ``--set``
#: overrides): bare times and sizes are refused. A mapping given from Python keeps the base
#: units (seconds, bytes), as docs/api.md says.
UNITS_REQUIRED = "units_required"
_UNIT_EXAMPLES = {
    "time": ("a time with its unit", "{n} s", "{n} ms", "{n} us"),
    "bytes": ("a size with its unit", "{n} MiB", "{n} KiB", "{n} B"),
    "cycles": ("cycles or a time with its unit", "{n} cycles", "{n} us", "{n} ms"),
}
_BARE_NUMBER = re.compile(r"^\s*[+-]?(?:\d+(?:_\d+)*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$")


def units_required(info: Any) -> bool:
    """Whether the validation context asks for units (a scenario file, not a mapping)."""
    context = getattr(info, "context", None)
    return bool(context and context.get(UNITS_REQUIRED))


def refuse_bare_number(value: object, kind: str) -> None:
    """Raise a located-message error when ``value`` is a number without a unit (not zero),
    naming the right forms: ``duration: 10`` -> "write '10 s', '10 ms' or '10 us'"."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str) and _BARE_NUMBER.match(value):
        try:
            number = float(value.replace("_", ""))
        except ValueError:
            return
    else:
        return
    if number == 0:
        return
    text = f"{number:g}" if isinstance(number, float) else str(number)
    what, *forms = _UNIT_EXAMPLES[kind]
    examples = [f.format(n=text) for f in forms]
    raise PydanticCustomError("unit_required", "a number without a unit", {
        "expected": what, "found": _short(value),
        "suggestion": f"write {examples[0]!r}, {examples[1]!r} or {examples[2]!r}: a bare "
                      "number's unit would be a guess"})


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# Quantity types used below. Python attribute names carry the unit; YAML keys do not.
SizeBytes = Annotated[int, Quantity("bytes", gt=0, le=MAX_SIZE_BYTES)]
TimeS = Annotated[float, Quantity("time", ge=0, le=MAX_DURATION_S)]
PositiveTimeS = Annotated[float, Quantity("time", gt=0, le=MAX_DURATION_S)]
Cycles = Annotated[float, Quantity("cycles", ge=0, le=MAX_CYCLES)]
RatePerS = Annotated[float, Quantity("rate", gt=0, le=MAX_RATE_PER_S)]
Fraction01 = Annotated[float, Quantity("fraction", ge=0, le=1)]
PositiveFraction01 = Annotated[float, Quantity("fraction", gt=0, le=1)]
Weight = Annotated[float, Quantity("fraction", gt=0, le=1e12,
                                   expected="a positive weight such as 3, 0.9 or '90%'")]
NonNegWeight = Annotated[float, Quantity("fraction", ge=0, le=1e12,
                                         expected="a weight >= 0 such as 3, 0.9 or '90%'")]
Count = Annotated[int, Quantity("count", ge=0, le=2**40)]
PositiveCount = Annotated[int, Quantity("count", ge=1, le=2**40)]


def _safe_name(value: str, what: str) -> str:
    if not _SAFE_NAME.match(value) or value in (".", ".."):
        raise _fail("name", "not a safe name for " + what,
                    expected="1-64 letters, digits, '.', '_' or '-', starting with a letter "
                             "or digit", found=value)
    return value


class InputFileMark:
    """Annotation marker of a scenario field that names an input file (a path string).

    Every such field enters the study's run keys by the SHA-256 of the file's bytes (see
    :func:`epcsim.scenario.plan.input_files`), so editing the file reruns the runs that read
    it. A new field that names a file must carry this marker (use ``TraceFile``)."""

    def __repr__(self) -> str:
        return "INPUT_FILE"


INPUT_FILE = InputFileMark()


class _Spec(BaseModel):
    """Common configuration: frozen, unknown keys refused, YAML keys are the aliases."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=False,
                              validate_default=False)


ItemName = Annotated[str, Field(min_length=1, max_length=64,
                                pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]

# ---- VM sizes ------------------------------------------------------------------------------

GiB = Annotated[float, Quantity("bytes", gt=0, le=1024**2, unit="GiB")]
MiB = Annotated[float, Quantity("bytes", gt=0, le=1024**3, unit="MiB")]
GHz = Annotated[float, Quantity("frequency", gt=0, le=20, unit="GHz")]


