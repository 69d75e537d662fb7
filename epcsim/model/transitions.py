"""Switchless and HotCalls-style calls as the runtimes make them: worker pools that poll, sleep
and wake, and the caller's spin-then-fallback rule (docs/model.md, "Switchless calls").

What it models, per enclave and side (untrusted OCALL workers = ``switchless_workers``,
trusted ECALL workers = ``trusted_workers``):

- **Worker** (one SimPy process each): POLLING holds a vCPU (and, on the trusted side, a TCS);
  it picks up a posted call at once and stays with it until the caller releases it (an OCALL
  batch, or the operation's whole in-enclave work for an ECALL). After ``sleep_after_s`` of
  idle polling it releases the vCPU (and TCS) and SLEEPS; a caller that finds no polling
  worker wakes one, which takes ``wake_s`` (then needs a vCPU again) before it polls.
- **Caller**: posts the call; a polling worker accepts at once. Otherwise the caller spins
  (holding its vCPU) for at most ``fallback_after_s`` waiting for a worker to accept, then
  withdraws the call and takes the ordinary path (SDK: ``retries_before_fallback`` PAUSEs;
  HotCalls: 10 retries x 3 PAUSEs; Gramine exitless: a 1024-entry queue, never within the
  run). Open Enclave does not spin: when every worker is busy it falls back at once; a
  sleeping worker is woken and waited for (from inside the enclave that costs the caller an
  ordinary OCALL).

Rules per runtime (``runtime`` of the enclave; sources in docs/model.md and
epcsim/reference/data/cost_parameters.csv):

================  ====================================  ==========================  =========
runtime, mode     caller waits for acceptance            idle worker sleeps after    wake
================  ====================================  ==========================  =========
intel-sdk         20000 PAUSEs, then ordinary call       20000 x (PAUSE + poll)      waker
open-enclave      not at all (busy: ordinary call)       4096 x (PAUSE + poll)       futex
gramine (OCALL)   until done, 1e6 PAUSEs; then FUTEX_WAIT  10000 PAUSEs, then 1,2,.. ms  sleep
occlum            no switchless: ordinary calls         -                           -
hotcall (any)     10 x 3 PAUSEs, then ordinary call      never (polls forever)       -
================  ====================================  ==========================  =========

- **Gramine's enclave thread** (``enclave_ocalls.c:sgx_exitless_ocall``) spins on the request's
  lock for ``RPC_SPINLOCK_TIMEOUT`` (1e6) PAUSEs counted from the post, covering the queue wait
  *and* the host work. A call not done by then makes it wait on a futex through an ordinary
  OCALL (``OCALL_FUTEX``, FUTEX_WAIT): it gives up its vCPU until the RPC thread finishes and
  wakes it (``host_ocalls.c:rpc_thread_loop``: FUTEX_WAKE when the lock had waiters), then
  needs a vCPU again; the futex OCALL's exit and re-entry cost the enclave's ordinary OCALL
  (``block_after_s`` below).
- **Intel SDK before 2.8** (``sdk_sl_wake_by_ocall`` = 1; SDK 2.5
  ``sgx_ocall_switchless.c:sgx_ocall_switchless``): while any untrusted worker sleeps, *every*
  switchless OCALL first makes an ordinary OCALL (``SL_WAKE_WORKERS`` ->
  ``sl_ocall_wake_workers`` -> ``wake_all_threads``) that wakes all sleeping workers; there is
  no waker thread (added in 2.8), so a woken worker polls again after ``futex_wake_latency_s``.

Assumptions: a worker serves one call (or one operation's batch of consecutive OCALLs) at a
time; an SDK trusted worker's EENTER on waking is part of ``wake_s``; what waking costs the
caller (an ordinary OCALL) delays it as well as counting as transitions. Every ordinary call
the pools make (the waking OCALL, a trusted worker's re-entry, Gramine's futex OCALL) costs
what the enclave's other ordinary calls cost (:func:`epcsim.model.runtimes.enclave_profile`:
Open Enclave's ``oe_extra_call_cycles``, the LVI transition factor, ``sgx2_transition_factor``),
not the bare ``ocall_cycles``/``ecall_cycles``.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import simpy

INF = float("inf")


@dataclass(frozen=True)
class PoolRules:
    """How one pool's workers and callers behave (seconds)."""

    fallback_after_s: float  # caller spin budget waiting for acceptance; 0 = none; inf = queue
    sleep_after_s: float  # idle polling before a worker sleeps; inf = never
    wake_s: float  # mean latency from the wake-up to polling again (without the vCPU wait)
    wake_uniform_s: float = 0.0  # plus Uniform(0, this) (the SDK's 50 us waker period)
    caller_wake_cost_s: float = 0.0  # what waking a sleeping worker costs the caller
    queue_limit: int = 64  # outstanding calls before an immediate fallback
    progressive_sleep_step_s: float = 0.0  # Gramine: sleeps of 1, 2, 3, ... steps
    progressive_sleep_max_s: float = 0.0
    block_after_s: float = INF  # Gramine: spin until done at most this, then FUTEX_WAIT
    wake_all_by_ocall: bool = False  # SDK < 2.8: any sleeper -> an OCALL waking them all


class _Worker:
    __slots__ = ("index", "poke", "release", "sleeping_since", "wake")

    def __init__(self, index: int) -> None:
        self.index = index
        self.poke: simpy.Event | None = None
        self.wake: simpy.Event | None = None
        self.release: simpy.Event | None = None
        self.sleeping_since = 0.0


class _Call:
    __slots__ = ("accepted",)

    def __init__(self, env: simpy.Environment) -> None:
        self.accepted = env.event()


class WorkerPool:
    """The switchless/hotcall workers of one enclave and side."""

    def __init__(self, env: simpy.Environment, n: int, rules: PoolRules,
                 get_vcpu: Callable[[], Generator[simpy.Event, Any, Any]],
                 put_vcpu: Callable[[Any], None], rng_uniform: Callable[[], float],
                 tcs: Any = None) -> None:
        self.env = env
        self.n = n
        self.rules = rules
        self.get_vcpu = get_vcpu
        self.put_vcpu = put_vcpu
        self.uniform = rng_uniform
        self.tcs = tcs
        self.idle: list[_Worker] = []
        self.sleepers: list[_Worker] = []
        self.pending: deque[_Call] = deque()
        self.fallbacks = 0
        self.wakeups = 0
        for k in range(n):
            env.process(self._run(_Worker(k)))

    # -- worker -----------------------------------------------------------------------------
    def _run(self, w: _Worker) -> Generator[simpy.Event, Any, None]:
        env = self.env
        r = self.rules
        while True:
            if self.tcs is not None:
                wait = self.tcs.acquire()
                if wait is not None:
                    yield wait
            token = yield from self.get_vcpu()
            while True:  # polling
                if self.pending:
                    call = self.pending.popleft()
                else:
                    w.poke = env.event()
                    self.idle.append(w)
                    if r.sleep_after_s < INF:
                        yield w.poke | env.timeout(r.sleep_after_s)
                    else:
                        yield w.poke
                    if not w.poke.triggered:
                        self.idle.remove(w)
                        w.poke = None
                        break
                    call = w.poke.value  # type: ignore[assignment]  # a poke carries its _Call
                    w.poke = None
                w.release = env.event()
                call.accepted.succeed(w)
                yield w.release
                w.release = None
            self.put_vcpu(token)
            if self.tcs is not None:
                self.tcs.release()
            w.wake = env.event()
            w.sleeping_since = env.now
            self.sleepers.append(w)
            yield w.wake
            w.wake = None
            yield env.timeout(self._wake_latency(w))

    def _wake_latency(self, w: _Worker) -> float:
        r = self.rules
        lat = r.wake_s
        if r.wake_uniform_s > 0:
            lat += r.wake_uniform_s * self.uniform()
        if r.progressive_sleep_step_s > 0:
            lat += _remaining_sleep(self.env.now - w.sleeping_since, r.progressive_sleep_step_s,
                                    r.progressive_sleep_max_s)
        return lat

    # -- caller -----------------------------------------------------------------------------
    def _wake_all(self) -> float:
        """SDK < 2.8: the caller's OCALL wakes every sleeping worker; its cost to the caller."""
        if not (self.rules.wake_all_by_ocall and self.sleepers):
            return 0.0
        while self.sleepers:
            w = self.sleepers.pop()
            assert w.wake is not None
            w.wake.succeed()
            self.wakeups += 1
        return self.rules.caller_wake_cost_s

    def _post(self, t_fb: float) -> tuple[_Call | None, float, bool, bool]:
        """Post a call without waiting: (the call, or None for an immediate fallback; what
        waking a worker cost the caller; whether the call went to an idle worker; whether
        the caller woke a worker)."""
        r = self.rules
        if self.n == 0:
            self.fallbacks += 1
            return None, 0.0, False, False
        woke = bool(self.rules.wake_all_by_ocall and self.sleepers)
        extra = self._wake_all()
        call = _Call(self.env)
        if self.idle:
            w = self.idle.pop()
            assert w.poke is not None
            w.poke.succeed(call)
            return call, extra, True, woke
        if self.sleepers:
            w = self.sleepers.pop()
            assert w.wake is not None
            w.wake.succeed()
            self.wakeups += 1
            extra += r.caller_wake_cost_s
            woke = True
        if len(self.pending) >= r.queue_limit or (t_fb == 0 and not woke):
            self.fallbacks += 1
            return None, extra, False, woke
        self.pending.append(call)
        return call, extra, False, woke

    def acquire(self, fallback_after_s: float | None = None
                ) -> Generator[simpy.Event, Any, tuple[_Worker | None, float, float]]:
        """Post a call: (worker or None for a fallback, seconds spun waiting, extra cost to
        the caller in seconds). The caller holds its vCPU all along."""
        env = self.env
        r = self.rules
        t_fb = r.fallback_after_s if fallback_after_s is None else fallback_after_s
        call, extra, to_idle, woke = self._post(t_fb)
        if call is None:
            return None, 0.0, extra
        if to_idle:
            return (yield call.accepted), 0.0, extra
        t0 = env.now
        if t_fb < INF and not (t_fb == 0 and woke):
            yield call.accepted | env.timeout(t_fb)
            if not call.accepted.triggered:
                self.pending.remove(call)
                self.fallbacks += 1
                return None, env.now - t0, extra
        else:
            yield call.accepted
        return call.accepted.value, env.now - t0, extra

    def post(self) -> tuple[_Call | None, float]:
        """Post a call and do not wait (Gramine's queue): (the call, or None when the queue
        is full and the caller takes the ordinary OCALL; the caller's wake cost)."""
        call, extra, _, _ = self._post(INF)
        return call, extra

    def release(self, w: _Worker) -> None:
        """The caller is done with ``w``: it polls again."""
        assert w.release is not None
        w.release.succeed()


def _remaining_sleep(idle_s: float, step_s: float, max_s: float) -> float:
    """Gramine RPC thread: after its spin budget it sleeps 1, 2, 3, ... steps (capped at
    ``max_s``); time left of the current sleep ``idle_s`` after it started sleeping."""
    t = 0.0
    k = 1
    while True:
        d = min(k * step_s, max_s)
        if t + d > idle_s:
            return t + d - idle_s
        t += d
        k += 1
        if d >= max_s:  # from here on every sleep is max_s
            return max_s - ((idle_s - t) % max_s)


def pool_rules(runtime: str, side: str, hotcall: bool, c: dict[str, float],
               clock_hz: float, ecall_cycles: float | None = None,
               ocall_cycles: float | None = None) -> PoolRules | None:
    """The rules of ``runtime``'s ``side`` ("ocall" or "ecall") pool; ``None`` = the runtime
    has no switchless calls on that side (calls take the ordinary path).

    ``ecall_cycles``/``ocall_cycles`` are the enclave's own ordinary ECALL/OCALL round trips
    (:func:`epcsim.model.runtimes.enclave_profile`: Open Enclave's extra layer, LVI hardening,
    the SGX2 factor); the OCALL that wakes a sleeping worker and a trusted worker's re-entry
    cost that much. ``None`` takes the plain ``ecall_cycles``/``ocall_cycles`` parameters."""
    pause = c["pause_cycles"] / clock_hz
    poll = c["switchless_poll_cycles"] / clock_hz
    futex = c["futex_wake_latency_s"]
    ecall_s = (c["ecall_cycles"] if ecall_cycles is None else ecall_cycles) / clock_hz
    ocall_s = (c["ocall_cycles"] if ocall_cycles is None else ocall_cycles) / clock_hz
    if hotcall:
        return PoolRules(fallback_after_s=c["hotcall_requester_pauses"] * pause,
                         sleep_after_s=INF, wake_s=0.0, queue_limit=1)
    if runtime == "intel-sdk":
        wake = futex + (ecall_s if side == "ecall" else 0.0)
        by_ocall = side == "ocall" and c["sdk_sl_wake_by_ocall"] > 0  # SDK < 2.8
        return PoolRules(
            fallback_after_s=c["sdk_sl_retries_before_fallback"] * pause,
            sleep_after_s=c["sdk_sl_retries_before_sleep"] * (pause + poll),
            wake_s=wake,
            wake_uniform_s=(c["sdk_sl_waker_period_s"] if side == "ocall" and not by_ocall
                            else 0.0),
            caller_wake_cost_s=ocall_s if by_ocall else 0.0,
            wake_all_by_ocall=by_ocall,
            queue_limit=int(c["sdk_sl_max_outstanding"]))
    if runtime == "open-enclave":
        return PoolRules(
            fallback_after_s=0.0,
            sleep_after_s=c["oe_worker_spin_before_sleep"] * (pause + poll),
            wake_s=futex + (ecall_s if side == "ecall" else 0.0),
            caller_wake_cost_s=ocall_s if side == "ocall" else 0.0,
            queue_limit=1_000_000)
    if runtime == "gramine" and side == "ocall":
        return PoolRules(
            fallback_after_s=INF,
            sleep_after_s=c["gramine_rpc_spin_before_sleep"] * pause,
            wake_s=0.0, queue_limit=int(c["gramine_rpc_queue_size"]),
            progressive_sleep_step_s=c["gramine_rpc_sleep_step_s"],
            progressive_sleep_max_s=c["gramine_rpc_sleep_max_s"],
            block_after_s=c["gramine_enclave_spin_before_futex"] * pause)
    return None


# -- wiring into the timing model (epcsim.model.simulate._Model) ---------------------------------
def build_pools(model: Any) -> tuple[list[WorkerPool | None], list[WorkerPool | None]]:
    """(OCALL pools, ECALL pools) per enclave of ``model`` (``None``: no pool; calls take the
    ordinary path). Native runs have none."""
    from epcsim.model import streams
    from epcsim.model.runtimes import enclave_profile
    from epcsim.model.servicetime import MultiplierFeed, ServiceDist

    cfg = model.cfg
    c = model.costs.raw
    opools: list[WorkerPool | None] = []
    tpools: list[WorkerPool | None] = []

    def get_vcpu() -> Generator[simpy.Event, Any, Any]:
        req = model.vcpu.request(priority=0)
        yield req
        model._busy(+1)
        return req

    def put_vcpu(req: Any) -> None:
        model._busy(-1)
        model.vcpu.release(req)

    for e, enc in enumerate(cfg.enclaves):
        ops = [op for op in cfg.operations if cfg.enclave_index(op) == e]
        prof = enclave_profile(enc.runtime, enc.lvi_hardening, c, cfg.vm.sgx_generation)
        for side, n, out in (("ocall", enc.switchless_workers, opools),
                             ("ecall", enc.trusted_workers, tpools)):
            mode_of = (lambda op: op.call_mode) if side == "ocall" else (
                lambda op: op.ecall_mode)
            hot = any(mode_of(op) == "hotcall" for op in ops)
            rules = pool_rules(enc.runtime, side, hot, c, cfg.vm.clock_hz,
                               prof.ecall_cycles, prof.ocall_cycles)
            if model.native or n == 0 or rules is None:
                out.append(None)
                continue
            feed = MultiplierFeed(ServiceDist("uniform", low=0.0, high=1.0), streams.rng_for(
                model.seed, model.replication, streams.WAKE + 2 * e + (side == "ecall")))
            out.append(WorkerPool(model.env, n, rules, get_vcpu, put_vcpu, feed.next,
                                  tcs=model.threads[e] if side == "ecall" else None))
    return opools, tpools


def enter(model: Any, ot: Any, e: int) -> Generator[simpy.Event, Any, tuple[Any, Any, float]]:
    """Start an operation: (vCPU request, trusted worker or None, seconds of transitions
    spent so far). A switchless/hotcall ECALL holds the caller's vCPU (it spins) and runs on a
    trusted worker (its vCPU and TCS); without one, the operation takes a TCS (ordinary ECALL)."""
    pool = model.tpools[e] if ot.ecall_mode != "sdk" else None
    if pool is None:
        wait = model.threads[e].acquire()
        if wait is not None:
            yield wait
        vreq = model.vcpu.request(priority=1)
        yield vreq
        model._busy(+1)
        return vreq, None, 0.0
    vreq = model.vcpu.request(priority=1)
    yield vreq
    model._busy(+1)
    w, waited, extra = yield from pool.acquire()
    if w is None:
        model.ctr.switchless_fallbacks += 1
        wait = model.threads[e].acquire()
        if wait is not None:
            yield wait
    return vreq, w, waited + extra


def leave(model: Any, ot: Any, e: int, worker: Any) -> None:
    """End an operation: give back the TCS or the trusted worker."""
    if worker is None:
        model.threads[e].release()
    else:
        model.tpools[e].release(worker)


def switchless_ocalls(model: Any, pool: WorkerPool, ot: Any, host: list[float] | None,
                      vreq: Any) -> Generator[simpy.Event, Any, tuple[float, float, int, Any,
                                                                        float]]:
    """The operation's OCALLs through ``pool``: (transition seconds, host seconds, OCALLs
    left to make as blocking SDK OCALLs, the caller's vCPU request, seconds it queued for a
    vCPU again). One worker serves the whole batch."""
    env = model.env
    k = ot.ocalls
    h = k * ot.host_s if host is None else sum(host)
    if pool.rules.block_after_s < INF:
        return (yield from _exitless_ocalls(model, pool, ot, h, vreq))
    w, waited, extra = yield from pool.acquire()
    if w is not None:
        # the caller's waking OCALL overlaps the woken worker's wake-up (both start at the post)
        spin = max(waited, extra)
        t_call = k * ot.call_s
        yield env.timeout(spin - waited + t_call + h)
        pool.release(w)
        model.ctr.switchless_calls += k
        return spin + t_call, h, 0, vreq, 0.0
    model.ctr.switchless_fallbacks += 1
    trans = extra + k * ot.ocall_s
    if ot.blocking:
        yield env.timeout(trans)
        return waited + trans, 0.0, k, vreq, 0.0
    yield env.timeout(trans + h)
    return waited + trans, h, 0, vreq, 0.0


def _exitless_ocalls(model: Any, pool: WorkerPool, ot: Any, h: float, vreq: Any
                     ) -> Generator[simpy.Event, Any, tuple[float, float, int, Any, float]]:
    """Gramine's exitless OCALLs (``enclave_ocalls.c:sgx_exitless_ocall``): the enclave
    thread spins, holding its vCPU, until the RPC thread is done or ``block_after_s`` has
    passed since the post; then it waits on a futex through an ordinary OCALL (no vCPU) and
    is woken by the RPC thread's FUTEX_WAKE (see :func:`switchless_ocalls`)."""
    env = model.env
    k = ot.ocalls
    t0 = env.now
    call, extra = pool.post()
    if call is None:  # queue full: the ordinary OCALL path
        model.ctr.switchless_fallbacks += 1
        trans = extra + k * ot.ocall_s
        yield env.timeout(trans + h)
        return trans, h, 0, vreq, 0.0
    if extra:
        yield env.timeout(extra)
    deadline = t0 + pool.rules.block_after_s
    service = k * ot.call_s + h
    model.ctr.switchless_calls += k
    yield call.accepted | env.timeout(max(0.0, deadline - env.now))
    w: _Worker | None = None
    if call.accepted.triggered:
        w = call.accepted.value
        done = env.now + service
        if done <= deadline:  # served while the enclave thread spins
            yield env.timeout(service)
            assert w is not None
            pool.release(w)
            return env.now - t0 - h, h, 0, vreq, 0.0
        yield env.timeout(deadline - env.now)
    # FUTEX_WAIT through an ordinary OCALL: the vCPU is free until the RPC thread wakes it
    model._busy(-1)
    model.vcpu.release(vreq)
    if w is None:
        w = yield call.accepted
        done = env.now + service
    yield env.timeout(done - env.now)
    assert w is not None
    pool.release(w)
    yield env.timeout(model.costs.raw["futex_wake_latency_s"])
    t_q = env.now
    vreq = model.vcpu.request(priority=1)
    yield vreq
    model._busy(+1)
    queued = env.now - t_q
    yield env.timeout(ot.ocall_s)  # the futex OCALL's exit and re-entry
    return env.now - t0 - h - queued, h, 0, vreq, queued
