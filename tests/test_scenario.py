"""Scenario loading, normalisation, VM resolution, overrides, sweeps, run keys, schema, docs."""

from __future__ import annotations

import json
from pathlib import Path

import pydantic
import pytest
import yaml

from epcsim.cli import main as cli_main
from epcsim.errors import ScenarioError
from epcsim.reference.catalog import get_vm, load_catalog
from epcsim.reference.cost_parameters import default_costs
from epcsim.scenario import (
    load_scenario,
    plan_study,
    resolve_vm_sizes,
    scenario_json_schema,
)
from epcsim.scenario.docgen import EXAMPLE_YAML, generate
from epcsim.scenario.plan import run_key
from epcsim.scenario.yamlload import load_yaml_text

ROOT = Path(__file__).parent.parent
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
BUNDLED = sorted((ROOT / "scenarios").glob("*.yaml"))
MiB = 2**20


def minimal(**extra: object) -> dict:
    data: dict = {
        "name": "mini",
        "vm": ["DC4s_v2"],
        "enclaves": [{"name": "e", "size": "8 MiB"}],
        "workload": {"arrival": {"kind": "poisson", "rate": "1k/s"},
                     "operations": [{"name": "op", "memory": [{"region": "heap",
                                                                 "pages": 4}]}]},
    }
    data.update(extra)
    return data


def problems_of(source: object, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(source, overrides)  # type: ignore[arg-type]
    return [p.format() for p in info.value.problems]


# ---- bundled scenarios ----------------------------------------------------------------------


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_scenarios_check(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: ok" in out and " runs" in out


def test_quickstart_normalised() -> None:
    s = load_scenario(QUICKSTART)
    assert s.name == "quickstart"
    assert s.vm.sizes == ("Standard_DC1s_v2", "Standard_DC2s_v2", "Standard_DC4s_v2",
                          "Standard_DC2s_v3", "Standard_DC4s_v3")
    kv = s.enclave("kv")
    assert kv.size_bytes == 96 * MiB and kv.threads == 2 and kv.size_pages == 96 * 256
    assert kv.region_layout() == {"index": (0, 2048), "table": (2048, 18432),
                                  "heap": (20480, 4096)}
    assert s.workload.arrival.rate_per_s == 10_000.0  # type: ignore[union-attr]
    get = s.operation("get")
    assert get.weight == 0.9 and get.enclave == "kv" and get.compute.cycles == 3000.0
    assert get.memory[0].pattern.model_dump() == {"kind": "zipf", "s": 0.99}
    assert get.memory[1].pages.mean == 2 and get.memory[1].llc_miss_fraction == 0.6
    assert s.operation("set").ocall_host_time_s == 4e-6
    assert s.simulation.duration_s == 1.0 and s.simulation.warmup_s == 0.2
    assert s.simulation.seed == 42
    assert s.slo is not None and s.slo.latency_bound_s == 1e-3 and s.slo.headroom == 0.2
    assert s.slo.target_load_per_s == 10_000.0
    assert s.costs == default_costs()
    assert s.mix_probabilities() == pytest.approx({"get": 0.9, "set": 0.1})


def test_quickstart_working_set_versus_epc() -> None:
    """The quickstart's promise: the working set exceeds DC1s_v2/DC2s_v2 EPC, fits DC4s_v2."""
    s = load_scenario(QUICKSTART)
    kv = s.enclave("kv")
    working = sum(r.size_bytes for r in kv.regions if r.name in ("index", "table"))
    assert working > get_vm("DC2s_v2").epc_bytes > get_vm("DC1s_v2").epc_bytes
    assert kv.size_bytes < get_vm("DC4s_v2").epc_bytes


def test_quickstart_plan() -> None:
    plan = plan_study(load_scenario(QUICKSTART))
    assert len(plan.runs) == 5 * 1 * 2
    assert "5 VM sizes x 1 sweep point x 2 replications = 10 runs" in plan.describe()
    assert [r.replication for r in plan.runs[:2]] == [0, 1]
    assert all(r.seed == 42 for r in plan.runs)
    assert len({r.run_key for r in plan.runs}) == 10


def test_frozen() -> None:
    s = load_scenario(QUICKSTART)
    with pytest.raises(pydantic.ValidationError):
        s.simulation.seed = 3  # type: ignore[misc]


# ---- defaults and shorthands ----------------------------------------------------------------


def test_defaults_live_in_the_spec() -> None:
    s = load_scenario(minimal())
    enc = s.enclaves[0]
    assert [(r.name, r.size_bytes) for r in enc.regions] == [("heap", 8 * MiB)]
    assert enc.threads == 1 and enc.paging == "sgx" and not enc.edmm
    op = s.workload.operations[0]
    assert op.enclave == "e" and op.ecalls == 1 and op.ocalls == 0 and op.call_mode == "sdk"
    acc = op.memory[0]
    assert acc.pattern.kind == "uniform" and acc.llc_miss_fraction == "model"
    assert acc.cache_lines_per_page == 8 and acc.dependent_fraction == 0.0
    sim = s.simulation
    assert (sim.duration_s, sim.warmup_s, sim.replications, sim.seed, sim.clock) == (
        10.0, 1.0, 3, 0, "base")
    assert sim.native_baseline and sim.timer_interrupts and sim.epc_policy == "linux"
    assert s.slo is None and s.sweep == {}


def test_vm_defaults_to_all_and_accepts_one_name() -> None:
    data = minimal()
    del data["vm"]
    assert len(load_scenario(data).vm.sizes) == len(load_catalog())
    assert load_scenario(minimal(vm="standard_dc2S_V3")).vm.sizes == ("Standard_DC2s_v3",)
    s = load_scenario(minimal(vm=["DCsv2", "DC4s_v2", "all"]))
    assert s.vm.sizes[:4] == tuple(v.size for v in load_catalog()[:4])
    assert len(s.vm.sizes) == len(load_catalog())


def test_shorthand_forms() -> None:
    data = minimal()
    op = data["workload"]["operations"][0]
    op["compute"] = "10 us"
    op["memory"] = [{"region": "heap", "pages": "64 KiB", "pattern": "sequential",
                     "llc_miss_fraction": "30%"},
                    {"region": "heap", "pages": {"distribution": "uniform", "min": 2, "max": 6}}]
    data["slo"] = {"latency_percentile": "p99.9", "latency_bound": "2 ms"}
    s = load_scenario(data)
    o = s.workload.operations[0]
    assert o.compute.time_s == 1e-5 and o.compute.cycles == 0
    assert o.memory[0].pages.mean == 16 and o.memory[0].pattern.kind == "sequential"
    assert o.memory[0].llc_miss_fraction == 0.3
    assert o.memory[1].pages.mean == 4.0
    assert s.slo is not None and s.slo.latency_percentile == 99.9


def test_clock_in_vm_or_simulation() -> None:
    s = load_scenario(minimal(vm={"sizes": ["DC4s_v2"], "clock": "turbo"}))
    assert s.simulation.clock == "turbo" and s.vm.clock is None
    msgs = problems_of(minimal(vm={"sizes": ["DC4s_v2"], "clock": "turbo"},
                               simulation={"clock": "base"}))
    assert any("vm.clock and simulation.clock disagree" in m for m in msgs)


# ---- VM sizes -------------------------------------------------------------------------------


def test_custom_and_overridden_sizes() -> None:
    vm = {
        "sizes": ["DC4s_v2", "box", "cheap-v3"],
        "custom": [
            {"size": "box", "vcpus": 8, "memory_gib": "64 GiB", "epc_mib": "256 MiB",
             "base_ghz": "3200 MHz", "llc_mib": 16, "sgx_generation": 1,
             "linux_usd_per_hour": 0.25},
            {"size": "cheap-v3", "based_on": "dc4s_v3", "linux_usd_per_hour": 0.2},
        ],
        "overrides": {"Standard_DC4s_v2": {"linux_usd_per_hour": 0.35, "epc_mib": "0.25 GiB"}},
    }
    s = load_scenario(minimal(vm=vm))
    sizes = {v.size: v for v in resolve_vm_sizes(s)}
    assert list(sizes) == ["Standard_DC4s_v2", "box", "cheap-v3"]
    assert sizes["Standard_DC4s_v2"].linux_usd_per_hour == 0.35
    assert sizes["Standard_DC4s_v2"].epc_mib == 256.0
    assert sizes["Standard_DC4s_v2"].vcpus == 4  # untouched fields kept
    box = sizes["box"]
    assert (box.vcpus, box.memory_gib, box.epc_mib, box.base_ghz, box.turbo_ghz) == (
        8, 64.0, 256.0, 3.2, 3.2)
    assert box.series == "custom" and box.memory_protection.startswith("MEE")
    cheap = sizes["cheap-v3"]
    assert cheap.epc_mib == get_vm("DC4s_v3").epc_mib and cheap.linux_usd_per_hour == 0.2
    assert list(s.vm.overrides) == ["Standard_DC4s_v2"]


def test_vm_problems() -> None:
    msgs = problems_of(minimal(vm={"sizes": ["DC4s_v2"], "custom": [
        {"size": "DC4s_v2", "based_on": "DC4s_v3"},
        {"size": "x", "based_on": "DC4s_v33"},
        {"size": "y", "based_on": "DC4s_v3", "epc_mib": "64 GiB"}]}))
    assert any("clashes with 'Standard_DC4s_v2'" in m for m in msgs)
    assert any("vm.custom.1.based_on" in m and "did you mean" in m for m in msgs)
    assert any("EPC larger than the VM's memory" in m for m in msgs)


def test_enclave_must_fit_every_selected_vm() -> None:
    data = minimal(vm=["DC1s_v2", "DC8_v2"])
    data["enclaves"][0]["size"] = "5 GiB"
    msgs = problems_of(data)
    assert any("Standard_DC1s_v2 (4 GiB)" in m and "DC8_v2" not in m for m in msgs)


# ---- costs ----------------------------------------------------------------------------------


def test_cost_overrides_convert_units() -> None:
    s = load_scenario(minimal(costs={"ecall_cycles": "9000 cycles",
                                     "mee_miss_penalty_ns": "0.15 us",
                                     "switchless_ocall_latency_s": "800 ns",
                                     "timer_interrupt_hz": "1k/s",
                                     "reclaim_batch_pages": "128 KiB"}))
    assert s.costs["ecall_cycles"] == 9000.0
    assert s.costs["mee_miss_penalty_ns"] == 150.0
    assert s.costs["switchless_ocall_latency_s"] == 8e-7
    assert s.costs["timer_interrupt_hz"] == 1000.0
    assert s.costs["reclaim_batch_pages"] == 32.0
    assert s.costs["ewb_cycles"] == default_costs()["ewb_cycles"]


def test_cost_problems() -> None:
    msgs = problems_of(minimal(costs={"reclaim_low_watermark_pages": 64,
                                      "reclaim_high_watermark_pages": 32}))
    assert any("low watermark must be below" in m for m in msgs)


# ---- overrides ------------------------------------------------------------------------------


def test_set_overrides() -> None:
    s = load_scenario(QUICKSTART, overrides=[
        "workload.arrival.rate=30k/s", "vm=[DC4s_v2, DC8s_v3]", "enclaves.kv.threads=4",
        "simulation.native_baseline=false", "slo.budget_usd_per_month=500",
        "workload.operations.get.memory.1.pages=3", "costs.ecall_cycles=9000"])
    assert s.workload.arrival.rate_per_s == 30_000.0  # type: ignore[union-attr]
    assert s.vm.sizes == ("Standard_DC4s_v2", "Standard_DC8s_v3")
    assert s.enclave("kv").threads == 4 and not s.simulation.native_baseline
    assert s.slo is not None and s.slo.budget_usd_per_month == 500
    assert s.operation("get").memory[1].pages.mean == 3
    assert s.costs["ecall_cycles"] == 9000.0


def test_set_creates_missing_sections() -> None:
    s = load_scenario(minimal(), overrides=["slo.latency_bound=2 ms"])
    assert s.slo is not None and s.slo.latency_bound_s == 0.002


def test_override_values_are_never_evaluated() -> None:
    msgs = problems_of(QUICKSTART, ("description=!!python/object/apply:os.system [ls]",))
    assert any("not valid YAML" in m or "unsupported YAML tag" in m for m in msgs)


# ---- sweeps and run keys --------------------------------------------------------------------


def test_sweep_cartesian_product() -> None:
    data = minimal(vm=["DC4s_v2", "DC4s_v3"], simulation={"replications": 2},
                   sweep={"enclaves.e.size": ["8 MiB", "16 MiB", "32 MiB"],
                          "workload.arrival.rate": ["1k/s", "2k/s"]})
    s = load_scenario(data)
    plan = plan_study(s)
    assert len(plan.points) == 6 and len(plan.runs) == 2 * 6 * 2
    assert "2 VM sizes x 6 sweep points x 2 replications = 24 runs" in plan.describe()
    last = plan.points[-1]
    assert last.values == {"enclaves.e.size": "32 MiB", "workload.arrival.rate": "2k/s"}
    assert last.values_normalised == {"enclaves.e.size": 32 * MiB,
                                      "workload.arrival.rate": 2000.0}
    scn = last.scenario
    assert scn.enclaves[0].size_bytes == 32 * MiB and scn.sweep == {}
    # The default region follows the swept enclave size.
    assert scn.enclaves[0].regions[0].size_bytes == 32 * MiB
    run = plan.runs[-1]
    assert run.point == last.values and run.point_normalised == last.values_normalised
    assert run.vm.size == "Standard_DC4s_v3" and run.replication == 1


def test_sweep_over_vm_and_seed() -> None:
    s = load_scenario(minimal(sweep={"vm.sizes": [["DC1s_v2"], ["DC2s_v2", "DC4s_v2"]],
                                     "simulation.seed": [1, 2]}))
    plan = plan_study(s)
    assert len(plan.runs) == (1 + 2) * 2 * 3
    assert {r.seed for r in plan.runs} == {1, 2}


def test_sweep_values_validate_like_written_ones() -> None:
    msgs = problems_of(minimal(sweep={"enclaves.e.size": ["4 MiB", "2 TiB"]}))
    assert any("sweep.enclaves.e.size.1" in m and "refused" in m for m in msgs)
    msgs = problems_of(minimal(sweep={"simulation.warmup": ["1 s", "20 s"]}))
    assert any("warm-up must be shorter" in m for m in msgs)
    msgs = problems_of(minimal(sweep={"name": ["a", "b"]}))
    assert any("cannot sweep over this key" in m for m in msgs)


def test_run_keys() -> None:
    s = load_scenario(QUICKSTART)
    vm = get_vm("DC4s_v2")
    key = run_key(s, vm, 0, 42)
    assert key == run_key(load_scenario(QUICKSTART), vm, 0, 42)
    assert len(key) == 64
    assert key != run_key(s, vm, 1, 42)
    assert key != run_key(s, vm, 0, 43)
    assert key != run_key(s, get_vm("DC2s_v2"), 0, 42)
    renamed = load_scenario(QUICKSTART, ["name=other", "description=x", "slo.headroom=0.5",
                                         "simulation.replications=5", "vm=[DC4s_v2]"])
    assert run_key(renamed, vm, 0, 42) == key
    costly = load_scenario(QUICKSTART, ["costs.ewb_cycles=13000"])
    assert run_key(costly, vm, 0, 42) != key


# ---- files and YAML -------------------------------------------------------------------------


def test_trace_files_resolve_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "arrivals.csv").write_text("0.0\n0.001\n")
    data = minimal()
    data["workload"]["arrival"] = {"kind": "trace", "file": "arrivals.csv"}
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(data))
    s = load_scenario(f)
    assert s.workload.arrival.file == str(tmp_path / "arrivals.csv")  # type: ignore[union-attr]
    data["workload"]["arrival"]["file"] = "missing.csv"
    f.write_text(yaml.safe_dump(data))
    msgs = problems_of(f)
    assert any("workload.arrival.file: file not found" in m for m in msgs)


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    data = minimal()
    del data["name"]
    f = tmp_path / "my-study.yaml"
    f.write_text(yaml.safe_dump(data))
    assert load_scenario(f).name == "my-study"


def test_yaml_lines_merge_keys_and_plain_keys() -> None:
    doc = load_yaml_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\non: 1\nlist:\n"
                         "  - a\n  - b\n")
    assert not doc.problems
    assert doc.data["other"] == {"x": 1, "y": 3}
    assert "on" in doc.data
    assert doc.lines[("other", "y")] == 4 and doc.lines[("list", 1)] == 8


# ---- schema and docs ------------------------------------------------------------------------


def test_json_schema() -> None:
    schema = scenario_json_schema()
    json.dumps(schema)
    assert set(schema["properties"]) == {"name", "description", "vm", "costs", "enclaves",
                                         "workload", "simulation", "slo", "sweep",
                                         "uncertain", "uncertainty"}
    assert set(schema["properties"]["costs"]["properties"]) == set(default_costs())
    assert "size" in schema["$defs"]["Enclave"]["properties"]
    assert schema["$defs"]["Enclave"]["additionalProperties"] is False


def test_json_schema_accepts_bundled_scenarios() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = scenario_json_schema()
    for path in BUNDLED:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_schema_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "epcsim scenario"


def test_committed_reference_is_generated() -> None:
    committed = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    assert committed == generate(), ("docs/scenarios.md is stale: run "
                                     "`epcsim schema --markdown > docs/scenarios.md`")


def test_reference_example_is_valid() -> None:
    s = load_scenario(yaml.safe_load(EXAMPLE_YAML))
    plan = plan_study(s)
    assert len(plan.points) == 6
    assert s.costs["mee_miss_penalty_ns"] == 150.0
    assert s.workload.phases[1].duration_s is None


def test_every_field_has_help() -> None:
    from epcsim.scenario import docgen

    for _, model, _ in docgen.SECTIONS:
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"


def test_one_mistake_one_problem() -> None:
    data = minimal()
    data["enclaves"][0]["size"] = "8 Mib"
    msgs = problems_of(data)
    assert len(msgs) == 1 and "did you mean 'MiB'?" in msgs[0]


def test_problems_carry_file_line_and_key(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    text = QUICKSTART.read_text().replace("threads: 2 ", "threads: -2")
    f.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(f)
    (p,) = info.value.problems
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "threads: -2" in ln)
    assert (p.file, p.line, p.key_path) == (str(f), line, "enclaves.kv.threads")
    assert p.expected and p.found == "-2"


def test_every_cost_parameter_unit_can_be_overridden() -> None:
    """Each unit used in cost_parameters.csv has a parser: overriding any parameter with its
    default gives the default back (no KeyError for units such as `x` or `entries`)."""
    from epcsim.reference.cost_parameters import cost_parameters
    from epcsim.scenario.checks import resolve_costs

    params = cost_parameters()
    out = resolve_costs({name: p.default for name, p in params.items()})
    assert out == {name: p.default for name, p in params.items()}
