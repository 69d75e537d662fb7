"""Timing-model benchmark: page touches simulated per second, against a naive baseline.

Scenario (``scan_with_index``): an SGX1 VM with 4 vCPUs at 3.7 GHz and 93 MiB of usable
EPC; one enclave with a small hot index (5% of the EPC) and a large log (2x the EPC). Each
operation makes 972 uniform touches of the index (hits once warm) and 52 touches that
continue a sequential scan of the log (faults): 1,024 page touches, ~5% EPC faults. Closed
loop, 8 clients, no think time; the run lasts long enough for ~1e7 page touches.

Measured in the same process: the per-operation model (:func:`epcsim.model.simulate`, the
whole run, median of 3) and the naive one-event-per-touch model
(``benchmarks/naive_model.py``, a 300,000-touch prefix, median of 3). Targets: >= 5 M page
touches per wall-clock second and >= 15x the naive rate. Run with::

    .venv/bin/python -m pytest -q -m benchmark benchmarks/bench_model.py -s -p no:xdist
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

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

sys.path.insert(0, str(Path(__file__).parent))
from naive_model import run_naive

EPC_PAGES = 93 * 256
TARGET_TOUCHES = 10_000_000
NAIVE_PREFIX_TOUCHES = 300_000


def scan_with_index(duration_s: float) -> ModelConfig:
    threads = 4
    return ModelConfig(
        vm=VmConfig("bench-sgx1", vcpus=4, clock_hz=3.7e9, sgx_generation=1,
                    epc_pages=EPC_PAGES + 1 + threads * 3),
        enclaves=(EnclaveConfig("db", threads=threads, regions=(
            RegionConfig("index", int(0.05 * EPC_PAGES)), RegionConfig("log", 2 * EPC_PAGES))),),
        operations=(OperationConfig("query", compute_cycles=50_000, memory=(
            MemoryAccessConfig("index", 972, {"kind": "uniform"}, cache_lines_per_page=1,
                               llc_miss_fraction=1.0, dependent_fraction=1.0),
            MemoryAccessConfig("log", 52, {"kind": "sequential"}, cache_lines_per_page=64,
                               llc_miss_fraction=1.0, dependent_fraction=0.0))),),
        arrival=ArrivalConfig("closed", clients=8, think_time_s=0.0),
        settings=SimulationSettings(duration_s=duration_s, warmup_s=0.0),
    )


def _naive_rate(cfg: ModelConfig) -> tuple[float, float]:
    """Median page touches per wall-clock and per CPU second of the naive model on a prefix
    (3 runs)."""
    wall, cpu = [], []
    for _ in range(3):
        n = run_naive(cfg, max_touches=NAIVE_PREFIX_TOUCHES)
        wall.append(n["touches"] / n["wall_time_s"])
        cpu.append(n["touches"] / n["cpu_time_s"])
    return statistics.median(wall), statistics.median(cpu)


@pytest.mark.benchmark
def test_bench_timing_model_against_naive() -> None:
    simulate(scan_with_index(0.01))  # compile the EPC kernels
    probe = simulate(scan_with_index(0.1))
    touches_per_sim_s = probe.counters["touches"] / 0.1
    duration_s = TARGET_TOUCHES / touches_per_sim_s
    cfg = scan_with_index(duration_s)

    fast_rates, fast_cpu_rates, events_per_op = [], [], 0.0
    touches = faults = 0.0
    for _ in range(3):
        c0 = time.process_time()
        r = simulate(cfg)
        cpu = time.process_time() - c0
        touches, faults = r.counters["touches"], r.counters["faults"]
        fast_rates.append(touches / r.wall_time_s)
        fast_cpu_rates.append(touches / cpu)
        events_per_op = r.metrics["events_per_op"]
    fast = statistics.median(fast_rates)
    naive, naive_cpu = _naive_rate(cfg)
    ratio_cpu = statistics.median(fast_cpu_rates) / naive_cpu
    print(f"\nTiming stage benchmark (scan_with_index, {touches:.3g} page touches, "
          f"{faults / touches:.1%} faults; load average {os.getloadavg()[0]:.1f})")
    print(f"  per-operation model: {fast / 1e6:.2f} M touches/s wall "
          f"({statistics.median(fast_cpu_rates) / 1e6:.2f} M/s CPU), "
          f"{events_per_op:.1f} SimPy events per operation")
    print(f"  naive one event per touch: {naive / 1e6:.3f} M touches/s wall "
          f"({naive_cpu / 1e6:.3f} M/s CPU, {NAIVE_PREFIX_TOUCHES:,}-touch prefix)")
    print(f"  speed-up: {ratio_cpu:.1f}x on CPU time, {fast / naive:.1f}x wall "
          "(target >= 15x)")
    assert touches >= 0.9 * TARGET_TOUCHES
    assert 0.03 <= faults / touches <= 0.07
    assert ratio_cpu >= 15
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    if load > cores:
        # Other processes hold the cores: wall-clock time is not this process's time.
        print(f"  machine overloaded (load {load:.1f} on {cores} cores): checking the 5 M/s "
              "target on CPU time")
        assert statistics.median(fast_cpu_rates) >= 5e6
    else:
        assert fast >= 5e6


def uniform_probes(duration_s: float) -> ModelConfig:
    """Worst case for the per-batch design: 512 uniform probes per operation over a table
    5% larger than the EPC (~5% faults). Under the linux policy most scanned pages are young,
    so a ksgxd scan of 16 pages evicts only ~2-3 and there are many more batches (events)
    per fault than in ``scan_with_index``."""
    threads = 4
    return ModelConfig(
        vm=VmConfig("bench-sgx1", vcpus=4, clock_hz=3.7e9, sgx_generation=1,
                    epc_pages=EPC_PAGES + 1 + threads * 3),
        enclaves=(EnclaveConfig("kv", threads=threads,
                                regions=(RegionConfig("table", int(EPC_PAGES / 0.95)),)),),
        operations=(OperationConfig("probe", compute_cycles=50_000, memory=(
            MemoryAccessConfig("table", 512, {"kind": "uniform"}, cache_lines_per_page=2,
                               llc_miss_fraction=1.0, dependent_fraction=0.5),)),),
        arrival=ArrivalConfig("closed", clients=8, think_time_s=0.0),
        settings=SimulationSettings(duration_s=duration_s, warmup_s=0.0),
    )


@pytest.mark.benchmark
def test_bench_timing_model_uniform_worst_case() -> None:
    """Worst case: >= 15x the naive model. The two models run alternately (fast, naive,
    fast, ...) so that a change in the machine's load hits both; the ratio is checked on
    CPU time of this process (wall-clock rates, printed too, are what a quiet machine
    gives and swing with other processes on a shared one)."""
    simulate(uniform_probes(0.01))
    cfg = uniform_probes(0.5)
    fast_wall, fast_cpu, naive_wall, naive_cpu = [], [], [], []
    r = None
    for _ in range(3):
        c0 = time.process_time()
        r = simulate(cfg)
        cpu = time.process_time() - c0
        fast_wall.append(r.counters["touches"] / r.wall_time_s)
        fast_cpu.append(r.counters["touches"] / cpu)
        n = run_naive(cfg, max_touches=NAIVE_PREFIX_TOUCHES)
        naive_wall.append(n["touches"] / n["wall_time_s"])
        naive_cpu.append(n["touches"] / n["cpu_time_s"])
    assert r is not None
    med = statistics.median
    touches, faults = r.counters["touches"], r.counters["faults"]
    ratio_cpu = med(fast_cpu) / med(naive_cpu)
    print(f"\nTiming stage benchmark (uniform_probes, {touches:.3g} page touches, "
          f"{faults / touches:.1%} faults, {r.counters['evictions'] / r.counters['batches']:.1f}"
          f" pages per ksgxd batch; load average {os.getloadavg()[0]:.1f})")
    print(f"  per-operation model: {med(fast_wall) / 1e6:.2f} M touches/s wall "
          f"({med(fast_cpu) / 1e6:.2f} M/s CPU), "
          f"{r.metrics['events_per_op']:.1f} SimPy events per operation")
    print(f"  naive one event per touch: {med(naive_wall) / 1e6:.3f} M touches/s wall "
          f"({med(naive_cpu) / 1e6:.3f} M/s CPU)")
    print(f"  speed-up: {ratio_cpu:.1f}x on CPU time, {med(fast_wall) / med(naive_wall):.1f}x "
          "wall (target >= 15x)")
    assert ratio_cpu >= 15
