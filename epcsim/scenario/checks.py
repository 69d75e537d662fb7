"""Cross-field checks and name resolution: the one place where fields are checked together.

Each field is checked by its type in :mod:`epcsim.scenario.spec`. What needs two fields or
more is checked here, all at once, so a user sees every problem in one go:

- VM sizes: the selection names exist (did-you-mean), custom sizes are complete, overrides
  name a known size; an enclave set must fit in the memory of *every* selected VM size;
- enclaves: unique names; the regions fit in the enclave; threads are sensible: more than
  :data:`~epcsim.scenario.spec.MAX_THREADS_PER_VCPU` enclave threads per vCPU of a selected
  size is refused as a likely mistake (threads beyond the vCPU count are allowed: they
  time-share the vCPUs, and ``epcsim check`` notes it);
- operations: unique names; each names an existing enclave (or there is only one); each memory
  access names a region of that enclave; distinct pages per operation do not exceed the
  region's pages unless the pattern repeats pages (sequential, strided, trace); switchless
  and hotcall OCALLs need switchless workers; the weights sum to a finite number;
- phases: unique names; mixes name existing operations and have a positive weight; only the
  last phase may run open-ended; the phases fit in the simulated duration;
- simulation: warm-up shorter than the duration;
- costs: names exist (did-you-mean), values are converted to each parameter's unit, the
  reclaim watermarks are ordered;
- what the model would otherwise refuse at run time (:mod:`epcsim.scenario.feasibility`), per
  selected VM size: the EPC left after SECS/TCS/SSA and Version Array pages must exceed the
  reclaimer's high watermark plus a batch; switchless workers must be fewer than the vCPUs;
  page-trace and arrival-trace files must be readable, within the size limits and valid; a
  page trace must fit its region; the expected operations per run (rate x duration) and the
  closed-loop clients must not exceed ``simulation.max_operations``;
- sweep: every key path exists and every value in it validates; no two values of one key are
  the same once normalised (``1 MiB`` and ``1024 KiB``); a sweep must change the runs (not
  only ``slo.*``, ``name``, ``description``, ``simulation.replications``); the product is
  bounded.

Normalisation done here: ``vm.sizes`` becomes the expanded list of size names, override keys
become size names, ``vm.clock`` moves to ``simulation.clock``, each operation's ``enclave`` is
filled in.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from epcsim import units
from epcsim.reference.cost_parameters import cost_parameters
from epcsim.scenario.feasibility import feasibility_issues
from epcsim.scenario.fields import MAX_SWEEP_POINTS, MAX_THREADS_PER_VCPU
from epcsim.scenario.paths import PathError, set_path, split_key_path
from epcsim.scenario.problems import (
    Issue,
    IssuesError,
    did_you_mean,
    issues_from_validation_error,
    short,
)
from epcsim.scenario.vms import build_vm_table
from epcsim.scenario.workload import REPEATING_PATTERNS, MixturePattern

if TYPE_CHECKING:
    from pydantic import BaseModel

    from epcsim.scenario.spec import Scenario

_COST_PARSERS = {
    "cycles": lambda v: units.parse_cycles(v),
    "s": lambda v: units.parse_time(v, unit="s"),
    "ns": lambda v: units.parse_time(v, unit="ns"),
    "1/s": lambda v: units.parse_rate(v),
    "pages": lambda v: units.parse_pages(v),
    "count": lambda v: units.parse_count(v),
    "factor": lambda v: _parse_factor(v),
    "x": lambda v: _parse_factor(v),  # ssbd_slowdown
    "entries": lambda v: units.parse_count(v),  # stlb_entries_sgx1|2
}


def _parse_factor(v: object) -> float:
    """A plain multiplier >= 0 (``1.27``, ``'x1.27'``)."""
    text = v.strip().lstrip("x") if isinstance(v, str) else v
    try:
        x = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise units.UnitError("factor", repr(v), "not a number") from None
    if not x >= 0:
        raise units.UnitError("factor", repr(v), "a factor must be >= 0")
    return x


def resolve_costs(overrides: object) -> dict[str, float]:
    """Every cost parameter: defaults updated by ``overrides`` (name -> value with units),
    each in its parameter's unit. Raises :class:`IssuesError` listing every bad entry."""
    params = cost_parameters()
    out = {name: p.default for name, p in params.items()}
    if overrides is None:
        return out
    if not isinstance(overrides, dict):
        raise IssuesError([Issue(("costs",), "expected a mapping of cost parameter names to "
                                 "values", "e.g. `ecall_cycles: 9000`", short(overrides))])
    issues = []
    for name, value in overrides.items():
        p = params.get(name)
        if p is None:
            issues.append(Issue(("costs", name), f"unknown cost parameter {name!r}",
                                "a cost parameter name (docs/scenarios.md lists them)",
                                repr(name), did_you_mean(str(name), list(params))))
            continue
        try:
            x = float(_COST_PARSERS[p.unit](value))
        except units.UnitError as exc:
            issues.append(Issue(("costs", name), exc.reason, exc.expected + f" (in {p.unit})",
                                exc.found, exc.suggestion))
            continue
        if not math.isfinite(x) or x > 1e15:
            issues.append(Issue(("costs", name), "refused: out of range",
                                f"a finite value in {p.unit}", short(value)))
            continue
        out[name] = x
    if not issues:
        low = out.get("reclaim_low_watermark_pages")
        high = out.get("reclaim_high_watermark_pages")
        if low is not None and high is not None and not low < high:
            issues.append(Issue(("costs", "reclaim_low_watermark_pages"),
                                "the low watermark must be below the high watermark",
                                "reclaim_low_watermark_pages < reclaim_high_watermark_pages",
                                f"{low:g} and {high:g}"))
        if out.get("reclaim_batch_pages", 1) < 1:
            issues.append(Issue(("costs", "reclaim_batch_pages"), "a reclaim batch needs at "
                                "least one page", ">= 1", f"{out['reclaim_batch_pages']:g}"))
    if issues:
        raise IssuesError(issues)
    return out


def _unique(names: list[str], path: tuple[str | int, ...], what: str) -> list[Issue]:
    seen: dict[str, int] = {}
    issues = []
    for i, n in enumerate(names):
        if n in seen:
            issues.append(Issue((*path, i, "name"), f"duplicate {what} name {n!r}",
                                f"unique {what} names", f"{n!r} also at item {seen[n]}"))
        else:
            seen[n] = i
    return issues


def _pattern_repeats(pattern: BaseModel) -> bool:
    kind = getattr(pattern, "kind", "")
    if isinstance(pattern, MixturePattern):
        return any(_pattern_repeats(c.pattern) for c in pattern.components)
    return kind in REPEATING_PATTERNS


def cross_check(scn: Scenario, raw: Any, context: dict[str, Any]) -> Scenario:
    """Check ``scn`` across fields and normalise it in place (see the module docstring);
    raise :class:`IssuesError` with every problem."""
    issues: list[Issue] = []
    setattr_ = object.__setattr__

    # VM sizes (checked and expanded by VmSection itself).
    table, _, _ = build_vm_table(scn.vm)
    selected = list(scn.vm.sizes)
    if scn.vm.clock is not None:
        raw_sim = raw.get("simulation") if isinstance(raw, dict) else None
        if isinstance(raw_sim, dict) and "clock" in raw_sim \
                and raw_sim["clock"] != scn.vm.clock:
            issues.append(Issue(("vm", "clock"), "vm.clock and simulation.clock disagree",
                                "one of them, or the same value",
                                f"{scn.vm.clock!r} and {raw_sim['clock']!r}"))
        setattr_(scn.simulation, "clock", scn.vm.clock)
        setattr_(scn.vm, "clock", None)
    vms = [table[n] for n in selected]

    # Enclaves.
    issues.extend(_unique([e.name for e in scn.enclaves], ("enclaves",), "enclave"))
    for i, enc in enumerate(scn.enclaves):
        path: tuple[str | int, ...] = ("enclaves", i)
        issues.extend(_unique([r.name for r in enc.regions], (*path, "regions"), "region"))
        region_pages = sum(r.size_pages for r in enc.regions if r.location == "enclave")
        if region_pages > enc.size_pages:
            issues.append(Issue((*path, "regions"), "regions do not fit in the enclave",
                                f"the regions' sizes to sum to at most the enclave size "
                                f"({units.format_bytes(enc.size_bytes)})",
                                f"{units.format_bytes(region_pages * units.PAGE_BYTES)} of "
                                "regions"))
    total_bytes = sum(e.size_pages * units.PAGE_BYTES for e in scn.enclaves)
    total_threads = sum(e.threads for e in scn.enclaves)
    too_small = [vm for vm in vms if total_bytes > vm.memory_bytes]
    if too_small:
        names = ", ".join(f"{vm.size} ({vm.memory_gib:g} GiB)" for vm in too_small[:6])
        more = f" and {len(too_small) - 6} more" if len(too_small) > 6 else ""
        issues.append(Issue(("enclaves",), "the enclaves are larger than the memory of "
                            f"{names}{more}",
                            "enclave sizes that fit in every selected VM size's memory "
                            "(drop those sizes from vm.sizes, or shrink the enclaves)",
                            units.format_bytes(total_bytes)))
    crowded = [vm for vm in vms if total_threads > MAX_THREADS_PER_VCPU * vm.vcpus]
    if crowded:
        vm = crowded[0]
        issues.append(Issue(("enclaves",), f"more enclave threads than makes sense on "
                            f"{vm.size} ({vm.vcpus} vCPUs)",
                            f"at most {MAX_THREADS_PER_VCPU} threads per vCPU",
                            f"{total_threads} threads"))

    for i, enc in enumerate(scn.enclaves):
        if enc.runtime in ("gramine", "occlum") and any(r.name == "libos" for r in enc.regions):
            issues.append(Issue(("enclaves", i, "regions"), f"{enc.runtime} adds its own "
                                "region `libos`", "another region name", "libos"))
        if enc.trusted_workers and enc.trusted_workers >= enc.threads:
            issues.append(Issue(("enclaves", i, "trusted_workers"), "trusted workers take a "
                                "TCS each and must leave one for callers",
                                f"fewer than threads ({enc.threads})", str(enc.trusted_workers)))
    workers = sum(e.switchless_workers + e.trusted_workers for e in scn.enclaves)
    starved = [vm for vm in vms if workers and workers >= vm.vcpus]
    if starved and len(starved) == len(vms):  # some sizes only: a note (plan._notes)
        vm = starved[0]
        busiest = max(range(len(scn.enclaves)), key=lambda i: (
            scn.enclaves[i].switchless_workers + scn.enclaves[i].trusted_workers))
        field = "switchless_workers" if scn.enclaves[busiest].switchless_workers \
            else "trusted_workers"
        issues.append(Issue(("enclaves", busiest, field), "switchless workers leave no vCPU "
                            f"for enclave threads on {vm.size} ({vm.vcpus} vCPUs)",
                            f"fewer than {vm.vcpus} switchless_workers + trusted_workers",
                            f"{workers} workers"))

    # Operations.
    ops = scn.workload.operations
    issues.extend(_unique([o.name for o in ops], ("workload", "operations"), "operation"))
    enclaves = {e.name: e for e in scn.enclaves}
    for i, op in enumerate(ops):
        path = ("workload", "operations", i)
        if op.enclave is None:
            if len(scn.enclaves) == 1:
                setattr_(op, "enclave", scn.enclaves[0].name)
            else:
                issues.append(Issue((*path, "enclave"), "which enclave serves this operation?",
                                    "an `enclave:` name (there are several enclaves)",
                                    "no enclave"))
                continue
        served_by = enclaves.get(op.enclave or "")
        if served_by is None:
            issues.append(Issue((*path, "enclave"), "unknown enclave", "one of: " + ", ".join(
                enclaves), repr(op.enclave), did_you_mean(op.enclave or "", list(enclaves))))
            continue
        enc = served_by
        if op.call_mode != "sdk" and op.ocalls > 0 and enc.switchless_workers == 0:
            issues.append(Issue((*path, "call_mode"), f"{op.call_mode} OCALLs need switchless "
                                "workers (the untrusted threads that serve them)",
                                f"enclaves.{enc.name}.switchless_workers > 0, or call_mode: sdk",
                                "0 workers"))
        if op.ecall_mode != "sdk" and op.ecalls > 0 and enc.trusted_workers == 0:
            issues.append(Issue((*path, "ecall_mode"), f"{op.ecall_mode} ECALLs need trusted "
                                "workers", f"enclaves.{enc.name}.trusted_workers > 0",
                                "0 workers"))
        if math.fsum(lk.hold for lk in op.locks) > 1 + 1e-12:
            issues.append(Issue((*path, "locks"), "locks held for more than the whole "
                                "in-enclave time", "hold shares summing to at most 1",
                                f"{math.fsum(lk.hold for lk in op.locks):g}"))
        if op.compute_dist is not None and op.compute_distribution != "fixed":
            issues.append(Issue((*path, "compute_distribution"), "two compute distributions",
                                "either `compute: {dist: ...}` or `compute_distribution`",
                                "both"))
        regions = {r.name: r for r in enc.regions}
        for j, acc in enumerate(op.memory):
            apath = (*path, "memory", j)
            region = regions.get(acc.region)
            if region is None:
                issues.append(Issue((*apath, "region"), f"no region {acc.region!r} in enclave "
                                    f"{enc.name!r}", "one of: " + ", ".join(regions),
                                    repr(acc.region), did_you_mean(acc.region, list(regions))))
                continue
            if not _pattern_repeats(acc.pattern):
                biggest = acc.pages.largest
                mean = acc.pages.mean or 0.0
                if acc.pages.smallest > region.size_pages or mean > region.size_pages or (
                        acc.pages.max is not None and acc.pages.max > region.size_pages):
                    issues.append(Issue((*apath, "pages"), "more distinct pages per operation "
                                        f"than region {region.name!r} has",
                                        f"at most {region.size_pages} pages (or a repeating "
                                        "pattern: sequential, strided, trace)",
                                        f"{biggest:g} pages" if math.isfinite(biggest)
                                        else f"mean {mean:g} pages"))
    total_weight = math.fsum(o.weight for o in ops)
    if not math.isfinite(total_weight) or total_weight <= 0:
        issues.append(Issue(("workload", "operations"), "operation weights do not sum to a "
                            "usable total", "positive weights with a finite sum",
                            f"sum {total_weight}"))

    # Phases.
    phases = scn.workload.phases
    issues.extend(_unique([p.name for p in phases], ("workload", "phases"), "phase"))
    op_names = [o.name for o in ops]
    timed = 0.0
    for i, ph in enumerate(phases):
        path = ("workload", "phases", i)
        if ph.duration_s is None and i != len(phases) - 1:
            issues.append(Issue((*path, "duration"), "only the last phase may omit its "
                                "duration", "a duration such as '5 s'", "none"))
        timed += ph.duration_s or 0.0
        if ph.mix is not None:
            for name in ph.mix:
                if name not in op_names:
                    issues.append(Issue((*path, "mix", name), f"unknown operation {name!r}",
                                        "one of: " + ", ".join(op_names), repr(name),
                                        did_you_mean(name, op_names)))
            total = math.fsum(ph.mix.values())
            if not total > 0 or not math.isfinite(total):
                issues.append(Issue((*path, "mix"), "phase mix weights do not sum to a usable "
                                    "total", "at least one positive weight, finite sum",
                                    f"sum {total}"))
    duration = scn.simulation.duration_s
    if timed > duration * (1 + 1e-12):
        issues.append(Issue(("workload", "phases"), "the phases are longer than the "
                            "simulation", f"phase durations summing to at most "
                            f"simulation.duration ({units.format_time(duration)})",
                            units.format_time(timed)))

    # Simulation.
    if not scn.simulation.warmup_s < duration:
        issues.append(Issue(("simulation", "warmup"), "warm-up must be shorter than the "
                            "duration", f"less than {units.format_time(duration)}",
                            units.format_time(scn.simulation.warmup_s),
                            f"the run is {units.format_time(duration)} and its warm-up "
                            f"{units.format_time(scn.simulation.warmup_s)}: shorten the "
                            "warm-up too (e.g. a fifth of the run), or set only the duration "
                            "with --set and the warm-up keeps its share"))

    # What the model would refuse at run time (only when the rest is sound).
    if not issues:
        issues.extend(feasibility_issues(scn))

    # Sweep (only when the rest is sound: every point re-validates the whole scenario).
    if scn.sweep and not issues:
        issues.extend(_check_sweep(scn, raw, context))
    # Uncertain inputs (only when the rest is sound: each value re-validates the scenario).
    if scn.uncertain and not issues and isinstance(raw, dict):
        from epcsim.scenario.uncertain import resolve_inputs

        issues.extend(resolve_inputs(scn, raw, context)[1])
    if issues:
        raise IssuesError(issues)
    return scn


def _check_sweep(scn: Scenario, raw: Any, context: dict[str, Any]) -> list[Issue]:
    issues: list[Issue] = []
    points = 1
    for values in scn.sweep.values():
        points *= len(values)
    if points > MAX_SWEEP_POINTS:
        issues.append(Issue(("sweep",), "too many sweep points",
                            f"at most {MAX_SWEEP_POINTS} combinations", f"{points}"))
        return issues
    base = copy.deepcopy(raw)
    base.pop("sweep", None)
    for key, values in scn.sweep.items():
        path = ("sweep", key)
        try:
            segments = split_key_path(key)
        except PathError as exc:
            issues.append(Issue(path, exc.message, "a dotted key path", repr(key),
                                exc.suggestion))
            continue
        if segments[0] in ("sweep", "name"):
            issues.append(Issue(path, "cannot sweep over this key", "a scenario field other "
                                "than `name` and `sweep`", repr(key)))
            continue
        seen: dict[str, int] = {}
        normals: dict[str, object] = {}
        same_runs = False
        for n, value in enumerate(values):
            point = copy.deepcopy(base)
            try:
                resolved = set_path(point, segments, copy.deepcopy(value))
            except PathError as exc:
                issues.append(Issue(path, f"sweep over an unknown field: {exc.message}",
                                    "a key path into the scenario", repr(key), exc.suggestion))
                break
            try:
                validated = type(scn).model_validate(point, context=context)
            except ValidationError as exc:
                found = issues_from_validation_error(exc, point, type(scn))
                unknown = [i for i in found if i.message.startswith("unknown key")
                           and resolved[:len(i.path)] == i.path]
                if unknown:
                    issues.append(Issue(path, "sweep over an unknown field",
                                        unknown[0].expected, repr(key), unknown[0].suggestion))
                    break
                first = found[0]
                issues.append(Issue((*path, n), f"sweep value {short(value)} is invalid: "
                                    f"{first.message}", first.expected, first.found,
                                    first.suggestion))
                continue
            fingerprint = run_fingerprint(validated)
            normal = _normalised_value(validated, segments)
            if fingerprint not in seen:
                seen[fingerprint] = n
                normals[fingerprint] = normal
            elif normals[fingerprint] == normal:
                m = seen[fingerprint]
                issues.append(Issue((*path, n), f"duplicate sweep value: {short(value)} is "
                                    f"the same as {short(values[m])} (item {m})",
                                    "distinct values once their units are normalised",
                                    short(value), "remove the duplicate"))
            else:
                same_runs = True
        if same_runs:
            issues.append(Issue(path, f"sweeping {key!r} does not change any run ("
                                f"{', '.join(RUN_INDEPENDENT)} are not part of a run)",
                                "a sweep over fields that change the runs",
                                f"{len(values)} values",
                                "for several SLOs or names, run one study per value with "
                                f"--set {key}=VALUE (stored runs are reused), or use "
                                "`epcsim run --until-ci` for replications"))
    return issues


#: Scenario fields that do not change a run's result (left out of its key, see
#: :mod:`epcsim.scenario.plan`); sweeping over them alone is refused.
RUN_INDEPENDENT = ("name", "description", "slo.*", "simulation.replications",
                   "simulation.max_operations", "uncertain", "uncertainty")


def _normalised_value(scn: Scenario, segments: list[str]) -> object:
    from epcsim.scenario.paths import get_path

    try:
        return get_path(scn.model_dump(mode="json", by_alias=True), segments)
    except PathError:
        return None


def run_fingerprint(scn: Scenario) -> str:
    """Canonical JSON of everything in ``scn`` that decides its runs (the VM selection
    included; the fields in :data:`RUN_INDEPENDENT` left out)."""
    import json

    dumped = scn.model_dump(mode="json", exclude={
        "name": True, "description": True, "slo": True, "sweep": True, "uncertain": True,
        "uncertainty": True, "simulation": {"replications", "max_operations"}})
    return json.dumps(dumped, sort_keys=True, separators=(",", ":"), default=str)
