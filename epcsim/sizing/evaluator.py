"""The evaluation cache: every (VM size, load, variant) is evaluated once, keyed by a SHA-256
of everything that determines it (:func:`evaluation_key`).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from epcsim.reference.catalog import VmSize
from epcsim.sizing.slo import REQUIRED_METRICS, Evaluate

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


@dataclass
class Probe:
    """One evaluation as recorded by :class:`CachedEvaluator`."""

    vm_size: str
    load_ops_s: float
    variant: dict[str, Any]
    metrics: dict[str, float]


class CachedEvaluator:
    """Wraps an ``evaluate`` function with a cache keyed by :func:`evaluation_key`.

    ``cache`` may be passed in (any mutable mapping, e.g. a dict loaded from JSON) to reuse
    evaluations between processes; ``namespace`` is folded into every key (see
    :func:`evaluation_key`). ``calls`` counts real evaluations, ``hits`` cached answers;
    ``probes`` lists every distinct evaluation this evaluator answered, in first-use order
    (the report plots latency against load from them), whether it came from the cache or not,
    so results do not depend on what the cache held.
    """

    def __init__(self, evaluate: Evaluate,
                 cache: MutableMapping[str, dict[str, float]] | None = None,
                 namespace: str = "") -> None:
        self._evaluate = evaluate
        self.cache: MutableMapping[str, dict[str, float]] = {} if cache is None else cache
        self.namespace = namespace
        self.calls = 0
        self.hits = 0
        self.probes: list[Probe] = []
        self._seen: set[str] = set()

    def __call__(self, vm: VmSize, load_ops_s: float, variant: Mapping[str, Any]) -> dict[
            str, float]:
        key = evaluation_key(vm, load_ops_s, variant, self.namespace)
        metrics = self.cache.get(key)
        if metrics is not None:
            self.hits += 1
        else:
            metrics = {k: float(v)
                       for k, v in self._evaluate(vm, load_ops_s, dict(variant)).items()}
            missing = [m for m in REQUIRED_METRICS if m not in metrics]
            if missing:
                raise ValueError(f"evaluate() for {vm.size} at {load_ops_s:g} ops/s returned "
                                 f"no {', '.join(missing)}")
            self.calls += 1
            self.cache[key] = metrics
        if key not in self._seen:
            self._seen.add(key)
            self.probes.append(Probe(vm.size, float(load_ops_s), dict(variant), metrics))
        return metrics


