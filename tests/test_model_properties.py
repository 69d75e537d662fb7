"""Timing model: properties over random small configurations, shared EPC, recorded arrivals."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epcsim.errors import EpcsimError
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

PATTERNS = [{"kind": "uniform"}, {"kind": "zipf", "s": 0.9}, {"kind": "sequential"},
            {"kind": "hotset", "hot_pages_fraction": 0.1, "hot_touches_fraction": 0.9}]


@st.composite
def configs(draw: st.DrawFn) -> ModelConfig:
    vcpus = draw(st.integers(1, 4))
    table = draw(st.integers(200, 3000))
    threads = draw(st.integers(1, 6))
    gen = draw(st.sampled_from([1, 2]))
    paging = draw(st.sampled_from(["sgx", "eleos"]))
    edmm = draw(st.booleans())
    epc = draw(st.integers(300, 4000))
    pages = draw(st.integers(0, 64))
    closed = draw(st.booleans())
    arrival = (ArrivalConfig("closed", clients=draw(st.integers(1, 8)), think_time_s=1e-4)
               if closed else ArrivalConfig("poisson", rate_per_s=draw(st.floats(500, 30_000))))
    op = OperationConfig(
        "op", compute_cycles=draw(st.floats(0, 2e5)),
        compute_distribution=draw(st.sampled_from(["fixed", "exponential"])),
        ocalls=draw(st.integers(0, 2)), ocall_host_time_s=draw(st.floats(0, 1e-4)),
        ocall_blocking=draw(st.booleans()),
        memory=(MemoryAccessConfig("t", pages, draw(st.sampled_from(PATTERNS)),
                                   llc_miss_fraction=draw(st.floats(0, 1)),
                                   dependent_fraction=draw(st.floats(0, 1))),))
    return ModelConfig(
        vm=VmConfig("prop", vcpus=vcpus, clock_hz=3e9, sgx_generation=gen, epc_pages=epc),
        enclaves=(EnclaveConfig("e", regions=(RegionConfig("t", table),), threads=threads,
                                edmm=edmm, paging=paging),),
        operations=(op,), arrival=arrival,
        settings=SimulationSettings(duration_s=0.05, warmup_s=0.01, check_invariants=True,
                                    max_in_system=draw(st.sampled_from([None, 20]))),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs(), st.booleans())
def test_conservation_components_and_capacity_hold(cfg: ModelConfig, native: bool) -> None:
    try:
        r = simulate(cfg, 0, 1, native=native)
    except EpcsimError as exc:  # a too-small EPC is a user error, reported as such
        assert "too small for the reclaimer" in str(exc)
        return
    m = r.metrics
    assert m["ops_arrived"] == m["ops_completed"] + m["ops_dropped"] + m["ops_in_system_at_end"]
    a = r.arrays
    done = ~np.isnan(a["end_s"])
    parts = sum(a[f"{p}_s"][done] for p in ("compute", "memory", "transitions", "paging",
                                              "tlb", "queueing"))
    np.testing.assert_allclose(parts, a["latency_s"][done], rtol=1e-9, atol=1e-12)
    assert (a["latency_s"][done] >= 0).all()
    assert 0 <= m["vcpu_utilisation"] <= 1 + 1e-9
    if a["latency_s"][done & a["measured"]].sum() > 0:  # else the shares are NaN (0/0)
        total = sum(m[f"share_{p}"] for p in ("compute", "memory", "transitions", "paging",
                                              "tlb", "queueing"))
        assert math.isclose(total, 1.0, abs_tol=1e-9)
    if native:
        assert m["epc_faults_per_s"] == 0 and m["aex_per_s"] == 0


def test_enclaves_share_the_epc() -> None:
    def run(other_pages: int) -> dict[str, float]:
        cfg = ModelConfig(
            vm=VmConfig("two", vcpus=4, clock_hz=3.7e9, sgx_generation=1, epc_pages=10_000),
            enclaves=(EnclaveConfig("a", regions=(RegionConfig("t", 6_000),), threads=2),
                      EnclaveConfig("b", regions=(RegionConfig("t", other_pages),), threads=2)),
            operations=(
                OperationConfig("ga", enclave="a", compute_cycles=10_000, memory=(
                    MemoryAccessConfig("t", 16, {"kind": "uniform"}),)),
                OperationConfig("gb", enclave="b", compute_cycles=10_000, memory=(
                    MemoryAccessConfig("t", 16, {"kind": "uniform"}),))),
            arrival=ArrivalConfig("poisson", rate_per_s=10_000),
            settings=SimulationSettings(duration_s=0.3, warmup_s=0.1, check_invariants=True))
        return simulate(cfg, 0, 1).metrics

    alone = run(1_000)  # 7,000 pages in all: fits
    crowded = run(8_000)  # 14,000 pages: enclave b's pages push a's out too
    assert alone["epc_faults_per_s"] == 0
    assert crowded["epc_faults_per_s"] > 0
    assert crowded["latency_mean_s"] > alone["latency_mean_s"]


def test_recorded_arrivals_are_replayed_exactly() -> None:
    ts = tuple(np.round(np.sort(np.random.default_rng(3).uniform(0, 0.1, 500)), 9).tolist())
    cfg = ModelConfig(
        vm=VmConfig("t", vcpus=2, clock_hz=3e9, sgx_generation=2, epc_pages=4096),
        enclaves=(EnclaveConfig("e", regions=(RegionConfig("t", 100),)),),
        operations=(OperationConfig("op", compute_cycles=3000),),
        arrival=ArrivalConfig("trace", timestamps_s=ts),
        settings=SimulationSettings(duration_s=0.2),
    )
    r = simulate(cfg, 0, 0)
    np.testing.assert_allclose(r.arrays["arrival_s"], np.array(ts), rtol=0, atol=1e-12)
    assert r.metrics["ops_completed"] == 500
