"""Trace generators, page-count samplers and trace import."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epcsim.errors import EpcsimError
from epcsim.traces import (
    build_alias_table,
    dense_pages,
    load_page_trace,
    make_count_sampler,
    make_pattern,
    read_lackey,
    zipf_probabilities,
)

FIXTURES = Path(__file__).parent / "fixtures"


def alias_distribution(prob: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """The exact distribution an alias table samples from."""
    n = prob.size
    out = prob.copy()
    np.add.at(out, alias, 1.0 - prob)
    return out / n


@settings(max_examples=60, deadline=None)
@given(weights=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200)
       .filter(lambda w: sum(w) > 0))
def test_alias_table_is_exact(weights):
    p = np.asarray(weights) / np.sum(weights)
    prob, alias = build_alias_table(p)
    assert np.all((prob >= 0) & (prob <= 1))
    np.testing.assert_allclose(alias_distribution(prob, alias), p, atol=1e-12)


@pytest.mark.parametrize(("n", "s"), [(1, 0.99), (10, 0.99), (50_000, 0.99), (1000, 2.5),
                                      (100, 0.0)])
def test_zipf_alias_exact_including_head(n, s):
    p = zipf_probabilities(n, s)
    prob, alias = build_alias_table(p)
    got = alias_distribution(prob, alias)
    np.testing.assert_allclose(got, p, rtol=1e-9, atol=1e-15)
    assert got[0] == pytest.approx(p[0], rel=1e-12)  # the head is exact, not approximated


def test_zipf_samples_follow_the_distribution():
    n, draws = 200, 400_000
    pages = make_pattern({"kind": "zipf", "s": 0.99}, n, np.random.default_rng(1)).take(draws)
    assert pages.min() >= 0 and pages.max() < n
    counts = np.bincount(pages, minlength=n)
    expected = zipf_probabilities(n, 0.99) * draws
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    assert chi2 < n + 6 * np.sqrt(2 * n)  # chi-square with n-1 dof, far in the tail
    assert counts[0] == pytest.approx(expected[0], rel=0.02)


def test_uniform_hotset_shares():
    rng = np.random.default_rng(2)
    hot = make_pattern({"kind": "hotset", "hot_pages_fraction": 0.1,
                        "hot_touches_fraction": 0.9}, 1000, rng).take(200_000)
    assert np.mean(hot < 100) == pytest.approx(0.9, abs=0.005)
    assert set(np.unique(hot)) == set(range(1000))
    uni = make_pattern({"kind": "uniform"}, 7, rng).take(70_000)
    assert np.bincount(uni, minlength=7) / 70_000 == pytest.approx(np.full(7, 1 / 7), abs=0.01)


def test_sequential_and_strided_wrap_and_cover():
    rng = np.random.default_rng(0)
    seq = make_pattern({"kind": "sequential"}, 5, rng)
    assert seq.take(3).tolist() == [0, 1, 2]
    assert seq.take(4).tolist() == [3, 4, 0, 1]
    strided = make_pattern({"kind": "strided", "stride_pages": 3}, 10, rng).take(20)
    assert strided[:10].tolist() == [0, 3, 6, 9, 1, 4, 7, 2, 5, 8]
    assert strided[10:].tolist() == strided[:10].tolist()
    big = make_pattern({"kind": "strided", "stride_pages": 64}, 1000, rng).take(1000)
    assert sorted(big.tolist()) == list(range(1000))


def test_shifting_window_moves():
    pat = make_pattern({"kind": "shifting", "window_fraction": 0.1, "shift_pages": 50,
                        "shift_every_touches": 1000}, 1000, np.random.default_rng(3))
    first = pat.take(1000)
    second = pat.take(1000)
    assert first.min() >= 0 and first.max() < 100
    assert second.min() >= 50 and second.max() < 150
    pat.take(1000 * 17)
    wrapped = pat.take(1000)  # window at 950..1049 -> wraps to 0..49
    assert set(np.unique(wrapped)) <= set(range(950, 1000)) | set(range(50))


def test_mixture_weights_and_component_state():
    pat = make_pattern({"kind": "mixture", "components": [
        {"weight": 3, "pattern": {"kind": "sequential"}},
        {"weight": 1, "pattern": {"kind": "hotset", "hot_pages_fraction": 0.01,
                                  "hot_touches_fraction": 1.0}}]}, 10_000,
        np.random.default_rng(4))
    pages = pat.take(40_000)
    scan = pages[pages >= 100]
    assert scan.size == pytest.approx(30_000, rel=0.02)
    # the scan continues across its share of touches: +1 steps except where it wraps
    steps = np.diff(scan)
    assert np.sum(steps != 1) == np.sum(steps < 0) <= 3


@pytest.mark.parametrize("spec", [
    {"kind": "uniform"}, {"kind": "zipf", "s": 1.1}, {"kind": "sequential"},
    {"kind": "hotset", "hot_pages_fraction": 0.2, "hot_touches_fraction": 0.8},
    {"kind": "shifting", "window_fraction": 0.3, "shift_pages": 7, "shift_every_touches": 99},
])
def test_streams_are_reproducible_and_independent_of_take_sizes(spec):
    a = make_pattern(spec, 500, np.random.default_rng(9), chunk_touches=1000).take(5000)
    pat = make_pattern(spec, 500, np.random.default_rng(9), chunk_touches=1000)
    b = np.concatenate([pat.take(k) for k in (1, 17, 999, 1000, 2983)])
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.int64 and a.min() >= 0 and a.max() < 500


def test_trace_pattern_replays_file(tmp_path):
    np.save(tmp_path / "p.npy", np.array([3, 1, 2]))
    pat = make_pattern({"kind": "trace", "file": "p.npy"}, 4, np.random.default_rng(0),
                       base_dir=tmp_path)
    assert pat.take(7).tolist() == [3, 1, 2, 3, 1, 2, 3]
    sparse = make_pattern({"kind": "trace", "file": str(tmp_path / "p.npy")}, 3,
                          np.random.default_rng(0))
    assert sparse.take(4).tolist() == [0, 1, 2, 0]  # renumbered in first-touch order
    with pytest.raises(EpcsimError, match="distinct pages"):
        make_pattern({"kind": "trace", "file": str(tmp_path / "p.npy")}, 2,
                     np.random.default_rng(0))


@pytest.mark.parametrize(("spec", "match"), [
    ({"kind": "zipfian"}, "unknown pattern kind"),
    ({"kind": "zipf", "s": -1}, "expected a value"),
    ({"kind": "hotset", "hot_pages_fraction": 0.1}, "needs"),
    ({"kind": "uniform", "s": 1}, "unknown key"),
    ({"kind": "strided", "stride_pages": 2.5}, "whole"),
    ({"kind": "mixture", "components": []}, "non-empty"),
    ({"kind": "mixture", "components": [{"weight": 0, "pattern": {"kind": "uniform"}}]},
     "must not all be 0"),
    ("uniform", "mapping"),
])
def test_bad_pattern_specs(spec, match):
    with pytest.raises(EpcsimError, match=match):
        make_pattern(spec, 100, np.random.default_rng(0))


def test_count_samplers():
    rng = np.random.default_rng(5)
    assert make_count_sampler(7, None).take(3).tolist() == [7, 7, 7]
    assert make_count_sampler({"distribution": "fixed", "mean": 4}, None).take(2).tolist() \
        == [4, 4]
    pois = make_count_sampler({"distribution": "poisson", "mean": 6}, rng).take(100_000)
    assert pois.mean() == pytest.approx(6, rel=0.02)
    geo = make_count_sampler({"distribution": "geometric", "mean": 4}, rng).take(100_000)
    assert geo.min() >= 1 and geo.mean() == pytest.approx(4, rel=0.03)
    uni = make_count_sampler({"distribution": "uniform", "min": 2, "max": 5}, rng).take(10_000)
    assert set(np.unique(uni)) == {2, 3, 4, 5}
    trunc = make_count_sampler({"distribution": "poisson", "mean": 10, "min": 8, "max": 12},
                               rng).take(10_000)
    assert trunc.min() >= 8 and trunc.max() <= 12
    # truncation redraws (keeps the shape inside the bounds) instead of clipping
    assert np.mean(trunc == 8) < np.mean(trunc == 10)
    for bad in (-1, {"distribution": "zeta", "mean": 2}, {"distribution": "uniform", "min": 3},
                {"distribution": "geometric", "mean": 0.5}, {"mean": 2.5}, "many",
                {"distribution": "poisson", "mean": 3, "max": 1, "min": 2}):
        with pytest.raises(EpcsimError):
            make_count_sampler(bad, rng)


# -- import -----------------------------------------------------------------------------------
def test_load_npy_npz_csv(tmp_path):
    np.save(tmp_path / "a.npy", np.array([5, 6, 5], dtype=np.uint32))
    assert load_page_trace(tmp_path / "a.npy").tolist() == [5, 6, 5]
    assert load_page_trace(tmp_path / "a.npy", values="addresses").tolist() == [0, 0, 0]
    np.savez(tmp_path / "b.npz", addresses=np.array([4096, 8191, 12288]))
    assert load_page_trace(tmp_path / "b.npz").tolist() == [1, 1, 3]
    np.savez(tmp_path / "c.npz", whatever=np.array([1.0, 2.0]))
    assert load_page_trace(tmp_path / "c.npz").tolist() == [1, 2]
    (tmp_path / "d.csv").write_text("address\n0x1000\n# comment\n\n8192\n")
    assert load_page_trace(tmp_path / "d.csv").tolist() == [1, 2]
    (tmp_path / "e.csv").write_text("page\n7\n8\n")
    assert load_page_trace(tmp_path / "e.csv").tolist() == [7, 8]


@pytest.mark.parametrize(("name", "content", "match"), [
    ("empty.npy", lambda p: np.save(p, np.array([], dtype=np.int64)), "empty"),
    ("neg.npy", lambda p: np.save(p, np.array([1, -3])), ">= 0"),
    ("frac.npy", lambda p: np.save(p, np.array([1.5])), "whole"),
    ("str.npy", lambda p: np.save(p, np.array(["a"])), "dtype"),
    ("bool.npy", lambda p: np.save(p, np.array([True])), "dtype"),
    ("obj.npy", lambda p: np.save(p, np.array([{}], dtype=object), allow_pickle=True),
     "readable"),
    ("2d.npy", lambda p: np.save(p, np.zeros((3, 3), dtype=np.int64)), "1-D"),
    ("trunc.npy", lambda p: p.write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr': '<i8', "),
     "readable"),
    ("corrupt.npz", lambda p: p.write_bytes(b"PK\x03\x04garbage"), "readable"),
    ("two.npz", lambda p: np.savez(p, a=np.arange(2), b=np.arange(2)), "named"),
    ("bad.csv", lambda p: p.write_text("1\n2\nthree\n"), ":3:"),
    ("neg.csv", lambda p: p.write_text("1\n-2\n"), ":2:"),
    ("empty.csv", lambda p: p.write_text("page\n"), "empty"),
    ("bin.csv", lambda p: p.write_bytes(b"\xff\xfe\x00"), "not a text"),
    ("trace.parquet", lambda p: p.write_text("x"), "unknown trace format"),
])
def test_bad_trace_files(tmp_path, name, content, match):
    path = tmp_path / name
    content(path)
    with pytest.raises(EpcsimError, match=match):
        load_page_trace(path)


def test_missing_file(tmp_path):
    with pytest.raises(EpcsimError, match="not found"):
        load_page_trace(tmp_path / "nope.npy")
    with pytest.raises(EpcsimError, match="not found"):
        read_lackey(tmp_path / "nope.lackey")


def test_lackey_fixture():
    """A real lackey log (the first 2000 lines of `valgrind --tool=lackey --trace-mem=yes
    /bin/true`)."""
    pages = read_lackey(FIXTURES / "true_head.lackey")
    with_i = read_lackey(FIXTURES / "true_head.lackey", include_instructions=True)
    assert 0 < pages.size < with_i.size
    lines = [ln for ln in (FIXTURES / "true_head.lackey").read_text().splitlines()
             if ln.startswith((" L", " S", " M"))]
    first = int(lines[0].split()[1].split(",")[0], 16)
    assert pages[0] == first >> 12
    assert np.array_equal(load_page_trace(FIXTURES / "true_head.lackey"), pages)


def test_lackey_page_crossing_and_errors(tmp_path):
    p = tmp_path / "x.lackey"
    p.write_text("==1== header\nI  00400000,4\n L 00000ffc,8\n S 00002000,4\n M 00003000,1\n")
    assert read_lackey(p).tolist() == [0, 1, 2, 3]
    assert read_lackey(p, include_instructions=True).tolist() == [0x400, 0, 1, 2, 3]
    p.write_text(" L 00001000,8\n L 0000")  # truncated last line
    with pytest.raises(EpcsimError, match=":2:"):
        read_lackey(p)
    p.write_text(" L zz,8\n")
    with pytest.raises(EpcsimError, match=":1:"):
        read_lackey(p)
    p.write_text("==1== only valgrind chatter\n")
    with pytest.raises(EpcsimError, match="no memory accesses"):
        read_lackey(p)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
def test_real_lackey_trace(tmp_path):
    log = tmp_path / "true.lackey"
    subprocess.run(["valgrind", "--tool=lackey", "--trace-mem=yes", f"--log-file={log}",
                    "/bin/true"], check=True, timeout=60, capture_output=True)
    pages = read_lackey(log)
    offsets, numbers = dense_pages(pages)
    assert pages.size > 1000
    assert offsets.max() + 1 == numbers.size == np.unique(pages).size
    np.testing.assert_array_equal(numbers[offsets], pages)


def test_dense_pages_first_touch_order():
    offsets, numbers = dense_pages(np.array([900, 5, 900, 7, 5]))
    assert offsets.tolist() == [0, 1, 0, 2, 1]
    assert numbers.tolist() == [900, 5, 7]
