"""Plain-Python reference implementations of the EPC replacement policies.

These are the specification that the compiled kernels in :mod:`epcsim.epc._kernels` must match
exactly (same hits, faults, victims and per-enclave counts); the tests check that on random
traces, capacities and multi-enclave interleavings. They are written for clarity with Python
containers (``OrderedDict`` for the lists, a ``deque`` of free frames for CLOCK), not with the
kernels' flat arrays, so that the two are independent implementations of one semantics.

Semantics (shared with :class:`epcsim.epc.engine.EpcEngine`):

* One pool of ``capacity_pages`` EPC pages shared by all enclaves; a page is
  ``(enclave, offset)`` with ``0 <= offset < enclave_pages[enclave]``.
* ``touch``: a resident page is a hit and updates the policy's metadata; a non-resident page
  takes a free EPC page (a fault) and becomes resident; when no page is free the call stops and
  returns the index of the page that could not be loaded. ``touch`` never evicts.
* ``reclaim(n)``: ``lru`` evicts the least recently used, ``fifo`` the oldest loaded,
  ``random`` a uniformly drawn resident page (splitmix64, seeded), ``clock`` sweeps a ring of
  frames with one reference bit each (set on a hit, clear on load; a set bit is cleared and the
  hand moves on) and evicts exactly ``min(n, resident)`` pages; ``linux`` follows
  ``sgx_reclaim_pages``: it takes ``min(n, resident)`` pages from the head of one global list,
  a page whose accessed bit is set (test-and-clear) goes back to the tail, the others are
  evicted, so a batch may evict fewer than ``n``. A fault sets the accessed bit (the faulting
  access completes after ERESUME).
* Version Array pages: an enclave needs one VA page per 512 of its pages that are evicted at
  once; VA pages are allocated as that count grows (they are never freed) and take EPC pages
  from the same pool: the eviction that needs a new VA slot page gives its frame to the VA page.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence

import numpy as np

from epcsim.errors import EpcsimError

POLICIES = ("lru", "fifo", "clock", "linux", "random")
VA_SLOTS_PER_PAGE = 512
_MASK64 = (1 << 64) - 1


def splitmix64(state: int) -> tuple[int, int]:
    """One step of splitmix64: returns ``(new_state, output)``, both in [0, 2**64)."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, z ^ (z >> 31)


class ReferenceEpc:
    """Plain-Python EPC pool with the same interface as :class:`~epcsim.epc.engine.EpcEngine`."""

    def __init__(self, capacity_pages: int, enclave_pages: Sequence[int], policy: str = "linux",
                 seed: int = 0, reclaim_batch_pages: int = 16, low_watermark_pages: int = 32,
                 high_watermark_pages: int = 64, va_pages: bool = True) -> None:
        if policy not in POLICIES:
            raise EpcsimError(f"unknown EPC policy {policy!r} (expected one of {POLICIES})")
        self.policy = policy
        self.capacity_pages = int(capacity_pages)
        self.enclave_pages = [int(n) for n in enclave_pages]
        self.reclaim_batch_pages = reclaim_batch_pages
        self.low_watermark_pages = low_watermark_pages
        self.high_watermark_pages = high_watermark_pages
        self.va_on = va_pages
        n = len(self.enclave_pages)
        self._free = self.capacity_pages
        self._evicted: set[tuple[int, int]] = set()
        self.faults = [0] * n
        self.evictions = [0] * n
        self.hits = [0] * n
        self._resident = [0] * n
        self.evicted_outstanding = [0] * n
        self.va_pages = [0] * n
        # lru / fifo / linux: key -> accessed bit, in list order (head first)
        self._list: OrderedDict[tuple[int, int], int] = OrderedDict()
        # clock
        self._frames: list[tuple[int, int] | None] = [None] * self.capacity_pages
        self._fref = [0] * self.capacity_pages
        self._frame_of: dict[tuple[int, int], int] = {}
        self._freeq: deque[int] = deque(range(self.capacity_pages))
        self._hand = 0
        # random
        self._dense: list[tuple[int, int]] = []
        self._pos: dict[tuple[int, int], int] = {}
        self._rng = int(seed) & _MASK64

    # -- queries -------------------------------------------------------------------------
    @property
    def free_pages(self) -> int:
        return self._free

    def resident_pages(self, enclave: int | None = None) -> int:
        return sum(self._resident) if enclave is None else self._resident[enclave]

    def needs_reclaim(self) -> bool:
        return self._free < self.low_watermark_pages

    def _is_resident(self, key: tuple[int, int]) -> bool:
        if self.policy == "clock":
            return key in self._frame_of
        if self.policy == "random":
            return key in self._pos
        return key in self._list

    # -- protocol ------------------------------------------------------------------------
    def touch(self, enclave: int, pages: Iterable[int], start: int = 0) -> tuple[int, int, int]:
        if not isinstance(pages, list):
            pages = [int(p) for p in pages]
        hits = faults = 0
        i = start
        while i < len(pages):
            p = pages[i]
            if not 0 <= p < self.enclave_pages[enclave]:
                self.hits[enclave] += hits
                self.faults[enclave] += faults
                raise EpcsimError(f"page {p} outside enclave {enclave}'s "
                                  f"{self.enclave_pages[enclave]} pages (index {i})")
            key = (enclave, p)
            if self._is_resident(key):
                hits += 1
                if self.policy == "lru":
                    self._list.move_to_end(key)
                elif self.policy == "linux":
                    self._list[key] = 1
                elif self.policy == "clock":
                    self._fref[self._frame_of[key]] = 1
            else:
                if self._free <= 0:
                    break
                self._load(key)
                faults += 1
            i += 1
        self.hits[enclave] += hits
        self.faults[enclave] += faults
        return hits, faults, i

    def _load(self, key: tuple[int, int]) -> None:
        e = key[0]
        if key in self._evicted:
            self._evicted.discard(key)
            self.evicted_outstanding[e] -= 1
        self._free -= 1
        self._resident[e] += 1
        if self.policy in ("lru", "fifo"):
            self._list[key] = 0
        elif self.policy == "linux":
            self._list[key] = 1
        elif self.policy == "clock":
            f = self._freeq.popleft()
            self._frames[f] = key
            self._frame_of[key] = f
            self._fref[f] = 0
        else:
            self._pos[key] = len(self._dense)
            self._dense.append(key)

    def _evict(self, key: tuple[int, int], victims: list[int]) -> bool:
        e = key[0]
        self._evicted.add(key)
        self._resident[e] -= 1
        self.evictions[e] += 1
        self.evicted_outstanding[e] += 1
        victims[e] += 1
        if self.va_on and self.evicted_outstanding[e] > VA_SLOTS_PER_PAGE * self.va_pages[e]:
            self.va_pages[e] += 1
            return True
        self._free += 1
        return False

    def reclaim(self, n_pages: int) -> np.ndarray:
        victims = [0] * len(self.enclave_pages)
        done = 0
        if self.policy in ("lru", "fifo"):
            while done < n_pages and self._list:
                key, _ = self._list.popitem(last=False)
                self._evict(key, victims)
                done += 1
        elif self.policy == "linux":
            for _ in range(min(n_pages, len(self._list))):
                key, young = self._list.popitem(last=False)
                if young:
                    self._list[key] = 0
                else:
                    self._evict(key, victims)
        elif self.policy == "clock":
            while done < n_pages and self._frame_of:
                f = self._hand
                self._hand = (f + 1) % self.capacity_pages
                held = self._frames[f]
                if held is None:
                    continue
                if self._fref[f]:
                    self._fref[f] = 0
                    continue
                self._frames[f] = None
                del self._frame_of[held]
                if not self._evict(held, victims):
                    self._freeq.append(f)
                done += 1
        else:
            while done < n_pages and self._dense:
                self._rng, r = splitmix64(self._rng)
                idx = r % len(self._dense)
                key = self._dense[idx]
                last = self._dense.pop()
                if idx < len(self._dense):
                    self._dense[idx] = last
                    self._pos[last] = idx
                del self._pos[key]
                self._evict(key, victims)
                done += 1
        return np.asarray(victims, dtype=np.int64)

    def reclaim_to_high_watermark(self) -> tuple[np.ndarray, int]:
        """What ksgxd does when woken: batches until ``high_watermark_pages`` are free."""
        total = np.zeros(len(self.enclave_pages), dtype=np.int64)
        batches = 0
        while self._free < self.high_watermark_pages and self.resident_pages() > 0:
            total += self.reclaim(self.reclaim_batch_pages)
            batches += 1
        return total, batches


def reference_replay(trace: Iterable[int], capacity_pages: int, policy: str,
                     enclave_pages: int | None = None, seed: int = 0,
                     reclaim_batch_pages: int = 16, low_watermark_pages: int = 32,
                     high_watermark_pages: int = 64, va_pages: bool = False) -> dict[str, int]:
    """Offline replay of one enclave's page trace with eviction on demand (see replay)."""
    pages = [int(p) for p in trace]
    n_pages = enclave_pages if enclave_pages is not None else (max(pages) + 1 if pages else 1)
    epc = ReferenceEpc(capacity_pages, [n_pages], policy, seed, reclaim_batch_pages,
                       low_watermark_pages, high_watermark_pages, va_pages)
    if policy == "linux":
        for p in pages:
            if epc._is_resident((0, p)):
                epc.touch(0, [p])
                continue
            while epc.free_pages <= 0 and epc.resident_pages() > 0:
                epc.reclaim(reclaim_batch_pages)
            if epc.free_pages <= 0:
                raise EpcsimError("EPC exhausted by Version Array pages")
            epc.touch(0, [p])
            if epc.free_pages < low_watermark_pages:
                epc.reclaim_to_high_watermark()
    else:
        start = 0
        while start < len(pages):
            _, _, start = epc.touch(0, pages, start)
            if start < len(pages):
                if epc.resident_pages() == 0:
                    raise EpcsimError("EPC exhausted by Version Array pages")
                epc.reclaim(1)
    return {"accesses": len(pages), "hits": epc.hits[0], "faults": epc.faults[0],
            "evictions": epc.evictions[0], "va_pages": epc.va_pages[0]}
