"""Property: `epcsim run` then `epcsim report` on random small valid studies either succeed
or exit 2 with a message: never a traceback, never a stale derived file.

The studies are the quickstart's shape with random short durations, warm-ups, loads (open or
closed loop), VM sizes and seeds, all run into *one* results folder, one after another, as a
user iterating on a scenario would: that is where a file left over from an earlier study
(a report, a sizing, a summary of intervals) would show up as stale. In-process (the CLI's
``main``), so that a traceback is an exception here, not a line in a subprocess's stderr.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from epcsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
SIZES = ["DC1s_v2", "DC2s_v2", "DC4s_v2", "DC2s_v3"]


@st.composite
def small_studies(draw: st.DrawFn) -> list[str]:
    duration_ms = draw(st.integers(min_value=2, max_value=120))
    warmup_ms = draw(st.integers(min_value=0, max_value=duration_ms // 2))
    sizes = draw(st.lists(st.sampled_from(SIZES), min_size=1, max_size=2, unique=True))
    if draw(st.booleans()):
        rate = draw(st.sampled_from(["50/s", "1k/s", "10k/s", "40k/s", "200k/s"]))
        arrival = f"workload.arrival={{kind: poisson, rate: {rate}}}"
    else:
        clients = draw(st.integers(min_value=1, max_value=16))
        think_us = draw(st.sampled_from([0, 10, 500]))
        arrival = (f"workload.arrival={{kind: closed, clients: {clients}, "
                   f"think_time: {think_us} us}}")
    seed = draw(st.integers(min_value=0, max_value=2**31 - 1))
    sets = [f"simulation.duration={duration_ms} ms", f"simulation.warmup={warmup_ms} ms",
            "simulation.replications=1", f"simulation.seed={seed}",
            f"vm=[{', '.join(sizes)}]", arrival]
    return [arg for s in sets for arg in ("--set", s)]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _summary_hashes(obj: object) -> list[str]:
    """Every value recorded under a key that names the summary's SHA-256, at any depth."""
    found: list[str] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if "summary" in str(key) and "sha256" in str(key) and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_summary_hashes(value))
    elif isinstance(obj, list):
        for value in obj:
            found.extend(_summary_hashes(value))
    return found


def _check_not_stale(out: Path) -> None:
    summary_path = out / "summary.csv"
    summary = pd.read_csv(summary_path)
    digest = _sha256(summary_path)
    # any derived file that records the summary it came from must name this one
    for name in ("sizing.json", "provenance.json", "figures.json", "report.json"):
        path = out / name
        if path.is_file():
            for recorded in _summary_hashes(json.loads(path.read_text("utf-8"))):
                assert recorded == digest, f"{name} was made from another summary.csv"
    prov = json.loads((out / "provenance.json").read_text("utf-8"))
    assert prov["runs"] == len(summary)
    ci = pd.read_csv(out / "summary_ci.csv") if (out / "summary_ci.csv").stat().st_size > 1 \
        else pd.DataFrame()
    ok_sizes = set(summary.loc[summary["status"] == "ok", "vm_size"])
    if not ci.empty:
        assert set(ci["vm_size"]) == ok_sizes
    report = (out / "report.md").read_text("utf-8")
    for size in set(summary["vm_size"]):
        assert size in report
    sizing = out / "sizing.json"
    if sizing.is_file():  # a recommendation names a size of this study
        text = sizing.read_text("utf-8")
        assert any(size in text for size in set(summary["vm_size"]))


@pytest.mark.slow
def test_run_then_report_succeed_or_explain(capsys: pytest.CaptureFixture[str]) -> None:
    out = Path(tempfile.mkdtemp(prefix="epcsim-prop-")) / "results"

    @settings(max_examples=6, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate],  # no shrinking: minutes per step
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(small_studies())
    def check(args: list[str]) -> None:
        capsys.readouterr()
        status = main(["run", str(QUICKSTART), "--workers", "1", "--no-progress",
                       "--no-sizing", "--out", str(out), *args])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert status in (0, 2), f"run exited {status}: {err}"
        if status == 2:
            assert err.startswith("epcsim: error:") and len(err.strip()) > 20
            return
        status = main(["report", str(out)])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert status in (0, 2), f"report exited {status}: {err}"
        if status == 2:
            assert err.startswith("epcsim: error:")
            return
        _check_not_stale(out)

    check()
