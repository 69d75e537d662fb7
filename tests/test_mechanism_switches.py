"""``simulation.mechanisms``: each issue-14 mechanism switched off really removes it (a limiting
case computed by hand per switch), everything on is the model as before the switches (run
keys unchanged), and ``epcsim mechanisms`` measures capacities one switch at a time."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_paging_model import CLOCK_HZ, EWB, HANDLER, ONLY_LOCK_COSTS, _pc, thrash_config

from epcsim.cli import main
from epcsim.model import ModelConfig, simulate
from epcsim.model.config import resolved_costs
from epcsim.model.paging import EnclaveLocks, PagingCosts, reclaim_batch_cost
from epcsim.model.run_costs import run_costs
from epcsim.model.startup import usable_epc_pages
from epcsim.reference.catalog import get_vm
from epcsim.reference.cost_parameters import default_costs
from epcsim.scenario import load_scenario
from epcsim.scenario.mechanisms import COST_EQUIVALENTS, MECHANISM_NAMES
from epcsim.scenario.plan import run_key
from epcsim.sizing import CachedEvaluator, Slo, latency_key
from epcsim.sizing.mechanisms import BASELINE, mechanism_cases, mechanism_steps
from epcsim.sizing.steps import drive
from epcsim.study.configure import model_config

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"


def _settings(cfg: ModelConfig, **kw: Any) -> ModelConfig:
    return dataclasses.replace(cfg, settings=dataclasses.replace(cfg.settings, **kw))


# ---- enclave lock -------------------------------------------------------------------------

def test_lock_off_never_waits_but_counts_the_hold() -> None:
    locks = EnclaveLocks(1, serialise=False)
    assert locks.acquire(0, 0.0, 10.0) == 0.0
    assert locks.acquire(0, 4.0, 5.0) == 0.0  # would wait 6 with the lock
    assert locks.hold_s == [15.0] and locks.wait_s == [0.0]


def test_lock_off_one_enclave_is_bounded_by_ksgxd_not_by_the_lock() -> None:
    on = simulate(thrash_config(1), 0, 1).metrics
    off = simulate(_settings(thrash_config(1), enclave_lock=False), 0, 1).metrics
    assert off["enclave_lock_wait_s_per_op"] == 0.0
    # with the lock: clock / (handler + EWB) = 25,000 faults/s; without it the 4 threads
    # could fault 4 x 1e9 / 30,000 = 133,000/s and ksgxd evicts 1e9 / 10,000 = 100,000/s
    assert on["epc_faults_per_s"] == pytest.approx(CLOCK_HZ / (HANDLER + EWB), rel=0.05)
    assert off["epc_faults_per_s"] == pytest.approx(CLOCK_HZ / EWB, rel=0.1)


def test_lock_off_with_two_threads_no_paging_wait() -> None:
    m = simulate(_settings(thrash_config(1, threads=2), enclave_lock=False), 0, 1).metrics
    assert m["enclave_lock_wait_s_per_op"] == 0.0 and m["epc_faults_per_s"] > 0


# ---- TLB shootdowns ------------------------------------------------------------------------

@pytest.mark.parametrize("driver", ["upstream", "isgx"])
def test_batch_without_shootdowns_sends_only_the_etrack_ipi(driver: str) -> None:
    locks = EnclaveLocks(1)
    bc = reclaim_batch_cost(locks, 0.0, [16], [2], [False], _pc(), driver,  # type: ignore[arg-type]
                            shootdowns=False)
    # 16 x backing 1 + [16 x 10 + ETRACK 3 + IPI 5]: the 16 rounds of 5 are gone
    assert bc.duration_s == pytest.approx(16 + 168)
    assert locks.hold_s == [pytest.approx(168)]
    assert bc.ipi_rounds == 1 and bc.forced_exits == [1]


def test_isgx_thrash_swap_rate_with_and_without_shootdowns() -> None:
    ipi = 5_000  # cycles per IPI round (aex, handler, eresume 0: forced exits are free)
    cfg = dataclasses.replace(thrash_config(1), costs={**ONLY_LOCK_COSTS, "ipi_cycles": ipi})
    cfg = _settings(cfg, sgx_driver="isgx", epc_policy="fifo")
    on = simulate(cfg, 0, 1).metrics
    off = simulate(_settings(cfg, tlb_shootdowns=False), 0, 1).metrics
    # isgx holds the lock for the whole batch of 16: per page handler + EWB (+ one round per
    # page with shootdowns) + (ETRACK IPI round) / 16; the lock is always busy
    assert on["epc_faults_per_s"] == pytest.approx(
        CLOCK_HZ / (HANDLER + EWB + ipi + ipi / 16), rel=0.05)
    assert off["epc_faults_per_s"] == pytest.approx(CLOCK_HZ / (HANDLER + EWB + ipi / 16),
                                                    rel=0.05)
    assert off["ipis_per_s"] <= off["ksgxd_batches_per_s"] * (1 + 1e-9)


# ---- usable EPC ----------------------------------------------------------------------------

def test_va_pages_off_gives_them_back_to_the_enclave() -> None:
    cfg = thrash_config(1)
    # VA(4,000) = ceil(4,001 / 512) = 8 pages (test_paging_model: usable = 3,000 with them)
    assert usable_epc_pages(_settings(cfg, va_pages=False)) == 3_000 + 8


def _scenario(*sets: str) -> Any:
    return load_scenario(QUICKSTART, ["simulation.duration=60 ms", "simulation.warmup=10 ms",
                                      *sets])


def test_platform_enclaves_off_takes_no_epc() -> None:
    vm = get_vm("DC2s_v2")
    on = model_config(_scenario("simulation.platform_enclaves=2 MiB"), vm)
    off = model_config(_scenario("simulation.platform_enclaves=2 MiB",
                                 "simulation.mechanisms.platform_enclaves=false"), vm)
    assert on.settings.platform_enclave_pages == 512
    assert off.settings.platform_enclave_pages == 0
    assert usable_epc_pages(off) - usable_epc_pages(on) == 512


# ---- switches that are exactly a cost at its neutral value ---------------------------------

@pytest.mark.parametrize("name", sorted(COST_EQUIVALENTS))
def test_cost_equivalent_switch_wins_over_the_scenario_costs(name: str) -> None:
    vm = get_vm("DC2s_v3")
    neutral = COST_EQUIVALENTS[name]
    written = {k: 7.0 for k in neutral}  # the scenario's own values lose to the switch
    sets = [f"costs.{k}={v}" for k, v in written.items()]
    off = model_config(_scenario(*sets, f"simulation.mechanisms.{name}=false"), vm)
    on = model_config(_scenario(*sets), vm)
    assert {k: resolved_costs(off)[k] for k in neutral} == neutral
    assert {k: resolved_costs(on)[k] for k in neutral} == written


def test_vm_ipi_surcharge_off_is_the_bare_metal_round() -> None:
    vm = get_vm("DC2s_v2")
    cfg = model_config(_scenario("simulation.mechanisms.vm_ipi_surcharge=false"), vm)
    pc = PagingCosts.from_costs(resolved_costs(cfg), cfg.vm.clock_hz, "vm")
    assert pc.ipi_round_s == pytest.approx(default_costs()["ipi_cycles"] / cfg.vm.clock_hz)


def test_page_walks_off_gives_no_tlb_time_sgx_or_native() -> None:
    scn = _scenario("simulation.mechanisms.page_walks=false")
    for size in ("DC2s_v2", "DC2s_v3"):
        cfg = model_config(scn, get_vm(size))
        sgx = simulate(cfg, 0, 1)
        native = simulate(cfg, 0, 1, native=True)
        assert sgx.metrics["share_tlb"] == 0.0 and native.metrics["share_tlb"] == 0.0
        assert float(np.nanmax(sgx.arrays["tlb_s"])) == 0.0  # NaN: still running at the end
    on = simulate(model_config(_scenario(), get_vm("DC2s_v3")), 0, 1).metrics
    assert on["share_tlb"] > 0


def test_tme_penalty_off_and_build_off_limits() -> None:
    vm = get_vm("DC2s_v3")
    off = run_costs(model_config(_scenario("simulation.mechanisms.tme_dependent_penalty=false",
                                           "simulation.mechanisms.enclave_build=false"), vm))
    assert off.tme_dependent_penalty_s == 0.0
    assert off.raw["ecreate_einit_cycles"] == 0.0 and off.raw["eremove_cycles"] == 0.0
    m = simulate(model_config(_scenario("simulation.mechanisms.enclave_build=false"), vm),
                 0, 1).metrics
    cfg = model_config(_scenario(), vm)
    (enc,) = cfg.enclaves
    # no ECREATE + EINIT: start-up = (control pages + committed pages) x build cost per page
    # (+ the runtime's own start-up, 0 for the SDK); teardown EREMOVE free
    control = 1 + enc.threads * 3
    per_page = default_costs()["enclave_build_s_per_page_sgx2"]
    if not enc.edmm:
        assert m["enclave_startup_s"] == pytest.approx((control + enc.committed_pages)
                                                       * per_page)
    assert m["enclave_teardown_s"] == 0.0


# ---- everything on: the model and its run keys as before the switches -----------------------

def test_all_on_is_the_default_and_keeps_run_keys() -> None:
    scn = _scenario()
    vm = get_vm("DC2s_v2")
    same = _scenario(*[f"simulation.mechanisms.{n}=true" for n in MECHANISM_NAMES])
    assert run_key(scn, vm, 0, 0) == run_key(same, vm, 0, 0)
    assert model_config(scn, vm) == model_config(same, vm)
    assert model_config(scn, vm).costs == dict(scn.costs)  # no cost added when all on
    off = _scenario("simulation.mechanisms.enclave_lock=false")
    assert run_key(off, vm, 0, 0) != run_key(scn, vm, 0, 0)


def test_unknown_switch_is_a_located_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(QUICKSTART), "--set",
                 "simulation.mechanisms.enclave_lok=false"]) == 2
    err = capsys.readouterr().err
    assert "simulation.mechanisms" in err and "enclave_lock" in err


# ---- the capacity search, one switch at a time -------------------------------------------

class _MM1:
    """M/M/1 with service time 1 ms, 0.5 ms when ``enclave_lock`` is off: p99 of the sojourn
    time is ln(100) / (mu - load), so the capacity under a bound B is mu - ln(100) / B."""

    def __call__(self, vm: Any, load: float, variant: dict[str, Any]) -> dict[str, float]:
        off = variant.get("set", {}).get("simulation.mechanisms.enclave_lock") is False
        mu = 2000.0 if off else 1000.0
        p99 = math.log(100) / (mu - load) if load < mu else math.inf
        return {"throughput_ops_s": min(load, mu), latency_key(99): p99,
                "latency_mean_s": 1 / (mu - load) if load < mu else math.inf,
                "share_compute": 0.5, "share_memory": 0.0, "share_transitions": 0.0,
                "share_paging": 0.0, "share_tlb": 0.0, "share_queueing": 0.5,
                "epc_faults_per_s": 0.0, "vcpu_utilisation": min(1.0, load / mu)}


def test_mechanism_steps_measure_each_case_and_skip_unchanged_models() -> None:
    scn = _scenario()
    cases = mechanism_cases(scn, ["enclave_lock", "ssbd"], driver=False)
    vms = [get_vm("DC2s_v2")]
    slo = Slo(target_load_ops_s=300.0, latency_bound_s=0.01)
    same = lambda vm, variant: "simulation.mechanisms.ssbd" in variant["set"]  # noqa: E731
    eff = drive(mechanism_steps(vms, slo, cases, same), CachedEvaluator(_MM1()))
    size = vms[0].size
    bound = math.log(100) / 0.01
    assert eff.capacity(BASELINE, size) == pytest.approx(1000 - bound, rel=0.02)
    assert eff.capacity("enclave_lock off", size) == pytest.approx(2000 - bound, rel=0.02)
    assert eff.change("enclave_lock off", size) == pytest.approx(
        (2000 - bound) / (1000 - bound) - 1, rel=0.05)
    assert eff.unchanged["ssbd off"] == [size] and eff.change("ssbd off", size) == 0.0
    rows = json.loads(eff.to_json())["rows"]
    assert [r["case"] for r in rows] == [BASELINE, "enclave_lock off", "ssbd off"]


def test_cases_skip_switches_already_off_and_name_the_other_driver() -> None:
    scn = _scenario("simulation.mechanisms.va_pages=false", "simulation.sgx_driver=isgx")
    labels = [c.label for c in mechanism_cases(scn)]
    assert "va_pages off" not in labels and labels[-1] == "sgx_driver upstream"
    assert len(labels) == len(MECHANISM_NAMES)


# ---- the command ---------------------------------------------------------------------------

def test_mechanisms_command_writes_its_table(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "res"
    status = main(["mechanisms", str(QUICKSTART), "--sizes", "DC1s_v2,DC2s_v3", "--only",
                   "tme_dependent_penalty", "--no-driver", "--measured-ops", "200",
                   "--workers", "1", "--no-progress", "--out", str(out),
                   "--set", "simulation.warmup=2 ms"])
    assert status == 0
    text = capsys.readouterr().out
    assert "tme_dependent_penalty off" in text and "DC1s_v2" in text
    assert "(same model)" in text  # TME-MK penalty on the SGX1 size
    data = json.loads((out / "mechanisms.json").read_text())
    rows = {(r["case"], r["vm_size"]): r for r in data["rows"]}
    assert rows[("tme_dependent_penalty off", "Standard_DC1s_v2")]["model_unchanged"]
    assert not rows[("tme_dependent_penalty off", "Standard_DC2s_v3")]["model_unchanged"]
    assert (out / "mechanisms.md").read_text().startswith("# Capacity per VM size")


@pytest.mark.parametrize("argv, needle", [
    (["--only", "enclave_lok"], "did you mean 'enclave_lock'"),
    (["--sizes", "DC3s_v2"], "vm.sizes"),
    (["--set", "slo.latency_bound=null"], "slo"),
])
def test_mechanisms_command_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      argv: list[str], needle: str) -> None:
    out = tmp_path / "res"
    assert main(["mechanisms", str(QUICKSTART), "--workers", "1", "--no-progress",
                 "--out", str(out), *argv]) == 2
    assert needle in capsys.readouterr().err
    assert not (out / "mechanisms.json").exists()


@pytest.mark.parametrize("name, value", [("ssbd_slowdown", "1.5"), ("stlb_entries_sgx2", "1024")])
def test_every_cost_unit_is_accepted_under_costs(name: str, value: str) -> None:
    # ssbd_slowdown ('x') and stlb_entries_* ('entries') once raised a KeyError (a traceback)
    scn = _scenario(f"costs.{name}={value}")
    assert resolved_costs(model_config(scn, get_vm("DC2s_v3")))[name] == float(value)
