"""Cost parameters of the SGX model: defaults, plausible ranges and sources, as data.

Every default lives in ``epcsim/reference/data/cost_parameters.csv`` with its unit, a
plausible low and high value (used by sensitivity analysis), the hardware it applies to
(``all``, ``sgx1``, ``sgx2``), its source and a confidence grade (verified, secondary,
derived, fitted, estimate, low). A ``fitted`` default was set by ``epcsim calibrate --corpus``
on the validation corpus's ``fit`` series and also records its standard error and those
series (``fit_std_error``, ``fit_series``).
Values are kept in the unit the name carries: ``*_cycles`` in core cycles, ``*_s`` and
``*_s_per_page`` in seconds, ``*_ns`` in nanoseconds, ``*_hz`` per second, ``*_pages`` and
``count`` as plain numbers. A scenario may override any of them by name (see
:mod:`epcsim.scenario`); nothing else in epcsim hard-codes a cost.

Where the reference gives only a total, the split is written down in the CSV's source column
and in docs/model.md: the ~40,000-cycle EPC page swap (VAULT, ASPLOS 2018; TeeBench,
PVLDB 2022) is split as AEX 5,000 + kernel fault handler 6,000 + ELDU 12,000 + ERESUME 5,000
(the fault path, 28,000) + EWB 12,000 (paid by ksgxd when the page was evicted).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class CostParameter:
    """One cost parameter: default, plausible range, unit and provenance."""

    name: str
    default: float
    unit: str
    low: float
    high: float
    applies_to: str
    source: str
    confidence: str
    description: str
    #: For a default set by ``epcsim calibrate --corpus``: its standard error and the corpus
    #: ``fit`` series it came from (docs/validation.md); None and "" otherwise.
    fit_std_error: float | None = None
    fit_series: str = ""


@cache
def cost_parameters() -> dict[str, CostParameter]:
    """All cost parameters by name, in file order."""
    path = resources.files("epcsim").joinpath("reference/data/cost_parameters.csv")
    text = path.read_text("utf-8")
    out: dict[str, CostParameter] = {}
    for row in csv.DictReader(text.splitlines()):
        out[row["name"]] = CostParameter(
            name=row["name"],
            default=float(row["default"]),
            unit=row["unit"],
            low=float(row["low"]),
            high=float(row["high"]),
            applies_to=row["applies_to"],
            source=row["source"],
            confidence=row["confidence"],
            description=row["description"],
            fit_std_error=float(row["fit_std_error"]) if row.get("fit_std_error") else None,
            fit_series=row.get("fit_series") or "",
        )
    return out


def default_costs() -> dict[str, float]:
    """Name -> default value, in each parameter's own unit."""
    return {name: p.default for name, p in cost_parameters().items()}
