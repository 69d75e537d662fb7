"""Inputs of the timing model: frozen dataclasses of resolved numbers (base units).

A :class:`ModelConfig` is everything one simulation run needs, already normalised: bytes and
pages as ints, times in seconds, costs in the unit their name carries (see
:mod:`epcsim.reference.cost_parameters`), VM clock in Hz. Nothing here reads YAML or files;
:mod:`epcsim.study.configure` builds a ``ModelConfig`` from a :class:`epcsim.scenario.Scenario` and
a catalogue ``VmSize``, and tests build them directly.

What it models (one field per concept of the scenario format, see CONTRACTS.md):

- :class:`VmConfig`: the VM (vCPUs, the clock chosen for the run, SGX generation, the EPC
  the guest sees, LLC size). Memory protection follows the generation: SGX1 = MEE with an
  integrity tree, SGX2 = TME-MK.
- :class:`EnclaveConfig`: one enclave (committed size, TCS count, EDMM, paging kind, named
  regions laid out one after another from page 0, switchless worker threads).
- :class:`OperationConfig` and :class:`MemoryAccessConfig`: one operation type (mix weight,
  ECALLs, OCALLs with host time, compute, memory accesses per region).
- :class:`ArrivalConfig`: open loop (Poisson or recorded timestamps) or closed loop.
- :class:`PhaseConfig`: phases run back to back (load then run), each with its own mix and
  optionally its own arrival process.
- :class:`SimulationSettings`: run length, warm-up, timer interrupts, memory-level
  parallelism, EPC replacement policy, admission limit.

:func:`validate` checks cross-field consistency and raises :class:`~epcsim.errors.ScenarioError`
with one located :class:`~epcsim.errors.Problem` per mistake (key paths follow the scenario
format, e.g. ``workload.operations.get.memory.0.region``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from epcsim.errors import Problem, ScenarioError
from epcsim.model.servicetime import ServiceDist
from epcsim.reference.cost_parameters import cost_parameters

if TYPE_CHECKING:
    from epcsim.reference.catalog import VmSize

#: Bytes per EPC page (4 KiB); also in :mod:`epcsim.units` once it exists.
PAGE_BYTES = 4096

CallMode = Literal["sdk", "switchless", "hotcall"]
Runtime = Literal["intel-sdk", "open-enclave", "gramine", "occlum"]
RUNTIMES = ("intel-sdk", "open-enclave", "gramine", "occlum")
PagingKind = Literal["sgx", "eleos"]
ArrivalKind = Literal["poisson", "closed", "trace"]
Distribution = Literal["fixed", "exponential"]
EpcPolicy = Literal["linux", "lru", "fifo", "clock", "random"]
TimerMode = Literal["expected", "poisson"]


@dataclass(frozen=True)
class VmConfig:
    """The VM a run simulates.

    Attributes:
        name: size name, for messages and results (e.g. ``Standard_DC4s_v2``).
        vcpus: vCPUs (one physical core each; SGX sizes run without hyper-threading).
        clock_hz: core clock used to turn cycle costs into seconds (base or turbo, chosen by
            the caller; :meth:`from_vm_size` takes ``clock="base"|"turbo"``).
        sgx_generation: 1 (SGX1, MEE with integrity tree) or 2 (SGX2, TME-MK).
        epc_pages: EPC the guest sees, in 4 KiB pages (SECS/TCS/SSA/VA pages come out of it).
        llc_bytes: last-level cache size; used only when an access leaves
            ``llc_miss_fraction`` to the model (``None``). Default 16 MiB, the Xeon E-2288G
            of DCsv2 (the catalogue's ``llc_mib``; :meth:`from_vm_size` takes it from there).
    """

    name: str
    vcpus: int
    clock_hz: float
    sgx_generation: int
    epc_pages: int
    llc_bytes: int = 16 * 1024 * 1024

    @classmethod
    def from_vm_size(cls, vm: VmSize, clock: Literal["base", "turbo"] = "base") -> VmConfig:
        """Build from a catalogue entry; ``clock`` picks ``base_ghz`` or ``turbo_ghz``."""
        ghz = vm.base_ghz if clock == "base" else vm.turbo_ghz
        return cls(
            name=vm.size,
            vcpus=vm.vcpus,
            clock_hz=ghz * 1e9,
            sgx_generation=vm.sgx_generation,
            epc_pages=int(vm.epc_bytes // PAGE_BYTES),
            llc_bytes=round(vm.llc_mib * 1024 * 1024),
        )

    @property
    def memory_protection(self) -> str:
        """``"mee"`` (SGX1: every LLC miss to EPC pays) or ``"tme-mk"`` (SGX2)."""
        return "mee" if self.sgx_generation == 1 else "tme-mk"


@dataclass(frozen=True)
class RegionConfig:
    """A named part of an enclave's address space, ``pages`` 4 KiB pages long.
    ``untrusted``: host memory the enclave reads or writes (no EPC pages, no MEE/TME
    penalty; its LLC misses still cost DRAM latency)."""

    name: str
    pages: int
    untrusted: bool = False


@dataclass(frozen=True)
class EnclaveConfig:
    """One enclave.

    Attributes:
        name: enclave name (operations refer to it).
        regions: named regions, laid out one after another from page 0.
        threads: TCS count: at most this many operations run inside the enclave at once.
        size_pages: committed enclave size in pages; ``None`` = the sum of the regions. Pages
            beyond the regions are built (and occupy EPC) but never touched.
        edmm: SGX2 dynamic memory: pages are added lazily (EAUG + EACCEPT) on first touch
            instead of at build time. Ignored (with a note in the result) on SGX1.
        paging: ``"sgx"`` (the kernel driver: AEX, #PF, ELDU, ERESUME; ksgxd evicts) or
            ``"eleos"`` (Eleos-style exitless user-level paging: ``eleos_fault_cycles`` per
            miss, no AEX, no kernel path, no EWB/ETRACK/IPI charged to ksgxd for its pages).
        switchless_workers: untrusted worker threads serving switchless/hotcall OCALLs; each
            holds a vCPU while it polls and sleeps when idle as its runtime does
            (:mod:`epcsim.model.transitions`). 0 = none.
        trusted_workers: trusted worker threads serving switchless/hotcall ECALLs (each holds
            a vCPU and a TCS while it polls). 0 = none.
        runtime: the SGX runtime: switchless rules (fallback, sleep, wake), call costs,
            library-OS work and footprint (:mod:`epcsim.model.runtimes`).
        lvi_hardening: ``"none"``, ``"control-flow"`` or ``"full"`` LVI mitigation (SGX1 only).
    """

    name: str
    regions: tuple[RegionConfig, ...]
    threads: int = 1
    size_pages: int | None = None
    edmm: bool = False
    paging: PagingKind = "sgx"
    switchless_workers: int = 0
    trusted_workers: int = 0
    runtime: Runtime = "intel-sdk"
    lvi_hardening: Literal["none", "control-flow", "full"] = "none"

    @property
    def region_pages(self) -> int:
        """Pages covered by the regions inside the enclave (untrusted ones are not)."""
        return sum(r.pages for r in self.regions if not r.untrusted)

    @property
    def committed_pages(self) -> int:
        """The enclave's committed size in pages (at least its regions)."""
        return self.size_pages if self.size_pages is not None else self.region_pages

    def region_base(self, name: str) -> int:
        """First page of region ``name`` within the enclave."""
        base = 0
        for r in self.regions:
            if r.name == name:
                return base
            base += 0 if r.untrusted else r.pages
        raise KeyError(name)


@dataclass(frozen=True)
class MemoryAccessConfig:
    """One memory access of an operation: page touches in one region.

    Attributes:
        region: region name in the operation's enclave.
        pages: page touches per operation (drawn from the pattern; repeats are hits): an int
            (fixed) or a count spec for
            :func:`epcsim.traces.make_count_sampler` (``{distribution, mean, min, max}``).
        pattern: pattern spec for :func:`epcsim.traces.make_pattern` (``{kind: uniform}``,
            ``{kind: zipf, s: 0.99}``, ...), over the region's pages.
        cache_lines_per_page: 64-byte cache lines read per touched page.
        llc_miss_fraction: share of those lines that miss the LLC (0..1); ``None`` = let the
            model decide: ``1 - min(1, llc_bytes / bytes of all regions touched)`` (uniform
            reuse over the touched footprint).
        dependent_fraction: share of the misses that are dependent (pointer chasing,
            serialised); the rest overlap up to ``memory_level_parallelism``.
        write_fraction: share of the misses that write the line (it is written back later);
            on SGX1 they pay ``mee_write_penalty_ns`` on top of the read penalty and move
            twice the bytes through the MEE (:mod:`epcsim.model.mee`).
    """

    region: str
    pages: int | Mapping[str, Any]
    pattern: Mapping[str, Any] = field(default_factory=lambda: {"kind": "uniform"})
    cache_lines_per_page: int = 8
    llc_miss_fraction: float | None = 1.0
    dependent_fraction: float = 0.0
    write_fraction: float = 0.0


@dataclass(frozen=True)
class OperationConfig:
    """One operation type.

    Attributes:
        name: operation name (phases' mixes refer to it; results carry it).
        weight: relative weight in the default mix.
        enclave: enclave name; ``None`` = the only enclave.
        ecalls: ECALLs per operation (each ``ecall_cycles``).
        ocalls: OCALLs per operation; each costs ``ocall_cycles`` (SDK), a switchless call
            latency or ``hotcall_cycles``, plus ``ocall_host_time_s`` on the host side.
        ocall_host_time_s: host-side time per OCALL (the system call's work).
        ocall_blocking: the host side blocks on I/O: an SDK OCALL releases its vCPU for the
            host time and queues for a vCPU again afterwards.
        call_mode: ``"sdk"``, ``"switchless"`` or ``"hotcall"`` (how OCALLs are made).
        ecall_mode: the same for ECALLs (switchless/hotcall need ``trusted_workers``).
        compute_cycles: compute inside the enclave, in core cycles (scales with the clock).
        compute_s: compute given as time (does not scale with the clock); added to
            ``compute_cycles``.
        compute_distribution: ``"fixed"`` or ``"exponential"`` (mean = the values above).
        memory: the operation's memory accesses.
        compute_dist: shape of the compute time (mean 1 multiplier of the values above);
            ``None`` = ``compute_distribution``.
        host_time_dist: shape of each OCALL's host time; ``None`` = fixed.
        ecall_bytes_in, ecall_bytes_out, ocall_bytes_in, ocall_bytes_out: bytes marshalled
            (copied) per call by the edger8r bridge (``marshal_*`` costs; none natively).
        locks: critical sections ``(lock name, share of the in-enclave time held)``
            (:mod:`epcsim.model.locks`); shares sum to at most 1.
    """

    name: str
    weight: float = 1.0
    enclave: str | None = None
    ecalls: int = 1
    ocalls: int = 0
    ocall_host_time_s: float = 0.0
    ocall_blocking: bool = False
    call_mode: CallMode = "sdk"
    ecall_mode: CallMode = "sdk"
    compute_cycles: float = 0.0
    compute_s: float = 0.0
    compute_distribution: Distribution = "fixed"
    memory: tuple[MemoryAccessConfig, ...] = ()
    ecall_bytes_in: int = 0
    ecall_bytes_out: int = 0
    ocall_bytes_in: int = 0
    ocall_bytes_out: int = 0
    locks: tuple[tuple[str, float], ...] = ()
    compute_dist: ServiceDist | None = None
    host_time_dist: ServiceDist | None = None


@dataclass(frozen=True)
class ArrivalConfig:
    """How operations arrive.

    Attributes:
        kind: ``"poisson"`` (open loop, rate ``rate_per_s``), ``"trace"`` (open loop, recorded
            ``timestamps_s``, seconds from the start of the phase) or ``"closed"``
            (``clients`` clients, each issuing one operation, waiting for it, then thinking).
        rate_per_s: Poisson arrival rate (ops/s).
        clients: closed-loop client count.
        think_time_s: mean think time between a completion and the client's next request.
        think_distribution: ``"exponential"`` or ``"fixed"``.
        timestamps_s: recorded arrival times (non-decreasing).
    """

    kind: ArrivalKind
    rate_per_s: float | None = None
    clients: int | None = None
    think_time_s: float = 0.0
    think_distribution: Distribution = "exponential"
    timestamps_s: tuple[float, ...] | None = None


@dataclass(frozen=True)
class PhaseConfig:
    """One phase. Phases run back to back from t = 0; the last one lasts until the end.

    Attributes:
        name: phase name.
        duration_s: phase length; ``None`` only for the last phase (= until the end).
        mix: operation name -> weight for this phase; ``None`` = the operations' weights.
        arrival: this phase's arrival process; ``None`` = the config's.
    """

    name: str
    duration_s: float | None
    mix: Mapping[str, float] | None = None
    arrival: ArrivalConfig | None = None


@dataclass(frozen=True)
class SimulationSettings:
    """Run-level settings.

    Attributes:
        duration_s: simulated time of the run (arrivals stop then; the run ends then).
        warmup_s: operations arriving before this are simulated but excluded from every
            metric (counters are differences between ``warmup_s`` and ``duration_s``).
        timer_interrupts: timer interrupts force AEX + ERESUME on busy enclave threads at
            ``timer_interrupt_hz`` per busy vCPU.
        timer_interrupt_mode: ``"expected"`` (time x rate AEXs, a real number) or
            ``"poisson"`` (Poisson-drawn count from the run's timer stream).
        memory_level_parallelism: independent LLC misses that overlap (default 10: the L1D
            line-fill buffers of Skylake-class cores; an estimate, see docs/model.md).
        epc_policy: EPC replacement policy given to the EPC engine.
        max_in_system: admission limit for open-loop arrivals: an arrival that finds this
            many operations in the system is dropped (counted). ``None`` = no limit.
        ssa_pages_per_thread: SSA pages per TCS (EPC overhead: one TCS page + these per
            thread, one SECS page per enclave; default 2, the SGX SDK's default NSSA).
        check_invariants: verify after every EPC call that resident pages never exceed the
            capacity (slower; tests turn it on).
        sgx_driver: ``"upstream"`` (in-kernel driver >= 5.11 and the DCAP driver: short
            per-page holds of the enclave lock, one global victim list) or ``"isgx"`` (the
            out-of-tree driver: the lock held across each 16-page batch); see
            :mod:`epcsim.model.paging`.
        host: ``"vm"`` (IPIs and TLB-shootdown flushes pay ``ipi_vm_extra_s``) or
            ``"bare_metal"``.
        platform_enclave_pages: EPC pages held by platform enclaves (QE3, PCE, ...) resident
            in the guest, taken out of the usable EPC.
        native_huge_pages: the native baseline maps its memory with 2 MiB pages (TLB reach
            x 512); enclave memory is always 4 KiB pages.
        enclave_lock, tlb_shootdowns, va_pages: issue-14 mechanisms, off only to measure
            their effect (``simulation.mechanisms``): no wait for the enclave lock; no
            shootdown round per evicted page (the ETRACK IPI stays); VA pages take no EPC.
    """

    duration_s: float
    warmup_s: float = 0.0
    timer_interrupts: bool = True
    timer_interrupt_mode: TimerMode = "expected"
    memory_level_parallelism: float = 10.0
    epc_policy: EpcPolicy = "linux"
    max_in_system: int | None = None
    ssa_pages_per_thread: int = 2
    check_invariants: bool = False
    sgx_driver: Literal["upstream", "isgx"] = "upstream"
    host: Literal["vm", "bare_metal"] = "vm"
    platform_enclave_pages: int = 0
    native_huge_pages: bool = False
    enclave_lock: bool = True
    tlb_shootdowns: bool = True
    va_pages: bool = True


@dataclass(frozen=True)
class ModelConfig:
    """Everything one run needs. ``costs`` overrides
    :func:`epcsim.reference.cost_parameters.default_costs` by name, in each parameter's own unit
    (``ecall_cycles: 9000``, ``dram_latency_ns: 90``)."""

    vm: VmConfig
    enclaves: tuple[EnclaveConfig, ...]
    operations: tuple[OperationConfig, ...]
    arrival: ArrivalConfig
    settings: SimulationSettings
    phases: tuple[PhaseConfig, ...] = ()
    costs: Mapping[str, float] = field(default_factory=dict)

    def enclave_index(self, op: OperationConfig) -> int:
        """Index of the enclave an operation runs in."""
        if op.enclave is None:
            return 0
        return [e.name for e in self.enclaves].index(op.enclave)

    def effective_phases(self) -> tuple[PhaseConfig, ...]:
        """The phases, or one phase with the whole mix when none are given."""
        if self.phases:
            return self.phases
        return (PhaseConfig(name="run", duration_s=None),)


def resolved_costs(config: ModelConfig) -> dict[str, float]:
    """Default costs with the config's overrides applied (each in its own unit)."""
    params = cost_parameters()
    out = {name: p.default for name, p in params.items()}
    out.update({k: float(v) for k, v in config.costs.items()})
    return out


def _suggest(name: str, choices: list[str]) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def _check_arrival(a: ArrivalConfig, path: str, problems: list[Problem]) -> None:
    if a.kind == "poisson":
        if a.rate_per_s is None or not (a.rate_per_s > 0 and math.isfinite(a.rate_per_s)):
            problems.append(Problem("Poisson arrivals need a positive rate",
                                    key_path=f"{path}.rate", expected="a rate > 0 per second",
                                    found=repr(a.rate_per_s)))
    elif a.kind == "closed":
        if a.clients is None or a.clients < 1:
            problems.append(Problem("closed-loop arrivals need clients", key_path=f"{path}.clients",
                                    expected="an integer >= 1", found=repr(a.clients)))
        if not a.think_time_s >= 0:
            problems.append(Problem("think time must not be negative",
                                    key_path=f"{path}.think_time", expected=">= 0",
                                    found=repr(a.think_time_s)))
    elif a.kind == "trace":
        ts = a.timestamps_s
        if ts is None or len(ts) == 0:
            problems.append(Problem("trace arrivals need timestamps", key_path=f"{path}.file",
                                    expected="a non-empty list of times", found=repr(ts)))
        elif any(b < x for x, b in itertools.pairwise(ts)) or ts[0] < 0:
            problems.append(Problem("arrival timestamps must be >= 0 and non-decreasing",
                                    key_path=f"{path}.file"))
    else:
        problems.append(Problem("unknown arrival kind", key_path=f"{path}.kind",
                                expected="poisson, closed or trace", found=repr(a.kind)))


def validate(config: ModelConfig) -> None:
    """Check a config; raise :class:`ScenarioError` listing every problem found."""
    p: list[Problem] = []
    vm = config.vm
    if vm.vcpus < 1:
        p.append(Problem("a VM needs at least one vCPU", key_path="vm.vcpus", found=str(vm.vcpus)))
    if not vm.clock_hz > 0:
        p.append(Problem("clock must be positive", key_path="vm.clock", found=str(vm.clock_hz)))
    if vm.sgx_generation not in (1, 2):
        p.append(Problem("unknown SGX generation", key_path="vm.sgx_generation",
                         expected="1 or 2", found=str(vm.sgx_generation)))
    params = cost_parameters()
    for name, value in config.costs.items():
        if name not in params:
            p.append(Problem("unknown cost parameter", key_path=f"costs.{name}",
                             suggestion=_suggest(name, list(params))))
        elif not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            p.append(Problem("cost must be a finite number >= 0", key_path=f"costs.{name}",
                             found=repr(value)))
    if not config.enclaves:
        p.append(Problem("at least one enclave is needed", key_path="enclaves"))
    names = [e.name for e in config.enclaves]
    for i, e in enumerate(config.enclaves):
        path = f"enclaves.{e.name}"
        if names.index(e.name) != i:
            p.append(Problem("duplicate enclave name", key_path=path))
        if e.threads < 1:
            p.append(Problem("an enclave needs at least one thread (TCS)",
                             key_path=f"{path}.threads", found=str(e.threads)))
        if e.paging not in ("sgx", "eleos"):
            p.append(Problem("unknown paging kind", key_path=f"{path}.paging",
                             expected="sgx or eleos", found=repr(e.paging)))
        if any(r.pages < 1 for r in e.regions):
            p.append(Problem("regions need at least one page", key_path=f"{path}.regions"))
        if len({r.name for r in e.regions}) != len(e.regions):
            p.append(Problem("duplicate region name", key_path=f"{path}.regions"))
        if e.size_pages is not None and e.size_pages < e.region_pages:
            p.append(Problem("enclave size is smaller than its regions", key_path=f"{path}.size",
                             expected=f">= {e.region_pages} pages", found=f"{e.size_pages} pages"))
        if e.runtime not in RUNTIMES:
            p.append(Problem("unknown runtime", key_path=f"{path}.runtime",
                             expected=", ".join(RUNTIMES), found=repr(e.runtime)))
        if e.lvi_hardening not in ("none", "control-flow", "full"):
            p.append(Problem("unknown LVI hardening", key_path=f"{path}.lvi_hardening",
                             expected="none, control-flow or full", found=repr(e.lvi_hardening)))
        if e.trusted_workers < 0 or e.trusted_workers >= max(1, e.threads):
            p.append(Problem("trusted workers need a TCS each and leave one for callers",
                             key_path=f"{path}.trusted_workers",
                             expected=f"0..{e.threads - 1}", found=str(e.trusted_workers)))
        if e.switchless_workers < 0:
            p.append(Problem("switchless_workers must be >= 0",
                             key_path=f"{path}.switchless_workers"))
    workers = sum(e.switchless_workers + e.trusted_workers for e in config.enclaves)
    if config.enclaves and workers >= vm.vcpus:
        p.append(Problem("switchless workers leave no vCPU for enclave threads",
                         key_path="enclaves",
                         expected=f"fewer than {vm.vcpus} workers on {vm.name}",
                         found=f"{workers} workers",
                         suggestion="use fewer switchless_workers or a larger VM"))
    if not config.operations:
        p.append(Problem("at least one operation is needed", key_path="workload.operations"))
    if len(config.operations) > 4096:
        p.append(Problem("too many operation types", key_path="workload.operations",
                         expected="at most 4096"))
    op_names = [o.name for o in config.operations]
    for i, op in enumerate(config.operations):
        path = f"workload.operations.{op.name}"
        if op_names.index(op.name) != i:
            p.append(Problem("duplicate operation name", key_path=path))
        if op.enclave is None and len(config.enclaves) > 1:
            p.append(Problem("several enclaves: say which one the operation runs in",
                             key_path=f"{path}.enclave", expected="one of " + ", ".join(names)))
            continue
        if op.enclave is not None and op.enclave not in names:
            p.append(Problem("unknown enclave", key_path=f"{path}.enclave", found=repr(op.enclave),
                             suggestion=_suggest(op.enclave, names)))
            continue
        if not (op.weight >= 0 and math.isfinite(op.weight)):
            p.append(Problem("weight must be >= 0", key_path=f"{path}.weight",
                             found=str(op.weight)))
        for key in ("ecalls", "ocalls"):
            if getattr(op, key) < 0:
                p.append(Problem("must be >= 0", key_path=f"{path}.{key}"))
        for key in ("compute_cycles", "compute_s", "ocall_host_time_s"):
            v = getattr(op, key)
            if not (v >= 0 and math.isfinite(v)):
                p.append(Problem("must be a finite number >= 0", key_path=f"{path}.{key}",
                                 found=repr(v)))
        if op.compute_distribution not in ("fixed", "exponential"):
            p.append(Problem("unknown distribution", key_path=f"{path}.compute_distribution",
                             expected="fixed or exponential", found=repr(op.compute_distribution)))
        for key in ("compute_dist", "host_time_dist"):
            d = getattr(op, key)
            for msg in d.problems() if d is not None else ():
                p.append(Problem(msg, key_path=f"{path}.{key}"))
        if op.call_mode not in ("sdk", "switchless", "hotcall"):
            p.append(Problem("unknown call mode", key_path=f"{path}.call_mode",
                             expected="sdk, switchless or hotcall", found=repr(op.call_mode)))
        enc = config.enclaves[config.enclave_index(op)]
        if op.call_mode != "sdk" and op.ocalls > 0 and enc.switchless_workers == 0:
            p.append(Problem(f"{op.call_mode} OCALLs need worker threads",
                             key_path=f"enclaves.{enc.name}.switchless_workers",
                             expected=">= 1", found="0"))
        if op.ecall_mode not in ("sdk", "switchless", "hotcall"):
            p.append(Problem("unknown call mode", key_path=f"{path}.ecall_mode",
                             expected="sdk, switchless or hotcall", found=repr(op.ecall_mode)))
        elif op.ecall_mode != "sdk" and op.ecalls > 0 and enc.trusted_workers == 0:
            p.append(Problem(f"{op.ecall_mode} ECALLs need trusted worker threads",
                             key_path=f"enclaves.{enc.name}.trusted_workers",
                             expected=">= 1", found="0"))
        if op.locks and not (all(0 <= f <= 1 for _, f in op.locks)
                             and sum(f for _, f in op.locks) <= 1 + 1e-12):
            p.append(Problem("lock hold shares must be in 0..1 and sum to at most 1",
                             key_path=f"{path}.locks", found=repr(op.locks)))
        if len(op.memory) > 256:
            p.append(Problem("too many memory accesses", key_path=f"{path}.memory",
                             expected="at most 256"))
        regions = [r.name for r in enc.regions]
        for j, m in enumerate(op.memory):
            mp = f"{path}.memory.{j}"
            if m.region not in regions:
                p.append(Problem("unknown region", key_path=f"{mp}.region", found=repr(m.region),
                                 expected="one of " + ", ".join(regions),
                                 suggestion=_suggest(m.region, regions)))
            if isinstance(m.pages, int) and m.pages < 0:
                p.append(Problem("pages must be >= 0", key_path=f"{mp}.pages", found=str(m.pages)))
            if m.cache_lines_per_page < 0 or m.cache_lines_per_page > PAGE_BYTES // 64:
                p.append(Problem("cache lines per page out of range",
                                 key_path=f"{mp}.cache_lines_per_page", expected="0..64",
                                 found=str(m.cache_lines_per_page)))
            if m.llc_miss_fraction is not None and not 0 <= m.llc_miss_fraction <= 1:
                p.append(Problem("fraction out of range", key_path=f"{mp}.llc_miss_fraction",
                                 expected="0..1", found=str(m.llc_miss_fraction)))
            if not 0 <= m.dependent_fraction <= 1:
                p.append(Problem("fraction out of range", key_path=f"{mp}.dependent_fraction",
                                 expected="0..1", found=str(m.dependent_fraction)))
            if not 0 <= m.write_fraction <= 1:
                p.append(Problem("fraction out of range", key_path=f"{mp}.write_fraction",
                                 expected="0..1", found=str(m.write_fraction)))
    _check_arrival(config.arrival, "workload.arrival", p)
    s = config.settings
    if not (s.duration_s > 0 and math.isfinite(s.duration_s)):
        p.append(Problem("duration must be positive", key_path="simulation.duration",
                         found=repr(s.duration_s)))
    if not 0 <= s.warmup_s < s.duration_s:
        p.append(Problem("warm-up must be >= 0 and shorter than the duration",
                         key_path="simulation.warmup", found=repr(s.warmup_s)))
    if not s.memory_level_parallelism >= 1:
        p.append(Problem("memory-level parallelism must be >= 1",
                         key_path="simulation.memory_level_parallelism"))
    if s.timer_interrupt_mode not in ("expected", "poisson"):
        p.append(Problem("unknown timer interrupt mode", key_path="simulation.timer_interrupts",
                         expected="expected or poisson", found=repr(s.timer_interrupt_mode)))
    if s.sgx_driver not in ("upstream", "isgx"):
        p.append(Problem("unknown SGX driver", key_path="simulation.sgx_driver",
                         expected="upstream or isgx", found=repr(s.sgx_driver)))
    if s.host not in ("vm", "bare_metal"):
        p.append(Problem("unknown host kind", key_path="simulation.host",
                         expected="vm or bare_metal", found=repr(s.host)))
    if s.platform_enclave_pages < 0:
        p.append(Problem("platform enclave pages must be >= 0",
                         key_path="simulation.platform_enclaves",
                         found=str(s.platform_enclave_pages)))
    if s.max_in_system is not None and s.max_in_system < 1:
        p.append(Problem("max_in_system must be >= 1", key_path="simulation.max_in_system"))
    for k, ph in enumerate(config.phases):
        path = f"workload.phases.{ph.name}"
        last = k == len(config.phases) - 1
        if ph.duration_s is None and not last:
            p.append(Problem("only the last phase may omit its duration",
                             key_path=f"{path}.duration"))
        if ph.duration_s is not None and not ph.duration_s > 0:
            p.append(Problem("phase duration must be positive", key_path=f"{path}.duration"))
        if ph.mix is not None:
            for name, w in ph.mix.items():
                if name not in op_names:
                    p.append(Problem("unknown operation in mix", key_path=f"{path}.mix.{name}",
                                     suggestion=_suggest(name, op_names)))
                elif not w >= 0:
                    p.append(Problem("weight must be >= 0", key_path=f"{path}.mix.{name}"))
            if sum(ph.mix.values()) <= 0:
                p.append(Problem("the mix needs a positive weight", key_path=f"{path}.mix"))
        if ph.arrival is not None:
            _check_arrival(ph.arrival, f"{path}.arrival", p)
    if not config.phases and sum(o.weight for o in config.operations) <= 0:
        p.append(Problem("the mix needs a positive weight", key_path="workload.operations"))
    if p:
        raise ScenarioError(p)
