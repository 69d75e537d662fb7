"""Measured counters: call profiles -> operation skeletons, EPC counters -> rates and
calibration rows; every bad row located."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from epcsim.cli import main as cli_main
from epcsim.errors import ScenarioError
from epcsim.scenario import load_scenario
from epcsim.validation.calibration import read_calibration_measurements
from epcsim.validation.measurements import (
    CallProfile,
    CallRecord,
    operation_skeleton,
    read_call_profile,
    read_epc_counters,
    skeleton_yaml,
)

PROFILE = """\
call_type,name,count,total_time_s
ecall,ecall_handle_request,10000,0.95
ocall,ocall_send,10000,0.12
# comment lines are skipped
ocall,ocall_log_write,2500,0.05
"""
COUNTERS = """\
t_s,pages_evicted,pages_loaded,free_pages
0,1000,900,40
1,5000,4800,35
2,9200,9000,50
"""


def test_call_profile_gives_the_operation_per_request(tmp_path: Path) -> None:
    path = tmp_path / "calls.csv"
    path.write_text(PROFILE)
    prof = read_call_profile(path)
    assert prof.total("ecall") == (10000, 0.95)
    assert prof.total("ocall") == (12500, pytest.approx(0.17))
    op = operation_skeleton(prof, 10000, name="handle")
    assert op["ecalls"] == 1 and op["ocalls"] == 1  # 1.25 OCALLs per request rounds to 1
    assert op["ocall_host_time"] == "13.6 us"       # 0.17 s / 12500 OCALLs
    assert op["compute"] == "78 us"                 # (0.95 - 0.17) s / 10000 requests
    text = skeleton_yaml(prof, 10000, name="handle")
    ops = yaml.safe_load(text)["operations"]
    assert ops == [{"name": "handle", "ecalls": 1, "ocalls": 1,
                    "ocall_host_time": "13.6 us", "compute": "78 us"}]
    # The skeleton drops into a scenario as it is.
    scn = load_scenario({
        "name": "from-profile", "vm": ["DC2s_v3"],
        "enclaves": [{"name": "app", "size": "16 MiB", "regions": [{"name": "heap",
                                                                     "size": "8 MiB"}]}],
        "workload": {"arrival": {"kind": "poisson", "rate": "1k/s"}, "operations": ops}})
    assert scn.workload.operations[0].ocall_host_time_s == pytest.approx(13.6e-6)


@settings(max_examples=50, deadline=None)
@given(n_ecall=st.integers(1, 10**7), n_ocall=st.integers(0, 10**7),
       t_e=st.floats(0, 1e3), t_o=st.floats(0, 1e3), requests=st.integers(1, 10**7))
def test_skeleton_arithmetic(n_ecall: int, n_ocall: int, t_e: float, t_o: float,
                             requests: int) -> None:
    prof = CallProfile("p", (CallRecord("ecall", "e", n_ecall, t_e, 2),
                             CallRecord("ocall", "o", n_ocall, t_o if n_ocall else 0.0, 3)))
    op = operation_skeleton(prof, requests)
    assert op["ecalls"] == max(1, round(n_ecall / requests))
    assert op["ocalls"] == round(n_ocall / requests)
    compute_us = float(str(op["compute"]).split()[0])
    assert compute_us == pytest.approx(max(0.0, t_e - (t_o if n_ocall else 0.0))
                                       / requests * 1e6, rel=1e-3, abs=1e-9)


def test_call_profile_errors_are_all_located(tmp_path: Path) -> None:
    path = tmp_path / "calls.csv"
    path.write_text("call_type,name,count,total_time_s\n"
                    "ecal,ecall_x,10,0.1\n"
                    "ocall,,1.5,abc\n"
                    "ocall,o,0,0.5\n"
                    "ecall,e,1\n")
    with pytest.raises(ScenarioError) as err:
        read_call_profile(path)
    text = str(err.value)
    assert "calls.csv:5: wrong number of cells" in text
    path.write_text("call_type,name,count,total_time_s\n"
                    "ecal,ecall_x,10,0.1\n"
                    "ocall,,1.5,abc\n"
                    "ocall,o,0,0.5\n")
    with pytest.raises(ScenarioError) as err:
        read_call_profile(path)
    text = str(err.value)
    assert "calls.csv:2: call_type: unknown call type (expected ecall or ocall, found 'ecal')" \
        in text
    assert "calls.csv:3: name: empty call name" in text
    assert "calls.csv:3: count: bad value (expected a whole number >= 0, found '1.5')" in text
    assert "calls.csv:3: total_time_s: bad value" in text
    assert "calls.csv:4: total_time_s: time without calls" in text
    path.write_text("call_type,name,calls\n")
    with pytest.raises(ScenarioError, match=r"calls\.csv:1: missing columns"):
        read_call_profile(path)
    path.write_text("call_type,name,count,total_time_s\nocall,o,3,0.1\n")
    with pytest.raises(ScenarioError, match="no ECALLs"):
        read_call_profile(path)
    path.write_text("")
    with pytest.raises(ScenarioError, match="empty"):
        read_call_profile(path)


def test_epc_counters_rates_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "epc.csv"
    path.write_text(COUNTERS)
    c = read_epc_counters(path)
    assert c.interval_s == 2 and c.eviction_rate_per_s() == 4100
    assert c.load_rate_per_s() == 4050 and c.free_pages == (40, 35, 50)
    path.write_text("t_s,pages_evicted\n0,100\n1,200\n")
    assert read_epc_counters(path).load_rate_per_s() is None
    path.write_text("t_s,pages_evicted\n0,100\n0,200\n2,150\n")
    with pytest.raises(ScenarioError) as err:
        read_epc_counters(path)
    text = str(err.value)
    assert "epc.csv:3: t_s: times must increase" in text
    assert "epc.csv:4: pages_evicted: a cumulative counter went down" in text
    path.write_text("t_s,pages_evicted,pages_stolen\n0,1\n")
    with pytest.raises(ScenarioError, match="unknown columns pages_stolen"):
        read_epc_counters(path)
    path.write_text("t_s,pages_evicted\n0,1\n")
    with pytest.raises(ScenarioError, match="at least two samples"):
        read_epc_counters(path)


def test_cli_import_modes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    calls = tmp_path / "calls.csv"
    calls.write_text(PROFILE)
    assert cli_main(["calibrate", "--from-profile", str(calls), "--requests", "10000"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["operations"][0]["ocalls"] == 1
    assert cli_main(["calibrate", "--from-profile", str(calls)]) == 2
    assert "--requests" in capsys.readouterr().err
    epc = tmp_path / "epc.csv"
    epc.write_text(COUNTERS)
    assert cli_main(["calibrate", "--from-counters", str(epc), "--x-key",
                     "enclaves.kv.regions.table.size", "--x-value", "10 MiB",
                     "--vm-size", "DC2s_v2"]) == 0
    rows = tmp_path / "rows.csv"
    rows.write_text(capsys.readouterr().out)
    pts = read_calibration_measurements(rows)  # the output is a calibration CSV as it is
    assert [(p.metric, p.value, p.vm_size) for p in pts] == [
        ("epc_evictions_per_s", 4100, "DC2s_v2"), ("epc_faults_per_s", 4050, "DC2s_v2")]
    assert cli_main(["calibrate", "--from-counters", str(epc)]) == 2
    assert cli_main(["calibrate", "--from-counters", str(epc), "--from-profile",
                     str(calls)]) == 2
