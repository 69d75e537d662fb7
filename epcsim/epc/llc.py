"""A last-level-cache (LLC) approximation that classifies page touches as LLC hits or misses.

Used only when a workload says ``llc_miss_fraction: model``; otherwise the workload's own
fraction is used. The approximation:

* the LLC is one fully associative LRU cache shared by every enclave (and every core) of the
  VM, holding whole *touch footprints*: a touch reads ``cache_lines_per_page`` 64-byte lines of
  one page, so the cache holds ``llc_bytes // (cache_lines_per_page * 64)`` page footprints;
* a touch whose page footprint is in that LRU is an LLC hit (all its lines hit), otherwise an
  LLC miss (all its lines miss), after which the footprint is the most recently used;
* not modelled: set associativity and conflict misses, Intel's adaptive (non-LRU) replacement,
  hardware prefetching, partial-page reuse, data of the untrusted host and of other processes,
  and the MEE's own metadata traffic on SGX1. Pages evicted from the EPC are not removed from
  the LLC model (their lines are flushed in reality; the next touch is an EPC fault anyway,
  whose cost includes the reload).

It reuses the compiled LRU replay of :class:`~epcsim.epc.engine.EpcEngine` (no VA pages).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from epcsim.epc.engine import EpcEngine
from epcsim.errors import EpcsimError

CACHE_LINE_BYTES = 64


class LlcModel:
    """LRU approximation of a shared LLC over the enclaves' pages.

    ``llc_bytes``: LLC capacity in bytes. ``enclave_pages``: each enclave's size in pages.
    ``cache_lines_per_page``: 64-byte lines one touch reads (the footprint of a touch).
    """

    def __init__(self, llc_bytes: int, enclave_pages: Sequence[int],
                 cache_lines_per_page: int = 8) -> None:
        if llc_bytes <= 0 or cache_lines_per_page < 1 or cache_lines_per_page > 64:
            raise EpcsimError(f"LLC model needs llc_bytes > 0 and 1..64 cache lines per page "
                              f"(found {llc_bytes}, {cache_lines_per_page})")
        self.llc_bytes = int(llc_bytes)
        self.cache_lines_per_page = int(cache_lines_per_page)
        footprint = self.cache_lines_per_page * CACHE_LINE_BYTES
        #: page footprints the LLC holds
        self.capacity_footprints = max(1, self.llc_bytes // footprint)
        self._lru = EpcEngine(self.capacity_footprints, enclave_pages, "lru", va_pages=False)

    def touch(self, enclave: int, pages: np.ndarray) -> tuple[int, int]:
        """Classify the touches ``pages`` (int64 offsets of ``enclave``); returns
        ``(llc_hits, llc_misses)`` and updates the LRU state."""
        if not 0 <= enclave < self._lru.n_enclaves:
            raise EpcsimError(f"no enclave {enclave} (have {self._lru.n_enclaves})")
        return self._lru._replay_chunk(np.asarray(pages), enclave)

    def miss_fraction(self, enclave: int, pages: np.ndarray) -> float:
        """Like :meth:`touch`, returning the fraction of the touches that missed (0 if none)."""
        h, m = self.touch(enclave, pages)
        return m / (h + m) if h + m else 0.0
