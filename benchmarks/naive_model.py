"""Naive baseline for the timing-model benchmark: one SimPy event per page touch.

Same model, same semantics as :func:`epcsim.model.simulate` (same components, ksgxd,
waiting for free pages, costs and streams), except that an operation's page touches are
simulated one by one: each touch is one ``engine.touch`` call on a single page followed by
one SimPy timeout for that touch's memory time (the operation's memory time split evenly
over its touches) plus its fault handling. This is the "simulate each page access as a
SimPy event" design that DESIGN.md section 2 rules out; the benchmark measures how much
faster the per-operation design is. ``max_touches`` stops the run after a prefix.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from epcsim.model.config import ModelConfig, validate
from epcsim.model.simulate import _Model, _OpType


class NaiveModel(_Model):
    """The timing model with one SimPy event per page touch."""

    max_touches: int | None = None
    stop: simpy.Event | None = None

    def _touch_pages(self, e: int, ot: _OpType, pages: np.ndarray, mem_s: float
                     ) -> Generator[simpy.Event, Any, tuple[int, int, float, float]]:
        env = self.env
        engine = self.engine
        assert engine is not None
        augments = self._edmm_augments(e, ot, pages)
        n = len(pages)
        per_touch_s = mem_s / n if n else 0.0
        fault_s = ot.fault_s
        faults = 0
        wait_s = 0.0
        done_s = 0.0
        woken = False
        for j in range(n):
            while True:
                _h, f, nxt = engine.touch(e, pages[j : j + 1], 0)
                if engine.needs_reclaim():
                    self._wake_ksgxd()
                if nxt >= 1:
                    if woken and self.waiters and engine.free_pages > 0:
                        self.waiters.popleft().succeed()
                    woken = False
                    break
                yield from self._spin_for_pages(woken)
                wait_s += self._last_wait_s
                woken = True
            faults += f
            dt = per_touch_s + f * fault_s
            done_s += dt
            yield env.timeout(dt)
            self.ctr.touches += 1
            if (self.max_touches is not None and self.ctr.touches >= self.max_touches
                    and self.stop is not None and not self.stop.triggered):
                self.stop.succeed()
        self.ctr.touches -= n  # _op adds the operation's touches itself
        return faults, augments, wait_s, done_s


def run_naive(config: ModelConfig, replication: int = 0, seed: int = 0,
              max_touches: int | None = None) -> dict[str, float]:
    """Run the naive model (optionally only until ``max_touches`` page touches).

    Returns wall and CPU time (this process), touches, faults and SimPy events of the run.
    """
    validate(config)
    t0 = time.perf_counter()
    c0 = time.process_time()
    model = NaiveModel(config, replication, seed, False, None)
    model.max_touches = max_touches
    model.stop = model.env.event()
    env = model.env
    model.warm = model.ctr.copy()
    if model.engine is not None:
        env.process(model._ksgxd())
    for k, start, end in model._phase_windows():
        ph = config.effective_phases()[k]
        arrival = ph.arrival or config.arrival
        if arrival.kind == "closed":
            assert arrival.clients is not None
            for client in range(arrival.clients):
                env.process(model._client(k, client, start, end))
        else:
            env.process(model._open_driver(k, start, end))
    deadline = env.timeout(config.settings.duration_s)
    env.run(until=model.stop | deadline)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {"wall_time_s": wall, "cpu_time_s": cpu, "touches": float(model.ctr.touches),
            "faults": float(model.ctr.faults), "sim_time_s": float(env.now),
            "sim_events": float(next(env._eid))}
