"""Switchless and hotcall ECALLs/OCALLs against hand-computed limiting cases.

Each case is a two- or one-operation trace on a VM with spare vCPUs, timer interrupts off,
so every latency is a sum of documented costs: the runtime's spin-then-fallback rule, the
worker's sleep after idle polling and its wake-up (epcsim.model.transitions).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
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

HZ = 3.7e9
C = default_costs()
COMPUTE_S = 5e-3
PAUSE_S = C["pause_cycles"] / HZ
ECALL_S = C["ecall_cycles"] / HZ
SL_ECALL_S = C["switchless_ecall_latency_s"]


def _cfg(times: tuple[float, ...], runtime: str = "intel-sdk", mode: str = "switchless",
         ecalls: int = 1, ocalls: int = 0, call_mode: str = "sdk", uworkers: int = 0,
         tworkers: int = 1, duration: float = 0.3, threads: int = 2) -> ModelConfig:
    return ModelConfig(
        vm=VmConfig(name="t", vcpus=8, clock_hz=HZ, sgx_generation=1, epc_pages=16384),
        enclaves=(EnclaveConfig(name="e", regions=(RegionConfig("heap", 16),), threads=threads,
                                switchless_workers=uworkers, trusted_workers=tworkers,
                                runtime=runtime),),
        operations=(OperationConfig(name="op", ecalls=ecalls, ecall_mode=mode, ocalls=ocalls,
                                    call_mode=call_mode, compute_s=COMPUTE_S),),
        arrival=ArrivalConfig(kind="trace", timestamps_s=times),
        settings=SimulationSettings(duration_s=duration, timer_interrupts=False),
    )


def _latencies(cfg: ModelConfig) -> tuple[np.ndarray, dict]:
    r = simulate(cfg)
    return r.arrays["latency_s"], r.metrics


def test_switchless_ecall_on_a_polling_worker_costs_the_switchless_latency() -> None:
    lat, _ = _latencies(_cfg((0.0,), ecalls=1000))
    assert lat[0] == pytest.approx(1000 * SL_ECALL_S + COMPUTE_S, rel=1e-9)
    lat_sdk, _ = _latencies(_cfg((0.0,), mode="sdk", ecalls=1000))
    assert lat_sdk[0] == pytest.approx(1000 * ECALL_S + COMPUTE_S, rel=1e-9)


def test_sdk_caller_spins_retries_before_fallback_pauses_then_falls_back() -> None:
    # op 2 arrives while the only worker runs op 1 (5 ms > the 0.76 ms spin budget)
    lat, m = _latencies(_cfg((0.0, 1e-4)))
    t_fb = C["sdk_sl_retries_before_fallback"] * PAUSE_S
    assert lat[1] == pytest.approx(t_fb + ECALL_S + COMPUTE_S, rel=1e-9)
    assert m["switchless_fallbacks_per_s"] * 0.3 == pytest.approx(1)


def test_open_enclave_caller_falls_back_at_once() -> None:
    lat, _ = _latencies(_cfg((0.0, 1e-4), runtime="open-enclave"))
    oe_ecall_s = (C["ecall_cycles"] + C["oe_extra_call_cycles"]) / HZ  # OE's call layer
    assert lat[1] == pytest.approx(oe_ecall_s + COMPUTE_S, rel=1e-9)


def test_sdk_caller_served_when_the_worker_frees_up_inside_the_budget() -> None:
    # op 2 arrives 0.2 ms before op 1 ends: it waits 0.2 ms, then runs on the worker
    t2 = SL_ECALL_S + COMPUTE_S - 2e-4
    lat, m = _latencies(_cfg((0.0, t2)))
    assert lat[1] == pytest.approx(2e-4 + SL_ECALL_S + COMPUTE_S, rel=1e-6)
    assert m["switchless_fallbacks_per_s"] == 0


def test_idle_worker_sleeps_and_is_woken_at_futex_plus_eenter_cost() -> None:
    lat, m = _latencies(_cfg((0.0, 0.1)))
    wake = C["futex_wake_latency_s"] + ECALL_S
    assert lat[1] == pytest.approx(wake + SL_ECALL_S + COMPUTE_S, rel=1e-9)
    # the worker held a vCPU only while running op 1 and polling before its sleep
    t_sleep = C["sdk_sl_retries_before_sleep"] * (C["pause_cycles"]
                                                  + C["switchless_poll_cycles"]) / HZ
    busy_worker_s = 2 * (SL_ECALL_S + COMPUTE_S) + 2 * t_sleep  # no vCPU while waking
    callers_s = 2 * (SL_ECALL_S + COMPUTE_S) + wake
    assert m["vcpu_utilisation"] * 8 * 0.3 == pytest.approx(busy_worker_s + callers_s,
                                                            rel=1e-6)


def test_hotcall_workers_never_sleep() -> None:
    _, m = _latencies(_cfg((0.0,), mode="hotcall"))
    # the responder's vCPU is busy for the whole run, the caller's for the one operation
    ecall = 1 * C["hotcall_cycles"] / HZ
    assert m["vcpu_utilisation"] * 8 * 0.3 == pytest.approx(0.3 + ecall + COMPUTE_S,
                                                            rel=1e-6)


def test_gramine_ocalls_queue_behind_a_busy_rpc_thread_instead_of_falling_back() -> None:
    cfg = _cfg((0.0, 1e-4), runtime="gramine", mode="sdk", ecalls=1, ocalls=1,
               call_mode="switchless", uworkers=1, tworkers=0)
    cfg = ModelConfig(**{**cfg.__dict__, "operations": (OperationConfig(
        name="op", ecalls=1, ocalls=1, call_mode="switchless", compute_s=0.0,
        ocall_host_time_s=COMPUTE_S),)})
    lat, m = _latencies(cfg)
    sl = C["switchless_ocall_latency_s"]
    libos = C["libos_syscall_cycles"] / HZ  # Gramine's in-enclave work per system call
    assert lat[0] == pytest.approx(ECALL_S + libos + sl + COMPUTE_S, rel=1e-9)
    # op 2 waits for op 1's OCALL to finish (well past any SDK spin budget), no fallback
    assert lat[1] == pytest.approx(lat[0] - 1e-4 + sl + COMPUTE_S, rel=1e-9)
    native = simulate(cfg, native=True).arrays["latency_s"]
    assert native[0] == pytest.approx(C["linux_syscall_cycles"] / HZ + COMPUTE_S, rel=1e-9)
    assert m["switchless_fallbacks_per_s"] == 0


SCENARIO = """
name: bad
vm: {sizes: [DC2s_v3]}
enclaves:
  - {name: e, size: 4 MiB, threads: 4, trusted_workers: %d, switchless_workers: %d}
workload:
  arrival: {kind: poisson, rate: 100/s}
  operations:
    - {name: op, ecalls: 1, ecall_mode: hotcall, compute: 10 us}
"""


@pytest.mark.parametrize("tw, uw, words", [(0, 0, "trusted workers"),
                                           (1, 1, "leave no vCPU")])
def test_check_refuses_hotcall_without_workers_and_too_many_workers(
        tmp_path: Path, tw: int, uw: int, words: str) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(SCENARIO % (tw, uw))
    p = subprocess.run([sys.executable, "-m", "epcsim", "check", str(f)],
                       capture_output=True, text=True)
    assert p.returncode == 2, p.stdout + p.stderr
    assert words in p.stdout + p.stderr
    assert "Traceback" not in p.stderr


# -- Gramine's switch from spinning to FUTEX_WAIT; the SDK's wake OCALL before 2.8 -----------
OCALL_S = C["ocall_cycles"] / HZ
SL_S = C["switchless_ocall_latency_s"]
LIBOS_S = C["libos_syscall_cycles"] / HZ
FUTEX_S = C["futex_wake_latency_s"]
T_SPIN_S = C["gramine_enclave_spin_before_futex"] * PAUSE_S  # 1e6 PAUSEs: 37.8 ms at 3.7 GHz


def _ocall_cfg(times: tuple[float, ...], runtime: str, host_s: float, duration: float,
               costs: dict | None = None) -> ModelConfig:
    cfg = _cfg(times, runtime=runtime, mode="sdk", ecalls=1, ocalls=1,
               call_mode="switchless", uworkers=1, tworkers=0, duration=duration)
    return ModelConfig(**{**cfg.__dict__, "costs": costs or {}, "operations": (
        OperationConfig(name="op", ecalls=1, ocalls=1, call_mode="switchless",
                        compute_s=0.0, ocall_host_time_s=host_s),)})


def test_gramine_enclave_thread_blocks_on_a_futex_after_its_spin_budget() -> None:
    host = 0.1  # a system call that takes longer than 1e6 PAUSEs (e.g. a blocking recv)
    lat, m = _latencies(_ocall_cfg((0.0,), "gramine", host, duration=0.3))
    t_post = ECALL_S + LIBOS_S
    # served at once by the polling RPC thread; spins T_SPIN, then FUTEX_WAIT (no vCPU) until
    # the RPC thread is done, is woken (futex), and pays the futex OCALL's exit and re-entry
    assert lat[0] == pytest.approx(t_post + SL_S + host + FUTEX_S + OCALL_S, rel=1e-9)
    # vCPU time: the caller only for its ECALL, LibOS work, spin and re-entry; the RPC thread
    # from t=0 until done, then its idle polling before it sleeps
    t_sleep = C["gramine_rpc_spin_before_sleep"] * PAUSE_S
    caller = t_post + T_SPIN_S + OCALL_S
    worker = t_post + SL_S + host + t_sleep
    assert m["vcpu_utilisation"] * 8 * 0.3 == pytest.approx(caller + worker, rel=1e-6)
    # a call done within the budget never leaves the enclave
    short, _ = _latencies(_ocall_cfg((0.0,), "gramine", 0.01, duration=0.3))
    assert short[0] == pytest.approx(t_post + SL_S + 0.01, rel=1e-9)


def test_gramine_call_to_a_sleeping_rpc_thread_waits_its_sleep_then_blocks() -> None:
    host = 1e-6
    t_post = ECALL_S + LIBOS_S
    t_sleep = C["gramine_rpc_spin_before_sleep"] * PAUSE_S
    asleep_at = t_post + SL_S + host + t_sleep  # op 1 done, then 10,000 idle PAUSEs
    # post 1 ms into the RPC thread's 61st sleep (sleeps of 1, 2, ..., 60 ms = 1.830 s before)
    step = C["gramine_rpc_sleep_step_s"]
    slept = sum(k * step for k in range(1, 61))
    t2 = asleep_at + slept + 1e-3 - t_post
    remaining = 61 * step - 1e-3  # 60 ms > T_SPIN: the caller blocks on the futex
    assert remaining > T_SPIN_S
    lat, m = _latencies(_ocall_cfg((0.0, t2), "gramine", host, duration=2.2))
    assert lat[1] == pytest.approx(t_post + remaining + SL_S + host + FUTEX_S + OCALL_S,
                                   rel=1e-6)
    assert m["switchless_fallbacks_per_s"] == 0


def test_sdk_before_2_8_wakes_a_sleeping_worker_with_an_ordinary_ocall() -> None:
    host = 1e-6
    t_post = ECALL_S
    # op 2 finds the untrusted worker asleep (it slept 0.78 ms after op 1)
    for futex_s in (10e-6, 1e-6):  # the woken worker needs futex_s; the waking OCALL OCALL_S
        costs = {"sdk_sl_wake_by_ocall": 1, "futex_wake_latency_s": futex_s}
        lat, m = _latencies(_ocall_cfg((0.0, 0.1), "intel-sdk", host, 0.3, costs))
        assert lat[0] == pytest.approx(t_post + SL_S + host, rel=1e-9)
        assert lat[1] == pytest.approx(t_post + max(futex_s, OCALL_S) + SL_S + host, rel=1e-9)
        assert m["switchless_fallbacks_per_s"] == 0
    # SDK >= 2.8: no OCALL; the waker thread notices within its 50 us period
    lat, _ = _latencies(_ocall_cfg((0.0, 0.1), "intel-sdk", host, 0.3,
                                   {"futex_wake_latency_s": 1e-6}))
    extra = lat[1] - (t_post + SL_S + host)
    assert 1e-6 <= extra <= 1e-6 + C["sdk_sl_waker_period_s"]


# -- the ordinary calls the pools make cost what the enclave's other ordinary calls cost -----
def _wake_cfg(runtime: str, side: str, costs: dict, lvi: str = "none",
              generation: int = 1) -> ModelConfig:
    """Two operations 0.1 s apart: the second finds the pool's only worker asleep."""
    if side == "ocall":
        cfg = _ocall_cfg((0.0, 0.1), runtime, 1e-6, 0.3, costs)
    else:
        cfg = ModelConfig(**{**_cfg((0.0, 0.1), runtime=runtime).__dict__, "costs": costs})
    enc = cfg.enclaves[0]
    vm = cfg.vm
    return ModelConfig(**{**cfg.__dict__,
                          "vm": VmConfig(name=vm.name, vcpus=vm.vcpus, clock_hz=vm.clock_hz,
                                         sgx_generation=generation, epc_pages=vm.epc_pages),
                          "enclaves": (EnclaveConfig(**{**enc.__dict__,
                                                        "lvi_hardening": lvi}),)})


@pytest.mark.parametrize("runtime, side, costs, lvi, generation, call_cycles", [
    # Open Enclave wakes a sleeping host worker with an ordinary OCALL through its own layer
    ("open-enclave", "ocall", {}, "none", 1, C["ocall_cycles"] + C["oe_extra_call_cycles"]),
    # SDK < 2.8: the waking OCALL of an LVI-hardened enclave is hardened too
    ("intel-sdk", "ocall", {"sdk_sl_wake_by_ocall": 1}, "full", 1,
     C["ocall_cycles"] * C["lvi_transition_factor_full"]),
    # on SGX2 the waking OCALL scales with sgx2_transition_factor like every other call
    ("intel-sdk", "ocall", {"sdk_sl_wake_by_ocall": 1, "sgx2_transition_factor": 0.5}, "none", 2,
     0.5 * C["ocall_cycles"]),
    # a woken trusted worker re-enters the enclave through Open Enclave's layer
    ("open-enclave", "ecall", {}, "none", 1, C["ecall_cycles"] + C["oe_extra_call_cycles"]),
])
def test_waking_a_worker_costs_the_enclaves_own_ordinary_call(
        runtime: str, side: str, costs: dict, lvi: str, generation: int,
        call_cycles: float) -> None:
    futex_s = 1e-6  # shorter than any call: the call sets the wake-up delay
    lat, m = _latencies(_wake_cfg(runtime, side, {**costs, "futex_wake_latency_s": futex_s},
                                  lvi, generation))
    assert m["switchless_fallbacks_per_s"] == 0
    # op 1 found a polling worker; op 2 pays for waking it on top of the same work
    wake_s = call_cycles / HZ + (futex_s if side == "ecall" else 0.0)
    assert lat[1] - lat[0] == pytest.approx(wake_s, rel=1e-9)
