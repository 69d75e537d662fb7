"""Scenario sections for the workload (arrivals, page counts, access patterns, memory accesses,
operations, phases), the simulation settings and the service-level objective.
"""
from __future__ import annotations

import datetime as _dt
import math
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from epcsim import units
from epcsim.scenario.distributions import DistShape, parse_time_quantity, split_distribution
from epcsim.scenario.fields import (
    DEFAULT_MAX_OPERATIONS,
    MAX_CALLS_PER_OP,
    MAX_CLIENTS,
    MAX_DURATION_S,
    MAX_OPERATIONS_LIMIT,
    MAX_REPLICATIONS,
    Cycles,
    Fraction01,
    ItemName,
    NonNegWeight,
    PositiveTimeS,
    Quantity,
    RatePerS,
    TimeS,
    Weight,
    _fail,
    _Spec,
    refuse_bare_number,
    units_required,
)
from epcsim.scenario.mechanisms import Mechanisms
from epcsim.scenario.patterns import (  # noqa: F401  (re-exported: the scenario's types)
    PATTERN_FULL_FORMS,
    REPEATING_PATTERNS,
    ZIPF_DEFAULT_S,
    HotsetPattern,
    MixtureComponent,
    MixturePattern,
    Pattern,
    SequentialPattern,
    ShiftingPattern,
    StridedPattern,
    TraceFile,
    TracePattern,
    UniformPattern,
    ZipfPattern,
    _pattern_shorthand,
    _resolve_file,
)
from epcsim.units import UnitError

MarshalBytes = Annotated[int, Quantity("bytes", ge=0, le=2**34, bare_ok=True)]


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
                    "bare name is short for `{kind: NAME}`: `uniform`, `sequential`, and `zipf` "
                    "with its default `s: 0.99` (YCSB); the other kinds need their "
                    "parameters, and a bare name is refused with the full form.")
    cache_lines_per_page: int = Field(8, ge=1, le=64,
                                      description="64-byte cache lines read per touched page.")
    llc_miss_fraction: Fraction01 | Literal["model"] = Field(
        "model", description="Share of those cache-line reads that miss the LLC (0..1, "
                             "`30%`), or `model`: the LLC model derives it from the working "
                             "set and the VM's LLC.")
    dependent_fraction: Fraction01 = Field(
        0.0, description="Share of the LLC misses that are dependent (pointer chasing, "
                         "serialised); these pay the SGX2 TME-MK latency penalty.")
    write_fraction: Fraction01 = Field(0.0, description="Share of the LLC misses that write "
        "the line: on SGX1 + `mee_write_penalty_ns` each, and twice the MEE bytes.")

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
    time_s: Annotated[float, Quantity("time", ge=0, le=MAX_DURATION_S, bare_ok=True)] = Field(
        0.0, description="Seconds, independent of the clock.")

    def total_s(self, clock_hz: float) -> float:
        """Seconds of compute at ``clock_hz``."""
        return self.cycles / clock_hz + self.time_s


def _work_in_file(v: object, info: ValidationInfo) -> object:
    """``compute`` in a scenario file: a bare number is refused (cycles or microseconds?)."""
    if units_required(info):
        refuse_bare_number(v, "cycles")
    return _work(v)


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


class LockHold(_Spec):
    """A critical section: a named lock held for a share of the in-enclave time."""

    name: ItemName = Field(description="Lock name (operations naming the same lock in the "
                                       "same enclave contend for it).")
    hold: Fraction01 = Field(description="Share of the operation's in-enclave compute + "
                                         "memory time spent holding it (`30%`, `1`).")


def _compute_quantity(v: object) -> tuple[str, float]:
    """("cycles", n) or ("time", seconds) of a compute quantity."""
    w = _work(v)
    assert isinstance(w, dict)
    if "time_s" in w:
        return "time", float(w["time_s"])
    try:
        return "cycles", units.parse_cycles(w["cycles"])
    except UnitError as exc:
        raise _fail("quantity", exc.reason, expected=exc.expected, found=exc.found) from None


class Operation(_Spec):
    """One operation type of the workload mix (e.g. GET, SET, a query)."""

    @model_validator(mode="before")
    @classmethod
    def _distributions(cls, data: Any, info: ValidationInfo) -> Any:
        """`compute: {dist: ...}` and `ocall_host_time: {dist: ...}` -> mean + shape."""
        if not isinstance(data, dict):
            return data
        base = (info.context or {}).get("base_dir") if info.context else None
        out = dict(data)
        for key, parse in (("compute", _compute_quantity),
                           ("ocall_host_time", parse_time_quantity)):
            v = data.get(key)
            if isinstance(v, dict) and "dist" in v:
                if units_required(info):
                    try:
                        refuse_bare_number(v.get("mean"), "cycles" if key == "compute"
                                           else "time")
                    except PydanticCustomError as exc:
                        raise PydanticCustomError(exc.type, f"{key}.mean: "
                                                  f"{exc.message_template}",
                                                  exc.context) from None
                if f"{key}_dist" in data:
                    raise _fail("distribution", f"give the distribution once: `{key}: "
                                "{dist: ...}` or `" + key + "_dist`", expected="one of them",
                                found="both")
                try:
                    (kind, mean), shape = split_distribution(v, parse, base,
                                                             f"workload.operations.{key}")
                except PydanticCustomError as exc:
                    raise PydanticCustomError(exc.type, f"{key}: {exc.message_template}",
                                              exc.context) from None
                if key == "ocall_host_time":
                    if kind != "time":
                        raise _fail("distribution", "host time is a time", expected="a time "
                                    "such as `5 us`", found=f"{mean:g} cycles")
                    out[key] = f"{mean!r} s"  # in seconds, with the unit a file needs
                else:
                    out[key] = {"cycles": mean} if kind == "cycles" else {"time_s": mean}
                out[f"{key}_dist"] = shape
        return out

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
    ecall_mode: Literal["sdk", "switchless", "hotcall"] = Field(
        "sdk", description="How ECALLs are made: `sdk` (EENTER/EEXIT), `switchless` or "
                           "`hotcall` (a trusted worker, `enclaves.*.trusted_workers`, runs "
                           "the operation while the caller spins on its vCPU; fallback to an "
                           "ordinary ECALL as the enclave's `runtime` does).")
    compute: Annotated[Work, BeforeValidator(_work_in_file)] = Field(
        default_factory=lambda: Work.model_validate({}),
        description="Compute inside the enclave per operation: cycles (`50000 cycles`) or a "
                    "time (`10 us`); a bare number is refused in a scenario file (from "
                    "Python it is cycles). Stored as `{cycles, time_s}`.")
    compute_distribution: Literal["fixed", "exponential"] = Field(
        "fixed", description="`fixed`: every operation computes exactly `compute`; "
                             "`exponential`: drawn per operation with mean `compute` (for "
                             "queueing checks such as M/M/c, and workloads with highly "
                             "variable service).")
    memory: tuple[MemoryAccess, ...] = Field((), max_length=64,
                                             description="Memory accesses, per region.")
    ecall_bytes_in: MarshalBytes = Field(0, description="Bytes copied into the enclave per "
                                                        "ECALL (`[in]` buffers, `4 KiB`).")
    ecall_bytes_out: MarshalBytes = Field(0, description="Bytes copied out per ECALL "
                                                         "(`[out]` buffers).")
    ocall_bytes_in: MarshalBytes = Field(0, description="Bytes copied out to the host per "
                                                        "OCALL (its `[in]` buffers).")
    ocall_bytes_out: MarshalBytes = Field(0, description="Bytes copied back into the enclave "
                                                         "per OCALL (its `[out]` buffers). "
                                                         "Each non-empty buffer costs "
                                                         "`marshal_fixed_cycles` + bytes x "
                                                         "`marshal_byte_cycles`; not in the "
                                                         "native baseline.")
    locks: tuple[LockHold, ...] = Field(
        (), max_length=16,
        description="Critical sections, e.g. `[{name: db, hold: 30%}]`: after the rest of its "
                    "in-enclave work the operation waits for each lock (FIFO, spinning on its "
                    "vCPU) and holds it for its share; the native baseline holds the same "
                    "locks. Shares sum to at most 1.")
    compute_dist: DistShape | None = Field(
        None, description="Shape of the compute time, set from `compute: {dist: "
                          "fixed|exponential|lognormal|gamma|uniform, mean, cv}` (`low`/`high` "
                          "for uniform) or `{dist: empirical, file, unit}`; drawn per "
                          "operation with mean `compute`. An assumption unless you measured "
                          "it: docs/model.md, service-time distributions.")
    ocall_host_time_dist: DistShape | None = Field(
        None, description="Shape of the host time of each OCALL, set from `ocall_host_time: "
                          "{dist: ...}` (same forms as `compute`); drawn per OCALL.")


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
                                                             "of the statistics. A `--set` of "
                                                             "the duration alone scales it "
                                                             "with the duration.")
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
    max_operations: Annotated[int, Quantity("count", ge=1, le=MAX_OPERATIONS_LIMIT)] = Field(
        DEFAULT_MAX_OPERATIONS,
        description=f"Most operations one run may simulate: `epcsim check` refuses a scenario "
                    f"whose expected arrivals per run (rate x duration, over every phase) or "
                    f"closed-loop clients exceed it. Each operation takes about 2 KB of memory "
                    f"and 30 us to simulate; raise it (up to {MAX_OPERATIONS_LIMIT:,}) for "
                    f"long or heavy runs on a machine that has the memory. Does not change "
                    f"results (not part of a run's key).")
    llc_bytes: Annotated[int, Quantity("bytes", gt=0, le=2**34)] | None = Field(
        None, alias="llc", description="Override the VM's LLC size (`32 MiB`) for the LLC "
                                       "model.")
    sgx_driver: Literal["upstream", "isgx"] = Field(
        "upstream", description="The guest's SGX driver. `upstream` (in-kernel, Linux >= 5.11, "
                                "and Intel's DCAP driver): the enclave mutex is taken per "
                                "evicted page (EBLOCK, then EWB with ETRACK and the IPI). "
                                "`isgx` (Intel's out-of-tree driver): the mutex is held "
                                "across each 16-page reclaim batch. Faults of one enclave "
                                "are serialised by the same mutex under both.")
    host: Literal["vm", "bare_metal"] = Field(
        "vm", description="Where the guest kernel runs: `vm` (Azure: IPIs and TLB-shootdown "
                          "flushes pay `ipi_vm_extra_s`) or `bare_metal`.")
    platform_enclaves_bytes: Annotated[int, Quantity("bytes", ge=0, le=2**34)] = Field(
        0, alias="platform_enclaves", description="EPC held by platform enclaves resident "
                                                  "in the guest (DCAP QE3 + PCE + IDE when "
                                                  "the workload attests in-process: about "
                                                  "`2 MiB`); taken out of the usable EPC.")
    native_huge_pages: bool = Field(
        False, description="The native baseline maps its memory with 2 MiB transparent huge "
                           "pages (TLB reach x 512); enclave memory is 4 KiB pages only.")
    mechanisms: Mechanisms = Field(
        default_factory=lambda: Mechanisms.model_validate({}),
        description="Issue-14 mechanisms, each `true` (default) or `false` to measure its "
                    "effect (`epcsim mechanisms`).")


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
    as_of: _dt.date | None = Field(
        None, description="Decision date (`2026-11-30`; default: the day sizing runs). Only "
                          "sizes that can be bought on it are recommended; retired ones are "
                          "shown beside their successors (epcsim/reference/data/"
                          "vm_availability.csv).")
    region: str = Field("eastus", description="Azure region whose prices apply "
                                              "(epcsim/reference/data/vm_prices.csv: eastus, "
                                              "eastus2, westus, westus2, uksouth, westeurope, "
                                              "northeurope).")
    pricing: Literal["payg", "reserved-1y", "reserved-3y"] = Field(
        "payg", description="Price the buyer pays: pay-as-you-go or a 1-/3-year reservation. "
                            "A size without a published price under it is shown, not "
                            "recommended.")
    subscription: Literal["existing", "new"] = Field(
        "existing", description="`existing`: the Azure subscription already deploys the "
                                "series, so a series closed to new subscriptions can still be "
                                "bought until it retires; `new`: it cannot.")

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, v: object) -> object:
        from epcsim.reference.market import regions

        known = regions()
        if isinstance(v, str) and v.strip().lower().replace(" ", "") in known:
            return v.strip().lower().replace(" ", "")
        raise _fail("region", "unknown Azure region", expected="one of " + ", ".join(known),
                    found=v)

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


