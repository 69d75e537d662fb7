"""Critical sections: a named lock serialises the operations that hold it."""

from __future__ import annotations

from pathlib import Path

import pytest

from epcsim.api import run_study
from epcsim.scenario import load_scenario

SERVICE_S = 200e-6


def _scenario(threads: int, hold: float) -> dict:
    return {
        "name": "lock",
        "vm": {"sizes": ["DC8s_v3"]},
        "costs": {"ecall_cycles": 0, "ocall_cycles": 0},
        "enclaves": [{"name": "e", "size": "4 MiB", "threads": threads}],
        "workload": {
            "arrival": {"kind": "closed", "clients": threads, "think_time": "0 s"},
            "operations": [{"name": "op", "ecalls": 1, "compute": f"{SERVICE_S * 1e6} us",
                            "locks": [{"name": "db", "hold": hold}]}],
        },
        "simulation": {"duration": "0.5 s", "warmup": "0.05 s", "replications": 1,
                       "seed": 1, "native_baseline": True, "timer_interrupts": False},
    }


@pytest.mark.parametrize("threads", [1, 4])
def test_whole_service_under_one_lock_caps_throughput_at_one_over_service(
        tmp_path: Path, threads: int) -> None:
    study = run_study(load_scenario(_scenario(threads, 1.0)), out_dir=tmp_path / "s",
                      workers=1)
    s = study.summary.iloc[0]
    assert s["throughput_ops_s"] == pytest.approx(1 / SERVICE_S, rel=0.01)
    # the native baseline holds the same lock: no more throughput there either
    assert s["native_throughput_ops_s"] == pytest.approx(1 / SERVICE_S, rel=0.01)
    # latency = N x service (each client waits for the other N - 1)
    assert s["latency_mean_s"] == pytest.approx(threads * SERVICE_S, rel=0.02)


def test_half_the_time_under_the_lock_is_amdahl_capped(tmp_path: Path) -> None:
    # 4 threads, half of each operation serial: throughput = 1 / (0.5 x service) at most
    study = run_study(load_scenario(_scenario(4, 0.5)), out_dir=tmp_path / "s", workers=1)
    x = study.summary.iloc[0]["throughput_ops_s"]
    assert x == pytest.approx(1 / (0.5 * SERVICE_S), rel=0.02)
