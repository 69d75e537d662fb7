"""Benchmark (issue 16): evaluations per VM size, the earlier search against the analytic
one, for every bundled scenario that has an ``slo``, in the same run.

For each scenario both searches size every VM size the scenario lists (capacities only: no
sensitivity, what-ifs or knee, which are searches of the same kind) with the simulator as
the evaluator, exactly as ``epcsim run`` would:

- ``old``: ``analytic=False`` (double or halve from the target, then bisect);
- ``new``: the analytic bracket with no study to start from (the first evaluation is at the
  target load; ``epcsim run`` also has the study's own run of each size as its first guess,
  which saves that evaluation and places the first bracket better).

It prints one row per size (old, new evaluations as each size's search counts them; the
capacities), the distinct simulations each path ran in all (a size with the same hardware as
another, e.g. DC4s_v3 and DC4ds_v3, is answered by the other's evaluations), checks that
both recommend the same option, and (the issue's target) that the new search needs at most
half of the old one's evaluations. Evaluations are kept in ``EPCSIM_BENCH_STORE``
(default: a temporary folder) so a second run answers from the store.

    .venv/bin/python -m pytest -q -m benchmark benchmarks/bench_sizing_evals.py -s -p no:xdist
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import epcsim
from epcsim.api import recommend

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(p for p in (ROOT / "scenarios").glob("*.yaml")
                   if epcsim.load_scenario(p).slo is not None)
WORKERS = int(os.environ.get("EPCSIM_BENCH_WORKERS", "0")) or None


def _size(path: Path, store: Path, analytic: bool) -> tuple[object, float]:
    scn = epcsim.load_scenario(path)
    t0 = time.perf_counter()
    result = recommend(scn, sensitivity=False, what_ifs=False, knee=False, analytic=analytic,
                       store_dir=store, workers=WORKERS)
    return result, time.perf_counter() - t0


@pytest.mark.benchmark
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_evaluations_per_size(path: Path, tmp_path: Path) -> None:
    store = Path(os.environ.get("EPCSIM_BENCH_STORE") or tmp_path) / path.stem
    old, old_s = _size(path, store, analytic=False)
    new, new_s = _size(path, store, analytic=True)
    print(f"\n{path.stem} (load average {os.getloadavg()[0]:.1f}; {old_s:.0f} s, {new_s:.0f} s "
          "with the store)")
    for a, b in zip(old.capacities, new.capacities, strict=True):
        print(f"  {a.vm_size:24s} old {a.evaluations:3d}  new {b.evaluations:3d}   "
              f"capacity {a.capacity_ops_s:12,.1f} / {b.capacity_ops_s:12,.1f} ops/s")
    n_old = sum(c.evaluations for c in old.capacities)
    n_new = sum(c.evaluations for c in new.capacities)
    rec = [(r.recommended.vm_size, r.recommended.vm_count) if r.recommended else None
           for r in (old, new)]
    print(f"  total old {n_old}  new {n_new} ({n_new / max(n_old, 1):.0%}); distinct "
          f"simulations (successor search included) old {old.evaluations}  new "
          f"{new.evaluations}; recommended {rec[0]} / {rec[1]}")
    assert rec[0] == rec[1], f"recommendations differ: {rec}"
    assert n_new <= 0.5 * n_old
