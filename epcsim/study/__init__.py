"""Studies: many runs of one model, executed locally or on Dask, stored crash-safely, summarised.

The study machinery is generic over "a run": a :class:`RunTask` names a run function, its
payload and its labels; the function returns a :class:`RunOutcome`. :func:`run_study`
executes the tasks not already in the results store on a backend (a local process pool, or a
Dask cluster), records each outcome atomically, and writes a tidy ``summary.csv``.
:func:`confidence_intervals` turns replications into means with Student-t intervals;
:func:`run_sequential` adds replications until the intervals are narrow enough.
See docs/studies.md.

Names are imported on first use (PEP 562), so that a worker process that only needs
:func:`epcsim.study.task.execute_task` does not pay for importing pandas, pyarrow and scipy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from epcsim.study.executor import (
        SCHEDULER_ENV,
        Backend,
        DaskBackend,
        InProcessBackend,
        LocalPoolBackend,
        default_workers,
        make_backend,
    )
    from epcsim.study.frames import DetailFrames, build_summary, read_details, read_summary
    from epcsim.study.runner import (
        FailureGroup,
        StudyFailedError,
        StudyResult,
        run_sequential,
        run_study,
    )
    from epcsim.study.stats import (
        PrecisionTarget,
        confidence_intervals,
        replications_needed,
        t_interval,
    )
    from epcsim.study.store import RunRecord, RunStore, StudyLockedError
    from epcsim.study.task import RunOutcome, RunTask, execute_task

_HOMES = {
    "SCHEDULER_ENV": "executor", "Backend": "executor", "DaskBackend": "executor",
    "InProcessBackend": "executor", "LocalPoolBackend": "executor",
    "default_workers": "executor", "make_backend": "executor",
    "DetailFrames": "frames", "build_summary": "frames", "read_details": "frames",
    "read_summary": "frames",
    "FailureGroup": "runner", "StudyFailedError": "runner", "StudyResult": "runner",
    "run_sequential": "runner", "run_study": "runner",
    "PrecisionTarget": "stats", "confidence_intervals": "stats",
    "replications_needed": "stats", "t_interval": "stats",
    "RunRecord": "store", "RunStore": "store", "StudyLockedError": "store",
    "RunOutcome": "task", "RunTask": "task", "execute_task": "task",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'epcsim.study' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"epcsim.study.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "SCHEDULER_ENV",
    "Backend",
    "DaskBackend",
    "DetailFrames",
    "FailureGroup",
    "InProcessBackend",
    "LocalPoolBackend",
    "PrecisionTarget",
    "RunOutcome",
    "RunRecord",
    "RunStore",
    "RunTask",
    "StudyFailedError",
    "StudyLockedError",
    "StudyResult",
    "build_summary",
    "confidence_intervals",
    "default_workers",
    "execute_task",
    "make_backend",
    "read_details",
    "read_summary",
    "replications_needed",
    "run_sequential",
    "run_study",
    "t_interval",
]
