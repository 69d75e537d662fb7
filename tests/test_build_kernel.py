"""The enclave build's compiled loop (``EpcEngine.build`` / ``_kernels.build_kernel``) against
the Python loop of :func:`epcsim.model.startup.build_enclaves` it replaces: the same start-up
times bit for bit, the same evictions and batches, and the same EPC state afterwards, for
every policy, the isgx driver's per-enclave victims and several enclaves."""

from __future__ import annotations

import numpy as np
import pytest

from epcsim.epc import EpcEngine
from epcsim.model import EnclaveConfig, RegionConfig, SimulationSettings, VmConfig
from epcsim.model.run_costs import run_costs
from epcsim.model.startup import build_enclaves
from tests.test_model_epc import kv_config


class _PythonOnly:
    """The engine without its compiled build: build_enclaves falls back to its Python loop."""

    def __init__(self, engine: EpcEngine) -> None:
        self._e = engine

    @property
    def free_pages(self) -> int:
        return self._e.free_pages

    def touch(self, enclave: int, pages: np.ndarray, start: int = 0) -> tuple[int, int, int]:
        return self._e.touch(enclave, pages, start)

    def needs_reclaim(self) -> bool:
        return self._e.needs_reclaim()

    def reclaim(self, n_pages: int) -> np.ndarray:
        return self._e.reclaim(n_pages)

    def resident_pages(self, enclave: int | None = None) -> int:
        return self._e.resident_pages(enclave)


def _config(sizes: list[int], epc_pages: int):
    base = kv_config(100, epc_pages)
    enclaves = tuple(EnclaveConfig(f"e{i}", regions=(RegionConfig("r", n),), threads=2)
                     for i, n in enumerate(sizes))
    return base.__class__(**{**base.__dict__, "enclaves": enclaves,
                             "vm": VmConfig("v", vcpus=4, clock_hz=2.4e9, sgx_generation=1,
                                            epc_pages=epc_pages),
                             "settings": SimulationSettings(duration_s=0.01)})


def _engine(config, policy: str, isgx: bool) -> EpcEngine:
    costs = run_costs(config)
    return EpcEngine(capacity_pages=config.vm.epc_pages - 40,
                     enclave_pages=[e.committed_pages for e in config.enclaves],
                     policy=policy, seed=7, reclaim_batch_pages=costs.reclaim_batch_pages,
                     low_watermark_pages=costs.low_watermark_pages,
                     high_watermark_pages=costs.high_watermark_pages, va_pages=False,
                     victims_per_enclave=isgx)


@pytest.mark.parametrize("policy,isgx", [("linux", False), ("linux", True), ("lru", False),
                                         ("fifo", False), ("clock", False),
                                         ("random", False)])
@pytest.mark.parametrize("sizes,epc_pages", [([3000], 1000), ([2500, 1800], 1200),
                                             ([500], 4000), ([700, 700, 700], 900)])
def test_compiled_build_equals_the_python_loop(policy: str, isgx: bool, sizes: list[int],
                                               epc_pages: int) -> None:
    config = _config(sizes, epc_pages)
    costs = run_costs(config)
    edmm = [False] * len(sizes)
    fast, slow = _engine(config, policy, isgx), _engine(config, policy, isgx)
    a = build_enclaves(fast, config, costs, edmm)
    b = build_enclaves(_PythonOnly(slow), config, costs, edmm)  # type: ignore[arg-type]
    assert a.startup_s == b.startup_s  # bit for bit: same arithmetic, same order
    assert (a.evictions, a.batches) == (b.evictions, b.batches)
    if sum(sizes) > epc_pages:
        assert a.evictions > 0 and a.batches > 0
    for name in ("_status", "_prev", "_nxt", "_ref", "_frame_of", "_frame_gid", "_fref",
                 "_freeq", "_pos", "_dense", "_rng", "_sc", "_cnt"):
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
