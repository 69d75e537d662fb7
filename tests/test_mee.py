"""SGX1 MEE (issue 14): read and write miss penalties and the MEE's bandwidth limit.
Limiting cases computed by hand in each test (1 cycle = 1 ns)."""

from __future__ import annotations

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
from epcsim.model.mee import MeeBandwidth, bytes_per_miss, miss_penalty_s

CLOCK_HZ = 1e9
PAGES = 100      # touches per operation (the region fits the EPC: no faults once built)
LINES = 8        # cache lines per touch, all LLC misses
DRAM_NS = 80.0
READ_NS = 100.0
WRITE_NS = 150.0
QUIET = {  # nothing but memory time: no ECALL, no TLB walks, no transitions
    "ecall_cycles": 0, "page_walk_cycles": 0, "dram_latency_ns": DRAM_NS,
    "mee_miss_penalty_ns": READ_NS, "mee_write_penalty_ns": WRITE_NS,
}


def test_penalty_and_bytes_per_miss() -> None:
    assert miss_penalty_s(100.0, 150.0, 0.0) == 100.0   # reads only: the read penalty
    assert miss_penalty_s(100.0, 150.0, 1.0) == 250.0   # write miss: RFO read + write-back
    assert miss_penalty_s(100.0, 150.0, 0.4) == pytest.approx(160.0)
    assert bytes_per_miss(0.0) == 64 and bytes_per_miss(1.0) == 128


def test_bandwidth_share_is_proportional_to_demand() -> None:
    off = MeeBandwidth(0.0)
    assert off.start(1.0, 1.0, 1e12) == (1.0, 0.0)  # 0 = unlimited: never stretches
    mee = MeeBandwidth(10.0)  # 10 bytes/s
    # one segment demanding 4 B/s (mem 1 s of 2 s at 8 B per s of memory time): below cap
    assert mee.start(1.0, 2.0, 8.0) == (1.0, 4.0)
    # a second demanding 8 B/s: total 12 > 10, its memory time stretches by 12/10
    mem, d = mee.start(1.0, 1.0, 8.0)
    assert mem == pytest.approx(1.2) and d == 8.0
    assert mee.stretch_s == pytest.approx(0.2)
    mee.end(4.0)
    mee.end(8.0)
    assert mee.demand_bytes_s == 0.0
    # n identical segments demanding d each: the last one stretches by n d / cap
    many = MeeBandwidth(10.0)
    for _ in range(4):
        mem, _d = many.start(1.0, 1.0, 5.0)
    assert mem == pytest.approx(4 * 5.0 / 10.0)


def _cfg(write_fraction: float, dependent: float, clients: int = 1,
         bandwidth: float = 0.0, gen: int = 1) -> ModelConfig:
    return ModelConfig(
        vm=VmConfig("mee", vcpus=4, clock_hz=CLOCK_HZ, sgx_generation=gen, epc_pages=10_000),
        enclaves=(EnclaveConfig("e", regions=(RegionConfig("r", PAGES),), threads=4),),
        operations=(OperationConfig("op", ecalls=0, memory=(
            MemoryAccessConfig("r", PAGES, {"kind": "sequential"}, cache_lines_per_page=LINES,
                               llc_miss_fraction=1.0, dependent_fraction=dependent,
                               write_fraction=write_fraction),)),),
        arrival=ArrivalConfig("closed", clients=clients),
        settings=SimulationSettings(duration_s=0.05, timer_interrupts=False),
        costs={**QUIET, "mee_bandwidth_bytes_per_s": bandwidth})


def _memory_s(cfg: ModelConfig, native: bool = False) -> float:
    a = simulate(cfg, 0, 1, native=native).arrays
    done = a["end_s"] == a["end_s"]
    return float(a["memory_s"][done].mean())


def test_write_misses_pay_the_write_back_on_sgx1_only() -> None:
    misses = PAGES * LINES
    assert _memory_s(_cfg(0.0, 1.0)) == pytest.approx(misses * (DRAM_NS + READ_NS) * 1e-9)
    assert _memory_s(_cfg(1.0, 1.0)) == pytest.approx(
        misses * (DRAM_NS + READ_NS + WRITE_NS) * 1e-9)
    # native and SGX2: no MEE, the write fraction changes nothing
    assert _memory_s(_cfg(1.0, 1.0), native=True) == pytest.approx(misses * DRAM_NS * 1e-9)
    sgx2 = _cfg(1.0, 1.0, gen=2)
    assert _memory_s(sgx2) == pytest.approx(_memory_s(_cfg(0.0, 1.0, gen=2)))


def test_one_streaming_thread_is_held_to_the_mee_bandwidth() -> None:
    # independent misses, MLP 10: memory time 800 x 180 ns / 10 = 14.4 us for 800 x 64 B
    # = 51,200 B, i.e. 3.56 GB/s; the segment is all memory time
    free = _memory_s(_cfg(0.0, 0.0))
    assert free == pytest.approx(PAGES * LINES * (DRAM_NS + READ_NS) / 10 * 1e-9)
    cap = 1e9  # 1 GB/s: the 51,200 bytes take 51.2 us
    assert _memory_s(_cfg(0.0, 0.0, bandwidth=cap)) == pytest.approx(51_200 / cap)
    # writes move twice the bytes: 102,400 B at 1 GB/s
    assert _memory_s(_cfg(1.0, 0.0, bandwidth=cap)) == pytest.approx(102_400 / cap)
    # a cap above the demand changes nothing, and so does 0 (unlimited)
    assert _memory_s(_cfg(0.0, 0.0, bandwidth=10e9)) == pytest.approx(free)


def test_threads_together_never_exceed_the_mee_bandwidth() -> None:
    cap = 5e9  # four threads demand 4 x 3.56 GB/s
    m = simulate(_cfg(0.0, 0.0, clients=4, bandwidth=cap), 0, 1).metrics
    moved = m["throughput_ops_s"] * PAGES * LINES * 64
    assert moved <= cap * 1.02
    assert moved == pytest.approx(cap, rel=0.1)  # saturated, fluid share
