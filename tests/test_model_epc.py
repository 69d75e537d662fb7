"""Timing model with the EPC: limiting cases, capacity invariant, the paging cliff, start-up,
ksgxd's IPIs, EDMM and Eleos-style paging."""

from __future__ import annotations

import dataclasses

import pytest

from epcsim.model import (
    ArrivalConfig,
    EnclaveConfig,
    MemoryAccessConfig,
    ModelConfig,
    OperationConfig,
    RegionConfig,
    SimulationSettings,
    VmConfig,
    simulate,
)
from epcsim.model.startup import usable_epc_pages
from epcsim.reference.cost_parameters import default_costs

MIB_PAGES = 256  # 4 KiB pages per MiB
USABLE_EPC_PAGES = 93 * MIB_PAGES  # SGX1: 93 MiB of the 128 MiB PRM (TeeBench, CPUID dumps)


def hash_join_config(working_set_pages: int, *, duration_s: float = 0.25, threads: int = 4,
                     outer_pages: int = 2048) -> ModelConfig:
    """TeeBench-like CHT join on an SGX1 i7-8565U-like machine (1.8 GHz, 4 cores, 93 MiB EPC).

    One operation joins one page of the outer relation (512 8-byte tuples, a sequential scan
    that continues where the last one stopped) against the inner hash table: 512 random
    probes (one dependent cache-line miss each) over the table. Closed loop, one client per
    thread, no think time: throughput is the join rate.
    """
    control = 1 + threads * 3  # SECS + TCS + 2 SSA pages per thread
    return ModelConfig(
        vm=VmConfig("i7-8565U-like", vcpus=4, clock_hz=1.8e9, sgx_generation=1,
                    epc_pages=USABLE_EPC_PAGES + control),
        enclaves=(EnclaveConfig("join", threads=threads, regions=(
            RegionConfig("inner", working_set_pages - outer_pages),
            RegionConfig("outer", outer_pages))),),
        operations=(OperationConfig("join_page", ecalls=0, compute_cycles=512 * 20, memory=(
            MemoryAccessConfig("outer", 1, {"kind": "sequential"}, cache_lines_per_page=64,
                               llc_miss_fraction=1.0, dependent_fraction=0.0),
            MemoryAccessConfig("inner", 512, {"kind": "uniform"}, cache_lines_per_page=1,
                               llc_miss_fraction=1.0, dependent_fraction=1.0))),),
        arrival=ArrivalConfig("closed", clients=threads, think_time_s=0.0),
        settings=SimulationSettings(duration_s=duration_s, warmup_s=0.05, check_invariants=True),
    )


def kv_config(table_pages: int, epc_pages: int, *, gen: int = 1, edmm: bool = False,
              paging: str = "sgx", rate_per_s: float = 20_000.0,
              duration_s: float = 0.3) -> ModelConfig:
    return ModelConfig(
        vm=VmConfig("kv", vcpus=4, clock_hz=3.7e9, sgx_generation=gen, epc_pages=epc_pages),
        enclaves=(EnclaveConfig("kv", regions=(RegionConfig("table", table_pages),), threads=4,
                                edmm=edmm, paging=paging),),  # type: ignore[arg-type]
        operations=(OperationConfig("get", compute_cycles=10_000, memory=(
            MemoryAccessConfig("table", 16, {"kind": "uniform"}, llc_miss_fraction=0.5,
                               dependent_fraction=0.5),)),),
        arrival=ArrivalConfig("poisson", rate_per_s=rate_per_s),
        settings=SimulationSettings(duration_s=duration_s, warmup_s=0.1, check_invariants=True),
    )


def test_epc_larger_than_working_set_gives_zero_faults() -> None:
    r = simulate(kv_config(table_pages=10_000, epc_pages=12_000), 0, 1)
    m = r.metrics
    assert m["ops_completed"] > 1000
    assert m["epc_faults_per_s"] == 0 and m["epc_evictions_per_s"] == 0
    assert m["epc_faults_per_op"] == 0 and m["share_paging"] == 0
    assert m["epc_build_evictions"] == 0 and m["ksgxd_batches_per_s"] == 0
    assert (r.arrays["faults"] == 0).all()


def test_paging_keeps_resident_pages_within_capacity_and_balances_faults() -> None:
    cfg = kv_config(table_pages=12_000, epc_pages=8_000, rate_per_s=5_000)
    r = simulate(cfg, 0, 1)  # check_invariants raises if resident pages exceed capacity
    m = r.metrics
    capacity = usable_epc_pages(cfg)
    assert m["epc_usable_pages"] == capacity
    assert m["epc_build_evictions"] >= 12_000 - capacity
    # Uniform probes over 12,000 pages with ~`capacity` resident: miss ratio ~ 1 - C/W.
    miss_ratio = m["epc_faults_per_s"] / m["epc_touches_per_s"]
    assert miss_ratio == pytest.approx(1 - capacity / 12_000, abs=0.03)
    # In steady state every fault needs an eviction (VA pages take a few).
    assert m["epc_evictions_per_s"] == pytest.approx(m["epc_faults_per_s"], rel=0.05)
    # Batches of at most 16; second chance spares young pages, so often fewer.
    assert m["epc_evictions_per_s"] / 16 <= m["ksgxd_batches_per_s"] <= m["epc_evictions_per_s"]
    assert m["share_paging"] > 0.2


def test_teebench_like_cliff_at_the_epc_size() -> None:
    under = simulate(hash_join_config(int(0.95 * USABLE_EPC_PAGES)), 0, 1).metrics
    over = simulate(hash_join_config(int(1.10 * USABLE_EPC_PAGES)), 0, 1).metrics
    assert under["epc_faults_per_s"] == 0
    assert over["epc_faults_per_op"] > 5
    assert under["throughput_ops_s"] >= 5 * over["throughput_ops_s"], (
        under["throughput_ops_s"], over["throughput_ops_s"])
    # ksgxd's batches force the other running join threads out with IPIs.
    assert over["ipis_per_s"] > 0 and over["ipi_aex_per_s"] > 0


def test_enclave_startup_grows_with_size_and_jumps_beyond_the_epc() -> None:
    def startup(pages: int, **kw: object) -> float:
        cfg = kv_config(table_pages=pages, epc_pages=20_000, **kw)  # type: ignore[arg-type]
        return simulate(dataclasses.replace(cfg, settings=dataclasses.replace(
            cfg.settings, duration_s=0.11, check_invariants=False)), 0, 1).metrics[
                "enclave_startup_s"]

    per_page = 9.8e-6  # enclave_build_s_per_page_sgx1
    s5, s10 = startup(5_000), startup(10_000)
    assert s10 - s5 == pytest.approx(5_000 * per_page, rel=1e-9)
    s30 = startup(30_000)
    capacity = 20_000 - 1 - 4 * 3 - 59  # SECS, TCS + 2 SSA per thread, ceil(30,001 / 512) VA
    costs = default_costs()
    ewb_s = (costs["eblock_cycles"] + costs["ewb_cycles"]  # EBLOCK + EWB + backing allocation
             + costs["backing_alloc_cycles"]) / 3.7e9
    # Beyond the EPC every extra page also pays the eviction path (plus ETRACKs).
    assert s30 - s10 >= 20_000 * per_page + (30_000 - capacity) * ewb_s
    assert s30 - s10 <= 20_000 * per_page + (30_000 - capacity) * ewb_s * 1.05
    # SGX2 with EDMM: nothing but the control pages is added at build time.
    assert startup(30_000, gen=2, edmm=True) < 1e-3


def test_edmm_first_touches_are_augments_and_edmm_needs_sgx2() -> None:
    r2 = simulate(kv_config(4_000, 20_000, gen=2, edmm=True), 0, 1)
    # Every page is added once, on its first touch (mostly during warm-up); nothing else faults.
    assert r2.counters["augments"] == 4_000 and r2.counters["faults"] == 4_000
    assert r2.metrics["enclave_startup_s"] < 1e-3
    r1 = simulate(kv_config(4_000, 20_000, gen=1, edmm=True), 0, 1)
    assert r1.counters["augments"] == 0 and any("EDMM" in n for n in r1.notes)


def test_eleos_paging_avoids_exits() -> None:
    sgx = simulate(kv_config(12_000, 8_000, rate_per_s=5_000), 0, 1).metrics
    eleos = simulate(kv_config(12_000, 8_000, rate_per_s=5_000, paging="eleos"), 0, 1).metrics
    assert eleos["epc_faults_per_s"] == pytest.approx(sgx["epc_faults_per_s"], rel=0.1)
    assert eleos["aex_per_s"] < 0.1 * sgx["aex_per_s"]
    assert eleos["ipis_per_s"] == 0
    assert eleos["latency_mean_s"] < sgx["latency_mean_s"]


def test_sgx2_memory_protection_is_cheaper_than_mee() -> None:
    sgx1 = simulate(kv_config(4_000, 20_000, gen=1), 0, 1).metrics
    sgx2 = simulate(kv_config(4_000, 20_000, gen=2), 0, 1).metrics
    native = simulate(kv_config(4_000, 20_000, gen=2), 0, 1, native=True).metrics
    mem_s = {k: m["share_memory"] * m["latency_mean_s"] for k, m in
             (("sgx1", sgx1), ("sgx2", sgx2), ("native", native))}
    assert mem_s["sgx1"] > mem_s["sgx2"] > mem_s["native"]
