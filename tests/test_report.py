"""The report: aggregation, self-contained HTML, Markdown, `epcsim report` reproducing the
same bytes from stored results, and clear errors for folders that are not results."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from test_sizing_model import AnalyticEvaluator

from epcsim.cli import main as cli_main
from epcsim.errors import EpcsimError
from epcsim.reference.catalog import sizes_in_series
from epcsim.report import (
    aggregate_runs,
    build_report,
    load_results,
    sizing_frames,
    write_report,
)
from epcsim.sizing import SizingResult, Slo, recommend

SHARES = ("share_compute", "share_memory", "share_transitions", "share_paging",
          "share_queueing")


def synthetic_summary(evaluator: AnalyticEvaluator, rates: tuple[float, ...] = (5e3, 1e4),
                      replications: int = 3, seed: int = 7) -> pd.DataFrame:
    """A per-run summary frame with the contract's columns, from the analytic evaluator plus
    seeded replication noise (2 % on throughput and latency)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    rows = []
    for vm in sizes_in_series("DCsv2"):
        for rate in rates:
            m = evaluator(vm, rate, {})
            for rep in range(replications):
                noise = 1 + 0.02 * rng.standard_normal()
                rows.append({
                    "vm_size": vm.size, "series": vm.series, "vcpus": vm.vcpus,
                    "epc_mib": vm.epc_mib, "usd_per_hour": vm.linux_usd_per_hour,
                    "replication": rep, "seed": seed, "workload.arrival.rate": rate,
                    "offered_load_ops_s": rate,
                    "throughput_ops_s": m["throughput_ops_s"] * noise,
                    **{k: m[k] * noise for k in ("latency_mean_s", "latency_p50_s",
                                                 "latency_p95_s", "latency_p99_s")},
                    "vcpu_utilisation": m["vcpu_utilisation"],
                    "epc_faults_per_s": m["epc_faults_per_s"],
                    "epc_evictions_per_s": m["epc_faults_per_s"],
                    "ksgxd_batches_per_s": m["epc_faults_per_s"] / 16,
                    "slowdown_vs_native": 1.3, **{k: m[k] for k in SHARES},
                    "enclave_startup_s": 0.2, "working_set_mib": m["working_set_mib"],
                    "native_throughput_ops_s": rate, "error": ""})
    return pd.DataFrame(rows)


SCENARIO = {"name": "kvstore",
            "description": "A key-value store <b>with</b> an 80 MiB table & one enclave.",
            "costs": {"ecall_cycles": 9000.0},
            "simulation": {"duration": 10.0, "replications": 3, "seed": 7}}
PROVENANCE = {"epcsim_version": "0.1.0", "seed": 7, "plan": "4 VM sizes x 2 points x 3",
              "wall_time_s": 12.5}


def make_results(folder: Path, with_sizing: bool = True) -> dict[str, Any]:
    """Write a results folder as `epcsim run` stores it; return the in-memory objects."""
    ev = AnalyticEvaluator()
    summary = synthetic_summary(ev)
    sizing = None
    if with_sizing:
        sizing = recommend(ev, sizes_in_series("DCsv2"),
                           Slo(20_000, 5e-3, 99, headroom_fraction=0.2),
                           as_of=dt.date(2026, 6, 1))  # DCsv2 still sold, retiring
        (folder / "sizing.json").write_text(sizing.to_json())
    summary.to_csv(folder / "summary.csv", index=False)
    (folder / "scenario.resolved.yaml").write_text(yaml.safe_dump(SCENARIO, sort_keys=False))
    (folder / "provenance.json").write_text(json.dumps(PROVENANCE))
    pages = np.arange(0, 40_000, 1000)
    mrc = pd.DataFrame({"capacity_pages": pages,
                        "miss_ratio": np.clip(1 - pages / (80 * 256), 0, 1)})
    mrc.to_csv(folder / "mrc.csv", index=False)
    return {"summary": summary, "sizing": sizing, "mrc": mrc}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("results") / "kvstore"
    folder.mkdir()
    objs = make_results(folder)
    html_path, md_path = write_report(folder, objs["summary"], objs["sizing"],
                                      {"name": "kvstore", "scenario": SCENARIO,
                                       "provenance": PROVENANCE, "plan": PROVENANCE["plan"]},
                                      objs["mrc"])
    objs["html"] = html_path.read_bytes()
    objs["md"] = md_path.read_bytes()
    return folder, objs


def test_aggregate_matches_student_t() -> None:
    frame = pd.DataFrame({"vm_size": ["A"] * 4 + ["B"], "throughput_ops_s": [10, 12, 11, 50, 7],
                          "error": ["", "", "", "boom", ""]})
    agg = aggregate_runs(frame).set_index("vm_size")
    vals = np.array([10.0, 12.0, 11.0])  # the failed run is left out
    half = stats.t.ppf(0.975, 2) * vals.std(ddof=1) / np.sqrt(3)
    assert agg.loc["A", "n_replications"] == 3
    assert agg.loc["A", "throughput_ops_s"] == pytest.approx(11.0)
    assert agg.loc["A", "throughput_ops_s_ci_low"] == pytest.approx(11.0 - half)
    assert agg.loc["A", "throughput_ops_s_ci_high"] == pytest.approx(11.0 + half)
    assert np.isnan(agg.loc["B", "throughput_ops_s_ci_low"])  # one replication: no interval
    assert aggregate_runs(agg.reset_index()).equals(agg.reset_index())  # already aggregated


def test_aggregate_keeps_sweep_points_apart() -> None:
    summary = synthetic_summary(AnalyticEvaluator(), replications=2)
    agg = aggregate_runs(summary)
    assert len(agg) == 4 * 2 and set(agg["n_replications"]) == {2}
    assert "workload.arrival.rate" in agg


def test_html_is_self_contained_and_images_are_pngs(results: tuple[Path, dict[str, Any]]
                                                     ) -> None:
    text = results[1]["html"].decode("utf-8")
    assert not re.search(r"<(script|link|iframe|object|embed)\b", text, re.I)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text, re.I)
    assert "@import" not in text and "url(" not in text
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == text.count("<img") >= 7
    for data in images:
        img = mpimg.imread(io.BytesIO(base64.b64decode(data)), format="png")
        assert img.shape[0] > 100 and img.std() > 0.02


def test_html_says_what_the_issue_asks(results: tuple[Path, dict[str, Any]]) -> None:
    text = results[1]["html"].decode("utf-8")
    sizing: SizingResult = results[1]["sizing"]
    for needle in ("What was simulated", "Throughput and latency per VM size",
                   "Latency percentiles against load", "Where the time goes", "The EPC knee",
                   "Sizing: capacity, VMs and cost per VM size", "Prices and cost per operation",
                   "Retired size beside its successor", "Recommendation and reasons",
                   "Sensitivity to uncertain cost parameters", "What-ifs a developer can act on",
                   "Assumptions and their sources", "HotCalls, ISCA 2017", "USD per M ops",
                   "9,000 (scenario)", "Recommendation: 1 x DC4s_v2", "retires on 2026-06-30",
                   "switchless OCALLs", "95% CI"):
        assert needle in text, needle
    assert sizing.successor is not None
    assert sizing.successor.to_size in text
    # User text is escaped, never interpreted.
    assert "&lt;b&gt;with&lt;/b&gt; an 80 MiB table &amp; one enclave" in text
    assert "<b>with</b>" not in text


def test_user_text_is_escaped_in_html_and_the_markup_comes_from_templates() -> None:
    summary = synthetic_summary(AnalyticEvaluator(), rates=(5e3,), replications=2)
    evil = 'Cache <script>alert("x")</script> & <img src=x onerror=alert(1)> test'
    info = {"name": "a<b>&c", "scenario": {"description": evil, "plan": "x"},
            "provenance": {"note": "</ul><script>"}}
    page, md, _ = build_report(summary, None, info)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img src=x" in page
    assert "<title>epcsim report: a&lt;b&gt;&amp;c</title>" in page
    assert "note: &lt;/ul&gt;&lt;script&gt;" in page
    assert not re.search(r"<script|<img src=x|<b>", page)
    assert evil in md  # Markdown is text: written as given
    build = Path(__file__).resolve().parent.parent / "epcsim" / "report"
    for module in build.glob("*.py"):  # no HTML assembled in Python
        assert not re.search(r"<(/?)(p|h\d|table|tr|td|th|ul|li|div|img|html|pre)\b",
                             module.read_text("utf-8")), module.name


def test_sizing_frames_are_tidy(results: tuple[Path, dict[str, Any]]) -> None:
    sizing: SizingResult = results[1]["sizing"]
    frames = sizing_frames(sizing)
    cap = frames["capacity"]
    assert list(cap["vm_size"]) == [c.vm_size for c in sizing.capacities]
    assert cap.loc[cap["vm_size"] == "Standard_DC4s_v2", "vm_count"].item() == 1
    assert {"vm_size", "load_ops_s", "latency_p99_s", "meets"} <= set(frames["probes"])
    assert len(frames["knee"]) == len(sizing.knee.curve) if sizing.knee else True
    assert len(frames["sensitivity"]) == 6 and len(frames["what_ifs"]) == 4


def test_markdown_twin_links_existing_figures(results: tuple[Path, dict[str, Any]]) -> None:
    folder, objs = results
    md = objs["md"].decode("utf-8")
    links = re.findall(r"!\[[^\]]*\]\((figures/[a-z_0-9]+\.png)\)", md)
    assert len(links) >= 7
    for link in links:
        assert (folder / link).is_file()
    assert "| VM size |" in md and "Recommendation and reasons" in md
    rules = re.findall(r"^\|(?:-{3}:?\|)+$", md, re.M)
    assert len(rules) >= 5 and all("---:|" in r for r in rules[:3])  # numbers right-aligned


def test_epcsim_report_reproduces_the_same_bytes(results: tuple[Path, dict[str, Any]]
                                                 ) -> None:
    folder, objs = results
    (folder / "report.html").unlink()
    (folder / "report.md").unlink()
    out = subprocess.run([sys.executable, "-c",
                          "import sys; from epcsim.cli import main; rc = main(sys.argv[1:]); "
                          "bad = [m for m in ('simpy', 'epcsim.model', 'epcsim.study.runner') "
                          "if m in sys.modules]; print('MODULES', bad); sys.exit(rc)",
                          "report", str(folder)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "MODULES []" in out.stdout  # no simulation code was even imported
    assert (folder / "report.html").read_bytes() == objs["html"]
    assert (folder / "report.md").read_bytes() == objs["md"]


def test_report_writes_only_inside_the_results_folder(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    folder.mkdir()
    (tmp_path / "outside.txt").write_text("x")
    make_results(folder, with_sizing=False)
    before = {p for p in tmp_path.rglob("*")}
    write_report(folder, *load_results(folder))
    after = {p for p in tmp_path.rglob("*")}
    new = after - before
    assert new and all(folder in p.parents for p in new)
    assert not any(p.name.endswith(".tmp") for p in after)
    html = (folder / "report.html").read_text("utf-8")
    assert "No sizing" in html and "Recommendation and reasons" not in html


def test_failed_runs_are_listed_and_left_out() -> None:
    summary = synthetic_summary(AnalyticEvaluator(), rates=(5e3,), replications=2)
    summary.loc[0, "error"] = "SimulationError: EPC exhausted"
    page, md, _ = build_report(summary, None, {"name": "t"})
    assert "SimulationError: EPC exhausted" in page and "1 run(s) failed" in md
    assert "runs: 8 (1 failed)" in page
    summary["status"] = "ok"
    summary.loc[1, "status"] = "not_run"
    page, _, _ = build_report(summary, None, {"name": "t"})
    assert "runs: 8 (2 failed)" in page and "replication 1: not_run" in page
    summary["error"] = "boom"
    page, _, figures = build_report(summary, None, {"name": "t"})
    assert "No successful runs" in page and figures == []


def test_missing_or_bad_results_give_clear_errors(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "summary.csv: missing" in err and "epcsim run" in err and "Traceback" not in err
    assert cli_main(["report", str(tmp_path / "nope")]) == 2
    assert "no such results folder" in capsys.readouterr().err
    (tmp_path / "summary.csv").write_text("a,b\n1,2\n")
    with pytest.raises(EpcsimError, match="vm_size"):
        load_results(tmp_path)
    (tmp_path / "summary.csv").write_text("vm_size\nStandard_DC2s_v2\n")
    (tmp_path / "sizing.json").write_text("{not json")
    with pytest.raises(EpcsimError, match=r"sizing\.json"):
        load_results(tmp_path)
    with pytest.raises(EpcsimError, match="not a results folder"):
        write_report(tmp_path / "nope", pd.DataFrame({"vm_size": []}), None, {})
