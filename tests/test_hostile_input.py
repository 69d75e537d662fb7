"""Hostile input, by class: every command's options, every input file kind, every echo.

Each test feeds one class of bad input (a value outside an option's range, a file that lies
about its size, an Excel byte-order mark, a 5,000-character value...) to the public entry
points and checks the contract: exit status 2 (or a clean refusal), a message that names the
option or file, the limit and how to raise it, and no traceback. Scenario-file cases live in
tests/bad_scenarios/ (tests/test_scenario_bad.py) and tests/test_scenario_feasibility.py.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from epcsim.cli import main as cli_main
from epcsim.errors import EpcsimError, Problem, ScenarioError, clip
from epcsim.scenario import load_scenario
from epcsim.study.store import claim_results_folder
from epcsim.traces import load_page_trace, read_arrival_times, read_lackey

ROOT = Path(__file__).parent.parent
QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
DATA = Path(__file__).parent / "bad_scenarios" / "data"


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    """Run the CLI; it must exit 2 (argparse's own exit included) with every fragment."""
    try:
        status = cli_main(argv)
    except SystemExit as exc:  # argparse: usage error
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    for f in fragments:
        assert f in err, err
    return err


# ---- every command's options are bounded ---------------------------------------------------

@pytest.mark.parametrize("argv, fragments", [
    (["trace", QUICKSTART, "--seed", "-1"], ["--seed", "0..2^63-1", "'-1'"]),
    (["trace", "t.npy", "--epc", "1e30"], ["--epc", "1 TiB"]),
    (["trace", "t.npy", "--epc", "0"], ["--epc"]),
    (["trace", QUICKSTART, "--accesses", "2000000000"], ["--accesses", "20,000,000"]),
    (["trace", QUICKSTART, "--accesses", "0"], ["--accesses"]),
    (["run", QUICKSTART, "--until-ci", "50", "--no-progress"], ["--until-ci", "(0, 1)"]),
    (["run", QUICKSTART, "--until-ci", "50%", "--ci-metrics", "vm_size"],
     ["--ci-metrics", "'vm_size' is not a numeric summary metric"]),
    (["run", QUICKSTART, "--until-ci", "5%", "--ci-metrics", "latency_p99"],
     ["did you mean 'latency_p99_s'?"]),
    (["run", QUICKSTART, "--max-replications", "1"], ["--max-replications"]),
    (["run", QUICKSTART, "--max-replications", "10000000"], ["--max-replications"]),
    (["validate", "--workers", "0"], ["--workers"]),
    (["validate", "--workers", "100000"], ["--workers"]),
    (["calibrate", "m.csv", "--max-evals", "1"], ["--max-evals"]),
    (["calibrate", "m.csv", "--rel-step", "nan"], ["--rel-step"]),
    (["calibrate", "m.csv", "--rel-step", "0"], ["--rel-step"]),
    (["calibrate", "--from-profile", "p.csv", "--requests", "-1"], ["--requests"]),
    (["calibrate", "--from-counters", "c.csv", "--x-key", "k" * 5000], ["--x-key",
                                                                       "5,002 characters"]),
    (["catalog", "--series", "DCsv4"], ["--series", "did you mean 'DCsv3'?"]),
    (["check", QUICKSTART, "--set", "workload.arrival.rate=abc"],
     ["--set workload.arrival.rate=abc: workload.arrival.rate: not a rate"]),
    (["report", "/nonexistent/results"], ["no such results folder"]),
])
def test_every_option_is_bounded(argv: list[str], fragments: list[str],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    _refused(argv, capsys, *fragments)


def test_schema_takes_no_stray_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    _refused(["schema", "--bogus"], capsys, "unrecognized arguments")


# ---- --set problems point at the --set -----------------------------------------------------

def test_set_problems_name_the_set_not_the_file() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(QUICKSTART, ["workload.arrival.rate=abc",
                                   "workload.operations.set.call_mode=hotcall",
                                   "vm=[DC9s_v2]"])
    by_key = {p.key_path: p for p in info.value.problems}
    rate = by_key["workload.arrival.rate"]
    assert rate.file == "--set workload.arrival.rate=abc" and rate.line is None
    assert by_key["vm.sizes.0"].file == "--set vm=[DC9s_v2]"


def test_file_problems_keep_their_line_next_to_a_set() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(QUICKSTART, ["workload.operations.set.call_mode=hotcall"])
    (p,) = info.value.problems
    assert p.file == "--set workload.operations.set.call_mode=hotcall"
    assert "hotcall OCALLs need switchless workers" in p.message


# ---- echoed values are clipped -------------------------------------------------------------

def test_clip() -> None:
    assert clip("abc") == "abc"
    long = "x" * 5000
    assert clip(long) == "x" * 200 + "... (5,000 characters)"
    line = Problem("bad", file="f.yaml", found=repr(long)).format()
    assert len(line) < 300 and "5,002 characters" in line


def test_long_values_are_not_echoed_in_full(capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused(["check", QUICKSTART, "--set", "workload.arrival.rate=" + "9x" * 2500],
                   capsys, "not a rate")
    assert max(len(line) for line in err.splitlines()) <= 1100


def test_every_error_line_is_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "t.csv"
    f.write_text("page\n" + "z" * 5000 + "\n")
    err = _refused(["trace", str(f)], capsys, "characters")
    assert max(len(line) for line in err.splitlines()) <= 1100


# ---- every input file kind: BOM, limits, lies ----------------------------------------------

BOM = "\ufeff"


def test_bom_in_every_csv_reader(tmp_path: Path) -> None:
    from epcsim.validation.calibration import read_calibration_measurements
    from epcsim.validation.measurements import read_call_profile, read_epc_counters

    cal = tmp_path / "cal.csv"
    cal.write_text(BOM + "x_key,x_value,metric,value\nenclaves.kv.size,64 MiB,"
                   "throughput_ops_s,1000\n", encoding="utf-8")
    assert read_calibration_measurements(cal)[0].value == 1000.0
    prof = tmp_path / "prof.csv"
    prof.write_text(BOM + "call_type,name,count,total_time_s\necall,get,100,0.01\n",
                    encoding="utf-8")
    assert read_call_profile(prof)
    cnt = tmp_path / "cnt.csv"
    cnt.write_text(BOM + "t_s,pages_evicted\n0,0\n1,100\n", encoding="utf-8")
    assert read_epc_counters(cnt).eviction_rate_per_s() == 100.0
    pages = tmp_path / "pages.csv"
    pages.write_text(BOM + "address\n0x1000\n0x2000\n", encoding="utf-8")
    assert load_page_trace(pages).tolist() == [1, 2]
    arrivals = tmp_path / "arrivals.csv"
    arrivals.write_text(BOM + "0.5\n1.0\n", encoding="utf-8")
    assert read_arrival_times(arrivals).tolist() == [0.5, 1.0]  # first arrival kept
    lackey = tmp_path / "t.lackey"
    lackey.write_text(BOM + " L 00002000,8\n", encoding="utf-8")
    assert read_lackey(lackey).tolist() == [2]


def test_csv_cell_over_csv_limit_is_located(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "m.csv"
    f.write_text("x_key,x_value,metric,value\n" + "a" * 200_000 + ",1,throughput_ops_s,1\n")
    from epcsim.validation.calibration import read_calibration_measurements

    with pytest.raises(ScenarioError) as info:
        read_calibration_measurements(f)
    assert info.value.problems[0].line == 2
    assert "field larger than field limit" in str(info.value)


@pytest.mark.parametrize("line", [" L -1000,8", " L +1000,8", " S 0x1000,8"])
def test_lackey_refuses_signed_or_prefixed_addresses(tmp_path: Path, line: str) -> None:
    f = tmp_path / "t.lackey"
    f.write_text(" L 04001000,8\n" + line + "\n")
    with pytest.raises(EpcsimError, match=r":2: expected a bare hexadecimal address"):
        read_lackey(f)


def test_npy_header_lying_about_its_shape(capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "huge_header.npy"
    assert path.stat().st_size < 200
    _refused(["trace", str(path)], capsys, "refused before allocating it",
             "EPCSIM_MAX_ARRAY_MIB")


def test_npy_truncated(tmp_path: Path) -> None:
    f = tmp_path / "t.npy"
    np.save(f, np.arange(1000, dtype=np.int64))
    f.write_bytes(f.read_bytes()[:-800])
    with pytest.raises(EpcsimError, match="truncated or corrupt"):
        load_page_trace(f)


def _bomb(path: Path, n: int) -> None:
    buf = io.BytesIO()
    np.save(buf, np.zeros(n, dtype=np.int64))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("pages.npy", buf.getvalue())


def test_npz_zip_bomb_refused_before_extraction(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bomb.npz"
    _bomb(f, 2_000_000)  # 16 MB of zeros in ~16 KB
    assert f.stat().st_size < 100_000
    monkeypatch.setenv("EPCSIM_MAX_ARRAY_MIB", "8")
    _refused(["trace", str(f)], capsys, "refused before extracting it",
             "EPCSIM_MAX_ARRAY_MIB=<MiB>")
    monkeypatch.setenv("EPCSIM_MAX_ARRAY_MIB", "64")  # raising the limit lets it through
    assert load_page_trace(f).shape == (2_000_000,)


def test_npz_member_header_lying_about_its_shape(tmp_path: Path) -> None:
    f = tmp_path / "lie.npz"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("pages.npy", (DATA / "huge_header.npy").read_bytes())
    with pytest.raises(EpcsimError, match=r"lie.npz\[pages.npy\]: .*refused before"):
        load_page_trace(f)


@pytest.mark.parametrize("kind", ["page trace", "arrival trace", "lackey"])
def test_text_inputs_over_the_limit_are_refused_whole(kind: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPCSIM_MAX_TEXT_MIB", "1")
    f = tmp_path / ("t.lackey" if kind == "lackey" else "t.csv")
    line = " L 00001000,8\n" if kind == "lackey" else "1\n"
    f.write_text(line * (2**20 // len(line) + 10))
    reader = {"page trace": load_page_trace, "arrival trace": read_arrival_times,
              "lackey": read_lackey}[kind]
    with pytest.raises(EpcsimError, match=r"over the limit of 1.0 MiB.*EPCSIM_MAX_TEXT_MIB"):
        reader(f)


def test_measurement_csv_not_utf8_is_located(tmp_path: Path) -> None:
    from epcsim.validation.measurements import read_epc_counters

    f = tmp_path / "c.csv"
    f.write_bytes(b"t_s,pages_evicted\n0,0\n1,\xff\n")
    with pytest.raises(ScenarioError) as info:
        read_epc_counters(f)
    assert info.value.problems[0].line == 3


# ---- results folders are input too ---------------------------------------------------------

def test_report_refuses_an_alias_bomb_in_the_results_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = claim_results_folder(tmp_path / "results")  # a folder epcsim wrote
    (out / "summary.csv").write_text("vm_size,throughput_ops_s\nStandard_DC4s_v2,1000\n")
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")
    (out / "scenario.resolved.yaml").write_text("\n".join(lines) + "\nname: bomb\n")
    assert (out / "scenario.resolved.yaml").stat().st_size < 1000
    _refused(["report", str(out)], capsys, "alias bomb")


# ---- operations per run ----------------------------------------------------------------------

def test_max_operations_is_the_documented_way_out() -> None:
    with pytest.raises(ScenarioError, match=r"raise simulation\.max_operations"):
        load_scenario(QUICKSTART, ["workload.arrival.rate=10M/s"])
    scn = load_scenario(QUICKSTART, ["workload.arrival.rate=10M/s",
                                     "simulation.max_operations=20M"])
    assert scn.simulation.max_operations == 20_000_000


def test_max_operations_does_not_change_run_keys() -> None:
    from epcsim.scenario import plan_study

    a = plan_study(load_scenario(QUICKSTART))
    b = plan_study(load_scenario(QUICKSTART, ["simulation.max_operations=5M"]))
    assert [r.run_key for r in a.runs] == [r.run_key for r in b.runs]


def test_check_is_fast_on_a_trace_scenario(tmp_path: Path) -> None:
    shutil.copy(DATA / "decreasing_arrivals.csv", tmp_path / "a.csv")
    with pytest.raises(ScenarioError, match="timestamps must not decrease"):
        load_scenario(QUICKSTART, [f"workload.arrival={{kind: trace, file: {tmp_path}/a.csv}}"])


def test_report_of_a_study_where_no_operation_completed(tmp_path: Path) -> None:
    """Overload (10M/s for 20 ms) or a 1 us window: every latency is NaN; the report is
    written and says why, instead of 'Data cannot be log-scaled'."""
    out = claim_results_folder(tmp_path / "results")  # a folder epcsim wrote
    nan = float("nan")
    import pandas as pd

    rows = [{"run_key": f"k{i}", "vm_size": size, "epc_mib": epc, "vcpus": 2,
             "usd_per_hour": 0.2, "replication": 0, "status": "ok", "error": "",
             "throughput_ops_s": 0.0, "ops_completed": 0.0, "latency_mean_s": nan,
             "latency_p50_s": nan, "latency_p95_s": nan, "latency_p99_s": nan,
             "share_compute": nan, "share_queueing": nan, "vcpu_utilisation": 1.0}
            for i, (size, epc) in enumerate((("Standard_DC1s_v2", 28.0),
                                             ("Standard_DC2s_v2", 56.0)))]
    pd.DataFrame(rows).to_csv(out / "summary.csv", index=False)
    assert cli_main(["report", str(out)]) == 0
    assert "no operation completed" in (out / "report.md").read_text(encoding="utf-8")
