"""Uncertain inputs (issue 17): the section's checks, the Latin-hypercube draws, and the
propagation through the capacity search against M/M/1 theory."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from epcsim.reference.catalog import VmSize, get_vm
from epcsim.scenario import load_scenario
from epcsim.scenario.uncertain import ResolvedInput, resolve_inputs
from epcsim.sizing import CachedEvaluator, Slo
from epcsim.sizing.uncertainty import latin_hypercube, propagate

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "scenarios" / "quickstart-uncertain.yaml"


def _item(key: str, dist: str, **params: float) -> ResolvedInput:
    lo = params.get("low", 0.0)
    hi = params.get("high", 1.0)
    return ResolvedInput(key, dist, dict(params), lo, hi, 0.5 * (lo + hi), False)


def test_latin_hypercube_puts_one_draw_in_every_stratum_and_is_seeded() -> None:
    items = [_item("a", "uniform", low=0.0, high=1.0), _item("b", "uniform", low=10.0,
                                                             high=20.0)]
    draws = latin_hypercube(items, 16, seed=42)
    for key, lo, hi in (("a", 0.0, 1.0), ("b", 10.0, 20.0)):
        strata = sorted(int((d[key] - lo) / (hi - lo) * 16) for d in draws)
        assert strata == list(range(16))
    assert draws == latin_hypercube(items, 16, seed=42)
    assert draws != latin_hypercube(items, 16, seed=43)


def test_triangular_draws_follow_the_mode() -> None:
    item = _item("t", "triangular", low=0.0, mode=0.9, high=1.0)
    xs = [d["t"] for d in latin_hypercube([item], 200, seed=1)]
    assert all(0.0 <= x <= 1.0 for x in xs)
    assert abs(sum(xs) / len(xs) - (0.0 + 0.9 + 1.0) / 3) < 0.01  # triangular mean


def test_quickstart_uncertain_resolves_in_base_units() -> None:
    scn = load_scenario(QUICK)
    inputs, issues = resolve_inputs(scn)
    assert not issues
    by = {i.key: i for i in inputs}
    compute = by["workload.operations.get.compute"]
    assert compute.write_key.endswith("compute.cycles")
    assert compute.lo == pytest.approx(3000 * math.exp(-0.9))
    assert by["workload.arrival.rate"].params == {"low": 8000.0, "high": 14000.0}


@pytest.mark.parametrize("entry, needle", [
    ("workload.operations.get.memory.7.pages: {low: 1, high: 2}", "out of range"),
    ("workload.operations.get.memory.1.pattern: {low: 1, high: 2}", "not a numeric field"),
    ("workload.operations.get.memory.1.pages: {low: 4, high: 1}", "low must be below high"),
    ("workload.operations.get.memory.1.llc_miss_fraction: {low: 0.5, high: 1.5}",
     "invalid"),
    ("workload.operations.get.memory.1.llc_miss_fraction: {dist: normal, mean: 0.5}",
     "takes mean, sd"),
])
def test_check_refuses_bad_uncertain_entries(tmp_path: Path, entry: str, needle: str) -> None:
    text = QUICK.read_text().split("uncertain:")[0]
    bad = tmp_path / "bad.yaml"
    bad.write_text(text + "uncertain:\n  " + entry + "\n")
    proc = subprocess.run([sys.executable, "-m", "epcsim", "check", str(bad)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2, proc.stdout
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr


def test_too_many_draws_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(QUICK.read_text().replace("draws: 8 ", "draws: 1000 "))
    proc = subprocess.run([sys.executable, "-m", "epcsim", "check", str(bad)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "uncertainty.draws" in proc.stderr


def _mm1(vm: VmSize, load_ops_s: float, variant: dict[str, Any]) -> dict[str, float]:
    """M/M/1 whose service time is the drawn ``svc`` (seconds) divided by the vCPUs."""
    service_s = float(variant.get("set", {}).get("svc", 1e-4)) / vm.vcpus
    mu = 1.0 / service_s
    if load_ops_s < mu:
        p99, tput, q = -math.log(0.01) / (mu - load_ops_s), load_ops_s, load_ops_s / mu
    else:
        p99, tput, q = 1e3, mu, 1.0
    return {"latency_p99_s": p99, "throughput_ops_s": tput, "share_compute": 1 - q,
            "share_memory": 0.0, "share_transitions": 0.0, "share_paging": 0.0,
            "share_queueing": q, "epc_faults_per_s": 0.0,
            "vcpu_utilisation": min(1.0, load_ops_s * service_s)}


def test_propagation_matches_mm1_capacity_at_the_ends() -> None:
    svc = ResolvedInput("svc", "uniform", {"low": 5e-5, "high": 2e-4}, 5e-5, 2e-4, 1e-4,
                        False, 1, "svc")
    vms = [get_vm("DC1s_v3"), get_vm("DC2s_v3")]
    bound = 1e-3
    slo = Slo(target_load_ops_s=2000.0, latency_percentile=99.0, latency_bound_s=bound)
    out = propagate(CachedEvaluator(_mm1), vms, slo, [svc], 16, seed=7, recommended=None,
                    rel_tol=0.005)
    assert math.isclose(sum(out["cheapest_share"].values()) + out["no_size_share"], 1.0)
    # M/M/1 capacity for p99 <= bound: mu - ln(100)/bound, per vCPU count.
    for vm in vms:
        c = out["capacity"][vm.size]
        worst = vm.vcpus / 2e-4 - math.log(100) / bound
        best = vm.vcpus / 5e-5 - math.log(100) / bound
        assert worst * 0.98 <= c["p5"] <= c["p95"] <= best * 1.001
    (t,) = out["tornado"]
    focus = out["tornado_size"]
    v = next(x for x in vms if x.size == focus).vcpus
    assert t["capacity_low_ops_s"] == pytest.approx(v / 5e-5 - math.log(100) / bound, rel=0.02)
    assert t["capacity_high_ops_s"] == pytest.approx(v / 2e-4 - math.log(100) / bound,
                                                     rel=0.02)
