"""Which VM sizes a scenario evaluates: catalogue sizes, the scenario's own, and overrides.

A scenario's ``vm`` section selects sizes by name (``DC4s_v2``, ``Standard_DC4s_v2``, any
case), by series (``DCsv3``) or ``all``; it may define its own sizes (``custom``: an
on-premises server, a future series; optionally ``based_on`` a catalogue size) and override
fields of any size (``overrides``: a negotiated price, a different EPC). This module builds
the table of sizes (catalogue + custom, overrides applied) and expands the selection.
Assumption: a custom size's missing ``turbo_ghz`` equals its ``base_ghz``, and its memory
protection follows its SGX generation unless given.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from epcsim.reference.catalog import VmSize, load_catalog, series_names
from epcsim.scenario.problems import Issue, did_you_mean

if TYPE_CHECKING:
    from epcsim.scenario.spec import Scenario, VmSection

def _norm(name: str) -> str:
    """Case- and ``Standard_``-insensitive spelling of a size name."""
    name = name.strip().lower()
    return name[len("standard_"):] if name.startswith("standard_") else name


_REQUIRED_CUSTOM = ("vcpus", "memory_gib", "epc_mib", "base_ghz", "llc_mib", "sgx_generation",
                    "linux_usd_per_hour")
_OVERRIDE_FIELDS = tuple(f.name for f in dataclasses.fields(VmSize) if f.name != "size")


def _apply(vm: VmSize, fields: dict[str, Any]) -> VmSize:
    changes = {k: v for k, v in fields.items() if v is not None and k in _OVERRIDE_FIELDS}
    return dataclasses.replace(vm, **changes) if changes else vm


def _check_vm(vm: VmSize, path: tuple[str | int, ...]) -> list[Issue]:
    issues = []
    if vm.epc_mib * 1024**2 > vm.memory_gib * 1024**3:
        issues.append(Issue(path, f"size {vm.size}: EPC larger than the VM's memory",
                            "epc_mib <= memory_gib x 1024",
                            f"epc_mib {vm.epc_mib:g}, memory_gib {vm.memory_gib:g}"))
    if vm.turbo_ghz < vm.base_ghz:
        issues.append(Issue(path, f"size {vm.size}: turbo clock below the base clock",
                            "turbo_ghz >= base_ghz",
                            f"base_ghz {vm.base_ghz:g}, turbo_ghz {vm.turbo_ghz:g}"))
    return issues


def build_vm_table(section: VmSection) -> tuple[dict[str, VmSize], dict[str, str], list[Issue]]:
    """(size name -> VmSize with overrides applied, override key -> size name, issues).

    A custom size that has problems is left out of the table (its problems are reported).
    """
    issues: list[Issue] = []
    table: dict[str, VmSize] = {vm.size: vm for vm in load_catalog()}
    by_norm = {_norm(name): name for name in table}
    for i, custom in enumerate(section.custom):
        path: tuple[str | int, ...] = ("vm", "custom", i)
        fields = custom.model_dump(exclude={"size", "based_on"})
        if _norm(custom.size) in by_norm:
            issues.append(Issue((*path, "size"), f"custom size {custom.size!r} clashes with "
                                f"{by_norm[_norm(custom.size)]!r}",
                                "a new name (use `overrides` to change an existing size)",
                                repr(custom.size)))
            continue
        if custom.based_on is not None:
            base_name = by_norm.get(_norm(custom.based_on))
            if base_name is None or base_name not in {v.size for v in load_catalog()}:
                issues.append(Issue((*path, "based_on"), "unknown VM size",
                                    "a catalogue size (`epcsim catalog`)", repr(custom.based_on),
                                    did_you_mean(custom.based_on, [
                                        v.size.removeprefix("Standard_")
                                        for v in load_catalog()])))
                continue
            base = table[base_name]
            vm = dataclasses.replace(base, size=custom.size, sources=f"scenario, based on "
                                     f"{base.size}", confidence="user-supplied")
            vm = _apply(vm, fields)
        else:
            missing = [k for k in _REQUIRED_CUSTOM if fields.get(k) is None]
            if missing:
                for k in missing:
                    issues.append(Issue((*path, k), f"missing required key {k!r} for a custom "
                                        "size", "every hardware field, or `based_on` a "
                                        "catalogue size"))
                continue
            gen = int(fields["sgx_generation"])
            vm = VmSize(
                size=custom.size, series=fields.get("series") or "custom",
                vcpus=int(fields["vcpus"]), memory_gib=float(fields["memory_gib"]),
                epc_mib=float(fields["epc_mib"]), cpu_model=fields.get("cpu_model") or "custom",
                base_ghz=float(fields["base_ghz"]),
                turbo_ghz=float(fields.get("turbo_ghz") or fields["base_ghz"]),
                llc_mib=float(fields["llc_mib"]), sgx_generation=gen,
                memory_protection=fields.get("memory_protection") or (
                    "MEE (integrity tree)" if gen == 1 else "TME-MK (no integrity tree)"),
                temp_storage_gib=float(fields.get("temp_storage_gib") or 0.0),
                max_data_disks=int(fields.get("max_data_disks") or 0),
                whole_host=bool(fields.get("whole_host") or False),
                linux_usd_per_hour=float(fields["linux_usd_per_hour"]),
                price_as_of=fields.get("price_as_of") or "",
                retires_on=fields.get("retires_on"),
                sources=fields.get("sources") or "scenario", confidence=fields.get(
                    "confidence") or "user-supplied")
        if _norm(custom.size) in by_norm:
            issues.append(Issue((*path, "size"), f"custom size {custom.size!r} defined twice",
                                "unique names", repr(custom.size)))
            continue
        issues.extend(_check_vm(vm, path))
        table[vm.size] = vm
        by_norm[_norm(vm.size)] = vm.size
    keymap: dict[str, str] = {}
    for key, override in section.overrides.items():
        name = by_norm.get(_norm(key))
        if name is None:
            issues.append(Issue(("vm", "overrides", key), "override for an unknown VM size",
                                "a catalogue or custom size name", repr(key),
                                did_you_mean(key, [n.removeprefix("Standard_")
                                                   for n in table])))
            continue
        keymap[key] = name
        table[name] = _apply(table[name], override.model_dump())
        issues.extend(_check_vm(table[name], ("vm", "overrides", key)))
    return table, keymap, issues


def expand_selection(section: VmSection,
                     table: dict[str, VmSize]) -> tuple[list[str], list[Issue]]:
    """Size names selected by ``section.sizes`` (in order, without repeats) and issues."""
    by_norm = {_norm(name): name for name in table}
    broken = {_norm(c.size) for c in section.custom} - set(by_norm)
    series = {s.lower(): s for s in series_names()}
    for vm in table.values():
        series.setdefault(vm.series.lower(), vm.series)
    out: dict[str, None] = {}
    issues: list[Issue] = []
    for i, token in enumerate(section.sizes):
        t = token.strip()
        if t.lower() == "all":
            out.update(dict.fromkeys(table))
        elif _norm(t) in by_norm:
            out[by_norm[_norm(t)]] = None
        elif _norm(t) in broken:
            continue  # a custom size with its own problems, reported already
        elif t.lower() in series:
            out.update(dict.fromkeys(n for n, vm in table.items()
                                     if vm.series.lower() == t.lower()))
        else:
            choices = [n.removeprefix("Standard_") for n in table] + [*series.values(), "all"]
            issues.append(Issue(("vm", "sizes", i), "unknown VM size or series",
                                "a size (`DC4s_v2`), a series (`DCsv3`), a custom size or "
                                "`all` (`epcsim catalog` lists them)", repr(token),
                                did_you_mean(t, choices)))
    return list(out), issues


def resolve_vm_sizes(scenario: Scenario) -> list[VmSize]:
    """The VM sizes a (validated) scenario evaluates, in order: catalogue entries with the
    scenario's overrides applied, and its custom sizes."""
    table, _, _ = build_vm_table(scenario.vm)
    return [table[name] for name in scenario.vm.sizes]
