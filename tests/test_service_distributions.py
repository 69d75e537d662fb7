"""Service-time distributions through the whole pipeline (scenario YAML -> study -> summary).

With transitions, paging and timer interrupts off, one TCS and Poisson arrivals, an enclave
whose operations compute for a drawn time is an M/G/1 queue. The mean latency over
replications must contain the Pollaczek-Khinchine value in its 95% confidence interval
(lognormal and gamma service), and the p99 of a single-server run must agree with an
independent reference: a pure-Python Lindley recursion with the same service distribution.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from epcsim.api import run_study
from epcsim.errors import ScenarioError
from epcsim.model.servicetime import MultiplierFeed, ServiceDist
from epcsim.scenario import load_scenario

SERVICE_S = 500e-6


def pk_mean_response_s(rate_per_s: float, mean_s: float, cv: float) -> float:
    """Pollaczek-Khinchine: W = lambda E[S^2] / (2 (1 - rho)), response = W + E[S]."""
    rho = rate_per_s * mean_s
    es2 = mean_s**2 * (1 + cv**2)
    return rate_per_s * es2 / (2 * (1 - rho)) + mean_s


def _scenario(compute: Any, rate_per_s: float, reps: int = 6,
              duration: str = "2.1 s") -> dict[str, Any]:
    return {
        "name": "mg1",
        "vm": {"sizes": ["DC4s_v3"]},
        "costs": {"ecall_cycles": 0, "ocall_cycles": 0},
        "enclaves": [{"name": "e", "size": "4 MiB", "threads": 1}],
        "workload": {
            "arrival": {"kind": "poisson", "rate": f"{rate_per_s}/s"},
            "operations": [{"name": "op", "ecalls": 1, "compute": compute}],
        },
        "simulation": {"duration": duration, "warmup": "0.1 s", "replications": reps,
                       "seed": 5, "native_baseline": False, "timer_interrupts": False},
    }


@pytest.mark.parametrize("dist, cv", [("lognormal", 1.5), ("gamma", 0.5)])
def test_mg1_mean_latency_matches_pollaczek_khinchine(tmp_path: Path, dist: str,
                                                      cv: float) -> None:
    rate = 0.7 / SERVICE_S
    compute = {"dist": dist, "mean": f"{SERVICE_S * 1e6} us", "cv": cv}
    study = run_study(load_scenario(_scenario(compute, rate)), out_dir=tmp_path / "s",
                      workers=2)
    assert study.n_failed == 0
    agg = study.aggregate.iloc[0]
    theory = pk_mean_response_s(rate, SERVICE_S, cv)
    assert agg["latency_mean_s_ci_low"] <= theory <= agg["latency_mean_s_ci_high"], (
        agg["latency_mean_s_ci_low"], theory, agg["latency_mean_s_ci_high"])
    # and the variability matters: an M/D/1 mean is well outside that interval
    assert pk_mean_response_s(rate, SERVICE_S, 0.0) < agg["latency_mean_s_ci_low"]


def lindley_p99_s(rate_per_s: float, mean_s: float, cv: float, n: int, seed: int) -> float:
    """p99 of the response time of an M/G/1 FCFS queue with lognormal service (pure Python
    Lindley recursion W_{k+1} = max(0, W_k + S_k - A_{k+1}), independent of epcsim)."""
    rnd = random.Random(seed)
    s2 = math.log1p(cv * cv)
    mu, sigma = math.log(mean_s) - s2 / 2, math.sqrt(s2)
    w = 0.0
    out = []
    for _ in range(n):
        s = rnd.lognormvariate(mu, sigma)
        out.append(w + s)
        w = max(0.0, w + s - rnd.expovariate(rate_per_s))
    out.sort()
    return out[int(0.99 * n)]


def test_single_server_p99_matches_lindley_reference(tmp_path: Path) -> None:
    rate, cv = 0.6 / SERVICE_S, 1.0
    compute = {"dist": "lognormal", "mean": f"{SERVICE_S * 1e6} us", "cv": cv}
    study = run_study(load_scenario(_scenario(compute, rate, reps=4, duration="10.2 s")),
                      out_dir=tmp_path / "s", workers=2)
    assert study.n_failed == 0
    sim_p99 = float(study.summary["latency_p99_s"].mean())  # 4 x 12,000 operations
    ref = lindley_p99_s(rate, SERVICE_S, cv, 400_000, seed=1)
    assert sim_p99 == pytest.approx(ref, rel=0.06), (sim_p99, ref)
    # the fixed-service p99 is far below: the distribution is what sets the tail
    assert lindley_p99_s(rate, SERVICE_S, 1e-6, 50_000, seed=1) < 0.6 * ref


@pytest.mark.parametrize("dist", [
    ServiceDist("exponential", 1.0), ServiceDist("lognormal", 0.5), ServiceDist("gamma", 2.0),
    ServiceDist("uniform", low=0.5, high=1.5),
    ServiceDist("empirical", samples=(0.2, 0.3, 2.5))])
def test_multipliers_have_mean_one_and_the_stated_second_moment(dist: ServiceDist) -> None:
    feed = MultiplierFeed(dist, np.random.default_rng(3))
    m = np.asarray(feed.take(400_000))
    assert m.mean() == pytest.approx(1.0, rel=0.01)
    assert (m * m).mean() == pytest.approx(dist.second_moment(), rel=0.05)


def test_chunked_exponential_equals_the_per_call_draws() -> None:
    """The model used to call Generator.exponential once per operation: chunking keeps the
    numbers (golden summaries of exponential scenarios stay bit-identical)."""
    feed = MultiplierFeed(ServiceDist("exponential", 1.0), np.random.default_rng(9))
    rng = np.random.default_rng(9)
    mean = 3.7e-4
    assert [mean * feed.next() for _ in range(5000)] == [float(rng.exponential(mean))
                                                         for _ in range(5000)]


def test_empirical_file_is_read_hashed_and_drawn(tmp_path: Path) -> None:
    f = tmp_path / "samples.csv"
    f.write_text("latency_us\n100\n300\n200\n")
    raw = _scenario({"dist": "empirical", "file": str(f), "unit": "us"}, 100.0)
    scn = load_scenario(raw)
    op = scn.workload.operations[0]
    assert op.compute.time_s == pytest.approx(200e-6)
    assert op.compute_dist is not None and op.compute_dist.sha256 is not None
    h1 = op.compute_dist.sha256
    f.write_text("latency_us\n100\n300\n201\n")
    assert load_scenario(raw).workload.operations[0].compute_dist.sha256 != h1


@pytest.mark.parametrize("compute, words", [
    ({"dist": "lognormal", "mean": "10 us"}, "cv"),
    ({"dist": "weibull", "mean": "10 us"}, "unknown distribution"),
    ({"dist": "uniform", "low": "10 us", "high": "5 us"}, "low <= high"),
    ({"dist": "uniform", "low": "10 us", "high": "5000 cycles"}, "same kind"),
    ({"dist": "empirical", "file": "nope.csv"}, "not found"),
    ({"dist": "gamma", "mean": "10 us", "cv": 1, "file": "x"}, "empirical"),
])
def test_bad_distributions_are_refused_with_the_key_path(compute: Any, words: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        load_scenario(_scenario(compute, 100.0))
    text = str(exc.value)
    assert words in text and "compute" in text, text
