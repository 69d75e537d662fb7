"""The EPC residency engine: one shared pool of 4 KiB EPC pages, advanced by compiled kernels.

What it models: which enclave pages are resident in the EPC, which replacement policy picks
victims, and how many EPC pages the architectural overheads take (SECS, TCS + SSA, Version
Array pages). The timing model (:mod:`epcsim.model`) calls it once per operation, in simulated
time order, so several threads and enclaves share the pool as the simulated schedule
interleaves them:

* :meth:`EpcEngine.touch` (enclave, pages) -> hits, faults and how far it got: a miss takes a
  free EPC page; if none is free it stops there, because the Linux fault path never reclaims
  directly (the faulting thread retries until ksgxd has freed pages);
* :meth:`EpcEngine.reclaim` (n) -> victims per enclave: what one ksgxd batch evicts.

Assumptions, documented in :mod:`epcsim.epc.reference` (the plain-Python specification the
kernels match exactly): a fault sets the page's accessed bit; VA pages (one per 512 pages of an
enclave evicted at once) are allocated from the pool as evictions grow and never freed;
``capacity_pages`` is what is left for enclave pages and VA pages after SECS, TCS and SSA
pages (compute it with :func:`usable_epc_pages`).

Nothing is compiled when this module is imported; the kernels compile (or load from numba's
on-disk cache) on first use.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from epcsim.epc import _kernels as K
from epcsim.epc._build import build_kernel
from epcsim.errors import EpcsimError

PAGE_BYTES = 4096
POLICIES = {"lru": K.LRU, "fifo": K.FIFO, "clock": K.CLOCK, "linux": K.LINUX,
            "random": K.RANDOM}
#: Default per-thread overhead: one TCS page and two SSA frames (one page each): the Intel
#: SGX SDK's default ``NSSA`` is 2 and an SSA frame is one page for ordinary XSAVE sizes.
TCS_PAGES_PER_THREAD = 1
SSA_PAGES_PER_THREAD = 2
SECS_PAGES_PER_ENCLAVE = 1


def usable_epc_pages(epc_bytes: int, enclaves: Sequence[Sequence[int]] = (),
                     evicted_pages: int = 0, *, tcs_pages_per_thread: int = TCS_PAGES_PER_THREAD,
                     ssa_pages_per_thread: int = SSA_PAGES_PER_THREAD) -> int:
    """EPC pages left for enclave pages after the architectural overheads.

    ``epc_bytes``: the VM's EPC size in bytes (whole 4 KiB pages are counted).
    ``enclaves``: one tuple ``(threads,)`` per enclave; each costs one SECS page plus
    ``threads * (tcs_pages_per_thread + ssa_pages_per_thread)`` pages (default 1 TCS + 2 SSA).
    ``evicted_pages``: pages evicted at once (all enclaves); one Version Array page holds the
    version slots of 512 evicted pages, so ``ceil(evicted_pages / 512)`` pages are taken (the
    per-enclave rounding done by :class:`EpcEngine` can take up to one more page per enclave).
    Returns a page count, never negative.
    """
    if epc_bytes < 0 or evicted_pages < 0:
        raise EpcsimError(f"EPC size and evicted pages must be >= 0 (found {epc_bytes}, "
                          f"{evicted_pages})")
    total = int(epc_bytes) // PAGE_BYTES
    overhead = 0
    for enc in enclaves:
        threads = int(enc[0])
        if threads < 0:
            raise EpcsimError(f"thread count must be >= 0 (found {threads})")
        overhead += SECS_PAGES_PER_ENCLAVE + threads * (tcs_pages_per_thread
                                                        + ssa_pages_per_thread)
    overhead += -(-int(evicted_pages) // K.VA_SLOTS_PER_PAGE)
    return max(0, total - overhead)



def enclave_va_pages(committed_pages: int) -> int:
    """Version Array pages the Linux driver allocates for an enclave of ``committed_pages``
    pages: one per 512 pages added, the SECS included, at add time and never reclaimed
    (``sgx_encl_grow``). The timing stage and the scenario's feasibility check both use it."""
    return -(-(1 + int(committed_pages)) // K.VA_SLOTS_PER_PAGE)

def _check_policy(policy: str) -> int:
    try:
        return POLICIES[policy]
    except KeyError:
        raise EpcsimError(f"unknown EPC replacement policy {policy!r} (expected one of "
                          f"{', '.join(POLICIES)})") from None


class EpcEngine:
    """One shared EPC pool of ``capacity_pages`` pages; pages are ``(enclave, offset)``.

    ``enclave_pages[e]`` is enclave ``e``'s size in pages (offsets are ``0..size-1``).
    ``policy``: ``linux`` (default), ``lru``, ``fifo``, ``clock``, ``random`` (``seed`` seeds
    its splitmix64 generator). ``reclaim_batch_pages``, ``low_watermark_pages`` and
    ``high_watermark_pages`` are the Linux driver's 16/32/64 (used by :meth:`needs_reclaim`,
    :meth:`reclaim_to_high_watermark` and :func:`replay`). ``va_pages=False`` turns Version
    Array accounting off (for comparisons with textbook caches). ``victims_per_enclave``
    (``linux`` only): each batch scans one enclave's pages, the enclaves taken round-robin,
    as the out-of-tree isgx driver does; otherwise one global list (upstream Linux).
    """

    def __init__(self, capacity_pages: int, enclave_pages: Sequence[int],
                 policy: str = "linux", seed: int = 0, reclaim_batch_pages: int = 16,
                 low_watermark_pages: int = 32, high_watermark_pages: int = 64, *,
                 va_pages: bool = True, victims_per_enclave: bool = False) -> None:
        self.policy = policy
        self._code = _check_policy(policy)
        if capacity_pages < 1:
            raise EpcsimError(f"EPC capacity must be at least 1 page (found {capacity_pages})")
        sizes = [int(n) for n in enclave_pages]
        if not sizes or min(sizes) < 1:
            raise EpcsimError(f"every enclave needs at least 1 page (found {sizes})")
        if reclaim_batch_pages < 1 or not 0 <= low_watermark_pages <= high_watermark_pages:
            raise EpcsimError("need reclaim_batch_pages >= 1 and 0 <= low <= high watermark "
                              f"(found {reclaim_batch_pages}, {low_watermark_pages}, "
                              f"{high_watermark_pages})")
        self.capacity_pages = int(capacity_pages)
        self.enclave_pages = tuple(sizes)
        self.reclaim_batch_pages = int(reclaim_batch_pages)
        self.low_watermark_pages = int(low_watermark_pages)
        self.high_watermark_pages = int(high_watermark_pages)
        self.n_enclaves = len(sizes)
        self._base = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        total = int(sum(sizes))
        if total >= 2**31 - 1:
            raise EpcsimError(f"enclaves too large for the engine ({total} pages)")
        c = self._code
        self._status = np.zeros(total, dtype=np.int8)
        self._owner = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
        one = np.zeros(1, dtype=np.int32)
        list_policy = c in (K.LRU, K.FIFO, K.LINUX)
        self._prev = np.full(total, -1, np.int32) if list_policy else one
        self._nxt = np.full(total, -1, np.int32) if list_policy else one.copy()
        self._ref = np.zeros(total if c == K.LINUX else 1, dtype=np.uint8)
        frames = self.capacity_pages if c == K.CLOCK else 1
        self._frame_of = np.full(total if c == K.CLOCK else 1, -1, np.int32)
        self._frame_gid = np.full(frames, -1, np.int32)
        self._fref = np.zeros(frames, dtype=np.uint8)
        self._freeq = np.arange(frames, dtype=np.int32)
        self._pos = np.zeros(total if c == K.RANDOM else 1, dtype=np.int32)
        self._dense = np.zeros(self.capacity_pages if c == K.RANDOM else 1, dtype=np.int32)
        self._rng = np.array([int(seed) & (2**64 - 1)], dtype=np.uint64)
        self._sc = np.zeros(K.N_SCALARS, dtype=np.int64)
        self._sc[K.HEAD] = -1
        self._sc[K.TAIL] = -1
        self._sc[K.FREE] = self.capacity_pages
        self._sc[K.FQ_COUNT] = frames if c == K.CLOCK else 0
        self._sc[K.VA_ON] = 1 if va_pages else 0
        # isgx: each ``linux`` batch from one enclave, round-robin (_kernels._reclaim_one_enclave)
        self._sc[K.ISGX] = 1 if victims_per_enclave and c == K.LINUX else 0
        self._sc[K.RR_LAST] = -1
        self._cnt = np.zeros((len(sizes), K.N_COUNTERS), dtype=np.int64)
        self._victims = np.zeros(len(sizes), dtype=np.int64)

    # -- queries -------------------------------------------------------------------------
    @property
    def free_pages(self) -> int:
        """EPC pages not holding an enclave page or a VA page."""
        return int(self._sc[K.FREE])

    def resident_pages(self, enclave: int | None = None) -> int:
        """Resident pages of one enclave, or of all enclaves when ``enclave`` is None."""
        if enclave is None:
            return int(self._sc[K.NRES])
        return int(self._cnt[enclave, K.C_RESIDENT])

    def needs_reclaim(self) -> bool:
        """True when fewer than ``low_watermark_pages`` pages are free (ksgxd would wake)."""
        return bool(self._sc[K.FREE] < self.low_watermark_pages)

    @property
    def faults(self) -> np.ndarray:
        """Faults (page loads, including first touches) per enclave; shape (n_enclaves,)."""
        return self._cnt[:, K.C_FAULTS].copy()

    @property
    def evictions(self) -> np.ndarray:
        """Pages evicted per enclave; shape (n_enclaves,)."""
        return self._cnt[:, K.C_EVICTIONS].copy()

    @property
    def hits(self) -> np.ndarray:
        """Touches of resident pages per enclave; shape (n_enclaves,)."""
        return self._cnt[:, K.C_HITS].copy()

    @property
    def evicted_outstanding(self) -> np.ndarray:
        """Pages of each enclave currently evicted (in VA slots); shape (n_enclaves,)."""
        return self._cnt[:, K.C_EVICTED_OUT].copy()

    @property
    def va_pages(self) -> np.ndarray:
        """Version Array pages allocated per enclave; shape (n_enclaves,)."""
        return self._cnt[:, K.C_VA_PAGES].copy()

    def counters(self) -> dict[str, list[int]]:
        """All per-enclave counters as plain lists (for results and tests)."""
        return {"faults": self.faults.tolist(), "evictions": self.evictions.tolist(),
                "hits": self.hits.tolist(), "resident": self._cnt[:, K.C_RESIDENT].tolist(),
                "evicted_outstanding": self.evicted_outstanding.tolist(),
                "va_pages": self.va_pages.tolist()}

    # -- protocol ------------------------------------------------------------------------
    def touch(self, enclave: int, pages: np.ndarray, start: int = 0) -> tuple[int, int, int]:
        """Touch ``pages[start:]`` (int64 page offsets of ``enclave``), in order.

        Returns ``(hits, faults, next_index)``. ``next_index == len(pages)`` when every page
        was processed; otherwise ``pages[next_index]`` missed with no free EPC page and the
        caller must free pages (:meth:`reclaim`) and call again with ``start=next_index``.
        Raises :class:`EpcsimError` for an offset outside the enclave (pages before it were
        processed).
        """
        if not 0 <= enclave < self.n_enclaves:
            raise EpcsimError(f"no enclave {enclave} (have {self.n_enclaves})")
        arr = np.asarray(pages)
        if arr.dtype != np.int64 or not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr, dtype=np.int64)
        if arr.ndim != 1:
            raise EpcsimError(f"pages must be a 1-D array (found shape {arr.shape})")
        h, f, i = K.touch_kernel(self._code, arr, int(start), int(self._base[enclave]),
                                 self.enclave_pages[enclave], int(enclave), self._status,
                                 self._owner, self._prev, self._nxt, self._ref, self._frame_of,
                                 self._frame_gid, self._fref, self._freeq, self._pos,
                                 self._dense, self._rng, self._sc, self._cnt)
        if i < 0:
            bad = -i - 1
            raise EpcsimError(f"page offset {int(arr[bad])} at index {bad} is outside enclave "
                              f"{enclave}'s {self.enclave_pages[enclave]} pages")
        return int(h), int(f), int(i)

    def reclaim(self, n_pages: int) -> np.ndarray:
        """Evict up to ``n_pages`` pages chosen by the policy; victims per enclave (int64).

        ``linux`` scans ``min(n_pages, resident)`` pages from the list head and evicts the old
        ones (young ones get a second chance at the tail), so it may evict fewer than
        ``n_pages``; the other policies evict exactly ``min(n_pages, resident)``. An eviction
        that needs a new VA page gives its EPC page to it (free pages do not grow).
        """
        K.reclaim_kernel(self._code, int(n_pages), self._status, self._owner, self._prev,
                         self._nxt, self._ref, self._frame_of, self._frame_gid, self._fref,
                         self._freeq, self._pos, self._dense, self._rng, self._sc, self._cnt,
                         self._victims, False)
        return self._victims.copy()

    def reclaim_evicting(self, n_pages: int) -> list[int]:
        """:meth:`reclaim` repeated until a scan evicts a page or nothing is resident, in
        one compiled call (what ksgxd does: a scan that evicts nothing costs nothing).
        Victims per enclave as a list."""
        K.reclaim_kernel(self._code, int(n_pages), self._status, self._owner, self._prev,
                         self._nxt, self._ref, self._frame_of, self._frame_gid, self._fref,
                         self._freeq, self._pos, self._dense, self._rng, self._sc, self._cnt,
                         self._victims, True)
        return self._victims.tolist()

    def build(self, enclave: int, n_pages: int, batch_pages: int, t_s: float,
              evict_s: float, etrack_s: float) -> tuple[float, int, int, bool]:
        """Add pages ``0..n_pages-1`` of ``enclave`` in order, reclaiming ``batch_pages`` at
        a time whenever no page is free (an enclave's build; see
        :func:`epcsim.model.startup.build_enclaves`, whose Python loop this is, compiled).
        ``t_s`` grows by ``n * evict_s + (enclaves hit) * etrack_s`` per batch. Returns
        ``(t_s, evictions, batches, ok)``; ``ok`` False: a batch freed nothing and nothing
        was resident."""
        pages = np.arange(n_pages, dtype=np.int64)
        t, ev, b, ok = build_kernel(
            self._code, pages, int(self._base[enclave]), self.enclave_pages[enclave],
            int(enclave), self._status, self._owner, self._prev, self._nxt, self._ref,
            self._frame_of, self._frame_gid, self._fref, self._freeq, self._pos, self._dense,
            self._rng, self._sc, self._cnt, self._victims, int(batch_pages), float(t_s),
            float(evict_s), float(etrack_s))
        return float(t), int(ev), int(b), bool(ok)

    def reclaim_to_high_watermark(self) -> tuple[np.ndarray, int]:
        """Run ksgxd once: batches of ``reclaim_batch_pages`` until ``high_watermark_pages``
        are free or nothing is resident. Returns (victims per enclave, number of batches)."""
        total = np.zeros(self.n_enclaves, dtype=np.int64)
        batches = 0
        while self.free_pages < self.high_watermark_pages and self.resident_pages() > 0:
            total += self.reclaim(self.reclaim_batch_pages)
            batches += 1
        return total, batches

    def _replay_chunk(self, pages: np.ndarray, enclave: int = 0) -> tuple[int, int]:
        arr = np.ascontiguousarray(pages, dtype=np.int64)
        if arr.ndim != 1:
            raise EpcsimError(f"a page trace must be 1-D (found shape {arr.shape})")
        self._victims[:] = 0
        h, f, code = K.replay_kernel(self._code, arr, int(self._base[enclave]),
                                     self.enclave_pages[enclave], int(enclave), self._status,
                                     self._owner, self._prev, self._nxt, self._ref,
                                     self._frame_of, self._frame_gid, self._fref, self._freeq,
                                     self._pos, self._dense, self._rng, self._sc, self._cnt,
                                     self._victims, self.reclaim_batch_pages,
                                     self.low_watermark_pages, self.high_watermark_pages)
        if code == -2:
            raise EpcsimError(f"the EPC ({self.capacity_pages} pages) is exhausted by Version "
                              "Array pages; use a larger EPC")
        if code >= 0:
            raise EpcsimError(f"page {int(arr[code])} at index {code} is outside the "
                              f"enclave's {self.enclave_pages[enclave]} pages")
        return int(h), int(f)


@dataclass
class ReplayStats:
    """Result of :func:`replay` (counts over the whole trace)."""

    policy: str
    capacity_pages: int
    accesses: int = 0
    hits: int = 0
    faults: int = 0
    evictions: int = 0
    va_pages: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def miss_ratio(self) -> float:
        """Faults per access (0 for an empty trace)."""
        return self.faults / self.accesses if self.accesses else 0.0


def replay(trace: np.ndarray | Iterable[np.ndarray], capacity_pages: int,
           policy: str = "linux", *, enclave_pages: int | None = None, seed: int = 0,
           reclaim_batch_pages: int = 16, low_watermark_pages: int = 32,
           high_watermark_pages: int = 64, va_pages: bool = False) -> ReplayStats:
    """Replay one enclave's page trace through an EPC of ``capacity_pages`` pages.

    ``trace``: a 1-D int64 array of page offsets, or an iterable of such chunks (streamed:
    memory stays bounded by the chunk and the enclave size); ``enclave_pages`` is then required
    (for an array it defaults to ``max + 1``). Eviction happens on demand: one page per miss
    for ``lru``/``fifo``/``clock``/``random``; for ``linux`` ksgxd runs after any fault that
    leaves fewer than ``low_watermark_pages`` free, in batches, until ``high_watermark_pages``
    are free. ``va_pages`` is off by default (textbook cache behaviour).
    """
    if isinstance(trace, np.ndarray):
        if trace.ndim != 1:
            raise EpcsimError(f"a page trace must be 1-D (found shape {trace.shape})")
        if enclave_pages is None:
            enclave_pages = int(trace.max()) + 1 if trace.size else 1
        chunks: Iterable[np.ndarray] = [trace]
    else:
        if enclave_pages is None:
            raise EpcsimError("replay of a chunked trace needs enclave_pages")
        chunks = trace
    engine = EpcEngine(capacity_pages, [enclave_pages], policy, seed, reclaim_batch_pages,
                       low_watermark_pages, high_watermark_pages, va_pages=va_pages)
    stats = ReplayStats(policy, int(capacity_pages))
    for chunk in chunks:
        h, f = engine._replay_chunk(chunk)
        stats.accesses += int(np.asarray(chunk).shape[0])
        stats.hits += h
        stats.faults += f
    stats.evictions = int(engine.evictions[0])
    stats.va_pages = int(engine.va_pages[0])
    return stats
