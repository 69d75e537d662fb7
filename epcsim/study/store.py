"""The results store: one folder per study, one record per completed run, crash-safe.

Layout (``<study>`` is the folder given to :func:`epcsim.study.run_study`, e.g.
``results/quickstart``)::

    <study>/
      .study.lock                  held (flock) by the client while it writes; never deleted
      summary.csv                  one row per run, in the caller's task order (written last)
      runs/
        <run_key>.json             the run's record: status, labels, metrics, error,
                                   provenance, execution, detail file checksum. Its presence
                                   (and validity) is the commit marker of the run.
        <run_key>.detail.parquet   the run's detail table, when it has one

Writes are atomic: each file is written to a temporary file in the same folder
(``.<name>.tmp-<pid>-<random>``), flushed and fsynced, then renamed over the final name with
``os.replace``. The runs folder itself is fsynced once at the end of a study (and the study
folder after ``summary.csv``), not after every run: that halves the cost of recording a run,
and what a power loss could undo is only a rename, i.e. a run that is then executed again,
never a half-written file taken as complete (the record checks its detail file's size).
The detail Parquet file is written *before* the JSON record, so a run whose JSON record
exists and is valid has all its files; a run cut off before its JSON rename simply does not
exist, and its leftovers are overwritten on the next attempt. Temporary files left by a
crashed client are removed when the store is opened.
A JSON record is taken as complete only if it parses, has this format's fields, names its own
run key, its ``record_sha256`` (the SHA-256 of the record's canonical JSON without that field)
matches, and its detail file (if any) exists with the recorded size and SHA-256; anything else
(a file truncated by a crash of a tool that does not write atomically, a hand edit, a flipped
bit) is *rejected*: :meth:`RunStore.verify_many` says why, and the run is executed again.
Records of the earlier format ``epcsim-run/1`` (no record checksum) are rejected the same way.

The results folder is marked as epcsim's by a ``.epcsim-results`` file, written (atomically)
before anything else; :func:`claim_results_folder` refuses a non-empty folder without it (a
folder of the user's own files is never written into), except a folder that an earlier
epcsim wrote (``runs/`` and ``.study.lock``, or a ``provenance.json`` naming an epcsim
version), which it adopts. Every name epcsim writes directly inside the folder (``runs/``,
``figures/``, ``.study.lock``, the summary, the report...) must not be a symbolic link: a
link there is refused rather than followed out of the folder, and the lock file is opened
with ``O_NOFOLLOW``.

Only the client process writes; workers return outcomes. Every path is built from a validated
hex run key under the store folder, so nothing is written outside it. A failed run is recorded
with ``status: "failed"`` and its error; whether a rerun retries it is the caller's choice
(``retry_failed``, default yes).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from epcsim.errors import EpcsimError
from epcsim.study.task import RUN_KEY_RE, RunOutcome, RunTask

RECORD_FORMAT = "epcsim-run/2"
"""Value of the ``format`` field of every run record; records of another format are rejected."""

RUNS_DIR = "runs"
SUMMARY_FILE = "summary.csv"
LOCK_FILE = ".study.lock"
MARKER_FILE = ".epcsim-results"
"""Written first into every results folder: says the folder is epcsim's to write."""
MARKER_FORMAT = "epcsim-results/1"
_TMP_MARK = ".tmp-"

#: Every name epcsim writes directly inside a results folder; none may be a symbolic link.
OWN_NAMES = (MARKER_FILE, LOCK_FILE, RUNS_DIR, SUMMARY_FILE, "summary_ci.csv", "scenario.yaml",
             "scenario.resolved.json", "scenario.resolved.yaml", "provenance.json",
             "sizing.json", "mrc.csv", "report.html", "report.md", "figures")


def _check_key(run_key: str) -> str:
    if not isinstance(run_key, str) or not RUN_KEY_RE.fullmatch(run_key):
        raise ValueError(f"run keys are 8 to 128 lowercase hex digits, found {run_key!r}")
    return run_key


def _fsync_dir(folder: Path) -> None:
    # Make the rename itself durable; not possible on every platform (e.g. Windows).
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename).

    With ``sync_dir`` the folder is fsynced after the rename, so that the new name itself
    survives a power loss; without it, a power loss may undo the rename (never expose a
    half-written file). A file-system failure (no space left, no permission) raises
    :class:`EpcsimError` naming the file.
    """
    folder = path.parent
    tmp = folder / f".{path.name}{_TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise EpcsimError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    if sync_dir:
        _fsync_dir(folder)


def _json_safe(value: Any) -> Any:
    """``value`` with anything json cannot encode replaced by its ``str`` (recursively)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return str(value)


def record_checksum(raw: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a run record's canonical JSON, its ``record_sha256`` field left out."""
    body = {k: v for k, v in raw.items() if k != "record_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _no_symlinks(root: Path) -> None:
    for name in OWN_NAMES:
        path = root / name
        if path.is_symlink():
            raise EpcsimError(
                f"{path}: a symbolic link inside the results folder; epcsim writes only inside "
                "its results folder and does not follow links out of it (remove the link, or "
                "choose another --out)")


def is_results_folder(root: str | os.PathLike[str]) -> bool:
    """True if ``root`` holds epcsim's marker file, or is a folder an earlier epcsim wrote:
    ``runs/`` and ``.study.lock`` (from before the marker existed), or a ``provenance.json``
    naming an ``epcsim_version`` (a results folder copied without its hidden files)."""
    root = Path(root)
    marker = root / MARKER_FILE
    if marker.is_file() and not marker.is_symlink():
        return True
    runs, lock = root / RUNS_DIR, root / LOCK_FILE
    if runs.is_dir() and not runs.is_symlink() and lock.is_file() and not lock.is_symlink():
        return True
    prov = root / "provenance.json"
    try:
        if prov.is_symlink() or not prov.is_file() or prov.stat().st_size > 1 << 20:
            return False
        data = json.loads(prov.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "epcsim_version" in data


def check_results_folder(root: str | os.PathLike[str]) -> Path:
    """``root`` if epcsim may write derived files there (see :func:`is_results_folder`, and no
    symbolic link among the names it writes); raises :class:`EpcsimError` otherwise."""
    root = Path(root)
    if not root.is_dir():
        raise EpcsimError(f"{root}: no such results folder")
    _no_symlinks(root)
    if not is_results_folder(root):
        raise EpcsimError(
            f"{root}: not an epcsim results folder (no {MARKER_FILE} file); epcsim does not "
            "write into folders it did not create, so as not to overwrite your files")
    return root


def claim_results_folder(root: str | os.PathLike[str]) -> Path:
    """Make ``root`` an epcsim results folder, or refuse (:class:`EpcsimError`).

    A missing or empty folder is created and marked (``.epcsim-results``, written atomically
    before anything else); a marked folder, or one an earlier epcsim wrote, is used (and
    marked); any other non-empty folder is refused, so that a user's own ``report.md`` or
    ``summary.csv`` is never overwritten or deleted. A symbolic link among the names epcsim
    writes is refused too.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise EpcsimError(f"{root}: exists and is not a folder; choose another results folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
        entries = sorted(p.name for p in root.iterdir())
    except OSError as exc:
        raise EpcsimError(f"{root}: cannot create or read the results folder "
                          f"({exc.strerror or exc})") from None
    _no_symlinks(root)
    if MARKER_FILE in entries and (root / MARKER_FILE).is_file():
        return root
    if entries and not is_results_folder(root):
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise EpcsimError(
            f"{root}: not an epcsim results folder: it already holds files epcsim did not "
            f"write ({shown}); epcsim refuses to write there so as not to overwrite or delete "
            "them (choose a new or empty folder with --out)")
    marker = {"format": MARKER_FORMAT,
              "note": "this folder is written by epcsim; see docs/studies.md"}
    atomic_write_bytes(root / MARKER_FILE, (json.dumps(marker) + "\n").encode("utf-8"))
    return root


@dataclass(frozen=True)
class RunRecord:
    """A completed run as stored: everything but the detail table."""

    run_key: str
    status: str  # "ok" or "failed"
    labels: dict[str, Any]
    metrics: dict[str, float]
    error: str | None
    error_type: str | None
    traceback: str | None
    wall_s: float
    provenance: dict[str, Any]
    execution: dict[str, Any]
    detail_file: str | None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


#: Real paths of the lock files this process holds through :func:`study_lock` (nesting depth).
_HELD_BY_CALLER: dict[str, int] = {}


@contextlib.contextmanager
def study_lock(root: str | os.PathLike[str]) -> Iterator[RunStore]:
    """Hold the study lock of ``root`` for a whole block (the runs, then sizing and the
    report), so that no other process writes to the folder in between. Stores opened on the
    same folder inside the block, by this process, work under this lock."""
    store = RunStore(root)
    key = os.path.realpath(store.root / LOCK_FILE)
    _HELD_BY_CALLER[key] = _HELD_BY_CALLER.get(key, 0) + 1
    try:
        yield store
    finally:
        _HELD_BY_CALLER[key] -= 1
        if not _HELD_BY_CALLER[key]:
            del _HELD_BY_CALLER[key]
        store.close()


class StudyLockedError(EpcsimError):
    """Another process is writing to the same study folder."""


class RunStore:
    """The folder of one study's run records (see the module docstring for the layout).

    Opening a store for writing (``lock=True``, the default) creates the folders, takes the
    study lock and removes stale temporary files; use it as a context manager, or call
    :meth:`close`, to release the lock. ``lock=False`` opens a read-only view: nothing is
    created, locked or removed (for reading a finished study, e.g. from a notebook).
    """

    def __init__(self, root: str | os.PathLike[str], *, lock: bool = True) -> None:
        self.root = Path(root)
        self.runs_dir = self.root / RUNS_DIR
        if lock:
            claim_results_folder(self.root)
            try:
                self.runs_dir.mkdir(exist_ok=True)
            except OSError as exc:
                raise EpcsimError(
                    f"cannot create results folder {self.runs_dir}: {exc}") from exc
        self._lock_fh: io.BufferedWriter | None = None
        if lock:
            self._take_lock()
            self.removed_temp_files = self._remove_stale_temp_files()
        else:
            self.removed_temp_files = 0

    # -- lifecycle -------------------------------------------------------------------------
    def _take_lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory lock
            return
        if os.path.realpath(self.root / LOCK_FILE) in _HELD_BY_CALLER:
            return  # this process holds the lock for a whole block (see study_lock)
        path = self.root / LOCK_FILE
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) \
            | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            raise EpcsimError(
                f"{path}: cannot open the study lock ({exc.strerror or exc}); the results "
                "folder must be writable (choose another with --out)") from None
        fh = os.fdopen(fd, "ab")  # held open while the store is open
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            raise StudyLockedError(
                f"another epcsim process is writing to {self.root} (lock {LOCK_FILE} held); "
                "wait for it to finish or choose another results folder") from exc
        self._lock_fh = fh

    def close(self) -> None:
        """Release the study lock."""
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _remove_stale_temp_files(self) -> int:
        removed = 0
        for folder in (self.root, self.runs_dir):
            for path in folder.iterdir():
                if path.name.startswith(".") and _TMP_MARK in path.name and path.is_file():
                    with contextlib.suppress(OSError):
                        path.unlink()
                        removed += 1
        return removed

    # -- paths -----------------------------------------------------------------------------
    def record_path(self, run_key: str) -> Path:
        return self.runs_dir / f"{_check_key(run_key)}.json"

    def detail_path(self, run_key: str) -> Path:
        return self.runs_dir / f"{_check_key(run_key)}.detail.parquet"

    @property
    def summary_path(self) -> Path:
        return self.root / SUMMARY_FILE

    # -- reading ---------------------------------------------------------------------------
    def load(self, run_key: str) -> RunRecord | None:
        """The complete, verified record of ``run_key``; None if absent or rejected."""
        record = self.check(run_key)
        return record if isinstance(record, RunRecord) else None

    def check(self, run_key: str) -> RunRecord | str | None:
        """The verified record of ``run_key``; None if there is no record file; else the
        reason why the stored record is rejected (a short text)."""
        path = self.record_path(run_key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"record unreadable ({exc.strerror or exc})"
        try:
            raw = json.loads(data)
        except ValueError:
            return "record is not valid JSON: truncated or edited"
        if not isinstance(raw, dict):
            return "record is not a JSON object"
        if raw.get("format") != RECORD_FORMAT:
            return (f"record format {str(raw.get('format'))[:40]!r}, expected "
                    f"{RECORD_FORMAT!r} (written by another epcsim version)")
        if raw.get("record_sha256") != record_checksum(raw):
            return "record checksum mismatch: the record was edited or corrupted"
        return self._parse(run_key, raw, verify_detail=True)

    def _parse(self, run_key: str, raw: Mapping[str, Any],
               verify_detail: bool) -> RunRecord | str:
        try:
            if raw["run_key"] != run_key:
                return "record names another run key"
            status = raw["status"]
            if status not in ("ok", "failed"):
                return f"record status {str(status)[:20]!r} is neither ok nor failed"
            detail = raw["detail"]
            detail_file = None
            if detail is not None:
                detail_file = detail["file"]
                if detail_file != self.detail_path(run_key).name:
                    return "record names another detail file"
                if verify_detail:
                    problem = self._check_detail(self.runs_dir / detail_file, detail)
                    if problem is not None:
                        return problem
            error = raw["error"]
            return RunRecord(
                run_key=run_key,
                status=status,
                labels=dict(raw["labels"]),
                metrics={k: float(v) for k, v in raw["metrics"].items()},
                error=None if error is None else error["message"],
                error_type=None if error is None else error["type"],
                traceback=None if error is None else error["traceback"],
                wall_s=float(raw["wall_s"]),
                provenance=dict(raw["provenance"]),
                execution=dict(raw["execution"]),
                detail_file=detail_file,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return "record lacks a field or has a field of the wrong type"

    @staticmethod
    def _check_detail(path: Path, detail: Mapping[str, Any]) -> str | None:
        """None if the detail file has the recorded size and SHA-256, else why not."""
        try:
            if path.is_symlink() or not path.is_file():
                return "detail file missing"
            if path.stat().st_size != detail["size_bytes"]:
                return "detail file has another size than recorded"
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        except OSError as exc:
            return f"detail file unreadable ({exc.strerror or exc})"
        if digest.hexdigest() != detail["sha256"]:
            return "detail file checksum mismatch: corrupted or replaced"
        return None

    def verify_many(self, run_keys: Sequence[str]
                    ) -> tuple[dict[str, RunRecord], dict[str, str]]:
        """``(records, rejected)``: the verified records among ``run_keys``, and for each
        stored record that failed verification, why (absent runs are in neither)."""
        records: dict[str, RunRecord] = {}
        rejected: dict[str, str] = {}
        for key in run_keys:
            record = self.check(key)
            if isinstance(record, RunRecord):
                records[key] = record
            elif record is not None:
                rejected[key] = record
        return records, rejected

    def load_many(self, run_keys: Sequence[str]) -> dict[str, RunRecord]:
        """Verified records among ``run_keys`` (absent or rejected ones are left out)."""
        return self.verify_many(run_keys)[0]

    def read_detail(self, run_key: str) -> pa.Table:
        """The detail table of a completed run (raises KeyError if it has none)."""
        record = self.load(run_key)
        if record is None or record.detail_file is None:
            raise KeyError(run_key)
        return pq.read_table(self.runs_dir / record.detail_file)

    def sync(self) -> None:
        """Make the renames of every record written so far durable (fsync the runs folder)."""
        _fsync_dir(self.runs_dir)

    def stored_keys(self) -> Iterator[str]:
        """Run keys with a record file in the store (complete or not), in name order."""
        for path in sorted(self.runs_dir.glob("*.json")):
            if RUN_KEY_RE.fullmatch(path.stem):
                yield path.stem

    # -- writing ---------------------------------------------------------------------------
    def save(self, task: RunTask, outcome: RunOutcome) -> RunRecord:
        """Record a finished run (successful or failed); the JSON record is written last."""
        key = _check_key(task.run_key)
        detail_meta = None
        if outcome.ok and outcome.detail is not None:
            table = pa.table({name: pa.array(col) for name, col in outcome.detail.items()})
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink, compression="zstd")
            data = sink.getvalue().to_pybytes()
            path = self.detail_path(key)
            atomic_write_bytes(path, data, sync_dir=False)
            detail_meta = {
                "file": path.name,
                "size_bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "rows": table.num_rows,
                "columns": table.column_names,
            }
        error = None
        if not outcome.ok:
            error = {"type": outcome.error_type or "RunFailed", "message": outcome.error,
                     "traceback": outcome.traceback}
        raw = {
            "format": RECORD_FORMAT,
            "run_key": key,
            "status": "ok" if outcome.ok else "failed",
            "labels": _json_safe(task.labels),
            "metrics": dict(outcome.metrics) if outcome.ok else {},
            "error": error,
            "wall_s": float(outcome.wall_s),
            "provenance": _json_safe(outcome.provenance),
            "execution": _json_safe(outcome.execution),
            "detail": detail_meta,
        }
        raw["record_sha256"] = record_checksum(raw)
        data = json.dumps(raw, indent=1, allow_nan=True).encode("utf-8") + b"\n"
        atomic_write_bytes(self.record_path(key), data, sync_dir=False)
        # What a later study reads back: the record as JSON decodes it (not a second read
        # of the files just written, which would double the I/O of recording a run).
        record = self._parse(key, json.loads(data), verify_detail=False)
        if not isinstance(record, RunRecord):  # pragma: no cover - a bug in save itself
            raise EpcsimError(f"run record {self.record_path(key)}: {record}")
        return record
