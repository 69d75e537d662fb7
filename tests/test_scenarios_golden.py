"""Golden summaries of the scenario library (scenarios/*.yaml).

Every bundled scenario must pass ``epcsim check`` and, run on short settings (one
replication, a fraction of a second of simulated time, overridden below), reproduce the
per-VM-size means of a few key metrics stored in ``tests/golden/<name>.csv``. The simulator
is deterministic (every random stream derives from the scenario's seed), so the comparison
uses a tight relative tolerance: any change in the numbers is a change in the model, the
adapter, the memory stage or the scenario, and must be looked at and the goldens
regenerated on purpose.

Regenerate after an intended change (then review ``git diff tests/golden``)::

    EPCSIM_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_scenarios_golden.py -p no:xdist
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import pytest

import epcsim
from epcsim.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
GOLDEN = Path(__file__).resolve().parent / "golden"

#: Key metrics compared per VM size (means over the replications of the short run).
METRICS = ("throughput_ops_s", "latency_mean_s", "latency_p99_s", "epc_faults_per_s",
           "slowdown_vs_native")
#: The simulator is deterministic: numbers agree to rounding of the CSV round trip.
REL_TOL = 1e-9

#: Short settings per scenario: a few thousand operations per run, one replication.
SHORT: dict[str, list[str]] = {
    "quickstart": ["simulation.duration=200 ms", "simulation.warmup=50 ms"],
    "tls-proxy": ["simulation.duration=100 ms", "simulation.warmup=20 ms"],
    "hash-join": ["simulation.duration=40 ms", "simulation.warmup=10 ms"],
    "ml-inference": ["simulation.duration=3 s", "simulation.warmup=1 s"],
    "kms-signing": ["simulation.duration=150 ms", "simulation.warmup=30 ms"],
    "btree-db": ["simulation.duration=150 ms", "simulation.warmup=30 ms"],
    "kv-store": ["workload.phases.load.duration=50 ms", "simulation.duration=150 ms",
                 "simulation.warmup=70 ms"],
}
COMMON = ["simulation.replications=1"]


def _regenerating() -> bool:
    return os.environ.get("EPCSIM_REGEN_GOLDEN", "") not in ("", "0")


def test_library_files_and_goldens_match() -> None:
    """Every library scenario exists, and every golden file belongs to one (no stale ones).
    Other scenarios in scenarios/ (benchmarks, studies) are only checked, below."""
    names = {p.stem for p in SCENARIOS.glob("*.yaml")}
    assert set(SHORT) <= names
    assert {p.stem for p in GOLDEN.glob("*.csv")} <= set(SHORT)


def test_library_has_six_workloads() -> None:
    assert len(SHORT) >= 7  # quickstart and kv-store are both key-value stores


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("*.yaml")))
def test_scenario_checks(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``epcsim check`` accepts the file (exit 0) and prints the plan."""
    status = cli_main(["check", str(SCENARIOS / f"{name}.yaml")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "runs" in out


@pytest.mark.parametrize("name", sorted(SHORT))
def test_scenario_every_parameter_commented(name: str) -> None:
    """The library's scenarios explain their numbers: every line that sets a scalar inside
    the enclaves/workload sections carries a comment or sits under a commented block, and
    the file opens with a header saying where the figures come from."""
    text = (SCENARIOS / f"{name}.yaml").read_text(encoding="utf-8")
    header = text.splitlines()[:5]
    assert all(line.startswith("#") for line in header), "the file must open with comments"
    comments = sum(1 for line in text.splitlines() if "#" in line)
    settings = sum(1 for line in text.splitlines()
                   if ":" in line and not line.lstrip().startswith("#"))
    assert comments >= settings / 2, f"{comments} comment lines for {settings} settings"


@pytest.mark.parametrize("name", sorted(SHORT))
def test_scenario_golden_summary(name: str, tmp_path: Path) -> None:
    study = epcsim.run_study(SCENARIOS / f"{name}.yaml", overrides=[*COMMON, *SHORT[name]],
                             out_dir=tmp_path / name, workers=1, keep_detail=False)
    assert study.n_failed == 0, study.report_text
    agg = study.aggregate
    got = agg[["vm_size", *METRICS]].reset_index(drop=True)
    # Sanity, independent of the golden: every size did work and the numbers are physical.
    assert (got["throughput_ops_s"] > 0).all()
    assert (got["latency_mean_s"] > 0).all()
    assert (got["latency_p99_s"] >= got["latency_mean_s"] * 0.5).all()
    assert (got["epc_faults_per_s"] >= 0).all()
    assert (got["slowdown_vs_native"] >= 0.99).all()  # SGX is never faster than native
    path = GOLDEN / f"{name}.csv"
    if _regenerating():
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(got.to_csv(index=False, lineterminator="\n"), encoding="utf-8")
        pytest.skip(f"regenerated {path.name}")
    assert path.exists(), (f"no golden for {name}: run EPCSIM_REGEN_GOLDEN=1 pytest "
                           f"{Path(__file__).name}")
    want = pd.read_csv(path)
    assert list(want["vm_size"]) == list(got["vm_size"])
    for metric in METRICS:
        for size, w, g in zip(want["vm_size"], want[metric], got[metric], strict=True):
            if math.isnan(w):
                assert math.isnan(g), f"{name} {size} {metric}: expected NaN, got {g!r}"
            else:
                assert math.isclose(g, w, rel_tol=REL_TOL, abs_tol=0.0), (
                    f"{name} {size} {metric}: golden {w!r}, now {g!r} "
                    f"(regenerate with EPCSIM_REGEN_GOLDEN=1 if the change is intended)")
