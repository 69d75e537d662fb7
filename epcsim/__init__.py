"""epcsim: predict Intel SGX enclave performance on Azure confidential VMs.

A scenario YAML file describes a confidential workload; epcsim simulates it on one or many VM
sizes with a two-stage model (numpy/numba memory stage for EPC residency, SimPy timing stage
for transitions, paging and queueing) and reports throughput, latency, where the time goes and
the cheapest VM size that meets a target. See docs/ for the model, the scenario format and the
metrics.

The public API is importable from here; names load on first use, so ``import epcsim`` stays
cheap (nothing is compiled until the EPC engine first runs)::

    import epcsim
    scn = epcsim.load_scenario("scenarios/quickstart.yaml", overrides=["simulation.seed=7"])
    study = epcsim.run_study(scn, out_dir="results/quickstart")
    study.aggregate  # pandas DataFrame: one row per VM size and sweep point, with 95% CIs
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("epcsim")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

_HOMES = {
    "load_scenario": "epcsim.scenario",
    "plan_study": "epcsim.scenario",
    "Scenario": "epcsim.scenario",
    "run_study": "epcsim.api",
    "simulate_run": "epcsim.api",
    "finish_study": "epcsim.api",
    "recommend": "epcsim.api",
    "with_overrides": "epcsim.api",
    "StudyOutput": "epcsim.api",
    "load_catalog": "epcsim.reference.catalog",
    "get_vm": "epcsim.reference.catalog",
    "EpcsimError": "epcsim.errors",
    "ScenarioError": "epcsim.errors",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'epcsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__all__ = ["__version__", *sorted(_HOMES)]
