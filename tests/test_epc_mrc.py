"""Exact LRU miss-ratio curves, the knee, the LLC model, and libCacheSim cross-checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epcsim.epc import replay
from epcsim.epc.llc import LlcModel
from epcsim.epc.mrc import (
    LruStackDistances,
    capacity_for_miss_ratio,
    knee,
    lru_miss_ratio_curve,
)
from epcsim.errors import EpcsimError
from epcsim.traces import make_pattern


def naive_lru_misses(trace: list[int], capacity: int) -> int:
    """Textbook LRU stack, misses counted directly (Mattson's stack, no tricks)."""
    stack: list[int] = []
    misses = 0
    for p in trace:
        if p in stack:
            depth = stack.index(p) + 1
            if depth > capacity:
                misses += 1
            stack.remove(p)
        else:
            misses += 1
        stack.insert(0, p)
    return misses


@settings(max_examples=60, deadline=None)
@given(trace=st.lists(st.integers(0, 40), min_size=1, max_size=400))
def test_mrc_matches_naive_stack(trace):
    caps, mr = lru_miss_ratio_curve(np.asarray(trace))
    assert caps[-1] == len(set(trace))
    for c in caps:
        assert mr[c] * len(trace) == pytest.approx(naive_lru_misses(trace, int(c)), abs=1e-9)
    assert np.all(np.diff(mr) <= 1e-15)  # LRU has no Belady anomaly


def test_mrc_window_compaction_and_chunks():
    """A long trace over few pages forces many compactions of the position window."""
    trace = np.random.default_rng(2).integers(0, 300, 30_000)
    _caps, mr = lru_miss_ratio_curve(trace)
    acc = LruStackDistances(300)
    for part in np.array_split(trace, 13):
        acc.update(part)
    np.testing.assert_array_equal(acc.curve()[1], mr)
    for c in (1, 17, 150, 299, 300):
        assert replay(trace, c, "lru", enclave_pages=300).faults == round(mr[c] * trace.size)


def test_knee_definitions():
    rng = np.random.default_rng(1)
    uniform = rng.integers(0, 1000, 100_000)
    caps, mr = lru_miss_ratio_curve(uniform)
    assert knee(caps, mr) == pytest.approx(1000, abs=30)
    hot = make_pattern({"kind": "hotset", "hot_pages_fraction": 0.1,
                        "hot_touches_fraction": 0.99}, 10_000, rng).take(300_000)
    caps, mr = lru_miss_ratio_curve(hot, 10_000)
    k = knee(caps, mr)
    assert 1000 <= k <= 1300  # the hot set (plus the cold pages that pass through LRU)
    assert knee(np.array([0, 1]), np.array([1.0, 1.0])) == 0
    assert capacity_for_miss_ratio(caps, mr, 0.5) is not None
    assert capacity_for_miss_ratio(caps, mr, -1) is None


def test_mrc_bad_input():
    with pytest.raises(EpcsimError, match="empty"):
        lru_miss_ratio_curve(np.array([], dtype=np.int64))
    with pytest.raises(EpcsimError, match="negative"):
        lru_miss_ratio_curve(np.array([1, -2]))
    with pytest.raises(EpcsimError, match="outside"):
        lru_miss_ratio_curve(np.array([1, 5]), n_pages=3)
    with pytest.raises(EpcsimError):
        LruStackDistances(0)


def test_llc_model():
    llc = LlcModel(llc_bytes=64 * 512, enclave_pages=[1000, 1000], cache_lines_per_page=8)
    assert llc.capacity_footprints == 64
    assert llc.touch(0, np.arange(64)) == (0, 64)
    assert llc.touch(0, np.arange(64)) == (64, 0)
    assert llc.touch(1, np.arange(32)) == (0, 32)  # shared: evicts enclave 0's oldest
    assert llc.touch(0, np.arange(32, 64)) == (32, 0)  # the 32 most recent of enclave 0
    assert llc.miss_fraction(0, np.arange(32)) == 1.0  # the 32 it evicted
    with pytest.raises(EpcsimError):
        LlcModel(0, [10])


# -- libCacheSim (test-only dependency): the same miss ratios from an independent C code ----
libcachesim = pytest.importorskip("libcachesim")


def _lcs_miss_ratio(trace: np.ndarray, capacity: int, cls, tmp_path) -> float:
    """Replay through libCacheSim's C loop, from an oracleGeneral binary trace (obj size 1)."""
    rec = np.zeros(trace.size, dtype=[("t", "<u4"), ("id", "<u8"), ("size", "<u4"),
                                      ("next", "<i8")])
    rec["t"] = np.arange(trace.size)
    rec["id"] = trace + 1
    rec["size"] = 1
    rec["next"] = -1
    path = tmp_path / "trace.oracleGeneral"
    rec.tofile(path)
    reader = libcachesim.TraceReader(str(path), libcachesim.TraceType.ORACLE_GENERAL_TRACE)
    obj_miss_ratio, _ = cls(capacity).process_trace(reader)
    return float(obj_miss_ratio)


@pytest.mark.parametrize(("policy", "cls_name"), [("lru", "LRU"), ("fifo", "FIFO"),
                                                  ("clock", "Clock")])
@pytest.mark.parametrize("kind", ["uniform", "zipf"])
def test_matches_libcachesim(policy, cls_name, kind, tmp_path):
    """libCacheSim's Clock (1-bit counter, objects inserted with frequency 0, a hit sets it)
    is classic CLOCK with clear-on-load reference bits: exactly our ``clock``."""
    spec = {"kind": kind, "s": 0.99} if kind == "zipf" else {"kind": kind}
    trace = make_pattern(spec, 2000, np.random.default_rng(7)).take(50_000)
    for capacity in (50, 700, 1900):
        ours = replay(trace, capacity, policy, enclave_pages=2000).miss_ratio
        theirs = _lcs_miss_ratio(trace, capacity, getattr(libcachesim, cls_name), tmp_path)
        assert ours == pytest.approx(theirs, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 30), min_size=1, max_size=3),
       footprints=st.integers(1, 40),
       steps=st.lists(st.tuples(st.integers(0, 2), st.lists(st.integers(0, 29), max_size=20)),
                      max_size=30))
def test_llc_model_matches_reference_lru_over_enclaves(sizes, footprints, steps):
    """The LLC's multi-enclave replay (eviction on demand across enclaves) == reference LRU."""
    from epcsim.epc.reference import ReferenceEpc

    llc = LlcModel(footprints * 8 * 64, sizes, cache_lines_per_page=8)
    ref = ReferenceEpc(footprints, sizes, "lru", va_pages=False)
    for enclave, pages in steps:
        enclave %= len(sizes)
        pages = [p % sizes[enclave] for p in pages]
        hits = misses = 0
        start = 0
        while start < len(pages):
            h, m, start = ref.touch(enclave, pages, start)
            hits += h
            misses += m
            if start < len(pages):
                ref.reclaim(1)
        assert llc.touch(enclave, np.asarray(pages, dtype=np.int64)) == (hits, misses)
