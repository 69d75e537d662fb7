"""Workload traces: synthetic page-access patterns, per-operation counts and trace import.

numpy only (no SimPy, no numba): everything here turns a spec and an explicit
``numpy.random.Generator`` into int64 arrays of page offsets, generated in chunks.
"""

from epcsim.traces.counts import CountSampler, make_count_sampler
from epcsim.traces.io import dense_pages, load_page_trace, read_arrival_times, read_lackey
from epcsim.traces.patterns import (
    PageStream,
    build_alias_table,
    make_pattern,
    zipf_probabilities,
)

__all__ = [
    "CountSampler",
    "PageStream",
    "build_alias_table",
    "dense_pages",
    "load_page_trace",
    "make_count_sampler",
    "make_pattern",
    "read_arrival_times",
    "read_lackey",
    "zipf_probabilities",
]
