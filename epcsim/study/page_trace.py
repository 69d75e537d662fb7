"""A scenario's page trace, generated outside the timing model (for the MRC and `epcsim trace`).

The EPC knee of a workload is a property of its page-access trace alone, so it can be known
before any timing simulation: :func:`scenario_page_trace` draws the first enclave's page
touches for a number of accesses from the scenario's operation mix, page counts and access
patterns, with the same random stream ids as the timing model's replication 0
(:mod:`epcsim.model.streams`), and :func:`scenario_mrc` turns them into the exact LRU
miss-ratio curve (:func:`epcsim.epc.mrc.lru_miss_ratio_curve`).

Assumptions: phases are ignored (the whole mix); operations are drawn independently by
weight, so the interleaving is not the simulated schedule's (the timing model interleaves
threads and enclaves in simulated time). That is what a miss-ratio curve of one enclave's
reference stream needs.
"""

from __future__ import annotations

import numpy as np

from epcsim.errors import EpcsimError
from epcsim.model import streams
from epcsim.scenario import Scenario
from epcsim.traces import make_count_sampler, make_pattern
from epcsim.units import PAGE_BYTES


def scenario_page_trace(scn: Scenario, accesses: int,
                        seed: int | None = None) -> tuple[np.ndarray, int, str]:
    """The first enclave's page offsets for ``accesses`` touches of a scenario's mix.

    Operations of that enclave that touch memory are drawn by weight (phases are ignored: the
    whole mix); each draws its page counts and pages from its memory accesses' patterns, offset
    by the region's first page. Returns ``(pages, enclave_pages, enclave_name)``.
    """
    enc = scn.enclaves[0]

    all_ops = list(scn.workload.operations)
    ops = [(index, op) for index, op in enumerate(all_ops)
           if (op.enclave or enc.name) == enc.name and op.memory]
    if not ops:
        raise EpcsimError(f"{scn.name}: no operation of enclave {enc.name!r} touches memory")
    root = scn.simulation.seed if seed is None else seed
    bases: dict[str, int] = {}
    sizes: dict[str, int] = {}
    at = 0
    for r in enc.regions:
        bases[r.name] = at
        sizes[r.name] = r.size_pages
        at += r.size_pages
    enclave_pages = max(enc.size_pages, at)

    # the same stream ids as the timing model's replication 0 (epcsim.model.streams), so
    # each memory access gets the page sequence the simulation draws for it
    feeds = []
    for index, op in ops:
        op_feeds = []
        for j, m in enumerate(op.memory):
            where = f"workload.operations.{op.name}.memory.{j}"
            counts = make_count_sampler(
                m.pages, streams.rng_for(root, 0, streams.COUNTS + index * 256 + j),
                where=f"{where}.pages")
            stream = make_pattern(
                m.pattern.model_dump(), sizes[m.region],
                streams.rng_for(root, 0, streams.PAGES + index * 256 + j),
                where=f"{where}.pattern")
            op_feeds.append((counts, stream, bases[m.region]))
        feeds.append(op_feeds)
    weights = np.asarray([op.weight for _, op in ops], dtype=np.float64)
    cum = np.cumsum(weights / weights.sum())
    mix = streams.rng_for(root, 0, streams.MIX)
    parts: list[np.ndarray] = []
    total = 0
    while total < accesses:
        for k in np.searchsorted(cum, mix.random(4096), side="right"):
            for counts, stream, base in feeds[min(int(k), len(feeds) - 1)]:
                n = int(counts.take(1)[0])
                if n:
                    parts.append(stream.take(n) + base)
                    total += n
            if total >= accesses:
                break
    pages = np.concatenate(parts)[:accesses]
    return pages, enclave_pages, enc.name


def scenario_mrc(scn: Scenario, accesses: int | None = None,
                 seed: int | None = None) -> dict[str, np.ndarray | str | float]:
    """Exact LRU miss-ratio curve of the scenario's first enclave.

    ``accesses`` defaults to 20 passes over the enclave's pages (between 200,000 and 4
    million). Returns ``capacity_mib`` and ``miss_ratio`` arrays (capacities 0..W pages, W
    the distinct pages touched), the ``knee_mib`` (:func:`epcsim.epc.mrc.knee`) and the
    enclave's name as ``label``.
    """
    from epcsim.epc.mrc import knee, lru_miss_ratio_curve

    enclave_pages = scn.enclaves[0].size_pages
    n = accesses or int(min(4_000_000, max(200_000, 20 * enclave_pages)))
    pages, _, name = scenario_page_trace(scn, n, seed)
    caps, ratio = lru_miss_ratio_curve(pages)
    mib = caps * PAGE_BYTES / 2**20
    return {"capacity_mib": mib, "miss_ratio": ratio,
            "knee_mib": float(knee(caps, ratio)) * PAGE_BYTES / 2**20, "label": name}
