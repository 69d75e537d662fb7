"""Numbers as people read them: one formatting module for the report and the terminal tables.

Every number the report shows (HTML and Markdown) and every number ``epcsim run`` prints in
its headline table goes through these functions, so a throughput, a latency or a price reads
the same everywhere. Each function takes anything (a float, a numpy scalar, None, a string)
and returns text; a missing or non-finite value is written as ``n/a`` (report) or ``-``
(terminal), never as ``nan``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def num(value: Any, digits: int = 3) -> str:
    """A quantity: ``digits`` significant digits, thousands separators from 100 up, scientific
    notation below 1e-3 and from 1e7 up. Non-numbers are returned as text ("" for None)."""
    x = _float(value)
    if x is None:
        return "" if value is None else str(value)
    if not math.isfinite(x):
        return "n/a" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if x != 0 and (abs(x) >= 1e7 or abs(x) < 1e-3):
        return f"{x:.{digits}g}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def ms(seconds: Any) -> str:
    """A duration in seconds, written in milliseconds (the unit goes in the column header)."""
    x = _float(seconds)
    return "" if x is None else num(x * 1e3)


def pct(fraction: Any) -> str:
    """A fraction as a whole percentage: ``0.153`` -> ``15%``."""
    x = _float(fraction)
    if x is None:
        return ""
    return f"{x:.0%}" if math.isfinite(x) else "n/a"


def usd(value: Any) -> str:
    """US dollars: three significant digits below $1, cents below $100, whole dollars above."""
    x = _float(value)
    if x is None:
        return ""
    if not math.isfinite(x):
        return "n/a"
    if x < 1:
        return f"${x:.3g}"
    return f"${x:,.2f}" if x < 100 else f"${x:,.0f}"


def with_ci(row: Mapping[Any, Any], metric: str, fmt: Callable[[Any], str] = num) -> str:
    """``row[metric]`` with its confidence interval ``[low, high]`` when the row has finite
    ``<metric>_ci_low`` and ``<metric>_ci_high``: ``9,880 [9,650, 10,110]``."""
    text = fmt(row.get(metric))
    lo, hi = _float(row.get(f"{metric}_ci_low")), _float(row.get(f"{metric}_ci_high"))
    if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
        text += f" [{fmt(lo)}, {fmt(hi)}]"
    return text


# --------------------------------------------------------------------------- terminal style


def compact(value: Any, digits: int = 3) -> str:
    """A terminal number: whole with separators from ``10**digits`` up, else ``digits``
    significant digits; ``-`` when missing."""
    x = _float(value)
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:,.0f}" if abs(x) >= 10 ** digits else f"{x:.{digits}g}"


def duration(seconds: Any) -> str:
    """A latency with a readable unit: ``1.16e-05`` -> ``11.6 us``; ``-`` when missing."""
    x = _float(seconds)
    if x is None or not math.isfinite(x):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x / 1e-9:.3g} ns"


def plus_minus(row: Mapping[Any, Any], metric: str,
               fmt: Callable[[Any], str] = compact) -> str:
    """Mean and its 95% half-width relative to the mean: ``11.6 us ±0.7%``."""
    mean = _float(row.get(metric))
    text = fmt(mean)
    low = _float(row.get(f"{metric}_ci_low"))
    if (mean is not None and low is not None and math.isfinite(low) and math.isfinite(mean)
            and mean):
        text += f" ±{abs(mean - low) / abs(mean):.1%}"
    return text
