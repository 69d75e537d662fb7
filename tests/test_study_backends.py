"""Backends give identical results; a study killed mid-way resumes to the same summary bytes."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import epcsim
from epcsim.errors import EpcsimError
from epcsim.study import DaskBackend, RunStore, RunTask, run_study
from epcsim.study.mm1 import mm1_task


def _study() -> list[RunTask]:
    tasks = [mm1_task(rate, r, n_customers=1500, seed=11, detail=(r == 0))
             for rate in (0.4, 0.7, 0.9) for r in range(3)]
    tasks.insert(4, mm1_task(0.7, 99, fail="cannot simulate this one"))
    return tasks


def _records(store_dir: Path, tasks: list[RunTask]) -> dict[str, tuple]:
    out = {}
    with RunStore(store_dir, lock=False) as store:
        for task in tasks:
            record = store.load(task.run_key)
            assert record is not None
            detail = None
            if record.detail_file is not None:
                detail = store.read_detail(task.run_key).to_pydict()
            out[task.run_key] = (record.status, record.metrics, record.error, detail)
    return out


def test_local_pool_and_dask_give_identical_results(tmp_path, monkeypatch) -> None:
    distributed = pytest.importorskip("distributed")
    tasks = _study()
    in_process = run_study(tasks, tmp_path / "w1", workers=1, progress=False)
    pool = run_study(tasks, tmp_path / "w2", workers=2, progress=False)
    assert in_process.backend.startswith("in-process")
    assert pool.backend == "local process pool, 2 workers"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0") as cluster:
        on_dask = run_study(tasks, tmp_path / "dask", backend=cluster.scheduler_address,
                            progress=False)
        # A client whose epcsim differs from the workers' refuses to use them.
        monkeypatch.setattr(epcsim, "__version__", "0.0.0+other")
        with pytest.raises(EpcsimError, match=r"must run epcsim 0\.0\.0\+other"):
            DaskBackend(cluster.scheduler_address)
    assert on_dask.backend.startswith("Dask cluster at tcp://127.0.0.1:")
    expected = in_process.summary_path.read_bytes()
    for result in (in_process, pool, on_dask):
        assert (result.n_run, result.n_failed) == (10, 1)
        assert result.summary_path.read_bytes() == expected
    reference = _records(tmp_path / "w1", tasks)
    assert _records(tmp_path / "w2", tasks) == reference
    assert _records(tmp_path / "dask", tasks) == reference


_SCRIPT = textwrap.dedent("""
    import json, sys

    def tasks():
        from epcsim.study.mm1 import mm1_task
        return [mm1_task(rate, r, n_customers=2000, sleep_s=0.08, detail=(r % 4 == 0))
                for rate in (0.5, 0.8) for r in range(14)]

    if __name__ == "__main__":
        # Heavy imports under the main guard: spawned workers re-import this file.
        from epcsim.study import run_study
        result = run_study(tasks(), sys.argv[1], workers=2, progress=False)
        print(json.dumps({"reused": result.n_reused, "run": result.n_run,
                          "failed": result.n_failed}))
""")


def _live_group_members(pgid: int) -> list[int]:
    """Processes of the group that are not zombies (Linux /proc)."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry))
    return alive


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_killed_study_resumes_to_a_byte_identical_summary(tmp_path) -> None:
    script = tmp_path / "study_script.py"
    script.write_text(_SCRIPT)
    killed_dir = tmp_path / "killed"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("EPCSIM_SCHEDULER", None)
    proc = subprocess.Popen([sys.executable, str(script), str(killed_dir)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        runs = killed_dir / "runs"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if runs.is_dir() and len(list(runs.glob("*.json"))) >= 5:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.01)
        else:
            pytest.fail("the study recorded no runs within 60 s")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        done_when_killed = len(list(runs.glob("*.json")))
        assert 5 <= done_when_killed < 28, "the kill came too late to test anything"
        assert not (killed_dir / "summary.csv").exists()
        # The pool's workers notice that the client died and exit on their own.
        deadline = time.monotonic() + 15
        while _live_group_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _live_group_members(proc.pid) == []
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)

    resumed = subprocess.run([sys.executable, str(script), str(killed_dir)], env=env,
                             capture_output=True, text=True, timeout=120, check=True)
    counts = json.loads(resumed.stdout)
    assert counts["reused"] == done_when_killed  # every record present was complete
    assert counts["reused"] + counts["run"] == 28 and counts["failed"] == 0

    # An uninterrupted run of the same study, in this process.
    spec = importlib.util.spec_from_file_location("study_script", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tasks = module.tasks()
    clean = run_study(tasks, tmp_path / "clean", workers=2, progress=False)
    assert (clean.n_run, clean.n_failed) == (28, 0)
    assert (killed_dir / "summary.csv").read_bytes() == clean.summary_path.read_bytes()
    assert _records(killed_dir, tasks) == _records(tmp_path / "clean", tasks)
