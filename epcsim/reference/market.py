"""What a buyer can buy and pay: per-region prices and each series' purchase window.

Two packaged files, kept apart from the hardware catalogue (``vm_sizes.csv``) so a price or
a date can change without changing a VM size (whose fields key every stored run):

- ``epcsim/reference/data/vm_prices.csv``: one row per size and Azure region, Linux prices in
  USD per hour for pay-as-you-go and, where Azure publishes one, the 1-year and 3-year
  reservation (the term's total divided by 8,760 h or 26,280 h), with ``price_as_of``,
  ``source`` and ``confidence``. An empty cell means no price was found: that size has no
  price under that pricing, and nothing here fills the gap (no discount rule is applied).
- ``epcsim/reference/data/vm_availability.csv``: one row per series, from Microsoft's
  retirement pages: ``no_new_subscriptions_from`` (from that day Azure admits no new
  subscription to the series: capacity restrictions apply, and a subscription that does not
  already deploy it cannot start), ``retires_on`` (from that day nobody can deploy it) and the
  recommended ``successor_series``.

Assumption written down here: a subscription that already deploys a series may still deploy
more of it until ``retires_on`` (Microsoft's pages restrict *new* subscriptions, subject to
capacity); a new subscription may deploy it only before ``no_new_subscriptions_from``.
"""

from __future__ import annotations

import csv
import datetime as _dt
from dataclasses import dataclass
from functools import cache
from importlib import resources

from epcsim.reference.catalog import VmSize

#: Pricing choices (``slo.pricing``) and the price column each reads.
PRICINGS: dict[str, str] = {
    "payg": "payg_usd_per_hour",
    "reserved-1y": "reserved_1y_usd_per_hour",
    "reserved-3y": "reserved_3y_usd_per_hour",
}
#: Who buys (``slo.subscription``): a subscription that already deploys the series, or a new one.
SUBSCRIPTIONS = ("existing", "new")
DEFAULT_REGION = "eastus"
PRICING_WORDS = {"payg": "pay-as-you-go", "reserved-1y": "1-year reservation",
                 "reserved-3y": "3-year reservation"}


@dataclass(frozen=True)
class Price:
    """The hourly price of one size under one pricing in one region (None: no price known)."""

    usd_per_hour: float | None
    price_as_of: str
    source: str
    confidence: str
    reason: str  # why there is no price ("" when there is one)


@dataclass(frozen=True)
class Availability:
    """Whether a size can be bought for a deployment on a date, and why not."""

    purchasable: bool
    status: str  # "available", "existing subscriptions only", "new subscriptions closed", "retired"
    reason: str


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("epcsim").joinpath(f"reference/data/{name}").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def price_table() -> dict[tuple[str, str], dict[str, str]]:
    """``(size, region) -> row`` of ``vm_prices.csv``."""
    return {(r["size"], r["region"]): r for r in _rows("vm_prices.csv")}


@cache
def regions() -> tuple[str, ...]:
    """Regions with at least one price, in file order."""
    return tuple(dict.fromkeys(region for _, region in price_table()))


@cache
def availability_table() -> dict[str, dict[str, str]]:
    """``series -> row`` of ``vm_availability.csv``."""
    return {r["series"]: r for r in _rows("vm_availability.csv")}


def price_of(vm: VmSize, region: str = DEFAULT_REGION, pricing: str = "payg") -> Price:
    """``vm``'s hourly price. A size the price file does not list at all (a scenario's own
    size) keeps its catalogue price for pay-as-you-go and has no reserved price."""
    table = price_table()
    row = table.get((vm.size, region))
    column = PRICINGS[pricing]
    if row is None:
        if any(size == vm.size for size, _ in table):
            return Price(None, "", "", "", f"no {PRICING_WORDS[pricing]} price for {vm.size} "
                                           f"in {region} (not offered there, or not found)")
        if pricing == "payg":
            return Price(vm.linux_usd_per_hour, vm.price_as_of, vm.sources, vm.confidence, "")
        return Price(None, "", "", "", f"no {PRICING_WORDS[pricing]} price for {vm.size} "
                                       "(a size defined in the scenario)")
    value = row[column].strip()
    if not value:
        return Price(None, row["price_as_of"], row["source"], row["confidence"],
                     f"Azure's {PRICING_WORDS[pricing]} price for {vm.size} in {region} is not "
                     "in epcsim's price data (vm_prices.csv); no price is assumed")
    return Price(float(value), row["price_as_of"], row["source"], row["confidence"], "")


def retires_on(vm: VmSize) -> str | None:
    """The retirement date: the catalogue's, else the series' from ``vm_availability.csv``."""
    row = availability_table().get(vm.series)
    return vm.retires_on or (row["retires_on"] or None if row else None)


def availability(vm: VmSize, as_of: _dt.date, subscription: str = "existing") -> Availability:
    """Whether ``vm`` can be deployed on ``as_of`` by an ``existing`` or a ``new``
    subscription (see the module docstring for the assumption)."""
    row = availability_table().get(vm.series, {})
    retire = retires_on(vm)
    if retire and as_of >= _dt.date.fromisoformat(retire):
        return Availability(False, "retired", f"{vm.series} retired on {retire}")
    closed = row.get("no_new_subscriptions_from") or ""
    if closed and as_of >= _dt.date.fromisoformat(closed):
        if subscription == "new":
            return Availability(False, "new subscriptions closed",
                                f"{vm.series} admits no new subscriptions since {closed}")
        return Availability(True, "existing subscriptions only",
                            f"{vm.series} admits no new subscriptions since {closed} "
                            "(capacity restrictions apply); an existing subscription may deploy "
                            f"it until {retire or 'its retirement'}")
    return Availability(True, "available", "")


def successor_series_of(vm: VmSize) -> tuple[str, ...]:
    """The series Microsoft recommends moving to from ``vm``'s series (may be empty)."""
    row = availability_table().get(vm.series, {})
    return tuple(s for s in (row.get("successor_series") or "").split(";") if s)
