"""The study plan: VM sizes x sweep points x replications, each run with a stable key.

A scenario's ``sweep`` maps key paths to lists of values; the study is their cartesian
product (in the order the sweep lists them, the last key varying fastest). Each sweep point
is the scenario with those values written in and validated again, so a swept value is checked
exactly like a written one (``64 MiB`` is parsed, regions must still fit...). For each point,
every selected VM size and every replication is one run.

Seeds: every run of a study uses the scenario's root seed (``simulation.seed``, which may
itself be swept) and its replication number; the model derives its streams with
``numpy.random.SeedSequence(seed, spawn_key=(replication, stream_id))``. The same trace is
therefore seen by every VM size (common random numbers).

``RunPoint.run_key`` is the SHA-256 of a canonical JSON of everything that determines the run's
result: the resolved scenario (sweep applied; without ``name``, ``description``, ``vm``
selection, ``slo``, ``sweep``, ``simulation.replications`` and ``simulation.max_operations``,
which do not change one run),
the VM entry, the replication, the seed and the epcsim version. It is a cache key: equal keys,
equal results. Every file the scenario names (arrival traces, page traces: any field marked
``INPUT_FILE``) enters the key by the SHA-256 of its bytes, in place of its path: editing a
trace reruns the runs that read it, moving it does not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
from dataclasses import dataclass, field
from typing import Any

from epcsim import __version__, units
from epcsim.errors import EpcsimError, ScenarioError
from epcsim.reference.catalog import VmSize
from epcsim.scenario.fields import INPUT_FILE, UNITS_REQUIRED
from epcsim.scenario.paths import PathError, get_path, split_key_path, with_values
from epcsim.scenario.spec import Scenario
from epcsim.scenario.vms import resolve_vm_sizes

#: Most runs one study may plan.
MAX_RUNS = 200_000


@dataclass(frozen=True)
class SweepPoint:
    """One combination of sweep values and the scenario with them applied."""

    index: int
    values: dict[str, object]
    values_normalised: dict[str, object]
    scenario: Scenario


@dataclass(frozen=True)
class RunPoint:
    """One simulation run: a VM size, a sweep point, a replication.

    ``point``: sweep key path -> value as written; ``point_normalised``: the same paths read
    back from the resolved scenario (base units); ``scenario``: the scenario with the sweep
    applied (its ``sweep`` is empty); ``seed``: the root seed; ``run_key``: see the module
    docstring.
    """

    vm: VmSize
    point: dict[str, object]
    point_normalised: dict[str, object]
    scenario: Scenario
    replication: int
    seed: int
    run_key: str
    point_index: int


@dataclass(frozen=True)
class StudyPlan:
    """Every run of a study, in order: sweep point, then VM size, then replication."""

    scenario: Scenario
    points: list[SweepPoint]
    runs: list[RunPoint]
    notes: list[str] = field(default_factory=list)

    @property
    def vm_sizes(self) -> list[str]:
        """Size names evaluated in any sweep point, in first-seen order."""
        return list(dict.fromkeys(r.vm.size for r in self.runs))

    def describe(self) -> str:
        """Human summary for ``epcsim check``: what will run, and how many runs."""
        scn = self.scenario
        n_vm = len(self.vm_sizes)
        reps = {p.scenario.simulation.replications for p in self.points}
        rep_text = str(reps.pop()) if len(reps) == 1 else "varying"
        lines = [f"scenario {scn.name}" + (f": {scn.description.strip().splitlines()[0]}"
                                           if scn.description.strip() else "")]
        lines.append(f"  VM sizes ({n_vm}): {', '.join(self.vm_sizes)}")
        enc = ", ".join(f"{e.name} ({units.format_bytes(e.size_bytes)}, {e.threads} threads)"
                        for e in scn.enclaves)
        lines.append(f"  enclaves: {enc}")
        sim = scn.simulation
        lines.append(f"  simulation: {units.format_time(sim.duration_s)} "
                     f"(warm-up {units.format_time(sim.warmup_s)}), seed {sim.seed}, "
                     f"{sim.clock} clock" + (", with native baseline"
                                             if sim.native_baseline else ""))
        if scn.sweep:
            lines.append(f"  sweep points ({len(self.points)}):")
            for key, values in scn.sweep.items():
                lines.append(f"    {key} = " + " | ".join(_show(v) for v in values))
        lines.append(f"  {n_vm} VM size{'s' if n_vm != 1 else ''} x {len(self.points)} sweep "
                     f"point{'s' if len(self.points) != 1 else ''} x {rep_text} "
                     f"replication{'s' if rep_text != '1' else ''} = {len(self.runs)} runs")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)


def _show(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def input_files(scenario: Any) -> dict[tuple[str | int, ...], str]:
    """Every input file a scenario (or any of its sections) names: field-name path (as in
    ``model_dump()``) -> the absolute path, for the fields marked ``INPUT_FILE``."""
    from pydantic import BaseModel

    found: dict[tuple[str | int, ...], str] = {}

    def walk(obj: Any, at: tuple[str | int, ...]) -> None:
        if isinstance(obj, BaseModel):
            for name, info in type(obj).model_fields.items():
                value = getattr(obj, name)
                if INPUT_FILE in info.metadata and isinstance(value, str):
                    found[(*at, name)] = value
                else:
                    walk(value, (*at, name))
        elif isinstance(obj, list | tuple):
            for i, item in enumerate(obj):
                walk(item, (*at, i))
        elif isinstance(obj, dict):
            for key, item in obj.items():
                walk(item, (*at, key))

    walk(scenario, ())
    return found


_DIGESTS: dict[tuple[str, int, int, int, int], str] = {}


def file_sha256(path: str, where: str = "") -> str:
    """SHA-256 (hex) of a file's bytes; cached per (path, device, inode, size, mtime), so a
    study hashes each input file once. Raises :class:`EpcsimError` if it cannot be read."""
    try:
        st = os.stat(path)
        ident = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        digest = _DIGESTS.get(ident)
        if digest is None:
            with open(path, "rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
            if len(_DIGESTS) > 1024:
                _DIGESTS.clear()
            _DIGESTS[ident] = digest
    except OSError as exc:
        raise EpcsimError(f"{path}: {where + ': ' if where else ''}cannot read the file "
                          f"({exc.strerror or exc})") from None
    return digest


def _key_dump(scenario: Scenario) -> dict[str, Any]:
    """The scenario as it enters run keys: input files replaced by their content digests."""
    dumped = scenario.model_dump(mode="json", exclude={
        "name": True, "description": True, "vm": True, "slo": True, "sweep": True,
        "uncertain": True, "uncertainty": True,
        "simulation": {"replications", "max_operations"}})
    sim = dumped.get("simulation", {})
    if all(sim.get("mechanisms", {}).values()):  # every mechanism on: keys as before them
        sim.pop("mechanisms", None)
    for at, path in input_files(scenario).items():
        node: Any = dumped
        try:
            for part in at[:-1]:
                node = node[part]
        except (KeyError, IndexError, TypeError):  # in a section that is not keyed
            continue
        where = ".".join(str(p) for p in at)
        node[at[-1]] = "sha256:" + file_sha256(path, where)
    return dumped


def run_key(scenario: Scenario, vm: VmSize, replication: int, seed: int) -> str:
    """SHA-256 (hex) of everything that determines one run's result (see module doc)."""
    dumped = _key_dump(scenario)
    payload = {"scenario": dumped, "vm": vm.to_dict(), "replication": replication,
               "seed": seed, "epcsim_version": __version__}
    return hashlib.sha256(_canonical(payload).encode("ascii")).hexdigest()


def apply_point(scenario: Scenario, assignments: dict[str, object]) -> Scenario:
    """The scenario with ``key.path -> value`` assignments written in (as YAML values) and
    validated again; its ``sweep`` is emptied. Raises :class:`ScenarioError` (located by key
    path) when the result is not a valid scenario (e.g. a sizing variant that the chosen VM
    cannot run)."""
    from pydantic import ValidationError

    from epcsim.scenario.problems import issues_from_validation_error, to_problem

    source = scenario.source
    source.pop("sweep", None)
    source.pop("uncertain", None)  # drawn by the sizing, not part of a point
    data = with_values(source, dict(assignments))
    # The assignments are epcsim's own values in base units (sizing variants, draws, sweep
    # values the scenario check already read with their units): bare numbers are meant.
    context = {**scenario.context, UNITS_REQUIRED: False}
    try:
        return Scenario.model_validate(data, context=context)
    except ValidationError as exc:
        issues = issues_from_validation_error(exc, data, Scenario)
        raise ScenarioError([to_problem(i, data, {}, None) for i in issues]) from None


def _normalised(scn: Scenario, key: str) -> object:
    try:
        return get_path(scn.model_dump(mode="json", by_alias=True), split_key_path(key))
    except PathError:
        return None


def _notes(scn: Scenario, vms: list[VmSize]) -> list[str]:
    notes = []
    retired = [vm.size for vm in vms if vm.is_retired()]
    if retired:
        notes.append("retired on their retirement date (modelled anyway): " + ", ".join(
            retired))
    threads = sum(e.threads for e in scn.enclaves)
    fewer = [vm.size for vm in vms if vm.vcpus < threads]
    if fewer:
        notes.append(f"{threads} enclave threads time-share the vCPUs of " + ", ".join(fewer))
    workers = sum(e.switchless_workers + e.trusted_workers for e in scn.enclaves)
    starved = [vm.size for vm in vms if workers and workers >= vm.vcpus]
    if starved:
        notes.append(f"{workers} switchless workers leave no vCPU for enclave threads on "
                     + ", ".join(starved) + ": those runs fail")
    total = sum(e.size_bytes for e in scn.enclaves)
    small = [vm.size for vm in vms if vm.epc_bytes < total]
    if small:
        notes.append(f"the enclaves ({units.format_bytes(total)}) exceed the EPC of "
                     + ", ".join(small) + ": expect EPC paging there")
    if any(e.edmm for e in scn.enclaves):
        sgx1 = [vm.size for vm in vms if vm.sgx_generation == 1]
        if sgx1:
            notes.append("edmm is ignored on SGX1 sizes: " + ", ".join(sgx1))
    arrival = scn.workload.arrival
    rate = getattr(arrival, "rate_per_s", None)
    if rate is not None and rate * scn.simulation.duration_s > 1e7:
        notes.append(f"about {rate * scn.simulation.duration_s:.3g} operations per run: "
                     "expect long runs")
    return notes


def _refuse_infeasible(scn: Scenario, vms: list[VmSize], values: dict[str, object]) -> None:
    """ScenarioError for what the model would refuse on one of ``vms`` (see
    :mod:`epcsim.scenario.feasibility`); problems carry key paths, not files."""
    from epcsim.scenario.feasibility import vm_issues
    from epcsim.scenario.problems import to_problem

    issues = vm_issues(scn, vms)
    if issues:
        point = f" (sweep point {_show(values)})" if values else ""
        raw = scn.source
        problems = [to_problem(i, raw, {}, None) for i in issues]
        raise ScenarioError([dataclasses.replace(p, message=p.message + point)
                             for p in problems])


def plan_study(scenario: Scenario, *, check_sizes: bool = True) -> StudyPlan:
    """Expand the scenario into runs: sweep points (cartesian product) x selected VM sizes x
    replications. Raises :class:`EpcsimError` when the study would exceed :data:`MAX_RUNS`,
    and :class:`ScenarioError` when a selected size cannot run a point (EPC too small for the
    reclaimer, switchless workers taking every vCPU; ``check_sizes=False`` skips this for
    callers that run one size of their own choosing)."""
    keys = list(scenario.sweep)
    combos = list(itertools.product(*(scenario.sweep[k] for k in keys))) if keys else [()]
    points: list[SweepPoint] = []
    runs: list[RunPoint] = []
    notes: dict[str, None] = {}
    keyed: dict[str, int] = {}
    for index, combo in enumerate(combos):
        values = dict(zip(keys, combo, strict=True))
        scn = apply_point(scenario, values) if keys else scenario
        normalised = {k: _normalised(scn, k) for k in keys}
        points.append(SweepPoint(index, values, normalised, scn))
        vms = resolve_vm_sizes(scn)
        if check_sizes:
            _refuse_infeasible(scn, vms, values)
        notes.update(dict.fromkeys(_notes(scn, vms)))
        reps = scn.simulation.replications
        if len(runs) + len(vms) * reps > MAX_RUNS:
            raise EpcsimError(f"study too large: more than {MAX_RUNS} runs (VM sizes x sweep "
                              "points x replications); shrink the sweep or the replications")
        seed = scn.simulation.seed
        for vm in vms:
            for rep in range(reps):
                key = run_key(scn, vm, rep, seed)
                if key in keyed:
                    other = points[keyed[key]].values
                    raise EpcsimError(
                        f"sweep: points {_show(other)} and {_show(values)} resolve to the same "
                        f"run ({vm.size}, replication {rep}); every sweep point must change "
                        "what is simulated (remove one of them)")
                keyed[key] = index
                runs.append(RunPoint(vm=vm, point=values, point_normalised=normalised,
                                     scenario=scn, replication=rep, seed=seed,
                                     run_key=key, point_index=index))
    return StudyPlan(scenario=scenario, points=points, runs=runs, notes=list(notes))
