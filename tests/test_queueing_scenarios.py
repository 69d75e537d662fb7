"""Queueing theory through the whole pipeline: scenario YAML -> study -> summary frames.

With transitions, paging and timer interrupts switched off, an enclave whose operations
compute for an exponentially distributed time is an M/M/c queue (c = its TCS count, on a VM
with at least c vCPUs). The mean latency over replications must match theory within the
95% confidence interval (Erlang C for c > 1), and Little's law must hold on the output.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from epcsim.api import run_study
from epcsim.scenario import load_scenario

SERVICE_S = 500e-6  # mean compute per operation


def erlang_c_mean_response_s(servers: int, arrival_per_s: float, service_s: float) -> float:
    """Mean response time of M/M/c (Erlang C waiting probability)."""
    a = arrival_per_s * service_s
    rho = a / servers
    assert rho < 1
    term, total = 1.0, 1.0
    for k in range(1, servers):
        term *= a / k
        total += term
    last = term * a / servers / (1 - rho)
    p_wait = last / (total + last)
    return p_wait * service_s / (servers * (1 - rho)) + service_s


def _scenario(threads: int, rate_per_s: float) -> dict[str, Any]:
    return {
        "name": f"mmc-{threads}",
        "vm": {"sizes": ["DC4s_v3"]},
        "costs": {"ecall_cycles": 0, "ocall_cycles": 0},
        "enclaves": [{"name": "e", "size": "4 MiB", "threads": threads}],
        "workload": {
            "arrival": {"kind": "poisson", "rate": f"{rate_per_s}/s"},
            "operations": [{"name": "op", "ecalls": 1, "compute": f"{SERVICE_S * 1e6} us",
                            "compute_distribution": "exponential"}],
        },
        "simulation": {"duration": "3.2 s", "warmup": "0.2 s", "replications": 8,
                       "seed": 11, "native_baseline": False, "timer_interrupts": False},
    }


@pytest.mark.parametrize("threads, rho", [(1, 0.7), (4, 0.8)])
def test_mmc_scenario_matches_theory_and_littles_law(tmp_path: Path, threads: int,
                                                     rho: float) -> None:
    rate = rho * threads / SERVICE_S
    scn = load_scenario(_scenario(threads, rate))
    study = run_study(scn, out_dir=tmp_path / "s", workers=2)
    assert study.n_failed == 0
    agg = study.aggregate.iloc[0]
    theory = erlang_c_mean_response_s(threads, rate, SERVICE_S)
    assert agg["latency_mean_s_ci_low"] <= theory <= agg["latency_mean_s_ci_high"], (
        agg["latency_mean_s_ci_low"], theory, agg["latency_mean_s_ci_high"])
    # every run: utilisation is rho x c / vCPUs; Little's law L = X W
    s = study.summary
    assert s["vcpu_utilisation"].mean() == pytest.approx(rho * threads / 4, rel=0.03)
    # each TCS is busy for exactly the service (vCPUs >= threads: no wait inside): rho
    assert s["enclave_thread_utilisation"].mean() == pytest.approx(rho, rel=0.03)
    little = s["throughput_ops_s"] * s["latency_mean_s"]
    assert (little / s["mean_in_system"]).to_numpy() == pytest.approx(1.0, rel=0.03)
    # no SGX costs were left in: every share but compute and queueing is zero
    assert s["share_transitions"].max() == 0 and s["share_paging"].max() == 0
    assert math.isclose(s["share_memory"].max(), 0.0, abs_tol=1e-12)
