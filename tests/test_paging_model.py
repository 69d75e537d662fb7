"""Paging as the driver does it (issue 14): the enclave lock, TLB shootdowns per evicted page,
usable EPC (VA pages at add time, platform enclaves), build and teardown, TLB reach and SSBD.
Each test is a limiting case whose answer is computed by hand in the test."""

from __future__ import annotations

import dataclasses
import math

import pytest

from epcsim.epc import EpcEngine
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
from epcsim.model.paging import EnclaveLocks, PagingCosts, reclaim_batch_cost
from epcsim.model.startup import usable_epc_pages, va_pages
from epcsim.model.tlb import TlbModel, make_tlb_model
from epcsim.reference.cost_parameters import default_costs

CLOCK_HZ = 1e9  # 1 cycle = 1 ns: hand arithmetic in nanoseconds


# ---- the enclave lock and one ksgxd batch (pure arithmetic) ---------------------------------

def test_lock_is_busy_until_and_queues_fifo() -> None:
    locks = EnclaveLocks(2)
    assert locks.acquire(0, 0.0, 10.0) == 0.0
    assert locks.acquire(0, 4.0, 5.0) == 6.0   # waits until 10, holds until 15
    assert locks.acquire(1, 4.0, 5.0) == 0.0   # another enclave: no wait
    assert locks.acquire(0, 20.0, 1.0) == 0.0  # lock free again
    assert locks.hold_s == [16.0, 5.0] and locks.wait_s == [6.0, 0.0]


def _pc(**kw: float) -> PagingCosts:
    base = dict(fault_lock_s=0.0, augment_lock_s=0.0, evict_lock_s=10.0, evict_unlocked_s=1.0,
                etrack_s=3.0, ipi_round_s=5.0, forced_exit_s=7.0)
    base.update(kw)
    return PagingCosts(**base)


def test_batch_upstream_shoots_down_each_page_outside_the_lock() -> None:
    locks = EnclaveLocks(1)
    bc = reclaim_batch_cost(locks, 0.0, [16], [2], [False], _pc(), "upstream")
    # unlocked: 16 x (backing 1 + shootdown 5) = 96; locked: 16 x 10 + ETRACK 3 + IPI 5 = 168
    assert bc.duration_s == pytest.approx(96 + 168)
    assert locks.hold_s == [pytest.approx(168)]
    assert bc.forced_exits == [17] and bc.ipi_rounds == 17  # 16 shootdowns + ETRACK IPI


def test_batch_isgx_holds_the_lock_for_the_whole_batch() -> None:
    locks = EnclaveLocks(1)
    bc = reclaim_batch_cost(locks, 0.0, [16], [2], [False], _pc(), "isgx")
    assert bc.duration_s == pytest.approx(96 + 168)
    assert locks.hold_s == [pytest.approx(16 * 5 + 168)]  # zap rounds under the lock too


def test_batch_without_running_threads_sends_no_ipi_and_waits_for_a_faulting_holder() -> None:
    locks = EnclaveLocks(1)
    locks.acquire(0, 0.0, 50.0)  # faults of one operation reserved the lock until 50
    bc = reclaim_batch_cost(locks, 0.0, [4], [0], [False], _pc(fault_lock_s=20.0), "upstream")
    # unlocked 4 x 1 = 4; the mutex passes to ksgxd after one fault (20), not after all of
    # them (46): then it holds 4 x 10 + 3 = 43; the faults still queued move back by 43
    assert bc.duration_s == pytest.approx(4 + 20 + 43)
    assert locks.free_at == [pytest.approx(50 + 43)]
    assert bc.forced_exits == [0] and bc.ipi_rounds == 0
    free = EnclaveLocks(1)
    free.acquire(0, 0.0, 10.0)  # lock frees before the cut-in: plain wait
    assert reclaim_batch_cost(free, 0.0, [4], [0], [False], _pc(fault_lock_s=20.0),
                              "upstream").duration_s == pytest.approx(10 + 43)


def test_paging_costs_in_a_vm_add_the_ipi_surcharge() -> None:
    raw = default_costs()
    vm = PagingCosts.from_costs(raw, CLOCK_HZ, "vm")
    bare = PagingCosts.from_costs(raw, CLOCK_HZ, "bare_metal")
    assert vm.ipi_round_s - bare.ipi_round_s == pytest.approx(raw["ipi_vm_extra_s"])
    assert bare.fault_lock_s == pytest.approx((raw["fault_handler_cycles"]
                                               + raw["eldu_cycles"]) * 1e-9)


# ---- the lock in a run: one enclave's swaps are serialised, two enclaves' are not ------------

HANDLER = 30_000  # cycles under the lock per fault (handler; ELDU set to 0)
EWB = 10_000      # cycles under the lock per evicted page (EWB; EBLOCK set to 0)
ONLY_LOCK_COSTS = {
    "aex_cycles": 0, "eresume_cycles": 0, "fault_handler_cycles": HANDLER, "eldu_cycles": 0,
    "eblock_cycles": 0, "ewb_cycles": EWB, "etrack_cycles": 0, "ipi_cycles": 0,
    "ipi_vm_extra_s": 0, "ipi_handler_cycles": 0, "backing_alloc_cycles": 0,
    "page_walk_cycles": 0, "ecall_cycles": 0,
}


def thrash_config(n_enclaves: int, threads: int = 4) -> ModelConfig:
    """``n_enclaves`` enclaves of 4,000 pages each on 3,000 EPC pages per enclave, uniform
    touches, nothing but fault and eviction costs: every thread faults continuously."""
    encs = tuple(EnclaveConfig(f"e{k}", regions=(RegionConfig("data", 4_000),), threads=threads)
                 for k in range(n_enclaves))
    ops = tuple(OperationConfig(f"op{k}", enclave=f"e{k}", ecalls=0, memory=(
        MemoryAccessConfig("data", 8, {"kind": "uniform"}, cache_lines_per_page=0),))
        for k in range(n_enclaves))
    control = n_enclaves * (1 + threads * 3 + va_pages(4_000))
    return ModelConfig(
        vm=VmConfig("lock-test", vcpus=16, clock_hz=CLOCK_HZ, sgx_generation=2,
                    epc_pages=3_000 * n_enclaves + control),
        enclaves=encs, operations=ops,
        arrival=ArrivalConfig("closed", clients=threads * n_enclaves, think_time_s=0.0),
        settings=SimulationSettings(duration_s=0.6, warmup_s=0.2, timer_interrupts=False),
        costs=ONLY_LOCK_COSTS)


def test_one_enclave_swaps_at_most_one_page_per_lock_hold_whatever_the_threads() -> None:
    m = simulate(thrash_config(1), 0, 1).metrics
    bound = CLOCK_HZ / (HANDLER + EWB)  # faults/s when the lock is always held: 25,000
    assert m["epc_faults_per_s"] == pytest.approx(bound, rel=0.05)
    assert m["enclave_lock_utilisation"] == pytest.approx(1.0, abs=0.05)
    # without the lock 4 threads would fault 4 x 1e9 / 30,000 = 133,000 times/s
    assert m["enclave_lock_wait_s_per_op"] > 0


def test_two_enclaves_swap_in_parallel() -> None:
    m1 = simulate(thrash_config(1), 0, 1).metrics
    m2 = simulate(thrash_config(2), 0, 1).metrics
    # ksgxd does 10,000 cycles per page: 100,000 pages/s > 2 x 25,000, so the locks bind
    assert m2["epc_faults_per_s"] == pytest.approx(2 * m1["epc_faults_per_s"], rel=0.08)


# ---- shootdowns: each running thread is forced out once per evicted page ---------------------

def test_each_running_thread_takes_one_exit_per_evicted_page_plus_the_etrack_ipi() -> None:
    cfg = thrash_config(1)
    cfg = dataclasses.replace(cfg, settings=dataclasses.replace(cfg.settings, epc_policy="fifo"))
    m = simulate(cfg, 0, 1).metrics
    batches = m["ksgxd_batches_per_s"]
    assert m["epc_evictions_per_s"] / batches == pytest.approx(16)  # FIFO: full batches
    # a batch sends 16 shootdown rounds + 1 ETRACK IPI when threads run, none otherwise
    rounds = m["ipis_per_s"] / batches
    assert 1 < rounds <= 17
    assert (m["ipis_per_s"] / 17) == pytest.approx(round(m["ipis_per_s"] / 17), abs=1e-6 * batches)
    # each round forces out every running thread: between 1 and 4 of them
    assert 1 <= m["ipi_aex_per_s"] / m["ipis_per_s"] <= 4


# ---- usable EPC, build, teardown -----------------------------------------------------------

def test_va_pages_are_one_per_512_added_pages_secs_included() -> None:
    assert va_pages(0) == 1 and va_pages(511) == 1 and va_pages(512) == 2
    assert va_pages(256 * 1024) == 513  # 1 GiB enclave: ceil(262,145 / 512)


def test_usable_epc_subtracts_control_va_and_platform_pages() -> None:
    cfg = thrash_config(1)
    # EPC = 3,000 + control; control = SECS + 4 x (TCS + 2 SSA) + VA(4,000) = 1 + 12 + 8
    assert usable_epc_pages(cfg) == 3_000
    plat = dataclasses.replace(cfg, settings=dataclasses.replace(
        cfg.settings, platform_enclave_pages=512))
    assert usable_epc_pages(plat) == 3_000 - 512


def test_build_has_a_fixed_cost_and_teardown_removes_resident_pages() -> None:
    cfg = dataclasses.replace(thrash_config(1), costs={
        **ONLY_LOCK_COSTS, "ecreate_einit_cycles": 1_000_000,
        "enclave_build_s_per_page_sgx2": 0.0, "eremove_cycles": 1_000})
    m = simulate(cfg, 0, 1).metrics
    # build beyond the EPC: 1,000 of the 4,000 pages evicted at EWB = 10 us each, plus 1 ms
    evicted = m["epc_build_evictions"]
    assert evicted >= 1_000
    assert m["enclave_startup_s"] == pytest.approx(1e-3 + evicted * EWB * 1e-9)
    # teardown: EREMOVE (1 us) of the resident pages (3,000 less ksgxd's free pool: 32 to
    # 64 + a batch) + SECS + 8 VA pages
    assert (3_000 - 80 + 9) * 1e-6 <= m["enclave_teardown_s"] <= (3_000 + 9) * 1e-6


# ---- TLB -------------------------------------------------------------------------------------

def test_tlb_limits() -> None:
    small = TlbModel(reach_pages=1536, footprint_pages=1000, walk_s=1.0, flushes=False)
    assert small.walks(10_000, 1, 0) == 0  # fits the TLB, no flushes: no walks (native)
    sgx = dataclasses.replace(small, flushes=True)
    assert sgx.walks(10_000, 1, 0) == 1000  # one cold refill of the 1,000 pages
    assert sgx.walks(10_000, 1, 2) == 2000  # two mid-operation flushes: half a refill each
    assert sgx.walks(50, 1, 100) == 50      # at most one walk per touch
    big = TlbModel(reach_pages=1000, footprint_pages=100_000, walk_s=1.0, flushes=False)
    assert big.walks(1_000, 0, 0) == pytest.approx(1_000 * 0.99)  # 1 - R/F
    raw = default_costs()
    native_huge = make_tlb_model(raw, CLOCK_HZ, 2, 100_000, native=True, native_huge_pages=True)
    assert native_huge.walks(1_000, 0, 0) == 0  # 2,048 x 512 pages cover 100,000


def test_tlb_share_appears_in_the_breakdown_and_native_pays_capacity_misses_only() -> None:
    cfg = dataclasses.replace(thrash_config(1), costs={**ONLY_LOCK_COSTS,
                                                       "page_walk_cycles": 100})
    sgx = simulate(cfg, 0, 1)
    assert sgx.metrics["share_tlb"] > 0
    a = sgx.arrays
    done = ~(a["end_s"] != a["end_s"])
    # each op: 8 touches, at least one flush per fault: walks <= 8 x 100 cycles
    assert (a["tlb_s"][done] <= 8 * 100e-9 + 1e-15).all()
    native = simulate(cfg, 0, 1, native=True)
    # footprint 4,000 pages vs reach 2,048: miss ratio 1 - 2048/4000 per touch
    per_op = 8 * (1 - 2048 / 4000) * 100e-9
    nd = ~(native.arrays["end_s"] != native.arrays["end_s"])
    assert native.arrays["tlb_s"][nd] == pytest.approx(per_op)


def test_ssbd_slowdown_multiplies_in_enclave_compute_only() -> None:
    def cfg(ssbd: float) -> ModelConfig:
        return ModelConfig(
            vm=VmConfig("v", vcpus=1, clock_hz=CLOCK_HZ, sgx_generation=2, epc_pages=10_000),
            enclaves=(EnclaveConfig("e", regions=(RegionConfig("r", 10),)),),
            operations=(OperationConfig("op", ecalls=0, compute_cycles=100_000),),
            arrival=ArrivalConfig("closed", clients=1),
            settings=SimulationSettings(duration_s=0.1, timer_interrupts=False),
            costs={"ssbd_slowdown": ssbd})
    base = simulate(cfg(1.0), 0, 1).metrics["latency_mean_s"]
    slow = simulate(cfg(2.0), 0, 1)
    assert base == pytest.approx(100e-6)
    assert slow.metrics["latency_mean_s"] == pytest.approx(200e-6)
    native = simulate(cfg(2.0), 0, 1, native=True).metrics["latency_mean_s"]
    assert native == pytest.approx(100e-6) and not math.isnan(native)


def test_isgx_driver_takes_victims_per_enclave_in_a_run() -> None:
    """Two thrashing enclaves: under isgx every ksgxd batch evicts pages of one enclave only
    (the engine's round-robin), so a batch never holds more than 16 pages of one enclave and
    each enclave's lock is held for whole batches; both enclaves still page."""
    cfg = thrash_config(2)
    isgx = dataclasses.replace(cfg, settings=dataclasses.replace(cfg.settings,
                                                                 sgx_driver="isgx"))
    seen: list[list[int]] = []

    def factory(**kw: object) -> EpcEngine:
        eng = EpcEngine(**kw)  # type: ignore[arg-type]
        inner = eng.reclaim_evicting

        def spy(n: int) -> list[int]:
            v = inner(n)
            seen.append(v)
            return v
        eng.reclaim_evicting = spy  # type: ignore[method-assign]
        return eng

    m = simulate(isgx, 0, 1, engine_factory=factory).metrics
    batches = [v for v in seen if sum(v)]
    assert batches and all(min(v) == 0 for v in batches)  # one enclave per batch
    assert all(sum(1 for v in batches if v[e]) > 0.3 * len(batches) for e in (0, 1))
    assert m["epc_faults_per_s"] > 0
