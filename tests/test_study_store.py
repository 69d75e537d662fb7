"""Results store: atomic records, incomplete files never taken as complete, paths confined."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epcsim.errors import EpcsimError
from epcsim.study import RunOutcome, RunStore, RunTask, StudyLockedError, execute_task
from epcsim.study.mm1 import mm1_task
from epcsim.study.store import atomic_write_bytes, claim_results_folder


def _ok_outcome(task: RunTask) -> RunOutcome:
    outcome = execute_task(task)
    assert outcome.ok, outcome.traceback
    return outcome


def test_round_trip_of_a_run_with_detail(tmp_path) -> None:
    task = mm1_task(0.5, 0, n_customers=300, detail=True)
    outcome = _ok_outcome(task)
    with RunStore(tmp_path) as store:
        record = store.save(task, outcome)
        assert record.ok and record.metrics == outcome.metrics
        assert record.labels == {"arrival_rate": 0.5, "service_rate": 1.0, "replication": 0}
        assert record.provenance["model"] == "M/M/1 Lindley"
        table = store.read_detail(task.run_key)
    assert table.column_names == ["customer", "wait_s", "waited"]
    np.testing.assert_array_equal(table["wait_s"].to_numpy(), outcome.detail["wait_s"])
    assert str(table["waited"].type) == "bool"
    files = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert files == [f"{task.run_key}.detail.parquet", f"{task.run_key}.json"]


def test_half_written_record_is_not_complete(tmp_path) -> None:
    task = mm1_task(0.5, 1, n_customers=100)
    outcome = _ok_outcome(task)
    with RunStore(tmp_path) as store:
        store.save(task, outcome)
        path = store.record_path(task.run_key)
        data = path.read_bytes()
        # A crash in the middle of a non-atomic copy: truncated JSON at the final name.
        for cut in (0, 1, len(data) // 2, len(data) - 3):
            path.write_bytes(data[:cut])
            assert store.load(task.run_key) is None
        # Valid JSON, but not a record of this run, or of another format.
        raw = json.loads(data)
        for broken in ({**raw, "run_key": "0" * 32}, {**raw, "format": "epcsim-run/0"},
                       {k: v for k, v in raw.items() if k != "metrics"},
                       {**raw, "status": "maybe"}, [1, 2]):
            path.write_text(json.dumps(broken))
            assert store.load(task.run_key) is None
        path.write_bytes(data)
        assert store.load(task.run_key) is not None


def test_record_whose_detail_file_is_missing_or_truncated_is_not_complete(tmp_path) -> None:
    task = mm1_task(0.5, 2, n_customers=200, detail=True)
    with RunStore(tmp_path) as store:
        store.save(task, _ok_outcome(task))
        detail = store.detail_path(task.run_key)
        data = detail.read_bytes()
        detail.write_bytes(data[:-10])
        assert store.load(task.run_key) is None
        detail.unlink()
        assert store.load(task.run_key) is None


def test_stale_temp_files_are_removed_on_open_and_the_lock_is_exclusive(tmp_path) -> None:
    claim_results_folder(tmp_path)  # a folder an earlier (crashed) client wrote
    runs = tmp_path / "runs"
    runs.mkdir()
    stale = [runs / ".abc.json.tmp-123-deadbeef", tmp_path / ".summary.csv.tmp-9-00ff00ff"]
    for path in stale:
        path.write_bytes(b"half")
    keep = runs / "notes.txt"
    keep.write_text("not ours")
    store = RunStore(tmp_path)
    try:
        assert store.removed_temp_files == 2
        assert not any(p.exists() for p in stale) and keep.exists()
        with pytest.raises(StudyLockedError, match="another epcsim process"):
            RunStore(tmp_path)
    finally:
        store.close()
    RunStore(tmp_path).close()  # released


def test_paths_are_confined_to_the_store(tmp_path) -> None:
    with RunStore(tmp_path) as store:
        for bad in ("../../etc/passwd", "ABCDEF12", "abc", "0123456789abcdeg", "/tmp/x"):
            with pytest.raises(ValueError, match="hex"):
                store.record_path(bad)
            with pytest.raises(ValueError, match="hex"):
                store.load(bad)
    with pytest.raises(ValueError, match="hex"):
        RunTask(run_key="../x", fn="epcsim.study.mm1:run_mm1", payload={})


def test_atomic_write_leaves_no_temp_file_and_replaces(tmp_path) -> None:
    target = tmp_path / "f.csv"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["f.csv"]
    # Renaming over a folder fails: a located EpcsimError, and no temp file left behind.
    (tmp_path / "d").mkdir()
    with pytest.raises(EpcsimError, match=r"cannot write .*d"):
        atomic_write_bytes(tmp_path / "d", b"x")
    assert sorted(os.listdir(tmp_path)) == ["d", "f.csv"]


def test_failed_run_is_recorded_with_type_message_and_traceback(tmp_path) -> None:
    task = mm1_task(0.5, 0, fail="disk on fire")
    outcome = execute_task(task)
    assert not outcome.ok and outcome.error == "ValueError: disk on fire"
    with RunStore(tmp_path) as store:
        record = store.save(task, outcome)
    assert record.status == "failed" and record.metrics == {}
    assert record.error_type == "ValueError"
    assert "run_mm1" in (record.traceback or "") and "disk on fire" in (record.traceback or "")


label_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**62), 2**62), st.text(max_size=12),
    st.floats(allow_nan=False, allow_infinity=False))
metric_values = st.floats(allow_nan=True, allow_infinity=True)
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.", min_size=1, max_size=10)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.dictionaries(names, label_values, max_size=4),
       metrics=st.dictionaries(names.map(lambda n: "m_" + n), metric_values, max_size=4),
       detail=st.lists(st.floats(allow_nan=True), max_size=20))
def test_records_round_trip_exactly(tmp_path, labels, metrics, detail) -> None:
    labels = {k: v for k, v in labels.items() if k not in ("run_key", "status", "error")}
    task = RunTask(run_key="0123456789abcdef", fn="epcsim.study.mm1:run_mm1", payload=None,
                   labels=labels)
    outcome = RunOutcome(metrics=metrics, detail={"x": np.array(detail, dtype=np.float64)},
                         wall_s=0.5)
    with RunStore(tmp_path) as store:
        record = store.save(task, outcome)
        assert record.labels == labels
        assert list(record.metrics) == list(metrics)
        for name, value in metrics.items():
            stored = record.metrics[name]
            assert (math.isnan(value) and math.isnan(stored)) or stored == value
        back = store.read_detail(task.run_key)["x"].to_numpy()
        np.testing.assert_array_equal(back, np.array(detail, dtype=np.float64))
