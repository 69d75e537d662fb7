"""Execution backends: where a study's runs are executed.

A backend takes the runs to execute and yields ``(index, outcome)`` pairs as runs finish, in
whatever order they finish; the client (see :mod:`epcsim.study.runner`) writes each outcome to
the store as it arrives. Every backend executes :func:`epcsim.study.task.execute_task`, so an
outcome depends only on its task: results are identical bit for bit whichever backend and
worker count (as long as the run function is deterministic in its payload).

* :class:`InProcessBackend` runs the tasks one after another in the calling process (the
  ``workers=1`` case; the easiest to debug: breakpoints and tracebacks work).
* :class:`LocalPoolBackend` runs them in a ``concurrent.futures.ProcessPoolExecutor`` on this
  machine, one worker process per core by default. Workers are started with the *spawn*
  method: a fresh interpreter per worker, nothing inherited from the client (no copied locks
  held by tqdm's or Dask's threads, no half-initialised numba thread pool, no open files of
  the store), which is the fork-safety problem that ``fork`` has, and it behaves the same on
  Linux, macOS and Windows. ``forkserver`` would be as safe on Linux but is not available on
  Windows; the cost of spawn (importing epcsim once per worker, about a second) is paid once
  per study, not per run. At most ``workers + 2`` tasks are in flight at any time, so a large
  study does not queue all its payloads in memory, and a failure with ``fail_fast`` stops
  quickly. If a worker process dies (killed by the OOM killer, a crash in native code), the
  runs in flight are recorded as failed with ``WorkerDied`` and a new pool is started for the
  rest. Workers exit by themselves if the client process dies.
* :class:`DaskBackend` sends the tasks to a ``dask.distributed`` scheduler given by address
  (``tcp://HOST:PORT``), e.g. a cluster of several machines; see docs/studies.md for the
  ``dask-scheduler`` / ``dask-worker`` commands. Every worker must have the same epcsim
  version as the client (checked on connection). Workers only compute; they return outcomes
  to the client, which alone writes results.

:func:`make_backend` picks one from the user's options and the ``EPCSIM_SCHEDULER``
environment variable.
"""

from __future__ import annotations

import abc
import multiprocessing
import multiprocessing.connection
import os
import re
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from epcsim.errors import EpcsimError
from epcsim.study.task import RunOutcome, RunTask, execute_task, failed_outcome

SCHEDULER_ENV = "EPCSIM_SCHEDULER"
"""Environment variable holding a Dask scheduler address; when set, studies run on Dask."""

_ADDRESS_RE = re.compile(r"(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})")

#: Local worker processes allowed per core: more only adds memory and start-up time (each
#: process imports epcsim and holds a run), never speed.
MAX_WORKERS_PER_CORE = 4

#: Seconds a Dask study waits while the scheduler has no worker at all before it gives up
#: (every worker died or left); runs already finished are stored, a rerun resumes.
DASK_NO_WORKER_TIMEOUT_S = 60.0


_WORKER_DIED = (
    "a worker process died while this run was in flight (the run itself, or another run in "
    "flight at the same time, was killed by the out-of-memory killer, crashed in native "
    "code, or exited; or a script lacks `if __name__ == \"__main__\":`, which spawned "
    "workers need because they re-import it)")


def default_workers() -> int:
    """The number of cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def max_workers() -> int:
    """The most local worker processes a study may ask for (a multiple of the cores)."""
    return MAX_WORKERS_PER_CORE * max(default_workers(), os.cpu_count() or 1)


def check_workers(workers: object) -> None:
    """Refuse a worker count that is not an integer in [1, :func:`max_workers`]."""
    if workers is None:
        return
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise EpcsimError(f"workers must be a positive integer, found {workers!r}")
    cap = max_workers()
    if workers > cap:
        raise EpcsimError(
            f"workers: at most {cap} ({MAX_WORKERS_PER_CORE} per core on this machine), "
            f"found {workers}; more processes than that only cost memory (use a Dask "
            "cluster to run on more machines)")


def check_address(address: str) -> str:
    """``address`` stripped, if it reads ``tcp://HOST:PORT`` or ``tls://HOST:PORT`` with a
    port in 1..65535; raises :class:`EpcsimError` otherwise (without connecting)."""
    address = address.strip()
    match = _ADDRESS_RE.fullmatch(address)
    if not match:
        raise EpcsimError(
            f"Dask scheduler address must look like tcp://HOST:PORT, found {address[:200]!r}")
    port = int(match.group(3))
    if not 1 <= port <= 65535:
        raise EpcsimError(f"Dask scheduler address {address!r}: the port must be in "
                          f"1..65535, found {port}")
    return address


def check_backend_options(backend: object, workers: object) -> None:
    """Check what the user asked for (worker count, scheduler address) without starting or
    connecting to anything, so a mistake is refused even when no run needs executing."""
    if isinstance(backend, Backend):
        return
    check_workers(workers)
    env_address = os.environ.get(SCHEDULER_ENV, "").strip()
    if backend is None:
        backend = env_address or "local"
    if backend == "dask":
        backend = env_address or backend
    if isinstance(backend, str) and "://" in backend:
        check_address(backend)
        if workers is not None:
            raise EpcsimError(
                "workers applies to the local backend; on Dask the cluster's workers decide "
                "(start more dask-worker processes instead)")


class Backend(abc.ABC):
    """Executes tasks and yields ``(index into tasks, outcome)`` as each one finishes."""

    name: str = "backend"

    @abc.abstractmethod
    def map_unordered(self, tasks: Sequence[RunTask]) -> Iterator[tuple[int, RunOutcome]]:
        """Execute ``tasks``; closing the iterator early cancels the runs not yet started."""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line for the study's final report, e.g. ``local pool, 8 workers``."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the backend's resources (processes, connections)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcessBackend(Backend):
    """Runs the tasks one after another in this process (for debugging, and ``workers=1``)."""

    name = "in-process"

    def map_unordered(self, tasks: Sequence[RunTask]) -> Iterator[tuple[int, RunOutcome]]:
        for index, task in enumerate(tasks):
            yield index, execute_task(task)

    def describe(self) -> str:
        return "in-process, 1 worker"


def _exit_when_parent_dies() -> None:
    """Pool worker initializer: exit as soon as the client process is gone.

    A process-pool worker otherwise waits forever on its task queue when the client is killed
    (SIGKILL, out of memory), keeping its memory and finishing a run nobody will record.
    """
    parent = multiprocessing.parent_process()
    if parent is None:  # pragma: no cover - not started by multiprocessing
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="epcsim-parent-watch", daemon=True).start()


class LocalPoolBackend(Backend):
    """Runs the tasks in a pool of ``workers`` spawned processes on this machine."""

    name = "local"

    def __init__(self, workers: int | None = None, *, start_method: str = "spawn") -> None:
        if workers is None:
            workers = default_workers()
        check_workers(workers)
        self.workers = workers
        self.start_method = start_method
        self.pools_started = 0
        #: Keep the pool between calls of map_unordered (until close): for callers that send
        #: many small batches, such as the sizing search, which would otherwise start a pool
        #: of fresh interpreters per batch.
        self.persistent = False
        self._pool: ProcessPoolExecutor | None = None

    def describe(self) -> str:
        return f"local process pool, {self.workers} worker{'s' if self.workers > 1 else ''}"

    def _new_pool(self, n_tasks: int) -> ProcessPoolExecutor:
        self.pools_started += 1
        return ProcessPoolExecutor(
            max_workers=self.workers if self.persistent else max(1, min(self.workers, n_tasks)),
            mp_context=multiprocessing.get_context(self.start_method),
            initializer=_exit_when_parent_dies,
        )

    def map_unordered(self, tasks: Sequence[RunTask]) -> Iterator[tuple[int, RunOutcome]]:
        if not tasks:
            return
        window = self.workers + 2
        next_index = 0
        pending: dict[Future[RunOutcome], int] = {}
        pool = self._pool if self._pool is not None else self._new_pool(len(tasks))
        self._pool = None
        alive = True
        try:
            while next_index < len(tasks) or pending:
                broken = False
                while next_index < len(tasks) and len(pending) < window:
                    try:
                        future = pool.submit(execute_task, tasks[next_index])
                    except BrokenProcessPool:  # a worker died since the last results came
                        broken = True
                        break
                    pending[future] = next_index
                    next_index += 1
                # After a worker death every pending future resolves at once; collect them all.
                done, _ = wait(pending, return_when=ALL_COMPLETED if broken else FIRST_COMPLETED)
                for future in sorted(done, key=pending.__getitem__):
                    index = pending.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        broken = True
                        outcome = failed_outcome("WorkerDied", _WORKER_DIED)
                    except Exception as exc:  # e.g. an unpicklable payload or outcome
                        outcome = failed_outcome(type(exc).__name__, str(exc),
                                                 traceback.format_exc())
                    yield index, outcome
                if broken:
                    for future, index in sorted(pending.items(), key=lambda item: item[1]):
                        future.cancel()
                        yield index, failed_outcome("WorkerDied", _WORKER_DIED)
                    pending.clear()
                    pool.shutdown(wait=True, cancel_futures=True)
                    alive = False
                    if not done:  # broken before any run was handed over: do not spin
                        raise EpcsimError(
                            "cannot start local worker processes: the process pool breaks "
                            "before running anything")
                    if next_index < len(tasks):
                        pool = self._new_pool(len(tasks) - next_index)
                        alive = True
        finally:
            if self.persistent and alive and not pending:
                self._pool = pool  # reused by the next call; shut down by close()
            else:
                pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _worker_epcsim_version() -> str:
    from epcsim import __version__

    return __version__


class DaskBackend(Backend):
    """Runs the tasks on a ``dask.distributed`` cluster reached at ``address``."""

    name = "dask"

    def __init__(self, address: str, *, timeout_s: float = 30.0,
                 check_versions: bool = True,
                 no_worker_timeout_s: float = DASK_NO_WORKER_TIMEOUT_S) -> None:
        address = check_address(address)
        self.no_worker_timeout_s = no_worker_timeout_s
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - dask is an optional extra
            raise EpcsimError(
                "a Dask scheduler was given but dask.distributed is not installed "
                "(pip install 'epcsim[dask]')") from exc
        self.address = address
        try:
            self.client: Any = Client(address, timeout=timeout_s, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise EpcsimError(
                f"cannot connect to the Dask scheduler at {address} within {timeout_s:g} s: "
                f"{exc}") from exc
        try:
            self.client.wait_for_workers(1, timeout=timeout_s)
        except (OSError, TimeoutError) as exc:
            self.client.close()
            raise EpcsimError(
                f"the Dask scheduler at {address} has no workers (waited {timeout_s:g} s); "
                "start some with `dask-worker " + address + "`") from exc
        if check_versions:
            self._check_versions()

    def _check_versions(self) -> None:
        import epcsim

        mine = epcsim.__version__
        theirs = self.client.run(_worker_epcsim_version)
        wrong = {worker: v for worker, v in theirs.items() if v != mine}
        if wrong:
            listing = ", ".join(f"{w} has {v}" for w, v in sorted(wrong.items()))
            self.client.close()
            raise EpcsimError(
                f"every Dask worker must run epcsim {mine} like this client; {listing}")

    def describe(self) -> str:
        n_threads = sum(self.client.nthreads().values())
        return f"Dask cluster at {self.address}, {n_threads} worker threads"

    def map_unordered(self, tasks: Sequence[RunTask]) -> Iterator[tuple[int, RunOutcome]]:
        if not tasks:
            return
        from distributed import as_completed

        study_id = uuid.uuid4().hex[:8]
        window = max(4, 2 * sum(self.client.nthreads().values()))
        next_index = 0
        pending: dict[Any, int] = {}
        completed = as_completed(loop=self.client.loop)

        def submit_more() -> None:
            nonlocal next_index
            while next_index < len(tasks) and len(pending) < window:
                task = tasks[next_index]
                future = self.client.submit(
                    execute_task, task, key=f"epcsim-run-{task.run_key}-{study_id}",
                    pure=False)
                pending[future] = next_index
                completed.add(future)
                next_index += 1

        submit_more()
        lost_since: float | None = None
        try:
            while pending:
                batch = completed.next_batch(block=False)
                if not batch:
                    # Nothing finished: make sure someone is still working on it. A cluster
                    # whose every worker died would otherwise keep the runs queued forever.
                    if self._n_workers() > 0:
                        lost_since = None
                    elif lost_since is None:
                        lost_since = time.monotonic()
                    elif time.monotonic() - lost_since > self.no_worker_timeout_s:
                        raise EpcsimError(
                            f"the Dask scheduler at {self.address} has had no worker for "
                            f"{self.no_worker_timeout_s:g} s (every worker died or left) with "
                            f"{len(pending) + len(tasks) - next_index} runs unfinished; the "
                            "finished runs are stored: start workers and run the study again "
                            "to resume")
                    self._wait_for_one(completed)
                    continue
                lost_since = None
                for future in sorted(batch, key=pending.__getitem__):
                    index = pending.pop(future)
                    try:
                        outcome = future.result()
                    except Exception as exc:  # e.g. KilledWorker
                        outcome = failed_outcome(type(exc).__name__, str(exc),
                                                 traceback.format_exc())
                    future.release()
                    yield index, outcome
                submit_more()
        finally:
            if pending:
                self.client.cancel(list(pending))

    @staticmethod
    def _wait_for_one(completed: Any, timeout_s: float = 0.5) -> None:
        """Block until a run may have finished (or ``timeout_s`` passed)."""
        condition = getattr(completed, "thread_condition", None)
        if condition is None:  # pragma: no cover - another distributed release
            time.sleep(0.05)
            return
        with condition:
            if not completed.has_ready():
                condition.wait(timeout=timeout_s)

    def _n_workers(self) -> int:
        try:
            return len(self.client.nthreads())
        except (OSError, TimeoutError) as exc:
            raise EpcsimError(f"lost the connection to the Dask scheduler at {self.address} "
                              f"({exc})") from exc

    def close(self) -> None:
        self.client.close()


def make_backend(backend: str | Backend | None = None, workers: int | None = None) -> Backend:
    """The backend a user asked for.

    Args:
        backend: ``None`` (the default): Dask if the ``EPCSIM_SCHEDULER`` environment
            variable holds a scheduler address, else the local pool; ``"local"``: the local
            pool (in-process if ``workers == 1``); ``"dask"``: the scheduler in
            ``EPCSIM_SCHEDULER``; a scheduler address ``"tcp://HOST:PORT"``; or a
            :class:`Backend` instance (used as is).
        workers: local worker processes (default: one per core); not allowed with Dask,
            where the cluster's workers decide.
    """
    if isinstance(backend, Backend):
        return backend
    env_address = os.environ.get(SCHEDULER_ENV, "").strip()
    if backend is None:
        backend = env_address or "local"
    if backend == "local":
        if workers == 1:
            return InProcessBackend()
        return LocalPoolBackend(workers)
    if backend == "dask":
        if not env_address:
            raise EpcsimError(
                f"backend 'dask' needs a scheduler address: give tcp://HOST:PORT or set "
                f"{SCHEDULER_ENV}")
        backend = env_address
    if isinstance(backend, str) and "://" in backend:
        if workers is not None:
            raise EpcsimError(
                "workers applies to the local backend; on Dask the cluster's workers decide "
                "(start more dask-worker processes instead)")
        return DaskBackend(backend)
    raise EpcsimError(
        f"unknown backend {backend!r} (expected 'local', 'dask' or a scheduler address "
        "tcp://HOST:PORT)")
