"""The result of one run and the definitions of its metrics (names carry units).

Measurement window: ``[warmup_s, duration_s)``, length ``T``. *Measured* operations are
those that arrived in the window. Every metric ignores warm-up:

- ``ops_arrived``: measured arrivals; ``ops_completed`` / ``ops_dropped`` /
  ``ops_in_system_at_end``: of those, completed by the end, dropped at admission
  (``max_in_system``), still in the system at the end. They add up to ``ops_arrived``.
- ``throughput_ops_s``: operations (any arrival time) completing in the window / ``T``.
- ``latency_*_s``: end - arrival of measured completed operations (mean, p50, p95, p99
  with numpy's linear interpolation, max); NaN when none completed.
- ``mean_in_system``: time-average number of operations in the system (arrived, not
  dropped, not completed) over the window, from the records (Little's law: it should be
  close to ``throughput_ops_s x latency_mean_s``).
- ``vcpu_utilisation``: busy-vCPU time in the window / (vCPUs x ``T``); busy = held by an
  operation (running, spinning in the fault path, in an SDK OCALL's host time unless
  blocking), by ksgxd or by a polling switchless worker.
- ``enclave_thread_utilisation``: TCS-seconds in use in the window / (all enclaves' threads
  x ``T``); an operation holds its TCS from admission (before it waits for a vCPU) to its
  end, so a value near 1 with idle vCPUs means the enclave threads bind.
- ``epc_faults_per_s``, ``epc_evictions_per_s``, ``ksgxd_batches_per_s``, ``ipis_per_s``
  (IPI rounds: one TLB shootdown per evicted page and one ETRACK IPI per batch and enclave,
  while threads of the enclave run), ``aex_per_s``
  (fault AEXs + timer AEXs + IPI-forced AEXs; timer AEXs may be fractional in ``expected``
  mode): counts in the window / ``T``. Counts are taken when they happen (a fault when its
  operation starts running).
- ``epc_faults_per_op``: mean faults of measured completed operations.
- ``enclave_lock_utilisation``: time the enclaves' mutexes were held (faults and ksgxd) in
  the window / (enclaves x ``T``); ``enclave_lock_wait_s_per_op``: time waited for them
  (by faulting threads; ksgxd's waits are in its batch time) per measured completed operation.
- ``share_compute``, ``share_memory``, ``share_transitions``, ``share_paging``,
  ``share_tlb``, ``share_queueing``: each component summed over measured completed
  operations, divided by the sum of all six (which equals the sum of their latencies up to
  floating-point rounding, so the shares add up to 1; NaN when that sum is 0):
  compute = compute inside the enclave + host-side OCALL time; memory = LLC-miss time
  (with the protection penalty); transitions = ECALLs, OCALL round trips (or switchless /
  hotcall call latency, or native syscalls), timer and IPI-forced AEX + ERESUME; paging =
  fault handling (AEX + handler + ELDU + ERESUME, EDMM augment, or Eleos fault) + time
  waiting for the enclave lock + time spinning for a free EPC page; tlb = page walks after
  TLB flushes and beyond the TLB's reach (:mod:`epcsim.model.tlb`); queueing = waiting for
  a TCS thread and a vCPU (also again after a blocking OCALL).
- ``enclave_startup_s``: build time of all enclaves (sequential), not part of the run;
  ``enclave_teardown_s``: EREMOVE of the pages resident at the end, the SECS and VA pages.
- ``sim_events``: SimPy events scheduled in the run; ``events_per_op``: that / all arrivals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from epcsim.model.config import ModelConfig
from epcsim.model.startup import teardown_s

if TYPE_CHECKING:
    from epcsim.model.simulate import _Model


@dataclass
class RunResult:
    """One run: summary metrics, per-operation arrays and provenance (no pandas, no I/O).

    Attributes:
        metrics: summary metrics (see the module docstring).
        arrays: per-operation arrays, all of shape ``(n_arrived_total,)`` in arrival order,
            warm-up included: ``arrival_s``, ``start_s``, ``end_s``, ``latency_s`` (NaN when
            not started/completed), ``op_type`` (int32 index into ``op_names``), ``phase``
            (index into ``phase_names``), ``faults`` (int64), ``dropped`` (bool),
            ``measured`` (bool: arrived in the window), and the time components
            ``compute_s``, ``memory_s``, ``transitions_s``, ``paging_s``, ``queueing_s``.
        counters: whole-run cumulative counters (warm-up included).
    """

    metrics: dict[str, float]
    arrays: dict[str, np.ndarray]
    op_names: list[str]
    phase_names: list[str]
    counters: dict[str, float]
    config: ModelConfig
    seed: int
    replication: int
    native: bool
    vm_name: str
    wall_time_s: float
    sim_time_s: float
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def summarise(model: _Model, *, events: int, wall_time_s: float, seed: int,
              replication: int) -> RunResult:
    """Build the :class:`RunResult` of a finished model run."""
    s = model.settings
    w0, w1 = s.warmup_s, s.duration_s
    window = w1 - w0
    a = model.rec.arrays()
    arrival = a["arrival_s"]
    end = a["end_s"]
    measured = (arrival >= w0) & (arrival < w1)
    a["measured"] = measured
    done = ~np.isnan(end)
    dropped = a["dropped"]
    comp = measured & done
    n_arr = int(measured.sum())
    n_done = int(comp.sum())
    n_drop = int((measured & dropped).sum())
    lat = a["latency_s"][comp]
    departures = int((done & (end >= w0) & (end <= w1)).sum())
    live = ~dropped
    stop = np.where(done, end, w1)
    overlap = np.clip(np.minimum(stop, w1) - np.maximum(arrival, w0), 0.0, None)
    mean_in_system = float(overlap[live].sum() / window)
    d = model.ctr.minus(model.warm)
    nan = float("nan")
    m: dict[str, float] = {
        "throughput_ops_s": departures / window,
        "latency_mean_s": float(lat.mean()) if n_done else nan,
        "latency_p50_s": float(np.quantile(lat, 0.50)) if n_done else nan,
        "latency_p95_s": float(np.quantile(lat, 0.95)) if n_done else nan,
        "latency_p99_s": float(np.quantile(lat, 0.99)) if n_done else nan,
        "latency_max_s": float(lat.max()) if n_done else nan,
        "ops_arrived": float(n_arr),
        "ops_completed": float(n_done),
        "ops_dropped": float(n_drop),
        "ops_in_system_at_end": float(n_arr - n_done - n_drop),
        "mean_in_system": mean_in_system,
        "vcpu_utilisation": d["busy_vcpu_s"] / (model.cfg.vm.vcpus * window),
        "enclave_thread_utilisation": d["tcs_busy_s"] / (
            sum(e.threads for e in model.cfg.enclaves) * window),
        "epc_touches_per_s": d["touches"] / window,
        "epc_faults_per_s": d["faults"] / window,
        "epc_evictions_per_s": d["evictions"] / window,
        "epc_faults_per_op": float(a["faults"][comp].mean()) if n_done else nan,
        "edmm_augments_per_s": d["augments"] / window,
        "ksgxd_batches_per_s": d["batches"] / window,
        "ksgxd_utilisation": d["ksgxd_busy_s"] / window,
        "ipis_per_s": d["ipis"] / window,
        "aex_per_s": d["aex"] / window,
        "timer_aex_per_s": d["timer_aex"] / window,
        "ipi_aex_per_s": d["ipi_aex"] / window,
        "switchless_fallbacks_per_s": d["switchless_fallbacks"] / window,
        "enclave_lock_utilisation": d["lock_hold_s"] / (len(model.cfg.enclaves) * window),
        "enclave_lock_wait_s_per_op": d["lock_wait_s"] / n_done if n_done else nan,
    }
    parts = ("compute", "memory", "transitions", "paging", "tlb", "queueing")
    sums = {part: float(a[f"{part}_s"][comp].sum()) for part in parts}
    total = sum(sums.values())  # = the sum of latencies, up to floating-point rounding
    for part in parts:
        m[f"share_{part}"] = sums[part] / total if total > 0 else nan
    m["enclave_startup_s"] = float(sum(model.startup_s))
    m["enclave_teardown_s"] = float(sum(teardown_s(model.cfg, [
        model.engine.resident_pages(e) for e in range(len(model.cfg.enclaves))]))) \
        if model.engine is not None else 0.0
    m["epc_usable_pages"] = float(model.capacity_pages)
    m["epc_build_evictions"] = float(model.ctr.build_evictions)
    m["sim_events"] = float(events)
    m["events_per_op"] = events / model.rec.n if model.rec.n else nan
    m["wall_time_s"] = wall_time_s
    return RunResult(
        metrics=m,
        arrays=a,
        op_names=list(model.op_names),
        phase_names=[p.name for p in model.cfg.effective_phases()],
        counters={k: float(v) for k, v in vars(model.ctr).items()},
        config=model.cfg,
        seed=seed,
        replication=replication,
        native=model.native,
        vm_name=model.cfg.vm.name,
        wall_time_s=wall_time_s,
        sim_time_s=float(model.env.now),
        notes=list(model.notes),
    )
