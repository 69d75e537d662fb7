"""Critical sections: named locks an operation holds for part of its in-enclave time.

What it models: each (enclave, lock name) is a SimPy ``Resource(capacity=1)`` with FIFO
waiting. An operation with ``locks = ((name, fraction), ...)`` runs the rest of its in-enclave
segment first, then, for each lock in turn, waits for it and holds it for ``fraction x``
(compute + memory time). The native baseline holds the same locks for the same share of its
own compute + memory time. Assumption: waiters spin, keeping their vCPU and TCS (a spinlock,
as Gramine's LibOS locks do; the Intel SDK's contended ``sgx_thread_mutex`` would instead
sleep through two OCALLs per hand-off, not modelled); the wait is reported as queueing.
"""
from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy


class Locks:
    """The named locks of one run, created on first use."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self._locks: dict[tuple[int, str], simpy.Resource] = {}

    def _get(self, enclave: int, name: str) -> simpy.Resource:
        lock = self._locks.get((enclave, name))
        if lock is None:
            lock = self._locks[(enclave, name)] = simpy.Resource(self.env, capacity=1)
        return lock

    def hold(self, enclave: int, sections: tuple[tuple[str, float], ...], inside_s: float
             ) -> Generator[simpy.Event, Any, float]:
        """Run the critical sections; returns the seconds spent waiting for the locks."""
        env = self.env
        waited = 0.0
        for name, fraction in sections:
            lock = self._get(enclave, name)
            t0 = env.now
            with lock.request() as req:
                yield req
                waited += env.now - t0
                if fraction * inside_s > 0:
                    yield env.timeout(fraction * inside_s)
        return waited


def critical_share(sections: tuple[tuple[str, float], ...]) -> float:
    """Share of the in-enclave time spent holding some lock."""
    return sum(f for _, f in sections)
