"""Quantities with units, as people write them, and their base units.

Scenario files say ``93 MiB``, ``4 KiB``, ``8200 cycles``, ``2.5 us``, ``20000/s``, ``20k/s``,
``3.7 GHz``, ``99%``. This module turns such text into numbers in epcsim's base units and back:

========== ============================================ ===========================
kind       accepted units                               base unit (result type)
========== ============================================ ===========================
bytes      B, KB, MB, GB, TB, PB (powers of 1000);      bytes (int)
           KiB, MiB, GiB, TiB, PiB (powers of 1024);
           page/pages (4 KiB)
time       ns, us, µs, ms, s, min, h (and spelled-out)  seconds (float)
cycles     cycles, kcycles, Mcycles, Gcycles            core cycles (float)
rate       N/s, N/ms, N/us, N/min, N/h, with an optional per second (float)
           k/M/G multiplier (``20k/s``, ``1.2 M/s``)
           and an optional ``ops``/``req`` word
frequency  Hz, kHz, MHz, GHz                            Hz (float)
fraction   a plain number or ``N%``                     fraction (float)
pages      a plain integer, ``N pages``, or a byte size pages (int)
           that is a whole number of 4 KiB pages
count      a plain integer, optionally with k/M/G       count (int)
========== ============================================ ===========================

Assumptions: a bare number is already in the base unit (bytes, seconds, cycles, per second,
Hz, pages); decimal prefixes are powers of 1000 and binary prefixes powers of 1024, never
mixed up; a byte size must be a whole number of bytes and a page count a whole number of
pages (nothing is rounded silently). Arithmetic is exact: the number is read as a
:class:`fractions.Fraction`, scaled exactly and rounded once, so ``format`` then ``parse`` gives
the same float back. Unit names are case-sensitive where case carries meaning (``MB`` is not
``Mb``); near misses (``Mib``, ``mb``, ``ghz``) are refused with a suggestion.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from fractions import Fraction

#: Bytes in one EPC page (SGX pages are 4 KiB).
PAGE_BYTES = 4096

#: Largest exponent accepted in a written number (``1e400``); bigger ones are refused
#: before any big-integer arithmetic is attempted.
_MAX_EXPONENT = 400
#: Longest number text accepted (digits, sign, point, exponent).
_MAX_NUMBER_CHARS = 60

KINDS = ("bytes", "time", "cycles", "rate", "frequency", "fraction", "pages", "count")

_BYTES_UNITS: dict[str, int] = {
    "B": 1, "byte": 1, "bytes": 1,
    "KB": 1000, "kB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4, "PB": 1000**5,
    "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4, "PiB": 1024**5,
    "page": PAGE_BYTES, "pages": PAGE_BYTES,
}
_TIME_UNITS: dict[str, Fraction] = {
    "ns": Fraction(1, 10**9), "nsec": Fraction(1, 10**9), "nanoseconds": Fraction(1, 10**9),
    "us": Fraction(1, 10**6), "µs": Fraction(1, 10**6), "μs": Fraction(1, 10**6),
    "usec": Fraction(1, 10**6), "microseconds": Fraction(1, 10**6),
    "ms": Fraction(1, 10**3), "msec": Fraction(1, 10**3), "milliseconds": Fraction(1, 10**3),
    "s": Fraction(1), "sec": Fraction(1), "secs": Fraction(1), "second": Fraction(1),
    "seconds": Fraction(1),
    "min": Fraction(60), "minute": Fraction(60), "minutes": Fraction(60),
    "h": Fraction(3600), "hour": Fraction(3600), "hours": Fraction(3600),
}
_CYCLES_UNITS: dict[str, int] = {
    "cycle": 1, "cycles": 1, "kcycles": 1000, "Mcycles": 10**6, "Gcycles": 10**9,
}
_FREQ_UNITS: dict[str, int] = {"Hz": 1, "kHz": 1000, "MHz": 10**6, "GHz": 10**9}
_MULTIPLIERS: dict[str, int] = {"": 1, "k": 1000, "K": 1000, "M": 10**6, "G": 10**9}
_RATE_PER: dict[str, Fraction] = {
    k: v for k, v in _TIME_UNITS.items() if k in {"ns", "us", "µs", "μs", "ms", "s", "sec",
                                                   "second", "min", "minute", "h", "hour"}
}
_RATE_WORDS = ("ops", "op", "req", "requests", "calls", "events", "")

_NUMBER = r"[+-]?(?:\d+(?:_\d+)*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY_RE = re.compile(rf"^\s*({_NUMBER})\s*(.*?)\s*$")
_RATE_RE = re.compile(
    rf"^\s*({_NUMBER})\s*([kKMG]?)\s*(?:({'|'.join(w for w in _RATE_WORDS if w)})\s*)?"
    r"(?:/|\bper\s+)\s*(\S+)\s*$"
)

_UNITS_BY_KIND: dict[str, tuple[str, ...]] = {
    "bytes": tuple(_BYTES_UNITS),
    "time": tuple(_TIME_UNITS),
    "cycles": tuple(_CYCLES_UNITS),
    "rate": tuple(f"/{u}" for u in _RATE_PER),
    "frequency": tuple(_FREQ_UNITS),
    "fraction": ("%",),
    "pages": ("page", "pages", *_BYTES_UNITS),
    "count": ("k", "M", "G"),
}

_EXAMPLES: dict[str, str] = {
    "bytes": "a size such as 4096, '4 KiB', '93 MiB' or '2 GB'",
    "time": "a time such as 0.001, '2.5 us', '5 ms' or '10 s'",
    "cycles": "a cycle count such as 8200 or '8200 cycles'",
    "rate": "a rate such as 20000, '20000/s', '20k/s' or '1.2 M/s'",
    "frequency": "a frequency such as '3.7 GHz' or '2800 MHz'",
    "fraction": "a fraction such as 0.25 or '25%'",
    "pages": "a page count such as 256, '256 pages' or '1 MiB' (4 KiB pages)",
    "count": "a whole number such as 100000 or '100k'",
}


@dataclass
class UnitError(ValueError):
    """A quantity that could not be read: what kind was expected, the text found, a hint."""

    kind: str
    found: str
    reason: str
    suggestion: str | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    @property
    def expected(self) -> str:
        return _EXAMPLES.get(self.kind, self.kind)

    def __str__(self) -> str:
        text = f"{self.reason} (expected {self.expected}, found {self.found})"
        return f"{text}; {self.suggestion}" if self.suggestion else text


def _found(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unit_suggestion(unit: str, kind: str) -> str | None:
    """A did-you-mean for a misspelt unit, across all kinds so `5 ms` as bytes is explained."""
    own = _UNITS_BY_KIND[kind]
    folded = {u.casefold(): u for u in own}
    if unit.casefold() in folded:
        match = folded[unit.casefold()]
        if kind == "bytes" and unit.casefold() in {"mb", "gb", "tb", "kb", "pb"}:
            binary = match[0] + "iB"
            return (f"did you mean {match!r} (10^{3 * 'KMGTP'.index(match[0].upper()) + 3} "
                    f"bytes) or {binary!r} (2^{10 * ('KMGTP'.index(match[0].upper()) + 1)} "
                    f"bytes)? units are case-sensitive")
        return f"did you mean {match!r}? units are case-sensitive"
    close = difflib.get_close_matches(unit, own, n=1, cutoff=0.6)
    if not close:
        close = [folded[c] for c in difflib.get_close_matches(unit.casefold(), list(folded),
                                                                n=1, cutoff=0.6)]
    if close:
        return f"did you mean {close[0]!r}?"
    for other, units in _UNITS_BY_KIND.items():
        if other != kind and other != "pages" and unit in units:
            return f"{unit!r} is a unit of {other}, not of {kind}"
    return None


def _read_number(text: str, kind: str, found: object) -> Fraction:
    if len(text) > _MAX_NUMBER_CHARS:
        raise UnitError(kind, _found(found), "number too long")
    m = re.search(r"[eE]([+-]?\d+)$", text)
    if m and abs(int(m.group(1))) > _MAX_EXPONENT:
        raise UnitError(kind, _found(found), "number out of range")
    return Fraction(text.replace("_", ""))


def _number_of(value: object, kind: str) -> Fraction | None:
    """A bare YAML number as a Fraction, or None when ``value`` is not a number."""
    if isinstance(value, bool):
        raise UnitError(kind, _found(value), "a true/false value is not a quantity")
    if isinstance(value, int):
        if value.bit_length() > 1100:
            raise UnitError(kind, _found(value), "number out of range")
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnitError(kind, _found(value), "not a finite number")
        return Fraction(value)
    return None


def _float(x: Fraction, kind: str, value: object) -> float:
    """``float(x)``, refusing values beyond the float range with a UnitError."""
    try:
        return float(x)
    except OverflowError:
        raise UnitError(kind, _found(value), "number out of range") from None


def _split(value: object, kind: str) -> tuple[Fraction, str]:
    """(number, unit text) of a quantity; a bare number has unit ''."""
    number = _number_of(value, kind)
    if number is not None:
        return number, ""
    if not isinstance(value, str):
        raise UnitError(kind, _found(value), f"not a {kind} quantity")
    m = _QUANTITY_RE.match(value)
    if not m:
        raise UnitError(kind, _found(value), "no number at the start")
    return _read_number(m.group(1), kind, value), m.group(2)


def _unknown_unit(value: object, unit: str, kind: str) -> UnitError:
    return UnitError(kind, _found(value), f"unknown unit {unit!r} for {kind}",
                     _unit_suggestion(unit, kind))


def _require_nonnegative(x: Fraction, value: object, kind: str) -> None:
    if x < 0:
        raise UnitError(kind, _found(value), "negative quantity")


def _in_unit(x: Fraction, unit: str, table: dict[str, int] | dict[str, Fraction],
             kind: str) -> Fraction:
    if unit not in table:
        raise ValueError(f"unknown {kind} unit {unit!r}")
    return x / table[unit]


def parse_bytes(value: object, unit: str = "B") -> int | float:
    """A size. ``93 MiB`` -> 97517568; ``2 KB`` -> 2000; ``2 pages`` -> 8192.

    With the default ``unit="B"`` the result is a whole number of bytes (int). With another
    unit (``"MiB"``, ``"GiB"``...) a bare number is taken in that unit and the result is a
    float in that unit (``parse_bytes("1 GiB", unit="MiB") == 1024.0``).
    """
    x, written = _split(value, "bytes")
    if written:
        if written not in _BYTES_UNITS:
            raise _unknown_unit(value, written, "bytes")
        x *= _BYTES_UNITS[written]
    elif unit != "B":
        x *= _BYTES_UNITS[unit]
    _require_nonnegative(x, value, "bytes")
    if unit != "B":
        return _float(_in_unit(x, unit, _BYTES_UNITS, "bytes"), "bytes", value)
    if x.denominator != 1:
        raise UnitError("bytes", _found(value), "not a whole number of bytes")
    return int(x)


def _parse_scaled(value: object, unit: str, table: dict[str, int] | dict[str, Fraction],
                  kind: str) -> float:
    """A quantity whose units scale one base unit (``table``: unit name -> base units); a
    bare number is in ``unit``; returned in ``unit``."""
    x, written = _split(value, kind)
    if written:
        if written not in table:
            raise _unknown_unit(value, written, kind)
        x *= table[written]
    else:
        x *= table[unit]
    _require_nonnegative(x, value, kind)
    return _float(_in_unit(x, unit, table, kind), kind, value)


def parse_time(value: object, unit: str = "s") -> float:
    """A duration (float), in seconds by default. ``2.5 us`` -> 2.5e-06; a bare number is in
    ``unit`` (``parse_time("0.15 us", unit="ns") == 150.0``)."""
    return _parse_scaled(value, unit, _TIME_UNITS, "time")


def parse_cycles(value: object) -> float:
    """Core cycles (float). ``8200 cycles`` -> 8200.0; a bare number is cycles."""
    x, unit = _split(value, "cycles")
    if unit:
        if unit not in _CYCLES_UNITS:
            raise _unknown_unit(value, unit, "cycles")
        x *= _CYCLES_UNITS[unit]
    _require_nonnegative(x, value, "cycles")
    return _float(x, "cycles", value)


def parse_rate(value: object) -> float:
    """Events per second (float). ``20000/s``, ``20k/s``, ``1.2 M/s``, ``500 ops/ms``."""
    number = _number_of(value, "rate")
    if number is None:
        if not isinstance(value, str):
            raise UnitError("rate", _found(value), "not a rate")
        m = _RATE_RE.match(value)
        if not m:
            plain = _QUANTITY_RE.match(value)
            if plain and plain.group(2) in ("", "Hz"):
                number = _read_number(plain.group(1), "rate", value)
            elif plain and plain.group(2) in _MULTIPLIERS:
                number = _read_number(plain.group(1), "rate", value) * _MULTIPLIERS[
                    plain.group(2)]
            else:
                raise UnitError("rate", _found(value), "not a rate",
                                "write it as a number per time unit, e.g. '20000/s'")
        else:
            per = m.group(4)
            if per not in _RATE_PER:
                raise _unknown_unit(value, "/" + per, "rate")
            number = (_read_number(m.group(1), "rate", value) * _MULTIPLIERS[m.group(2)]
                      / _RATE_PER[per])
    _require_nonnegative(number, value, "rate")
    return _float(number, "rate", value)


def parse_frequency(value: object, unit: str = "Hz") -> float:
    """A frequency (float), in Hz by default. ``3.7 GHz`` -> 3.7e9; a bare number is in
    ``unit`` (``parse_frequency("3700 MHz", unit="GHz") == 3.7``)."""
    return _parse_scaled(value, unit, _FREQ_UNITS, "frequency")


def parse_fraction(value: object) -> float:
    """A fraction (float). ``25%`` -> 0.25; a bare number is taken as is (range checked by
    the caller)."""
    x, unit = _split(value, "fraction")
    if unit:
        if unit != "%":
            raise _unknown_unit(value, unit, "fraction")
        x /= 100
    return _float(x, "fraction", value)


def parse_pages(value: object) -> int:
    """A number of 4 KiB pages (int). ``256``, ``256 pages``, ``1 MiB`` -> 256."""
    x, unit = _split(value, "pages")
    if unit in ("", "page", "pages"):
        _require_nonnegative(x, value, "pages")
        if x.denominator != 1:
            raise UnitError("pages", _found(value), "not a whole number of pages")
        return int(x)
    if unit not in _BYTES_UNITS:
        raise _unknown_unit(value, unit, "pages")
    nbytes = x * _BYTES_UNITS[unit]
    _require_nonnegative(nbytes, value, "pages")
    if nbytes % PAGE_BYTES != 0:
        raise UnitError("pages", _found(value), "not a whole number of 4 KiB pages")
    return int(nbytes // PAGE_BYTES)


def parse_count(value: object) -> int:
    """A whole count (int). ``100000`` or ``100k``."""
    x, unit = _split(value, "count")
    if unit:
        if unit not in ("k", "K", "M", "G"):
            raise _unknown_unit(value, unit, "count")
        x *= _MULTIPLIERS[unit]
    _require_nonnegative(x, value, "count")
    if x.denominator != 1:
        raise UnitError("count", _found(value), "not a whole number")
    return int(x)


_PARSERS = {
    "bytes": parse_bytes, "time": parse_time, "cycles": parse_cycles, "rate": parse_rate,
    "frequency": parse_frequency, "fraction": parse_fraction, "pages": parse_pages,
    "count": parse_count,
}


def parse_quantity(value: object, kind: str) -> float | int:
    """Parse ``value`` as a quantity of ``kind`` (one of :data:`KINDS`) into base units."""
    try:
        parser = _PARSERS[kind]
    except KeyError:
        raise ValueError(f"unknown quantity kind {kind!r}; known: {', '.join(KINDS)}") from None
    return parser(value)


# ---- formatting ------------------------------------------------------------------------


def _fmt_number(x: Fraction) -> str:
    if x.denominator == 1:
        return str(x.numerator)
    f = float(x)
    if f.is_integer() and abs(f) < 1e15:
        return str(int(f))
    return repr(f)


def _format_scaled(value: float | int, units: list[tuple[str, Fraction]], kind: str,
                   sep: str = " ") -> str:
    """Largest unit whose scaled number reads back exactly; falls back to the base unit."""
    exact = Fraction(value)
    parse = _PARSERS[kind]
    for name, scale in units:
        if abs(exact) < scale and name != units[-1][0]:
            continue
        scaled = exact / scale
        text = f"{_fmt_number(scaled)}{sep}{name}"
        if scaled.denominator != 1:
            # The float of the scaled value must read back to the same number.
            try:
                if parse(text) != value:
                    continue
            except UnitError:
                continue
        elif len(str(scaled.numerator)) > 18:
            continue
        return text
    base = [name for name, scale in units if scale == 1]
    return f"{value!r}{sep}{base[0]}" if base else repr(value)


def format_bytes(size_bytes: int, binary: bool = True) -> str:
    """``97517568`` -> ``'93 MiB'``; exact (falls back to a smaller unit, then ``B``)."""
    names = ("PiB", "TiB", "GiB", "MiB", "KiB") if binary else ("PB", "TB", "GB", "MB", "KB")
    units = [(n, Fraction(_BYTES_UNITS[n])) for n in names] + [("B", Fraction(1))]
    exact = Fraction(size_bytes)
    for name, scale in units:
        q = exact / scale
        if abs(exact) >= scale and (q.denominator == 1 or q.denominator in (2, 4, 5, 8, 10)):
            return f"{_fmt_number(q)} {name}"
    return f"{size_bytes} B"


def format_time(seconds: float) -> str:
    """``2.5e-06`` -> ``'2.5 us'``; reads back to the same float with :func:`parse_time`."""
    units = [(n, _TIME_UNITS[n]) for n in ("h", "min", "s", "ms", "us", "ns")]
    if seconds == 0:
        return "0 s"
    # Prefer h/min only for whole numbers of them.
    for name, scale in units[:2]:
        q = Fraction(seconds) / scale
        if abs(q) >= 1 and q.denominator == 1:
            return f"{q.numerator} {name}"
    return _format_scaled(seconds, units[2:], "time")


def format_cycles(cycles: float) -> str:
    """``8200.0`` -> ``'8200 cycles'``."""
    return _format_scaled(cycles, [("cycles", Fraction(1))], "cycles")


def format_rate(per_s: float) -> str:
    """``20000.0`` -> ``'20k/s'``; ``1.2e6`` -> ``'1.2M/s'``."""
    for name in ("G", "M", "k"):
        scale = _MULTIPLIERS[name]
        if abs(per_s) >= scale:
            text = f"{_fmt_number(Fraction(per_s) / scale)}{name}/s"
            if parse_rate(text) == per_s:
                return text
    text = f"{_fmt_number(Fraction(per_s))}/s"
    return text if parse_rate(text) == per_s else f"{per_s!r}/s"


def format_frequency(hz: float) -> str:
    """``3.7e9`` -> ``'3.7 GHz'``."""
    units = [(n, Fraction(_FREQ_UNITS[n])) for n in ("GHz", "MHz", "kHz", "Hz")]
    return _format_scaled(hz, units, "frequency")


def format_fraction(fraction: float) -> str:
    """``0.25`` -> ``'25%'`` when that reads back exactly, else the plain number."""
    text = f"{_fmt_number(Fraction(fraction) * 100)}%"
    return text if parse_fraction(text) == fraction else repr(fraction)


def format_pages(pages: int) -> str:
    return f"{pages} pages"


def format_count(count: int) -> str:
    return str(count)


_FORMATTERS = {
    "bytes": format_bytes, "time": format_time, "cycles": format_cycles, "rate": format_rate,
    "frequency": format_frequency, "fraction": format_fraction, "pages": format_pages,
    "count": format_count,
}


def format_quantity(value: float | int, kind: str) -> str:
    """Text for ``value`` (base units) that :func:`parse_quantity` reads back exactly."""
    return _FORMATTERS[kind](value)  # type: ignore[operator]
