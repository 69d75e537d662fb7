"""Enclave start-up: EPC overhead pages and the build of each enclave before t = 0.

What it models:

- **EPC left for enclave pages.** The VM's EPC minus one SECS page per enclave and one TCS
  page plus ``ssa_pages_per_thread`` SSA pages (default 2: the SGX SDK's NSSA) per thread
  (:func:`epcsim.epc.usable_epc_pages`; TCS and SSA pages are reclaimable in the driver but
  touched on every entry, so they are taken as resident), minus the Version Array pages the
  driver allocates when pages are *added*: ``ceil((1 + committed pages) / 512)`` per enclave
  (``sgx_encl_grow``; never reclaimed, so the EPC engine runs with ``va_pages=False``), minus
  ``platform_enclave_pages`` (QE3/PCE resident in the guest).
- **Build.** Enclaves are built one after another in config order: ECREATE + EINIT once
  (``ecreate_einit_cycles``), then each committed page is added with EADD + EEXTEND at
  ``enclave_build_s_per_page_sgx1|2`` (measured totals). When the EPC has no free page, the
  build reclaims a batch directly (the EADD ioctl may reclaim, unlike the fault path): every
  page beyond the EPC pays the eviction path (backing allocation + EBLOCK + EWB; no
  shootdown, the pages were never mapped), each batch an ETRACK. With EDMM (SGX2), no
  region page is added at build; pages are added on first touch (EAUG + EACCEPT), so the
  start-up is the control pages only. The pages left resident after the build are the
  starting EPC state of the run (first touch after a build is a hit, unless the page was
  evicted during the build).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from epcsim.errors import EpcsimError
from epcsim.model.config import PAGE_BYTES, ModelConfig, resolved_costs
from epcsim.model.run_costs import RunCosts

if TYPE_CHECKING:
    from epcsim.model.components import EpcEngineLike


def va_pages(committed_pages: int) -> int:
    """VA pages the driver allocates for an enclave of ``committed_pages`` pages: the memory
    stage's rule (:func:`epcsim.epc.engine.enclave_va_pages`), shared with the scenario's
    feasibility check. Imported on use, so importing the model loads no numba."""
    from epcsim.epc.engine import enclave_va_pages

    return enclave_va_pages(committed_pages)


def usable_epc_pages(config: ModelConfig) -> int:
    """EPC pages left for enclave pages after SECS, TCS, SSA, VA and platform-enclave pages
    (VA pages not counted with ``settings.va_pages`` off)."""
    from epcsim.epc import usable_epc_pages as engine_usable

    left = int(engine_usable(
        config.vm.epc_pages * PAGE_BYTES, [(e.threads,) for e in config.enclaves],
        ssa_pages_per_thread=config.settings.ssa_pages_per_thread))
    if config.settings.va_pages:
        left -= sum(va_pages(e.committed_pages) for e in config.enclaves)
    left -= config.settings.platform_enclave_pages
    return max(0, left)


def teardown_s(config: ModelConfig, resident_pages: list[int]) -> list[float]:
    """EREMOVE of every resident page, the SECS and the VA pages of each enclave (seconds);
    evicted pages cost no EREMOVE (``sgx_encl_release``)."""
    c = resolved_costs(config)
    per_page = c["eremove_cycles"] / config.vm.clock_hz
    return [(r + 1 + va_pages(e.committed_pages)) * per_page
            for e, r in zip(config.enclaves, resident_pages, strict=True)]


@dataclass
class BuildResult:
    """Start-up time per enclave (seconds) and pages evicted during the builds."""

    startup_s: list[float]
    evictions: int
    batches: int


def build_enclaves(engine: EpcEngineLike, config: ModelConfig, costs: RunCosts,
                   edmm: list[bool]) -> BuildResult:
    """Add every enclave's committed pages (unless EDMM) to the EPC engine, in order."""
    startup = []
    evict_unlocked_s = costs.raw["backing_alloc_cycles"] / config.vm.clock_hz
    evictions = 0
    batches = 0
    for idx, enc in enumerate(config.enclaves):
        pages_added = 0 if edmm[idx] else enc.committed_pages
        control = 1 + enc.threads * (1 + config.settings.ssa_pages_per_thread)
        t = costs.raw["ecreate_einit_cycles"] / config.vm.clock_hz
        t += control * costs.build_s_per_page
        t += pages_added * costs.build_s_per_page
        compiled = getattr(engine, "build", None)  # EpcEngine: the loop below, compiled
        if pages_added and compiled is not None:
            t, n, b, ok = compiled(idx, pages_added, costs.reclaim_batch_pages, t,
                               costs.evict_page_s + evict_unlocked_s, costs.etrack_s)
            if not ok:
                raise EpcsimError(
                    f"{config.vm.name}: enclave {enc.name!r} cannot be built: its Version "
                    f"Array pages alone fill the EPC ({engine.free_pages} pages free)")
            evictions += n
            batches += b
        elif pages_added:
            pages = np.arange(pages_added, dtype=np.int64)
            nxt = 0
            while True:
                _h, _f, nxt = engine.touch(idx, pages, nxt)
                if nxt >= pages_added:
                    break
                victims = np.asarray(engine.reclaim(costs.reclaim_batch_pages))
                n = int(victims.sum())
                if n == 0 and engine.resident_pages() == 0:
                    raise EpcsimError(
                        f"{config.vm.name}: enclave {enc.name!r} cannot be built: its Version "
                        f"Array pages alone fill the EPC ({engine.free_pages} pages free)")
                evictions += n
                batches += 1
                t += n * (costs.evict_page_s + evict_unlocked_s) \
                    + int(np.count_nonzero(victims)) * costs.etrack_s
        startup.append(t)
    return BuildResult(startup_s=startup, evictions=evictions, batches=batches)
