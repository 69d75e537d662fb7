"""Runtime profiles and LVI hardening against hand-computed limiting cases."""

from __future__ import annotations

import dataclasses

import pytest

from epcsim.model import simulate
from epcsim.model.config import (
    ArrivalConfig,
    EnclaveConfig,
    ModelConfig,
    OperationConfig,
    RegionConfig,
    SimulationSettings,
    VmConfig,
)
from epcsim.reference.cost_parameters import default_costs

HZ = 3.0e9
C = default_costs()


def _cfg(gen: int = 1, runtime: str = "intel-sdk", lvi: str = "none", ocalls: int = 2,
         costs: dict | None = None) -> ModelConfig:
    return ModelConfig(
        vm=VmConfig(name="t", vcpus=4, clock_hz=HZ, sgx_generation=gen, epc_pages=65536),
        enclaves=(EnclaveConfig(name="e", regions=(RegionConfig("heap", 16),), threads=2,
                                runtime=runtime, lvi_hardening=lvi),),
        operations=(OperationConfig(name="op", ecalls=1, ocalls=ocalls,
                                    compute_cycles=300_000),),
        arrival=ArrivalConfig(kind="trace", timestamps_s=(0.0,)),
        settings=SimulationSettings(duration_s=0.1, timer_interrupts=False),
        costs=costs or {},
    )


def _lat(cfg: ModelConfig, native: bool = False) -> float:
    return float(simulate(cfg, native=native).arrays["latency_s"][0])


@pytest.mark.parametrize("runtime, extra_call, libos", [
    ("intel-sdk", 0, 0), ("open-enclave", C["oe_extra_call_cycles"], 0),
    ("gramine", 0, C["libos_syscall_cycles"]), ("occlum", 0, C["libos_syscall_cycles"])])
def test_runtime_adds_its_call_layer_and_libos_work(runtime: str, extra_call: float,
                                                    libos: float) -> None:
    cyc = (C["ecall_cycles"] + extra_call + 2 * (C["ocall_cycles"] + extra_call)
           + 2 * libos + 300_000)
    assert _lat(_cfg(runtime=runtime)) == pytest.approx(cyc / HZ, rel=1e-12)
    # the native baseline does none of it: compute + two plain system calls
    native = (300_000 + 2 * C["linux_syscall_cycles"]) / HZ
    assert _lat(_cfg(runtime=runtime), native=True) == pytest.approx(native, rel=1e-12)


@pytest.mark.parametrize("lvi, key", [("control-flow", "cf"), ("full", "full")])
def test_lvi_hardening_applies_on_sgx1_only(lvi: str, key: str) -> None:
    f, t = C[f"lvi_compute_factor_{key}"], C[f"lvi_transition_factor_{key}"]
    want = ((C["ecall_cycles"] + 2 * C["ocall_cycles"]) * t + 300_000 * f) / HZ
    assert _lat(_cfg(lvi=lvi)) == pytest.approx(want, rel=1e-12)
    sgx2 = simulate(_cfg(gen=2, lvi=lvi))
    assert float(sgx2.arrays["latency_s"][0]) == pytest.approx(_lat(_cfg(gen=2)), rel=1e-12)


def test_sgx2_transitions_are_the_sgx1_costs_times_the_sgx2_factor() -> None:
    base = (C["ecall_cycles"] + 2 * C["ocall_cycles"] + 300_000) / HZ
    assert _lat(_cfg(gen=2)) == pytest.approx(base, rel=1e-12)  # factor 1 by default
    over = _lat(_cfg(gen=2, costs={"sgx2_transition_factor": 0.5}))
    assert over == pytest.approx(base - 0.5 * (C["ecall_cycles"] + 2 * C["ocall_cycles"]) / HZ,
                                 rel=1e-12)


def test_libos_footprint_is_an_added_region_built_at_startup() -> None:
    from epcsim.reference.catalog import get_vm
    from epcsim.scenario import load_scenario
    from epcsim.study.configure import model_config

    raw = {"name": "g", "vm": {"sizes": ["DC4s_v3"]},
           "enclaves": [{"name": "e", "size": "64 MiB", "runtime": "gramine"}],
           "workload": {"arrival": {"kind": "poisson", "rate": "10/s"},
                        "operations": [{"name": "op", "ocalls": 1}]}}
    scn = load_scenario(raw)
    vm = get_vm("DC4s_v3")
    cfg = model_config(scn, vm)
    enc = cfg.enclaves[0]
    assert [r.name for r in enc.regions] == ["heap", "libos"]
    assert enc.committed_pages == 16384 + C["libos_footprint_pages_gramine"]
    sdk = model_config(load_scenario({**raw, "enclaves": [{"name": "e", "size": "64 MiB"}]}),
                       vm)
    assert sdk.enclaves[0].committed_pages == 16384
    s_g = simulate(dataclasses.replace(cfg, settings=SimulationSettings(duration_s=0.01)))
    s_s = simulate(dataclasses.replace(sdk, settings=SimulationSettings(duration_s=0.01)))
    assert s_g.metrics["enclave_startup_s"] > s_s.metrics["enclave_startup_s"]


def _mem_cfg(untrusted: bool, pages_region: int = 100_000) -> ModelConfig:
    from epcsim.model.config import MemoryAccessConfig

    return ModelConfig(
        vm=VmConfig(name="t", vcpus=4, clock_hz=HZ, sgx_generation=1, epc_pages=8192),
        enclaves=(EnclaveConfig(name="e", threads=2, regions=(
            RegionConfig("heap", 16), RegionConfig("host", pages_region, untrusted=untrusted)
        )),),
        operations=(OperationConfig(name="op", ecalls=0, memory=(
            MemoryAccessConfig("host", 100, cache_lines_per_page=8, llc_miss_fraction=1.0),)),),
        arrival=ArrivalConfig(kind="trace", timestamps_s=(0.0,)),
        settings=SimulationSettings(duration_s=0.1, timer_interrupts=False,
                                    memory_level_parallelism=10.0),
    )


def test_untrusted_region_has_no_epc_pages_no_penalty_but_llc_misses_cost() -> None:
    # a 400 MiB host buffer on a 32 MiB EPC: no enclave pages, no faults, DRAM time only
    r = simulate(_mem_cfg(untrusted=True))
    dram = C["dram_latency_ns"] * 1e-9
    # DRAM time of the LLC misses, plus the page walks of 100 touches over 100k pages
    # (issue 14's TLB term: host pages are walked too, with no EPCM check)
    tlb_s = float(r.arrays["tlb_s"][0])
    assert tlb_s > 0
    assert float(r.arrays["latency_s"][0]) == pytest.approx(100 * 8 * dram / 10 + tlb_s,
                                                            rel=1e-12)
    assert r.metrics["epc_faults_per_s"] == 0
    # the same region inside the enclave pays the MEE penalty (and could not even be built
    # without paging): more memory time per touch
    inside = simulate(_mem_cfg(untrusted=False, pages_region=4000))
    assert float(inside.arrays["latency_s"][0]) > float(r.arrays["latency_s"][0])


def test_marshalled_bytes_cost_a_fixed_part_per_buffer_plus_per_byte() -> None:
    op = OperationConfig(name="op", ecalls=2, ocalls=1, ecall_bytes_in=4096, ecall_bytes_out=0,
                         ocall_bytes_in=100, ocall_bytes_out=1000)
    cfg = dataclasses.replace(_cfg(), operations=(op,))
    fixed, per_byte = C["marshal_fixed_cycles"], C["marshal_byte_cycles"]
    want = (2 * (C["ecall_cycles"] + fixed + 4096 * per_byte)
            + C["ocall_cycles"] + 2 * fixed + 1100 * per_byte) / HZ
    assert _lat(cfg) == pytest.approx(want, rel=1e-12)
    assert _lat(cfg, native=True) == pytest.approx(C["linux_syscall_cycles"] / HZ, rel=1e-12)
