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
from pathlib import Path
from typing import Any

from epcsim.errors import EpcsimError
from epcsim.scenario import Scenario
from epcsim.sizing.evaluator import CachedEvaluator, Outcome, Request
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


#: Scenario parts that change prices, availability or the uncertainty draws, never an
#: evaluation.
MARKET_PARTS: dict[str, Any] = {"slo": {"as_of", "region", "pricing", "subscription"},
                                "uncertain": True, "uncertainty": True}


def simulator_cache(scenario: Scenario, slo: Any, *, measured_ops: int, workers: int | None,
                    backend: Any, store_dir: Path | None, force: bool, progress: Any
                    ) -> tuple[CachedEvaluator, Backend | None]:
    """The evaluation cache over the simulator (:class:`~epcsim.sizing.simulator.
    SimulatorEvaluator`) for ``scenario`` under ``slo``: in this process (``workers=1`` and
    no ``backend``), else on a local pool or ``backend``. Returns the cache and the backend
    the caller must close (None when there is none, or it is the caller's own)."""
    from epcsim import __version__
    from epcsim.sizing.simulator import SimulatorEvaluator, evaluator_settings

    evaluator = SimulatorEvaluator(scenario, reference_load_ops_s=slo.target_load_ops_s,
                                   latency_percentile=slo.latency_percentile,
                                   measured_ops=measured_ops,
                                   latency_bound_s=slo.latency_bound_s)
    settings = evaluator_settings(evaluator)
    # Everything an evaluation depends on besides (VM size, load, variant): the resolved
    # scenario, the evaluator's run lengths and the epcsim version.
    dumped = scenario.model_dump(mode="json", by_alias=True, exclude=MARKET_PARTS)
    if all(dumped["simulation"].get("mechanisms", {}).values()):
        dumped["simulation"].pop("mechanisms", None)  # all on: the namespace as before them
    namespace = hashlib.sha256(json.dumps(
        {"scenario": dumped, "settings": settings,
         "epcsim": __version__}, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    be = None
    batch = None
    if workers != 1 or backend is not None:
        be = sizing_backend(backend, workers)
        batch = BackendRunner(scenario, settings, be)
        if isinstance(backend, Backend):
            be = None  # the caller's: not ours to close
    ev = CachedEvaluator(evaluator if batch is None else None, namespace=namespace,
                         store=store_dir, batch=batch, force=force, progress=progress)
    return ev, be
