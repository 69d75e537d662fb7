"""Fast sizing (issue 16) and sizing robustness (issue 12, items 1 and 2): the analytic
bracket against the earlier search, batches that give the same answer however they are run,
evaluations kept in the results folder and reused, an SGX2 size whose knee search would
outgrow the VM's memory, one lock from the runs to the report, derived files tied to the
summary they came from."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from test_sizing_model import AnalyticEvaluator

import epcsim
from epcsim.api import _SizingProgress, finish_study, recommend, run_study
from epcsim.cli import main
from epcsim.errors import EpcsimError, ScenarioError
from epcsim.reference.catalog import get_vm, load_catalog, sizes_in_series
from epcsim.sizing import CachedEvaluator, Slo, apply_variant, capacity_search
from epcsim.sizing import recommend as size_recommend
from epcsim.sizing.evaluator import Outcome, Request

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
AS_OF = dt.date(2026, 11, 29)
SHORT = ["simulation.duration=100 ms", "simulation.warmup=20 ms",
         "simulation.replications=1"]


# --------------------------------------------------------------------------- fewer evaluations


@pytest.mark.parametrize("target", [2_000.0, 20_000.0, 200_000.0])
def test_analytic_bracket_needs_fewer_evaluations_same_decision(
        target: float) -> None:
    slo = Slo(target_load_ops_s=target, latency_bound_s=5e-3)
    vms = sizes_in_series("DCsv2") + sizes_in_series("DCsv3")
    old = size_recommend(AnalyticEvaluator(), vms, slo, as_of=AS_OF, sensitivity=False,
                         what_ifs=(), knee=False, analytic=False)
    new = size_recommend(AnalyticEvaluator(), vms, slo, as_of=AS_OF, sensitivity=False,
                         what_ifs=(), knee=False)
    assert old.recommended is not None and new.recommended is not None
    assert (new.recommended.vm_size, new.recommended.vm_count) == (
        old.recommended.vm_size, old.recommended.vm_count)
    assert sum(c.evaluations for c in new.capacities) <= 0.65 * sum(
        c.evaluations for c in old.capacities)
    for a, b in zip(old.capacities, new.capacities, strict=True):
        assert b.evaluations <= a.evaluations, (a.vm_size, a.evaluations, b.evaluations)
        assert b.meets_at_any_load == a.meets_at_any_load
        if a.meets_at_any_load:
            assert b.capacity_ops_s == pytest.approx(a.capacity_ops_s, rel=0.025)


# --------------------------------------------------------------------------- batches


def _shuffled_runner(evaluate: Any) -> Any:
    """A batch runner that answers in reverse order (as a parallel pool might)."""
    def run(requests: Sequence[Request]) -> Iterator[tuple[int, Outcome]]:
        for i in reversed(range(len(requests))):
            vm, load, variant = requests[i]
            yield i, evaluate(vm, load, dict(variant))
    return run


def test_the_answer_does_not_depend_on_how_batches_are_run() -> None:
    slo = Slo(target_load_ops_s=20_000, latency_bound_s=5e-3)
    vms = sizes_in_series("DCsv2")
    plain = size_recommend(CachedEvaluator(AnalyticEvaluator()), vms, slo, as_of=AS_OF)
    shuffled = size_recommend(CachedEvaluator(None, batch=_shuffled_runner(AnalyticEvaluator())),
                              vms, slo, as_of=AS_OF)
    assert json.loads(plain.to_json()) == json.loads(shuffled.to_json())


def test_stored_evaluations_are_reused_and_a_killed_search_resumes(tmp_path: Path) -> None:
    slo = Slo(target_load_ops_s=20_000, latency_bound_s=5e-3)
    vms = sizes_in_series("DCsv2")
    store = tmp_path / "sizing-evals"

    class Killed(Exception):
        pass

    inner = AnalyticEvaluator()

    def dies_after_7(vm: Any, load: float, variant: dict[str, Any]) -> dict[str, float]:
        if inner.calls >= 7:
            raise Killed
        return inner(vm, load, variant)

    with pytest.raises(Killed):
        size_recommend(CachedEvaluator(dies_after_7, namespace="ns", store=store), vms, slo,
                       as_of=AS_OF)
    assert len(list(store.glob("*.json"))) == 7
    resumed_inner = AnalyticEvaluator()
    resumed = CachedEvaluator(resumed_inner, namespace="ns", store=store)
    first = size_recommend(resumed, vms, slo, as_of=AS_OF)
    assert resumed.reused == 7 and resumed.computed == resumed_inner.calls
    again_inner = AnalyticEvaluator()
    again = CachedEvaluator(again_inner, namespace="ns", store=store)
    second = size_recommend(again, vms, slo, as_of=AS_OF)
    assert again_inner.calls == 0 and again.computed == 0
    assert second.to_json() == first.to_json()  # same evaluations counted, same result
    forced_inner = AnalyticEvaluator()
    size_recommend(CachedEvaluator(forced_inner, namespace="ns", store=store, force=True),
                   vms, slo, as_of=AS_OF)
    assert forced_inner.calls == resumed.calls
    # A hand-edited record is not trusted: it is evaluated again.
    victim = sorted(store.glob("*.json"))[0]
    victim.write_text(victim.read_text().replace('"key"', '"kee"'))
    edited_inner = AnalyticEvaluator()
    size_recommend(CachedEvaluator(edited_inner, namespace="ns", store=store), vms, slo,
                   as_of=AS_OF)
    assert edited_inner.calls == 1


def test_simulated_sizing_is_the_same_with_one_or_two_workers_and_reused(
        tmp_path: Path) -> None:
    scn = epcsim.load_scenario(QUICKSTART, overrides=[*SHORT, "vm.sizes=[DC2s_v2, DC4s_v2]"])
    kwargs: dict[str, Any] = {"sensitivity": False, "what_ifs": False, "knee": False,
                              "measured_ops": 300, "as_of": AS_OF}
    one = recommend(scn, workers=1, store_dir=tmp_path / "one", **kwargs)
    two = recommend(scn, workers=2, store_dir=tmp_path / "two", **kwargs)
    assert one.to_json() == two.to_json()
    names = {p.name for p in (tmp_path / "one").iterdir()}
    assert names == {p.name for p in (tmp_path / "two").iterdir()} and names
    seen: list[int] = []
    again = recommend(scn, workers=1, store_dir=tmp_path / "one",
                      progress=lambda done, total, reused: seen.append(reused), **kwargs)
    assert again.to_json() == one.to_json() and seen[-1] == len(names)


# --------------------------------------------------------------------------- issue 12, item 1


def test_a_variant_the_scenario_language_refuses_is_a_located_scenario_error() -> None:
    scn = epcsim.load_scenario(QUICKSTART, overrides=["vm=[DC2s_v3]"])
    with pytest.raises(ScenarioError) as info:
        apply_variant(scn, 1000.0, {"working_set_scale": 1000.0})
    text = str(info.value)
    assert "sizing variant" in text and "working_set_scale" in text and "memory" in text
    assert "enclaves" in text  # the key path


def test_sgx2_size_sizing_with_the_real_simulator_does_not_crash() -> None:
    """`epcsim run $Q $S --set 'vm=[DC2s_v3]'` crashed in the knee search: it scaled the
    working set past the VM's memory. The knee now stops at what fits and says why."""
    scn = epcsim.load_scenario(QUICKSTART, overrides=[*SHORT, "vm=[DC2s_v3]"])
    result = recommend(scn, workers=1, sensitivity=False, what_ifs=False, measured_ops=200,
                       as_of=AS_OF)
    assert result.recommended is not None and result.knee is not None
    assert "16 GiB memory" in result.knee.note
    vm = get_vm("DC2s_v3")
    largest = max(c["working_set_mib"] for c in result.knee.curve)
    assert largest * 96 / 80 <= vm.memory_gib * 1024  # the enclave (96 MiB per 80) fits


def test_sizing_of_a_size_that_cannot_run_the_variant_is_recorded_not_raised() -> None:
    scn = epcsim.load_scenario(QUICKSTART, overrides=[*SHORT, "vm=[DC2s_v3]"])
    from epcsim.sizing.simulator import SimulatorEvaluator

    ev = SimulatorEvaluator(scn, reference_load_ops_s=10_000, measured_ops=200)
    slo = Slo(target_load_ops_s=10_000, latency_bound_s=1e-3)
    cap = capacity_search(ev, get_vm("DC2s_v3"), slo, {"working_set_scale": 1000.0})
    assert cap.capacity_ops_s == 0 and "cannot run on this size" in cap.binding_reason
    assert "memory" in cap.binding_reason


# --------------------------------------------------------------------------- issue 12, item 2


def _short_study(out: Path) -> Any:
    return run_study(QUICKSTART, overrides=[*SHORT, "vm.sizes=[DC2s_v2]"], out_dir=out,
                     workers=1)


def test_the_lock_is_held_through_sizing_and_the_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import epcsim.api as api

    out = tmp_path / "study"
    study = _short_study(out)
    probe = ("import sys; from epcsim.study import RunStore\n"
             "try:\n    RunStore(sys.argv[1]).close()\nexcept Exception as e:\n"
             "    print(type(e).__name__)\nelse:\n    print('free')\n")
    seen: list[str] = []

    def derive(*args: Any, **kwargs: Any) -> list[str]:
        seen.append(subprocess.run([sys.executable, "-c", probe, str(out)], text=True,
                                   capture_output=True, check=True).stdout.strip())
        return []

    monkeypatch.setattr(api, "_derive", derive)
    finish_study(study, sizing=False, mrc=False)
    assert seen == ["StudyLockedError"]


def test_derived_files_are_removed_when_sizing_is_interrupted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import epcsim.api as api

    out = tmp_path / "study"
    study = _short_study(out)
    finish_study(study, sizing=False)
    assert (out / "report.html").is_file() and (out / "derived.json").is_file()
    (out / "sizing.json").write_text('{"from": "an older study"}')
    study = run_study(QUICKSTART, overrides=[*SHORT, "vm.sizes=[DC4s_v2]"], out_dir=out,
                      workers=1)

    def interrupted(*args: Any, **kwargs: Any) -> list[str]:
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "_derive", interrupted)
    with pytest.raises(KeyboardInterrupt):
        finish_study(study)
    for name in ("sizing.json", "report.html", "report.md", "mrc.csv", "derived.json"):
        assert not (out / name).exists(), name


def test_finish_study_refuses_a_summary_another_run_wrote(tmp_path: Path) -> None:
    out = tmp_path / "study"
    study = _short_study(out)
    _short_study(out).summary  # noqa: B018 - same folder, same runs: same summary
    run_study(QUICKSTART, overrides=[*SHORT, "vm.sizes=[DC4s_v2]"], out_dir=out, workers=1)
    with pytest.raises(EpcsimError, match="changed since this study ran"):
        finish_study(study, sizing=False)


def test_report_refuses_a_sizing_of_another_summary(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "study"
    finish_study(_short_study(out), sizing=False)
    sizing = {"summary_sha256": "0" * 64}
    (out / "sizing.json").write_text(json.dumps(sizing))
    assert main(["report", str(out)]) == 2
    assert "belongs to another study" in capsys.readouterr().err


def test_an_unchanged_study_keeps_its_derived_files(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import epcsim.api as api

    out = tmp_path / "study"
    study = _short_study(out)
    lines = finish_study(study, sizing=False)
    before = (out / "report.html").read_bytes()

    def must_not_run(*args: Any, **kwargs: Any) -> list[str]:
        raise AssertionError("rebuilt an up-to-date report")

    monkeypatch.setattr(api, "_derive", must_not_run)
    assert finish_study(study, sizing=False) == lines
    assert (out / "report.html").read_bytes() == before
    (out / "report.md").write_text("edited")
    with pytest.raises(AssertionError, match="rebuilt"):
        finish_study(study, sizing=False)


# --------------------------------------------------------------------------- progress


def test_progress_on_a_non_terminal_is_a_line_every_few_seconds(
        capsys: pytest.CaptureFixture[str]) -> None:
    bar = _SizingProgress(interval_s=3600)
    for done in range(200):
        bar(done, 200, 0)
    bar.close()
    assert capsys.readouterr().err == ""
    bar = _SizingProgress(interval_s=0)
    bar(50, 100, 10)
    line = capsys.readouterr().err
    assert "50/~100 evaluations (10 reused)" in line and "left" in line


def test_catalogue_has_the_sizes_these_tests_use() -> None:
    names = {vm.size for vm in load_catalog()}
    assert {"Standard_DC2s_v3", "Standard_DC2s_v2", "Standard_DC4s_v2"} <= names


def test_a_size_with_the_same_hardware_as_another_reuses_its_evaluations() -> None:
    # DC4s_v3 and DC4ds_v3 differ only in local disk and price: one evaluation answers both,
    # and each size still gets its own capacity (the same one).
    calls: list[str] = []
    model = AnalyticEvaluator()

    def counting(vm: Any, load: float, variant: dict[str, Any]) -> dict[str, float]:
        calls.append(vm.size)
        return model(vm, load, variant)

    slo = Slo(target_load_ops_s=20_000.0, latency_bound_s=5e-3)
    pair = [get_vm("DC4s_v3"), get_vm("DC4ds_v3")]
    ev = CachedEvaluator(counting)
    result = size_recommend(ev, pair, slo, as_of=AS_OF, sensitivity=False, what_ifs=(),
                            knee=False)
    a, b = result.capacities
    assert a.capacity_ops_s == b.capacity_ops_s > 0
    assert set(calls) == {calls[0]} and len(calls) == ev.calls == ev.computed
    assert ev.twins == max(a.evaluations, b.evaluations)
    alone = CachedEvaluator(model)
    size_recommend(alone, pair[:1], slo, as_of=AS_OF, sensitivity=False, what_ifs=(),
                   knee=False)
    assert alone.computed == len(calls)
