"""An analytic first guess of a size's capacity under the SLO, to bracket the search.

From one evaluation (or one of the study's own runs) at a known load, the utilisation law
says where the size saturates: every resource's utilisation grows in proportion to the
throughput, so the busiest one (vCPUs, enclave threads, the reclaimer ksgxd) reaches 1 at
``throughput / max(utilisation)``. Little's law gives the number of servers behind it
(``c = saturation throughput x mean service time``, the service time being the mean latency
less its queueing share). Queueing theory then places the percentile: in M/M/c the wait
exceeds ``t`` with probability ``C(c, a) exp(-(c mu - lambda) t)`` (Erlang C), so the
latency percentile is about the service time's own percentile plus
``ln(C / (1 - p)) / (c mu - lambda)``; the estimate is the load at which that equals the
bound. It is only a guess: service times are not exponential, and paging and ksgxd do not
queue like servers. The search evaluates two loads around it and bisects from there, so a
poor guess costs evaluations, never accuracy.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from epcsim.sizing.slo import Slo


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in M/M/c with ``servers`` servers and ``offered``
    load a = lambda / mu (Erlang's C formula); 1 when a >= servers."""
    if offered <= 0:
        return 0.0
    if offered >= servers:
        return 1.0
    # Erlang B by the stable recurrence, then C from B.
    b = 1.0
    for k in range(1, servers + 1):
        b = offered * b / (k + offered * b)
    rho = offered / servers
    return b / (1.0 - rho + rho * b)


def mmc_percentile_s(load_ops_s: float, servers: int, service_s: float, service_p_s: float,
                     percentile: float) -> float:
    """Latency percentile (s) at ``load_ops_s`` in M/M/c: ``service_p_s`` (the service time's
    own percentile) plus the waiting time's percentile; inf at or above saturation."""
    mu = 1.0 / service_s
    spare = servers * mu - load_ops_s
    if spare <= 0:
        return math.inf
    waits = erlang_c(servers, load_ops_s / mu)
    tail = 1.0 - percentile / 100.0
    wait_p = math.log(waits / tail) / spare if waits > tail else 0.0
    return service_p_s + wait_p


def estimate_capacity(metrics: Mapping[str, float], load_ops_s: float, slo: Slo
                      ) -> float | None:
    """The load (ops/s) at which the SLO percentile is expected to reach the bound, from
    ``metrics`` measured at ``load_ops_s``; None when the metrics cannot say."""
    throughput = metrics.get("throughput_ops_s", math.nan)
    if not math.isfinite(throughput) or throughput <= 0:
        return None
    utils = [metrics.get(k, math.nan) for k in ("vcpu_utilisation", "enclave_thread_utilisation",
                                                 "ksgxd_utilisation")]
    busiest = max((u for u in utils if math.isfinite(u) and u > 0), default=math.nan)
    if not math.isfinite(busiest):
        return None
    saturation = throughput / min(1.0, busiest)
    queueing = metrics.get("share_queueing", math.nan)
    queueing = min(max(queueing, 0.0), 1.0) if math.isfinite(queueing) else 0.0
    mean_s = metrics.get("latency_mean_s", math.nan)
    latency_p = metrics.get(slo.latency_metric, math.nan)
    if math.isfinite(mean_s) and mean_s > 0:
        service_s = mean_s * (1.0 - queueing)
        servers = max(1, round(saturation * service_s)) if service_s > 0 else 1
    else:
        servers = 1
        service_s = 1.0 / saturation
    if service_s <= 0:
        return None
    service_s = servers / saturation  # consistent with the saturation throughput
    if math.isfinite(latency_p) and latency_p > 0:
        service_p_s = max(service_s, latency_p * (1.0 - queueing))
        if not (math.isfinite(mean_s) and mean_s > 0):  # no mean: assume exponential
            service_p_s = service_s * math.log(100.0 / (100.0 - slo.latency_percentile))
    else:
        service_p_s = service_s
    if service_p_s >= slo.latency_bound_s:
        return None
    low, high = 0.0, saturation
    for _ in range(60):  # the percentile grows with the load: bisect for the bound
        mid = 0.5 * (low + high)
        if mmc_percentile_s(mid, servers, service_s, service_p_s,
                            slo.latency_percentile) <= slo.latency_bound_s:
            low = mid
        else:
            high = mid
    return low if low > 0 else None
