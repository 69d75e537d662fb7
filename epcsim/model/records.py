"""Flat per-operation records and run counters, kept as plain arrays and numbers.

One row per arrived operation (including warm-up arrivals and dropped ones), in arrival
order. Times are seconds of simulated time; ``start_s``/``end_s`` stay NaN for operations
that had not started/completed when the run ended. The time components of a completed
operation add up to its latency (see :mod:`epcsim.model.metrics` for their definitions).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

_FLOAT_FIELDS = ("arrival_s", "start_s", "end_s", "compute_s", "memory_s", "transitions_s",
                 "paging_s", "queueing_s", "tlb_s")


class Records:
    """Growable per-operation arrays (capacity doubles; views trimmed by :meth:`arrays`)."""

    arrival_s: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    compute_s: np.ndarray
    memory_s: np.ndarray
    transitions_s: np.ndarray
    paging_s: np.ndarray
    queueing_s: np.ndarray
    tlb_s: np.ndarray

    def __init__(self, capacity: int = 4096) -> None:
        self.n = 0
        self._cap = capacity
        for name in _FLOAT_FIELDS:
            setattr(self, name, np.full(capacity, np.nan))
        self.op_type = np.zeros(capacity, dtype=np.int32)
        self.phase = np.zeros(capacity, dtype=np.int32)
        self.faults = np.zeros(capacity, dtype=np.int64)
        self.dropped = np.zeros(capacity, dtype=bool)

    def _grow(self) -> None:
        cap = self._cap * 2
        for name in (*_FLOAT_FIELDS, "op_type", "phase", "faults", "dropped"):
            old = getattr(self, name)
            if old.dtype.kind == "f":
                new = np.full(cap, np.nan)
            else:
                new = np.zeros(cap, dtype=old.dtype)
            new[: self._cap] = old
            setattr(self, name, new)
        self._cap = cap

    def add(self, arrival_s: float, op_type: int, phase: int) -> int:
        """Append an arrival; returns its row index."""
        if self.n == self._cap:
            self._grow()
        i = self.n
        self.arrival_s[i] = arrival_s
        self.op_type[i] = op_type
        self.phase[i] = phase
        self.n += 1
        return i

    def arrays(self) -> dict[str, np.ndarray]:
        """Copies trimmed to the arrived operations, plus ``latency_s`` (NaN if unfinished)."""
        out = {name: getattr(self, name)[: self.n].copy()
               for name in (*_FLOAT_FIELDS, "op_type", "phase", "faults", "dropped")}
        out["latency_s"] = out["end_s"] - out["arrival_s"]
        return out


@dataclass
class Counters:
    """Cumulative event counts of a run (differences between two snapshots give a window)."""

    completed: int = 0
    touches: int = 0
    faults: int = 0
    augments: int = 0
    eleos_faults: int = 0
    evictions: int = 0
    batches: int = 0
    ipis: int = 0
    aex: float = 0.0
    timer_aex: float = 0.0
    ipi_aex: int = 0
    switchless_calls: int = 0
    switchless_fallbacks: int = 0
    busy_vcpu_s: float = 0.0
    tcs_busy_s: float = 0.0
    ksgxd_busy_s: float = 0.0
    build_evictions: int = 0
    lock_hold_s: float = 0.0
    lock_wait_s: float = 0.0

    def copy(self) -> Counters:
        return dataclasses.replace(self)

    def minus(self, other: Counters) -> dict[str, float]:
        """Field-wise difference ``self - other``."""
        return {f.name: float(getattr(self, f.name) - getattr(other, f.name))
                for f in dataclasses.fields(self)}
