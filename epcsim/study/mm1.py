"""A known-answer run function: the M/M/1 queue, for testing and demonstrating the study code.

The study machinery is generic over "a run"; this module gives it a small but real run whose
answer is known in closed form, so that tests can check confidence intervals against the
truth and backends against each other without the SGX model. It is not part of the SGX model.

Customers arrive as a Poisson process of rate ``arrival_rate`` (per second) at one FIFO server
with exponential service times of rate ``service_rate``. Waiting times in queue follow
Lindley's recursion ``W[k+1] = max(0, W[k] + S[k] - A[k+1])`` (S: service time, A: gap
between arrivals), computed without a Python loop: with ``X = cumsum(S[k] - A[k+1])``,
``W[k] = X[k] - min(-W[0], min(X[1..k]))``. The first customer's wait ``W[0]`` is drawn from
the stationary distribution (0 with probability 1 - rho, else exponential with rate
``service_rate - arrival_rate``), so the whole sequence is stationary and its mean is an
unbiased estimate of the steady-state mean wait ``rho / (service_rate - arrival_rate)``, with
``rho = arrival_rate / service_rate`` < 1.

Random numbers come from ``SeedSequence(seed, spawn_key=(replication, 0))``: one stream per
replication, independent of every other payload field (common random numbers across, e.g.,
service rates).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from epcsim.study.task import RunOutcome, RunTask


def mm1_waits(arrival_rate: float, service_rate: float, n_customers: int,
              rng: np.random.Generator, *, size: int | None = None) -> np.ndarray:
    """Waiting times in queue (s) of ``n_customers`` consecutive customers, stationary start.

    Returns shape ``(n_customers,)``, or ``(size, n_customers)`` independent sequences when
    ``size`` is given.
    """
    if not 0 < arrival_rate < service_rate:
        raise ValueError(
            f"need 0 < arrival_rate < service_rate, found {arrival_rate} and {service_rate}")
    if n_customers < 1:
        raise ValueError(f"n_customers must be >= 1, found {n_customers}")
    shape = (1 if size is None else size, n_customers)
    rho = arrival_rate / service_rate
    busy = rng.random(shape[0]) < rho
    w0 = np.where(busy, rng.exponential(1.0 / (service_rate - arrival_rate), shape[0]), 0.0)
    service_s = rng.exponential(1.0 / service_rate, (shape[0], n_customers - 1))
    gaps_s = rng.exponential(1.0 / arrival_rate, (shape[0], n_customers - 1))
    x = np.concatenate([np.zeros((shape[0], 1)), np.cumsum(service_s - gaps_s, axis=1)], axis=1)
    floor = np.minimum.accumulate(
        np.concatenate([-w0[:, None], x[:, 1:]], axis=1), axis=1)
    waits = x - floor
    return waits[0] if size is None else waits


def mm1_mean_wait_s(arrival_rate: float, service_rate: float) -> float:
    """Steady-state mean waiting time in queue of M/M/1 (s): rho / (mu - lambda)."""
    return (arrival_rate / service_rate) / (service_rate - arrival_rate)


def run_mm1(payload: Mapping[str, Any]) -> RunOutcome:
    """Run function: simulate one replication of an M/M/1 queue.

    Payload keys: ``arrival_rate`` and ``service_rate`` (per second), ``n_customers``,
    ``seed`` (root seed), ``replication``; optional ``detail`` (bool: return the per-customer
    waits as the detail table), ``fail`` (str: raise ValueError with this message; for tests
    of failure handling), ``exit_process`` (int: end the whole process at once with this
    status, like a crash in native code or the OOM killer; for tests of worker deaths),
    ``sleep_s`` (float: wait this long first; for tests that interrupt
    a study).

    Metrics: ``mean_wait_s``, ``p99_wait_s``, ``waited_fraction`` (fraction of customers that
    waited; tends to rho), ``theory_mean_wait_s``.
    """
    if payload.get("fail"):
        raise ValueError(str(payload["fail"]))
    if payload.get("exit_process"):
        os._exit(int(payload["exit_process"]))
    if payload.get("sleep_s"):
        import time

        time.sleep(float(payload["sleep_s"]))
    lam = float(payload["arrival_rate"])
    mu = float(payload["service_rate"])
    n = int(payload["n_customers"])
    seq = np.random.SeedSequence(int(payload["seed"]),
                                 spawn_key=(int(payload["replication"]), 0))
    waits_s = mm1_waits(lam, mu, n, np.random.default_rng(seq))
    metrics = {
        "mean_wait_s": float(waits_s.mean()),
        "p99_wait_s": float(np.quantile(waits_s, 0.99)),
        "waited_fraction": float(np.mean(waits_s > 0.0)),
        "theory_mean_wait_s": mm1_mean_wait_s(lam, mu),
    }
    detail = None
    if payload.get("detail"):
        detail = {"customer": np.arange(n, dtype=np.int64), "wait_s": waits_s,
                  "waited": waits_s > 0.0}
    return RunOutcome(metrics=metrics, detail=detail,
                      provenance={"model": "M/M/1 Lindley", "seed": int(payload["seed"]),
                                  "replication": int(payload["replication"]),
                                  "rho": lam / mu})


def mm1_task(arrival_rate: float, replication: int, *, service_rate: float = 1.0,
             n_customers: int = 2000, seed: int = 0, **options: Any) -> RunTask:
    """The :class:`RunTask` of one M/M/1 replication (``options``: see :func:`run_mm1`).

    Labels: ``arrival_rate``, ``service_rate``, ``replication``. The run key is the SHA-256
    of the payload's canonical JSON (first 32 hex digits), so any change to the payload gives
    a new key.
    """
    payload = {"arrival_rate": arrival_rate, "service_rate": service_rate,
               "n_customers": n_customers, "seed": seed, "replication": replication, **options}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    run_key = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
    return RunTask(run_key=run_key, fn="epcsim.study.mm1:run_mm1", payload=payload,
                   labels={"arrival_rate": arrival_rate, "service_rate": service_rate,
                           "replication": replication})
