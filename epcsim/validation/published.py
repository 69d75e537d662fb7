"""Published measurements: the CSV of measured points (``validation/published-measurements.csv``)
and the constants of the measured workloads.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

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
#: Columns of the measurement CSV (the reference file's header).
MEASUREMENT_COLUMNS = ("id", "workload", "hardware", "epc_usable_mib", "x_name", "x_value",
                       "x_unit", "metric", "value", "unit", "source")


@dataclass(frozen=True)
class Measurement:
    """One published data point (a row of the measurement CSV, series fields filled in)."""

    series: str
    x_name: str
    x_value: float
    x_unit: str
    metric: str
    value: float
    unit: str
    workload: str
    hardware: str
    epc_usable_mib: float
    source: str
    line: int


def default_validation_dir() -> Path:
    """``validation/`` in the working folder if present, else next to the package."""
    here = Path("validation")
    if (here / "published-measurements.csv").is_file():
        return here
    return Path(__file__).resolve().parents[2] / "validation"


def load_measurements(path: str | Path) -> list[Measurement]:
    """Read the published-measurements CSV; series-level columns left blank after a series'
    first row are carried down. Raises :class:`EpcsimError` with file:line on bad rows."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EpcsimError(f"{path}: cannot read measurements ({exc})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or tuple(c.strip() for c in rows[0]) != MEASUREMENT_COLUMNS:
        raise EpcsimError(f"{path}:1: expected the header {','.join(MEASUREMENT_COLUMNS)}")
    out: list[Measurement] = []
    carried: dict[str, dict[str, str]] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(MEASUREMENT_COLUMNS):
            raise EpcsimError(f"{path}:{number}: expected {len(MEASUREMENT_COLUMNS)} columns, "
                              f"found {len(row)}")
        rec = dict(zip(MEASUREMENT_COLUMNS, (c.strip() for c in row), strict=True))
        series = rec["id"]
        prev = carried.setdefault(series, {})
        for key in ("workload", "hardware", "source", "epc_usable_mib"):
            if rec[key]:
                prev[key] = rec[key]
            else:
                rec[key] = prev.get(key, "")
        try:
            x_value = float(rec["x_value"])
            value = float(rec["value"])
            epc = float(rec["epc_usable_mib"]) if rec["epc_usable_mib"] else float("nan")
        except ValueError:
            raise EpcsimError(f"{path}:{number}: x_value, value and epc_usable_mib must be "
                              f"numbers (found {rec['x_value']!r}, {rec['value']!r}, "
                              f"{rec['epc_usable_mib']!r})") from None
        out.append(Measurement(series=series, x_name=rec["x_name"], x_value=x_value,
                               x_unit=rec["x_unit"], metric=rec["metric"], value=value,
                               unit=rec["unit"], workload=rec["workload"],
                               hardware=rec["hardware"], epc_usable_mib=epc,
                               source=rec["source"], line=number))
    return out


# -- the hash join as a batch job -----------------------------------------------------------

