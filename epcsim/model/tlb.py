"""Per-thread TLB reach and page walks, computed analytically per operation (no per-page events).

What it models (sources in docs/model.md, "TLB and page walks"):

- Each core's second-level TLB holds ``stlb_entries_sgx1|2`` translations (1,536 on Coffee
  Lake, 2,048 on Ice Lake-SP). EPC is mapped in 4 KiB pages only (the driver inserts one PFN
  per fault), so an enclave's reach is ``entries`` pages; the native baseline may use 2 MiB
  huge pages (``native_huge_pages``: reach x 512).
- EENTER, ERESUME, EEXIT and AEX flush the enclave's TLB entries (SDM pseudocode
  ``Flush_linear_context``): every ECALL, OCALL return, fault, timer interrupt and IPI starts
  the thread with a cold TLB. The native baseline keeps its TLB across operations (PCID).
- A miss costs a page walk (``page_walk_cycles``, a two-dimensional walk in a VM) plus, for an
  EPC page, the EPCM check (``epcm_check_cycles``).

For an operation with ``n`` page touches over a footprint of ``F`` pages (the regions it
touches) and reach ``R`` pages:

- capacity misses: ``n x m`` with ``m = max(0, 1 - R / F)`` (uniform reuse over the footprint);
- cold refills: ``min(d, R) x (1 - m)`` per flush, with ``d = min(n, F)`` an upper bound on
  the distinct pages the operation touches; the entry flush counts 1, each flush in the middle
  of the operation (another ECALL, an OCALL return, a fault, a timer AEX) counts 1/2 (on
  average half the operation's touches remain after it);
- walks = ``min(n, capacity + cold)`` (a touch walks at most once); ``tlb_s = walks x walk``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Base pages per 2 MiB huge page.
HUGE_PAGE_PAGES = 512


@dataclass(frozen=True)
class TlbModel:
    """TLB cost of one operation type in one run.

    Attributes:
        reach_pages: pages the STLB maps (entries, x 512 with huge pages).
        footprint_pages: pages of the regions the operation touches (``F``).
        walk_s: seconds per TLB miss (walk, plus the EPCM check for EPC pages).
        flushes: whether transitions flush the TLB (SGX) or not (native).
    """

    reach_pages: float
    footprint_pages: float
    walk_s: float
    flushes: bool

    @property
    def capacity_miss_ratio(self) -> float:
        """Share of touches that miss the TLB in steady state, ``max(0, 1 - R / F)``."""
        if self.footprint_pages <= 0:
            return 0.0
        return max(0.0, 1.0 - self.reach_pages / self.footprint_pages)

    def cold_refill_walks(self, touches: float) -> float:
        """Walks to refill the TLB after one flush at the start of an operation of
        ``touches`` page touches: ``min(d, R) x (1 - m)``."""
        d = min(touches, self.footprint_pages)
        return min(d, self.reach_pages) * (1.0 - self.capacity_miss_ratio)

    def refill_s(self, touches: float) -> float:
        """Seconds of walks after a flush in the middle of the operation (half a refill);
        0 without flushes."""
        return 0.5 * self.cold_refill_walks(touches) * self.walk_s if self.flushes else 0.0

    def walks(self, touches: float, entries: float, mid_flushes: float) -> float:
        """Page walks of one operation: ``entries`` flushes at its start (ECALL entries that
        start it cold: 0 or 1) and ``mid_flushes`` flushes during it (SGX only)."""
        if touches <= 0:
            return 0.0
        w = touches * self.capacity_miss_ratio
        if self.flushes:
            w += self.cold_refill_walks(touches) * (entries + 0.5 * mid_flushes)
        return min(touches, w)

    def seconds(self, touches: float, entries: float, mid_flushes: float) -> float:
        """``walks x walk_s``."""
        return self.walks(touches, entries, mid_flushes) * self.walk_s


def make_tlb_model(raw: dict[str, float], clock_hz: float, sgx_generation: int,
                   footprint_pages: float, native: bool, native_huge_pages: bool) -> TlbModel:
    """Build the TLB model of an operation type from resolved cost parameters."""
    entries = raw["stlb_entries_sgx1"] if sgx_generation == 1 else raw["stlb_entries_sgx2"]
    walk_cycles = raw["page_walk_cycles"]
    reach = entries
    if native:
        if native_huge_pages:
            reach = entries * HUGE_PAGE_PAGES
    else:
        walk_cycles += raw["epcm_check_cycles"]
    return TlbModel(reach_pages=float(reach), footprint_pages=float(footprint_pages),
                    walk_s=walk_cycles / clock_hz, flushes=not native)
