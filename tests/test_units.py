"""Quantity parsing and formatting: exact values, prefixes, errors, round trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from epcsim import units
from epcsim.units import (
    PAGE_BYTES,
    UnitError,
    format_bytes,
    format_cycles,
    format_fraction,
    format_frequency,
    format_rate,
    format_time,
    parse_bytes,
    parse_count,
    parse_cycles,
    parse_fraction,
    parse_frequency,
    parse_pages,
    parse_quantity,
    parse_rate,
    parse_time,
)


def test_page_size():
    assert PAGE_BYTES == 4096


@pytest.mark.parametrize(("text", "expected"), [
    ("93 MiB", 93 * 2**20), ("4 KiB", 4096), ("4KiB", 4096), ("2 KB", 2000), ("2 kB", 2000),
    ("1 MB", 10**6), ("1 GB", 10**9), ("1 GiB", 2**30), ("1 TB", 10**12), ("1 TiB", 2**40),
    ("1 PiB", 2**50), ("1 PB", 10**15), ("1.5 KiB", 1536), ("3 pages", 3 * 4096),
    (4096, 4096), ("0 B", 0), ("12 bytes", 12), ("1_000 B", 1000), ("1e3 B", 1000),
])
def test_bytes(text, expected):
    value = parse_bytes(text)
    assert value == expected
    assert isinstance(value, int)


def test_bytes_in_other_unit():
    assert parse_bytes("1 GiB", unit="MiB") == 1024.0
    assert parse_bytes(16, unit="GiB") == 16.0
    assert parse_bytes("512 MiB", unit="GiB") == 0.5


@pytest.mark.parametrize(("text", "expected"), [
    ("2.5 us", 2.5e-6), ("2.5 µs", 2.5e-6), ("2.5 μs", 2.5e-6), ("5 ms", 0.005),
    ("10 s", 10.0), ("3 min", 180.0), ("2 h", 7200.0), ("80 ns", 80e-9), (0.25, 0.25),
    ("1 second", 1.0),
])
def test_time(text, expected):
    assert parse_time(text) == expected


def test_time_in_ns():
    assert parse_time("0.15 us", unit="ns") == 150.0
    assert parse_time(80, unit="ns") == 80.0


@pytest.mark.parametrize(("text", "expected"), [
    ("20000/s", 20000.0), ("20k/s", 20000.0), ("1.2 M/s", 1.2e6), ("500 ops/ms", 500000.0),
    ("60/min", 1.0), ("5 per s", 5.0), (300, 300.0), ("20 k/s", 20000.0), ("3600/h", 1.0),
    ("1G/s", 1e9), ("100 req/s", 100.0),
])
def test_rate(text, expected):
    assert parse_rate(text) == pytest.approx(expected, rel=0, abs=0)


@pytest.mark.parametrize(("text", "expected"), [
    ("3.7 GHz", 3.7e9), ("2800 MHz", 2.8e9), ("250 Hz", 250.0), ("10 kHz", 1e4),
])
def test_frequency(text, expected):
    assert parse_frequency(text) == expected


def test_frequency_in_ghz():
    assert parse_frequency("3700 MHz", unit="GHz") == 3.7
    assert parse_frequency(3.7, unit="GHz") == 3.7


def test_cycles_fraction_pages_count():
    assert parse_cycles("8200 cycles") == 8200.0
    assert parse_cycles("2 Mcycles") == 2e6
    assert parse_cycles(8200) == 8200.0
    assert parse_fraction("99%") == 0.99
    assert parse_fraction(0.25) == 0.25
    assert parse_pages("1 MiB") == 256
    assert parse_pages("10 pages") == 10
    assert parse_pages(7) == 7
    assert parse_count("100k") == 100_000
    assert parse_quantity("4 KiB", "bytes") == 4096


@pytest.mark.parametrize(("func", "text", "reason", "suggestion"), [
    (parse_bytes, "93 Mib", "unknown unit 'Mib'", "did you mean 'MiB'?"),
    (parse_bytes, "93 mb", "unknown unit 'mb'", "'MB' (10^6 bytes) or 'MiB' (2^20 bytes)"),
    (parse_bytes, "5 ms", "unknown unit 'ms' for bytes", "'ms' is a unit of time"),
    (parse_frequency, "3 ghz", "unknown unit 'ghz'", "did you mean 'GHz'?"),
    (parse_time, "3 secs!", "unknown unit", None),
    (parse_bytes, "1.3 KiB", "not a whole number of bytes", None),
    (parse_bytes, "-1 KiB", "negative quantity", None),
    (parse_time, "1e99999 s", "number out of range", None),
    (parse_time, "abc", "no number at the start", None),
    (parse_rate, "20/fortnight", "unknown unit '/fortnight'", None),
    (parse_bytes, True, "true/false", None),
    (parse_bytes, [1], "not a bytes quantity", None),
    (parse_pages, "5 KiB", "not a whole number of 4 KiB pages", None),
    (parse_time, float("inf"), "not a finite number", None),
    (parse_bytes, "9" * 100, "number too long", None),
])
def test_errors_name_kind_found_and_hint(func, text, reason, suggestion):
    with pytest.raises(UnitError) as info:
        func(text)
    err = info.value
    assert reason in str(err)
    assert "expected" in str(err) and "found" in str(err)
    if suggestion:
        assert suggestion in (err.suggestion or "")


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown quantity kind"):
        parse_quantity(1, "furlongs")


def test_formatting_examples():
    assert format_bytes(93 * 2**20) == "93 MiB"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(1000, binary=False) == "1 KB"
    assert format_bytes(1001) == "1001 B"
    assert format_time(2.5e-6) == "2.5 us"
    assert format_time(90.0) == "90 s"
    assert format_time(7200.0) == "2 h"
    assert format_rate(20000.0) == "20k/s"
    assert format_frequency(3.7e9) == "3.7 GHz"
    assert format_fraction(0.99) == "99%"
    assert format_cycles(8200.0) == "8200 cycles"


# ---- round trips: format then parse gives the value back --------------------------------

finite_nonneg = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)


@given(st.integers(min_value=0, max_value=2**50))
def test_bytes_round_trip(n):
    assert parse_bytes(format_bytes(n)) == n
    assert parse_bytes(format_bytes(n, binary=False)) == n


@given(finite_nonneg)
def test_time_round_trip(x):
    assert parse_time(format_time(x)) == x


@given(finite_nonneg)
def test_rate_round_trip(x):
    assert parse_rate(format_rate(x)) == x


@given(finite_nonneg)
def test_frequency_round_trip(x):
    assert parse_frequency(format_frequency(x)) == x


@given(finite_nonneg)
def test_cycles_round_trip(x):
    assert parse_cycles(format_cycles(x)) == x


@given(st.floats(min_value=0, max_value=1, allow_nan=False))
def test_fraction_round_trip(x):
    assert parse_fraction(format_fraction(x)) == x


@given(st.integers(min_value=0, max_value=2**40), st.sampled_from(units.KINDS))
def test_integers_round_trip_every_kind(n, kind):
    if kind == "fraction":
        n = n % 2
    value = float(n) if kind in ("time", "cycles", "rate", "frequency", "fraction") else n
    assert parse_quantity(units.format_quantity(value, kind), kind) == value


@given(st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False),
       st.sampled_from(["ns", "us", "ms", "s", "min", "h"]))
def test_written_time_is_exact(number, unit):
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600}[unit]
    got = parse_time(f"{number} {unit}")
    assert math.isclose(got, float(number) * scale, rel_tol=1e-15, abs_tol=0)
