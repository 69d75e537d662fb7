"""The EPC part of the memory stage: residency engine, reference policies, MRC and LLC.

Importing this package compiles nothing; numba kernels compile (or load from the on-disk
cache) the first time an engine, a replay or a miss-ratio curve is used.
"""

from epcsim.epc.engine import (
    POLICIES,
    EpcEngine,
    ReplayStats,
    replay,
    usable_epc_pages,
)
from epcsim.epc.mrc import knee, lru_miss_ratio_curve

__all__ = ["POLICIES", "EpcEngine", "ReplayStats", "knee", "lru_miss_ratio_curve", "replay",
           "usable_epc_pages"]
