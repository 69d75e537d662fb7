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
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from epcsim.reference.cost_parameters import default_costs
from epcsim.scenario.checks import cross_check, resolve_costs
from epcsim.scenario.fields import (
    MAX_CALLS_PER_OP,
    MAX_CLIENTS,
    MAX_CYCLES,
    MAX_DURATION_S,
    MAX_RATE_PER_S,
    MAX_REPLICATIONS,
    MAX_SIZE_BYTES,
    MAX_SWEEP_POINTS,
    MAX_SWITCHLESS_WORKERS,
    MAX_THREADS,
    MAX_THREADS_PER_VCPU,
    Count,
    Cycles,
    Fraction01,
    GHz,
    GiB,
    ItemName,
    MiB,
    NonNegWeight,
    PositiveCount,
    PositiveFraction01,
    PositiveTimeS,
    Quantity,
    RatePerS,
    SizeBytes,
    TimeS,
    Weight,
    _safe_name,
    _Spec,
)
from epcsim.scenario.platform import (
    CustomVm,
    Enclave,
    Region,
    VmOverride,
    VmSection,
    VmSelectionItem,
    _vm_shorthand,
)
from epcsim.scenario.uncertain import UncertainInput, UncertaintySettings
from epcsim.scenario.workload import (
    REPEATING_PATTERNS,
    Arrival,
    ClosedArrival,
    HotsetPattern,
    MemoryAccess,
    MixtureComponent,
    MixturePattern,
    Operation,
    PageCount,
    PagesSpec,
    Pattern,
    Phase,
    PoissonArrival,
    SequentialPattern,
    ShiftingPattern,
    Simulation,
    Slo,
    StridedPattern,
    SweepValues,
    TraceArrival,
    TraceFile,
    TracePattern,
    UniformPattern,
    Work,
    Workload,
    ZipfPattern,
)


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
        description="Cost-parameter overrides by name (docs/model.md: `ecall_cycles: 9000`, "
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
                    "`workload.arrival.rate`, `workload.operations.get.memory.0.pages`. Every "
                    "point must change what is simulated: duplicate values (after units are "
                    "normalised: `1 MiB` = `1024 KiB`) and sweeps over fields that are not "
                    "part of a run (`name`, `description`, `slo.*`, "
                    "`simulation.replications`, `simulation.max_operations`) are refused by "
                    "`epcsim check`; for several SLOs run one study per SLO with `--set` "
                    "(the stored runs are reused).")

    uncertain: dict[str, UncertainInput] = Field(
        default_factory=dict, max_length=32,
        description="Key path -> the range or distribution of a numeric field the user is "
                    "unsure of, in the field's own units: `{low: 1, high: 4}` (uniform), "
                    "`{dist: triangular, low, mode, high}`, `{dist: normal, mean, sd}`, "
                    "`{dist: lognormal, median, sigma}` (normal and lognormal truncated at 3 "
                    "standard deviations). `epcsim run` propagates Latin-hypercube draws "
                    "through the capacity search: capacity intervals per size, the share of "
                    "draws in which each size is the cheapest, and a tornado chart. Not part of "
                    "a run (the simulated runs use the values as written).")
    uncertainty: UncertaintySettings = Field(
        default_factory=lambda: UncertaintySettings.model_validate({}),
        description="Draws of the `uncertain` inputs (`draws`, at most 256; `seed`, default "
                    "simulation.seed).")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _safe_name(v, "a results folder")

    @field_validator("costs", mode="before")
    @classmethod
    def _costs(cls, v: object) -> object:
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


#: The format's one home: every section type is importable from here.
__all__ = [
    "MAX_CALLS_PER_OP",
    "MAX_CLIENTS",
    "MAX_CYCLES",
    "MAX_DURATION_S",
    "MAX_RATE_PER_S",
    "MAX_REPLICATIONS",
    "MAX_SIZE_BYTES",
    "MAX_SWEEP_POINTS",
    "MAX_SWITCHLESS_WORKERS",
    "MAX_THREADS",
    "MAX_THREADS_PER_VCPU",
    "REPEATING_PATTERNS",
    "Arrival",
    "ClosedArrival",
    "Count",
    "CustomVm",
    "Cycles",
    "Enclave",
    "Fraction01",
    "GHz",
    "GiB",
    "HotsetPattern",
    "ItemName",
    "MemoryAccess",
    "MiB",
    "MixtureComponent",
    "MixturePattern",
    "NonNegWeight",
    "Operation",
    "PageCount",
    "PagesSpec",
    "Pattern",
    "Phase",
    "PoissonArrival",
    "PositiveCount",
    "PositiveFraction01",
    "PositiveTimeS",
    "Quantity",
    "RatePerS",
    "Region",
    "Scenario",
    "SequentialPattern",
    "ShiftingPattern",
    "Simulation",
    "SizeBytes",
    "Slo",
    "StridedPattern",
    "SweepValues",
    "TimeS",
    "TraceArrival",
    "TraceFile",
    "TracePattern",
    "UncertainInput",
    "UncertaintySettings",
    "UniformPattern",
    "VmOverride",
    "VmSection",
    "VmSelectionItem",
    "Weight",
    "Work",
    "Workload",
    "ZipfPattern",
]
