"""The c-server first-come-first-served recursion of :mod:`epcsim.sizing.replay`, compiled
by numba (cached on disk). Imported on first use, so importing the sizing package compiles
and loads no numba."""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def fcfs_latency(arrival_s: np.ndarray, service_s: np.ndarray, servers: int) -> np.ndarray:
    """Latency of each request (arrival order) with ``servers`` servers: it starts at the
    later of its arrival and the instant the earliest server frees (Kiefer-Wolfowitz)."""
    n = arrival_s.shape[0]
    out = np.empty(n)
    free = np.zeros(servers)  # the instant each server frees
    for i in range(n):
        j = 0
        for m in range(1, servers):  # the earliest server
            if free[m] < free[j]:
                j = m
        a = arrival_s[i]
        start = a if a >= free[j] else free[j]
        free[j] = start + service_s[i]
        out[i] = free[j] - a
    return out
