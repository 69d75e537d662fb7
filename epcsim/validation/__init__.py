"""Validation and calibration: epcsim's predictions against published SGX measurements.

The yardstick is the validation corpus (``validation/corpus/``, docs/validation.md): a dozen
and more published measurement series from independent sources, each with its citation,
hardware, clock and software, a scenario that models it, and a ``fit`` or ``test`` tag fixed
before any fitting. ``epcsim validate`` predicts every point and reports the error per
point, per series and per split; ``epcsim calibrate --corpus`` fits cost parameters to the
``fit`` series only; ``epcsim calibrate MEASUREMENTS.csv`` fits them to a team's own data.

Modules, in the order data flows:

- :mod:`~epcsim.validation.corpus`: the corpus files, read and checked;
- :mod:`~epcsim.validation.harness`: experiments that are not a plain run (the TeeBench
  join as a batch job, an enclave build);
- :mod:`~epcsim.validation.predict`: points to model runs, in parallel;
- :mod:`~epcsim.validation.assess`: errors per point, series, split and kind; the targets;
- :mod:`~epcsim.validation.corpus_run`: ``epcsim validate`` and its figure;
- :mod:`~epcsim.validation.regression`: the recorded test-series errors the tests hold;
- :mod:`~epcsim.validation.calibration` and :mod:`~epcsim.validation.corpus_fit`: fitting;
- :mod:`~epcsim.validation.measurements`: importing a team's profiles and EPC counters.
"""

from __future__ import annotations

from epcsim.validation.assess import TARGETS, CorpusReport, knee, score
from epcsim.validation.corpus import CorpusPoint, CorpusSeries, load_corpus
from epcsim.validation.corpus_run import plot_corpus, validate_corpus
from epcsim.validation.harness import (
    MIB,
    JoinPrediction,
    join_layout,
    simulate_enclave_build,
    simulate_hash_join,
)

__all__ = [
    "MIB",
    "TARGETS",
    "CorpusPoint",
    "CorpusReport",
    "CorpusSeries",
    "JoinPrediction",
    "join_layout",
    "knee",
    "load_corpus",
    "plot_corpus",
    "score",
    "simulate_enclave_build",
    "simulate_hash_join",
    "validate_corpus",
]
