"""Can every run of the scenario start? The checks the model would otherwise make at run time.

``epcsim check`` must not say "ok" for a scenario whose every run then fails. The timing model
(:func:`epcsim.model.config.validate`, enclave start-up, the EPC engine) keeps its own asserts,
but every condition it can raise on a scenario's input is checked here first, per selected VM
size, with a located message (tests/test_scenario_feasibility.py holds the table that pairs
each model error with the scenario check that comes first). The VM-independent checks run
with the scenario's cross checks; the per-size ones (EPC, switchless workers) with the study
plan (:func:`epcsim.scenario.plan.plan_study`), which ``epcsim check`` and ``epcsim run`` both
build before any run:

- the EPC left for enclave pages, after SECS, TCS and SSA pages and the Version Array pages
  that paging the enclaves out needs, must exceed what the reclaimer keeps free (its high
  watermark plus one batch);
- the enclaves' pages must fit the EPC engine's 31-bit page numbers;
- switchless workers take vCPUs: fewer workers than the VM has vCPUs;
- page-trace and arrival-trace files must be readable, bounded and valid (they are read
  here, once per check, exactly as the run reads them) and a page trace must fit its region;
- a run must be bounded: the expected operations per run (arrival rate x duration, summed
  over phases, or the trace's arrivals in the window) at most ``simulation.max_operations``,
  closed-loop clients at most the same.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from epcsim import units
from epcsim.errors import EpcsimError
from epcsim.scenario.problems import Issue, short

if TYPE_CHECKING:
    from pydantic import BaseModel

    from epcsim.reference.catalog import VmSize
    from epcsim.scenario.spec import Scenario

#: The EPC engine numbers pages with int32.
MAX_ENGINE_PAGES = 2**31 - 2
#: SSA pages per thread the model reserves (the SDK's NSSA default; SimulationSettings).
SSA_PAGES_PER_THREAD = 2


def _pages(size_bytes: int) -> int:
    return max(1, math.ceil(size_bytes / units.PAGE_BYTES))


def _committed_pages(scn: Scenario) -> list[int]:
    return [max(_pages(e.size_bytes), sum(_pages(r.size_bytes) for r in e.regions))
            for e in scn.enclaves]


def _vm_path(scn: Scenario, vm: VmSize) -> tuple[str | int, ...]:
    for i, custom in enumerate(scn.vm.custom):
        if custom.size == vm.size or f"Standard_{custom.size}" == vm.size:
            return ("vm", "custom", i)
    return ("vm", "sizes")


def epc_issues(scn: Scenario, vms: list[VmSize]) -> list[Issue]:
    """EPC too small for the reclaimer, or too many pages for the engine."""
    from epcsim.epc.engine import enclave_va_pages, usable_epc_pages

    issues: list[Issue] = []
    committed = _committed_pages(scn)
    total = sum(committed)
    if total > MAX_ENGINE_PAGES:
        issues.append(Issue(("enclaves",), "the enclaves have more pages than the EPC model "
                            "can number", f"at most {MAX_ENGINE_PAGES:,} pages (8 TiB) in all",
                            f"{total:,} pages"))
    need = int(scn.costs.get("reclaim_high_watermark_pages", 64)) + int(
        scn.costs.get("reclaim_batch_pages", 16))
    # As the driver allocates them (enclave_va_pages), plus the platform enclaves' pages.
    va = sum(enclave_va_pages(n) for n in committed)
    platform = math.ceil(scn.simulation.platform_enclaves_bytes / units.PAGE_BYTES)
    for vm in vms:
        usable = usable_epc_pages(vm.epc_bytes, [(e.threads,) for e in scn.enclaves],
                                  ssa_pages_per_thread=SSA_PAGES_PER_THREAD)
        left = usable - va - platform
        if left <= need:
            issues.append(Issue(
                _vm_path(scn, vm), f"the EPC of {vm.size} ({vm.epc_mib:g} MiB) is too small "
                "for these enclaves: after SECS/TCS/SSA pages, the Version Array pages "
                f"needed to page them out and the platform enclaves' pages, {max(left, 0):,} "
                f"pages are left, and the reclaimer "
                "keeps its high watermark plus one batch free",
                f"more than {need} pages left (a larger EPC, fewer enclave threads, or lower "
                "costs.reclaim_high_watermark_pages)", f"{max(left, 0):,} pages"))
    return issues


def switchless_issues(scn: Scenario, vms: list[VmSize]) -> list[Issue]:
    """Switchless workers must leave a vCPU for the enclave threads on every size."""
    workers = sum(e.switchless_workers for e in scn.enclaves)
    if workers == 0:
        return []
    crowded = [vm for vm in vms if workers >= vm.vcpus]
    if not crowded:
        return []
    first = next(i for i, e in enumerate(scn.enclaves) if e.switchless_workers > 0)
    names = ", ".join(f"{vm.size} ({vm.vcpus} vCPUs)" for vm in crowded[:4])
    more = f" and {len(crowded) - 4} more" if len(crowded) > 4 else ""
    return [Issue(("enclaves", first, "switchless_workers"), "switchless workers leave no "
                  f"vCPU for the enclave threads on {names}{more}",
                  f"fewer than {min(vm.vcpus for vm in crowded)} workers in all (or drop "
                  "those sizes from vm.sizes)", f"{workers} workers")]


def _trace_patterns(pattern: BaseModel, path: tuple[str | int, ...]
                    ) -> Iterator[tuple[Any, tuple[str | int, ...]]]:
    kind = getattr(pattern, "kind", "")
    if kind == "trace":
        yield pattern, path
    elif kind == "mixture":
        for k, comp in enumerate(getattr(pattern, "components", ())):
            yield from _trace_patterns(comp.pattern, (*path, "components", k, "pattern"))


def _stamp(path: str) -> tuple[str, int, int]:
    import os

    try:
        st = os.stat(path)
    except OSError:
        return (path, -1, -1)
    return (path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=4)
def _arrival_times(stamp: tuple[str, int, int]) -> Any:
    """The arrival times of a trace file, read once per content stamp (sweep points and
    phases re-validate the same file); raises EpcsimError like the reader."""
    from epcsim.traces.io import read_arrival_times

    return read_arrival_times(stamp[0])


@functools.lru_cache(maxsize=16)
def _page_trace_problem(stamp: tuple[str, int, int], n_pages: int) -> tuple[str, str] | None:
    """(message, expected) when the page trace cannot be replayed over ``n_pages`` pages."""
    from epcsim.traces.io import dense_pages, load_page_trace

    try:
        pages = load_page_trace(stamp[0])
    except EpcsimError as exc:
        return "unusable page trace: " + _file_message(exc, stamp[0]), ""
    if n_pages and int(pages.max()) >= n_pages:
        distinct = int(dense_pages(pages)[1].size)
        if distinct > n_pages:
            return (f"the page trace touches {distinct:,} distinct pages, more than its "
                    f"region's {n_pages:,}", f"at most {n_pages:,} distinct pages (a larger "
                    "region)")
    return None


def _file_message(exc: EpcsimError, file: str) -> str:
    text = str(exc)
    return text[len(file) + 2:] if text.startswith(file + ": ") else text


def trace_issues(scn: Scenario) -> list[Issue]:
    """Page-trace and arrival-trace files that the run could not use."""
    issues: list[Issue] = []
    enclaves = {e.name: e for e in scn.enclaves}
    for i, op in enumerate(scn.workload.operations):
        enc = enclaves.get(op.enclave or "")
        regions = {r.name: r for r in enc.regions} if enc else {}
        for j, acc in enumerate(op.memory):
            for pattern, ppath in _trace_patterns(acc.pattern, ("workload", "operations", i,
                                                                "memory", j, "pattern")):
                region = regions.get(acc.region)
                n_pages = _pages(region.size_bytes) if region is not None else 0
                problem = _page_trace_problem(_stamp(pattern.file), n_pages)
                if problem is not None:
                    issues.append(Issue((*ppath, "file"), problem[0], problem[1] or None,
                                        short(pattern.file)))
    arrivals: list[tuple[Any, tuple[str | int, ...]]] = [(scn.workload.arrival,
                                                         ("workload", "arrival"))]
    arrivals += [(ph.arrival, ("workload", "phases", k, "arrival"))
                 for k, ph in enumerate(scn.workload.phases) if ph.arrival is not None]
    for arrival, apath in arrivals:
        if arrival.kind != "trace":
            continue
        try:
            _arrival_times(_stamp(arrival.file))
        except EpcsimError as exc:
            issues.append(Issue((*apath, "file"), "unusable arrival trace: "
                                + _file_message(exc, arrival.file), None, short(arrival.file)))
    return issues


def _expected_operations(arrival: Any, start_s: float, length_s: float) -> float:
    """Operations an open-loop arrival process brings in ``[start_s, start_s + length_s)``;
    0 for closed loops (bounded by their clients)."""
    if arrival.kind == "poisson":
        return float(arrival.rate_per_s) * length_s
    if arrival.kind == "trace":
        import numpy as np

        try:
            ts = _arrival_times(_stamp(arrival.file))
        except EpcsimError:
            return 0.0  # trace_issues reports it
        return float(np.count_nonzero(ts < length_s))
    return 0.0


def size_issues(scn: Scenario) -> list[Issue]:
    """Operations per run over ``simulation.max_operations``; too many clients."""
    limit = scn.simulation.max_operations
    duration = scn.simulation.duration_s
    how = (f"shorten simulation.duration, lower the load, or raise simulation.max_operations "
           f"(now {limit:,}; each operation takes about 2 KB of memory and 30 us to simulate)")
    issues: list[Issue] = []
    phases = scn.workload.phases
    spans: list[tuple[Any, tuple[str | int, ...], float]] = []
    start = 0.0
    if phases:
        for k, ph in enumerate(phases):
            length = max(0.0, (ph.duration_s if ph.duration_s is not None else duration - start))
            length = min(length, max(0.0, duration - start))
            if ph.arrival is not None:
                spans.append((ph.arrival, ("workload", "phases", k, "arrival"), length))
            else:
                spans.append((scn.workload.arrival, ("workload", "arrival"), length))
            start += length
    else:
        spans.append((scn.workload.arrival, ("workload", "arrival"), duration))
    expected = math.fsum(_expected_operations(a, 0.0, length) for a, _, length in spans)
    if expected > limit:
        worst = max(spans, key=lambda s: _expected_operations(s[0], 0.0, s[2]))
        key = "rate" if worst[0].kind == "poisson" else "file"
        issues.append(Issue((*worst[1], key), f"about {expected:,.0f} operations per run "
                            f"(arrivals over {units.format_time(duration)}), over the limit "
                            f"of {limit:,}", how, f"{expected:,.0f} operations"))
    for arrival, apath, _ in spans:
        if arrival.kind == "closed" and arrival.clients > limit:
            issues.append(Issue((*apath, "clients"), f"{arrival.clients:,} closed-loop clients "
                                f"is over the limit of {limit:,} operations per run", how,
                                f"{arrival.clients:,} clients"))
    return issues


def feasibility_issues(scn: Scenario) -> list[Issue]:
    """The run-time refusals that do not depend on the VM size (run by the scenario's cross
    checks, so every validation, sizing probes included, sees them)."""
    return [*trace_issues(scn), *size_issues(scn)]


def vm_issues(scn: Scenario, vms: list[VmSize]) -> list[Issue]:
    """The run-time refusals on particular VM sizes (run by the study plan over the selected
    sizes, so a scenario stays valid for the sizes that can run it: sizing and
    ``simulate_run`` on one size are not refused for another)."""
    return [*epc_issues(scn, vms), *switchless_issues(scn, vms)]
