"""Scenario sections for the platform: VM sizes (catalogue, custom, overrides) and enclaves
with their memory regions.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from epcsim.scenario.fields import (
    MAX_SIZE_BYTES,
    MAX_SWITCHLESS_WORKERS,
    MAX_THREADS,
    GHz,
    GiB,
    ItemName,
    MiB,
    Quantity,
    SizeBytes,
    _Spec,
)
from epcsim.scenario.problems import IssuesError
from epcsim.scenario.vms import build_vm_table, expand_selection
from epcsim.units import PAGE_BYTES


class VmOverride(_Spec):
    """Fields of a VM size to change (catalogue or custom). Every field is optional."""

    series: str | None = Field(None, description="Series name shown in results.")
    vcpus: int | None = Field(None, ge=1, le=1024,
                              description="vCPUs (one physical core each on SGX sizes).")
    memory_gib: GiB | None = Field(None, description="VM memory, GiB (or a size: `16 GiB`).")
    epc_mib: MiB | None = Field(None, description="EPC the guest sees, MiB (or a size: "
                                                  "`168 MiB`, `64 GiB`).")
    cpu_model: str | None = Field(None, description="CPU model, for reports.")
    base_ghz: GHz | None = Field(None, description="Base clock, GHz (or `3.7 GHz`).")
    turbo_ghz: GHz | None = Field(None, description="Turbo clock, GHz (or `5 GHz`).")
    llc_mib: MiB | None = Field(None, description="Last-level cache, MiB (or `16 MiB`).")
    sgx_generation: Literal[1, 2] | None = Field(
        None, description="1: SGX1 (MEE with integrity tree); 2: SGX2 (TME-MK, EDMM).")
    memory_protection: str | None = Field(None, description="Memory protection, for reports.")
    temp_storage_gib: Annotated[float, Quantity("bytes", ge=0, le=1024**2, unit="GiB")] | None \
        = Field(None, description="Temporary disk, GiB.")
    max_data_disks: int | None = Field(None, ge=0, description="Data disks allowed.")
    whole_host: bool | None = Field(None, description="The size takes a whole host.")
    linux_usd_per_hour: float | None = Field(None, ge=0, le=1e6,
                                             description="Price, USD per hour (Linux).")
    price_as_of: str | None = Field(None, description="Date the price was read (ISO).")
    retires_on: str | None = Field(None, description="Retirement date (ISO), if announced.")
    sources: str | None = Field(None, description="Where the figures come from.")
    confidence: str | None = Field(None, description="How far the figures are verified.")

    @field_validator("price_as_of", "retires_on", mode="before")
    @classmethod
    def _date_text(cls, v: object) -> object:
        return v.isoformat() if hasattr(v, "isoformat") else v


class CustomVm(VmOverride):
    """A VM size the scenario defines: an on-premises SGX server or a future series.

    Either give every hardware field, or name a catalogue size in ``based_on`` and give only
    the fields that differ.
    """

    size: ItemName = Field(description="Name of the size (used in `vm.sizes`, results and "
                                        "reports). Must not clash with a catalogue size.")
    based_on: str | None = Field(None, description="Catalogue size whose fields this size "
                                                   "starts from (e.g. `DC4s_v3`).")


VmSelectionItem = Annotated[str, Field(min_length=1, max_length=100)]


def _vm_shorthand(v: object) -> object:
    if isinstance(v, str):
        return {"sizes": [v]}
    if isinstance(v, list):
        return {"sizes": v}
    return v


class VmSection(_Spec):
    """Which VM sizes to evaluate, sizes the scenario adds, and changes to catalogue sizes."""

    sizes: tuple[VmSelectionItem, ...] = Field(
        ("all",), min_length=1,
        description="Sizes to evaluate: size names (`DC4s_v2` or `Standard_DC4s_v2`, any "
                    "case), series names (`DCsv3`), custom size names, or `all` (every "
                    "catalogue and custom size). After validation: the expanded list of "
                    "size names, in the order given, without repeats. A plain list (or one "
                    "name) in place of the `vm` mapping means `sizes`.")
    clock: Literal["base", "turbo"] | None = Field(
        None, description="Same as `simulation.clock` (either place; they must agree). "
                          "After validation this is always empty: read `simulation.clock`.")
    custom: tuple[CustomVm, ...] = Field(
        (), description="VM sizes the scenario defines (same fields as the catalogue: "
                        "`epcsim catalog --json`).")
    overrides: dict[str, VmOverride] = Field(
        default_factory=dict,
        description="Per-size field overrides, keyed by size name, e.g. "
                    "`{DC4s_v2: {linux_usd_per_hour: 0.35}}`.")

    @model_validator(mode="after")
    def _resolve(self) -> VmSection:
        """Check the sizes and expand the selection (errors carry absolute key paths)."""
        table, keymap, issues = build_vm_table(self)
        selected, more = expand_selection(self, table)
        issues.extend(more)
        if issues:
            raise IssuesError(issues)
        object.__setattr__(self, "sizes", tuple(selected))
        object.__setattr__(self, "overrides",
                           {keymap.get(k, k): v for k, v in self.overrides.items()})
        return self


# ---- enclaves ------------------------------------------------------------------------------


class Region(_Spec):
    """A named part of an enclave's address space (heap, table, index, code...)."""

    name: ItemName = Field(description="Region name, unique within its enclave.")
    size_bytes: SizeBytes = Field(alias="size", description="Region size (`64 MiB`). Rounded "
                                  "up to whole 4 KiB pages when laid out.")
    location: Literal["enclave", "untrusted"] = Field(
        "enclave", description="`enclave` (EPC pages) or `untrusted`: host memory the enclave "
                               "reads or writes (not part of the enclave's size, no EPC pages "
                               "or paging, no MEE/TME-MK penalty; LLC misses still cost DRAM "
                               "latency).")

    @property
    def size_pages(self) -> int:
        """Pages of the region (4 KiB each, rounded up)."""
        return -(-self.size_bytes // PAGE_BYTES)


class Enclave(_Spec):
    """One enclave: its committed size, threads, paging mechanism and memory regions."""

    name: ItemName = Field("enclave", description="Enclave name, unique in the scenario.")
    size_bytes: SizeBytes = Field(
        alias="size", description="Committed enclave size (`256 MiB`); at most 1 TiB. Must "
                                  "hold all its regions. Rounded up to whole 4 KiB pages.")
    threads: int = Field(1, ge=1, le=MAX_THREADS,
                         description="TCS count: enclave threads that can run at once.")
    edmm: bool = Field(False, description="SGX2 only: add pages lazily on first touch "
                                          "(EDMM) instead of at build time.")
    paging: Literal["sgx", "eleos"] = Field(
        "sgx", description="`sgx`: the kernel driver's EPC paging (AEX, fault, ELDU, EWB); "
                           "`eleos`: exitless user-level paging (Eleos-style).")
    regions: tuple[Region, ...] = Field(
        (), description="Named regions, laid out one after another from page 0. Default: "
                        "one region `heap` spanning the whole enclave.")
    switchless_workers: int = Field(0, ge=0, le=MAX_SWITCHLESS_WORKERS,
                                    description="Untrusted worker threads serving switchless "
                                                "OCALLs (0: switchless calls are off). Each "
                                                "holds a vCPU while it polls and sleeps when "
                                                "idle, as `runtime` does.")
    trusted_workers: int = Field(0, ge=0, le=MAX_SWITCHLESS_WORKERS,
                                 description="Trusted worker threads (inside the enclave, one "
                                             "TCS each) serving switchless/hotcall ECALLs "
                                             "(`ecall_mode`); they poll holding a vCPU and a "
                                             "TCS and sleep when idle. Must be fewer than "
                                             "`threads`.")
    runtime: Literal["intel-sdk", "open-enclave", "gramine", "occlum"] = Field(
        "intel-sdk", description="SGX runtime, which sets how switchless calls spin, fall "
                                 "back, sleep and wake: `intel-sdk` (spin 20000 PAUSEs, then "
                                 "an ordinary call), `open-enclave` (no spin: ordinary call "
                                 "when every worker is busy), `gramine` (exitless RPC queue "
                                 "for OCALLs; no switchless ECALLs), `occlum` (no switchless "
                                 "calls: switchless modes take the ordinary path). Also "
                                 "sets call costs (Open Enclave's call layer), the library "
                                 "OS's work per system call and its own EPC pages "
                                 "(gramine, occlum): docs/model.md, runtime profiles.")
    lvi_hardening: Literal["none", "control-flow", "full"] = Field(
        "none", description="LVI (CVE-2020-0551) mitigation the enclave was built with: "
                            "multiplies in-enclave compute (x1.27 control-flow, x2.86 full by "
                            "default) and call costs on SGX1 sizes; not charged on Ice Lake "
                            "(SGX2), which is not affected. No runtime ships hardened by "
                            "default.")

    @model_validator(mode="before")
    @classmethod
    def _default_region(cls, data: Any) -> Any:
        if isinstance(data, dict) and "regions" not in data and "size" in data:
            try:
                Quantity("bytes", gt=0, le=MAX_SIZE_BYTES).parse(data["size"])
            except PydanticCustomError:
                return data  # the size's own error says it; no second one for the region
            return {**data, "regions": [{"name": "heap", "size": data["size"]}]}
        return data

    @property
    def size_pages(self) -> int:
        """Committed size in 4 KiB pages (rounded up)."""
        return -(-self.size_bytes // PAGE_BYTES)

    def region_layout(self) -> dict[str, tuple[int, int]]:
        """Region name -> (first page, page count) within the enclave."""
        out: dict[str, tuple[int, int]] = {}
        first = 0
        for r in self.regions:
            out[r.name] = (first, r.size_pages)
            first += r.size_pages
        return out


# ---- workload ------------------------------------------------------------------------------


