"""``simulation.mechanisms``: switches that turn the issue-14 paging mechanisms off one at a
time, to measure what each one does to a prediction (``epcsim mechanisms``).

Every switch is on by default, and a scenario with every switch on is the model as
documented in docs/model.md. A switch off removes exactly one mechanism; how each is
removed (a model flag, or a cost parameter set to the value that is exactly equivalent) is
in :data:`COST_EQUIVALENTS` and :func:`epcsim.study.configure.model_config`. The page swap's
split between the faulting thread and ksgxd is not a switch: it defines what the enclave
lock holds (switch ``enclave_lock`` off to see the lock's effect).
"""
from __future__ import annotations

from pydantic import Field

from epcsim.scenario.fields import _Spec

#: Mechanisms whose "off" is exactly a cost parameter at a neutral value: name ->
#: {cost parameter: value} (each in its own unit, as under ``costs``).
COST_EQUIVALENTS: dict[str, dict[str, float]] = {
    "vm_ipi_surcharge": {"ipi_vm_extra_s": 0.0},
    "page_walks": {"page_walk_cycles": 0.0, "epcm_check_cycles": 0.0},
    "tme_dependent_penalty": {"tme_dependent_miss_penalty_ns": 0.0},
    "ssbd": {"ssbd_slowdown": 1.0},
    "enclave_build": {"ecreate_einit_cycles": 0.0, "eremove_cycles": 0.0},
    "mee_writes_and_bandwidth": {"mee_write_penalty_ns": 0.0, "mee_bandwidth_bytes_per_s": 0.0},
    "edmm_accept": {"eaccept_cycles": 0.0, "edmm_exception_cycles": 0.0},
}


class Mechanisms(_Spec):
    """Issue-14 mechanisms, each on (`true`, the default) or off (`false`)."""

    enclave_lock: bool = Field(
        True, description="Per-enclave mutex: one enclave's faults and evictions are "
                          "serialised (`sgx_vma_fault`, `sgx_reclaim_pages`). Off: no one "
                          "waits for the lock (the work itself is still paid).")
    tlb_shootdowns: bool = Field(
        True, description="A TLB-shootdown IPI round per evicted page, each forcing every "
                          "running enclave thread out (AEX + ERESUME). Off: only the ETRACK "
                          "IPI, once per enclave per reclaim batch.")
    vm_ipi_surcharge: bool = Field(
        True, description="The extra cost of an IPI round in a VM. Off: exactly "
                          "`costs: {ipi_vm_extra_s: 0}` (as `host: bare_metal`).")
    page_walks: bool = Field(
        True, description="The TLB model (4 KiB EPC pages, flushes on every transition, "
                          "page walks and the EPCM check). Off: exactly `costs: "
                          "{page_walk_cycles: 0, epcm_check_cycles: 0}`: no TLB time, SGX "
                          "or native.")
    tme_dependent_penalty: bool = Field(
        True, description="SGX2 (TME-MK) extra latency of a dependent LLC miss. Off: exactly "
                          "`costs: {tme_dependent_miss_penalty_ns: 0}`.")
    ssbd: bool = Field(
        True, description="The SSBD slowdown of in-enclave compute and memory time. Off: "
                          "exactly `costs: {ssbd_slowdown: 1}` (the default is already 1).")
    enclave_build: bool = Field(
        True, description="The fixed cost of building (ECREATE + EINIT) and tearing down "
                          "(EREMOVE) an enclave. Off: exactly `costs: {ecreate_einit_cycles: "
                          "0, eremove_cycles: 0}`. Changes start-up and teardown times only.")
    va_pages: bool = Field(
        True, description="Version Array pages the driver allocates as pages are added, "
                          "taken out of the usable EPC. Off: they take no EPC.")
    platform_enclaves: bool = Field(
        True, description="`simulation.platform_enclaves` taken out of the usable EPC. Off: "
                          "as if it were 0.")
    mee_writes_and_bandwidth: bool = Field(
        True, description="SGX1 MEE: the extra penalty of a write miss and the MEE's "
                          "bandwidth cap (`epcsim/model/mee.py`). Off: exactly `costs: "
                          "{mee_write_penalty_ns: 0, mee_bandwidth_bytes_per_s: 0}` (0 = no "
                          "cap; the read penalty stays).")
    edmm_accept: bool = Field(
        True, description="SGX2 EDMM first touch: EACCEPT and the runtime's exception round "
                          "trip on the pending page. Off: exactly `costs: {eaccept_cycles: 0, "
                          "edmm_exception_cycles: 0}` (the kernel's EAUG path stays).")


#: Mechanism names, in the order the scenario reference and `epcsim mechanisms` list them.
MECHANISM_NAMES: tuple[str, ...] = tuple(Mechanisms.model_fields)
