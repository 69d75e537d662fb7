"""Property tests: the loader never raises anything but its own clean ScenarioError.

Bundled scenarios are mutated at random (bytes flipped, inserted or deleted; lines dropped,
duplicated, swapped or re-indented; scalar values replaced by odd values), written to a file
and loaded. Any outcome is fine except an exception other than ScenarioError; every problem
must be a located one-liner. ``EPCSIM_FUZZ_EXAMPLES=1000`` runs a longer search.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epcsim.errors import ScenarioError
from epcsim.scenario import load_scenario, plan_study

ROOT = Path(__file__).parent.parent
BUNDLED = sorted((ROOT / "scenarios").glob("*.yaml"))
SOURCES = [p.read_bytes() for p in BUNDLED]
_TMP = tempfile.TemporaryDirectory(prefix="epcsim-fuzz-")

ODD_VALUES = [
    "", "~", "-1", "0", "1e400", "-0.0", ".nan", ".inf", "[]", "{}", "[1, 2", "'", "\"",
    "&a x", "*a", "!!python/name:os.system", "!!binary AA==", "0x10", "0o17", "1_000",
    "2026-01-01", "yes", "on", "93 Mib", "5 ms", "20k/s", "1 PiB", "3.7 GHz", "p99",
    "1e-400", "9" * 400, "\t", "\u00e9\u00e8", "? x", "- a", "|", ">", "%YAML 1.1",
    "{kind: zipf}", "[DC4s_v9]", "all", "<<: {}", "null", "true",
]


def _load(data: bytes, name: str) -> None:
    path = Path(_TMP.name) / f"{name}.yaml"
    path.write_bytes(data)
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        assert exc.problems
        for p in exc.problems:
            line = p.format()
            assert "\n" not in line and line.startswith(str(path)), line
        return
    plan_study(scenario)


@st.composite
def byte_mutation(draw: st.DrawFn) -> bytes:
    src = bytearray(draw(st.sampled_from(SOURCES)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        i = draw(st.integers(0, max(len(src) - 1, 0)))
        if op == "flip" and src:
            src[i] = draw(st.integers(0, 255))
        elif op == "insert":
            src[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif src:
            del src[i:i + draw(st.integers(1, 16))]
    return bytes(src)


@st.composite
def line_mutation(draw: st.DrawFn) -> bytes:
    lines = draw(st.sampled_from(SOURCES)).decode("utf-8").split("\n")
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "swap", "indent", "dedent"]))
        if op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent":
            lines[i] = "  " + lines[i]
        else:
            lines[i] = lines[i].lstrip()
    return "\n".join(lines).encode("utf-8")


@st.composite
def value_mutation(draw: st.DrawFn) -> bytes:
    lines = draw(st.sampled_from(SOURCES)).decode("utf-8").split("\n")
    candidates = [i for i, ln in enumerate(lines)
                  if ":" in ln and not ln.lstrip().startswith("#")]
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.sampled_from(candidates))
        key, _, _ = lines[i].partition(":")
        value = draw(st.one_of(st.sampled_from(ODD_VALUES),
                               st.text(max_size=12).filter(lambda t: "\n" not in t),
                               st.integers(-2**70, 2**70).map(str),
                               st.floats().map(repr)))
        lines[i] = f"{key}: {value}"
    return "\n".join(lines).encode("utf-8")


FUZZ = settings(max_examples=int(os.environ.get("EPCSIM_FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(byte_mutation())
def test_byte_mutations_fail_cleanly(data: bytes) -> None:
    _load(data, "bytes")


@FUZZ
@given(line_mutation())
def test_line_mutations_fail_cleanly(data: bytes) -> None:
    _load(data, "lines")


@FUZZ
@given(value_mutation())
def test_value_mutations_fail_cleanly(data: bytes) -> None:
    _load(data, "values")


@pytest.mark.parametrize("value", ODD_VALUES)
def test_every_odd_value_in_every_field_of_quickstart(value: str) -> None:
    """Deterministic sweep: put each odd value on every `key: value` line in turn would be
    slow; put it on a fixed spread of lines instead."""
    lines = (ROOT / "scenarios" / "quickstart.yaml").read_text().split("\n")
    keyed = [i for i, ln in enumerate(lines) if ":" in ln and not ln.lstrip().startswith("#")]
    for i in keyed[:: max(len(keyed) // 12, 1)]:
        mutated = list(lines)
        key, _, _ = mutated[i].partition(":")
        mutated[i] = f"{key}: {value}"
        _load("\n".join(mutated).encode("utf-8"), "odd")
