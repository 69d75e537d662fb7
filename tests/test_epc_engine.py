"""The compiled EPC engine against the plain-Python reference, limiting cases and overheads."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epcsim.epc import EpcEngine, replay, usable_epc_pages
from epcsim.epc.reference import ReferenceEpc, reference_replay, splitmix64
from epcsim.errors import EpcsimError

POLICIES = ["lru", "fifo", "clock", "linux", "random"]
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def protocol_runs(draw):
    """Enclave sizes, a capacity and a script of touch / reclaim steps."""
    sizes = draw(st.lists(st.integers(1, 40), min_size=1, max_size=3))
    capacity = draw(st.integers(1, 60))
    steps = draw(st.lists(
        st.one_of(
            st.tuples(st.just("touch"), st.integers(0, len(sizes) - 1),
                      st.lists(st.integers(0, 39), max_size=25)),
            st.tuples(st.just("reclaim"), st.integers(0, 20), st.just([])),
        ), max_size=40))
    return sizes, capacity, steps


@pytest.mark.parametrize("policy", POLICIES)
@SETTINGS
@given(run=protocol_runs(), seed=st.integers(0, 2**64 - 1), va=st.booleans())
def test_kernel_matches_reference_protocol(policy, run, seed, va):
    """touch / stop-at-no-free-page / reclaim, interleaved over enclaves: identical results."""
    sizes, capacity, steps = run
    fast = EpcEngine(capacity, sizes, policy, seed=seed, va_pages=va)
    ref = ReferenceEpc(capacity, sizes, policy, seed=seed, va_pages=va)
    for kind, enclave, pages in steps:
        if kind == "reclaim":
            assert fast.reclaim(enclave).tolist() == ref.reclaim(enclave).tolist()
        else:
            pages = [p % sizes[enclave] for p in pages]
            arr = np.asarray(pages, dtype=np.int64)
            start = 0
            while True:
                got = fast.touch(enclave, arr, start)
                assert got == ref.touch(enclave, pages, start)
                start = got[2]
                if start == len(pages) or fast.resident_pages() == 0:
                    break
                assert fast.free_pages == 0
                victims = fast.reclaim(fast.reclaim_batch_pages)
                assert victims.tolist() == ref.reclaim(ref.reclaim_batch_pages).tolist()
        assert fast.free_pages == ref.free_pages
        assert fast.needs_reclaim() == ref.needs_reclaim()
        for e in range(len(sizes)):
            assert fast.resident_pages(e) == ref.resident_pages(e)
    c = fast.counters()
    assert c["faults"] == ref.faults
    assert c["evictions"] == ref.evictions
    assert c["hits"] == ref.hits
    assert c["va_pages"] == ref.va_pages
    assert c["evicted_outstanding"] == ref.evicted_outstanding
    # conservation: every EPC page is free, resident or a VA page
    assert fast.free_pages + fast.resident_pages() + int(fast.va_pages.sum()) == capacity


@pytest.mark.parametrize("policy", POLICIES)
@SETTINGS
@given(trace=st.lists(st.integers(0, 30), min_size=1, max_size=300),
       capacity=st.integers(1, 40), seed=st.integers(0, 2**32), va=st.booleans())
def test_replay_matches_reference(policy, trace, capacity, seed, va):
    arr = np.asarray(trace, dtype=np.int64)
    try:
        want = reference_replay(trace, capacity, policy, enclave_pages=31, seed=seed,
                                va_pages=va)
    except EpcsimError:
        with pytest.raises(EpcsimError):
            replay(arr, capacity, policy, enclave_pages=31, seed=seed, va_pages=va)
        return
    got = replay(arr, capacity, policy, enclave_pages=31, seed=seed, va_pages=va)
    assert (got.hits, got.faults, got.evictions, got.va_pages) == (
        want["hits"], want["faults"], want["evictions"], want["va_pages"])


@pytest.mark.parametrize("policy", POLICIES)
def test_replay_linux_watermarks_on_larger_epc(policy):
    """A capacity above the 64-page watermark exercises ksgxd's batches for real."""
    rng = np.random.default_rng(3)
    trace = rng.integers(0, 400, 4000)
    want = reference_replay(trace.tolist(), 200, policy, enclave_pages=400, seed=9,
                            va_pages=True)
    got = replay(trace, 200, policy, enclave_pages=400, seed=9, va_pages=True)
    assert (got.hits, got.faults, got.evictions, got.va_pages) == (
        want["hits"], want["faults"], want["evictions"], want["va_pages"])


@pytest.mark.parametrize("policy", POLICIES)
def test_replay_is_chunk_invariant(policy):
    trace = np.random.default_rng(4).integers(0, 300, 5000)
    whole = replay(trace, 100, policy, enclave_pages=300, seed=1)
    parts = replay(np.array_split(trace, 9), 100, policy, enclave_pages=300, seed=1)
    assert (whole.hits, whole.faults, whole.evictions) == (parts.hits, parts.faults,
                                                           parts.evictions)


@pytest.mark.parametrize("policy", POLICIES)
def test_everything_fits_only_cold_misses(policy):
    trace = np.random.default_rng(5).integers(0, 500, 20_000)
    stats = replay(trace, 500 + 64, policy, enclave_pages=500)
    assert stats.faults == len(np.unique(trace))
    assert stats.evictions == 0


def test_touch_stops_when_no_page_is_free_and_never_evicts():
    eng = EpcEngine(3, [10], "linux")
    assert eng.touch(0, np.array([0, 1, 2, 3, 4])) == (0, 3, 3)
    assert eng.evictions.tolist() == [0]
    assert eng.free_pages == 0 and eng.needs_reclaim()
    # all three pages are young: one batch clears their bits, evicts nothing
    assert eng.reclaim(16).tolist() == [0]
    # now all are old: all three are evicted, the first victim's frame becomes a VA page
    assert eng.reclaim(16).tolist() == [3]
    assert eng.va_pages.tolist() == [1]
    assert eng.free_pages == 2
    assert eng.resident_pages() == 0


def test_linux_second_chance_order():
    """Young pages go to the tail with their bit cleared; old pages are evicted first."""
    eng = EpcEngine(4, [8], "linux", va_pages=False)
    eng.touch(0, np.array([0, 1, 2, 3]))
    eng.reclaim(4)  # clears every accessed bit, order stays 0 1 2 3
    eng.touch(0, np.array([1]))  # 1 is young again
    victims = eng.reclaim(2)  # scans 0 (old: evict), 1 (young: tail)
    assert victims.tolist() == [1]
    assert eng.touch(0, np.array([0, 2, 3, 1]))[:2] == (3, 1)


def test_va_pages_grow_with_evictions():
    eng = EpcEngine(600, [2000], "fifo")
    eng.touch(0, np.arange(600))
    eng.reclaim(513)
    assert eng.va_pages.tolist() == [2]  # 513 evicted at once need two VA pages
    assert eng.free_pages == 511
    assert eng.touch(0, np.arange(600, 1111))[1] == 511
    eng.reclaim(5)  # pages 513..517
    assert eng.touch(0, np.arange(5))[1] == 5  # reloading frees VA slots, VA pages stay
    assert eng.evicted_outstanding.tolist() == [513]
    assert eng.va_pages.tolist() == [2]


def test_per_enclave_accounting_with_shared_pool():
    eng = EpcEngine(10, [20, 20], "lru", va_pages=False)
    eng.touch(0, np.arange(6))
    eng.touch(1, np.arange(4))
    assert eng.reclaim(5).tolist() == [5, 0]  # enclave 0's pages are the least recent
    assert eng.resident_pages(0) == 1 and eng.resident_pages(1) == 4
    assert eng.faults.tolist() == [6, 4]


def test_bad_input():
    with pytest.raises(EpcsimError, match="policy"):
        EpcEngine(10, [10], "optimal")
    with pytest.raises(EpcsimError):
        EpcEngine(0, [10])
    with pytest.raises(EpcsimError):
        EpcEngine(10, [])
    eng = EpcEngine(10, [10], "lru")
    with pytest.raises(EpcsimError, match="outside"):
        eng.touch(0, np.array([1, 10]))
    with pytest.raises(EpcsimError, match="outside"):
        eng.touch(0, np.array([-1]))
    with pytest.raises(EpcsimError, match="no enclave"):
        eng.touch(1, np.array([0]))
    with pytest.raises(EpcsimError, match="outside"):
        replay(np.array([0, 5]), 3, "lru", enclave_pages=4)


def test_usable_epc_pages():
    assert usable_epc_pages(93 * 2**20) == 23808
    # two enclaves with 4 and 8 threads: 2 SECS + 12 * (1 TCS + 2 SSA)
    assert usable_epc_pages(93 * 2**20, [(4,), (8,)]) == 23808 - 2 - 36
    assert usable_epc_pages(93 * 2**20, [(1,)], evicted_pages=513) == 23808 - 4 - 2
    assert usable_epc_pages(4096, [(8,)]) == 0
    with pytest.raises(EpcsimError):
        usable_epc_pages(-1)


def test_splitmix64_known_values():
    # first outputs of splitmix64 seeded with 0 (Vigna's reference implementation)
    state, out = splitmix64(0)
    assert out == 0xE220A8397B1DCDAF
    _, out2 = splitmix64(state)
    assert out2 == 0x6E789E6AA1B965F4


def test_importing_epc_compiles_nothing():
    code = ("import epcsim.epc, epcsim.epc.mrc, epcsim.epc.llc\n"
            "from epcsim.epc import _kernels as K\n"
            "from epcsim.epc import mrc\n"
            "ks = [K.touch_kernel, K.reclaim_kernel, K.replay_kernel, mrc._mrc_kernel]\n"
            "assert all(k.signatures == [] for k in ks), [k.signatures for k in ks]\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_isgx_takes_each_batch_from_one_enclave_round_robin() -> None:
    """Two enclaves of 100 pages loaded A then B, then batches until 64 pages are evicted.
    Global list (upstream): 12.5 batches give every page its second chance, then the oldest
    go first: 8 + 16 + 16 + 16 + 16 = 72, all from A. isgx: batches alternate A, B, A, ...
    scanning 16 pages of one enclave each: per enclave 6 batches clear 96 pages, the 7th
    evicts 12 and the next ones 16, so A: 12 + 16 + 16 = 44 and B: 12 + 16 = 28."""
    def evictions(per_enclave: bool) -> list[int]:
        eng = EpcEngine(1_000, [100, 100], "linux", va_pages=False,
                        victims_per_enclave=per_enclave)
        eng.touch(0, np.arange(100, dtype=np.int64))
        eng.touch(1, np.arange(100, dtype=np.int64))
        total = np.zeros(2, dtype=np.int64)
        while total.sum() < 64:
            v = eng.reclaim(16)
            assert per_enclave is False or np.count_nonzero(v) <= 1  # one enclave per batch
            total += v
        return total.tolist()

    assert evictions(False) == [72, 0]
    assert evictions(True) == [44, 28]
    # a single enclave: both rules are the same list
    one = [EpcEngine(50, [80], "linux", victims_per_enclave=f) for f in (False, True)]
    for eng in one:
        eng.touch(0, np.arange(50, dtype=np.int64))
    assert one[0].reclaim(16).tolist() == one[1].reclaim(16).tolist()
