"""`epcsim run` end to end: result files, columns, determinism across workers and backends,
reuse of stored runs, interruption by SIGKILL, and clean errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from epcsim.api import run_study
from epcsim.cli import main
from epcsim.errors import EpcsimError
from epcsim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"

#: Short settings: two VM sizes (one pages, one does not), a fifth of a second simulated.
SHORT = [
    "vm.sizes=[DC2s_v2, DC4s_v2]",
    "simulation.duration=0.2 s",
    "simulation.warmup=0.05 s",
    "simulation.replications=2",
    "workload.arrival.rate=5k/s",
]

REQUIRED_COLUMNS = [
    "vm_size", "replication", "throughput_ops_s", "latency_mean_s", "latency_p50_s",
    "latency_p99_s", "vcpu_utilisation", "epc_faults_per_s", "epc_evictions_per_s",
    "slowdown_vs_native", "share_compute", "share_memory", "share_transitions",
    "share_paging", "share_queueing", "enclave_startup_s", "seed",
]


def _run_cli(args: list[str]) -> int:
    return main(["run", *args, "--no-progress"])


def test_run_writes_results_with_documented_columns(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "qs"
    sets = [a for s in SHORT for a in ("--set", s)]
    assert _run_cli([str(QUICKSTART), "--out", str(out), "--workers", "1", "--no-sizing",
                     *sets]) == 0
    printed = capsys.readouterr().out
    assert "Standard_DC2s_v2" in printed and "ops/s" in printed
    for name in ("summary.csv", "summary_ci.csv", "scenario.yaml", "scenario.resolved.json",
                 "provenance.json", "report.html", "report.md"):
        assert (out / name).is_file(), name
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 4  # 2 sizes x 1 point x 2 replications
    missing = [c for c in REQUIRED_COLUMNS if c not in summary.columns]
    assert not missing
    assert set(summary["status"]) == {"ok"}
    shares = summary[["share_compute", "share_memory", "share_transitions", "share_paging",
                      "share_tlb", "share_queueing"]].sum(axis=1)
    assert shares.to_numpy() == pytest.approx(1.0, abs=1e-9)
    by_size = summary.groupby("vm_size")["epc_faults_per_s"].mean()
    # The 80 MiB working set pages on DC2s_v2 (56 MiB EPC) and fits DC4s_v2 (112 MiB).
    assert by_size["Standard_DC2s_v2"] > 100
    assert by_size["Standard_DC4s_v2"] == 0
    assert (summary["slowdown_vs_native"] > 1).all()
    # the report is built from the stored files: `epcsim report` reproduces it exactly
    html = (out / "report.html").read_bytes()
    assert (out / "mrc.csv").is_file() and not (out / "sizing.json").exists()
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").read_bytes() == html
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["seed"] == 42 and prov["runs"] == 4 and prov["epcsim_version"]
    # per-run detail tables are stored as Parquet, one row per operation
    details = list((out / "runs").glob("*.parquet"))
    assert len(details) == 4
    detail = pd.read_parquet(details[0])
    assert {"arrival_s", "latency_s", "op_name", "faults"} <= set(detail.columns)


def test_same_seed_same_summary_with_one_or_two_workers_and_reuse(tmp_path: Path) -> None:
    scn = load_scenario(QUICKSTART, SHORT)
    one = run_study(scn, out_dir=tmp_path / "w1", workers=1)
    two = run_study(scn, out_dir=tmp_path / "w2", workers=2)
    a = (tmp_path / "w1" / "summary.csv").read_bytes()
    b = (tmp_path / "w2" / "summary.csv").read_bytes()
    assert a == b
    assert one.n_failed == two.n_failed == 0
    # A rerun reuses every stored run and rewrites the same summary.
    again = run_study(scn, out_dir=tmp_path / "w1", workers=1)
    assert "4 reused, 0 run" in again.report_text
    assert (tmp_path / "w1" / "summary.csv").read_bytes() == a
    # A change reruns only what it affects: adding a VM size runs only that size's runs.
    more = load_scenario(QUICKSTART, [*SHORT, "vm.sizes=[DC2s_v2, DC4s_v2, DC2s_v3]"])
    grown = run_study(more, out_dir=tmp_path / "w1", workers=1)
    assert "4 reused, 2 run" in grown.report_text


def test_sweep_columns_and_confidence_intervals(tmp_path: Path) -> None:
    scn = load_scenario(QUICKSTART, [*SHORT, "vm.sizes=[DC4s_v2]",
                                     "sweep={workload.arrival.rate: [2k/s, 8k/s]}"])
    study = run_study(scn, out_dir=tmp_path / "sw", workers=1)
    assert "workload.arrival.rate" in study.summary.columns
    assert sorted(study.summary["workload.arrival.rate"].unique()) == [2000.0, 8000.0]
    agg = study.aggregate
    assert len(agg) == 2 and (agg["n_replications"] == 2).all()
    low = agg.set_index("workload.arrival.rate")
    assert low.loc[8000.0, "throughput_ops_s"] > 3 * low.loc[2000.0, "throughput_ops_s"]
    assert (agg["throughput_ops_s_ci_low"] <= agg["throughput_ops_s"]).all()


def test_dask_cluster_gives_the_same_summary(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    scn = load_scenario(QUICKSTART, SHORT)
    run_study(scn, out_dir=tmp_path / "local", workers=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        run_study(scn, out_dir=tmp_path / "dask", backend=cluster.scheduler_address)
    assert (tmp_path / "local" / "summary.csv").read_bytes() == \
        (tmp_path / "dask" / "summary.csv").read_bytes()


def test_sigkill_mid_study_then_restart_gives_the_uninterrupted_summary(tmp_path: Path) -> None:
    sets = [*SHORT, "vm.sizes=[DC1s_v2, DC2s_v2, DC4s_v2, DC2s_v3]", "simulation.replications=3"]
    args = [a for s in sets for a in ("--set", s)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "epcsim", "run", str(QUICKSTART), "--out", str(killed),
           "--workers", "2", "--no-report", "--no-progress", *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    runs = killed / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = len(list(runs.glob("*.json"))) if runs.is_dir() else 0
        if done >= 3 or proc.poll() is not None:
            break
        time.sleep(0.05)
    finished_before_kill = proc.poll() is not None
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not finished_before_kill, "the study finished before it could be killed"
    assert not (killed / "summary.csv").exists()
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    prov = json.loads((killed / "provenance.json").read_text())
    assert prov["runs_reused"] >= 3 and prov["runs_reused"] + prov["runs_run"] == 12
    clean = tmp_path / "clean"
    clean_cmd = [*cmd]
    clean_cmd[clean_cmd.index(str(killed))] = str(clean)
    ok = subprocess.run(clean_cmd, env=env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert (killed / "summary.csv").read_bytes() == (clean / "summary.csv").read_bytes()


@pytest.mark.parametrize("args, needle", [
    (["does-not-exist.yaml"], "does-not-exist.yaml"),
    ([str(QUICKSTART), "--set", "simulation.duraton=1 s"], "duration"),
    ([str(QUICKSTART), "--set", "vm.sizes=[DC5s_v2]"], "DC"),
    ([str(QUICKSTART), "--workers", "0"], "--workers"),
])
def test_bad_input_exits_2_without_traceback(args: list[str], needle: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "epcsim", "run", *args, "--no-progress"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert needle in proc.stderr


def test_replicate_until_the_interval_is_narrow(tmp_path: Path) -> None:
    from epcsim.study import PrecisionTarget

    scn = load_scenario(QUICKSTART, [*SHORT, "vm.sizes=[DC4s_v2]"])
    target = PrecisionTarget(metrics=("latency_mean_s",), relative_half_width=0.002,
                             min_replications=2, max_replications=6)
    study = run_study(scn, out_dir=tmp_path / "seq", workers=1, precision=target)
    agg = study.aggregate.iloc[0]
    n = int(agg["n_replications"])
    half = (agg["latency_mean_s_ci_high"] - agg["latency_mean_s_ci_low"]) / 2
    # either the interval met the target or the cap was reached
    assert 2 < n <= 6
    assert n == 6 or half <= 0.002 * agg["latency_mean_s"]
    assert sorted(study.summary["replication"]) == list(range(n))
    # a metric that does not exist is refused after the planned replications
    with pytest.raises(EpcsimError, match="latency_p99_s"):
        run_study(scn, out_dir=tmp_path / "seq2", workers=1,
                  precision=PrecisionTarget(metrics=("latency_p99",), max_replications=4))
    assert _run_cli([str(QUICKSTART), "--out", str(tmp_path / "c"), "--workers", "1",
                     "--no-report", "--until-ci", "150%"]) == 2


def test_with_overrides_reloads_a_loaded_scenario() -> None:
    import epcsim

    scn = epcsim.load_scenario(QUICKSTART)
    faster = epcsim.with_overrides(scn, ["workload.arrival.rate=20k/s"])
    assert faster.workload.arrival.rate_per_s == 20_000
    assert scn.workload.arrival.rate_per_s == 10_000
    with pytest.raises(EpcsimError, match="arrival"):
        epcsim.with_overrides(scn, ["workload.arrival.rate=fast"])


def test_top_level_help_documents_every_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    from epcsim.cli import main as cli_main

    assert cli_main(["--help"]) == 0
    out = capsys.readouterr().out
    for status in ("0 ", "1 ", "2 ", "3 ", "130 "):
        assert f"\n  {status}" in out, status
