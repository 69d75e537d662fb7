"""Running a study: reuse what the store has, execute the rest, write the summary.

:func:`run_study` takes the study's tasks (in the order the summary should list them), opens
the results store (taking its lock and removing temp files a crashed client left), reuses every
run whose complete record is already there (unless ``force``; failed records are retried
unless ``retry_failed=False``), hands the other runs to a backend and records each outcome as
it arrives, then writes ``summary.csv`` atomically. A stored record that fails verification
(its checksum, or its detail file's, does not match) is never reused: the run is executed
again and the study's report counts it (``StudyResult.rejected``). Killing the client at
any moment loses at most the runs in flight; running the same study again picks up where it
stopped and produces the same summary bytes as an uninterrupted run.

:func:`run_sequential` replicates in rounds until every point's confidence interval is narrow
enough (see :mod:`epcsim.study.stats`).

Progress goes to stderr: a tqdm bar (runs done/total, elapsed, remaining), shown only when
stderr is a terminal and ``progress`` is true, then a short report (reused, run, failed, one
line per distinct error) when ``progress`` is true.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from epcsim.errors import EpcsimError
from epcsim.study.executor import Backend, check_backend_options, make_backend
from epcsim.study.frames import DetailFrames, build_summary, execution_frame, summary_csv_bytes
from epcsim.study.stats import PrecisionTarget, replications_needed
from epcsim.study.store import RunRecord, RunStore, atomic_write_bytes
from epcsim.study.task import LabelValue, RunTask


@dataclass(frozen=True)
class FailureGroup:
    """Failed runs that share one error line."""

    error: str
    run_keys: tuple[str, ...]
    traceback: str | None  # of the first run in task order

    @property
    def count(self) -> int:
        return len(self.run_keys)


class StudyFailedError(EpcsimError):
    """Raised by :meth:`StudyResult.raise_for_failures` when runs failed."""


@dataclass
class StudyResult:
    """What :func:`run_study` returns.

    Attributes:
        summary: one row per task, in task order (see :mod:`epcsim.study.frames`); the same
            content as ``summary.csv``.
        store_dir: the study folder; ``summary_path``: its ``summary.csv``.
        n_total: tasks in the study; ``n_reused``: taken from the store; ``n_run``: executed
            now; ``n_failed``: runs whose record is a failure (executed now, or reused with
            ``retry_failed=False``); ``n_not_run``: runs without a record (a fail-fast stop).
        failures: failed runs grouped by error line, in task order of first occurrence.
        rejected: run key -> why its stored record failed verification (checksum mismatch,
            corrupt or edited file...); those runs were executed again, never reused.
        stopped_early: ``fail_fast`` stopped the study at its first failure.
        backend: description of the backend used (``"none needed"`` if all were reused).
        wall_s: wall-clock seconds of this call.
        details: run key -> detail DataFrame, read from Parquet on access.
    """

    summary: pd.DataFrame
    store_dir: Path
    summary_path: Path
    n_total: int
    n_reused: int
    n_run: int
    n_failed: int
    n_not_run: int
    failures: list[FailureGroup]
    stopped_early: bool
    backend: str
    wall_s: float
    details: DetailFrames
    rejected: dict[str, str] = field(default_factory=dict)
    _records: dict[str, RunRecord] = field(repr=False, default_factory=dict)

    def execution(self) -> pd.DataFrame:
        """Per run: wall time, host, pid, timestamps, epcsim version (not in the summary)."""
        return execution_frame(list(self.summary["run_key"]), self._records)

    def report(self) -> str:
        """The final summary for people: counts, then one line per distinct error."""
        lines = [
            f"study {self.store_dir}: {self.n_total} runs: {self.n_reused} reused, "
            f"{self.n_run} run, {self.n_failed} failed"
            + (f", {self.n_not_run} not run (stopped at the first failure)"
               if self.n_not_run else "")
            + (f", {len(self.rejected)} stored failed verification (run again)"
               if self.rejected else "")
            + f" ({self.backend}, {self.wall_s:.1f} s)"
        ]
        if self.rejected:
            lines.extend(self.rejected_lines())
        for group in self.failures:
            plural = "s" if group.count > 1 else ""
            lines.append(f"  {group.count} run{plural} failed: {group.error} "
                         f"(first: run {group.run_keys[0]})")
        if self.failures:
            lines.append(f"  tracebacks: {self.store_dir / 'runs'}/<run_key>.json")
        lines.append(f"summary: {self.summary_path}")
        return "\n".join(lines)

    def rejected_lines(self) -> list[str]:
        """One line per distinct reason why stored runs were not reused but run again."""
        by_reason: dict[str, list[str]] = {}
        for key, reason in self.rejected.items():
            by_reason.setdefault(reason, []).append(key)
        return [f"  {len(keys)} stored run{'s' if len(keys) > 1 else ''} not reused, run "
                f"again: {reason} (first: run {keys[0]})" for reason, keys in by_reason.items()]

    def raise_for_failures(self) -> None:
        """Raise :class:`StudyFailedError` (with the first traceback) if any run failed."""
        if self.failures:
            first = self.failures[0]
            raise StudyFailedError(
                self.report() + ("\n\nfirst failure:\n" + first.traceback
                                 if first.traceback else ""))


def _check_tasks(tasks: Iterable[RunTask]) -> list[RunTask]:
    out = list(tasks)
    seen: set[str] = set()
    for task in out:
        if not isinstance(task, RunTask):
            raise TypeError(f"a study is a list of RunTask, found {type(task).__name__}")
        if task.run_key in seen:
            raise ValueError(f"two tasks have the same run_key {task.run_key}")
        seen.add(task.run_key)
    return out


def _failure_groups(tasks: Sequence[RunTask],
                    records: Mapping[str, RunRecord]) -> list[FailureGroup]:
    groups: dict[str, list[str]] = {}
    tracebacks: dict[str, str | None] = {}
    for task in tasks:
        record = records.get(task.run_key)
        if record is None or record.ok:
            continue
        error = record.error or "unknown error"
        if error not in groups:
            groups[error] = []
            tracebacks[error] = record.traceback
        groups[error].append(task.run_key)
    return [FailureGroup(error, tuple(keys), tracebacks[error]) for error, keys in groups.items()]


#: With progress on and stderr not a terminal, at most one progress line per this many seconds.
PROGRESS_LINE_S = 5.0


def run_study(tasks: Iterable[RunTask], store_dir: str | os.PathLike[str], *,
              backend: str | Backend | None = None, workers: int | None = None,
              force: bool = False, fail_fast: bool = False, retry_failed: bool = True,
              progress: bool = True, description: str = "runs") -> StudyResult:
    """Run every task not already complete in ``store_dir`` and summarise the study.

    Args:
        tasks: the runs, in the order the summary lists them; run keys must be unique.
        store_dir: the study's results folder (created if needed); runs go to
            ``store_dir/runs/``, the summary to ``store_dir/summary.csv``.
        backend: see :func:`epcsim.study.executor.make_backend`: ``None`` (local pool, or Dask
            if ``EPCSIM_SCHEDULER`` is set), ``"local"``, ``"dask"``, ``"tcp://HOST:PORT"``,
            or a :class:`Backend` instance (not closed by this function).
        workers: local worker processes (default one per core; 1 runs in-process).
        force: execute every task again, ignoring stored records.
        fail_fast: stop at the first run that fails (runs in flight finish but are not
            recorded; queued runs are cancelled); the summary lists unfinished runs as
            ``not_run``.
        retry_failed: execute runs whose stored record is a failure again (default); with
            False, a stored failure is reused like a success.
        progress: show the progress bar (when stderr is a terminal) and print the final
            report to stderr.
        description: the progress bar's label.

    Returns:
        A :class:`StudyResult`. A failed run does not raise; see
        :meth:`StudyResult.raise_for_failures`.
    """
    t0 = time.perf_counter()
    tasks = _check_tasks(tasks)
    check_backend_options(backend, workers)  # even when every run is reused
    store_dir = Path(store_dir)
    with RunStore(store_dir) as store:
        records: dict[str, RunRecord] = {}
        rejected: dict[str, str] = {}
        if not force:
            stored, rejected = store.verify_many([t.run_key for t in tasks])
            for key, record in stored.items():
                if record.ok or not retry_failed:
                    records[key] = record
        to_run = [t for t in tasks if t.run_key not in records]
        n_reused = len(tasks) - len(to_run)
        n_run = 0
        stopped_early = False
        backend_text = "none needed"
        if to_run:
            owned = not isinstance(backend, Backend)
            be = make_backend(backend, workers)
            backend_text = be.describe()
            bar = tqdm(total=len(tasks), initial=n_reused, desc=description, unit="run",
                       file=sys.stderr, disable=None if progress else True, dynamic_ncols=True)
            n_failed_now = 0
            # Not a terminal (a log file, CI): no bar, a line every few seconds instead.
            lines = progress and bar.disable
            last_line = time.perf_counter()
            try:
                outcomes = be.map_unordered(to_run)
                try:
                    for index, outcome in outcomes:
                        task = to_run[index]
                        records[task.run_key] = store.save(task, outcome)
                        n_run += 1
                        bar.update(1)
                        if lines and time.perf_counter() - last_line >= PROGRESS_LINE_S:
                            last_line = time.perf_counter()
                            print(f"{description}: {n_reused + n_run}/{len(tasks)} runs, "
                                  f"{last_line - t0:.0f} s elapsed", file=sys.stderr,
                                  flush=True)
                        if not outcome.ok:
                            n_failed_now += 1
                            bar.set_postfix(failed=n_failed_now, refresh=False)
                            if fail_fast:
                                stopped_early = True
                                break
                finally:
                    close = getattr(outcomes, "close", None)
                    if close is not None:
                        close()
            finally:
                bar.close()
                if owned:
                    be.close()
        store.sync()
        summary = build_summary([(t.run_key, t.labels) for t in tasks], records)
        atomic_write_bytes(store.summary_path, summary_csv_bytes(summary))
        failures = _failure_groups(tasks, records)
        result = StudyResult(
            summary=summary,
            store_dir=store_dir,
            summary_path=store.summary_path,
            n_total=len(tasks),
            n_reused=n_reused,
            n_run=n_run,
            n_failed=sum(g.count for g in failures),
            n_not_run=len(tasks) - len(records),
            failures=failures,
            stopped_early=stopped_early,
            backend=backend_text,
            wall_s=time.perf_counter() - t0,
            details=DetailFrames(store_dir, [t.run_key for t in tasks], records),
            rejected=rejected,
            _records=records,
        )
    if progress:
        print(result.report(), file=sys.stderr)
    return result


def run_sequential(make_task: Callable[[Mapping[str, LabelValue], int], RunTask],
                   points: Sequence[Mapping[str, LabelValue]], target: PrecisionTarget,
                   store_dir: str | os.PathLike[str], *, max_rounds: int = 20,
                   **run_kwargs: object) -> StudyResult:
    """Replicate each point until its intervals meet ``target`` (or its cap), in rounds.

    Args:
        make_task: ``make_task(point, replication) -> RunTask``; the task's labels should
            include the point's labels and the replication. Replication ``r`` of a point must
            be the same task in every round (same run key), so earlier rounds are reused.
        points: the study's points (VM size x sweep values), as label mappings.
        target: precision wanted, minimum and maximum replications.
        store_dir: the study folder.
        max_rounds: safety cap on rounds (each round at least adds one replication to every
            unfinished point, so ``target.max_replications`` also bounds the rounds).
        **run_kwargs: passed to :func:`run_study` (backend, workers, force, progress...);
            ``force`` applies to the first round only.

    Returns:
        The last round's :class:`StudyResult`, whose summary holds every replication of every
        point, in point order then replication order.
    """
    planned = [target.min_replications] * len(points)
    kwargs = dict(run_kwargs)
    result: StudyResult | None = None
    rejected: dict[str, str] = {}
    for _round in range(max_rounds):
        tasks = [make_task(point, r) for i, point in enumerate(points)
                 for r in range(planned[i])]
        result = run_study(tasks, store_dir, **kwargs)  # type: ignore[arg-type]
        rejected.update(result.rejected)
        result.rejected = dict(rejected)
        kwargs["force"] = False
        kwargs["retry_failed"] = False  # a deterministic failure would fail again
        by_key = result.summary.set_index("run_key")
        ok = by_key["status"] == "ok"
        new_planned = []
        offset = 0
        for n in planned:
            keys = [t.run_key for t in tasks[offset:offset + n]]
            offset += n
            rows = by_key.loc[keys]
            rows = rows[ok.loc[keys].to_numpy()]
            values = {m: rows[m].to_numpy(dtype=np.float64) if m in rows else np.array([])
                      for m in target.metrics}
            new_planned.append(replications_needed(values, target, n))
        if new_planned == planned:
            break
        planned = new_planned
    assert result is not None
    return result
