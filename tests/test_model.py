"""Timing model: queueing theory, Little's law, limiting cases, conservation, determinism."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from epcsim.errors import EpcsimError, ScenarioError
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
    simulate,
)
from epcsim.model.paging import PagingCosts
from epcsim.reference.cost_parameters import default_costs

CLOCK_HZ = 3.7e9


def queue_config(vcpus: int, rate_per_s: float, service_s: float, *, duration_s: float = 2.0,
                 warmup_s: float = 0.2, threads: int = 64) -> ModelConfig:
    """An M/M/c system: exponential compute, no memory, no OCALLs."""
    return ModelConfig(
        vm=VmConfig("test", vcpus=vcpus, clock_hz=CLOCK_HZ, sgx_generation=1, epc_pages=8192),
        enclaves=(EnclaveConfig("app", regions=(RegionConfig("heap", 1024),), threads=threads),),
        operations=(OperationConfig("op", ecalls=0, compute_s=service_s,
                                    compute_distribution="exponential"),),
        arrival=ArrivalConfig("poisson", rate_per_s=rate_per_s),
        settings=SimulationSettings(duration_s=duration_s, warmup_s=warmup_s,
                                    timer_interrupts=False),
    )


def memory_config(*, epc_pages: int = 16384, table_pages: int = 4000, vcpus: int = 2,
                  rate_per_s: float = 5000.0, gen: int = 1, **settings: object) -> ModelConfig:
    """A paging-capable workload: uniform probes over a table, some OCALLs."""
    return ModelConfig(
        vm=VmConfig("test", vcpus=vcpus, clock_hz=CLOCK_HZ, sgx_generation=gen,
                    epc_pages=epc_pages),
        enclaves=(EnclaveConfig("app", regions=(RegionConfig("table", table_pages),),
                                threads=4),),
        operations=(
            OperationConfig("get", weight=3, compute_cycles=20_000, ocalls=1,
                            ocall_host_time_s=2e-6,
                            memory=(MemoryAccessConfig("table", 32, {"kind": "uniform"},
                                                       llc_miss_fraction=0.5,
                                                       dependent_fraction=0.5),)),
            OperationConfig("put", weight=1, compute_cycles=40_000,
                            compute_distribution="exponential",
                            memory=(MemoryAccessConfig("table", {"distribution": "poisson",
                                                                 "mean": 16},
                                                       {"kind": "zipf", "s": 0.9}),)),
        ),
        arrival=ArrivalConfig("poisson", rate_per_s=rate_per_s),
        settings=SimulationSettings(duration_s=0.5, warmup_s=0.05, **settings),  # type: ignore[arg-type]
    )


def erlang_c_wait_s(c: int, lam: float, mu: float) -> float:
    """Mean waiting time in queue of M/M/c (Erlang C)."""
    a = lam / mu
    rho = a / c
    top = a**c / math.factorial(c) / (1 - rho)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * mu - lam)


def _ci_contains(samples: list[float], value: float, level: float = 0.99) -> tuple[bool, str]:
    x = np.asarray(samples)
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return abs(x.mean() - value) <= half, f"mean {x.mean():.4g} +- {half:.3g}, theory {value:.4g}"


@pytest.mark.parametrize(("vcpus", "rate"), [(1, 7000.0), (4, 30000.0)])
def test_mmc_mean_latency_matches_theory(vcpus: int, rate: float) -> None:
    mu = 10_000.0
    cfg = queue_config(vcpus, rate, 1 / mu, duration_s=1.2 if vcpus == 1 else 0.6, warmup_s=0.1)
    theory = erlang_c_wait_s(vcpus, rate, mu) + 1 / mu
    lat, util = [], []
    for rep in range(8):
        m = simulate(cfg, replication=rep, seed=11).metrics
        lat.append(m["latency_mean_s"])
        util.append(m["vcpu_utilisation"])
        # Little's law on every run.
        assert m["mean_in_system"] == pytest.approx(m["throughput_ops_s"] * m["latency_mean_s"],
                                                    rel=0.05)
    ok, msg = _ci_contains(lat, theory)
    assert ok, msg
    ok, msg = _ci_contains(util, rate / (vcpus * mu))
    assert ok, msg


def test_sgx_with_zero_costs_equals_native() -> None:
    zero = {name: 0.0 for name in ("ecall_cycles", "ocall_cycles", "mee_miss_penalty_ns",
                                   "tme_dependent_miss_penalty_ns", "page_walk_cycles")}
    zero["ocall_cycles"] = 150.0  # a native OCALL is a plain system call
    cfg = dataclasses.replace(memory_config(epc_pages=16384, timer_interrupts=False), costs=zero)
    sgx = simulate(cfg, 0, 5)
    native = simulate(cfg, 0, 5, native=True)
    assert sgx.metrics["epc_faults_per_s"] == 0
    for key in ("throughput_ops_s", "latency_mean_s", "latency_p99_s", "ops_completed",
                "share_memory", "share_compute", "vcpu_utilisation"):
        assert sgx.metrics[key] == pytest.approx(native.metrics[key], rel=1e-9), key
    assert native.metrics["share_paging"] == 0 and native.metrics["enclave_startup_s"] == 0


def test_native_is_faster_and_sgx_pays_transitions() -> None:
    cfg = memory_config(epc_pages=16384)
    sgx = simulate(cfg, 0, 2).metrics
    native = simulate(cfg, 0, 2, native=True).metrics
    assert sgx["latency_mean_s"] > native["latency_mean_s"]
    assert sgx["share_transitions"] > 0 and native["aex_per_s"] == 0
    assert sgx["timer_aex_per_s"] > 0


def test_conservation_and_components_add_up() -> None:
    # Overloaded with an admission limit: some dropped, some left in the system.
    cfg = memory_config(epc_pages=2000, table_pages=4000, rate_per_s=40_000, max_in_system=50,
                        check_invariants=True)
    r = simulate(cfg, 0, 3)
    m = r.metrics
    assert m["ops_dropped"] > 0 and m["ops_in_system_at_end"] > 0
    assert m["ops_arrived"] == m["ops_completed"] + m["ops_dropped"] + m["ops_in_system_at_end"]
    a = r.arrays
    done = ~np.isnan(a["end_s"])
    assert not (done & a["dropped"]).any()
    parts = sum(a[f"{p}_s"][done] for p in ("compute", "memory", "transitions", "paging",
                                              "tlb", "queueing"))
    np.testing.assert_allclose(parts, a["latency_s"][done], rtol=1e-9, atol=1e-12)
    shares = sum(m[f"share_{p}"] for p in ("compute", "memory", "transitions", "paging",
                                           "tlb", "queueing"))
    assert shares == pytest.approx(1.0, abs=1e-9)
    assert m["mean_in_system"] <= 50 + 1e-9


def test_same_seed_same_metrics_bit_for_bit() -> None:
    cfg = memory_config(epc_pages=3000, timer_interrupt_mode="poisson")
    a = simulate(cfg, 1, 42)
    b = simulate(cfg, 1, 42)
    ma = {k: v for k, v in a.metrics.items() if k != "wall_time_s"}
    mb = {k: v for k, v in b.metrics.items() if k != "wall_time_s"}
    assert ma.keys() == mb.keys()
    for k in ma:
        assert ma[k] == mb[k] or (math.isnan(ma[k]) and math.isnan(mb[k])), k
    for k in a.arrays:
        np.testing.assert_array_equal(a.arrays[k], b.arrays[k])
    c = simulate(cfg, 2, 42)
    assert c.metrics["latency_mean_s"] != a.metrics["latency_mean_s"]


def test_common_random_numbers_across_vm_sizes() -> None:
    small = memory_config(vcpus=1, epc_pages=3000)
    big = dataclasses.replace(small, vm=dataclasses.replace(small.vm, vcpus=8, epc_pages=20000))
    a = simulate(small, 0, 9).arrays
    b = simulate(big, 0, 9).arrays
    n = min(len(a["arrival_s"]), len(b["arrival_s"]))
    assert n > 100
    np.testing.assert_array_equal(a["arrival_s"][:n], b["arrival_s"][:n])
    np.testing.assert_array_equal(a["op_type"][:n], b["op_type"][:n])


def test_closed_loop_littles_law_and_interactive_response_time() -> None:
    clients, think_s, service_s = 8, 1e-3, 2e-4
    cfg = dataclasses.replace(queue_config(2, 1.0, service_s, duration_s=3.0, warmup_s=0.3),
                              arrival=ArrivalConfig("closed", clients=clients,
                                                    think_time_s=think_s))
    m = simulate(cfg, 0, 1).metrics
    # Interactive response time law: X = N / (R + Z).
    assert m["throughput_ops_s"] == pytest.approx(clients / (m["latency_mean_s"] + think_s),
                                                  rel=0.02)
    assert m["mean_in_system"] == pytest.approx(m["throughput_ops_s"] * m["latency_mean_s"],
                                                rel=0.03)


def test_phases_use_their_own_mix_and_arrivals() -> None:
    base = memory_config(epc_pages=16384)
    cfg = dataclasses.replace(base, phases=(
        PhaseConfig("load", 0.2, mix={"put": 1.0},
                    arrival=ArrivalConfig("poisson", rate_per_s=2000)),
        PhaseConfig("run", None, mix={"get": 1.0}),
    ))
    r = simulate(cfg, 0, 4)
    a = r.arrays
    load = a["arrival_s"] < 0.2
    assert set(a["op_type"][load].tolist()) == {r.op_names.index("put")}
    assert set(a["op_type"][~load].tolist()) == {r.op_names.index("get")}
    assert (a["phase"][load] == 0).all() and (a["phase"][~load] == 1).all()
    assert load.sum() == pytest.approx(400, rel=0.2)
    assert (~load).sum() == pytest.approx(5000 * 0.3, rel=0.1)


def test_blocking_ocalls_release_the_vcpu() -> None:
    op = OperationConfig("io", ecalls=1, compute_s=1e-4, ocalls=1, ocall_host_time_s=1e-3,
                         ocall_blocking=True)
    cfg = dataclasses.replace(queue_config(1, 1500.0, 1e-4), operations=(op,))
    m_block = simulate(cfg, 0, 1).metrics
    cfg2 = dataclasses.replace(cfg, operations=(dataclasses.replace(op, ocall_blocking=False),))
    m_spin = simulate(cfg2, 0, 1).metrics
    # Blocking: the vCPU only serves ~0.1 ms per op; spinning holds it 1.1 ms (overloaded).
    assert m_block["vcpu_utilisation"] < 0.3
    assert m_spin["vcpu_utilisation"] > 0.95
    assert m_block["latency_mean_s"] < m_spin["latency_mean_s"]


def test_switchless_workers_occupy_vcpus_and_cut_transitions() -> None:
    op = OperationConfig("sl", compute_s=2e-5, ocalls=4, ocall_host_time_s=1e-6,
                         call_mode="switchless")
    # 4 vCPUs: with 2, callers spinning on both starve a waking worker and fall back
    base = queue_config(4, 2000.0, 2e-5)
    enc = dataclasses.replace(base.enclaves[0], switchless_workers=1)
    cfg = dataclasses.replace(base, enclaves=(enc,), operations=(op,))
    sl = simulate(cfg, 0, 1).metrics
    sdk_cfg = dataclasses.replace(cfg, operations=(dataclasses.replace(op, call_mode="sdk"),))
    sdk = simulate(sdk_cfg, 0, 1).metrics
    # the polling worker holds a vCPU while it polls (it sleeps when idle long enough)
    assert sl["vcpu_utilisation"] > sdk["vcpu_utilisation"]
    assert sl["share_transitions"] < sdk["share_transitions"]
    hot_cfg = dataclasses.replace(cfg, operations=(dataclasses.replace(op, call_mode="hotcall"),))
    hot = simulate(hot_cfg, 0, 1).metrics
    assert hot["vcpu_utilisation"] >= 0.25  # a HotCalls responder never sleeps
    assert hot["latency_mean_s"] < sl["latency_mean_s"] < sdk["latency_mean_s"]
    with pytest.raises(ScenarioError, match="switchless"):
        simulate(dataclasses.replace(cfg, enclaves=(dataclasses.replace(enc,
                                                                        switchless_workers=4),)))


def test_timer_interrupt_rate_expected_and_poisson() -> None:
    cfg = dataclasses.replace(queue_config(2, 5000.0, 1e-4),
                              settings=SimulationSettings(duration_s=2.0, warmup_s=0.2))
    m = simulate(cfg, 0, 1).metrics
    # 250 per busy second of in-enclave time; busy vCPU-seconds per second = 0.5 x 2.
    assert m["timer_aex_per_s"] == pytest.approx(250 * m["vcpu_utilisation"] * 2, rel=0.02)
    cfg_p = dataclasses.replace(cfg, settings=dataclasses.replace(cfg.settings,
                                                                  timer_interrupt_mode="poisson"))
    mp = simulate(cfg_p, 0, 1).metrics
    assert mp["timer_aex_per_s"] == pytest.approx(m["timer_aex_per_s"], rel=0.1)


def test_bad_config_is_reported_with_key_paths() -> None:
    cfg = memory_config()
    bad_op = dataclasses.replace(cfg.operations[0], memory=(MemoryAccessConfig("tabel", 4),))
    bad = dataclasses.replace(cfg, operations=(bad_op,), costs={"ecal_cycles": 1.0})
    with pytest.raises(ScenarioError) as info:
        simulate(bad)
    text = str(info.value)
    assert "workload.operations.get.memory.0.region" in text and "'table'" in text
    assert "costs.ecal_cycles" in text and "ecall_cycles" in text


def _isolated(op: OperationConfig, *, gen: int = 1, edmm: bool = False,
              costs: dict[str, float] | None = None, clock_hz: float = CLOCK_HZ) -> ModelConfig:
    """Operations that never overlap: recorded arrivals 10 ms apart, one vCPU."""
    return ModelConfig(
        vm=VmConfig("iso", vcpus=1, clock_hz=clock_hz, sgx_generation=gen, epc_pages=8192),
        enclaves=(EnclaveConfig("app", regions=(RegionConfig("heap", 1000),), threads=1,
                                edmm=edmm),),
        operations=(op,),
        arrival=ArrivalConfig("trace", timestamps_s=tuple(0.01 * k for k in range(20))),
        settings=SimulationSettings(duration_s=0.3),
        costs=costs or {},
    )


def test_latency_of_an_isolated_operation_matches_hand_arithmetic() -> None:
    op = OperationConfig("op", ecalls=2, ocalls=3, ocall_host_time_s=1e-6,
                         compute_cycles=37_000, memory=(
                             MemoryAccessConfig("heap", 10, {"kind": "uniform"},
                                                cache_lines_per_page=8, llc_miss_fraction=0.5,
                                                dependent_fraction=0.25),))
    for gen, penalty_dep, penalty_ind in ((1, 100e-9, 100e-9), (2, 2e-9, 0.0)):
        r = simulate(_isolated(op, gen=gen), 0, 1)
        misses = 10 * 8 * 0.5
        mem_s = (misses * 0.25 * (80e-9 + penalty_dep)
                 + misses * 0.75 * (80e-9 + penalty_ind) / 10)
        compute_s = 37_000 / CLOCK_HZ
        timer_s = (compute_s + mem_s) * 250 * (5000 + 5000) / CLOCK_HZ
        # TLB: 10 touches of a 1,000-page heap (within the STLB's reach): the first ECALL
        # starts cold (10 walks), more flushes cannot walk more than once per touch
        tlb_s = 10 * 60 / CLOCK_HZ
        ocall_s = default_costs()["ocall_cycles"] / CLOCK_HZ  # fitted (cost_parameters.csv)
        expected = 2 * 8200 / CLOCK_HZ + compute_s + mem_s + 3 * (ocall_s + 1e-6) \
            + timer_s + tlb_s
        np.testing.assert_allclose(r.arrays["latency_s"], expected, rtol=1e-12)
        assert r.metrics["share_memory"] == pytest.approx(mem_s / expected, rel=1e-9)
        assert r.metrics["share_queueing"] == pytest.approx(0.0, abs=1e-12)


def test_costs_and_clock_are_overridable() -> None:
    op = OperationConfig("op", ecalls=1, compute_cycles=40_000)
    base = simulate(_isolated(op), 0, 1).metrics["latency_mean_s"]
    dearer = simulate(_isolated(op, costs={"ecall_cycles": 17_000}), 0, 1).metrics
    assert dearer["latency_mean_s"] - base == pytest.approx((17_000 - 8200) / CLOCK_HZ,
                                                            rel=1e-6)
    quiet = SimulationSettings(duration_s=0.3, timer_interrupts=False)  # ticks are per second
    base = simulate(dataclasses.replace(_isolated(op), settings=quiet), 0, 1).metrics[
        "latency_mean_s"]
    turbo = simulate(dataclasses.replace(_isolated(op, clock_hz=2 * CLOCK_HZ), settings=quiet),
                     0, 1).metrics["latency_mean_s"]
    assert turbo == pytest.approx(base / 2, rel=1e-9)  # every remaining cost is in cycles


def test_edmm_first_touch_cost_is_exact() -> None:
    op = OperationConfig("op", ecalls=0, memory=(
        MemoryAccessConfig("heap", 50, {"kind": "sequential"}, llc_miss_fraction=0.0),))
    cfg = dataclasses.replace(_isolated(op, gen=2, edmm=True),
                              settings=SimulationSettings(duration_s=0.3, timer_interrupts=False))
    r = simulate(cfg, 0, 1)
    # AEX + handler + EAUG + ERESUME, then the runtime: EACCEPT + its exception round trip
    fault_s = (5000 + 4000 + 3000 + 5000 + 3000 + 20_000) / CLOCK_HZ
    walk_s = 60 / CLOCK_HZ  # every touch walks: each follows a fault's AEX (TLB flushed)
    # A sequential scan of 1,000 pages, 50 per operation: every page is new once.
    np.testing.assert_allclose(r.arrays["latency_s"], 50 * (fault_s + walk_s), rtol=1e-12)
    np.testing.assert_array_equal(r.arrays["faults"], 50)
    assert r.metrics["share_paging"] == pytest.approx(fault_s / (fault_s + walk_s))


def test_edmm_eaccept_and_the_runtime_round_trip_are_separate_costs() -> None:
    op = OperationConfig("op", ecalls=0, memory=(
        MemoryAccessConfig("heap", 50, {"kind": "sequential"}, llc_miss_fraction=0.0),))

    def latency(**costs: float) -> float:
        cfg = dataclasses.replace(_isolated(op, gen=2, edmm=True), costs=costs,
                                  settings=SimulationSettings(duration_s=0.1,
                                                              timer_interrupts=False))
        return float(simulate(cfg, 0, 1).arrays["latency_s"][0])

    base = latency()
    # both set to 0 remove exactly their cycles from each of the 50 first touches
    assert base - latency(eaccept_cycles=0) == pytest.approx(50 * 3000 / CLOCK_HZ)
    assert base - latency(edmm_exception_cycles=0) == pytest.approx(50 * 20_000 / CLOCK_HZ)
    # EACCEPT runs in the enclave, outside the kernel's enclave lock: the lock holds
    # handler + EAUG only (paging.PagingCosts.augment_lock_s)
    raw = default_costs()
    pc = PagingCosts.from_costs({**raw, "eaccept_cycles": 1e9}, CLOCK_HZ, "vm")
    assert pc.augment_lock_s == pytest.approx((4000 + 3000) / CLOCK_HZ)


def test_warmup_operations_are_excluded() -> None:
    op = OperationConfig("op", compute_cycles=37_000)
    cfg = dataclasses.replace(_isolated(op), settings=SimulationSettings(duration_s=0.3,
                                                                         warmup_s=0.095))
    r = simulate(cfg, 0, 1)
    assert r.metrics["ops_arrived"] == 10  # arrivals at 0.10 .. 0.19 s
    assert r.arrays["measured"].sum() == 10 and len(r.arrays["arrival_s"]) == 20


def test_tcs_count_bounds_concurrency_like_servers() -> None:
    # 4 vCPUs but 2 TCSs: an M/M/2 queue.
    mu, rate = 10_000.0, 15_000.0
    lat = [simulate(queue_config(4, rate, 1 / mu, duration_s=0.6, warmup_s=0.1, threads=2),
                    replication=rep, seed=5).metrics["latency_mean_s"] for rep in range(8)]
    ok, msg = _ci_contains(lat, erlang_c_wait_s(2, rate, mu) + 1 / mu)
    assert ok, msg


def test_bad_pattern_is_reported_with_its_key_path() -> None:
    cfg = memory_config()
    op = dataclasses.replace(cfg.operations[0],
                             memory=(MemoryAccessConfig("table", 4, {"kind": "zipff"}),))
    with pytest.raises(EpcsimError, match=r"workload\.operations\.get\.memory\.0\.pattern"):
        simulate(dataclasses.replace(cfg, operations=(op, cfg.operations[1])))
