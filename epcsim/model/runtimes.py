"""Runtime profiles and LVI hardening: what an enclave's SGX runtime adds to its costs.

What it models (docs/model.md, "Runtime profiles" and "LVI hardening"; every number is a
cost parameter in epcsim/reference/data/cost_parameters.csv and can be overridden):

- **Transitions per platform**: ``ecall_cycles``/``ocall_cycles`` on SGX1 (DCsv2, Coffee
  Lake); on SGX2 (DCsv3, Ice Lake) the same times ``sgx2_transition_factor``. No citable Ice
  Lake figure exists, so the factor is 1 (confidence ``estimate``, wide range), although Ice
  Lake-SP needs no L1TF/MDS flush on enclave exit (docs/model.md, section 6).
- **Runtime** (``intel-sdk`` | ``open-enclave`` | ``gramine`` | ``occlum``):
  ``open-enclave`` adds ``oe_extra_call_cycles`` to every ECALL and OCALL (its marshalling
  layer); ``gramine`` and ``occlum`` run a library OS that does ``libos_syscall_cycles`` of
  in-enclave work per emulated system call (each OCALL of an operation; the native baseline
  does not), carry their own pages (``libos_footprint_pages_*``: a region ``libos`` added to the
  enclave, built at start-up, so it costs build time and EPC) and a start-up cost
  (``runtime_startup_s_*``, not quantified by any source: 0 by default). The syscall path
  (Gramine's exitless RPC threads, the SDK's switchless calls) is
  :mod:`epcsim.model.transitions`.
- **LVI hardening** (``none`` | ``control-flow`` | ``full``): in-enclave compute times
  ``lvi_compute_factor_*`` and ECALL/OCALL cycles times ``lvi_transition_factor_*``, on SGX1
  parts only (Ice Lake is not affected by LVI and the hardened binary's cost is not modelled
  there: a note says so). No runtime ships hardened by default.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

RUNTIMES = ("intel-sdk", "open-enclave", "gramine", "occlum")
LVI_MODES = ("none", "control-flow", "full")
LIBOS_RUNTIMES = ("gramine", "occlum")
_LVI_KEY = {"control-flow": "cf", "full": "full"}


@dataclass(frozen=True)
class EnclaveProfile:
    """Cost adjustments of one enclave (cycles at the VM clock, or factors)."""

    ecall_cycles: float
    ocall_cycles: float
    libos_syscall_cycles: float
    compute_factor: float
    startup_s: float


def transition_cycles(c: Mapping[str, float], sgx_generation: int) -> tuple[float, float]:
    """(ECALL, OCALL) round-trip cycles on this generation (see the module doc)."""
    if sgx_generation == 1:
        return c["ecall_cycles"], c["ocall_cycles"]
    f = c["sgx2_transition_factor"]
    if f == 1.0:
        return c["ecall_cycles"], c["ocall_cycles"]
    return c["ecall_cycles"] * f, c["ocall_cycles"] * f


def enclave_profile(runtime: str, lvi_hardening: str, c: Mapping[str, float],
                    sgx_generation: int) -> EnclaveProfile:
    """The profile of an enclave with ``runtime`` and ``lvi_hardening`` on ``sgx_generation``."""
    ecall, ocall = transition_cycles(c, sgx_generation)
    if runtime == "open-enclave":
        ecall += c["oe_extra_call_cycles"]
        ocall += c["oe_extra_call_cycles"]
    compute_factor = 1.0
    if lvi_hardening != "none" and sgx_generation == 1:
        key = _LVI_KEY[lvi_hardening]
        compute_factor = c[f"lvi_compute_factor_{key}"]
        ecall *= c[f"lvi_transition_factor_{key}"]
        ocall *= c[f"lvi_transition_factor_{key}"]
    libos = c["libos_syscall_cycles"] if runtime in LIBOS_RUNTIMES else 0.0
    startup = c.get(f"runtime_startup_s_{runtime.replace('-', '_')}", 0.0)
    return EnclaveProfile(ecall_cycles=ecall, ocall_cycles=ocall, libos_syscall_cycles=libos,
                          compute_factor=compute_factor, startup_s=startup)


def footprint_mib(runtime: str, c: Mapping[str, float]) -> float:
    """MiB of EPC the runtime itself commits in the enclave (0 for the SDK and OE)."""
    if runtime in LIBOS_RUNTIMES:
        return c[f"libos_footprint_pages_{runtime}"] * 4096 / 2**20
    return 0.0


def notes(enclaves: list[tuple[str, str]], sgx_generation: int, vm_name: str) -> list[str]:
    """Notes for the result: LVI hardening ignored on Ice Lake."""
    out = []
    for name, lvi in enclaves:
        if lvi != "none" and sgx_generation == 2:
            out.append(f"enclave {name}: lvi_hardening {lvi} not charged on {vm_name} "
                       "(SGX2 / Ice Lake is not affected by LVI)")
    return out
