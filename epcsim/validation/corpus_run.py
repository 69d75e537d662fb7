"""``epcsim validate`` on the corpus: predict every published point, score every series, and
draw the predicted-against-measured figure of docs/validation.md.

:func:`validate_corpus` selects series (by id, split or category), turns their points into
jobs (:mod:`epcsim.validation.predict`), runs them on ``workers`` processes and scores them
(:mod:`epcsim.validation.assess`). A series whose scenario cannot be run is reported with its
error (and no error figure) instead of stopping the others.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from epcsim.errors import EpcsimError
from epcsim.validation.assess import CorpusReport, ScoredSeries, score
from epcsim.validation.corpus import (
    CATEGORIES,
    SPLITS,
    CorpusSeries,
    default_corpus_dir,
    load_corpus,
)
from epcsim.validation.predict import PredictJob, job_for, model_value, run_job_or_error, run_jobs


def select_series(corpus: Sequence[CorpusSeries], *, series: Iterable[str] | None = None,
                  split: str | None = None, category: str | None = None
                  ) -> list[CorpusSeries]:
    """The series asked for (all by default); unknown names are refused with a suggestion."""
    known = {s.series: s for s in corpus}
    chosen = list(corpus)
    if series is not None:
        names = list(series)
        for name in names:
            if name not in known:
                import difflib

                close = difflib.get_close_matches(name, list(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise EpcsimError(f"--series: unknown series {name!r}{hint}")
        chosen = [known[n] for n in names]
    if split is not None:
        if split not in SPLITS:
            raise EpcsimError(f"--split: expected fit or test, found {split!r}")
        chosen = [s for s in chosen if s.split == split]
    if category is not None:
        if category not in CATEGORIES:
            raise EpcsimError(f"--category: expected one of {', '.join(CATEGORIES)}, found "
                              f"{category!r}")
        chosen = [s for s in chosen if category in s.categories]
    if not chosen:
        raise EpcsimError("no corpus series matches the selection")
    return chosen


def validate_corpus(folder: str | Path | None = None, *, series: Iterable[str] | None = None,
                    split: str | None = None, category: str | None = None, workers: int = 1,
                    costs: Sequence[str] = (),
                    progress: Callable[[str], None] | None = None) -> CorpusReport:
    """Predict and score the selected corpus series (module docstring)."""
    t0 = time.perf_counter()
    root = Path(folder) if folder is not None else default_corpus_dir()
    chosen = select_series(load_corpus(root), series=series, split=split, category=category)
    jobs = {(s.series, p.line): job_for(s, p, costs) for s in chosen for p in s.points}
    unique = list(dict.fromkeys(jobs.values()))
    done = 0

    def note(job: PredictJob) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(f"[{done}/{len(unique)}] {Path(job.scenario).name} "
                     f"{' '.join(job.assignments) or job.x}")

    results = run_jobs(unique, workers=workers, progress=note, runner=run_job_or_error)
    scored: list[ScoredSeries] = []
    for s in chosen:
        values: dict[int, float] = {}
        failure = ""
        for p in s.points:
            r = results[jobs[(s.series, p.line)]]
            if isinstance(r, str):
                failure = failure or r
                continue
            try:
                values[p.line] = model_value(s, r)
            except EpcsimError as exc:
                failure = failure or str(exc)
        item = score(s, values)
        item.error = failure
        scored.append(item)
    settings = {"corpus": str(root), "workers": workers, "costs": list(costs)}
    return CorpusReport(scored, time.perf_counter() - t0, settings)


def plot_corpus(report: CorpusReport, path: str | Path) -> Path:
    """Predicted against measured for every scored point (log-log), coloured by split, with
    the 1:1 line and +-25 % bands; one marker per kind."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 5.6), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    lo, hi = math.inf, 0.0
    colours = {"fit": "tab:blue", "test": "tab:red"}
    markers = {"absolute": "o", "ratio": "^"}
    for split in ("fit", "test"):
        for kind in ("absolute", "ratio"):
            xs, ys = [], []
            for s in report.series:
                if s.spec.split != split or s.spec.kind != kind:
                    continue
                for p in s.scored:
                    if p.measured > 0 and p.predicted > 0:
                        xs.append(p.measured)
                        ys.append(p.predicted)
            if xs:
                lo = min(lo, *xs, *ys)
                hi = max(hi, *xs, *ys)
                ax.scatter(xs, ys, s=22, c=colours[split], marker=markers[kind], alpha=0.8,
                           label=f"{split}, {kind} ({len(xs)})", edgecolors="none")
    if hi > 0:
        lo, hi = lo / 2, hi * 2
        grid = [lo, hi]
        ax.plot(grid, grid, color="black", lw=1, label="1:1")
        ax.fill_between(grid, [g * 0.75 for g in grid], [g * 1.25 for g in grid],
                        color="grey", alpha=0.2, label="+-25 %")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured (each series in its own unit)")
    ax.set_ylabel("predicted by epcsim")
    ax.set_title("epcsim against the validation corpus", fontsize=10)
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    return out
