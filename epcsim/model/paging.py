"""What the Linux SGX driver serialises and what evicting a page forces on running threads.

What it models (sources in docs/model.md, "Paging as the driver does it", and
/work/notes/issue14-paging-sources.md):

- **The enclave mutex** (``encl->lock``). The fault handler holds it across the whole fault
  (page lookup, backing-store lookup, ELDU, truncation, PTE insert: ``sgx_vma_fault``); ksgxd
  takes it per evicted page for EBLOCK and for EWB, with ETRACK and the synchronous IPI inside
  the EWB hold (``sgx_reclaimer_block``, ``sgx_reclaimer_write``, ``sgx_encl_ewb``). One
  enclave's swaps therefore never overlap, whatever the vCPU count; different enclaves swap
  in parallel. Each lock is an analytic *busy-until* time (:class:`EnclaveLocks`): a holder
  that arrives at ``now`` starts at ``max(now, free_at)`` and moves ``free_at`` on by its
  hold. No SimPy event is added: the wait is folded into the phase's one timeout.
  Simplification: an operation reserves the hold of all its faults at once (the faults are
  consecutive on the lock), and ksgxd reserves one contiguous hold per enclave per batch
  (upstream takes three short holds per page, so faults of other threads may interleave
  between them; the total work on the lock, hence the swap-rate bound, is the same). For
  the out-of-tree ``isgx`` driver, which holds the lock across the whole batch (zap +
  EBLOCK for every page, ETRACK, EWB for every page), the contiguous hold is exact.
- **TLB shootdowns.** Unmapping each evicted page (``zap_vma_ptes``) flushes the TLB of every
  CPU running the enclave's process: ksgxd waits for one synchronous IPI round per evicted
  page when threads of the enclave are running, and each running thread takes an AEX, the
  IPI handler and an ERESUME per evicted page, besides the per-batch ETRACK IPI. In a VM an
  IPI (or Hyper-V's flush hypercall) costs more than on bare metal: ``ipi_vm_extra_s`` is
  added to every round when ``host == "vm"``.
- **Where a swap is paid.** Faulting thread: AEX + [lock: handler + ELDU] + ERESUME (EDMM
  first touch: AEX + [lock: handler + EAUG] + ERESUME + EACCEPT); ksgxd: backing allocation
  (no lock), shootdown, [lock: EBLOCK + EWB], ETRACK + IPI once per enclave per batch.

Everything here is plain arithmetic on floats: no SimPy, no numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

SgxDriver = Literal["upstream", "isgx"]
Host = Literal["vm", "bare_metal"]


@dataclass(frozen=True)
class PagingCosts:
    """Per-page and per-batch paging costs of one run, in seconds.

    Attributes:
        fault_lock_s: part of a fault held under the enclave lock (handler + ELDU).
        augment_lock_s: part of an EDMM first touch under the lock (handler + EAUG).
        evict_lock_s: per evicted page under the lock (EBLOCK + EWB).
        evict_unlocked_s: per evicted page outside the lock (backing-store allocation).
        etrack_s: ETRACK, once per enclave per batch, under the lock.
        ipi_round_s: one synchronous IPI round (ETRACK fallback or TLB shootdown), sender
            side, including the VM surcharge when the run is in a VM.
        forced_exit_s: cost to one running enclave thread of one IPI: AEX + handler + ERESUME.
    """

    fault_lock_s: float
    augment_lock_s: float
    evict_lock_s: float
    evict_unlocked_s: float
    etrack_s: float
    ipi_round_s: float
    forced_exit_s: float

    @classmethod
    def from_costs(cls, raw: dict[str, float], clock_hz: float, host: Host) -> PagingCosts:
        """Build from resolved cost parameters (each in its own unit) and the VM clock."""
        def cyc(name: str) -> float:
            return raw[name] / clock_hz

        vm_extra = raw["ipi_vm_extra_s"] if host == "vm" else 0.0
        return cls(
            fault_lock_s=cyc("fault_handler_cycles") + cyc("eldu_cycles"),
            augment_lock_s=cyc("fault_handler_cycles") + cyc("eaug_cycles"),
            evict_lock_s=cyc("eblock_cycles") + cyc("ewb_cycles"),
            evict_unlocked_s=cyc("backing_alloc_cycles"),
            etrack_s=cyc("etrack_cycles"),
            ipi_round_s=cyc("ipi_cycles") + vm_extra,
            forced_exit_s=cyc("aex_cycles") + cyc("ipi_handler_cycles") + cyc("eresume_cycles"),
        )


    def fault_hold_s(self, faults: int, augments: int) -> float:
        """Lock hold of an operation's ``faults``, ``augments`` of them EDMM first touches."""
        return (faults - augments) * self.fault_lock_s + augments * self.augment_lock_s


class EnclaveLocks:
    """One mutex per enclave as a busy-until time (seconds of simulated time).

    ``hold_s[e]`` is the total time enclave ``e``'s lock was held and ``wait_s[e]`` the total
    time holders waited for it (whole run; callers take differences for windows).
    ``serialise=False`` (``simulation.mechanisms.enclave_lock: false``): holds are counted,
    no holder ever waits.
    """

    def __init__(self, n_enclaves: int, serialise: bool = True) -> None:
        self.serialise = serialise
        self.free_at = [0.0] * n_enclaves
        self.hold_s = [0.0] * n_enclaves
        self.wait_s = [0.0] * n_enclaves

    def acquire(self, enclave: int, now: float, hold_s: float,
                cut_in_s: float | None = None) -> float:
        """Reserve the lock for ``hold_s`` from the first moment it is free at or after
        ``now``; returns the wait (seconds) before the hold starts.

        ``cut_in_s``: the holder waits at most this long and the holds reserved after it
        move back by ``hold_s``. ksgxd uses it with one fault's hold: the faults an
        operation reserved in one block are really one short hold each, and the mutex
        passes to ksgxd between two of them."""
        if hold_s <= 0.0:
            return 0.0
        if not self.serialise:
            self.hold_s[enclave] += hold_s
            return 0.0
        free = self.free_at[enclave]
        start = free
        if start < now:
            start = now
        if cut_in_s is not None and start > now + cut_in_s:
            start = now + cut_in_s
            self.free_at[enclave] = free + hold_s
        else:
            self.free_at[enclave] = start + hold_s
        self.hold_s[enclave] += hold_s
        wait = start - now
        self.wait_s[enclave] += wait
        return wait


@dataclass(slots=True)
class BatchCost:
    """What one ksgxd batch costs: its duration (seconds, ksgxd's vCPU busy), the IPI rounds
    it sent, the forced exits it causes per enclave (per running thread) and the time it
    held and waited for enclave locks (seconds)."""

    duration_s: float
    ipi_rounds: int
    forced_exits: list[int]
    lock_hold_s: float = 0.0
    lock_wait_s: float = 0.0


def reclaim_batch_cost(locks: EnclaveLocks, now: float, victims: Sequence[int],
                       running: Sequence[int], skip: Sequence[bool], pc: PagingCosts,
                       driver: SgxDriver, shootdowns: bool = True) -> BatchCost:
    """Time one ksgxd batch that evicted ``victims[e]`` pages of each enclave ``e``.

    ``running[e]``: threads of enclave ``e`` running (in the enclave) now; ``skip[e]``: the
    enclave pages itself (Eleos-style), nothing is charged. Enclaves are processed in the
    order their locks become free; for each, the unlocked work (backing allocation and,
    upstream, the per-page shootdown rounds) runs first, then the locked hold (EBLOCK + EWB
    per page, ETRACK, and one IPI round when threads are running). ``isgx`` holds the lock
    for all of it. ETRACK is charged once per enclave per batch under both drivers (isgx
    runs it unconditionally; upstream after the first EWB returns NOT_TRACKED, which in
    practice is once per enclave per batch). Each running thread is forced out once per
    shootdown and once for the ETRACK IPI. ``shootdowns=False``
    (``simulation.mechanisms.tlb_shootdowns: false``): no per-page rounds, only the ETRACK IPI.
    """
    t = now
    rounds = 0
    forced = [0] * len(victims)
    held = waited = 0.0
    # ksgxd sleeps on a held mutex; the enclave whose lock frees first is served first.
    if len(victims) == 1:
        if not victims[0] or skip[0]:
            return BatchCost(0.0, 0, forced)
        order = [0]
    else:
        order = sorted((e for e, v in enumerate(victims) if v and not skip[e]),
                       key=lambda e: locks.free_at[e])
    for e in order:
        v = victims[e]
        r = running[e]
        # a flush reaches other CPUs only when threads run there
        shoot = v if r and shootdowns else 0
        unlocked = v * pc.evict_unlocked_s
        locked = v * pc.evict_lock_s + pc.etrack_s + (pc.ipi_round_s if r else 0.0)
        if driver == "isgx":
            locked += shoot * pc.ipi_round_s
        else:
            unlocked += shoot * pc.ipi_round_s
        t += unlocked
        wait = locks.acquire(e, t, locked, pc.fault_lock_s)
        t += wait + locked
        held += locked
        waited += wait
        if r:
            rounds += shoot + 1
            forced[e] = shoot + 1
    return BatchCost(duration_s=t - now, ipi_rounds=rounds, forced_exits=forced,
                     lock_hold_s=held, lock_wait_s=waited)
