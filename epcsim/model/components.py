"""Parts of the timing model that own one piece of state each: the EPC engine's interface, the
pool of enclave threads (TCS), the per-operation page feed and the operation types with
their precomputed costs. :mod:`epcsim.model.simulate` wires them into one run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import simpy

from epcsim.model import streams
from epcsim.model.config import PAGE_BYTES, ModelConfig, OperationConfig
from epcsim.model.mee import bytes_per_miss, miss_penalty_s
from epcsim.model.records import Counters
from epcsim.model.run_costs import RunCosts
from epcsim.model.runtimes import enclave_profile
from epcsim.model.servicetime import MultiplierFeed, ServiceDist
from epcsim.model.tlb import make_tlb_model

#: Arrivals and mix draws are generated in chunks of this many.
ARRIVAL_CHUNK = 16_384
#: Page streams are taken in chunks of at least this many pages.
PAGE_CHUNK = 65_536
#: Page counts are drawn in chunks of this many operations.
COUNT_CHUNK = 4_096


class EpcEngineLike(Protocol):
    """What the timing model needs from :class:`epcsim.epc.EpcEngine`."""

    @property
    def free_pages(self) -> int: ...

    def touch(self, enclave: int, pages: np.ndarray, start: int = 0) -> tuple[int, int, int]: ...

    def needs_reclaim(self) -> bool: ...

    def reclaim(self, n_pages: int) -> np.ndarray: ...

    def resident_pages(self, enclave: int | None = None) -> int: ...


EngineFactory = Callable[..., EpcEngineLike]


def _default_engine_factory(**kwargs: Any) -> EpcEngineLike:
    from epcsim.epc import EpcEngine

    return EpcEngine(**kwargs)


class _TcsPool:
    """An enclave's TCSs: at most ``capacity`` threads inside at once, FIFO waiting.

    Like a SimPy ``Resource`` but without an event when a TCS is free (most of the time):
    :meth:`acquire` returns ``None`` then, or an event to wait for; :meth:`release` hands
    the TCS straight to the first waiter.
    """

    def __init__(self, env: simpy.Environment, capacity: int, counters: Counters) -> None:
        self.env = env
        self.capacity = capacity
        self.free = capacity
        self.waiting: deque[simpy.Event] = deque()
        self.counters = counters
        self._t = 0.0

    def account(self) -> None:
        """Add the TCS-seconds in use since the last change to ``counters.tcs_busy_s``."""
        now = self.env.now
        self.counters.tcs_busy_s += (self.capacity - self.free) * (now - self._t)
        self._t = now

    def acquire(self) -> simpy.Event | None:
        if self.free:
            self.account()
            self.free -= 1
            return None
        ev = self.env.event()
        self.waiting.append(ev)
        return ev

    def release(self) -> None:
        if self.waiting:  # handed straight over: the number in use does not change
            self.waiting.popleft().succeed()
        else:
            self.account()
            self.free += 1


class _AccessFeed:
    """Page counts and page numbers of one (operation, memory access), drawn in chunks."""

    def __init__(self, fixed: int | None, sampler: Any, stream: Any, base: int) -> None:
        self.fixed = fixed
        self.sampler = sampler
        self.stream = stream
        self.base = base
        self._counts = np.empty(0, dtype=np.int64)
        self._ci = 0
        self._pages = np.empty(0, dtype=np.int64)
        self._pi = 0

    def next_count(self) -> int:
        if self.fixed is not None:
            return self.fixed
        if self._ci >= len(self._counts):
            self._counts = np.asarray(self.sampler.take(COUNT_CHUNK), dtype=np.int64)
            self._ci = 0
        n = int(self._counts[self._ci])
        self._ci += 1
        return n

    def next_pages(self, n: int) -> np.ndarray:
        if self._pi + n > len(self._pages):
            rest = self._pages[self._pi :]
            fresh = np.asarray(self.stream.take(max(PAGE_CHUNK, n)), dtype=np.int64) + self.base
            self._pages = np.concatenate([rest, fresh]) if len(rest) else fresh
            self._pi = 0
        out = self._pages[self._pi : self._pi + n]
        self._pi += n
        return out


class _OpType:
    """An operation type resolved to seconds and feeds."""

    def __init__(self, index: int, op: OperationConfig, enclave: int, costs: RunCosts,
                 config: ModelConfig, native: bool, seed: int, replication: int,
                 need_pages: bool, edmm: bool, eleos: bool) -> None:
        self.index = index
        self.name = op.name
        self.enclave = enclave
        self.ocalls = op.ocalls
        self.host_s = op.ocall_host_time_s
        self.blocking = op.ocall_blocking
        self.mode = op.call_mode
        self.ecall_mode = op.ecall_mode
        self.locks = op.locks
        self.edmm = edmm
        self.fault_s = costs.eleos_fault_s if eleos else costs.fault_path_s
        self.edmm_fault_s = costs.edmm_fault_s
        enc = config.enclaves[enclave]
        hz = config.vm.clock_hz
        prof = enclave_profile(enc.runtime, enc.lvi_hardening, costs.raw,
                               config.vm.sgx_generation)
        self.compute_mean_s = op.compute_cycles / hz + op.compute_s
        if prof.compute_factor != 1.0 and not native:
            self.compute_mean_s *= prof.compute_factor
        # library-OS work per emulated system call (each OCALL); not in the native baseline
        self.libos_s = 0.0 if native else op.ocalls * prof.libos_syscall_cycles / hz
        cdist = op.compute_dist
        if cdist is None and op.compute_distribution == "exponential":
            cdist = ServiceDist(kind="exponential", cv=1.0)
        self.compute_feed = (MultiplierFeed(cdist, streams.rng_for(
            seed, replication, streams.COMPUTE + index))
            if cdist is not None and not cdist.is_fixed else None)
        hdist = op.host_time_dist
        self.host_feed = (MultiplierFeed(hdist, streams.rng_for(
            seed, replication, streams.HOST_TIME + index))
            if hdist is not None and not hdist.is_fixed and op.ocalls else None)
        raw = costs.raw

        def marshal_s(*sizes: int) -> float:  # the bridge's copies per call (not native)
            return 0.0 if native else sum(raw["marshal_fixed_cycles"] + b * raw[
                "marshal_byte_cycles"] for b in sizes if b > 0) / hz

        m_e = marshal_s(op.ecall_bytes_in, op.ecall_bytes_out)
        m_o = marshal_s(op.ocall_bytes_in, op.ocall_bytes_out)
        self.ecall_s = 0.0 if native else op.ecalls * (prof.ecall_cycles / hz + m_e)
        # ECALLs made through a trusted worker (switchless or hotcall)
        self.sl_ecall_s = 0.0 if native else op.ecalls * (m_e + (
            costs.hotcall_s if op.ecall_mode == "hotcall"
            else raw["switchless_ecall_latency_s"]))
        # OCALL made inline (SDK, non-blocking): transition + host time.
        self.ocall_s = costs.syscall_s if native else prof.ocall_cycles / hz + m_o
        self.call_s = {"sdk": self.ocall_s, "switchless": costs.switchless_ocall_s + m_o,
                       "hotcall": costs.hotcall_s + m_o}[op.call_mode]
        footprint = _touched_bytes(config)
        self.feeds: list[_AccessFeed] = []
        self.mem_s_per_touch: list[float] = []
        mee_bytes = mee_mem_s = 0.0  # expected MEE traffic and memory time per operation
        for j, m in enumerate(op.memory):
            if m.llc_miss_fraction is None:
                miss = 1.0 - min(1.0, config.vm.llc_bytes / footprint) if footprint else 0.0
            else:
                miss = m.llc_miss_fraction
            dep = m.dependent_fraction
            mlp = config.settings.memory_level_parallelism
            untrusted = any(r.untrusted for r in enc.regions if r.name == m.region)
            if native or untrusted:  # host memory: no MEE / TME-MK penalty
                pen_dep = pen_ind = 0.0
            elif config.vm.sgx_generation == 1:  # MEE: reads, and writes on top (mee.py)
                pen_dep = pen_ind = miss_penalty_s(costs.mee_penalty_s,
                                                   raw["mee_write_penalty_ns"] * 1e-9,
                                                   m.write_fraction)
            else:
                pen_dep, pen_ind = costs.tme_dependent_penalty_s, 0.0
            per_miss = dep * (costs.dram_s + pen_dep) + (1 - dep) * (costs.dram_s + pen_ind) / mlp
            self.mem_s_per_touch.append(m.cache_lines_per_page * miss * per_miss)
            fixed: int | None
            sampler = None
            if isinstance(m.pages, int | np.integer):
                fixed = int(m.pages)
            else:
                from epcsim.traces import make_count_sampler

                fixed = None
                sampler = make_count_sampler(
                    m.pages, streams.rng_for(seed, replication, streams.COUNTS + index * 256 + j),
                    where=f"workload.operations.{op.name}.memory.{j}.pages")
            stream = None
            if need_pages and not untrusted:  # untrusted pages never reach the EPC
                from epcsim.traces import make_pattern

                region_pages = next(r.pages for r in enc.regions if r.name == m.region)
                stream = make_pattern(
                    m.pattern, region_pages,
                    streams.rng_for(seed, replication, streams.PAGES + index * 256 + j),
                    where=f"workload.operations.{op.name}.memory.{j}.pattern")
            self.feeds.append(_AccessFeed(fixed, sampler, stream, enc.region_base(m.region)))
            if config.vm.sgx_generation == 1 and not (native or untrusted):
                n_mean = (float(fixed) if fixed is not None
                          else float(sampler.mean) if sampler is not None else 0.0)
                lines = n_mean * m.cache_lines_per_page * miss
                mee_bytes += lines * bytes_per_miss(m.write_fraction)
                mee_mem_s += n_mean * self.mem_s_per_touch[-1]
        self.need_pages = need_pages and bool(op.memory)
        # MEE bytes per second of this operation's memory time (its expected traffic over its
        # expected memory time; exact when its accesses have fixed counts or one access).
        self.mee_bytes_per_mem_s = mee_bytes / mee_mem_s if mee_mem_s > 0 else 0.0
        touched = {m.region for m in op.memory}
        footprint = sum(r.pages for r in enc.regions if r.name in touched)
        self.tlb = make_tlb_model(costs.raw, config.vm.clock_hz, config.vm.sgx_generation,
                                  footprint, native, config.settings.native_huge_pages)
        # TLB flushes of an SGX operation besides its faults, timer AEXs and OCALLs: the
        # first ECALL starts it cold; further ECALLs flush in the middle.
        self.tlb_entries = min(op.ecalls, 1)
        self.tlb_mid_flushes = max(op.ecalls - 1, 0)

    def draw(self) -> tuple[np.ndarray | None, int, float, float]:
        """(pages or None, touches, memory_s, compute_s) of the next operation of this type."""
        touches = 0
        mem_s = 0.0
        parts = []
        for feed, coef in zip(self.feeds, self.mem_s_per_touch, strict=True):
            n = feed.next_count()
            touches += n
            mem_s += n * coef
            if self.need_pages and n and feed.stream is not None:
                parts.append(feed.next_pages(n))
        pages = None
        if parts:
            pages = parts[0] if len(parts) == 1 else np.concatenate(parts)
        compute_s = self.compute_mean_s
        if self.compute_feed is not None and compute_s > 0:
            compute_s = compute_s * self.compute_feed.next()
        if self.libos_s:
            compute_s += self.libos_s
        return pages, touches, mem_s, compute_s

    def draw_host(self) -> list[float] | None:
        """Host times of the next operation's OCALLs (``None``: all ``host_s``)."""
        if self.host_feed is None:
            return None
        h = self.host_s
        return [h * m for m in self.host_feed.take(self.ocalls)]


def _touched_bytes(config: ModelConfig) -> int:
    """Bytes of every region some operation touches (for the LLC miss estimate)."""
    seen: set[tuple[int, str]] = set()
    total = 0
    for op in config.operations:
        e = config.enclave_index(op)
        for m in op.memory:
            if (e, m.region) not in seen:
                seen.add((e, m.region))
                pages = next(r.pages for r in config.enclaves[e].regions if r.name == m.region)
                total += pages * PAGE_BYTES
    return total


