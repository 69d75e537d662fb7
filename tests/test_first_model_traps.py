"""First-model traps (issue 17): what a new user writes first and what epcsim makes of it.

- A time or a size without its unit in a scenario file is refused (exit status 2) with the
  right forms in the message; zero, unit-named keys, page counts and rates stay bare; a
  mapping from Python keeps base units.
- ``epcsim check`` prints the resolved numbers: the SLO, run length and warm-up, arrivals,
  footprints, and per size the EPC left for enclave pages (checked against the driver's page
  accounting worked out by hand), vCPUs and price.
- ``pattern: zipf`` is ``{kind: zipf, s: 0.99}``; a bare name that needs parameters shows the
  full form.
- ``--set simulation.duration=...`` alone keeps the warm-up's share of the run; a warm-up
  that is still too long is refused with both numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from epcsim.cli import main
from epcsim.errors import ScenarioError
from epcsim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
INFERENCE = ROOT / "scenarios" / "inference-dcsv2.yaml"
TEXT = QUICKSTART.read_text("utf-8")


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    assert old in TEXT, old
    path = tmp_path / "variant.yaml"
    path.write_text(TEXT.replace(old, new, 1), "utf-8")
    return path


def _problems(path: Path | str, *overrides: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, list(overrides))
    return [p.format() for p in info.value.problems]


@pytest.mark.parametrize(("old", "new", "key", "forms"), [
    ("duration: 1 s ", "duration: 10 ", "simulation.duration", "'10 s', '10 ms' or '10 us'"),
    ("warmup: 200 ms", "warmup: 0.2", "simulation.warmup", "'0.2 s'"),
    ("latency_bound: 1 ms", "latency_bound: 0.001", "slo.latency_bound", "'0.001 s'"),
    ("{name: index, size: 8 MiB}", "{name: index, size: 8388608}",
     "enclaves.kv.regions.index.size", "'8388608 MiB', '8388608 KiB' or '8388608 B'"),
    ("compute: 3000 cycles", "compute: 5", "workload.operations.get.compute",
     "'5 cycles', '5 us' or '5 ms'"),
    ("ocall_host_time: 4 us", "ocall_host_time: 4", "workload.operations.set.ocall_host_time",
     "'4 s'"),
    ("compute: 3000 cycles", "compute: {dist: lognormal, mean: 3000, cv: 0.3}",
     "workload.operations.get", "'3000 cycles'"),
])
def test_a_time_or_size_without_a_unit_is_refused_with_the_right_forms(
        tmp_path: Path, old: str, new: str, key: str, forms: str) -> None:
    (problem,) = _problems(_variant(tmp_path, old, new))
    assert f": {key}" in problem and "without a unit" in problem and forms in problem


def test_the_cli_refuses_a_bare_duration_with_exit_2_and_no_traceback(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(QUICKSTART), "--set", "simulation.duration=10"]) == 2
    err = capsys.readouterr().err
    assert "--set simulation.duration=10" in err and "'10 s'" in err
    assert "Traceback" not in err


def test_zero_unit_named_keys_page_counts_and_rates_stay_bare(tmp_path: Path) -> None:
    path = _variant(tmp_path, "ocall_host_time: 4 us", "ocall_host_time: 0\n"
                    "      ecall_bytes_in: 512")
    path.write_text(path.read_text("utf-8").replace("rate: 10k/s", "rate: 10000"), "utf-8")
    scn = load_scenario(path)
    op = scn.workload.operations[1]
    assert op.ocall_host_time_s == 0 and op.ecall_bytes_in == 512
    assert scn.workload.arrival.rate_per_s == 10_000
    assert op.memory[1].pages.mean == 2  # `pages: 2` is a page count


def test_a_mapping_from_python_keeps_base_units() -> None:
    import yaml

    data = yaml.safe_load(TEXT)
    data["simulation"]["duration"] = 0.5
    data["simulation"]["warmup"] = 0.1
    data["workload"]["operations"][0]["compute"] = 3000
    scn = load_scenario(data)
    assert scn.simulation.duration_s == 0.5 and scn.simulation.warmup_s == 0.1
    assert scn.workload.operations[0].compute.cycles == 3000


def test_every_bundled_scenario_still_loads() -> None:
    files = [*ROOT.glob("scenarios/*.yaml"), *ROOT.glob("validation/*.yaml"),
             *ROOT.glob("validation/corpus/*.yaml")]
    assert len(files) > 20
    for path in files:
        load_scenario(path)


# ------------------------------------------------------------------------- bare pattern names


def test_bare_zipf_is_zipf_with_s_0_99(tmp_path: Path) -> None:
    explicit = load_scenario(QUICKSTART)
    bare = load_scenario(_variant(tmp_path, "pattern: {kind: zipf, s: 0.99}   # popular keys",
                                  "pattern: zipf   # popular keys"))
    a, b = (s.workload.operations[0].memory[0].pattern for s in (explicit, bare))
    assert a == b and b.kind == "zipf" and b.s == 0.99
    only_kind = load_scenario(_variant(tmp_path, "pattern: {kind: zipf, s: 0.99}   # popular",
                                       "pattern: {kind: zipf}   # popular"))
    assert only_kind.workload.operations[0].memory[0].pattern == a


@pytest.mark.parametrize(("name", "full"), [
    ("hotset", "{kind: hotset, hot_pages_fraction: 10%, hot_touches_fraction: 90%}"),
    ("strided", "{kind: strided, stride_pages: 16}"),
    ("trace", "{kind: trace, file: pages.npy}"),
])
def test_a_bare_name_that_needs_parameters_shows_the_full_form(
        tmp_path: Path, name: str, full: str) -> None:
    (problem,) = _problems(_variant(tmp_path, "pattern: {kind: zipf, s: 0.99}   # popular",
                                    f"pattern: {name}   # popular"))
    assert "memory.0.pattern" in problem and full in problem
    # and the full form it shows is itself accepted (a trace needs its file)
    if name != "trace":
        load_scenario(_variant(tmp_path, "pattern: {kind: zipf, s: 0.99}   # popular",
                               f"pattern: {full}   # popular"))


# ------------------------------------------------------------------------- shortened runs


@pytest.mark.parametrize(("path", "duration", "warmup_s"), [
    (QUICKSTART, "5s", 1.0),          # 200 ms of 1 s -> 1 s of 5 s
    (QUICKSTART, "100 ms", 0.02),     # -> 20 ms of 100 ms
    (INFERENCE, "1s", 0.167),         # 2 s of 12 s -> 167 ms of 1 s (3 digits)
])
def test_a_shortened_run_keeps_the_warmup_share(path: Path, duration: str,
                                                 warmup_s: float) -> None:
    scn = load_scenario(path, [f"simulation.duration={duration}"])
    assert scn.simulation.warmup_s == pytest.approx(warmup_s, rel=1e-12)
    assert scn.simulation.warmup_s < scn.simulation.duration_s


def test_an_explicit_warmup_is_kept_and_a_too_long_one_names_both_numbers() -> None:
    scn = load_scenario(QUICKSTART, ["simulation.duration=5s", "simulation.warmup=50 ms"])
    assert scn.simulation.warmup_s == 0.05
    (problem,) = _problems(QUICKSTART, "simulation.warmup=2s")
    assert "simulation.warmup" in problem and "1 s" in problem and "2 s" in problem


# ------------------------------------------------------------------------- check's numbers


def test_check_prints_the_resolved_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(QUICKSTART), "--set", "slo.as_of=2026-11-30"]) == 0
    out = capsys.readouterr().out
    for text in ("10,000/s with p99 latency <= 1 ms", "decision date      2026-11-30",
                 "1 s, warm-up 200 ms, measured 800 ms", "poisson, 10,000/s",
                 "~8,000 measured"):
        assert text in out, text
    kv = next(line for line in out.splitlines() if line.startswith("kv "))
    assert kv.split() == ["kv", "2", "24,576", "96.0", "20,480", "80.0", "3"]
    dc4 = next(line for line in out.splitlines() if line.startswith("Standard_DC4s_v2"))
    assert "$0.384" in dc4 and "retired" in dc4 and " 4 " in dc4


def test_usable_epc_is_the_drivers_page_accounting() -> None:
    # By hand, DC4s_v2 (112 MiB = 28,672 pages) with the quickstart's one enclave of 96 MiB
    # (24,576 pages) and 2 threads: SECS 1 + 2 x (1 TCS + 2 SSA) = 7 pages; Version Array
    # pages, one per 512 pages added with the SECS: ceil(24,577 / 512) = 49.
    from epcsim.scenario import plan_study
    from epcsim.scenario.confirm import resolved_numbers

    numbers = resolved_numbers(plan_study(load_scenario(QUICKSTART)))
    dc4 = next(v for v in numbers["vm_sizes"] if v["vm_size"] == "Standard_DC4s_v2")
    assert dc4["epc_usable_pages"] == 28_672 - 7 - math.ceil(24_577 / 512) == 28_616
    assert dc4["epc_usable_mib"] == 28_616 / 256 and dc4["enclaves_fit_in_epc"]
    dc1 = next(v for v in numbers["vm_sizes"] if v["vm_size"] == "Standard_DC1s_v2")
    assert not dc1["enclaves_fit_in_epc"]
    (kv,) = numbers["enclaves"]
    # 90% GET + 10% SET, each 1 index page + 2 table pages
    assert kv["page_touches_per_op"] == pytest.approx(3.0)
    assert numbers["arrival"]["expected_operations_per_run"] == pytest.approx(10_000)


def test_sizing_variants_of_a_file_scenario_write_base_units() -> None:
    # epcsim's own assignments (the knee's working-set scale writes region sizes in bytes, a
    # what-if writes host time in seconds) are not a user's bare numbers.
    from epcsim.sizing.variants import apply_variant

    scn = load_scenario(QUICKSTART)
    bigger = apply_variant(scn, 5_000.0, {"working_set_scale": 2.0})
    assert bigger.enclaves[0].size_bytes == 2 * scn.enclaves[0].size_bytes
    fewer = apply_variant(scn, None, {"ocalls_per_op_scale": 2.0})
    op = fewer.workload.operations[1]
    assert op.ocalls == 2 and op.ocall_host_time_s == pytest.approx(2e-6)
