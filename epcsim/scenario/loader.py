"""Loading a scenario: read, parse, apply overrides, validate, cross-check, in that order.

:func:`load_scenario` is the one entry point (the CLI and notebooks both use it). It takes a
path or an already-parsed mapping, applies ``--set`` overrides, and returns a frozen,
normalised :class:`~epcsim.scenario.spec.Scenario`, or raises one
:class:`~epcsim.errors.ScenarioError` listing every problem found, each with the file, the
line where known, the key path, what was expected, what was found and a did-you-mean.

Assumptions: relative file names inside a scenario (arrival and page traces) are relative to
the scenario file's folder (to the working folder for a mapping); a scenario without a
``name`` takes the file's name without its extension.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from epcsim.errors import Problem, ScenarioError
from epcsim.scenario.fields import UNITS_REQUIRED
from epcsim.scenario.overrides import apply_overrides
from epcsim.scenario.paths import display_path
from epcsim.scenario.problems import Issue, issues_from_validation_error, to_problem
from epcsim.scenario.spec import Scenario
from epcsim.scenario.yamlload import (
    MAX_FILE_BYTES,
    YamlProblem,
    decode_scenario_bytes,
    load_yaml_text,
)


def _yaml_problem(p: YamlProblem, file: str | None, data: Any = None) -> Problem:
    key = display_path(p.path, data) or None
    return Problem(p.message, file=file, line=p.line, key_path=key, expected=p.expected,
                   found=p.found)


def read_scenario_file(path: str | os.PathLike[str]) -> tuple[Any, dict[Any, int]]:
    """The raw data of a scenario file and the line of every key path; ScenarioError if the
    file cannot be read as a bounded, safe YAML mapping."""
    data, lines, _raw = _read_scenario(path)
    return data, lines


def _read_scenario(path: str | os.PathLike[str]) -> tuple[Any, dict[Any, int], bytes]:
    """:func:`read_scenario_file` and the bytes read: the file is read once (it may be a
    pipe, e.g. ``<(cat f.yaml)``, which a second read would find empty)."""
    file = os.fspath(path)
    try:
        size = os.stat(file).st_size
        if size > MAX_FILE_BYTES:
            raise ScenarioError([Problem(
                "file too large for a scenario; refused without reading it", file=file,
                expected=f"at most {MAX_FILE_BYTES // 1024} KiB", found=f"{size} bytes")])
        with open(file, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError([Problem("no such scenario file", file=file)]) from None
    except IsADirectoryError:
        raise ScenarioError([Problem("a folder, not a scenario file", file=file)]) from None
    except OSError as exc:
        raise ScenarioError([Problem(f"cannot read the file: {exc.strerror}",
                                     file=file)]) from None
    text, problems = decode_scenario_bytes(data)
    if text is None:
        raise ScenarioError([_yaml_problem(p, file) for p in problems])
    doc = load_yaml_text(text)
    if doc.problems:
        raise ScenarioError([_yaml_problem(p, file, doc.data) for p in doc.problems])
    return doc.data, doc.lines, data


def _shape_problem(data: Any, file: str | None) -> Problem | None:
    if data is None:
        return Problem("empty scenario", file=file, expected="a mapping with at least "
                       "`enclaves` and `workload`", found="nothing")
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "text" if isinstance(
            data, str) else type(data).__name__
        return Problem("a scenario must be a mapping (key: value lines)", file=file, line=1,
                       expected="a mapping with `enclaves`, `workload`, ...", found=kind)
    return None


def _vm_shorthand(data: dict[str, Any], lines: dict[Any, int]) -> None:
    """``vm: [DC4s_v2]`` means ``vm: {sizes: [DC4s_v2]}``; keep the lines pointing right."""
    vm = data.get("vm")
    if isinstance(vm, list | str):
        data["vm"] = {"sizes": vm if isinstance(vm, list) else [vm]}
        for key in [k for k in lines if len(k) >= 2 and k[0] == "vm"]:
            lines[("vm", "sizes", *key[1:])] = lines.pop(key)
        if ("vm",) in lines:
            lines[("vm", "sizes")] = lines[("vm",)]


def _scale_warmup(before: Any, data: dict[str, Any], origins: dict[Any, str]) -> None:
    """``--set simulation.duration=...`` without ``simulation.warmup``: the warm-up keeps its
    share of the run (the file's 200 ms of 1 s becomes 2 s of 10 s, or 20 ms of 100 ms;
    rounded to 3 significant digits), so a shortened run from the docs is valid and still
    leaves most of it measured. Values that do not parse are left for validation to
    report."""
    from fractions import Fraction

    from epcsim.scenario.workload import Simulation
    from epcsim.units import UnitError, parse_time

    if ("simulation", "duration") not in origins or ("simulation", "warmup") in origins:
        return
    sim = data.get("simulation")
    if not isinstance(sim, dict) or ("simulation",) in origins:
        return
    old = before if isinstance(before, dict) else {}
    fields = Simulation.model_fields
    try:
        old_d = parse_time(old.get("duration", fields["duration_s"].default))
        old_w = parse_time(old.get("warmup", fields["warmup_s"].default))
        new_d = parse_time(sim.get("duration"))
    except (UnitError, TypeError, ValueError):
        return
    if not (old_d > 0 and new_d > 0) or new_d == old_d:
        return
    warmup = float(f"{float(Fraction(old_w) * Fraction(new_d) / Fraction(old_d)):.3g}")
    sim["warmup"] = f"{warmup!r} s"
    origins[("simulation", "warmup")] = origins[("simulation", "duration")]


def load_scenario(source: str | os.PathLike[str] | Mapping[str, Any],
                  overrides: Iterable[str] = (), *,
                  base_dir: str | os.PathLike[str] | None = None) -> Scenario:
    """Load, override, validate and normalise a scenario.

    ``source`` is a path to a YAML file or a mapping in the same form as the YAML.
    ``overrides`` are ``"key.path=value"`` strings (value parsed as YAML). ``base_dir``: where
    relative trace file names point (default: the scenario file's folder, or the working
    folder for a mapping). Raises :class:`~epcsim.errors.ScenarioError` with every problem.
    """
    raw: bytes | None = None
    if isinstance(source, Mapping):
        file = None
        data: Any = copy.deepcopy(dict(source))
        lines: dict[Any, int] = {}
        folder = os.fspath(base_dir) if base_dir is not None else os.getcwd()
    else:
        file = os.fspath(source)
        data, lines, raw = _read_scenario(file)
        folder = os.fspath(base_dir) if base_dir is not None else \
            os.path.dirname(os.path.abspath(file))
    shape = _shape_problem(data, file)
    if shape is not None:
        raise ScenarioError([shape])
    _vm_shorthand(data, lines)
    overrides = list(overrides)
    origins: dict[Any, str] = {}
    if overrides:
        before = copy.deepcopy(data.get("simulation"))
        problems = apply_overrides(data, overrides, origins)
        if problems:
            raise ScenarioError(problems)
        _vm_shorthand(data, lines)
        _scale_warmup(before, data, origins)
    if "name" not in data and file is not None:
        data["name"] = FsPath(file).stem
    context: dict[str, Any] = {"base_dir": folder}
    if raw is not None:  # the file's bytes as read, for the results folder's scenario.yaml
        context["source_file"] = file
        context["source_bytes"] = raw
        context[UNITS_REQUIRED] = True  # a file says `10 s`, not `10` (fields.Quantity)
    try:
        return Scenario.model_validate(data, context=context)
    except ValidationError as exc:
        issues = issues_from_validation_error(exc, data, Scenario)
        raise ScenarioError([_locate(i, data, lines, file, origins) for i in issues]) from None


def _locate(issue: Issue, data: Any, lines: dict[Any, int], file: str | None,
            origins: dict[Any, str]) -> Problem:
    """The problem at the ``--set`` that wrote the issue's key path (or a parent of it), else
    at the file's line."""
    for n in range(len(issue.path), 0, -1):
        where = origins.get(tuple(issue.path[:n]))
        if where is not None:
            return to_problem(issue, data, {}, where)
    return to_problem(issue, data, lines, file)
