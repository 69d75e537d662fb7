"""From a validated scenario to the timing model's inputs.

:func:`model_config` turns one :class:`~epcsim.scenario.Scenario` (sweep point applied) and one
:class:`~epcsim.reference.catalog.VmSize` into the :class:`~epcsim.model.ModelConfig` of resolved
numbers that :func:`epcsim.model.simulate` runs. The scenario has already checked every value; this
module only re-expresses it: sizes in bytes become 4 KiB pages (rounded up: a region of
4097 bytes occupies two pages), the clock is chosen (``vm.clock`` if the scenario sets it,
else ``simulation.clock``), ``llc_miss_fraction: model`` becomes ``None`` (the model derives
it), and arrival-trace files are read into timestamps.

It imports the scenario and the model but nothing of pandas, files other than arrival traces,
or plotting, so a worker process can build configs cheaply.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from epcsim.model import (
    ArrivalConfig,
    EnclaveConfig,
    MemoryAccessConfig,
    ModelConfig,
    OperationConfig,
    PhaseConfig,
    RegionConfig,
    SimulationSettings,
    VmConfig,
)
from epcsim.model.runtimes import footprint_mib
from epcsim.model.servicetime import ServiceDist, normalised_samples
from epcsim.reference.catalog import VmSize
from epcsim.reference.cost_parameters import default_costs
from epcsim.scenario import Scenario
from epcsim.scenario.mechanisms import COST_EQUIVALENTS
from epcsim.traces.io import read_arrival_times
from epcsim.units import PAGE_BYTES


def pages_of(size_bytes: int) -> int:
    """4 KiB pages needed to hold ``size_bytes`` (rounded up)."""
    return max(1, math.ceil(size_bytes / PAGE_BYTES))


def read_arrival_timestamps(path: str, where: str = "workload.arrival.file") -> tuple[float, ...]:
    """Arrival times in seconds (see :func:`epcsim.traces.read_arrival_times`: bounded, never
    truncated). Raises :class:`EpcsimError` on anything else."""
    return tuple(read_arrival_times(path, where).tolist())


def _arrival(spec: Any, where: str) -> ArrivalConfig:
    if spec.kind == "poisson":
        return ArrivalConfig(kind="poisson", rate_per_s=float(spec.rate_per_s))
    if spec.kind == "closed":
        return ArrivalConfig(kind="closed", clients=int(spec.clients),
                             think_time_s=float(spec.think_time_s))
    return ArrivalConfig(kind="trace", timestamps_s=read_arrival_timestamps(spec.file, where))


def _pages_spec(pages: Any) -> int | dict[str, Any]:
    if isinstance(pages, int):
        return pages
    return {k: v for k, v in pages.model_dump().items() if v is not None}


def service_dist(shape: Any, where: str) -> ServiceDist | None:
    """The model's :class:`ServiceDist` of a scenario ``DistShape`` (``None`` stays ``None``);
    an empirical file is read again (bounded) and normalised to mean 1."""
    if shape is None:
        return None
    if shape.dist == "empirical":
        from epcsim.scenario.distributions import read_samples

        _mean, samples = normalised_samples(read_samples(shape.file, where))
        return ServiceDist(kind="empirical", samples=samples)
    return ServiceDist(kind=shape.dist, cv=float(shape.cv), low=float(shape.low_ratio),
                       high=float(shape.high_ratio))


def _libos_region(runtime: str, costs: dict[str, float]) -> tuple[RegionConfig, ...]:
    """The library OS's own pages (gramine, occlum), added after the enclave's regions."""
    mib = footprint_mib(runtime, costs)
    return (RegionConfig(name="libos", pages=pages_of(int(mib * 2**20))),) if mib > 0 else ()


def model_config(scenario: Scenario, vm: VmSize) -> ModelConfig:
    """The timing model's input for ``scenario`` (sweep applied) on ``vm``."""
    sim = scenario.simulation
    mech = sim.mechanisms
    clock = scenario.vm.clock or sim.clock
    vm_config = VmConfig.from_vm_size(vm, clock=clock)
    if sim.llc_bytes is not None:
        vm_config = dataclasses.replace(vm_config, llc_bytes=int(sim.llc_bytes))
    costs = {**default_costs(), **dict(scenario.costs)}
    enclaves = tuple(
        EnclaveConfig(
            name=e.name,
            regions=tuple(RegionConfig(name=r.name, pages=pages_of(r.size_bytes),
                                       untrusted=r.location == "untrusted")
                          for r in e.regions) + _libos_region(e.runtime, costs),
            threads=e.threads,
            size_pages=max(pages_of(e.size_bytes),
                           sum(pages_of(r.size_bytes) for r in e.regions
                               if r.location == "enclave"))
            + sum(r.pages for r in _libos_region(e.runtime, costs)),
            edmm=e.edmm,
            paging=e.paging,
            switchless_workers=e.switchless_workers,
            trusted_workers=e.trusted_workers,
            runtime=e.runtime,
            lvi_hardening=e.lvi_hardening,
        )
        for e in scenario.enclaves)
    only_enclave = scenario.enclaves[0].name if len(scenario.enclaves) == 1 else None
    operations = tuple(
        OperationConfig(
            name=op.name,
            weight=float(op.weight),
            enclave=op.enclave or only_enclave,
            ecalls=op.ecalls,
            ocalls=op.ocalls,
            ocall_host_time_s=float(op.ocall_host_time_s),
            ocall_blocking=op.ocall_blocking,
            call_mode=op.call_mode,
            ecall_mode=op.ecall_mode,
            ecall_bytes_in=int(op.ecall_bytes_in),
            ecall_bytes_out=int(op.ecall_bytes_out),
            ocall_bytes_in=int(op.ocall_bytes_in),
            ocall_bytes_out=int(op.ocall_bytes_out),
            locks=tuple((lk.name, float(lk.hold)) for lk in op.locks),
            compute_cycles=float(op.compute.cycles),
            compute_s=float(op.compute.time_s),
            compute_distribution=op.compute_distribution,
            compute_dist=service_dist(op.compute_dist,
                                      f"workload.operations.{op.name}.compute"),
            host_time_dist=service_dist(op.ocall_host_time_dist,
                                        f"workload.operations.{op.name}.ocall_host_time"),
            memory=tuple(
                MemoryAccessConfig(
                    region=m.region,
                    pages=_pages_spec(m.pages),
                    pattern=m.pattern.model_dump(),
                    cache_lines_per_page=m.cache_lines_per_page,
                    llc_miss_fraction=None if m.llc_miss_fraction == "model"
                    else float(m.llc_miss_fraction),
                    dependent_fraction=float(m.dependent_fraction),
                    write_fraction=float(m.write_fraction),
                )
                for m in op.memory),
        )
        for op in scenario.workload.operations)
    phases = tuple(
        PhaseConfig(
            name=ph.name,
            duration_s=ph.duration_s,
            mix=dict(ph.mix) if ph.mix is not None else None,
            arrival=_arrival(ph.arrival, f"workload.phases.{ph.name}.arrival.file")
            if ph.arrival is not None else None,
        )
        for ph in scenario.workload.phases)
    settings = SimulationSettings(
        duration_s=float(sim.duration_s),
        warmup_s=float(sim.warmup_s),
        timer_interrupts=sim.timer_interrupts,
        epc_policy=sim.epc_policy,
        sgx_driver=sim.sgx_driver,
        host=sim.host,
        platform_enclave_pages=-(-int(sim.platform_enclaves_bytes) // PAGE_BYTES)
        if mech.platform_enclaves else 0,
        native_huge_pages=sim.native_huge_pages,
        enclave_lock=mech.enclave_lock,
        tlb_shootdowns=mech.tlb_shootdowns,
        va_pages=mech.va_pages,
    )
    costs = dict(scenario.costs)
    for name, neutral in COST_EQUIVALENTS.items():
        if not getattr(mech, name):  # a mechanism off wins over the scenario's own value
            costs.update(neutral)
    return ModelConfig(
        vm=vm_config,
        enclaves=enclaves,
        operations=operations,
        arrival=_arrival(scenario.workload.arrival, "workload.arrival.file"),
        settings=settings,
        phases=phases,
        costs=costs,
    )


def working_set_bytes(scenario: Scenario) -> int:
    """Bytes of the regions that some operation touches (the workload's working set)."""
    touched: set[tuple[str, str]] = set()
    only = scenario.enclaves[0].name
    for op in scenario.workload.operations:
        for m in op.memory:
            touched.add((op.enclave or only, m.region))
    total = 0
    for e in scenario.enclaves:
        for r in e.regions:
            if (e.name, r.name) in touched:
                total += pages_of(r.size_bytes) * PAGE_BYTES
    return total


def offered_load_ops_s(scenario: Scenario) -> float:
    """Offered load of an open-loop scenario's main arrival process (NaN when closed)."""
    arrival = scenario.workload.arrival
    if arrival.kind == "poisson":
        return float(arrival.rate_per_s)
    if arrival.kind == "trace":
        ts = np.asarray(read_arrival_timestamps(arrival.file))
        span = float(ts[-1] - ts[0])
        return (len(ts) - 1) / span if span > 0 else float("nan")
    return float("nan")
