"""Trace-driven queue replay: one evaluation's requests replayed at other loads.

An evaluation simulates thousands of requests. With common random numbers (the sizing
evaluator's fixed seed and replication) a run at ``k`` times the load sees the same requests
with the same service demands, arriving at the same instants divided by ``k`` (Poisson gaps
are drawn as ``exponential(1 / rate)`` from one stream). If each request's service time
(``end - start``: from taking its enclave thread and vCPU to leaving) did not depend on the
load, the run at ``k`` times the load would be the first-come-first-served ``c``-server
queue fed with those arrivals and service times, which the Kiefer-Wolfowitz recursion
(the multi-server Lindley recursion: each arrival starts at the later of its arrival and the
earliest time a server frees) computes in microseconds per request. :func:`replay_latency`
is that recursion; :func:`replay_servers` picks ``c`` as the server count whose replay at
the measured load reproduces the measured latencies (at a light load many counts do, and
the largest allowed one, the concurrency limit, is kept); :func:`replay_capacity` bisects
the highest load multiple at which the replay meets the objective as the simulator's
metrics judge it (:func:`replay_meets`: the percentile of the measured requests that
finished before the run's end, and departures in the measured window at least
``SUSTAIN_FRACTION`` of its arrivals; every waiting time of the recursion grows with the
load, so this is monotone up to the end-of-run cut).

It is exact for load-independent service times (compute, memory, transitions). EPC
paging is not: ksgxd's batches, the enclave lock and the reclaimer's vCPU time grow with
the load, so on paging sizes the replayed capacity is a guess the search checks by
evaluating it (and replays that evaluation in turn).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

#: The replay's version, part of the evaluation store's namespace: stored evaluations carry
#: the replayed capacity of the replay that computed them.
REPLAY_VERSION = 2


def replay_latency(arrival_s: np.ndarray, service_s: np.ndarray, servers: int) -> np.ndarray:
    """Latency (s) of each request in a FCFS queue with ``servers`` identical servers,
    requests taken in arrival order (``arrival_s`` sorted ascending)."""
    if servers < 1:
        raise ValueError(f"servers must be at least 1, got {servers}")
    n = len(arrival_s)
    out = np.empty(n)
    if servers == 1:
        # Lindley's recursion in closed form: W_n = D_n - min_{k<=n} D_k with D the running
        # sum of (service - next gap), done with numpy's cumulative functions.
        if n == 0:
            return out
        gaps = np.diff(arrival_s)
        d = np.concatenate(([0.0], np.cumsum(service_s[:-1] - gaps)))
        wait = d - np.minimum.accumulate(np.minimum(d, 0.0))
        return wait + service_s
    from epcsim.sizing._replay_kernel import fcfs_latency

    return fcfs_latency(np.ascontiguousarray(arrival_s, dtype=np.float64),
                        np.ascontiguousarray(service_s, dtype=np.float64), int(servers))


Background = tuple[np.ndarray, np.ndarray]


def _request_latency(arrival_s: np.ndarray, service_s: np.ndarray, servers: int,
                     background: Background | None, hold_fraction: float = 1.0) -> np.ndarray:
    """Latency of each request when ``background`` work (instants, durations: jobs that hold
    a server but are not requests, e.g. ksgxd's reclaim sessions) joins the queue too; each
    background job queues behind the requests that arrived at or before its instant. A
    request holds its server for ``hold_fraction`` of its service time (the rest, e.g. a
    blocking OCALL's host time, it spends without a vCPU) and leaves after all of it."""
    hold = service_s * hold_fraction if hold_fraction != 1.0 else service_s
    if background is None or not len(background[0]):
        lat = replay_latency(arrival_s, hold, servers)
    else:
        times = np.concatenate([arrival_s, background[0]])
        order = np.argsort(times, kind="stable")
        merged = replay_latency(times[order], np.concatenate([hold, background[1]])[order],
                                servers)
        out = np.empty(len(times))
        out[order] = merged
        lat = out[: len(arrival_s)]
    return lat if hold is service_s else lat - hold + service_s


def _percentile(latency: np.ndarray, percentile: float) -> float:
    return float(np.quantile(latency, percentile / 100.0)) if latency.size else math.nan


def replay_servers(arrival_s: np.ndarray, service_s: np.ndarray, latency_s: np.ndarray,
                   max_servers: int, background: Background | None = None,
                   mask: np.ndarray | None = None, hold_fraction: float = 1.0) -> int:
    """The server count (1..``max_servers``) whose replay best reproduces the measured
    latencies (of the requests in ``mask``, default all); among counts within 1 % of the
    mean latency of the best fit, the largest (at a light load every count above the peak
    concurrency fits, and the concurrency limit is the one that holds at higher loads)."""
    if mask is None:
        mask = np.ones(len(arrival_s), dtype=bool)
    errors = []
    measured = latency_s[mask]
    scale = float(np.mean(measured)) if measured.size else 0.0
    for c in range(1, max(1, max_servers) + 1):
        rep = _request_latency(arrival_s, service_s, c, background, hold_fraction)[mask]
        errors.append(float(np.mean(np.abs(rep - measured))) if measured.size else 0.0)
    best = min(errors)
    return max(c for c, e in enumerate(errors, start=1) if e <= best + 0.01 * scale)


def _replayed(arrival_s: np.ndarray, service_s: np.ndarray, window_s: tuple[float, float],
              servers: int, percentile: float, multiple: float, background: Background | None,
              hold_fraction: float) -> tuple[float, float]:
    """(percentile, departures / arrivals) of the measured window replayed at ``multiple``
    times the load, as the simulator's metrics count them."""
    w0, w1 = window_s[0] / multiple, window_s[1] / multiple
    arrival = arrival_s / multiple
    if background is not None:
        background = (background[0] / multiple, background[1])
    end = arrival + _request_latency(arrival, service_s, servers, background, hold_fraction)
    measured = (arrival >= w0) & (arrival < w1)
    done = measured & (end <= w1)
    if not done.any():
        return math.inf, 0.0
    departures = int(((end >= w0) & (end <= w1)).sum())
    return (_percentile(end[done] - arrival[done], percentile),
            departures / max(1, int(measured.sum())))


def replay_meets(arrival_s: np.ndarray, service_s: np.ndarray, window_s: tuple[float, float],
                 servers: int, percentile: float, bound_s: float, sustain: float,
                 multiple: float, background: Background | None = None,
                 hold_fraction: float = 1.0) -> bool:
    """Whether the run at ``multiple`` times the load meets the objective as the simulator's
    metrics judge it: the percentile over the requests that arrived in the measured window
    and finished before the run ends is within ``bound_s``, and the departures in the window
    are at least ``sustain`` of its arrivals (the window and the arrivals scale by
    ``1 / multiple``)."""
    pct, kept = _replayed(arrival_s, service_s, window_s, servers, percentile, multiple,
                          background, hold_fraction)
    return kept >= sustain and pct <= bound_s


def replay_calibration(arrival_s: np.ndarray, service_s: np.ndarray,
                       window_s: tuple[float, float], servers: int, percentile: float,
                       measured_s: float, *, background: Background | None = None,
                       hold_fraction: float = 1.0, max_correction: float = 1.25) -> float:
    """The load multiple at which the replay's percentile equals the run's own
    (``measured_s``): 1 when the replay reproduces the run; when the run queues (its
    percentile at least twice the replay's at half the load) and the replay does not
    reproduce it (service times that grow with the load, reclaim sessions placed
    approximately), the ratio by which the replay's load axis is off, within
    [1 / ``max_correction``, ``max_correction``]; 1 when the run hardly queues (the
    percentile is then flat in the load and says nothing)."""
    def pct(k: float) -> float:
        return _replayed(arrival_s, service_s, window_s, servers, percentile, k, background,
                         hold_fraction)[0]

    if not (math.isfinite(measured_s) and measured_s >= 2.0 * pct(0.5)):
        return 1.0
    lo, hi = 1.0 / max_correction, max_correction
    if pct(lo) >= measured_s:
        return lo
    if pct(hi) <= measured_s:
        return hi
    while hi - lo > 1e-3 * lo:
        mid = 0.5 * (lo + hi)
        if pct(mid) <= measured_s:
            lo = mid
        else:
            hi = mid
    return lo


def replay_capacity(arrival_s: np.ndarray, service_s: np.ndarray, window_s: tuple[float, float],
                    servers: int, percentile: float, bound_s: float, sustain: float, *,
                    background: Background | None = None, hold_fraction: float = 1.0,
                    max_multiple: float = 64.0, rel_tol: float = 1e-3) -> float:
    """The highest load multiple ``k`` at which the replay meets the objective
    (:func:`replay_meets`), by doubling or halving from 1 and then bisecting to ``rel_tol``:
    0 when it fails at 1/1000 of the load, ``max_multiple`` when it meets up to there."""
    def meets(k: float) -> bool:
        return replay_meets(arrival_s, service_s, window_s, servers, percentile, bound_s,
                            sustain, k, background, hold_fraction)

    lo, hi = 1.0, 1.0
    if meets(1.0):
        while meets(hi * 2.0):
            hi *= 2.0
            if hi >= max_multiple:
                return max_multiple
        lo, hi = hi, hi * 2.0
    else:
        while not meets(lo * 0.5):
            lo *= 0.5
            if lo < 1e-3:
                return 0.0
        lo, hi = lo * 0.5, lo
    while hi - lo > rel_tol * lo:
        mid = 0.5 * (lo + hi)
        if meets(mid):
            lo = mid
        else:
            hi = mid
    return lo


# --------------------------------------------------------------------------- for the search

#: Key of the replayed capacity an evaluation may carry (:mod:`epcsim.sizing.replay`).
REPLAY_KEY = "replay_capacity_ops_s"
#: Half-width, relative to ``rel_tol``, of the pair of loads placed around a replayed guess:
#: the pair is 0.94 ``rel_tol`` wide, so when it straddles the capacity the search stops.
PAIR_HALF_WIDTH = 0.47
#: A replayed guess further than this (relative, in log) from every evaluated load is
#: evaluated alone first: a replay extrapolated far from its run's load is a guess on paging
#: sizes, and the evaluation at the guess replays from close by.
LOCAL_REPLAY = 0.1


def replay_guess(runs: list[tuple[float, Mapping[str, float]]],
                 secant_loads: list[float] | None = None) -> float | None:
    """The capacity the replays of the runs point at: the replayed capacity of the run whose
    load is nearest its own replay (the most local extrapolation); when two runs' replays
    point to opposite sides of their loads (and lie within a factor 2 of each other), the
    secant's fixed point ``replay(x) = x`` between them (paging makes service times grow
    with the load, so a replay from below overshoots and one from above undershoots); only
    through runs whose loads are in ``secant_loads`` when given."""
    pts = [(x, float(m[REPLAY_KEY])) for x, m in runs
           if math.isfinite(m.get(REPLAY_KEY, math.nan)) and m.get(REPLAY_KEY, 0.0) > 0]
    if not pts:
        return None
    pts.sort(key=lambda p: (abs(math.log(p[1] / p[0])), p[0]))
    (x1, r1) = pts[0]
    if secant_loads is not None and x1 not in secant_loads:
        return r1
    for x2, r2 in pts[1:]:
        if secant_loads is not None and x2 not in secant_loads:
            continue
        f1, f2 = r1 - x1, r2 - x2
        if f1 * f2 < 0 and 0.5 < x2 / x1 < 2.0:
            return x1 - f1 * (x2 - x1) / (f2 - f1)
    return r1


def replay_loads(guess: float, lo: float, hi: float, rel_tol: float, stretch: float = 1.0
                 ) -> list[float]:
    """The loads to evaluate next around a replayed ``guess`` inside the bracket (lo, hi):
    one load when the guess is within ``rel_tol`` of an end already evaluated (it closes the
    bracket if the guess is right; ``stretch`` times further when the replays have missed
    before, so a replay biased to one side does not crawl by ``rel_tol``), else a pair
    ``2 x PAIR_HALF_WIDTH x rel_tol`` apart."""
    if lo > 0 and guess <= lo * (1 + rel_tol):
        x = lo * (1 + 0.95 * rel_tol * stretch)
        x = x if x < hi else lo * (1 + 0.95 * rel_tol)
        return [x] if x < hi else []
    if math.isfinite(hi) and guess >= hi / (1 + rel_tol):
        x = hi / (1 + 0.95 * rel_tol * stretch)
        x = x if x > lo else hi / (1 + 0.95 * rel_tol)
        return [x] if x > lo else []
    pair = [guess * (1 - PAIR_HALF_WIDTH * rel_tol), guess * (1 + PAIR_HALF_WIDTH * rel_tol)]
    return [x for x in pair if lo < x < hi]
