"""Tidy frames over a study: one summary row per run, per-run detail tables loaded lazily.

The summary has one row per run in the caller's task order, with the columns::

    run_key, <labels...>, status, <metrics...>, error

``labels`` are the sweep factors (VM size, sweep key paths, replication...) in the order they
first appear among the tasks; ``status`` is ``ok``, ``failed`` or ``not_run`` (a fail-fast
study stopped before the run); ``metrics`` are the union of the successful runs' metric names
in order of first appearance (NaN for runs that failed or lack the metric); ``error`` is the
one-line error of a failed run. Nothing that varies between executions of the same run (wall
time, host, timestamps) is in the summary, so a study's ``summary.csv`` is the same bytes
whichever backend, worker count or number of interruptions produced it. Wall times and hosts
are in :func:`execution_frame`.

The summary frame carries ``.attrs["label_columns"]`` and ``.attrs["metric_columns"]``, which
:func:`epcsim.study.confidence_intervals` uses to know what to group by.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from epcsim.errors import EpcsimError
from epcsim.study.store import SUMMARY_FILE, RunRecord, RunStore


def build_summary(runs: Sequence[tuple[str, Mapping[str, Any]]],
                  records: Mapping[str, RunRecord]) -> pd.DataFrame:
    """The summary frame from ``(run_key, labels)`` pairs (the study's tasks, in the caller's
    order) and the stored ``records`` by run key (see the module docs)."""
    label_columns: list[str] = []
    metric_columns: list[str] = []
    seen_labels: set[str] = set()
    seen_metrics: set[str] = set()
    for run_key, labels in runs:
        for name in labels:
            if name not in seen_labels:
                seen_labels.add(name)
                label_columns.append(name)
        record = records.get(run_key)
        if record is not None and record.ok:
            for name in record.metrics:
                if name not in seen_metrics:
                    seen_metrics.add(name)
                    metric_columns.append(name)
    clash = seen_labels & seen_metrics
    if clash:
        raise ValueError(f"names used both as labels and as metrics: {sorted(clash)}")
    columns: dict[str, Any] = {"run_key": pd.array([key for key, _ in runs], dtype=object)}
    for name in label_columns:
        columns[name] = pd.array([labels.get(name) for _, labels in runs])
    status = []
    errors: list[str | None] = []
    metric_values = np.full((len(runs), len(metric_columns)), np.nan)
    metric_index = {name: j for j, name in enumerate(metric_columns)}
    for i, (run_key, _) in enumerate(runs):
        record = records.get(run_key)
        if record is None:
            status.append("not_run")
            errors.append(None)
            continue
        status.append(record.status)
        errors.append(record.error)
        for name, value in record.metrics.items():
            metric_values[i, metric_index[name]] = value
    columns["status"] = pd.array(status, dtype=object)
    for name, j in metric_index.items():
        columns[name] = metric_values[:, j]
    columns["error"] = pd.array(errors, dtype=object)
    frame = pd.DataFrame(columns)
    frame.attrs["label_columns"] = label_columns
    frame.attrs["metric_columns"] = metric_columns
    return frame


def summary_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The summary as CSV bytes (floats written with Python's shortest round-trip repr)."""
    text = frame.to_csv(index=False, lineterminator="\n")
    return text.encode("utf-8")


def execution_frame(run_keys: Sequence[str], records: Mapping[str, RunRecord]) -> pd.DataFrame:
    """Per run: ``run_key``, ``status``, ``wall_s``, ``host``, ``pid``, ``started_utc``,
    ``finished_utc``, ``epcsim_version`` (what varies between executions; not in the summary).
    """
    rows = []
    for run_key in run_keys:
        record = records.get(run_key)
        if record is None:
            continue
        ex = record.execution
        rows.append({
            "run_key": run_key, "status": record.status, "wall_s": record.wall_s,
            "host": ex.get("host"), "pid": ex.get("pid"),
            "started_utc": ex.get("started_utc"), "finished_utc": ex.get("finished_utc"),
            "epcsim_version": ex.get("epcsim_version"),
        })
    return pd.DataFrame(rows, columns=["run_key", "status", "wall_s", "host", "pid",
                                       "started_utc", "finished_utc", "epcsim_version"])


class DetailFrames(Mapping[str, pd.DataFrame]):
    """Run key -> that run's detail table as a DataFrame, read from its Parquet file on access.

    Only runs that stored a detail table are keys, in the summary's order. Nothing is cached:
    each access reads the file (keep the frame you need in a variable).
    """

    def __init__(self, store_dir: str | os.PathLike[str], run_keys: Sequence[str],
                 records: Mapping[str, RunRecord] | None = None) -> None:
        self._store = RunStore(store_dir, lock=False)
        self._files: dict[str, Path] = {}
        for key in run_keys:
            record = records.get(key) if records is not None else self._store.load(key)
            if record is not None and record.detail_file is not None:
                self._files[key] = self._store.runs_dir / record.detail_file

    def __getitem__(self, run_key: str) -> pd.DataFrame:
        return pq.read_table(self._files[run_key]).to_pandas()

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def __repr__(self) -> str:
        return f"<DetailFrames: {len(self)} runs with detail tables in {self._store.runs_dir}>"


def read_summary(store_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """A finished study's summary, rebuilt from its run records in ``summary.csv``'s order.

    Values come from the JSON records (exact floats, labels with their original types), so
    the frame equals :attr:`StudyResult.summary` of the run that wrote it, except that labels
    are those stored with each run.
    """
    store_dir = Path(store_dir)
    path = store_dir / SUMMARY_FILE
    try:
        order = pd.read_csv(path, usecols=["run_key"], dtype={"run_key": str})["run_key"]
    except (OSError, ValueError) as exc:
        raise EpcsimError(f"no readable study summary at {path}: {exc}") from exc
    store = RunStore(store_dir, lock=False)
    records = store.load_many(list(order))
    runs = []
    for key in order:
        record = records.get(key)
        runs.append((key, record.labels if record is not None else {}))
    return build_summary(runs, records)


def read_details(store_dir: str | os.PathLike[str]) -> DetailFrames:
    """The lazily loaded detail tables of a finished study, in ``summary.csv``'s order."""
    path = Path(store_dir) / SUMMARY_FILE
    try:
        order = pd.read_csv(path, usecols=["run_key"], dtype={"run_key": str})["run_key"]
    except (OSError, ValueError) as exc:
        raise EpcsimError(f"no readable study summary at {path}: {exc}") from exc
    return DetailFrames(store_dir, list(order))
