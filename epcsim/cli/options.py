"""Command-line option types: every value a user types is checked here, with a bound.

argparse calls a ``type=`` function on each option's text; the functions below parse the text
and check it against a range, so a bad value ends in argparse's own message
(``epcsim trace: error: argument --seed: expected an integer in 0..2^63-1, found '-1'``) and
exit status 2, before any work starts. No option reaches the model unchecked: a seed below 0,
an EPC of 1e30 bytes, two billion page touches or a metric that is not a number are refused
here rather than deep inside numpy. Long values are echoed shortened
(:func:`epcsim.errors.clip`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from epcsim.errors import clip

#: Largest EPC ``epcsim trace --epc`` accepts: 1 TiB (268,435,456 pages of 4 KiB).
MAX_EPC_PAGES = 2**28
#: Most page touches ``epcsim trace --accesses`` generates (8 bytes each, several arrays).
MAX_TRACE_ACCESSES = 20_000_000
#: Most replications ``--max-replications`` may ask for (the scenario format's own cap).
MAX_REPLICATIONS = 10_000
#: Most local worker processes.
MAX_WORKERS = 256
#: Most model evaluations of one calibration.
MAX_EVALS = 100_000
#: Longest free-text option value (names, key paths).
MAX_TEXT = 200

#: Summary columns that are numbers with a confidence interval (``--ci-metrics``);
#: docs/metrics.md defines each.
CI_METRICS = (
    "throughput_ops_s", "latency_mean_s", "latency_p50_s", "latency_p95_s", "latency_p99_s",
    "latency_max_s", "ops_arrived", "ops_completed", "ops_dropped", "ops_in_system_at_end",
    "mean_in_system", "vcpu_utilisation", "enclave_thread_utilisation", "epc_touches_per_s",
    "epc_faults_per_s", "epc_evictions_per_s", "epc_faults_per_op", "edmm_augments_per_s",
    "ksgxd_batches_per_s", "ksgxd_utilisation", "ipis_per_s", "aex_per_s", "timer_aex_per_s",
    "ipi_aex_per_s", "switchless_fallbacks_per_s", "share_compute", "share_memory",
    "share_transitions", "share_paging", "share_queueing", "enclave_startup_s",
    "native_throughput_ops_s", "native_latency_mean_s", "native_latency_p99_s",
    "native_vcpu_utilisation", "slowdown_vs_native", "throughput_ratio_vs_native",
)


def _bad(expected: str, text: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"expected {expected}, found {clip(repr(text))}")


def _bound_text(n: int) -> str:
    return "2^63-1" if n == 2**63 - 1 else f"{n:,}"


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An integer in ``low..high`` (``1000``, ``1_000``, ``1e6`` when whole)."""
    expected = f"an integer in {_bound_text(low)}..{_bound_text(high)}"

    def parse(text: str) -> int:
        try:
            value = int(text.strip().replace("_", ""))
        except ValueError:
            try:
                x = float(text)
            except ValueError:
                raise _bad(expected, text) from None
            if not x.is_integer():
                raise _bad(expected, text) from None
            value = int(x)
        if not low <= value <= high:
            raise _bad(expected, text)
        return value

    parse.__name__ = "integer"
    return parse


def float_in(low: float, high: float, *, open_low: bool = False) -> Callable[[str], float]:
    """A finite number in ``[low, high]`` (``(low, high]`` with ``open_low``)."""
    expected = f"a number in {'(' if open_low else '['}{low:g}, {high:g}]"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise _bad(expected, text) from None
        if not (low < value if open_low else low <= value) or not value <= high:
            raise _bad(expected, text)
        return value

    parse.__name__ = "number"
    return parse


def fraction_open(text: str) -> float:
    """A fraction strictly between 0 and 1: ``5%`` or ``0.05``."""
    from epcsim.units import UnitError, parse_fraction

    expected = "a fraction in (0, 1) such as 5% or 0.05"
    try:
        value = parse_fraction(text)
    except UnitError:
        raise _bad(expected, text) from None
    if not 0 < value < 1:
        raise _bad(expected, text)
    return value


def epc_pages(text: str) -> int:
    """An EPC size: bytes with a unit (``93MiB``) or pages; 1 page to 1 TiB."""
    from epcsim.units import UnitError, parse_pages

    expected = "an EPC size from 4 KiB to 1 TiB, e.g. 93MiB or 23808 (pages)"
    try:
        pages = parse_pages(text)
    except (UnitError, OverflowError):
        raise _bad(expected, text) from None
    if not 1 <= pages <= MAX_EPC_PAGES:
        raise _bad(expected, text)
    return pages


def ci_metrics(text: str) -> tuple[str, ...]:
    """Comma-separated numeric summary columns (at least one), each in :data:`CI_METRICS`."""
    import difflib

    names = tuple(m.strip() for m in text.split(",") if m.strip())
    if not names:
        raise _bad("at least one summary metric, e.g. throughput_ops_s,latency_p99_s", text)
    for name in names:
        if name not in CI_METRICS:
            close = difflib.get_close_matches(name, CI_METRICS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise argparse.ArgumentTypeError(
                f"{clip(repr(name))} is not a numeric summary metric (expected one of "
                f"docs/metrics.md's numeric columns, e.g. throughput_ops_s, latency_p99_s"
                f"{hint})")
    return names


def text(limit: int = MAX_TEXT) -> Callable[[str], str]:
    """Free text of at most ``limit`` characters, without control characters."""

    def parse(value: str) -> str:
        if len(value) > limit or any(ord(c) < 32 for c in value):
            raise _bad(f"at most {limit} printable characters", value)
        return value

    parse.__name__ = "text"
    return parse
