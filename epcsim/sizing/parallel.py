"""Sizing evaluations on a study backend: a local process pool, or a Dask cluster.

:class:`BackendRunner` is the ``batch`` function of a
:class:`~epcsim.sizing.evaluator.CachedEvaluator`: it turns a batch of evaluation requests
into study tasks (:func:`epcsim.sizing.simulator.evaluate_payload` with the scenario, the
evaluator's run lengths, the VM size, the load and the variant) and runs them on the backend,
yielding each outcome as it finishes. An evaluation is a pure function of its payload (fixed
seed, replication 0), so the outcomes are the same on any backend and worker count. The
local pool is kept between batches (``persistent=True``): the workers start once per sizing.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from epcsim.errors import EpcsimError
from epcsim.scenario import Scenario
from epcsim.sizing.evaluator import Outcome, Request
from epcsim.sizing.simulator import EvaluationPayload
from epcsim.study.executor import Backend, LocalPoolBackend, make_backend
from epcsim.study.task import RunTask


def sizing_backend(backend: str | Backend | None = None, workers: int | None = None
                   ) -> Backend:
    """The backend for a sizing: like :func:`epcsim.study.executor.make_backend`, but a local
    pool is kept alive between batches (close it when the sizing is done)."""
    be = make_backend(backend, workers)
    if isinstance(be, LocalPoolBackend):
        be.persistent = True
    return be


class BackendRunner:
    """Runs batches of sizing evaluations of ``scenario`` on ``backend`` (see module doc)."""

    def __init__(self, scenario: Scenario, settings: dict[str, Any], backend: Backend) -> None:
        self.scenario = scenario
        self.settings = dict(settings)
        self.backend = backend

    def __call__(self, requests: Sequence[Request]) -> Iterator[tuple[int, Outcome]]:
        tasks = []
        for i, (vm, load, variant) in enumerate(requests):
            ident = json.dumps([vm.size, float(load).hex(), dict(variant), i], sort_keys=True,
                               default=str)
            key = hashlib.sha256(ident.encode("utf-8")).hexdigest()[:32]
            payload = EvaluationPayload(self.scenario, self.settings, vm, float(load),
                                        dict(variant))
            tasks.append(RunTask(run_key=key, fn="epcsim.sizing.simulator:evaluate_payload",
                                 payload=payload))
        outcomes = self.backend.map_unordered(tasks)
        try:
            for index, outcome in outcomes:
                if outcome.ok:
                    yield index, dict(outcome.metrics)
                elif outcome.error_type == "EpcsimError":
                    yield index, EpcsimError(outcome.error or "evaluation failed")
                elif outcome.error_type == "WorkerDied":
                    raise EpcsimError(f"sizing: {outcome.error}")
                else:  # a bug in epcsim: keep the worker's traceback
                    raise RuntimeError(f"sizing evaluation failed in a worker: {outcome.error}\n"
                                       f"{outcome.traceback or ''}")
        finally:
            close = getattr(outcomes, "close", None)
            if close is not None:
                close()
