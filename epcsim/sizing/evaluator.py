"""The evaluation cache: every (VM size, load, variant) is evaluated once, keyed by a SHA-256
of everything that determines it (:func:`evaluation_key`).

Evaluations come in batches (:meth:`CachedEvaluator.evaluate_many`): the capacity searches of
several sizes, the two ends of an analytic bracket, the sensitivity cases and what-ifs ask for
their next points together, and the batch's misses go to a ``batch`` function that may run
them in parallel (see :mod:`epcsim.sizing.parallel`); the answers do not depend on how (or
whether) the batch was split. With a ``store`` folder every answer is also written there as
``<key>.json`` (atomically, as it arrives), so a later sizing of the same scenario, or one
that was killed half-way, reuses it.

An evaluation that cannot run at all (the variant is not a valid scenario on that size) is
an :class:`~epcsim.errors.EpcsimError`; :meth:`~CachedEvaluator.evaluate_many` returns it in
the evaluation's place (and stores it like an answer), :meth:`~CachedEvaluator.__call__`
raises it.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from epcsim.errors import EpcsimError
from epcsim.reference.catalog import VmSize
from epcsim.sizing.slo import REQUIRED_METRICS, Evaluate

#: One evaluation asked for: (VM size, offered load in ops/s, variant).
Request = tuple[VmSize, float, Mapping[str, Any]]
#: What an evaluation gave: the metrics, or why it could not run.
Outcome = dict[str, float] | EpcsimError
#: Runs a batch of requests, yielding (index into the batch, metrics or EpcsimError) in any
#: order (the parallel runner; the default runs them one after another in this process).
BatchRunner = Callable[[Sequence[Request]], Iterator[tuple[int, "Outcome"]]]
#: Progress callback: (evaluations done, evaluations expected in all, reused so far).
Progress = Callable[[int, int, int], None]

STORE_FORMAT = "epcsim-sizing-eval/1"
_KEY_RE = re.compile(r"[0-9a-f]{64}")

# --------------------------------------------------------------------------- evaluation cache


def evaluation_key(vm: VmSize, load_ops_s: float, variant: Mapping[str, Any],
                   namespace: str = "") -> str:
    """SHA-256 hex digest of everything that determines one evaluation: every field of the VM
    size, the load (exactly, as a float's hex form), the variant, and ``namespace`` (what the
    evaluator itself depends on, e.g. a hash of the resolved scenario and the epcsim version,
    so a cache kept between runs never answers for a changed scenario)."""
    payload = json.dumps(
        {"vm": vm.to_dict(), "load_ops_s": float(load_ops_s).hex(), "variant": variant,
         "namespace": namespace},
        sort_keys=True, default=str, separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


#: VM size fields that name, price or describe a size without changing what it runs: two
#: sizes equal in every other field (e.g. DC4s_v3 and DC4ds_v3: series name, local disk
#: and price) give the same evaluation, so one answers for both (:func:`behaviour_key`).
NON_BEHAVIOUR_FIELDS = frozenset({"size", "series", "linux_usd_per_hour", "price_as_of",
                                  "retires_on", "sources", "confidence", "temp_storage_gib",
                                  "max_data_disks"})


def behaviour_key(vm: VmSize, load_ops_s: float, variant: Mapping[str, Any],
                  namespace: str = "") -> str:
    """Like :func:`evaluation_key` but over the VM size's fields that the simulation uses
    only (not its name, price, disks or provenance)."""
    hardware = {k: v for k, v in vm.to_dict().items() if k not in NON_BEHAVIOUR_FIELDS}
    payload = json.dumps(
        {"hardware": hardware, "load_ops_s": float(load_ops_s).hex(), "variant": variant,
         "namespace": namespace},
        sort_keys=True, default=str, separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class Probe:
    """One evaluation as recorded by :class:`CachedEvaluator`."""

    vm_size: str
    load_ops_s: float
    variant: dict[str, Any]
    metrics: dict[str, float]


class EvaluationStore:
    """A folder of evaluations, one ``<key>.json`` per evaluation, written atomically.

    A file is used only when it parses, has this format and names its own key; anything else
    (a hand edit, another format) counts as absent and is evaluated again.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        if not _KEY_RE.fullmatch(key):
            raise ValueError(f"evaluation keys are 64 hex digits, found {key!r}")
        return self.folder / f"{key}.json"

    def get(self, key: str) -> Outcome | None:
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("format") != STORE_FORMAT \
                or data.get("key") != key:
            return None
        if isinstance(data.get("error"), str):
            return EpcsimError(data["error"])
        metrics = data.get("metrics")
        if not isinstance(metrics, dict):
            return None
        try:
            return {str(k): _from_json(v) for k, v in metrics.items()}
        except (TypeError, ValueError):
            return None

    def put(self, key: str, outcome: Outcome, request: Mapping[str, Any]) -> None:
        from epcsim.study.store import atomic_write_bytes

        self.folder.mkdir(parents=True, exist_ok=True)
        record: dict[str, Any] = {"format": STORE_FORMAT, "key": key, "request": request}
        if isinstance(outcome, EpcsimError):
            record["error"] = str(outcome)
        else:
            record["metrics"] = {k: _to_json(v) for k, v in outcome.items()}
        # Metrics keep their order (the result lists them as the evaluator gave them).
        atomic_write_bytes(self._path(key), (json.dumps(record, default=str)
                                             + "\n").encode("utf-8"), sync_dir=False)


def _to_json(value: float) -> float | str:
    return value if math.isfinite(value) else repr(value)  # 'inf', 'nan', '-inf'


def _from_json(value: Any) -> float:
    if isinstance(value, str) and value in ("inf", "-inf", "nan"):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    return float(value)


def _sequential(evaluate: Evaluate) -> BatchRunner:
    def run(requests: Sequence[Request]) -> Iterator[tuple[int, Outcome]]:
        for i, (vm, load, variant) in enumerate(requests):
            try:
                out: Outcome = dict(evaluate(vm, load, dict(variant)))
            except EpcsimError as exc:
                out = exc
            yield i, out
    return run


class CachedEvaluator:
    """Wraps an ``evaluate`` function with a cache keyed by :func:`evaluation_key`.

    ``cache`` may be passed in (any mutable mapping, e.g. a dict loaded from JSON) to reuse
    evaluations between processes; ``namespace`` is folded into every key (see
    :func:`evaluation_key`). ``store``: a folder (or :class:`EvaluationStore`) where every
    evaluation is written and looked up; ``force`` ignores what it holds (and overwrites it).
    ``batch`` runs the misses of a batch (default: ``evaluate`` in this process, one after
    another). ``progress`` is called after each evaluation of a batch.

    ``calls`` counts the distinct evaluations this evaluator needed (computed now or read from
    the store: the figure does not depend on what the store held); ``computed`` those it ran,
    ``reused`` those it read from the store, ``hits`` repeated lookups answered from memory
    (``twins`` of them by the evaluation of another size with the same hardware, see
    :data:`NON_BEHAVIOUR_FIELDS`).
    ``probes`` lists every distinct evaluation in first-use order (the report plots latency
    against load from them).
    """

    def __init__(self, evaluate: Evaluate | None,
                 cache: MutableMapping[str, dict[str, float]] | None = None,
                 namespace: str = "", *, store: EvaluationStore | str | Path | None = None,
                 batch: BatchRunner | None = None, force: bool = False,
                 progress: Progress | None = None) -> None:
        if evaluate is None and batch is None:
            raise ValueError("CachedEvaluator needs an evaluate function or a batch runner")
        self._evaluate = evaluate
        self._batch = batch if batch is not None else _sequential(evaluate)  # type: ignore[arg-type]
        self.cache: MutableMapping[str, dict[str, float]] = {} if cache is None else cache
        self.errors: dict[str, EpcsimError] = {}
        self.namespace = namespace
        self.store = (store if isinstance(store, EvaluationStore) or store is None
                      else EvaluationStore(store))
        self.force = force
        self.progress = progress
        self.expected = 0
        self.calls = 0
        self.computed = 0
        self.reused = 0
        self.hits = 0
        self.twins = 0
        self.probes: list[Probe] = []
        self._seen: set[str] = set()
        # behaviour key -> metrics, to answer a size from its twin's evaluation (see
        # NON_BEHAVIOUR_FIELDS); errors are not shared (their messages name the size).
        self._by_behaviour: dict[str, dict[str, float]] = {}

    def expect(self, more: int) -> None:
        """Tell the progress callback that about ``more`` further evaluations are coming."""
        self.expected = max(self.expected, self.calls) + max(0, more)
        self._report()

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.calls, max(self.expected, self.calls), self.reused)

    def _record(self, key: str, request: Request, outcome: Outcome) -> None:
        if isinstance(outcome, EpcsimError):
            self.errors[key] = outcome
            return
        if key not in self._seen:
            self._seen.add(key)
            vm, load, variant = request
            self.probes.append(Probe(vm.size, float(load), dict(variant), outcome))

    def _lookup(self, key: str) -> Outcome | None:
        if key in self.errors:
            return self.errors[key]
        return self.cache.get(key)

    def evaluate_many(self, requests: Iterable[Request]) -> list[Outcome]:
        """Outcomes of ``requests``, in order: metrics, or the EpcsimError saying why that
        evaluation cannot run. Misses are evaluated once each (duplicates in the batch
        share one evaluation), stored as they arrive, and recorded in request order."""
        reqs = [(vm, float(load), dict(variant)) for vm, load, variant in requests]
        keys = [evaluation_key(vm, load, variant, self.namespace) for vm, load, variant in reqs]
        twins = [behaviour_key(vm, load, variant, self.namespace) for vm, load, variant in reqs]
        found: dict[str, Outcome] = {}
        todo: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key in found or key in todo:
                continue
            known = self._lookup(key)
            if known is None and twins[i] in self._by_behaviour:
                known = self._keep(key, self._by_behaviour[twins[i]])
                self.twins += 1
            if known is not None:
                self.hits += 1
                found[key] = known
                continue
            if self.store is not None and not self.force:
                stored = self.store.get(key)
                if stored is not None and (isinstance(stored, EpcsimError)
                                           or not _missing(stored)):
                    self.reused += 1
                    self.calls += 1
                    found[key] = self._keep(key, stored, twins[i])
                    self._report()
                    continue
            todo[key] = i
        # A size whose twin (same hardware) asks for the same point in this batch waits for
        # the twin's answer instead of running it again.
        first: dict[str, str] = {}
        copies: dict[str, str] = {}
        for key, i in todo.items():
            if twins[i] in first:
                copies[key] = first[twins[i]]
            else:
                first[twins[i]] = key
        for key in copies:
            del todo[key]
        if todo:
            order = list(todo)
            batch = [reqs[todo[k]] for k in order]
            for j, outcome in self._batch(batch):
                key = order[j]
                vm, load, _ = batch[j]
                if not isinstance(outcome, EpcsimError):
                    outcome = {k: float(v) for k, v in outcome.items()}
                    missing = _missing(outcome)
                    if missing:
                        raise ValueError(f"evaluate() for {vm.size} at {load:g} ops/s "
                                         f"returned no {', '.join(missing)}")
                if self.store is not None:
                    self.store.put(key, outcome, _describe(batch[j]))
                self.calls += 1
                self.computed += 1
                found[key] = self._keep(key, outcome, twins[todo[key]])
                self._report()
            lost = [k for k in order if k not in found]
            if lost:
                raise RuntimeError(f"the batch runner returned no outcome for {len(lost)} "
                                   "evaluation(s)")
        for key, source in copies.items():
            outcome = found[source]
            if isinstance(outcome, EpcsimError):  # errors are not shared: run its own
                found[key] = self.evaluate_many([reqs[keys.index(key)]])[0]
            else:
                found[key] = self._keep(key, outcome)
                self.twins += 1
                self.hits += 1
        for key, request in zip(keys, reqs, strict=True):
            self._record(key, request, found[key])
        return [found[k] for k in keys]

    def _keep(self, key: str, outcome: Outcome, twin: str | None = None) -> Outcome:
        if isinstance(outcome, EpcsimError):
            self.errors[key] = outcome
        else:
            self.cache[key] = outcome
            if twin is not None:
                self._by_behaviour.setdefault(twin, outcome)
        return outcome

    def __call__(self, vm: VmSize, load_ops_s: float, variant: Mapping[str, Any]) -> dict[
            str, float]:
        outcome = self.evaluate_many([(vm, load_ops_s, variant)])[0]
        if isinstance(outcome, EpcsimError):
            raise outcome
        return outcome


def _missing(metrics: Mapping[str, float]) -> list[str]:
    return [m for m in REQUIRED_METRICS if m not in metrics]


def _describe(request: Request) -> dict[str, Any]:
    vm, load, variant = request
    return {"vm_size": vm.size, "load_ops_s": load, "variant": dict(variant)}
