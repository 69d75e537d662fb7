"""The SimPy timing model: one run of a :class:`~epcsim.model.config.ModelConfig`.

What it models (docs/model.md has every mechanism, assumption and cost with its source):

- **VM**: vCPUs are one SimPy ``PriorityResource`` (ksgxd has priority over enclave
  threads); the busy-vCPU time is integrated for utilisation. Costs in cycles are converted
  with the run's clock.
- **Enclaves**: the TCS count bounds the threads inside each enclave (a FIFO pool, an event
  only when a thread waits); an operation holds a TCS from start to end. Enclaves are built
  before t = 0 (:mod:`epcsim.model.startup`: ``enclave_startup_s``, not simulated).
- **Operation lifecycle** (one SimPy event per phase, never per page): wait for a thread,
  wait for a vCPU; hand the operation's page touches to the EPC engine in one ``touch``
  call; when no page is free the thread spins on its vCPU until ksgxd frees a batch and
  retries from where it stopped (the fault path never reclaims); then one timeout for
  ECALLs + compute + memory + faults + enclave-lock wait + timer AEXs + SDK OCALLs + TLB
  walks (:mod:`epcsim.model.tlb`); IPI-forced AEXs during it are paid in one catch-up
  timeout, and those landing during that timeout by the enclave's next operation before its
  touches (no event per ksgxd batch); switchless or hotcall OCALLs and ECALLs go through
  worker pools that poll, sleep and fall back as each runtime does
  (:mod:`epcsim.model.transitions`); blocking OCALLs release the vCPU for their host time
  and queue for it again.
- **Memory time**: LLC misses (dependent ones serialised, independent ones overlapping
  ``memory_level_parallelism``) at DRAM latency + penalty (SGX1 MEE on every miss, SGX2
  TME-MK on dependent misses, native none), times ``ssbd_slowdown`` in the enclave; on SGX1
  write misses pay the MEE write-back on top, and the MEE's bandwidth, shared by all threads,
  stretches memory time when their demand exceeds it (:mod:`epcsim.model.mee`).
- **ksgxd**: sleeps until free pages < low watermark, takes a vCPU (or a spinning thread's),
  reclaims batches until the high watermark (costs, enclave lock and TLB shootdowns per
  evicted page: :mod:`epcsim.model.paging`), waking spinning threads per batch.
- **Timer interrupts**: an operation's in-enclave time t (compute + memory) gets
  ``t x timer_interrupt_hz`` AEX + ERESUME costs, as an expected value or a Poisson count.
- **Native baseline** (``native=True``): no ECALL/OCALL transitions (an OCALL is a plain
  system call), no EPC (no faults, no ksgxd, no build), no protection penalty, no timer AEX,
  no switchless workers (switchless and hotcall calls are plain calls).

Assumptions: operations are served first come first served, non-preemptively on their vCPU
(no time slicing); an operation's page touches reach the EPC state when it starts running;
OCALLs come after the operation's in-enclave work; consecutive switchless OCALLs of one
operation are served by one worker.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from epcsim.errors import EpcsimError
from epcsim.model import runtimes, streams, transitions
from epcsim.model.arrivals import Arrivals
from epcsim.model.components import (
    EngineFactory,
    EpcEngineLike,
    _default_engine_factory,
    _OpType,
    _TcsPool,
)
from epcsim.model.config import ModelConfig, validate
from epcsim.model.locks import Locks, critical_share
from epcsim.model.mee import MeeBandwidth
from epcsim.model.metrics import RunResult, summarise
from epcsim.model.paging import EnclaveLocks, PagingCosts, reclaim_batch_cost
from epcsim.model.records import Counters, Records
from epcsim.model.run_costs import run_costs
from epcsim.model.startup import build_enclaves, usable_epc_pages


class _Model(Arrivals):
    """SimPy components of one run: VM, enclaves, ksgxd, arrival drivers, operations."""

    def __init__(self, config: ModelConfig, replication: int, seed: int, native: bool,
                 engine_factory: EngineFactory | None) -> None:
        self.cfg = config
        self.native = native
        self.seed = seed
        self.replication = replication
        self.costs = costs = run_costs(config)
        self.pg = PagingCosts.from_costs(costs.raw, config.vm.clock_hz, config.settings.host)
        self.locks = EnclaveLocks(len(config.enclaves), config.settings.enclave_lock)
        # The SGX1 MEE's bandwidth, shared by every thread of the VM (mee.py; 0 = no limit).
        self.mee = MeeBandwidth(0.0 if native or config.vm.sgx_generation != 1
                                else costs.raw["mee_bandwidth_bytes_per_s"])
        self.ssbd = 1.0 if native else costs.raw["ssbd_slowdown"]
        self.env = simpy.Environment()
        self.notes: list[str] = []
        s = config.settings
        self.settings = s
        self.vcpu = simpy.PriorityResource(self.env, capacity=config.vm.vcpus)
        self.rec = Records()
        self.ctr = Counters()
        self.threads = [_TcsPool(self.env, e.threads, self.ctr) for e in config.enclaves]
        self.n_enclaves = len(config.enclaves)
        self.running = [0] * self.n_enclaves
        self.epoch = [0] * self.n_enclaves
        self.exit_debt = [0] * self.n_enclaves  # forced exits not yet paid (see _op)
        self.eleos = [e.paging == "eleos" for e in config.enclaves]
        edmm_eff = []
        for e in config.enclaves:
            if e.edmm and config.vm.sgx_generation == 1 and not native:
                self.notes.append(f"enclave {e.name}: EDMM needs SGX2; built eagerly on "
                                  f"{config.vm.name} (SGX{config.vm.sgx_generation})")
            edmm_eff.append(e.edmm and config.vm.sgx_generation == 2)
        self.edmm = edmm_eff
        self.in_system = 0
        self.waiters: deque[simpy.Event] = deque()
        self.n_spinning = 0
        self._last_wait_s = 0.0
        self.ksgxd_wake: simpy.Event | None = None
        self.ksgxd_spin_evt: simpy.Event | None = None
        self.timer_rng = streams.rng_for(seed, replication, streams.TIMER)
        self.timer_on = s.timer_interrupts and not native
        self.timer_expected = s.timer_interrupt_mode == "expected"
        # Busy-vCPU integral.
        self._busy_n = 0
        self._busy_t = 0.0
        self.engine: EpcEngineLike | None = None
        self.startup_s = [0.0] * self.n_enclaves
        self.capacity_pages = 0
        self.max_resident_pages = 0
        any_memory = any(op.memory for op in config.operations)
        if not native:
            self.capacity_pages = usable_epc_pages(config)
            if self.capacity_pages <= costs.high_watermark_pages + costs.reclaim_batch_pages:
                raise EpcsimError(
                    f"{config.vm.name}: the EPC left for enclave pages ({self.capacity_pages} "
                    f"pages after SECS/TCS/SSA/VA/platform pages) is too small for the reclaimer "
                    f"(needs more than {costs.high_watermark_pages + costs.reclaim_batch_pages})")
            factory = engine_factory or _default_engine_factory
            self.engine = factory(
                capacity_pages=self.capacity_pages,
                enclave_pages=[e.committed_pages for e in config.enclaves],
                policy=s.epc_policy,
                seed=streams.seed_int(seed, replication, streams.EPC),
                reclaim_batch_pages=costs.reclaim_batch_pages,
                low_watermark_pages=costs.low_watermark_pages,
                high_watermark_pages=costs.high_watermark_pages,
                va_pages=False,  # allocated at build, taken out of capacity_pages
                # isgx picks each batch's victims in one enclave, round-robin
                **({"victims_per_enclave": True} if s.sgx_driver == "isgx" else {}),
            )
            build = build_enclaves(self.engine, config, costs, self.edmm)
            self.startup_s = [s + runtimes.enclave_profile(
                e.runtime, e.lvi_hardening, costs.raw,
                config.vm.sgx_generation).startup_s for s, e in zip(build.startup_s,
                                                                    config.enclaves, strict=True)]
            self.notes += runtimes.notes([(e.name, e.lvi_hardening) for e in config.enclaves],
                                         config.vm.sgx_generation, config.vm.name)
            self.ctr.build_evictions = build.evictions
            self.added = [np.zeros(e.committed_pages, dtype=bool) if self.edmm[i] else None
                          for i, e in enumerate(config.enclaves)]
        self.optypes = []
        for i, op in enumerate(config.operations):
            ei = config.enclave_index(op)
            self.optypes.append(_OpType(i, op, ei, costs, config, native, seed, replication,
                                        need_pages=(not native) and any_memory,
                                        edmm=self.edmm[ei], eleos=self.eleos[ei]))
        self.op_names = [op.name for op in config.operations]

    # -- bookkeeping ------------------------------------------------------------------------
    def _busy(self, delta: int) -> None:
        now = self.env.now
        self.ctr.busy_vcpu_s += self._busy_n * (now - self._busy_t)
        self._busy_t = now
        self._busy_n += delta

    def _snapshot(self) -> Generator[simpy.Event, Any, None]:
        if self.settings.warmup_s > 0:
            yield self.env.timeout(self.settings.warmup_s)
        self._account_busy()
        self.warm = self.ctr.copy()

    def _account_busy(self) -> None:
        """Bring the vCPU and TCS busy-time integrals up to now."""
        self._busy(0)
        for pool in self.threads:
            pool.account()

    def _wake_ksgxd(self) -> None:
        ev = self.ksgxd_wake
        if ev is not None and not ev.triggered:
            ev.succeed()

    # -- ksgxd ------------------------------------------------------------------------------
    def _ksgxd(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        engine = self.engine
        assert engine is not None
        c = self.costs
        stuck = False  # nothing left to evict: sleep until a touch makes pages resident
        while True:
            if stuck or not engine.needs_reclaim():
                self.ksgxd_wake = env.event()
                yield self.ksgxd_wake
                self.ksgxd_wake = None
            stuck = False
            req = self.vcpu.request(priority=0)
            borrowed = False
            if not req.triggered:
                if self.n_spinning > 0:
                    req.cancel()
                    borrowed = True
                else:
                    self.ksgxd_spin_evt = env.event()
                    yield req | self.ksgxd_spin_evt
                    self.ksgxd_spin_evt = None
                    if not req.triggered:
                        req.cancel()
                        borrowed = True
            if not borrowed:
                if not req.processed:
                    yield req
                self._busy(+1)
            # Hot loop (one pass per batch): attributes in locals.
            ctr, running, epoch, waiters = self.ctr, self.running, self.epoch, self.waiters
            locks, eleos, pg, driver = self.locks, self.eleos, self.pg, self.settings.sgx_driver
            high, batch = c.high_watermark_pages, c.reclaim_batch_pages
            # Batches whose end comes before any other scheduled event run back to back
            # without a timeout each (nothing else can act in between: same result, fewer
            # events); ``t`` is ksgxd's own clock, ahead of env.now by the batches not yet
            # waited for.
            t = env.now
            evicting = getattr(engine, "reclaim_evicting", None)  # reference engines lack it
            while engine.free_pages < high:
                victims = (evicting(batch) if evicting is not None
                           else engine.reclaim(batch).tolist())
                n = sum(victims)
                if n == 0:
                    if engine.resident_pages() == 0:
                        stuck = True
                        break
                    continue  # a scan that only gave young pages a second chance
                bc = reclaim_batch_cost(locks, t, victims, running, eleos, pg, driver,
                                        self.settings.tlb_shootdowns)
                cost = bc.duration_s
                ctr.lock_hold_s += bc.lock_hold_s
                ctr.lock_wait_s += bc.lock_wait_s
                if bc.ipi_rounds:
                    ctr.ipis += bc.ipi_rounds
                    for e, k in enumerate(bc.forced_exits):
                        if k:
                            ctr.aex += k * running[e]
                            ctr.ipi_aex += k * running[e]
                            epoch[e] += k
                ctr.evictions += n
                ctr.batches += 1
                if cost > 0:
                    t += cost
                    ctr.ksgxd_busy_s += cost
                    if waiters or env.peek() <= t:
                        yield env.timeout(t - env.now)
                        t = env.now
                if waiters:
                    waiters.popleft().succeed()
            if t > env.now:
                yield env.timeout(t - env.now)
            if not borrowed:
                self._busy(-1)
                self.vcpu.release(req)

    # -- one operation ----------------------------------------------------------------------
    def _edmm_augments(self, e: int, ot: _OpType, pages: np.ndarray) -> int:
        """Pages of ``pages`` that EDMM adds now (first touch of enclave ``e``), marked added."""
        if not ot.edmm:
            return 0
        added = self.added[e]
        assert added is not None
        new = pages[~added[pages]]
        if not len(new):
            return 0
        new = np.unique(new)
        added[new] = True
        return len(new)

    def _touch_pages(self, e: int, ot: _OpType, pages: np.ndarray, mem_s: float
                     ) -> Generator[simpy.Event, Any, tuple[int, int, float, float]]:
        """Hand an operation's page touches to the EPC engine in one call; when no page is
        free, spin (holding the vCPU) until ksgxd frees some and retry from where it stopped.

        Returns (faults, EDMM augments among them, seconds spent spinning, seconds of the
        operation's memory/fault time already simulated here: 0 in this model)."""
        engine = self.engine
        assert engine is not None
        augments = self._edmm_augments(e, ot, pages)
        n = len(pages)
        nxt = 0
        faults = 0
        wait_s = 0.0
        woken = False
        while True:
            _h, f, nxt = engine.touch(e, pages, nxt)
            faults += f
            if self.settings.check_invariants:
                self._check_resident()
            if engine.needs_reclaim():
                self._wake_ksgxd()
            if nxt >= n:
                # Spinning threads retry in the order they started waiting: pass the free
                # pages left on to the next one.
                if woken and self.waiters and engine.free_pages > 0:
                    self.waiters.popleft().succeed()
                break
            yield from self._spin_for_pages(woken)
            wait_s += self._last_wait_s
            woken = True
        return faults, augments, wait_s, 0.0

    def _spin_for_pages(self, woken: bool) -> Generator[simpy.Event, Any, None]:
        """Wait (spinning on the vCPU) until ksgxd or a thread ahead hands over free pages."""
        env = self.env
        ev = env.event()
        if woken:
            self.waiters.appendleft(ev)  # keeps its place at the head
        else:
            self.waiters.append(ev)
        self.n_spinning += 1
        spin = self.ksgxd_spin_evt
        if spin is not None and not spin.triggered:
            spin.succeed()
        t0 = env.now
        yield ev
        self.n_spinning -= 1
        self._last_wait_s = env.now - t0

    def _pay_exit_debt(self, e: int) -> Generator[simpy.Event, Any, float]:
        """Pay, in one timeout, the forced exits that landed during the catch-ups of enclave
        ``e``'s earlier operations; those landing meanwhile stay as debt. Returns seconds."""
        n = self.exit_debt[e]
        self.exit_debt[e] = 0
        cost = n * self.pg.forced_exit_s
        self.running[e] += 1
        ep0 = self.epoch[e]
        yield self.env.timeout(cost)
        self.exit_debt[e] += self.epoch[e] - ep0
        self.running[e] -= 1
        return cost

    def _op(self, i: int, ot: _OpType, pages: np.ndarray | None, touches: int, mem_s: float,
            compute_s: float, host: list[float] | None = None
            ) -> Generator[simpy.Event, Any, None]:
        env = self.env
        rec = self.rec
        ctr = self.ctr
        c = self.costs
        e = ot.enclave
        t_arr = env.now
        vreq, tw, pre_s = yield from transitions.enter(self, ot, e)
        now = env.now
        rec.start_s[i] = now
        queue_s = now - t_arr
        if self.exit_debt[e]:  # before the touches: the thread is still paying IPIs
            pre_s += yield from self._pay_exit_debt(e)
        paging_s = 0.0
        faults = 0
        fault_time = 0.0
        done_s = 0.0
        if pages is not None and self.engine is not None:
            faults, augments, wait_s, done_s = yield from self._touch_pages(e, ot, pages, mem_s)
            ctr.faults += faults
            ctr.touches += len(pages)
            ctr.augments += augments
            if self.eleos[e]:
                ctr.eleos_faults += faults
                fault_time = faults * ot.fault_s
            else:
                ctr.aex += faults
                fault_time = (faults - augments) * ot.fault_s + augments * ot.edmm_fault_s
                # The enclave lock: held across each fault's handler + ELDU (or EAUG).
                hold = self.pg.fault_hold_s(faults, augments)
                lock_wait = self.locks.acquire(e, env.now, hold)
                ctr.lock_hold_s += hold
                ctr.lock_wait_s += lock_wait
                fault_time += lock_wait
            paging_s = wait_s + fault_time
        else:
            ctr.touches += touches
        trans_s = ot.ecall_s if tw is None else ot.sl_ecall_s
        host_s = 0.0
        if self.ssbd != 1.0:  # SSBD is always on in enclave mode
            compute_s *= self.ssbd
            mem_s *= self.ssbd
        inside_s = compute_s + mem_s
        n_timer = 0.0
        if self.timer_on and inside_s > 0:
            lam = inside_s * c.timer_hz
            n_timer = lam if self.timer_expected else float(self.timer_rng.poisson(lam))
            ctr.aex += n_timer
            ctr.timer_aex += n_timer
            trans_s += n_timer * (c.aex_s + c.eresume_s)
        # OCALLs handled inline: SDK non-blocking, or native non-blocking.
        opool = None if self.native or ot.mode == "sdk" else self.opools[e]
        sdk_inline = ot.ocalls if not ot.blocking and opool is None else 0
        blocking = ot.ocalls if ot.blocking and opool is None else 0
        ocall_trans = ot.ocall_s
        trans_s += sdk_inline * ocall_trans + blocking * ocall_trans
        host_s += sdk_inline * ot.host_s if host is None else sum(host[:sdk_inline])
        n_touch, tlb = len(pages) if pages is not None else touches, ot.tlb
        tlb_s = tlb.seconds(n_touch, ot.tlb_entries, ot.tlb_mid_flushes + faults + n_timer
                            + sdk_inline + blocking)
        refill_s = tlb.refill_s(n_touch)  # per IPI-forced exit (TLB: :mod:`epcsim.model.tlb`)
        seg = trans_s + compute_s + mem_s + fault_time + host_s + tlb_s - done_s
        mee_demand = 0.0
        if self.mee.cap_bytes_s and ot.mee_bytes_per_mem_s:
            shared_mem_s, mee_demand = self.mee.start(mem_s, seg, ot.mee_bytes_per_mem_s)
            seg += shared_mem_s - mem_s
            mem_s = shared_mem_s
        self.running[e] += 1
        ep0 = self.epoch[e]
        crit = critical_share(ot.locks) * inside_s if ot.locks else 0.0
        if seg - crit > 0:
            yield env.timeout(seg - crit)
        if ot.locks:
            queue_s += yield from self.app_locks.hold(e, ot.locks, inside_s)
        hits = self.epoch[e] - ep0
        if hits:
            # IPI catch-up, one timeout; exits landing during it go to the enclave's debt.
            extra = hits * self.pg.forced_exit_s
            refill = min(hits * refill_s, max(0.0, n_touch * tlb.walk_s - tlb_s))
            trans_s += extra
            tlb_s += refill
            yield env.timeout(extra + refill)
            self.exit_debt[e] += self.epoch[e] - ep0 - hits
        self.running[e] -= 1
        self.mee.end(mee_demand)
        trans_s += pre_s  # before the segment: switchless ECALL spin, forced-exit debt
        if opool is not None and ot.ocalls:
            t_add, h_add, blocking, vreq, q_add = yield from transitions.switchless_ocalls(
                self, opool, ot, host, vreq)
            trans_s += t_add
            host_s += h_add
            queue_s += q_add
        for k in range(blocking):
            self._busy(-1)
            self.vcpu.release(vreq)
            h_k = ot.host_s if host is None else host[k]
            if h_k > 0:
                yield env.timeout(h_k)
            host_s += h_k
            t0 = env.now
            vreq = self.vcpu.request(priority=1)
            yield vreq
            self._busy(+1)
            queue_s += env.now - t0
        self._busy(-1)
        self.vcpu.release(vreq)
        transitions.leave(self, ot, e, tw)
        self.in_system -= 1
        rec.end_s[i] = env.now
        rec.faults[i] = faults
        rec.compute_s[i] = compute_s + host_s
        rec.memory_s[i] = mem_s
        rec.transitions_s[i] = trans_s
        rec.paging_s[i] = paging_s
        rec.tlb_s[i] = tlb_s
        rec.queueing_s[i] = queue_s
        ctr.completed += 1

    def _check_resident(self) -> None:
        assert self.engine is not None
        resident = int(self.engine.resident_pages())
        self.max_resident_pages = max(self.max_resident_pages, resident)
        free = self.engine.free_pages
        if resident > self.capacity_pages or resident + free > self.capacity_pages:
            raise RuntimeError(f"resident EPC pages {resident} exceed capacity "
                               f"{self.capacity_pages}")

    # -- run --------------------------------------------------------------------------------
    def run(self) -> None:
        env = self.env
        self.warm = self.ctr.copy()
        self.opools, self.tpools = transitions.build_pools(self)
        self.app_locks = Locks(env)
        env.process(self._snapshot())
        if self.engine is not None:
            env.process(self._ksgxd())
        for k, start, end in self._phase_windows():
            ph = self.cfg.effective_phases()[k]
            arrival = ph.arrival or self.cfg.arrival
            if arrival.kind == "closed":
                assert arrival.clients is not None
                for client in range(arrival.clients):
                    env.process(self._client(k, client, start, end))
            else:
                env.process(self._open_driver(k, start, end))
        env.run(until=self.settings.duration_s)
        self._account_busy()



def simulate(config: ModelConfig, replication: int = 0, seed: int = 0, *, native: bool = False,
             engine_factory: EngineFactory | None = None) -> RunResult:
    """Run one replication of ``config`` and summarise it.

    Args:
        config: the resolved model configuration (validated here).
        replication: replication index (part of every stream's spawn key).
        seed: root seed.
        native: run the same workload without SGX (the baseline for slowdowns).
        engine_factory: builds the EPC engine from keyword arguments (default
            :class:`epcsim.epc.EpcEngine`); tests pass reference engines.

    Returns:
        A :class:`RunResult` with ``metrics`` (see :mod:`epcsim.model.metrics`), per-operation
        arrays of shape ``(n_arrived,)``, counters and wall time. No I/O.
    """
    validate(config)
    t0 = time.perf_counter()
    model = _Model(config, replication, seed, native, engine_factory)
    model.run()
    wall = time.perf_counter() - t0
    events = _events_scheduled(model.env)
    return summarise(model, events=events, wall_time_s=wall, seed=seed,
                     replication=replication)


def _events_scheduled(env: simpy.Environment) -> int:
    """Events scheduled during the run (SimPy numbers every event it schedules)."""
    eid = getattr(env, "_eid", None)
    if eid is None:  # pragma: no cover - SimPy internals changed
        return -1
    return int(next(eid))


def simulate_pair(config: ModelConfig, replication: int = 0,
                  seed: int = 0) -> tuple[RunResult, RunResult]:
    """The SGX run and its native baseline with the same seed (common random numbers)."""
    return simulate(config, replication, seed), simulate(config, replication, seed, native=True)

