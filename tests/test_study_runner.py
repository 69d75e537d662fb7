"""run_study: reuse, reruns of changed runs only, failures, fail-fast, tidy frames, rounds."""

from __future__ import annotations

import numpy as np
import pytest

from epcsim.errors import EpcsimError
from epcsim.study import (
    InProcessBackend,
    LocalPoolBackend,
    PrecisionTarget,
    RunOutcome,
    RunTask,
    StudyFailedError,
    confidence_intervals,
    make_backend,
    read_details,
    read_summary,
    run_sequential,
    run_study,
)
from epcsim.study.mm1 import mm1_task


def _grid(rates=(0.5, 0.8), reps=3, **options) -> list[RunTask]:
    return [mm1_task(rate, r, n_customers=500, **options) for rate in rates for r in range(reps)]


def test_rerun_reuses_completed_runs_and_reruns_only_changed_ones(tmp_path) -> None:
    tasks = _grid()
    first = run_study(tasks, tmp_path, workers=1, progress=False)
    assert (first.n_total, first.n_reused, first.n_run, first.n_failed) == (6, 0, 6, 0)
    csv = first.summary_path.read_bytes()
    again = run_study(tasks, tmp_path, workers=1, progress=False)
    assert (again.n_reused, again.n_run) == (6, 0)
    assert again.backend == "none needed"
    assert again.summary_path.read_bytes() == csv
    # Change a parameter of the rate-0.8 runs only: new keys for those three runs.
    changed = _grid(rates=(0.5,)) + [mm1_task(0.8, r, n_customers=600) for r in range(3)]
    third = run_study(changed, tmp_path, workers=1, progress=False)
    assert (third.n_reused, third.n_run) == (3, 3)
    forced = run_study(changed, tmp_path, workers=1, force=True, progress=False)
    assert (forced.n_reused, forced.n_run) == (0, 6)
    assert forced.summary_path.read_bytes() == third.summary_path.read_bytes()


def test_summary_columns_order_and_content(tmp_path) -> None:
    tasks = _grid(reps=2)
    result = run_study(reversed(tasks), tmp_path, workers=1, progress=False)
    frame = result.summary
    assert list(frame.columns) == [
        "run_key", "arrival_rate", "service_rate", "replication", "status",
        "mean_wait_s", "p99_wait_s", "waited_fraction", "theory_mean_wait_s", "error"]
    assert list(frame["run_key"]) == [t.run_key for t in reversed(tasks)]
    assert frame.attrs["label_columns"] == ["arrival_rate", "service_rate", "replication"]
    assert (frame["status"] == "ok").all() and frame["error"].isna().all()
    ci = confidence_intervals(frame)
    assert list(ci["arrival_rate"]) == [0.8, 0.5]
    assert (ci["n_replications"] == 2).all()
    assert list(ci["theory_mean_wait_s"]) == pytest.approx([4.0, 1.0])
    # The summary read back from the store equals the one returned.
    back = read_summary(tmp_path)
    assert back.equals(frame)
    assert back.attrs["metric_columns"] == frame.attrs["metric_columns"]


def test_failing_run_is_recorded_and_does_not_stop_the_study(tmp_path) -> None:
    tasks = _grid(reps=2)
    tasks.insert(1, mm1_task(0.5, 9, fail="model diverged"))
    tasks.append(mm1_task(0.8, 9, fail="model diverged"))
    tasks.append(mm1_task(0.8, 10, fail="no EPC left"))
    result = run_study(tasks, tmp_path, workers=1, progress=False)
    assert (result.n_run, result.n_failed, result.n_not_run) == (7, 3, 0)
    assert not result.stopped_early
    assert [(g.error, g.count) for g in result.failures] == [
        ("ValueError: model diverged", 2), ("ValueError: no EPC left", 1)]
    status = list(result.summary["status"])
    assert status == ["ok", "failed", "ok", "ok", "ok", "failed", "failed"]
    failed = result.summary[result.summary["status"] == "failed"]
    assert failed["mean_wait_s"].isna().all()
    report = result.report()
    assert "7 runs: 0 reused, 7 run, 3 failed" in report
    assert "2 runs failed: ValueError: model diverged" in report
    assert "1 run failed: ValueError: no EPC left" in report
    with pytest.raises(StudyFailedError, match="model diverged"):
        result.raise_for_failures()
    # Failed runs are retried on a rerun by default, and reused when told so.
    retried = run_study(tasks, tmp_path, workers=1, progress=False)
    assert (retried.n_reused, retried.n_run, retried.n_failed) == (4, 3, 3)
    kept = run_study(tasks, tmp_path, workers=1, retry_failed=False, progress=False)
    assert (kept.n_reused, kept.n_run, kept.n_failed) == (7, 0, 3)


def test_fail_fast_stops_at_the_first_failure(tmp_path) -> None:
    tasks = _grid(reps=3)
    tasks.insert(2, mm1_task(0.5, 9, fail="boom"))
    result = run_study(tasks, tmp_path, workers=1, fail_fast=True, progress=False)
    assert result.stopped_early
    assert (result.n_run, result.n_failed, result.n_not_run) == (3, 1, 4)
    assert list(result.summary["status"]) == ["ok", "ok", "failed"] + ["not_run"] * 4
    assert "4 not run" in result.report()


def test_fail_fast_on_the_process_pool_cancels_queued_runs(tmp_path) -> None:
    tasks = [mm1_task(0.5, 0, fail="early"), *_grid(reps=6)]
    result = run_study(tasks, tmp_path, workers=2, fail_fast=True, progress=False)
    assert result.stopped_early and result.n_failed == 1
    # At most the window (workers + 2) of runs was in flight when the failure came back.
    assert result.n_run <= 4 and result.n_not_run >= len(tasks) - 4


def _returns_text_metric(payload: object) -> dict[str, object]:
    return {"x": "fast"}


def _returns_ragged_detail(payload: object) -> RunOutcome:
    return RunOutcome(metrics={"x": 1.0}, detail={"a": np.zeros(3), "b": np.zeros(4)})


def _returns_clashing_metric(payload: object) -> RunOutcome:
    return RunOutcome(metrics={"replication": 1.0})


def _reports_its_own_failure(payload: object) -> RunOutcome:
    return RunOutcome(metrics={"x": 1.0}, error="did not reach steady state")


@pytest.mark.parametrize(("fn", "message"), [
    (_returns_text_metric, "TypeError: metric 'x' must be a number"),
    (_returns_ragged_detail, "ValueError: detail columns must have one length"),
    (_returns_clashing_metric, "ValueError: metric 'replication' clashes"),
    (_reports_its_own_failure, "did not reach steady state"),
])
def test_malformed_outcomes_are_failures_of_their_run(tmp_path, fn, message) -> None:
    task = RunTask(run_key="ab" * 8, fn=fn, payload=None, labels={"replication": 0})
    result = run_study([task], tmp_path, workers=1, progress=False)
    assert result.n_failed == 1
    assert result.failures[0].error.startswith(message)


def test_half_written_record_in_a_study_is_run_again(tmp_path) -> None:
    tasks = _grid()
    first = run_study(tasks, tmp_path, workers=1, progress=False)
    csv = first.summary_path.read_bytes()
    victim = tmp_path / "runs" / f"{tasks[4].run_key}.json"
    victim.write_bytes(victim.read_bytes()[:57])  # a crash mid-write of a non-atomic writer
    (tmp_path / "runs" / f".{tasks[5].run_key}.json.tmp-1-0badf00d").write_bytes(b'{"form')
    second = run_study(tasks, tmp_path, workers=1, progress=False)
    assert (second.n_reused, second.n_run) == (5, 1)
    assert second.summary_path.read_bytes() == csv
    assert not list((tmp_path / "runs").glob(".*tmp*"))


def test_detail_frames_load_lazily(tmp_path) -> None:
    tasks = [mm1_task(0.5, r, n_customers=50, detail=(r == 1)) for r in range(3)]
    result = run_study(tasks, tmp_path, workers=1, progress=False)
    assert list(result.details) == [tasks[1].run_key]
    frame = result.details[tasks[1].run_key]
    assert list(frame.columns) == ["customer", "wait_s", "waited"] and len(frame) == 50
    assert frame["wait_s"].mean() == pytest.approx(result.summary.loc[1, "mean_wait_s"])
    with pytest.raises(KeyError):
        result.details[tasks[0].run_key]
    assert list(read_details(tmp_path)) == [tasks[1].run_key]
    execution = result.execution()
    assert list(execution["run_key"]) == [t.run_key for t in tasks]
    assert (execution["wall_s"] > 0).all()


def test_bad_tasks_and_backend_options(tmp_path, monkeypatch) -> None:
    task = mm1_task(0.5, 0)
    with pytest.raises(ValueError, match="same run_key"):
        run_study([task, task], tmp_path, progress=False)
    with pytest.raises(ValueError, match="reserved"):
        RunTask(run_key="ab" * 8, fn="m:f", payload=None, labels={"status": 1})
    with pytest.raises(ValueError, match="str, int, float"):
        RunTask(run_key="ab" * 8, fn="m:f", payload=None, labels={"x": [1]})
    with pytest.raises(ValueError, match=r"package\.module:function"):
        RunTask(run_key="ab" * 8, fn="os.system('x')", payload=None)
    monkeypatch.delenv("EPCSIM_SCHEDULER", raising=False)
    assert isinstance(make_backend(None, workers=1), InProcessBackend)
    assert make_backend("local", workers=3).describe() == "local process pool, 3 workers"
    with pytest.raises(EpcsimError, match="positive integer"):
        LocalPoolBackend(0)
    with pytest.raises(EpcsimError, match="needs a scheduler address"):
        make_backend("dask")
    with pytest.raises(EpcsimError, match="unknown backend"):
        make_backend("kubernetes")
    with pytest.raises(EpcsimError, match="tcp://HOST:PORT"):
        make_backend("tcp://no port here")
    with pytest.raises(EpcsimError, match="workers applies to the local backend"):
        make_backend("tcp://127.0.0.1:8786", workers=4)
    monkeypatch.setenv("EPCSIM_SCHEDULER", "tcp://bad host:1")
    with pytest.raises(EpcsimError, match="tcp://HOST:PORT, found 'tcp://bad host:1'"):
        make_backend(None)


def test_sequential_replication_reaches_the_target_or_the_cap(tmp_path) -> None:
    target = PrecisionTarget(("mean_wait_s",), relative_half_width=0.10, min_replications=3,
                             max_replications=12)

    def make(point, replication):
        return mm1_task(point["arrival_rate"], replication, n_customers=3000)

    points = [{"arrival_rate": 0.3}, {"arrival_rate": 0.9}]
    result = run_sequential(make, points, target, tmp_path, workers=1, progress=False)
    ci = confidence_intervals(result.summary, metrics=["mean_wait_s"], by=["arrival_rate"])
    for row in ci.itertuples():
        half = row.mean_wait_s_ci_high - row.mean_wait_s
        assert half <= 0.10 * row.mean_wait_s or row.n_replications == 12
    # The heavily loaded queue is noisier and needs more replications than the light one.
    n = dict(zip(ci["arrival_rate"], ci["n_replications"], strict=True))
    assert n[0.9] > n[0.3] >= 3
    # Deterministic: running it again reuses everything and asks for nothing more.
    again = run_sequential(make, points, target, tmp_path, workers=1, progress=False)
    assert again.n_run == 0 and again.summary.equals(result.summary)
    assert not ci["mean_wait_s_ci_low"].isna().any()


def test_progress_report_goes_to_stderr_and_the_bar_stays_off_without_a_terminal(
        tmp_path, capsys) -> None:
    tasks = [*_grid(rates=(0.5,), reps=2), mm1_task(0.5, 7, fail="bad luck")]
    run_study(tasks, tmp_path, workers=1, progress=True, description="mm1")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "3 runs: 0 reused, 3 run, 1 failed (in-process, 1 worker" in captured.err
    assert "1 run failed: ValueError: bad luck" in captured.err
    assert "mm1:" not in captured.err  # stderr is not a terminal here: no bar
    run_study(tasks, tmp_path, workers=1, progress=False)
    assert capsys.readouterr().err == ""


def test_a_worker_process_dying_is_recorded_and_the_study_goes_on(tmp_path) -> None:
    tasks = _grid(reps=4)
    tasks.insert(2, mm1_task(0.5, 50, exit_process=3))
    result = run_study(tasks, tmp_path, workers=2, progress=False)
    assert result.n_run == len(tasks) and result.n_not_run == 0
    status = dict(zip(result.summary["run_key"], result.summary["status"], strict=True))
    assert status[tasks[2].run_key] == "failed"
    assert all(g.error.startswith("WorkerDied: ") for g in result.failures)
    # Only runs in flight with the crash (at most the window of workers + 2) are lost.
    assert result.n_failed <= 4
    assert sum(s == "ok" for s in status.values()) >= len(tasks) - 4
