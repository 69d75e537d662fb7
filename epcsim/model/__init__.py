"""The SimPy timing model of epcsim (the timing stage).

Build a :class:`ModelConfig` (frozen dataclasses of resolved numbers, see
:mod:`epcsim.model.config`) and call :func:`simulate`; it returns a :class:`RunResult`
(metrics dict, per-operation numpy arrays, counters, provenance; no pandas, no I/O).
docs/model.md describes every mechanism, assumption and cost parameter.
"""

from epcsim.model.config import (
    ArrivalConfig,
    EnclaveConfig,
    MemoryAccessConfig,
    ModelConfig,
    OperationConfig,
    PhaseConfig,
    RegionConfig,
    SimulationSettings,
    VmConfig,
    validate,
)
from epcsim.model.metrics import RunResult
from epcsim.model.simulate import simulate, simulate_pair

__all__ = [
    "ArrivalConfig",
    "EnclaveConfig",
    "MemoryAccessConfig",
    "ModelConfig",
    "OperationConfig",
    "PhaseConfig",
    "RegionConfig",
    "RunResult",
    "SimulationSettings",
    "VmConfig",
    "simulate",
    "simulate_pair",
    "validate",
]
