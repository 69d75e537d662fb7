"""The public Python API does what docs/api.md says.

- every runnable code block of docs/api.md runs, in order, in a fresh folder, and prints what
  the page shows (numbers masked: the model's figures may move; names, shapes, messages and
  structure may not);
- scenarios load from a file and from a dict to the same thing; overrides change the named
  field and a bad one is a located ScenarioError;
- ``run_study`` writes only inside ``out_dir``, prints nothing (stdout and stderr, at the file
  descriptor level), returns frames with the documented columns, and reuses finished runs;
- ``simulate_run`` writes nothing, prints nothing and is deterministic;
- plots return Figures without touching pyplot's global state;
- ``import epcsim`` is lazy (no SimPy, pandas or numba until used).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import epcsim
from epcsim.errors import EpcsimError, ScenarioError

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "api.md"
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
SHORT = ["simulation.duration=100 ms", "simulation.warmup=20 ms", "simulation.replications=2",
         "vm.sizes=[DC2s_v2, DC2s_v3]"]

#: The summary columns docs/api.md lists (besides the sweep columns), in order.
SUMMARY_COLUMNS = [
    "run_key", "vm_size", "series", "vcpus", "epc_mib", "sgx_generation", "usd_per_hour",
    "working_set_mib", "offered_load_ops_s", "replication", "seed", "status",
]
SUMMARY_METRICS = [
    "throughput_ops_s", "latency_mean_s", "latency_p50_s", "latency_p95_s", "latency_p99_s",
    "latency_max_s", "ops_arrived", "ops_completed", "ops_dropped", "ops_in_system_at_end",
    "mean_in_system", "vcpu_utilisation", "ksgxd_utilisation", "epc_touches_per_s",
    "epc_faults_per_s", "epc_evictions_per_s", "epc_faults_per_op", "edmm_augments_per_s",
    "ksgxd_batches_per_s", "ipis_per_s", "epc_usable_pages", "epc_build_evictions",
    "aex_per_s", "timer_aex_per_s", "ipi_aex_per_s", "switchless_fallbacks_per_s",
    "share_compute", "share_memory", "share_transitions", "share_paging", "share_queueing",
    "enclave_startup_s", "native_throughput_ops_s", "native_latency_mean_s",
    "native_latency_p99_s", "native_vcpu_utilisation", "slowdown_vs_native",
    "throughput_ratio_vs_native", "sim_events", "events_per_op",
]
DETAIL_COLUMNS = ["arrival_s", "start_s", "end_s", "latency_s", "op_type", "op_name", "phase",
                  "faults", "dropped", "measured", "compute_s", "memory_s", "transitions_s",
                  "paging_s", "queueing_s"]


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# --------------------------------------------------------------------------- the page itself

_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _mask(text: str) -> list[str]:
    """Lines with numbers replaced and runs of spaces collapsed (column widths follow the
    numbers' widths)."""
    return [re.sub(r"\s+", " ", _NUMBER.sub("N", line)).strip()
            for line in text.strip().splitlines()]


def _doc_blocks() -> list[tuple[bool, str, str]]:
    text = DOC.read_text(encoding="utf-8")
    found = re.findall(r"(<!-- not run[^\n]*-->\n)?```(python|text)\n(.*?)```", text, re.S)
    return [(bool(skip), kind, body) for skip, kind, body in found]


def test_doc_examples_run_and_print_what_the_page_shows(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    monkeypatch.chdir(tmp_path)
    blocks = _doc_blocks()
    assert sum(kind == "python" for _, kind, _ in blocks) >= 8
    ns: dict[str, Any] = {}
    last: str | None = None
    compared = 0
    for skip, kind, body in blocks:
        if kind == "python":
            if skip:
                compile(body, str(DOC), "exec")  # at least valid Python
                last = None
                continue
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                exec(compile(body, str(DOC), "exec"), ns)
            last = buf.getvalue()
        elif last is not None:
            assert _mask(last) == _mask(body), f"docs/api.md shows\n{body}\nbut it prints\n{last}"
            compared += 1
            last = None
    assert compared >= 8
    # The examples wrote only into their own results folder.
    assert _files(tmp_path) - {"scenarios"} <= {"results", "results/quickstart-short"} | {
        f for f in _files(tmp_path) if f.startswith("results/quickstart-short/")}


def test_doc_lists_every_summary_column() -> None:
    text = DOC.read_text(encoding="utf-8")
    for col in [*SUMMARY_COLUMNS, *SUMMARY_METRICS, *DETAIL_COLUMNS, "n_replications"]:
        assert f"`{col}`" in text, f"docs/api.md does not document {col}"


# --------------------------------------------------------------------------- loading


def test_load_from_file_and_dict_agree() -> None:
    from_file = epcsim.load_scenario(QUICKSTART)
    raw = yaml.safe_load(QUICKSTART.read_text(encoding="utf-8"))
    from_dict = epcsim.load_scenario(raw)
    assert from_file.model_dump() == from_dict.model_dump()
    assert from_file.name == "quickstart"


def test_overrides_change_the_named_fields() -> None:
    base = epcsim.load_scenario(QUICKSTART)
    scn = epcsim.load_scenario(QUICKSTART, overrides=[
        "workload.arrival.rate=30k/s", "enclaves.kv.regions.table.size=40 MiB",
        "vm.sizes=[DC4s_v3]"])
    assert scn.workload.arrival.rate_per_s == 30_000.0
    table = next(r for r in scn.enclaves[0].regions if r.name == "table")
    assert table.size_bytes == 40 * 2**20
    assert scn.vm.sizes == ("Standard_DC4s_v3",)
    # Everything else is untouched.
    assert scn.simulation == base.simulation
    assert scn.workload.operations == base.workload.operations


def test_bad_override_is_a_located_scenario_error() -> None:
    with pytest.raises(ScenarioError) as info:
        epcsim.load_scenario(QUICKSTART, overrides=["enclaves.kv.threads=-3"])
    assert "enclaves.kv.threads" in str(info.value)
    with pytest.raises(ScenarioError) as info:
        epcsim.load_scenario(QUICKSTART, overrides=["simulation.duraton=1 s"])
    assert "duration" in str(info.value)  # the did-you-mean
    assert isinstance(info.value, EpcsimError)


def test_overrides_with_a_loaded_scenario_are_refused(tmp_path: Path) -> None:
    scn = epcsim.load_scenario(QUICKSTART)
    with pytest.raises(EpcsimError):
        epcsim.run_study(scn, overrides=["simulation.seed=1"], out_dir=tmp_path / "x")


# --------------------------------------------------------------------------- run_study


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("api") / "study"
    return epcsim.run_study(QUICKSTART, overrides=SHORT, out_dir=out, workers=1)


def test_run_study_frames_have_the_documented_columns(study: Any) -> None:
    summary = study.summary
    assert list(summary.columns[:len(SUMMARY_COLUMNS)]) == SUMMARY_COLUMNS
    assert set(SUMMARY_METRICS) <= set(summary.columns)
    assert summary.columns[-1] == "error"
    assert len(summary) == 2 * 2  # 2 sizes x 2 replications
    assert (summary["status"] == "ok").all()
    agg = study.aggregate
    assert list(agg["vm_size"]) == ["Standard_DC2s_v2", "Standard_DC2s_v3"]
    for metric in SUMMARY_METRICS:
        assert {metric, f"{metric}_ci_low", f"{metric}_ci_high"} <= set(agg.columns)
    assert (agg["n_replications"] == 2).all()
    assert "run_key" not in agg and "replication" not in agg
    # The aggregate is the mean of the summary per size.
    mean = summary.groupby("vm_size", sort=False)["throughput_ops_s"].mean()
    for size, value in zip(agg["vm_size"], agg["throughput_ops_s"], strict=True):
        assert math.isclose(value, mean[size], rel_tol=1e-12)
    detail = study.details[summary["run_key"][0]]
    assert set(DETAIL_COLUMNS) <= set(detail.columns)
    assert detail["measured"].sum() == summary["ops_arrived"][0]


def test_run_study_writes_the_documented_files_and_they_match_the_frames(study: Any) -> None:
    out: Path = study.out_dir
    files = _files(out)
    for name in ("summary.csv", "summary_ci.csv", "scenario.yaml", "scenario.resolved.json",
                 "provenance.json", "runs"):
        assert name in files
    for key in study.summary["run_key"]:
        assert f"runs/{key}.json" in files
        assert f"runs/{key}.detail.parquet" in files
    assert (out / "scenario.yaml").read_bytes() == QUICKSTART.read_bytes()
    on_disk = pd.read_csv(out / "summary_ci.csv")
    assert list(on_disk.columns) == list(study.aggregate.columns)
    from epcsim.study import confidence_intervals, read_summary

    reread = read_summary(out)
    pd.testing.assert_frame_equal(confidence_intervals(reread), study.aggregate,
                                  check_dtype=False)


def test_run_study_prints_nothing_writes_only_in_out_dir_and_reuses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    out = tmp_path / "out"
    first = epcsim.run_study(QUICKSTART, overrides=[*SHORT, "simulation.replications=1"],
                             out_dir=out, workers=1)
    again = epcsim.run_study(QUICKSTART, overrides=[*SHORT, "simulation.replications=1"],
                             out_dir=out, workers=1)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert _files(work) == set()  # nothing in the working folder (no results/ either)
    assert set(os.listdir(tmp_path)) == {"cwd", "out"}
    assert "2 reused, 0 run" in again.report_text
    pd.testing.assert_frame_equal(first.summary, again.summary)
    # A changed parameter reruns its runs only (new run keys).
    third = epcsim.run_study(QUICKSTART, overrides=[*SHORT, "simulation.replications=1",
                                                    "vm.sizes=[DC2s_v2, DC4s_v2]"],
                             out_dir=out, workers=1)
    assert "1 reused, 1 run" in third.report_text


def test_run_study_from_a_dict(tmp_path: Path) -> None:
    raw = yaml.safe_load(QUICKSTART.read_text(encoding="utf-8"))
    study = epcsim.run_study(raw, overrides=[*SHORT, "simulation.replications=1"],
                             out_dir=tmp_path / "d", workers=1)
    assert study.n_failed == 0
    assert "scenario.yaml" not in _files(tmp_path / "d")  # no source file to copy
    assert len(study.aggregate) == 2


# --------------------------------------------------------------------------- simulate_run


def test_simulate_run_writes_and_prints_nothing_and_is_deterministic(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    scn = epcsim.load_scenario(QUICKSTART, overrides=SHORT)
    a = epcsim.simulate_run(scn, "DC2s_v2")
    b = epcsim.simulate_run(scn, epcsim.get_vm("DC2s_v2"))
    native = epcsim.simulate_run(scn, "DC2s_v2", native=True)
    other = epcsim.simulate_run(scn, "DC2s_v2", replication=1)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert _files(tmp_path) == set()
    deterministic = {k: v for k, v in a.metrics.items() if k != "wall_time_s"}
    assert deterministic == {k: v for k, v in b.metrics.items() if k != "wall_time_s"}
    assert other.metrics["latency_mean_s"] != a.metrics["latency_mean_s"]
    assert native.native and not a.native
    assert native.metrics["epc_faults_per_s"] == 0
    assert a.metrics["epc_faults_per_s"] > 0  # 96 MiB enclave, 56 MiB EPC
    assert native.metrics["latency_mean_s"] < a.metrics["latency_mean_s"]
    assert a.op_names == ["get", "set"]
    n = len(a.arrays["latency_s"])
    assert all(len(v) == n for v in a.arrays.values())


def test_simulate_run_matches_the_study(study: Any) -> None:
    """The in-process run and the study's stored run of the same point agree exactly."""
    scn = study.scenario
    run = epcsim.simulate_run(scn, "Standard_DC2s_v3", replication=1)
    row = study.summary[(study.summary["vm_size"] == "Standard_DC2s_v3")
                        & (study.summary["replication"] == 1)].iloc[0]
    for metric in ("throughput_ops_s", "latency_mean_s", "latency_p99_s", "epc_faults_per_s"):
        assert run.metrics[metric] == pytest.approx(row[metric], rel=1e-12)


# --------------------------------------------------------------------------- plots, catalogue


def test_plots_return_figures_without_pyplot(study: Any) -> None:
    from matplotlib.figure import Figure

    from epcsim.report import plots

    figs = [plots.plot_throughput_by_size(study.aggregate),
            plots.plot_latency_by_size(study.aggregate, percentile=99, bound_s=1e-3),
            plots.plot_time_breakdown(study.aggregate)]
    assert all(isinstance(f, Figure) for f in figs)
    assert "matplotlib.pyplot" not in sys.modules or not __import__(
        "matplotlib.pyplot").pyplot.get_fignums()


def test_catalogue_from_the_package() -> None:
    vm = epcsim.get_vm("dc4s_v2")
    assert vm.size == "Standard_DC4s_v2" and vm.epc_mib == 112
    assert len(epcsim.load_catalog()) >= 20


def test_import_is_lazy() -> None:
    code = ("import sys, epcsim; heavy = [m for m in ('simpy', 'pandas', 'numba', "
            "'matplotlib') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


# --------------------------------------------------------------------------- recommendation


def test_recommend_sizes_without_printing_or_writing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from epcsim.api import recommend

    monkeypatch.chdir(tmp_path)
    scn = epcsim.load_scenario(QUICKSTART, overrides=[
        "simulation.duration=100 ms", "simulation.warmup=20 ms", "vm.sizes=[DC1s_v2, DC2s_v3]",
        "slo.target_load=20k/s"])
    result = recommend(scn, sensitivity=False, what_ifs=False, knee=False, measured_ops=1000)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert _files(tmp_path) == set()
    rows = pd.DataFrame(result.capacity_rows())
    assert list(rows["vm_size"]) == ["Standard_DC1s_v2", "Standard_DC2s_v3"]
    for col in ("capacity_ops_s", "vm_count", "usd_per_month_at_target", "usd_per_million_ops",
                "binding_resource", "feasible"):
        assert col in rows
    assert result.recommended is not None
    assert result.recommended.vm_size in set(rows["vm_size"])
    assert result.reasons and result.recommended.vm_size in result.reasons[0]
    # The recommended option is the cheapest one that meets the SLO and can be bought today
    # (DC1s_v2 retired on 2026-06-30: shown, not recommended, after that date).
    feasible = rows[rows["recommendable"]]
    assert result.recommended.usd_per_month == pytest.approx(
        feasible["usd_per_month_at_target"].min())
    with pytest.raises(EpcsimError):
        recommend(epcsim.load_scenario(QUICKSTART, overrides=["slo=null"]))


def test_backends_give_the_same_summary_bytes(study: Any, tmp_path: Path) -> None:
    """docs/api.md: whatever the backend or worker count, summary.csv is the same bytes."""
    pooled = epcsim.run_study(QUICKSTART, overrides=SHORT, out_dir=tmp_path / "pool",
                              workers=2, backend="local")
    assert pooled.n_failed == 0
    assert ((tmp_path / "pool" / "summary.csv").read_bytes()
            == (study.out_dir / "summary.csv").read_bytes())
