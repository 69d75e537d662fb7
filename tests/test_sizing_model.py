"""An analytic stand-in for the simulator, used to test sizing and the report without SimPy.

The evaluator models one VM as an M/M/c queue (c = min(vCPUs, enclave threads)) whose
exponential service time is the sum of: compute (cycles at the VM's base clock) and OCALL host
time; memory (LLC misses x DRAM latency + the SGX1 MEE or SGX2 TME-MK penalty); enclave
transitions (ECALL/OCALL cycles, or the switchless latency); and EPC paging. Paging follows the
uniform-access miss ratio ``max(0, 1 - usable EPC / working set)``: every touched page misses
with that probability and pays the fault path (AEX + handler + ELDU + ERESUME) plus a wait for
ksgxd, which is a single reclaimer modelled as an M/M/1 server doing EWB + EBLOCK per page. So
service time grows steeply once the working set exceeds the EPC, as measured on real SGX1.
Latency percentiles come from Erlang C: the response time is a mixture of Exp(mu) (no wait)
and the sum Exp(c mu - lambda) + Exp(mu) (wait), whose tail is closed-form. A run that cannot
keep up completes at its service capacity and its latency grows with the simulated duration.

This file also tests the evaluator against queueing theory, so the sizing tests stand on a
checked model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest
from scipy.optimize import brentq

from epcsim.reference.catalog import VmSize, get_vm
from epcsim.reference.cost_parameters import default_costs

SIMULATED_DURATION_S = 10.0


def erlang_c(servers: int, offered_erlangs: float) -> float:
    """Probability that an arrival waits in M/M/c (Erlang C), offered load a = lambda/mu < c."""
    term = 1.0
    total = 1.0
    for k in range(1, servers):
        term *= offered_erlangs / k
        total += term
    last = term * offered_erlangs / servers * servers / (servers - offered_erlangs)
    return last / (total + last)


def mmc_tail(t_s: float, servers: int, arrival_per_s: float, service_per_s: float) -> float:
    """P(response time > t) in M/M/c with FCFS."""
    a = arrival_per_s / service_per_s
    wait = erlang_c(servers, a)
    theta = servers * service_per_s - arrival_per_s
    mu = service_per_s
    if abs(theta - mu) < 1e-9 * mu:
        sum_tail = math.exp(-mu * t_s) * (1 + mu * t_s)
    else:
        sum_tail = (theta * math.exp(-mu * t_s) - mu * math.exp(-theta * t_s)) / (theta - mu)
    return (1 - wait) * math.exp(-mu * t_s) + wait * sum_tail


def mmc_percentile(p: float, servers: int, arrival_per_s: float, service_per_s: float) -> float:
    """Response-time percentile ``p`` (0..1) of M/M/c, by root finding on the closed-form tail."""
    hi = 1.0 / service_per_s
    while mmc_tail(hi, servers, arrival_per_s, service_per_s) > 1 - p:
        hi *= 2
    return float(brentq(lambda t: mmc_tail(t, servers, arrival_per_s, service_per_s) - (1 - p),
                        0.0, hi, xtol=1e-15, rtol=1e-12))


@dataclass(frozen=True)
class AnalyticWorkload:
    """A key-value store's GET, per operation (numbers in the range of published SGX apps)."""

    working_set_mib: float = 80.0
    compute_cycles: float = 120_000.0
    pages_per_op: float = 24.0
    llc_misses_per_op: float = 150.0
    dependent_fraction: float = 0.3
    ecalls: float = 1.0
    ocalls: float = 3.0
    ocall_host_s: float = 4e-6
    threads: int = 8
    epc_reserved_fraction: float = 0.06  # SECS/TCS/SSA/VA pages


class AnalyticEvaluator:
    """``evaluate(vm, load_ops_s, variant) -> metrics`` for the sizing tests (see module doc)."""

    def __init__(self, workload: AnalyticWorkload | None = None) -> None:
        self.workload = workload or AnalyticWorkload()
        self.calls = 0

    def service(self, vm: VmSize, variant: dict[str, Any]) -> dict[str, float]:
        w = self.workload
        costs = {**default_costs(), **variant.get("costs", {})}
        clock_hz = vm.base_ghz * 1e9
        ws_scale = float(variant.get("working_set_scale", 1.0))
        ws_mib = w.working_set_mib * ws_scale
        usable_mib = vm.epc_mib * (1 - w.epc_reserved_fraction)
        miss_ratio = max(0.0, 1.0 - usable_mib / ws_mib)
        faults_per_op = w.pages_per_op * miss_ratio  # touches per op stay as written
        fault_path_s = (costs["aex_cycles"] + costs["fault_handler_cycles"]
                        + costs["eldu_cycles"] + costs["eresume_cycles"]) / clock_hz
        ewb_s = (costs["ewb_cycles"] + costs["eblock_cycles"]
                 + costs["etrack_cycles"] / costs["reclaim_batch_pages"]) / clock_hz
        ocalls = w.ocalls * float(variant.get("ocalls_per_op_scale", 1.0))
        switchless = variant.get("ocall_mode") == "switchless"
        ocall_s = (costs["switchless_ocall_latency_s"] if switchless
                   else costs["ocall_cycles"] / clock_hz)
        transitions_s = w.ecalls * costs["ecall_cycles"] / clock_hz + ocalls * ocall_s
        penalty_ns = (costs["mee_miss_penalty_ns"] if vm.sgx_generation == 1
                      else w.dependent_fraction * costs["tme_dependent_miss_penalty_ns"])
        memory_s = w.llc_misses_per_op * (costs["dram_latency_ns"] + penalty_ns) * 1e-9
        compute_s = w.compute_cycles / clock_hz + ocalls * w.ocall_host_s
        threads = w.threads * float(variant.get("enclave_threads_scale", 1.0))
        servers = int(min(vm.vcpus - (1 if switchless and vm.vcpus > 1 else 0), threads))
        return {"compute_s": compute_s, "memory_s": memory_s, "transitions_s": transitions_s,
                "faults_per_op": faults_per_op, "fault_path_s": fault_path_s, "ewb_s": ewb_s,
                "servers": float(servers), "ws_mib": ws_mib, "threads": threads}

    def __call__(self, vm: VmSize, load_ops_s: float, variant: dict[str, Any]
                 ) -> dict[str, float]:
        self.calls += 1
        s = self.service(vm, variant)
        servers = int(s["servers"])
        # ksgxd is one reclaimer: M/M/1 on the fault stream; its capacity caps throughput.
        ksgxd_cap = (1.0 / (s["faults_per_op"] * s["ewb_s"]) if s["faults_per_op"] > 0
                     else math.inf)

        def paging_s(lam: float) -> float:
            rho_k = lam / ksgxd_cap
            wait_s = s["faults_per_op"] * s["ewb_s"] / (1 - rho_k) if rho_k < 1 else math.inf
            return s["faults_per_op"] * s["fault_path_s"] + wait_s

        def service_s(lam: float) -> float:
            return s["compute_s"] + s["memory_s"] + s["transitions_s"] + paging_s(lam)

        # Saturation throughput: the load at which the vCPUs (whose service time includes the
        # wait for ksgxd, growing with load) are all busy, or ksgxd itself saturates.
        hi = min(ksgxd_cap, servers / service_s(0.0))
        if math.isfinite(ksgxd_cap) and hi * service_s(hi * (1 - 1e-12)) > servers:
            max_tput = float(brentq(lambda x: x * service_s(x) - servers, 0.0, hi * (1 - 1e-12),
                                    xtol=1e-9, rtol=1e-12))
        else:
            max_tput = hi * (1 - 1e-12)
        lam = load_ops_s
        if lam < max_tput * (1 - 1e-6):
            svc_s = service_s(lam)
            mu = 1.0 / svc_s
            wait_mean_s = erlang_c(servers, lam / mu) / (servers * mu - lam)
            lat = {f"latency_p{p:g}_s": mmc_percentile(p / 100, servers, lam, mu)
                   for p in (50, 95, 99, 99.9)}
            throughput = lam
        else:
            # Overloaded: completions at the saturation rate; the backlog grows all run long.
            throughput = max_tput * (1 - 1e-6)
            svc_s = service_s(throughput)
            wait_mean_s = SIMULATED_DURATION_S * (1 - throughput / lam) / 2
            lat = {f"latency_p{p:g}_s": wait_mean_s * (p / 50) + svc_s
                   for p in (50, 95, 99, 99.9)}
        page_s = paging_s(throughput)
        total_s = wait_mean_s + svc_s
        return {
            **lat,
            "latency_mean_s": total_s,
            "throughput_ops_s": throughput,
            "share_compute": s["compute_s"] / total_s,
            "share_memory": s["memory_s"] / total_s,
            "share_transitions": s["transitions_s"] / total_s,
            "share_paging": page_s / total_s,
            "share_queueing": wait_mean_s / total_s,
            "epc_faults_per_s": throughput * s["faults_per_op"],
            "vcpu_utilisation": min(1.0, throughput * svc_s / vm.vcpus),
            "enclave_thread_utilisation": min(1.0, throughput * svc_s / s["threads"]),
            "ksgxd_utilisation": min(1.0, throughput / ksgxd_cap),
            "working_set_mib": s["ws_mib"],
        }


# ------------------------------------------------------------------ the evaluator vs theory


def test_erlang_c_known_values() -> None:
    # c = 1: P(wait) = rho; c = 2, a = 1: P(wait) = 1/3 (textbook value).
    assert erlang_c(1, 0.7) == pytest.approx(0.7)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)


@pytest.mark.parametrize("lam, mu", [(0.5, 1.0), (900.0, 1000.0), (10.0, 40.0)])
def test_mm1_percentile_matches_closed_form(lam: float, mu: float) -> None:
    # M/M/1 response time is Exp(mu - lambda): t_p = -ln(1 - p) / (mu - lambda).
    for p in (0.5, 0.95, 0.99):
        assert mmc_percentile(p, 1, lam, mu) == pytest.approx(-math.log(1 - p) / (mu - lam),
                                                              rel=1e-9)


def test_mmc_tail_is_a_survival_function() -> None:
    assert mmc_tail(0.0, 4, 3.0, 1.0) == pytest.approx(1.0)
    values = [mmc_tail(t, 4, 3.0, 1.0) for t in (0.1, 1, 3, 10, 30)]
    assert values == sorted(values, reverse=True) and values[-1] < 1e-3


def test_evaluator_limiting_cases() -> None:
    ev = AnalyticEvaluator()
    small = get_vm("DC4s_v2")  # 112 MiB EPC > 80 MiB working set: no faults
    m = ev(small, 1000.0, {})
    assert m["epc_faults_per_s"] == 0 and m["share_paging"] == 0
    assert sum(m[k] for k in ("share_compute", "share_memory", "share_transitions",
                              "share_paging", "share_queueing")) == pytest.approx(1.0)
    tiny = get_vm("DC2s_v2")  # 56 MiB EPC < 80 MiB: paging dominates
    t = ev(tiny, 100.0, {})
    assert t["epc_faults_per_s"] > 0 and t["share_paging"] > t["share_compute"]
    # Overload: throughput saturates below the offered load.
    assert ev(small, 1e7, {})["throughput_ops_s"] < 1e6
