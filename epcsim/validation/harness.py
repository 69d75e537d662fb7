"""How a measured experiment is run on the model: the TeeBench hash join as a batch job in
phase order, and an enclave build.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from epcsim.errors import EpcsimError
from epcsim.units import PAGE_BYTES

MIB = 2**20
#: TeeBench tuples: 4-byte key + 4-byte payload (scripts: 131072 tuples per "MB").
TUPLE_BYTES = 8
TUPLES_PER_PAGE = PAGE_BYTES // TUPLE_BYTES
#: CHT bitmap: one 64-bit word (32 bits used + 32-bit prefix count) per 32 tuple slots.
BITMAP_BYTES_PER_TUPLE = 8 / 32
#: Batch size of the scenario files' join operations (pages of tuples per operation).
SCENARIO_BATCH_PAGES = 16
#: Far-away horizon for batch jobs (the model skips idle time, so this costs nothing).
BATCH_HORIZON_S = 3600.0

@dataclass(frozen=True)
class JoinPrediction:
    """One simulated TeeBench CHT join (R = build table, S = probe table)."""

    build_mib: float
    probe_mib: float
    throughput_mrec_s: float
    ewb_pages: float
    join_time_s: float
    phase_time_s: dict[str, float]
    faults: float
    batch_pages: int
    wall_s: float


def _floor_pow2(n: int) -> int:
    return 1 << (max(1, n).bit_length() - 1)


def join_layout(build_mib: float, probe_mib: float) -> dict[str, int]:
    """Bytes and pages of the join's EPC data (see validation/teebench_cht_s100.yaml).

    ``part_buffer_bytes`` = |R|; ``hash_table_bytes`` = |R| (tuple array) + |R|/32 (bitmap);
    ``probed_fraction_ppm``: share of the hash table the probes reach, min(1, |S|/|R|), in
    parts per million; ``batch_pages``: pages of tuples per operation (16, fewer when the
    hash table has fewer pages than one probe batch has probes)."""
    r_bytes = round(build_mib * MIB)
    ht_bytes = round(r_bytes * (1 + BITMAP_BYTES_PER_TUPLE / TUPLE_BYTES))
    ht_pages = math.ceil(ht_bytes / PAGE_BYTES)
    if ht_pages < TUPLES_PER_PAGE:
        raise EpcsimError(f"build table of {build_mib:g} MiB: the hash table has fewer pages "
                          f"({ht_pages}) than one page of probes ({TUPLES_PER_PAGE}); the "
                          f"harness needs at least 2 MiB")
    batch = min(SCENARIO_BATCH_PAGES, _floor_pow2(ht_pages // TUPLES_PER_PAGE))
    return {
        "part_buffer_bytes": r_bytes,
        "hash_table_bytes": ht_bytes,
        "hash_table_pages": ht_pages,
        "build_pages": math.ceil(r_bytes / PAGE_BYTES),
        "probe_pages": math.ceil(round(probe_mib * MIB) / PAGE_BYTES),
        "probed_fraction_ppm": round(min(1.0, probe_mib / build_mib) * 1e6),
        "batch_pages": batch,
    }


def _join_overrides(scenario: Any, layout: dict[str, int]) -> list[str]:
    """Overrides that size the regions and scale every operation to the batch size."""
    f = layout["batch_pages"] / SCENARIO_BATCH_PAGES
    out = [f"enclaves.join.regions.part_buffer.size={layout['part_buffer_bytes']} B",
           f"enclaves.join.regions.hash_table.size={layout['hash_table_bytes']} B",
           "workload.operations.probe.memory.0.pattern.hot_pages_fraction="
           f"{layout['probed_fraction_ppm'] / 1e6!r}"]
    for op in scenario.workload.operations:
        if f != 1.0:
            out.append(f"workload.operations.{op.name}.compute={op.compute.cycles * f!r} cycles")
            for j, m in enumerate(op.memory):
                pages = m.pages if isinstance(m.pages, int) else (
                    m.pages.mean if m.pages.distribution == "fixed" else None)
                if pages is None:
                    raise EpcsimError(f"validation scenario: workload.operations.{op.name}."
                                      f"memory.{j}.pages must be a fixed count")
                out.append(f"workload.operations.{op.name}.memory.{j}.pages="
                           f"{max(1, round(pages * f))}")
    return out


def simulate_hash_join(scenario_path: str | Path, build_mib: float, probe_mib: float,
                       *, probe_sample_batches: int | None = 192,
                       seed: int | None = None,
                       overrides: Sequence[str] = ()) -> JoinPrediction:
    """Run the TeeBench CHT join of ``scenario_path`` with |R| = ``build_mib`` MiB and
    |S| = ``probe_mib`` MiB to completion (see the module docstring).

    ``probe_sample_batches``: simulate at most this many probe batches and extrapolate the
    rest of the probe phase (``None``: simulate all of it). The probe phase is stationary
    (the hash table no longer changes; S streams from untrusted memory): the sample's
    completion rate between its median and third-quartile completions (past the transient
    after the build, before any straggling last batches) carries the phase on to its
    ``N``-th completion, unless a straggler of the sample ends later; the batches left add
    the second half's faults per batch as evictions (in steady state every fault needs one
    eviction). ``overrides``: ``key=value`` assignments applied to the scenario first (cost
    parameters in calibration)."""
    from epcsim.model import ArrivalConfig, PhaseConfig, simulate
    from epcsim.scenario import load_scenario, resolve_vm_sizes
    from epcsim.study.configure import model_config

    t0 = time.perf_counter()
    base = load_scenario(scenario_path, list(overrides))
    layout = join_layout(build_mib, probe_mib)
    scn = load_scenario(scenario_path, [*overrides, *_join_overrides(base, layout)])
    vm = resolve_vm_sizes(scn)[0]
    cfg = model_config(scn, vm)
    batch = layout["batch_pages"]
    counts = {
        "init_table": math.ceil(layout["hash_table_pages"] / batch),
        "partition": math.ceil(layout["build_pages"] / batch),
        "build": math.ceil(layout["build_pages"] / batch),
        "probe": math.ceil(layout["probe_pages"] / batch),
    }
    probe_total = counts["probe"]
    if probe_sample_batches is not None:
        if probe_sample_batches < 8:
            raise EpcsimError("probe_sample_batches must be at least 8 (or None)")
        counts["probe"] = min(probe_total, probe_sample_batches)
    names = [op.name for op in cfg.operations]
    if sorted(names) != sorted(counts):
        raise EpcsimError(f"{scenario_path}: a hash-join validation scenario needs the "
                          f"operations {', '.join(counts)} (found {', '.join(names)})")
    phases = []
    order = list(counts)
    for k, name in enumerate(order):
        arrival = ArrivalConfig(kind="trace", timestamps_s=(0.0,) * counts[name])
        phases.append(PhaseConfig(name=name, duration_s=None if k == len(order) - 1 else 1e-9,
                                  mix={name: 1.0}, arrival=arrival))
    cfg = dataclasses.replace(
        cfg, phases=tuple(phases),
        settings=dataclasses.replace(cfg.settings, duration_s=BATCH_HORIZON_S, warmup_s=0.0))
    result = simulate(cfg, 0, scn.simulation.seed if seed is None else seed)
    a = result.arrays
    end = a["end_s"]
    if np.isnan(end).any():
        raise EpcsimError(f"{scenario_path}: the join did not finish within "
                          f"{BATCH_HORIZON_S:g} s of simulated time")
    phase = a["phase"]
    start = a["start_s"]
    phase_time = {}
    for k, name in enumerate(order):
        sel = phase == k
        phase_time[name] = float(end[sel].max() - start[sel].min())
    timed = phase >= order.index("partition")
    join_time = float(end[timed].max() - start[timed].min())
    evictions = float(result.counters["evictions"] + result.counters["build_evictions"])
    faults = float(result.counters["faults"])
    left = probe_total - counts["probe"]
    if left > 0:
        probe_idx = np.flatnonzero(phase == order.index("probe"))
        n = len(probe_idx)
        t_probe0 = float(start[probe_idx].min())
        ends = np.sort(end[probe_idx]) - t_probe0
        # Completion rate between the sample's median and third-quartile completions:
        # past the transient after the build, and before any straggling last batches.
        q2, q3 = n // 2, (3 * n) // 4
        per_batch_s = float(ends[q3 - 1] - ends[q2 - 1]) / (q3 - q2)
        per_batch_faults = float(a["faults"][probe_idx][q2:].mean())
        # The batches left complete at that rate after the third-quartile completion; a
        # straggler of the sample (the first batches after the build fault in the probed
        # table) may still end later, and then it ends the phase.
        probe_s = max(float(ends[-1]), float(ends[q3 - 1]) + (left + n - q3) * per_batch_s)
        join_time = t_probe0 - float(start[timed].min()) + probe_s
        phase_time["probe"] = probe_s
        evictions += left * per_batch_faults
        faults += left * per_batch_faults
    tuples = (layout["build_pages"] + layout["probe_pages"]) * TUPLES_PER_PAGE
    return JoinPrediction(
        build_mib=build_mib, probe_mib=probe_mib,
        throughput_mrec_s=tuples / join_time / 1e6,
        ewb_pages=evictions, join_time_s=join_time, phase_time_s=phase_time,
        faults=faults, batch_pages=batch,
        wall_s=time.perf_counter() - t0)


# -- enclave build time -----------------------------------------------------------------------

def simulate_enclave_build(scenario_path: str | Path, heap_mib: float, *,
                           overrides: Sequence[str] = ()) -> float:
    """Predicted build time (s) of the scenario's only enclave with a ``heap_mib`` MiB heap
    region (enclave size = heap + the scenario's size beyond its regions); ``overrides`` are
    applied to the scenario first."""
    from epcsim.scenario import load_scenario, resolve_vm_sizes
    from epcsim.study.execute import simulate_scenario as simulate_run

    base = load_scenario(scenario_path, list(overrides))
    if len(base.enclaves) != 1 or len(base.enclaves[0].regions) != 1:
        raise EpcsimError(f"{scenario_path}: a build-time validation scenario needs one "
                          f"enclave with one region (the heap)")
    enc = base.enclaves[0]
    region = enc.regions[0]
    extra = enc.size_bytes - region.size_bytes
    heap = round(heap_mib * MIB)
    scn = load_scenario(scenario_path, [
        *overrides,
        f"enclaves.{enc.name}.size={heap + extra} B",
        f"enclaves.{enc.name}.regions.{region.name}.size={heap} B"])
    vm = resolve_vm_sizes(scn)[0]
    return float(simulate_run(scn, vm).metrics["enclave_startup_s"])


# -- series, targets and scoring --------------------------------------------------------------

