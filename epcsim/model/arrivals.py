"""Arrival drivers of a run: open (Poisson or trace timestamps, per phase) and closed
(clients with think times, per phase); the operation mix of each phase.

A mixin of :class:`epcsim.model.simulate._Model` (it uses the model's environment, streams,
records and ``_op``); split out of simulate.py to keep files short. Arrivals are drawn in
chunks of arrays before they are used (common random numbers across VM sizes).
"""
from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from epcsim.model import streams
from epcsim.model.components import ARRIVAL_CHUNK

if TYPE_CHECKING:
    from epcsim.model.components import _OpType
    from epcsim.model.config import ModelConfig, SimulationSettings
    from epcsim.model.records import Records


class Arrivals:
    """Arrival processes (mixin of the run's model)."""

    env: simpy.Environment
    cfg: ModelConfig
    settings: SimulationSettings
    seed: int
    replication: int
    optypes: list[_OpType]
    rec: Records
    in_system: int
    _op: Callable[..., Generator[simpy.Event, Any, None]]

    def _phase_windows(self) -> list[tuple[int, float, float]]:
        out = []
        t = 0.0
        end_run = self.settings.duration_s
        phases = self.cfg.effective_phases()
        for k, ph in enumerate(phases):
            last = k == len(phases) - 1
            end = end_run if last or ph.duration_s is None else min(end_run, t + ph.duration_s)
            if t < end_run:
                out.append((k, t, end))
            t = end
        return out

    def _mix_cdf(self, k: int) -> np.ndarray:
        ph = self.cfg.effective_phases()[k]
        if ph.mix is None:
            w = np.array([op.weight for op in self.cfg.operations], dtype=float)
        else:
            w = np.array([float(ph.mix.get(op.name, 0.0)) for op in self.cfg.operations])
        cdf = np.cumsum(w / w.sum())
        cdf[-1] = 1.0
        return cdf

    def _open_driver(self, k: int, start: float, end: float) -> Generator[simpy.Event, Any, None]:
        env = self.env
        ph = self.cfg.effective_phases()[k]
        arrival = ph.arrival or self.cfg.arrival
        cdf = self._mix_cdf(k)
        mix_rng = streams.rng_for(self.seed, self.replication, streams.MIX + k)
        if start > env.now:
            yield env.timeout(start - env.now)
        if arrival.kind == "poisson":
            assert arrival.rate_per_s is not None
            gap_rng = streams.rng_for(self.seed, self.replication, streams.ARRIVALS + k)
            scale = 1.0 / arrival.rate_per_s
            t = start
            while True:
                times = t + np.cumsum(gap_rng.exponential(scale, ARRIVAL_CHUNK))
                kinds = np.searchsorted(cdf, mix_rng.random(ARRIVAL_CHUNK), side="right")
                for ti, ki in zip(times.tolist(), kinds.tolist(), strict=True):
                    if ti >= end:
                        return
                    yield env.timeout(ti - env.now)
                    self._arrive_open(ki, k)
                t = float(times[-1])
        else:  # trace
            assert arrival.timestamps_s is not None
            ts = start + np.asarray(arrival.timestamps_s, dtype=float)
            ts = ts[ts < end]
            for c0 in range(0, len(ts), ARRIVAL_CHUNK):
                chunk = ts[c0 : c0 + ARRIVAL_CHUNK]
                kinds = np.searchsorted(cdf, mix_rng.random(len(chunk)), side="right")
                for ti, ki in zip(chunk.tolist(), kinds.tolist(), strict=True):
                    yield env.timeout(max(0.0, ti - env.now))
                    self._arrive_open(ki, k)

    def _arrive_open(self, kind: int, phase: int) -> None:
        ot = self.optypes[kind]
        pages, touches, mem_s, compute_s = ot.draw()
        max_in = self.settings.max_in_system
        i = self.rec.add(self.env.now, kind, phase)
        if max_in is not None and self.in_system >= max_in:
            self.rec.dropped[i] = True
            return
        self.in_system += 1
        self.env.process(self._op(i, ot, pages, touches, mem_s, compute_s, ot.draw_host()))

    def _client(self, k: int, client: int, start: float,
                end: float) -> Generator[simpy.Event, Any, None]:
        env = self.env
        ph = self.cfg.effective_phases()[k]
        arrival = ph.arrival or self.cfg.arrival
        cdf = self._mix_cdf(k)
        sid = k * 65536 + client
        think_rng = streams.rng_for(self.seed, self.replication, streams.THINK + sid)
        mix_rng = streams.rng_for(self.seed, self.replication, streams.CLIENT_MIX + sid)
        if start > env.now:
            yield env.timeout(start - env.now)
        mean = arrival.think_time_s
        expo = arrival.think_distribution == "exponential" and mean > 0
        chunk = 256
        thinks: list[float] = []
        kinds: list[int] = []
        j = chunk
        while True:
            if j == chunk:  # draw the next chunk of think times and operation types
                thinks = (think_rng.exponential(mean, chunk) if expo
                          else np.full(chunk, mean)).tolist()
                kinds = np.searchsorted(cdf, mix_rng.random(chunk), side="right").tolist()
                j = 0
            think = thinks[j]
            kind = kinds[j]
            j += 1
            if think > 0:
                yield env.timeout(think)
            if env.now >= end:
                return
            ot = self.optypes[kind]
            pages, touches, mem_s, compute_s = ot.draw()
            i = self.rec.add(env.now, kind, k)
            self.in_system += 1
            yield from self._op(i, ot, pages, touches, mem_s, compute_s, ot.draw_host())
