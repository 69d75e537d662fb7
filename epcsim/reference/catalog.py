"""The VM catalogue: Azure SGX VM sizes as data.

The catalogue is the packaged file ``epcsim/reference/data/vm_sizes.csv``, built from the project's
shared reference ``reference/azure-sgx-vm-sizes.csv`` (Microsoft's DCsv2, DCsv3 and DCdsv3
size pages; prices from a third-party scrape dated in ``price_as_of`` and partly cross-checked,
as the ``confidence`` column says). Every row keeps its ``sources`` and ``confidence``.

One column is not in the shared reference: ``llc_mib``, the last-level cache of the host CPU
(Intel ARK: Xeon E-2288G 16 MB, Xeon Platinum 8370C 48 MB; confidence: vendor spec sheet). The
timing model uses it only when a workload asks epcsim to derive its LLC miss fraction.

Assumptions written down here:
- one vCPU is one physical core (SGX sizes run without hyper-threading);
- ``epc_mib`` is the EPC the guest sees; KVM does not overcommit guest EPC
  (Linux Documentation/arch/x86/sgx.rst, "Virtual EPC"), so all of it belongs to the VM;
- a size is *retired* on and after its ``retires_on`` date (DCsv2: 2026-06-30).

Scenarios may add their own sizes or override fields of these (see :mod:`epcsim.scenario`);
this module only reads the packaged data and answers look-ups.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import difflib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from epcsim.errors import EpcsimError

#: Hours in the month used for monthly prices (Azure's pricing pages use 730).
HOURS_PER_MONTH = 730.0


@dataclass(frozen=True)
class VmSize:
    """One VM size: hardware, SGX capabilities, price and provenance."""

    size: str
    series: str
    vcpus: int
    memory_gib: float
    epc_mib: float
    cpu_model: str
    base_ghz: float
    turbo_ghz: float
    llc_mib: float
    sgx_generation: int
    memory_protection: str
    temp_storage_gib: float
    max_data_disks: int
    whole_host: bool
    linux_usd_per_hour: float
    price_as_of: str
    retires_on: str | None
    sources: str
    confidence: str

    @property
    def epc_bytes(self) -> int:
        return round(self.epc_mib * 1024 * 1024)

    @property
    def memory_bytes(self) -> int:
        return round(self.memory_gib * 1024**3)

    @property
    def usd_per_month(self) -> float:
        return self.linux_usd_per_hour * HOURS_PER_MONTH

    def is_retired(self, as_of: _dt.date | None = None) -> bool:
        """True on and after the retirement date (``as_of`` defaults to today)."""
        if not self.retires_on:
            return False
        day = as_of or _dt.date.today()
        return day >= _dt.date.fromisoformat(self.retires_on)

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _parse_row(row: dict[str, str]) -> VmSize:
    return VmSize(
        size=row["size"],
        series=row["series"],
        vcpus=int(row["vcpus"]),
        memory_gib=float(row["memory_gib"]),
        epc_mib=float(row["epc_mib"]),
        cpu_model=row["cpu_model"],
        base_ghz=float(row["base_ghz"]),
        turbo_ghz=float(row["turbo_ghz"]),
        llc_mib=float(row["llc_mib"]),
        sgx_generation=int(row["sgx_generation"]),
        memory_protection=row["memory_protection"],
        temp_storage_gib=float(row["temp_storage_gib"]),
        max_data_disks=int(row["max_data_disks"]),
        whole_host=row["whole_host"].strip().lower() == "true",
        linux_usd_per_hour=float(row["linux_usd_per_hour"]),
        price_as_of=row["price_as_of"],
        retires_on=row["retires_on"] or None,
        sources=row["sources"],
        confidence=row["confidence"],
    )


@cache
def load_catalog() -> tuple[VmSize, ...]:
    """All packaged VM sizes, in catalogue order (series, then size)."""
    path = resources.files("epcsim").joinpath("reference/data/vm_sizes.csv")
    text = path.read_text(encoding="utf-8")
    return tuple(_parse_row(row) for row in csv.DictReader(text.splitlines()))


def series_names() -> tuple[str, ...]:
    """Series in catalogue order, e.g. ``("DCsv2", "DCsv3", "DCdsv3")``."""
    seen: dict[str, None] = {}
    for vm in load_catalog():
        seen.setdefault(vm.series, None)
    return tuple(seen)


def _norm(name: str) -> str:
    name = name.strip().lower()
    return name[len("standard_") :] if name.startswith("standard_") else name


def canonical_name(name: str, sizes: tuple[VmSize, ...] | None = None) -> str | None:
    """The catalogue spelling of ``name`` (case and the ``Standard_`` prefix are optional)."""
    for vm in sizes if sizes is not None else load_catalog():
        if _norm(vm.size) == _norm(name):
            return vm.size
    return None


def suggest(name: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The closest spelling among ``choices``, or None when nothing is close."""
    by_norm = {_norm(c): c for c in choices}
    close = difflib.get_close_matches(_norm(name), list(by_norm), n=1, cutoff=0.6)
    return by_norm[close[0]] if close else None


def get_vm(name: str) -> VmSize:
    """Look a size up by name; raise :class:`EpcsimError` with a did-you-mean otherwise."""
    canon = canonical_name(name)
    if canon is None:
        names = [vm.size for vm in load_catalog()]
        hint = suggest(name, names)
        extra = f"; did you mean {hint!r}?" if hint else "; `epcsim catalog` lists the sizes"
        raise EpcsimError(f"unknown VM size {name!r}{extra}")
    return next(vm for vm in load_catalog() if vm.size == canon)


def sizes_in_series(series: str) -> tuple[VmSize, ...]:
    """All sizes of one series (case-insensitive)."""
    return tuple(vm for vm in load_catalog() if vm.series.lower() == series.strip().lower())


def successor_series(vm: VmSize) -> tuple[str, ...]:
    """Series a team moves to when ``vm``'s series retires (DCsv2 -> DCsv3 and DCdsv3)."""
    if vm.sgx_generation == 1:
        return ("DCsv3", "DCdsv3")
    return ()
