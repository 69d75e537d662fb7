"""Nothing wrong, nothing lost: the results folder against hostile states and inputs.

Each test is a class of defect found by a hostile test (issue 12), not only its instance:
input files keyed by content, stored runs verified before reuse, a user's own folder never
written into, no silent truncation of an input file, file-system failures as messages, no
symbolic link followed out of the results folder, command-line bounds checked before any
work, the scenario copy being the bytes read, and a Dask study that cannot hang.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from pathlib import Path

import pytest

from epcsim.cli import main
from epcsim.errors import EpcsimError
from epcsim.scenario import load_scenario, plan_study
from epcsim.scenario.fields import INPUT_FILE
from epcsim.scenario.plan import input_files
from epcsim.scenario.spec import Scenario
from epcsim.study import RunOutcome, RunTask, run_study
from epcsim.study.configure import read_arrival_timestamps
from epcsim.study.mm1 import mm1_task
from epcsim.study.store import MARKER_FILE, RunStore, record_checksum

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
SHORT = ["--workers", "1", "--set", "simulation.duration=0.1s",
         "--set", "simulation.warmup=0.02s", "--set", "simulation.replications=1",
         "--set", "vm=[DC4s_v2]", "--no-progress", "--no-sizing"]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["run", str(QUICKSTART), *SHORT, *args])
    out, err = capsys.readouterr()
    return status, out, err


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err, err


# ----------------------------------------------------------------- 3: input files by content

def _trace(path: Path, gap_s: float, n: int) -> None:
    path.write_text("\n".join(f"{i * gap_s:.9f}" for i in range(n)) + "\n")


def test_every_file_field_of_the_scenario_format_is_keyed_by_content() -> None:
    """The class: any scenario field that names a file carries INPUT_FILE (so it is hashed)."""
    from pydantic import BaseModel

    seen: set[type] = set()
    unmarked = []

    def visit(cls: type) -> None:
        if cls in seen or not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            return
        seen.add(cls)
        for name, info in cls.model_fields.items():
            if "file" in name and INPUT_FILE not in info.metadata:
                unmarked.append(f"{cls.__name__}.{name}")
            for sub in _model_types(info.annotation):
                visit(sub)

    visit(Scenario)
    assert len(seen) > 10
    assert not unmarked, f"file fields not keyed by content: {unmarked}"


def _model_types(annotation: object) -> list[type]:
    import typing

    out: list[type] = []
    stack = [annotation]
    while stack:
        a = stack.pop()
        if isinstance(a, type):
            out.append(a)
        stack.extend(typing.get_args(a))
    return out


def test_run_key_follows_the_content_of_arrival_and_page_traces(tmp_path: Path) -> None:
    import numpy as np

    arrivals = tmp_path / "arrivals.csv"
    pages = tmp_path / "pages.npy"
    _trace(arrivals, 0.001, 200)
    np.save(pages, np.arange(64, dtype=np.int64))
    overrides = [f"workload.arrival={{kind: trace, file: {arrivals}}}",
                 f"workload.operations.0.memory.0.pattern={{kind: trace, file: {pages}}}",
                 "vm=[DC4s_v2]", "simulation.replications=1"]

    def key() -> str:
        return plan_study(load_scenario(QUICKSTART, overrides)).runs[0].run_key

    scn = load_scenario(QUICKSTART, overrides)
    assert sorted(input_files(scn).values()) == sorted([str(arrivals), str(pages)])
    first = key()
    assert key() == first  # same content, same key
    _trace(arrivals, 0.002, 200)  # same path, new content
    second = key()
    assert second != first
    np.save(pages, np.arange(64, dtype=np.int64)[::-1].copy())
    assert key() != second
    # moved, same bytes: the key is the content's, not the path's
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "arrivals.csv").write_bytes(arrivals.read_bytes())
    np.save(moved / "pages.npy", np.load(pages))
    third = key()
    overrides[0] = f"workload.arrival={{kind: trace, file: {moved / 'arrivals.csv'}}}"
    overrides[1] = ("workload.operations.0.memory.0.pattern="
                    f"{{kind: trace, file: {moved / 'pages.npy'}}}")
    assert key() == third


def test_editing_an_arrival_trace_reruns_the_study(tmp_path: Path, capsys) -> None:
    trace = tmp_path / "arrivals.csv"
    _trace(trace, 0.001, 150)
    arrival = ["--set", f"workload.arrival={{kind: trace, file: {trace}}}", "--no-report"]
    out = tmp_path / "out"
    assert _run(capsys, "--out", str(out), *arrival)[0] == 0
    import pandas as pd

    fast = pd.read_csv(out / "summary.csv")["throughput_ops_s"].iloc[0]
    _trace(trace, 0.01, 15)
    status, stdout, _ = _run(capsys, "--out", str(out), *arrival)
    assert status == 0 and "0 reused, 1 run" in stdout
    slow = pd.read_csv(out / "summary.csv")["throughput_ops_s"].iloc[0]
    assert slow < fast / 5


# ----------------------------------------------------------------- 4: verified before reuse

def _mm1_study(n: int = 3) -> list[RunTask]:
    return [mm1_task(0.5, r, n_customers=200) for r in range(n)]


def test_an_edited_record_is_rejected_and_run_again(tmp_path: Path) -> None:
    tasks = _mm1_study()
    first = run_study(tasks, tmp_path, workers=1, progress=False)
    key = tasks[1].run_key
    path = tmp_path / "runs" / f"{key}.json"
    raw = json.loads(path.read_text())
    metric = next(iter(raw["metrics"]))
    raw["metrics"][metric] = 12345.0  # a hand edit that keeps the JSON valid
    path.write_text(json.dumps(raw))
    again = run_study(tasks, tmp_path, workers=1, progress=False)
    assert again.n_reused == 2 and again.n_run == 1
    assert list(again.rejected) == [key] and "checksum" in again.rejected[key]
    assert "not reused, run again" in again.report()
    assert "1 stored failed verification" in again.report().splitlines()[0]
    assert again.summary.equals(first.summary)
    # an edit that recomputes the checksum of a *wrong* format is still refused
    raw = json.loads(path.read_text())
    raw["format"] = "epcsim-run/1"
    raw["record_sha256"] = record_checksum(raw)
    path.write_text(json.dumps(raw))
    assert list(run_study(tasks, tmp_path, workers=1, progress=False).rejected) == [key]


def test_a_corrupted_detail_file_is_rejected_and_run_again(tmp_path: Path) -> None:
    import numpy as np

    def task(r: int) -> RunTask:
        return RunTask(run_key=f"{r + 1:016x}", fn=_with_detail, payload=r,
                       labels={"replication": r})

    tasks = [task(0), task(1)]
    run_study(tasks, tmp_path, workers=1, progress=False)
    detail = tmp_path / "runs" / f"{tasks[0].run_key}.detail.parquet"
    data = bytearray(detail.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
    detail.write_bytes(bytes(data))
    with RunStore(tmp_path, lock=False) as store:
        assert store.load(tasks[0].run_key) is None
        assert "detail file checksum" in str(store.check(tasks[0].run_key))
    again = run_study(tasks, tmp_path, workers=1, progress=False)
    assert again.n_run == 1 and list(again.rejected) == [tasks[0].run_key]
    assert np.array_equal(again.details[tasks[0].run_key]["x"], np.arange(50) * 2)


def _with_detail(r: int) -> RunOutcome:
    import numpy as np

    return RunOutcome(metrics={"value": float(r)}, detail={"x": np.arange(50) * 2})


def test_the_cli_warns_on_stderr_when_a_stored_run_is_not_reused(tmp_path: Path,
                                                                 capsys) -> None:
    out = tmp_path / "out"
    assert _run(capsys, "--out", str(out), "--no-report")[0] == 0
    record = next((out / "runs").glob("*.json"))
    raw = json.loads(record.read_text())
    raw["metrics"]["throughput_ops_s"] = 967.0
    record.write_text(json.dumps(raw))
    status, stdout, err = _run(capsys, "--out", str(out), "--no-report")
    assert status == 0 and "0 reused, 1 run" in stdout
    assert f"epcsim: warning: stored run {record.stem} not reused" in err
    assert json.loads(record.read_text())["metrics"]["throughput_ops_s"] != 967.0


# ----------------------------------------------------------------- 5: the user's own folder

USER_FILES = {"scenario.yaml": "mine\n", "report.md": "# my notes\n", "summary.csv": "a,b\n1,2\n",
              "sizing.json": "{}\n"}


def _user_folder(path: Path) -> dict[str, str]:
    path.mkdir()
    for name, text in USER_FILES.items():
        (path / name).write_text(text)
    return {p.name: p.read_text() for p in path.iterdir()}


def test_a_folder_of_the_users_own_files_is_refused_untouched(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "mine"
    before = _user_folder(folder)
    status, _, err = _run(capsys, "--out", str(folder))
    assert status == 2 and "not an epcsim results folder" in err
    _no_traceback(err)
    assert {p.name: p.read_text() for p in folder.iterdir()} == before
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "not an epcsim results folder" in err
    assert {p.name: p.read_text() for p in folder.iterdir()} == before


def test_new_empty_and_earlier_results_folders_are_used(tmp_path: Path) -> None:
    tasks = _mm1_study(1)
    run_study(tasks, tmp_path / "new", workers=1, progress=False)
    assert (tmp_path / "new" / MARKER_FILE).is_file()
    (tmp_path / "empty").mkdir()
    run_study(tasks, tmp_path / "empty", workers=1, progress=False)
    # a folder an epcsim from before the marker wrote: runs/ and .study.lock
    legacy = tmp_path / "legacy"
    run_study(tasks, legacy, workers=1, progress=False)
    (legacy / MARKER_FILE).unlink()
    again = run_study(tasks, legacy, workers=1, progress=False)
    assert again.n_reused == 1 and (legacy / MARKER_FILE).is_file()


# ----------------------------------------------------------------- 6: nothing truncated

def test_an_arrival_trace_is_read_to_its_end_or_refused(tmp_path: Path, monkeypatch) -> None:
    """The old reader stopped at 256 MiB without a word; this trace is 260 MiB. It is now
    refused whole (the message names the limit and how to raise it), or read to its last
    arrival when the limit is raised; never truncated."""
    path = tmp_path / "wide.csv"
    pad = "x" * 260
    n = 1_000_000
    with open(path, "w") as fh:
        for start in range(0, n, 100_000):
            fh.write("".join(f"{i * 1e-6:.6f},{pad}\n" for i in range(start, start + 100_000)))
    assert path.stat().st_size > 256 * 2**20
    with pytest.raises(EpcsimError, match="EPCSIM_MAX_TEXT_MIB"):
        read_arrival_timestamps(str(path))
    monkeypatch.setenv("EPCSIM_MAX_TEXT_MIB", "512")
    assert len(read_arrival_timestamps(str(path))) == n
    import epcsim.traces.io as trace_io

    monkeypatch.setattr(trace_io, "MAX_ARRIVAL_TIMESTAMPS", 1000)
    with pytest.raises(EpcsimError, match=r"more than 1,000 arrivals"):
        read_arrival_timestamps(str(path))


# ----------------------------------------------------------------- 10: file-system failures

def test_a_read_only_results_folder_is_a_message(tmp_path: Path, capsys, monkeypatch) -> None:
    out = tmp_path / "out"
    assert _run(capsys, "--out", str(out))[0] == 0
    real_open = os.open

    def read_only(path, flags, *args):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise PermissionError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    status, _, err = _run(capsys, "--out", str(out))
    assert status == 2 and "Read-only file system" in err and ".study.lock" in err
    _no_traceback(err)

    import builtins
    import tempfile

    real_mkstemp = tempfile.mkstemp

    def no_mkstemp(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", kwargs.get("dir"))

    monkeypatch.setattr(os, "open", real_open)
    monkeypatch.setattr(tempfile, "mkstemp", no_mkstemp)
    real_builtin_open = builtins.open

    def no_write_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_builtin_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_write_open)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Permission denied" in err
    _no_traceback(err)
    monkeypatch.setattr(tempfile, "mkstemp", real_mkstemp)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_a_full_disk_while_the_report_is_written_leaves_nothing_half_written(
        tmp_path: Path, capsys, monkeypatch) -> None:
    out = tmp_path / "out"
    assert _run(capsys, "--out", str(out))[0] == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    real_fdopen = os.fdopen
    written = {"bytes": 0}

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            self.fh.write(data[: len(data) // 2])  # half of it, then the disk is full
            written["bytes"] += 1
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(os, "fdopen", lambda *a, **k: Full(real_fdopen(*a, **k)))
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert written["bytes"] >= 1 and "No space left on device" in err
    _no_traceback(err)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # every file whole (old or new), no temp file left behind


# ----------------------------------------------------------------- 14: symbolic links

@pytest.mark.parametrize("name", ["runs", "figures", ".study.lock", "summary.csv"])
def test_a_symlink_in_the_results_folder_is_not_followed(tmp_path: Path, capsys,
                                                         name: str) -> None:
    out = tmp_path / "out"
    outside = tmp_path / "outside"
    outside.mkdir()
    out.mkdir()
    (out / MARKER_FILE).write_text("{}")
    target = outside / "target"
    if name in ("runs", "figures"):
        target.mkdir()
    (out / name).symlink_to(target)
    status, _, err = _run(capsys, "--out", str(out))
    assert status == 2 and "symbolic link" in err and name in err
    _no_traceback(err)
    assert [p.name for p in outside.rglob("*")] == (["target"] if target.is_dir() else [])
    assert main(["report", str(out)]) == 2
    assert [p.name for p in outside.rglob("*")] == (["target"] if target.is_dir() else [])


# ----------------------------------------------------------------- 15: options, stdin copies

def test_workers_beyond_the_cap_are_refused(tmp_path: Path, capsys) -> None:
    status = main(["run", str(QUICKSTART), "--workers", "100000", "--no-progress",
                   "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 2 and "workers: at most" in err
    assert not (tmp_path / "o" / "runs").exists()


def test_a_scheduler_address_is_checked_at_once_even_when_every_run_is_reused(
        tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert _run(capsys, "--out", str(out), "--no-report")[0] == 0
    t0 = time.perf_counter()
    status = main(["run", str(QUICKSTART), *SHORT[2:], "--out", str(out), "--no-report",
                   "--scheduler", "tcp://host:99999"])
    err = capsys.readouterr().err
    assert status == 2 and "1..65535" in err
    assert time.perf_counter() - t0 < 10
    status = main(["run", str(QUICKSTART), *SHORT[2:], "--out", str(out), "--no-report",
                   "--scheduler", "http://nowhere"])
    assert status == 2 and "tcp://HOST:PORT" in capsys.readouterr().err


def test_the_stored_scenario_is_the_bytes_read_from_a_pipe(tmp_path: Path, capsys) -> None:
    fifo = tmp_path / "scenario.fifo"
    os.mkfifo(fifo)
    data = QUICKSTART.read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as fh:
            fh.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    out = tmp_path / "out"
    status = main(["run", str(fifo), *SHORT, "--out", str(out), "--no-report"])
    capsys.readouterr()
    writer.join(5)
    assert status == 0
    assert (out / "scenario.yaml").read_bytes() == data


# ----------------------------------------------------------------- 12: Dask without workers

def _slow(payload: float) -> dict[str, float]:
    time.sleep(payload)
    return {"value": payload}


@pytest.mark.slow
def test_a_dask_study_whose_workers_all_left_stops_with_a_message(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    from epcsim.study.executor import DaskBackend

    tasks = [RunTask(run_key=f"{i + 1:016x}", fn=_slow, payload=0.3, labels={"i": i})
             for i in range(40)]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        backend = DaskBackend(cluster.scheduler_address, no_worker_timeout_s=2.0,
                              check_versions=False)
        outcome: dict[str, object] = {}

        def study() -> None:
            try:
                run_study(tasks, tmp_path, backend=backend, progress=False)
            except EpcsimError as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=study, daemon=True)
        t0 = time.perf_counter()
        thread.start()
        while not any((tmp_path / "runs").glob("*.json")):
            assert time.perf_counter() - t0 < 15
            time.sleep(0.05)
        cluster.scale(0)  # every worker leaves
        thread.join(15)
        assert not thread.is_alive(), "the client waits forever for workers"
        backend.close()
    assert "no worker" in str(outcome.get("error"))
    # the finished runs are stored: a rerun resumes from them
    with RunStore(tmp_path, lock=False) as store:
        assert 0 < len(store.load_many([t.run_key for t in tasks])) < len(tasks)
