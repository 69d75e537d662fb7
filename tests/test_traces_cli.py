"""The ``epcsim trace`` command: text and JSON output, scenario input, exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from epcsim.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_trace_file_text_and_json(tmp_path, capsys):
    pages = np.random.default_rng(0).integers(0, 3000, 30_000) * 4096 + 0x7F0000000000
    np.savez(tmp_path / "t.npz", addresses=pages)
    status, out, _ = run(capsys, "trace", str(tmp_path / "t.npz"), "--epc", "4 MiB")
    assert status == 0
    assert "working set:  3,000 pages (11.7 MiB)" in out
    assert "EPC:          1,024 pages (4.0 MiB)" in out
    status, out, _ = run(capsys, "trace", str(tmp_path / "t.npz"), "--epc", "1024",
                         "--policy", "lru", "--policy", "linux", "--json")
    result = json.loads(out)
    assert status == 0
    assert result["working_set_pages"] == 3000 and result["epc_pages"] == 1024
    assert set(result["miss_ratio"]) == {"lru", "linux"}
    assert result["miss_ratio"]["lru"] == pytest.approx(result["lru_mrc_miss_ratio_at_epc"])
    assert result["knee_pages"] == pytest.approx(3000, abs=100)


def test_trace_lackey(capsys):
    status, out, _ = run(capsys, "trace", str(FIXTURES / "true_head.lackey"), "--epc", "8",
                         "--json")
    assert status == 0
    assert json.loads(out)["accesses"] > 0


def test_trace_scenario(capsys):
    status, out, _ = run(capsys, "trace", str(ROOT / "scenarios" / "quickstart.yaml"),
                         "--accesses", "20000", "--json", "--policy", "clock")
    assert status == 0
    result = json.loads(out)
    assert result["accesses"] == 20000
    assert result["source"]["kind"] == "scenario"
    assert 0 < result["working_set_pages"] <= result["source"]["enclave_pages"]


@pytest.mark.parametrize(("argv", "match"), [
    (["missing.npy"], "not found"),
    (["{empty}"], "empty"),
    (["{neg}"], ">= 0"),
    (["{corrupt}"], "readable"),
    (["{ok}", "--epc", "93 parsecs"], "--epc"),
    (["{ok}", "--epc", "0"], "--epc"),
    (["{bad_scenario}"], ""),
])
def test_trace_bad_input_exit_2(tmp_path, capsys, argv, match):
    np.save(tmp_path / "empty.npy", np.array([], dtype=np.int64))
    np.save(tmp_path / "neg.npy", np.array([3, -1]))
    (tmp_path / "corrupt.npy").write_bytes(b"not numpy at all")
    np.save(tmp_path / "ok.npy", np.array([1, 2, 3]))
    (tmp_path / "bad.yaml").write_text("name: x\nenclaves: 3\n")
    names = {"empty": tmp_path / "empty.npy", "neg": tmp_path / "neg.npy",
             "corrupt": tmp_path / "corrupt.npy", "ok": tmp_path / "ok.npy",
             "bad_scenario": tmp_path / "bad.yaml"}
    argv = [a.format(**names) if a.startswith("{") else
            (str(tmp_path / a) if a.endswith(".npy") else a) for a in argv]
    status, _, err = run(capsys, "trace", *argv)
    assert status == 2
    assert "Traceback" not in err
    assert match in err


def test_set_overrides_a_scenario_and_is_refused_for_trace_files(tmp_path, capsys) -> None:
    from epcsim.cli import main as cli

    root = Path(__file__).resolve().parents[1]
    args = ["trace", str(root / "scenarios" / "quickstart.yaml"), "--accesses", "50000",
            "--policy", "lru", "--json"]
    assert cli(args) == 0
    big = json.loads(capsys.readouterr().out)
    assert cli([*args, "--set", "enclaves.kv.regions.table.size=16MiB"]) == 0
    small = json.loads(capsys.readouterr().out)
    assert small["working_set_pages"] < big["working_set_pages"]
    trace = tmp_path / "t.npy"
    np.save(trace, np.arange(10, dtype=np.int64))
    assert cli(["trace", str(trace), "--set", "a=1"]) == 2
