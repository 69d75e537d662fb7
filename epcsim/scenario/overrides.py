"""``--set key.path=value`` overrides, applied to the scenario data before validation.

The value is parsed as YAML with the same safe, bounded loader as scenario files (so
``--set workload.arrival.rate=30k/s``, ``--set vm=[DC4s_v2,DC2s_v3]`` and
``--set simulation.native_baseline=false`` all work); nothing is ever evaluated. Key paths
follow :mod:`epcsim.scenario.paths`. Every command that takes a scenario offers ``--set``
through :func:`add_set_argument`.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from epcsim.errors import Problem
from epcsim.scenario.paths import Path, PathError, display_path, set_path, split_key_path
from epcsim.scenario.yamlload import load_yaml_text


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    """Add the repeatable ``--set KEY.PATH=VALUE`` option (stored in ``args.set``)."""
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY.PATH=VALUE",
        help="override a scenario field before validation (value parsed as YAML; "
             "repeatable), e.g. --set workload.arrival.rate=30k/s")


def override_label(text: str) -> str:
    """How a message names one override: ``--set key.path=value`` (long values shortened)."""
    return f"--set {text}" if len(text) <= 80 else f"--set {text[:77]}..."


def apply_overrides(data: dict[str, Any], overrides: Iterable[str],
                    origins: dict[Path, str] | None = None) -> list[Problem]:
    """Apply each ``key.path=value`` to ``data`` in place; return problems (not raised).

    ``origins``, when given, receives resolved key path -> :func:`override_label` for every
    override applied, so that later problems at (or under) that path point at the ``--set``
    argument rather than at the file's line."""
    problems: list[Problem] = []
    for text in overrides:
        where = override_label(text)
        key, sep, value_text = text.partition("=")
        if not sep or not key.strip():
            problems.append(Problem("malformed override", file=where,
                                    expected="KEY.PATH=VALUE", found=repr(text)))
            continue
        doc = load_yaml_text(value_text)
        if doc.problems:
            p = doc.problems[0]
            problems.append(Problem(f"value is not valid YAML: {p.message}", file=where,
                                    key_path=key.strip(), expected=p.expected, found=p.found))
            continue
        try:
            segments = split_key_path(key)
            resolved = set_path(data, segments, doc.data)
            if origins is not None:
                origins[resolved] = where
        except PathError as exc:
            problems.append(Problem(f"cannot set {key.strip()!r}: {exc.message}", file=where,
                                    key_path=display_path(exc.path, data) or None,
                                    suggestion=exc.suggestion))
    return problems
