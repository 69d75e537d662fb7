"""The scenario format as typed, validated, frozen specs (pydantic v2).

A scenario describes what to simulate: which VM sizes to evaluate (catalogue sizes, series,
``all``, or sizes the scenario defines itself), cost-parameter overrides, the enclaves in each
VM, the workload (arrival process, operation mix, memory regions and access patterns,
phases), simulation settings, service-level objectives and sweeps. See docs/scenarios.md,
which is generated from the ``description=`` of every field below (``epcsim.scenario.docgen``).

The YAML keys are the field *aliases* (``size``, ``rate``, ``duration``); the Python attribute
names carry their base unit (``size_bytes``, ``rate_per_s``, ``duration_s``). After validation
every quantity is in base units: bytes (int), seconds, core cycles, per second, Hz; fractions in
[0, 1]. Defaults live here and nowhere else.

Checks that involve one field live in the field types; checks across fields (an enclave larger
than a VM's memory, an access to a region the enclave does not have, warm-up longer than the
run...) live in one place, :func:`epcsim.scenario.checks.cross_check`, which the
:class:`Scenario` model runs after its fields validate. Assumption: a scenario's own numbers
are checked once here; the timing and memory stages trust them.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from epcsim import units
from epcsim.costs import default_costs
from epcsim.units import PAGE_BYTES, UnitError

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
#: Most closed-loop clients.
MAX_CLIENTS = 1_000_000
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

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.parse, handler(source))

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


class VmOverride(_Spec):
    """Fields of a VM size to change (catalogue or custom). Every field is optional."""

    series: str | None = Field(None, description="Series name shown in results.")
    vcpus: int | None = Field(None, ge=1, le=1024,
                              description="vCPUs (one physical core each on SGX sizes).")
    memory_gib: GiB | None = Field(None, description="VM memory, GiB (or a size: `16 GiB`).")
    epc_mib: MiB | None = Field(None, description="EPC the guest sees, MiB (or a size: "
                                                  "`168 MiB`, `64 GiB`).")
    cpu_model: str | None = Field(None, description="CPU model, for reports.")
    base_ghz: GHz | None = Field(None, description="Base clock, GHz (or `3.7 GHz`).")
    turbo_ghz: GHz | None = Field(None, description="Turbo clock, GHz (or `5 GHz`).")
    llc_mib: MiB | None = Field(None, description="Last-level cache, MiB (or `16 MiB`).")
    sgx_generation: Literal[1, 2] | None = Field(
        None, description="1: SGX1 (MEE with integrity tree); 2: SGX2 (TME-MK, EDMM).")
    memory_protection: str | None = Field(None, description="Memory protection, for reports.")
    temp_storage_gib: Annotated[float, Quantity("bytes", ge=0, le=1024**2, unit="GiB")] | None \
        = Field(None, description="Temporary disk, GiB.")
    max_data_disks: int | None = Field(None, ge=0, description="Data disks allowed.")
    whole_host: bool | None = Field(None, description="The size takes a whole host.")
    linux_usd_per_hour: float | None = Field(None, ge=0, le=1e6,
                                             description="Price, USD per hour (Linux).")
    price_as_of: str | None = Field(None, description="Date the price was read (ISO).")
    retires_on: str | None = Field(None, description="Retirement date (ISO), if announced.")
    sources: str | None = Field(None, description="Where the figures come from.")
    confidence: str | None = Field(None, description="How far the figures are verified.")

    @field_validator("price_as_of", "retires_on", mode="before")
    @classmethod
    def _date_text(cls, v: object) -> object:
        return v.isoformat() if hasattr(v, "isoformat") else v


class CustomVm(VmOverride):
    """A VM size the scenario defines: an on-premises SGX server or a future series.

    Either give every hardware field, or name a catalogue size in ``based_on`` and give only
    the fields that differ.
    """

    size: ItemName = Field(description="Name of the size (used in `vm.sizes`, results and "
                                        "reports). Must not clash with a catalogue size.")
    based_on: str | None = Field(None, description="Catalogue size whose fields this size "
                                                   "starts from (e.g. `DC4s_v3`).")


VmSelectionItem = Annotated[str, Field(min_length=1, max_length=100)]


def _vm_shorthand(v: object) -> object:
    if isinstance(v, str):
        return {"sizes": [v]}
    if isinstance(v, list):
        return {"sizes": v}
    return v


class VmSection(_Spec):
    """Which VM sizes to evaluate, sizes the scenario adds, and changes to catalogue sizes."""

    sizes: tuple[VmSelectionItem, ...] = Field(
        ("all",), min_length=1,
        description="Sizes to evaluate: size names (`DC4s_v2` or `Standard_DC4s_v2`, any "
                    "case), series names (`DCsv3`), custom size names, or `all` (every "
                    "catalogue and custom size). After validation: the expanded list of "
                    "size names, in the order given, without repeats. A plain list (or one "
                    "name) in place of the `vm` mapping means `sizes`.")
    clock: Literal["base", "turbo"] | None = Field(
        None, description="Same as `simulation.clock` (either place; they must agree). "
                          "After validation this is always empty: read `simulation.clock`.")
    custom: tuple[CustomVm, ...] = Field(
        (), description="VM sizes the scenario defines (same fields as the catalogue: "
                        "`epcsim catalog --json`).")
    overrides: dict[str, VmOverride] = Field(
        default_factory=dict,
        description="Per-size field overrides, keyed by size name, e.g. "
                    "`{DC4s_v2: {linux_usd_per_hour: 0.35}}`.")

    @model_validator(mode="after")
    def _resolve(self) -> VmSection:
        """Check the sizes and expand the selection (errors carry absolute key paths)."""
        from epcsim.scenario.problems import IssuesError
        from epcsim.scenario.vms import build_vm_table, expand_selection

        table, keymap, issues = build_vm_table(self)
        selected, more = expand_selection(self, table)
        issues.extend(more)
        if issues:
            raise IssuesError(issues)
        object.__setattr__(self, "sizes", tuple(selected))
        object.__setattr__(self, "overrides",
                           {keymap.get(k, k): v for k, v in self.overrides.items()})
        return self


# ---- enclaves ------------------------------------------------------------------------------


class Region(_Spec):
    """A named part of an enclave's address space (heap, table, index, code...)."""

    name: ItemName = Field(description="Region name, unique within its enclave.")
    size_bytes: SizeBytes = Field(alias="size", description="Region size (`64 MiB`). Rounded "
                                  "up to whole 4 KiB pages when laid out.")

    @property
    def size_pages(self) -> int:
        """Pages of the region (4 KiB each, rounded up)."""
        return -(-self.size_bytes // PAGE_BYTES)


class Enclave(_Spec):
    """One enclave: its committed size, threads, paging mechanism and memory regions."""

    name: ItemName = Field("enclave", description="Enclave name, unique in the scenario.")
    size_bytes: SizeBytes = Field(
        alias="size", description="Committed enclave size (`256 MiB`); at most 1 TiB. Must "
                                  "hold all its regions. Rounded up to whole 4 KiB pages.")
    threads: int = Field(1, ge=1, le=MAX_THREADS,
                         description="TCS count: enclave threads that can run at once.")
    edmm: bool = Field(False, description="SGX2 only: add pages lazily on first touch "
                                          "(EDMM) instead of at build time.")
    paging: Literal["sgx", "eleos"] = Field(
        "sgx", description="`sgx`: the kernel driver's EPC paging (AEX, fault, ELDU, EWB); "
                           "`eleos`: exitless user-level paging (Eleos-style).")
    regions: tuple[Region, ...] = Field(
        (), description="Named regions, laid out one after another from page 0. Default: "
                        "one region `heap` spanning the whole enclave.")
    switchless_workers: int = Field(0, ge=0, le=MAX_SWITCHLESS_WORKERS,
                                    description="Untrusted worker threads serving switchless "
                                                "OCALLs (0: switchless calls are off).")

    @model_validator(mode="before")
    @classmethod
    def _default_region(cls, data: Any) -> Any:
        if isinstance(data, dict) and "regions" not in data and "size" in data:
            try:
                Quantity("bytes", gt=0, le=MAX_SIZE_BYTES).parse(data["size"])
            except PydanticCustomError:
                return data  # the size's own error says it; no second one for the region
            return {**data, "regions": [{"name": "heap", "size": data["size"]}]}
        return data

    @property
    def size_pages(self) -> int:
        """Committed size in 4 KiB pages (rounded up)."""
        return -(-self.size_bytes // PAGE_BYTES)

    def region_layout(self) -> dict[str, tuple[int, int]]:
        """Region name -> (first page, page count) within the enclave."""
        out: dict[str, tuple[int, int]] = {}
        first = 0
        for r in self.regions:
            out[r.name] = (first, r.size_pages)
            first += r.size_pages
        return out


# ---- workload ------------------------------------------------------------------------------


def _resolve_file(v: object, info: ValidationInfo) -> object:
    """Paths are relative to the scenario file's folder; stored absolute."""
    import os

    if not isinstance(v, str) or not v:
        return v
    base = (info.context or {}).get("base_dir") if info.context else None
    path = v if os.path.isabs(v) or base is None else os.path.join(base, v)
    path = os.path.normpath(os.path.abspath(path))
    if not os.path.isfile(path):
        raise _fail("file", "file not found", expected="an existing file (relative paths are "
                    "relative to the scenario file)", found=v)
    return path


TraceFile = Annotated[str, Field(min_length=1, max_length=4096)]


class PoissonArrival(_Spec):
    """Open loop: operations arrive as a Poisson process."""

    kind: Literal["poisson"] = Field(description="`poisson`.")
    rate_per_s: RatePerS = Field(alias="rate", description="Mean arrival rate (`20000/s`, "
                                                           "`20k/s`).")


class ClosedArrival(_Spec):
    """Closed loop: a fixed number of clients, each waiting for its reply then thinking."""

    kind: Literal["closed"] = Field(description="`closed`.")
    clients: int = Field(ge=1, le=MAX_CLIENTS, description="Number of clients.")
    think_time_s: TimeS = Field(0.0, alias="think_time",
                                description="Mean think time between a reply and the "
                                            "client's next request (exponential).")


class TraceArrival(_Spec):
    """Open loop, replaying recorded arrival timestamps."""

    kind: Literal["trace"] = Field(description="`trace`.")
    file: TraceFile = Field(description="CSV or text file of arrival timestamps in seconds, "
                                        "one per line (relative to the scenario file).")

    _check_file = field_validator("file")(_resolve_file)


Arrival = Annotated[PoissonArrival | ClosedArrival | TraceArrival, Field(discriminator="kind")]


class PageCount(_Spec):
    """Distinct page touches per operation in a region: fixed or drawn per operation."""

    distribution: Literal["fixed", "poisson", "geometric", "uniform"] = Field(
        "fixed", description="`fixed`: always `mean`; `poisson`/`geometric`: drawn with mean "
                             "`mean` (geometric on 1, 2, ...); `uniform`: integers in "
                             "[`min`, `max`].")
    mean: float | None = Field(None, ge=0, le=2**40,
                               description="Mean touches (fixed: the count). Derived for "
                                           "`uniform`.")
    min: int = Field(0, ge=0, le=2**40, description="Smallest count drawn.")
    max: int | None = Field(None, ge=0, le=2**40,
                            description="Largest count drawn (required for `uniform`; "
                                        "optional cap otherwise).")

    @model_validator(mode="after")
    def _consistent(self) -> PageCount:
        if self.distribution == "uniform":
            if self.max is None:
                raise _fail("pages", "`uniform` needs `max`", expected="min <= max",
                            found="no max")
            if self.max < self.min:
                raise _fail("pages", "`max` is below `min`", expected="min <= max",
                            found=f"min {self.min}, max {self.max}")
            mean = (self.min + self.max) / 2
            if self.mean is not None and self.mean != mean:
                raise _fail("pages", "`mean` of a uniform count is (min + max) / 2",
                            expected=f"{mean:g} or no mean", found=self.mean)
            object.__setattr__(self, "mean", mean)
            return self
        if self.mean is None:
            raise _fail("pages", f"`{self.distribution}` needs `mean`",
                        expected="a mean page count", found="no mean")
        if self.distribution == "fixed" and self.mean != int(self.mean):
            raise _fail("pages", "a fixed page count must be whole", expected="an integer",
                        found=self.mean)
        if self.max is not None and self.max < self.min:
            raise _fail("pages", "`max` is below `min`", expected="min <= max",
                        found=f"min {self.min}, max {self.max}")
        if self.distribution == "geometric" and self.mean < 1:
            raise _fail("pages", "a geometric count on 1, 2, ... has mean >= 1",
                        expected="mean >= 1", found=self.mean)
        return self

    @property
    def largest(self) -> float:
        """Largest count this distribution can draw (inf for unbounded ones)."""
        if self.distribution == "fixed":
            return float(self.mean or 0)
        if self.max is not None:
            return float(self.max)
        return math.inf

    @property
    def smallest(self) -> float:
        if self.distribution == "fixed":
            return float(self.mean or 0)
        return float(self.min)


def _pages_shorthand(v: object) -> object:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float | str):
        try:
            n = units.parse_pages(v)
        except UnitError as exc:
            raise PydanticCustomError("quantity", "{reason}", {
                "reason": exc.reason, "expected": exc.expected, "found": exc.found,
                "suggestion": exc.suggestion or ""}) from None
        return {"distribution": "fixed", "mean": n}
    return v


PagesSpec = Annotated[PageCount, BeforeValidator(_pages_shorthand)]


def _pattern_shorthand(v: object) -> object:
    return {"kind": v} if isinstance(v, str) else v


class UniformPattern(_Spec):
    """Every page of the region equally likely."""

    kind: Literal["uniform"] = Field(description="`uniform`.")


class ZipfPattern(_Spec):
    """Bounded Zipf over the region's pages (page rank i has weight 1 / i^s)."""

    kind: Literal["zipf"] = Field(description="`zipf`.")
    s: float = Field(ge=0, le=10, description="Zipf exponent (0: uniform; 0.99: YCSB).")


class HotsetPattern(_Spec):
    """A hot set of pages gets most of the touches; the rest are uniform."""

    kind: Literal["hotset"] = Field(description="`hotset`.")
    hot_pages_fraction: PositiveFraction01 = Field(
        description="Share of the region's pages that are hot (`10%`).")
    hot_touches_fraction: Fraction01 = Field(
        description="Share of touches that go to the hot pages (`90%`).")


class SequentialPattern(_Spec):
    """A scan that continues where the last operation stopped, wrapping at the end."""

    kind: Literal["sequential"] = Field(description="`sequential`.")


class StridedPattern(_Spec):
    """A scan with a fixed stride (wrapping)."""

    kind: Literal["strided"] = Field(description="`strided`.")
    stride_pages: int = Field(ge=1, le=2**40, description="Pages between touches.")


class ShiftingPattern(_Spec):
    """A uniform window over part of the region that moves along as touches accumulate."""

    kind: Literal["shifting"] = Field(description="`shifting`.")
    window_fraction: PositiveFraction01 = Field(
        description="Window size as a share of the region's pages.")
    shift_pages: int = Field(ge=1, le=2**40, description="Pages the window moves per shift.")
    shift_every_touches: PositiveCount = Field(description="Touches between shifts.")


class MixtureComponent(_Spec):
    """One component of a mixture pattern."""

    weight: Weight = Field(description="Relative weight (> 0).")
    pattern: Pattern = Field(description="The component's pattern.")

    @field_validator("pattern", mode="before")
    @classmethod
    def _shorthand(cls, v: object) -> object:
        return _pattern_shorthand(v)


class MixturePattern(_Spec):
    """Each touch picks a component by weight, then a page from that component's pattern."""

    kind: Literal["mixture"] = Field(description="`mixture`.")
    components: tuple[MixtureComponent, ...] = Field(min_length=1, max_length=64,
                                                     description="Weighted components.")


class TracePattern(_Spec):
    """Replay page offsets from a file (.npy/.npz/.csv; wraps at the end)."""

    kind: Literal["trace"] = Field(description="`trace`.")
    file: TraceFile = Field(description="Page trace file (relative to the scenario file).")

    _check_file = field_validator("file")(_resolve_file)


Pattern = Annotated[
    UniformPattern | ZipfPattern | HotsetPattern | SequentialPattern | StridedPattern
    | ShiftingPattern | MixturePattern | TracePattern,
    Field(discriminator="kind"),
]
MixtureComponent.model_rebuild()
MixturePattern.model_rebuild()

#: Pattern kinds in which one operation may touch more pages than the region has (the scan
#: wraps, or the trace repeats pages).
REPEATING_PATTERNS = frozenset({"sequential", "strided", "trace"})


class MemoryAccess(_Spec):
    """The pages one operation touches in one region, and how its cache misses behave."""

    region: ItemName = Field(description="Region of the operation's enclave.")
    pages: PagesSpec = Field(
        description="Page touches per operation: an integer (or `2 MiB` = 512 pages), or "
                    "`{distribution: fixed|poisson|geometric|uniform, mean, min, max}`. Each "
                    "touch is drawn from the pattern, so a random pattern can touch a page "
                    "twice in one operation (the second touch is a hit).")
    pattern: Pattern = Field(
        default_factory=lambda: UniformPattern(kind="uniform"),
        description="Access pattern over the region's pages: `{kind: uniform}`, `{kind: "
                    "zipf, s}`, `{kind: hotset, hot_pages_fraction, hot_touches_fraction}`, "
                    "`{kind: sequential}`, `{kind: strided, stride_pages}`, `{kind: "
                    "shifting, window_fraction, shift_pages, shift_every_touches}`, `{kind: "
                    "mixture, components: [{weight, pattern}]}`, `{kind: trace, file}`. A "
                    "bare kind name (`uniform`) is short for `{kind: uniform}`.")
    cache_lines_per_page: int = Field(8, ge=1, le=64,
                                      description="64-byte cache lines read per touched page.")
    llc_miss_fraction: Fraction01 | Literal["model"] = Field(
        "model", description="Share of those cache-line reads that miss the LLC (0..1, "
                             "`30%`), or `model`: the LLC model derives it from the working "
                             "set and the VM's LLC.")
    dependent_fraction: Fraction01 = Field(
        0.0, description="Share of the LLC misses that are dependent (pointer chasing, "
                         "serialised); these pay the SGX2 TME-MK latency penalty.")

    @field_validator("pattern", mode="before")
    @classmethod
    def _shorthand(cls, v: object) -> object:
        return _pattern_shorthand(v)

    @field_validator("llc_miss_fraction", mode="before")
    @classmethod
    def _miss(cls, v: object) -> object:
        if v == "model":
            return v
        return Quantity("fraction", ge=0, le=1).parse(v)


class Work(_Spec):
    """Compute inside the enclave: cycles (scale with the clock) plus fixed time."""

    cycles: Cycles = Field(0.0, description="Core cycles.")
    time_s: TimeS = Field(0.0, description="Seconds, independent of the clock.")

    def total_s(self, clock_hz: float) -> float:
        """Seconds of compute at ``clock_hz``."""
        return self.cycles / clock_hz + self.time_s


def _work(v: object) -> object:
    if isinstance(v, dict):
        return v
    if isinstance(v, str) and v.strip() and not v.strip()[-1].isdigit():
        text = v.strip()
        if "cycle" in text:
            return {"cycles": v}
        try:
            return {"time_s": units.parse_time(v)}
        except UnitError as exc:
            raise PydanticCustomError("quantity", "{reason}", {
                "reason": exc.reason, "expected": "cycles (`8200 cycles`) or a time (`2 us`)",
                "found": exc.found, "suggestion": exc.suggestion or ""}) from None
    return {"cycles": v}


class Operation(_Spec):
    """One operation type of the workload mix (e.g. GET, SET, a query)."""

    name: ItemName = Field(description="Operation name, unique in the scenario.")
    weight: Weight = Field(1.0, description="Relative share of the mix (> 0; need not sum "
                                            "to 1, `90%` works too).")
    enclave: ItemName | None = Field(None, description="Enclave that serves it (default: "
                                                       "the only enclave). After validation "
                                                       "always set.")
    ecalls: int = Field(1, ge=0, le=MAX_CALLS_PER_OP, description="ECALLs per operation.")
    ocalls: int = Field(0, ge=0, le=MAX_CALLS_PER_OP, description="OCALLs per operation.")
    ocall_host_time_s: TimeS = Field(0.0, alias="ocall_host_time",
                                     description="Host-side time per OCALL (the system "
                                                 "call's work), e.g. `5 us`.")
    ocall_blocking: bool = Field(False, description="The host side blocks on I/O and "
                                                    "releases its vCPU while waiting.")
    call_mode: Literal["sdk", "switchless", "hotcall"] = Field(
        "sdk", description="How OCALLs are made: `sdk` (EEXIT/EENTER), `switchless` (needs "
                           "the enclave's `switchless_workers`), `hotcall` (shared-memory "
                           "polling).")
    compute: Annotated[Work, BeforeValidator(_work)] = Field(
        default_factory=lambda: Work.model_validate({}),
        description="Compute inside the enclave per operation: cycles (`50000 cycles` or a "
                    "bare number) or a time (`10 us`). Stored as `{cycles, time_s}`.")
    compute_distribution: Literal["fixed", "exponential"] = Field(
        "fixed", description="`fixed`: every operation computes exactly `compute`; "
                             "`exponential`: drawn per operation with mean `compute` (for "
                             "queueing checks such as M/M/c, and workloads with highly "
                             "variable service).")
    memory: tuple[MemoryAccess, ...] = Field((), max_length=64,
                                             description="Memory accesses, per region.")


class Phase(_Spec):
    """A phase of the run (e.g. load, then run), with its own mix and arrivals."""

    name: ItemName = Field(description="Phase name, unique.")
    duration_s: PositiveTimeS | None = Field(
        None, alias="duration", description="Phase length; the last phase may omit it and "
                                            "runs to the end of the simulation.")
    mix: dict[str, NonNegWeight] | None = Field(
        None, description="Operation name -> weight in this phase (default: the operations' "
                          "own weights).")
    arrival: Arrival | None = Field(None, description="Arrival process in this phase "
                                                      "(default: `workload.arrival`).")


class Workload(_Spec):
    """What the enclaves are asked to do."""

    arrival: Arrival = Field(
        description="`{kind: poisson, rate}` | `{kind: closed, clients, think_time}` | "
                    "`{kind: trace, file}`.")
    operations: tuple[Operation, ...] = Field(min_length=1, max_length=256,
                                              description="The operation mix (at least one).")
    phases: tuple[Phase, ...] = Field((), max_length=64,
                                      description="Phases run in order; none: one phase with "
                                                  "the whole mix.")


# ---- simulation, SLO, sweep -----------------------------------------------------------------


class Simulation(_Spec):
    """How long and how often to simulate."""

    duration_s: PositiveTimeS = Field(10.0, alias="duration",
                                      description="Simulated time per run, including warm-up.")
    warmup_s: TimeS = Field(1.0, alias="warmup", description="Initial simulated time left out "
                                                             "of the statistics.")
    replications: int = Field(3, ge=1, le=MAX_REPLICATIONS,
                              description="Independent runs per VM size and sweep point.")
    seed: int = Field(0, ge=0, le=2**63 - 1,
                      description="Root seed; every random stream derives from it.")
    clock: Literal["base", "turbo"] = Field("base", description="CPU clock the cycle costs are "
                                                                "converted with.")
    native_baseline: bool = Field(True, description="Also run each point without SGX, so "
                                                    "slowdowns are reported.")
    timer_interrupts: bool = Field(True, description="Model timer interrupts (AEX + ERESUME "
                                                     "at `timer_interrupt_hz`).")
    epc_policy: Literal["linux", "lru", "fifo", "clock", "random"] = Field(
        "linux", description="EPC page replacement policy (`linux`: the driver's second "
                             "chance with ksgxd batches).")
    llc_bytes: Annotated[int, Quantity("bytes", gt=0, le=2**34)] | None = Field(
        None, alias="llc", description="Override the VM's LLC size (`32 MiB`) for the LLC "
                                       "model.")


class Slo(_Spec):
    """Service-level objective used for sizing: the load to carry, within a latency bound."""

    target_load_per_s: RatePerS | None = Field(None, alias="target_load",
                                               description="Operations per second to carry.")
    latency_percentile: float = Field(99.0, gt=0, lt=100,
                                      description="Latency percentile the bound applies to "
                                                  "(`99`, `99.9`, `p99`, `99%`).")
    latency_bound_s: PositiveTimeS | None = Field(None, alias="latency_bound",
                                                  description="Latency bound (`2 ms`).")
    budget_usd_per_month: float | None = Field(None, gt=0, le=1e9,
                                               description="Monthly budget for the whole "
                                                           "deployment (all VMs), USD.")
    headroom: Annotated[float, Quantity("fraction", ge=0, le=0.99)] = Field(
        0.0, description="Spare capacity to keep at the target load (`20%`).")

    @field_validator("latency_percentile", mode="before")
    @classmethod
    def _percentile(cls, v: object) -> object:
        if isinstance(v, str):
            text = v.strip()
            if text[:1] in ("p", "P"):
                text = text[1:]
            if text.endswith("%"):
                text = text[:-1].strip()
            try:
                return float(text)
            except ValueError:
                raise _fail("percentile", "not a percentile",
                            expected="a percentile such as 99, 99.9, 'p99' or '99%'",
                            found=v) from None
        return v


SweepValues = Annotated[list[Any], Field(min_length=1, max_length=10_000)]


class Scenario(_Spec):
    """A whole scenario, validated and normalised (base units, names resolved).

    After validation: ``vm.sizes`` is the expanded list of size names; ``costs`` holds every
    cost parameter (defaults updated by the scenario's overrides) in each parameter's unit;
    every operation names its enclave; ``simulation.clock`` is the clock to use.
    """

    name: str = Field(description="Scenario name; results go to `results/<name>/`, so it must "
                                  "be a safe file name (letters, digits, `.`, `_`, `-`). "
                                  "Default: the file's name without `.yaml`.")
    description: str = Field("", max_length=10_000, description="Free text for reports.")
    vm: Annotated[VmSection, BeforeValidator(_vm_shorthand)] = Field(
        default_factory=lambda: VmSection.model_validate({}),
        description="VM sizes to evaluate and VM definitions.")
    costs: dict[str, float] = Field(
        default_factory=default_costs,
        description="Cost-parameter overrides by name (`epcsim.costs`: `ecall_cycles: 9000`, "
                    "`mee_miss_penalty_ns: 0.15 us`); values take units and are converted to "
                    "the parameter's unit. After validation: all parameters.")
    enclaves: tuple[Enclave, ...] = Field(min_length=1, max_length=64,
                                          description="Enclaves sharing each VM's EPC.")
    workload: Workload = Field(description="Arrivals, operation mix and phases.")
    simulation: Simulation = Field(default_factory=lambda: Simulation.model_validate({}),
                                   description="Duration, warm-up, replications, seed.")
    slo: Slo | None = Field(None, description="Service-level objective for sizing.")
    sweep: dict[str, SweepValues] = Field(
        default_factory=dict,
        description="Key path -> list of values; the study is the cartesian product. List "
                    "items are addressed by name or index: `enclaves.kv.size`, "
                    "`workload.arrival.rate`, `workload.operations.get.memory.0.pages`.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _safe_name(v, "a results folder")

    @field_validator("costs", mode="before")
    @classmethod
    def _costs(cls, v: object) -> object:
        from epcsim.scenario.checks import resolve_costs

        return resolve_costs(v)

    _source: dict[str, Any] = PrivateAttr(default_factory=dict)
    _context: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _cross(cls, data: Any, handler: ModelWrapValidatorHandler[Scenario],
               info: ValidationInfo) -> Scenario:
        if isinstance(data, Scenario):
            return data
        scn = handler(data)
        from epcsim.scenario.checks import cross_check

        scn = cross_check(scn, data, info.context or {})
        scn._source = copy.deepcopy(data) if isinstance(data, dict) else {}
        scn._context = dict(info.context or {})
        return scn

    @property
    def context(self) -> dict[str, Any]:
        """Validation context (``base_dir``: where relative trace file names point)."""
        return dict(self._context)

    @property
    def source(self) -> dict[str, Any]:
        """The scenario data as written (after ``--set`` overrides), before normalisation."""
        return copy.deepcopy(self._source)

    # Convenience views (base units).

    def enclave(self, name: str) -> Enclave:
        """The enclave called ``name``."""
        return next(e for e in self.enclaves if e.name == name)

    def operation(self, name: str) -> Operation:
        """The operation called ``name``."""
        return next(o for o in self.workload.operations if o.name == name)

    def mix_probabilities(self) -> dict[str, float]:
        """Operation name -> probability, from the weights (sums to 1)."""
        total = math.fsum(o.weight for o in self.workload.operations)
        return {o.name: o.weight / total for o in self.workload.operations}
