"""What one run of a study is, and how a worker executes it.

A study is a list of :class:`RunTask` objects. Each task names a *run function* (a picklable
top-level callable, or its import path ``"package.module:function"``), a *payload* (the
picklable description of the run that the function receives) and *labels* (the sweep factors
that identify the run in the summary: VM size, sweep values, replication...). The caller
gives each task a ``run_key``: a stable hex hash of everything that determines the run's
result. The study machinery never looks inside the payload; it only relies on the key.

A run function takes the payload and returns a :class:`RunOutcome` (or, for convenience, a
plain mapping of metric name to number). :func:`execute_task` is what the workers call: it
times the function, catches anything it raises and turns it into a failed outcome with the
error type, message and traceback, and checks the outcome's shape so that a bad outcome is
reported against its run rather than breaking the results store later. It does no I/O; the
client process writes results.

Assumptions: the outcome depends only on the task. Randomness is the run function's
business: it must derive its generators from the seed and replication in its payload (see
docs/studies.md on common random numbers), never from global state, so the same task gives
the same numbers on any backend and any number of workers.
"""

from __future__ import annotations

import importlib
import math
import os
import platform
import re
import socket
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

RUN_KEY_RE = re.compile(r"[0-9a-f]{8,128}")
"""A run key: 8 to 128 lowercase hex digits (it becomes a file name in the store)."""

FN_PATH_RE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
"""An import path of a run function: ``package.module:function``."""

RESERVED_COLUMNS = ("run_key", "status", "error")
"""Summary columns the study machinery owns; labels and metrics may not use these names."""

LabelValue = str | int | float | bool | None
RunFunction = Callable[[Any], "RunOutcome | Mapping[str, float]"]


@dataclass(frozen=True)
class RunTask:
    """One run of a study: which function to call, with what, and how to label the result.

    Attributes:
        run_key: stable lowercase hex hash (8 to 128 digits) of everything that determines
            the result; given by the caller. Equal keys mean "the same run": a completed run
            in the store with this key is reused.
        fn: the run function, as a picklable top-level callable or as an import path
            ``"package.module:function"`` (resolved in the worker).
        payload: the run's description, passed to ``fn`` as its only argument. Must be
            picklable (it travels to worker processes and Dask workers).
        labels: sweep factors identifying the run (``vm_size``, ``replication``, sweep key
            paths...): a flat mapping of name to str, int, float, bool or None. They become
            the summary's columns, in the order given.
    """

    run_key: str
    fn: RunFunction | str
    payload: Any
    labels: Mapping[str, LabelValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.run_key, str) or not RUN_KEY_RE.fullmatch(self.run_key):
            raise ValueError(
                f"run_key must be 8 to 128 lowercase hex digits, found {self.run_key!r}")
        if isinstance(self.fn, str):
            if not FN_PATH_RE.fullmatch(self.fn):
                raise ValueError(
                    f"fn must be a callable or 'package.module:function', found {self.fn!r}")
        elif not callable(self.fn):
            raise ValueError(f"fn must be a callable or an import path, found {self.fn!r}")
        for name, value in self.labels.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"label names must be non-empty strings, found {name!r}")
            if name in RESERVED_COLUMNS:
                raise ValueError(f"label name {name!r} is reserved ({', '.join(RESERVED_COLUMNS)})")
            if value is not None and not isinstance(value, str | int | float | bool):
                raise ValueError(
                    f"label {name!r} must be a str, int, float, bool or None, "
                    f"found {type(value).__name__} {value!r}")
        # Freeze the labels' order and content (a caller may mutate the dict it passed).
        object.__setattr__(self, "labels", dict(self.labels))


@dataclass
class RunOutcome:
    """What one run produced.

    Attributes:
        metrics: summary numbers of the run, name -> value (units in the names, e.g.
            ``throughput_ops_s``, ``latency_p99_s``). Empty for a failed run.
        detail: optional per-run table: column name -> 1-D numpy array, all of one length
            (e.g. one row per operation). Stored as one Parquet file per run.
        error: ``None`` for a successful run, else a one-line description.
        error_type: the exception's class name for a run that raised.
        traceback: the formatted traceback for a run that raised.
        wall_s: wall-clock seconds the run function took (set by :func:`execute_task`).
        provenance: anything the run function wants recorded with the run (resolved
            configuration, seed, replication, model version...); must be JSON-able (values
            that are not are stored as their ``str``).
        execution: where and when the run was executed (host, pid, versions, UTC times); set
            by :func:`execute_task`; not part of the summary (it differs between executions).
    """

    metrics: dict[str, float] = field(default_factory=dict)
    detail: dict[str, np.ndarray] | None = None
    error: str | None = None
    error_type: str | None = None
    traceback: str | None = None
    wall_s: float = math.nan
    provenance: dict[str, Any] = field(default_factory=dict)
    execution: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the run succeeded."""
        return self.error is None


def resolve_fn(fn: RunFunction | str) -> RunFunction:
    """The callable a task names: ``fn`` itself, or the object at ``"module:attr"``."""
    if not isinstance(fn, str):
        return fn
    module_name, _, attr = fn.partition(":")
    module = importlib.import_module(module_name)
    obj = getattr(module, attr)
    if not callable(obj):
        raise TypeError(f"{fn} is not callable")
    return obj


def _epcsim_version() -> str:
    from epcsim import __version__

    return __version__


def _execution_record(started: float) -> dict[str, Any]:
    return {
        "epcsim_version": _epcsim_version(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_utc": datetime.fromtimestamp(started, UTC).isoformat(timespec="milliseconds"),
        "finished_utc": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


def _check_outcome(task: RunTask, result: object) -> RunOutcome:
    """Normalise what a run function returned; raise TypeError/ValueError if it is malformed."""
    if isinstance(result, RunOutcome):
        outcome = replace(result, metrics=dict(result.metrics),
                          provenance=dict(result.provenance))
    elif isinstance(result, Mapping):
        outcome = RunOutcome(metrics=dict(result))
    else:
        raise TypeError(
            f"run function returned {type(result).__name__}; expected RunOutcome or a mapping "
            "of metric name to number")
    metrics: dict[str, float] = {}
    for name, value in outcome.metrics.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"metric names must be non-empty strings, found {name!r}")
        if name in RESERVED_COLUMNS or name in task.labels:
            raise ValueError(f"metric {name!r} clashes with a label or reserved column name")
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
            raise TypeError(f"metric {name!r} must be a number, found {type(value).__name__}")
        metrics[name] = float(value)
    outcome.metrics = metrics
    if outcome.detail is not None:
        columns: dict[str, np.ndarray] = {}
        length = None
        for name, column in outcome.detail.items():
            array = np.asarray(column)
            if array.ndim != 1:
                raise ValueError(f"detail column {name!r} must be 1-D, found shape {array.shape}")
            if array.dtype.kind not in "biufUSMm":
                raise ValueError(
                    f"detail column {name!r} has unsupported dtype {array.dtype} "
                    "(use bool, int, float, str or datetime arrays)")
            if length is not None and len(array) != length:
                raise ValueError(
                    f"detail columns must have one length; {name!r} has {len(array)}, "
                    f"the first column has {length}")
            length = len(array)
            columns[str(name)] = array
        outcome.detail = columns
    if outcome.error is not None and not isinstance(outcome.error, str):
        raise TypeError(f"RunOutcome.error must be a str or None, found {outcome.error!r}")
    return outcome


def execute_task(task: RunTask) -> RunOutcome:
    """Run one task and return its outcome; never raises for a failure of the run itself.

    The run function is called with ``task.payload``. Whatever it raises (and a malformed
    return value) becomes a failed outcome with ``error = "Type: message"``, ``error_type``
    and ``traceback``. ``wall_s`` is the wall-clock time of the call in seconds. This is the
    function every backend executes (in-process, in a pool worker, on a Dask worker).
    """
    started = time.time()
    t0 = time.perf_counter()
    try:
        fn = resolve_fn(task.fn)
        outcome = _check_outcome(task, fn(task.payload))
    except Exception as exc:  # a failing run is data, not a crash
        outcome = RunOutcome(
            error=f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc)
            else type(exc).__name__,
            error_type=type(exc).__name__,
            traceback=traceback.format_exc(),
        )
    else:
        if outcome.error is not None:
            outcome.metrics = {}
            outcome.error_type = outcome.error_type or "RunFailed"
    outcome.wall_s = time.perf_counter() - t0
    outcome.execution = _execution_record(started)
    return outcome


def failed_outcome(error_type: str, message: str, tb: str | None = None) -> RunOutcome:
    """A failed outcome made by the client (e.g. a worker process died running the task)."""
    return RunOutcome(error=f"{error_type}: {message}", error_type=error_type, traceback=tb)
