"""Model validation: epcsim's predictions against published SGX measurements.

What it does: for every measurement series in ``validation/published-measurements.csv`` (a
copy of the project's reference data, with its source columns) it runs the scenario in
``validation/`` that describes the measured workload on the measured hardware, predicts the
measured metric at every measured x, and scores the series against its target
(docs/validation.md defines each target precisely):

- ``knee``: the TeeBench CHT join throughput curve. The *knee* is the consecutive pair of
  measured x values with the largest throughput ratio ``X(x_i) / X(x_{i+1})``; its
  *position* is the midpoint ``(x_i + x_{i+1}) / 2`` and the *drop* is that ratio. Targets:
  position within 5 %, drop within 25 % (``|drop_pred / drop_meas - 1|``).
- ``factor``: every point within a factor (EWB counts: 1.5).
- ``relative``: every point within a relative error (enclave build times: 20 %).
- ``ratio``: the ratio of the first to the last point within a relative error (the 16 MiB
  probe-table series, where no cliff is expected).

How the hash join is run (:func:`simulate_hash_join`): the scenario's operations are batches
of tuples; the join is a batch job, so instead of an arrival process the harness issues
exactly the join's work in phase order (init, partition, build, probe; each phase's batches
arrive together and queue first come first served for the enclave threads) and runs the
model to completion. Throughput is (|R| + |S|) tuples / (end of the last probe batch - start
of the first partition batch), as TeeBench computes it; evictions are every EWB of the
process, the enclave build's included, as TeeBench's instrumented driver counts them.

Assumptions: the harness changes only sizes, batch counts and arrivals, never a cost
parameter or a per-tuple cost (those are in the scenario files, with their reasons). Runs use
one replication with the scenario's seed (the results are deterministic).

Modules: :mod:`~epcsim.validation.published` (the measured points),
:mod:`~epcsim.validation.harness` (running a measured experiment on the model),
:mod:`~epcsim.validation.scoring` (series and targets), :mod:`~epcsim.validation.runner` (``epcsim
validate``),
:mod:`~epcsim.validation.calibration` (``epcsim calibrate``) and
:mod:`~epcsim.validation.measurements` (importing a user's own measurements).
"""

from __future__ import annotations

from epcsim.validation.harness import (
    JoinPrediction,
    join_layout,
    simulate_enclave_build,
    simulate_hash_join,
)
from epcsim.validation.published import (
    BATCH_HORIZON_S,
    BITMAP_BYTES_PER_TUPLE,
    MEASUREMENT_COLUMNS,
    MIB,
    SCENARIO_BATCH_PAGES,
    TUPLE_BYTES,
    TUPLES_PER_PAGE,
    Measurement,
    default_validation_dir,
    load_measurements,
)
from epcsim.validation.runner import (
    TABLE_END,
    TABLE_START,
    plot_validation,
    run_validation,
    write_docs,
)
from epcsim.validation.scoring import (
    SERIES,
    PointResult,
    SeriesResult,
    SeriesSpec,
    ValidationReport,
    knee,
    score_series,
)

__all__ = [
    "BATCH_HORIZON_S",
    "BITMAP_BYTES_PER_TUPLE",
    "MEASUREMENT_COLUMNS",
    "MIB",
    "SCENARIO_BATCH_PAGES",
    "SERIES",
    "TABLE_END",
    "TABLE_START",
    "TUPLES_PER_PAGE",
    "TUPLE_BYTES",
    "JoinPrediction",
    "Measurement",
    "PointResult",
    "SeriesResult",
    "SeriesSpec",
    "ValidationReport",
    "default_validation_dir",
    "join_layout",
    "knee",
    "load_measurements",
    "plot_validation",
    "run_validation",
    "score_series",
    "simulate_enclave_build",
    "simulate_hash_join",
    "write_docs",
]
