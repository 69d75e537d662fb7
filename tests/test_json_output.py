"""``--json`` for scripts (issue 17): one JSON document on stdout, every human line on stderr,
and each document valid against the JSON Schema that ships in the package.

The outputs checked are real: a short quickstart study (without sizing through the CLI, and
its document rebuilt with a cheap sizing that recommends a size; with an impossible latency
bound through the CLI: sizing, exit 3), ``check`` of every bundled scenario and of a broken one,
``trace`` of a scenario, ``validate`` of one corpus series, and the error document of a bad
scenario and a bad option (exit 2, the located message on stderr). A schema that accepted
anything would pass these, so the schemas are also shown to refuse broken documents.
"""

from __future__ import annotations

import itertools
import json
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from epcsim.cli import main
from epcsim.cli.jsonout import SCHEMAS, dumps, schema

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
#: One purchasable size, a short run: seconds, sizing included.
SHORT = ["--workers", "1", "--no-progress", "--set", "vm.sizes=[DC2s_v3]",
         "--set", "simulation.duration=100 ms", "--set", "simulation.warmup=20 ms",
         "--set", "simulation.replications=2", "--set", "slo.as_of=2026-11-30"]


def _validate(doc: Any, name: str) -> None:
    jsonschema.Draft202012Validator(schema(name)).validate(doc)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, json.loads(out), err  # stdout is exactly one JSON document


def test_every_schema_is_a_valid_draft_2020_12_schema_and_ships_as_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["epcsim"]
    for name in SCHEMAS:
        jsonschema.Draft202012Validator.check_schema(schema(name))
        rel = f"report/schemas/{name}.schema.json"
        assert (ROOT / "epcsim" / rel).is_file()
        assert any(fnmatch(rel, g) for g in globs), f"{rel} is not in package-data"


@pytest.fixture(scope="module")
def no_sizing_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Any, str, Path]:
    import contextlib
    import io

    out_dir = tmp_path_factory.mktemp("json") / "qs"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(["run", str(QUICKSTART), "--json", "--no-sizing", "--out", str(out_dir),
                       *SHORT])
    return status, json.loads(stdout.getvalue()), stderr.getvalue(), out_dir


@pytest.fixture(scope="module")
def fitting_doc(no_sizing_run: tuple[int, Any, str, Path]) -> Any:
    """The run document of the same study with a sizing that recommends a size (made cheap:
    no cost sensitivity, what-ifs or knee, short evaluations; the CLI's full sizing path is
    exercised by the exit-3 test)."""
    import epcsim
    from epcsim.cli.run import run_document

    out_dir = no_sizing_run[3]
    overrides = [a for flag, a in itertools.pairwise(SHORT) if flag == "--set"]
    scn = epcsim.load_scenario(QUICKSTART, overrides)
    study = epcsim.run_study(scn, out_dir=out_dir, workers=1)  # the stored runs, reused
    sizing = epcsim.recommend(scn, sensitivity=False, what_ifs=False, knee=False,
                              measured_ops=500, workers=1)
    (out_dir / "sizing.json").write_text(sizing.to_json(), "utf-8")
    return json.loads(dumps(run_document(study, str(QUICKSTART), 0)))


def test_run_json_is_one_valid_document_and_the_tables_go_to_stderr(
        no_sizing_run: tuple[int, Any, str, Path]) -> None:
    status, doc, err, _ = no_sizing_run
    assert status == 0 == doc["exit_status"] and doc["status"] == "ok"
    _validate(doc, "run")
    assert doc["plan"]["vm_sizes"] == ["Standard_DC2s_v3"] and doc["plan"]["runs"] == 2
    assert doc["runs"] == {"total": 2, "failed": 0} and doc["sizing"] is None
    assert [r["vm_size"] for r in doc["results"]] == ["Standard_DC2s_v3"]
    row = doc["results"][0]["metrics"]
    assert row["latency_p99_s_ci_low"] <= row["latency_p99_s"] <= row["latency_p99_s_ci_high"]
    assert Path(doc["files"]["summary.csv"]).is_file()
    # what a person reads is all on stderr: the plan and the headline table
    assert "1 VM size x 1 sweep point x 2 replications = 2 runs" in err
    assert "p99 latency" in err and "results:" in err


def test_run_document_with_a_recommendation_is_valid(fitting_doc: Any) -> None:
    _validate(fitting_doc, "run")
    rec = fitting_doc["sizing"]["recommended"]
    assert rec["vm_size"] == "Standard_DC2s_v3" and rec["vm_count"] >= 1
    assert fitting_doc["sizing"]["as_of"] == "2026-11-30"
    (size,) = fitting_doc["sizing"]["sizes"]
    assert size["recommendable"] and size["capacity_ops_s"] >= 10_000 * 1.2
    assert Path(fitting_doc["files"]["sizing.json"]).is_file()


def test_run_json_when_nothing_fits_exits_3_with_advice(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, doc, err = _run(capsys, "run", str(QUICKSTART), "--json", "--out",
                            str(tmp_path / "out"), *SHORT, "--set", "slo.latency_bound=8us")
    assert status == 3 == doc["exit_status"] and doc["status"] == "nothing_fits"
    _validate(doc, "run")
    assert doc["sizing"]["recommended"] is None and doc["sizing"]["advice"]
    assert "exit status 3" in err


def test_run_json_bad_input_exits_2_with_an_error_document(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, doc, err = _run(capsys, "run", str(QUICKSTART), "--json", "--out",
                            str(tmp_path / "out"), *SHORT, "--set", "simulation.duration=5")
    assert status == 2 == doc["error"]["exit_status"]
    _validate(doc, "error")
    (problem,) = doc["error"]["problems"]
    assert problem["key_path"] == "simulation.duration" and "'5 s'" in problem["suggestion"]
    assert "epcsim: error:" in err and "simulation.duration" in err
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_a_bad_option_with_json_still_leaves_a_document(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, doc, err = _run(capsys, "check", "--json", "--no-such-option", str(QUICKSTART))
    assert status == 2 and doc["error"]["exit_status"] == 2
    _validate(doc, "error")
    assert "--no-such-option" in doc["error"]["message"] and "--no-such-option" in err


def test_check_json_every_bundled_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
    status, doc, err = _run(capsys, "check", "--json", *files)
    assert status == 0 and doc["ok"]
    _validate(doc, "check")
    assert [f["file"] for f in doc["files"]] == files
    quick = next(f for f in doc["files"] if f["file"].endswith("quickstart.yaml"))
    numbers = quick["resolved"]
    assert numbers["slo"]["target_load_per_s"] == 10_000
    assert numbers["slo"]["latency_bound_s"] == pytest.approx(1e-3)
    assert numbers["simulation"]["duration_s"] == 1.0
    assert numbers["simulation"]["warmup_s"] == pytest.approx(0.2)
    (kv,) = numbers["enclaves"]
    assert kv["committed_pages"] == 96 * 256 and kv["touched_pages"] == 80 * 256
    assert "quickstart.yaml: ok" in err  # the text form went to stderr


def test_check_json_lists_the_problems_of_a_bad_file_beside_the_good_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(QUICKSTART.read_text("utf-8").replace("duration: 1 s", "duration: 1"),
                   "utf-8")
    status, doc, err = _run(capsys, "check", "--json", str(bad), str(QUICKSTART))
    assert status == 2 and doc["exit_status"] == 2 and not doc["ok"]
    _validate(doc, "check")
    assert [f["ok"] for f in doc["files"]] == [False, True]
    (problem,) = doc["files"][0]["problems"]
    assert problem["key_path"] == "simulation.duration" and problem["line"] is not None
    assert f"{bad}:" in err


def test_trace_json_valid(capsys: pytest.CaptureFixture[str]) -> None:
    status, doc, _ = _run(capsys, "trace", str(QUICKSTART), "--accesses", "20000", "--json",
                          "--epc", "8 MiB")
    assert status == 0
    _validate(doc, "trace")
    assert doc["source"]["kind"] == "scenario" and doc["epc_pages"] == 2048


def test_validate_json_valid(capsys: pytest.CaptureFixture[str]) -> None:
    status, doc, err = _run(capsys, "validate", "--series", "conclave_dc4sv3_empty",
                            "--workers", "1", "--json")
    assert status == 0
    _validate(doc, "validate")
    assert [s["series"] for s in doc["series"]] == ["conclave_dc4sv3_empty"]
    assert "simulated" in err


def test_the_schemas_refuse_broken_documents(fitting_doc: Any) -> None:
    doc = fitting_doc
    broken: list[dict[str, Any]] = []
    for mutate in (lambda d: d.pop("results"), lambda d: d.update(exit_status=2),
                   lambda d: d["sizing"]["recommended"].update(vm_count="one"),
                   lambda d: d["results"][0]["metrics"].update(latency_p99_s="fast"),
                   lambda d: d["plan"].update(vm_sizes=[])):
        copy = json.loads(json.dumps(doc))
        mutate(copy)
        broken.append(copy)
    for copy in broken:
        with pytest.raises(jsonschema.ValidationError):
            _validate(copy, "run")


def test_non_finite_numbers_become_null() -> None:
    text = dumps({"a": float("inf"), "b": [float("nan"), 1.5]})
    assert json.loads(text) == {"a": None, "b": [None, 1.5]}
