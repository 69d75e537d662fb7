"""The regression guard: the model may not get worse on the ``test`` series unnoticed.

``epcsim validate --record`` writes each test series' median and worst absolute relative
error to ``validation/corpus/recorded_errors.csv``; tests/test_validation_corpus.py reruns the
same series and fails when a series' median error grows by more than :data:`MARGIN` (in
absolute terms: 0.30 -> 0.36 fails, 0.30 -> 0.34 passes) or a series that ran now fails.
A model change that improves a series is recorded again with ``--record`` in the same
commit, so the guard follows the model down, never up.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from epcsim.errors import EpcsimError
from epcsim.validation.assess import CorpusReport
from epcsim.validation.corpus import default_corpus_dir

RECORD_FILE = "recorded_errors.csv"
RECORD_COLUMNS = ("series", "median_abs_error", "worst_abs_error")
#: Largest allowed growth of a test series' median absolute relative error.
MARGIN = 0.05


def write_recorded(report: CorpusReport, folder: str | Path | None = None) -> Path:
    """Write the test series' errors of ``report`` (atomically) and return the path."""
    root = Path(folder) if folder is not None else default_corpus_dir()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(RECORD_COLUMNS)
    for s in sorted(report.series, key=lambda s: s.spec.series):
        if s.spec.split == "test" and not s.error:
            w.writerow([s.spec.series, f"{s.median_error:.4f}", f"{s.worst_error:.4f}"])
    path = root / RECORD_FILE
    tmp = path.with_suffix(".csv.tmp")
    try:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise EpcsimError(f"{path}: cannot write ({exc.strerror})") from None
    return path


def read_recorded(folder: str | Path | None = None) -> dict[str, tuple[float, float]]:
    """Series -> (median, worst) recorded absolute relative errors."""
    root = Path(folder) if folder is not None else default_corpus_dir()
    path = root / RECORD_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EpcsimError(f"{path}: cannot read ({exc.strerror}); record it with "
                          f"`epcsim validate --record`") from None
    out = {}
    for row in csv.DictReader(io.StringIO(text)):
        out[row["series"]] = (float(row["median_abs_error"]), float(row["worst_abs_error"]))
    return out


def regressions(report: CorpusReport, recorded: dict[str, tuple[float, float]],
                margin: float = MARGIN) -> list[str]:
    """Messages for every recorded test series that got worse by more than ``margin``."""
    out = []
    for s in report.series:
        if s.spec.series not in recorded:
            continue
        before = recorded[s.spec.series][0]
        if s.error:
            out.append(f"{s.spec.series}: failed to run ({s.error})")
        elif not math.isfinite(s.median_error) or s.median_error > before + margin:
            out.append(f"{s.spec.series}: median |error| {s.median_error:.1%} (recorded "
                       f"{before:.1%}, allowed up to {before + margin:.1%})")
    return out
