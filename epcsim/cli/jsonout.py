"""``--json``: one JSON document on stdout, everything a person reads on stderr.

With ``--json`` (``run``, ``check``, ``trace``, ``validate``, ``catalog``), :func:`epcsim.cli.main`
sends stdout to stderr while the command runs (the plan, progress, tables and warnings all
land there) and keeps the real stdout for the one document the command hands to
:func:`emit`. When the command fails (bad input: exit status 2; interrupted: 130) the located
message still goes to stderr, and stdout gets an error document instead
(:func:`error_document`, schema ``error.schema.json``), so a script can always parse stdout.

Each document names its format (``"format": "epcsim.run/1"``); the JSON Schemas ship in the
package (``epcsim/report/schemas/<command>.schema.json``, :func:`schema`). Numbers that are not
finite (an unbounded capacity, a metric with no value) are written as ``null``, so any JSON
reader accepts the output.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
from collections.abc import Mapping
from importlib import resources
from pathlib import PurePath
from typing import IO, Any

from epcsim.errors import EpcsimError, Problem, ScenarioError

#: Commands whose documents have a schema in ``epcsim/report/schemas/``.
SCHEMAS = ("run", "check", "trace", "validate", "error")


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values: non-finite floats -> None, numpy scalars and arrays ->
    numbers and lists, paths and dates -> text, dataclasses -> objects."""
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [jsonable(v) for v in obj]
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, _dt.date):
        return obj.isoformat()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    item = getattr(obj, "item", None)  # numpy scalar
    if callable(item) and getattr(obj, "ndim", None) == 0:
        return jsonable(item())
    tolist = getattr(obj, "tolist", None)  # numpy array
    if callable(tolist):
        return jsonable(tolist())
    return str(obj)


def dumps(doc: Any) -> str:
    """The document as indented JSON text (strict: no NaN or Infinity), with a final newline."""
    return json.dumps(jsonable(doc), indent=2, allow_nan=False) + "\n"


def emit(doc: Any, stream: IO[str]) -> None:
    """Write the command's one document to ``stream`` (the real stdout)."""
    stream.write(dumps(doc))
    stream.flush()


def problem_dict(p: Problem) -> dict[str, Any]:
    """One located problem as an object (the fields of :class:`epcsim.errors.Problem`)."""
    return {"message": p.message, "file": p.file, "line": p.line, "key_path": p.key_path,
            "expected": p.expected, "found": p.found, "suggestion": p.suggestion}


def error_document(command: str | None, message: str, exit_status: int,
                   exc: BaseException | None = None) -> dict[str, Any]:
    """What stdout holds when a ``--json`` command fails: the message that stderr shows, the
    exit status, and each located problem when the error lists them."""
    problems: list[dict[str, Any]] = []
    if isinstance(exc, ScenarioError):
        problems = [problem_dict(p) for p in exc.problems]
    elif isinstance(exc, EpcsimError):
        problems = [{"message": str(exc), "file": None, "line": None, "key_path": None,
                     "expected": None, "found": None, "suggestion": None}]
    return {"format": "epcsim.error/1", "command": command,
            "error": {"message": message, "exit_status": exit_status, "problems": problems}}


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of command ``name``'s ``--json`` document."""
    if name not in SCHEMAS:
        raise EpcsimError(f"no JSON schema named {name!r} (expected one of "
                          f"{', '.join(SCHEMAS)})")
    text = resources.files("epcsim").joinpath(f"report/schemas/{name}.schema.json") \
        .read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def stream(args: Any) -> IO[str]:
    """Where a command's document goes: the stdout that :func:`epcsim.cli.main` kept aside
    (stdout itself when the command was called without it, e.g. from a test)."""
    import sys

    out: IO[str] | None = getattr(args, "json_out", None)
    return out if out is not None else sys.stdout
