"""Sizing variants written into a real scenario (the bundled quickstart) through key paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from epcsim.errors import EpcsimError
from epcsim.scenario import load_scenario
from epcsim.scenario.spec import Scenario
from epcsim.sizing import Slo, apply_variant, variant_assignments

QUICKSTART = Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.yaml"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    if not QUICKSTART.is_file():  # pragma: no cover - the scenario ships with the repo
        pytest.skip("scenarios/quickstart.yaml is missing")
    return load_scenario(QUICKSTART)


def test_load_and_identity(scenario: Scenario) -> None:
    assert variant_assignments(scenario, None, {}) == {}
    out = apply_variant(scenario, 12_345.0, {})
    assert out.workload.arrival.kind == "poisson"
    assert out.workload.arrival.rate_per_s == 12_345.0
    assert out.enclaves == scenario.enclaves and out.costs == scenario.costs


def test_working_set_scale_scales_regions_and_enclave(scenario: Scenario) -> None:
    out = apply_variant(scenario, None, {"working_set_scale": 0.5})
    for before, after in zip(scenario.enclaves, out.enclaves, strict=True):
        for r0, r1 in zip(before.regions, after.regions, strict=True):
            assert r1.size_bytes % 4096 == 0
            assert r0.size_bytes * 0.5 <= r1.size_bytes < r0.size_bytes * 0.5 + 4096
        assert after.size_bytes >= sum(r.size_bytes for r in after.regions)
    # Per-operation touches stay as written.
    assert out.workload.operations == scenario.workload.operations


def test_ocall_batching_keeps_host_work(scenario: Scenario) -> None:
    out = apply_variant(scenario, None, {"ocalls_per_op_scale": 0.5,
                                         "ocall_mode": "switchless"})
    for op0, op1 in zip(scenario.workload.operations, out.workload.operations, strict=True):
        if op0.ocalls == 0:
            assert op1.ocalls == 0 and op1.call_mode == op0.call_mode
            continue
        assert op1.ocalls == max(1, round(op0.ocalls * 0.5))
        assert op1.ocalls * op1.ocall_host_time_s == pytest.approx(
            op0.ocalls * op0.ocall_host_time_s)
        assert op1.call_mode == "switchless"
    assert all(e.switchless_workers >= 1 for e in out.enclaves)


def test_threads_and_costs(scenario: Scenario) -> None:
    out = apply_variant(scenario, None, {"enclave_threads_scale": 2.0,
                                         "costs": {"ewb_cycles": 16000, "aex_cycles": 8000}})
    assert [e.threads for e in out.enclaves] == [2 * e.threads for e in scenario.enclaves]
    assert out.costs["ewb_cycles"] == 16000 and out.costs["aex_cycles"] == 8000
    with pytest.raises(EpcsimError, match="unknown key"):
        variant_assignments(scenario, None, {"threads": 2})


def test_slo_from_the_scenario(scenario: Scenario) -> None:
    slo = Slo.from_spec(scenario.slo)
    assert slo.target_load_ops_s == 10_000 and slo.latency_bound_s == pytest.approx(1e-3)
    assert slo.latency_percentile == 99 and slo.headroom_fraction == pytest.approx(0.2)

    class Partial:
        target_load_per_s = 100.0
        latency_bound_s = None

    with pytest.raises(EpcsimError, match=r"slo\.latency_bound"):
        Slo.from_spec(Partial())
