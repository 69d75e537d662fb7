"""Memory-stage benchmarks: EPC policy replay, exact LRU MRC, Zipf generation, streaming.

Run: ``.venv/bin/python -m pytest -q -m benchmark benchmarks/bench_memory.py -s -p no:xdist``
(``EPCSIM_BENCH_STREAM_ACCESSES=1000000000`` for the full 1e9-access streaming run).

Every figure is the median of ``REPEATS`` runs, measured in this one run next to its baselines:
the plain-Python reference policies (on a prefix of the trace) and libCacheSim's C trace
replay (``process_trace`` over an oracleGeneral binary file). Both wall-clock and CPU-time
(``time.process_time``) rates are printed: on a shared machine the CPU-time rates are the
steadier ones. The figures go to docs/performance.md ("Memory stage").
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from epcsim.epc import replay
from epcsim.epc.mrc import lru_miss_ratio_curve
from epcsim.epc.reference import reference_replay
from epcsim.traces import make_pattern

pytestmark = pytest.mark.benchmark

ACCESSES = int(float(os.environ.get("EPCSIM_BENCH_ACCESSES", "1e7")))
REF_ACCESSES = int(float(os.environ.get("EPCSIM_BENCH_REF_ACCESSES", "2e5")))
LCS_ACCESSES = int(float(os.environ.get("EPCSIM_BENCH_LCS_ACCESSES", "2e6")))
STREAM_ACCESSES = int(float(os.environ.get("EPCSIM_BENCH_STREAM_ACCESSES", "1e8")))
REPEATS = int(os.environ.get("EPCSIM_BENCH_REPEATS", "5"))
N_PAGES = 50_000
EPC_PAGES = 24_000
WORKLOADS = {"uniform": {"kind": "uniform"}, "zipf0.99": {"kind": "zipf", "s": 0.99}}


def _timed(fn, repeats: int = REPEATS) -> tuple[float, float, object]:
    """Median wall and CPU seconds of ``fn()`` over ``repeats`` runs, and its last result."""
    walls, cpus = [], []
    result = None
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        cpus.append(time.process_time() - c)
        walls.append(time.perf_counter() - w)
    return statistics.median(walls), statistics.median(cpus), result


def _libcachesim_replay(cls_name: str, path: Path) -> float:
    import libcachesim

    reader = libcachesim.TraceReader(str(path), libcachesim.TraceType.ORACLE_GENERAL_TRACE)
    cache = getattr(libcachesim, cls_name)(EPC_PAGES)
    return float(cache.process_trace(reader)[0])


def _write_oracle(trace: np.ndarray, path: Path) -> None:
    rec = np.zeros(trace.size, dtype=[("t", "<u4"), ("id", "<u8"), ("size", "<u4"),
                                      ("next", "<i8")])
    rec["t"] = np.arange(trace.size)
    rec["id"] = trace + 1
    rec["size"] = 1
    rec["next"] = -1
    rec.tofile(path)


def _line(name: str, n: int, wall: float, cpu: float) -> str:
    return f"  {name:<34} {n / wall / 1e6:9.2f} M/s wall {n / cpu / 1e6:9.2f} M/s cpu"


def test_policy_replay_and_mrc_rates():
    libcachesim = pytest.importorskip("libcachesim")
    del libcachesim
    print(f"\nMemory stage: {ACCESSES:.0e} accesses, {N_PAGES} pages, EPC {EPC_PAGES} pages, "
          f"median of {REPEATS}; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs")
    summary: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for wname, spec in WORKLOADS.items():
            trace = make_pattern(spec, N_PAGES, np.random.default_rng(42)).take(ACCESSES)
            oracle = Path(tmp) / f"{wname}.oracleGeneral"
            _write_oracle(trace[:LCS_ACCESSES], oracle)
            print(f" workload {wname}:")
            rates: dict[str, float] = {}
            for policy, lcs in (("lru", "LRU"), ("clock", "Clock"), ("linux", None),
                                ("fifo", "FIFO"), ("random", None)):
                replay(trace[:1000], EPC_PAGES, policy, enclave_pages=N_PAGES)  # compile
                wall, cpu, stats = _timed(lambda p=policy, t=trace: replay(
                    t, EPC_PAGES, p, enclave_pages=N_PAGES))
                rates[f"{policy}_wall"] = ACCESSES / wall
                rates[f"{policy}_cpu"] = ACCESSES / cpu
                print(_line(f"epcsim {policy}", ACCESSES, wall, cpu)
                      + f"  miss ratio {stats.miss_ratio:.4f}")
                prefix = trace[:REF_ACCESSES].tolist()
                rwall, rcpu, _ = _timed(lambda p=policy, t=prefix: reference_replay(
                    t, EPC_PAGES, p, enclave_pages=N_PAGES), repeats=3)
                rates[f"{policy}_ref_wall"] = REF_ACCESSES / rwall
                rates[f"{policy}_ref_cpu"] = REF_ACCESSES / rcpu
                print(_line(f"  plain-Python reference ({REF_ACCESSES:.0e})", REF_ACCESSES,
                            rwall, rcpu)
                      + f"  speed-up x{rwall / wall * ACCESSES / REF_ACCESSES:.0f} wall, "
                      f"x{rcpu / cpu * ACCESSES / REF_ACCESSES:.0f} cpu")
                if lcs is not None:
                    lwall, lcpu, lmiss = _timed(lambda c=lcs, o=oracle: _libcachesim_replay(
                        c, o), repeats=3)
                    ours = replay(trace[:LCS_ACCESSES], EPC_PAGES, policy,
                                  enclave_pages=N_PAGES).miss_ratio
                    assert lmiss == pytest.approx(ours, abs=1e-12)
                    rates[f"{policy}_lcs_wall"] = LCS_ACCESSES / lwall
                    rates[f"{policy}_lcs_cpu"] = LCS_ACCESSES / lcpu
                    print(_line(f"  libCacheSim {lcs} C replay ({LCS_ACCESSES:.0e})",
                                LCS_ACCESSES, lwall, lcpu)
                          + f"  speed-up x{lwall / wall * ACCESSES / LCS_ACCESSES:.1f} wall, "
                          f"x{lcpu / cpu * ACCESSES / LCS_ACCESSES:.1f} cpu")
            lru_miss_ratio_curve(trace[:1000], N_PAGES)
            wall, cpu, _ = _timed(lambda t=trace: lru_miss_ratio_curve(t, N_PAGES), repeats=3)
            rates["mrc_wall"] = ACCESSES / wall
            rates["mrc_cpu"] = ACCESSES / cpu
            print(_line("exact all-sizes LRU MRC", ACCESSES, wall, cpu))
            summary[wname] = rates
            oracle.unlink()
    rng = np.random.default_rng(1)
    make_pattern({"kind": "zipf", "s": 0.99}, N_PAGES, rng).take(1000)
    wall, cpu, _ = _timed(lambda: make_pattern({"kind": "zipf", "s": 0.99}, N_PAGES,
                                               rng).take(ACCESSES))
    summary["zipf_generation"] = {"wall": ACCESSES / wall, "cpu": ACCESSES / cpu}
    print(_line("bounded Zipf(0.99) generation", ACCESSES, wall, cpu))
    print("JSON " + json.dumps(summary))


_STREAM_CHILD = r"""
import json, resource, sys, time
import numpy as np
from epcsim.epc import replay
from epcsim.epc.mrc import LruStackDistances
from epcsim.traces import make_pattern
n, pages, epc, chunk = int(sys.argv[1]), 50_000, 24_000, 1 << 22
def chunks():
    stream = make_pattern({"kind": "zipf", "s": 0.99}, pages, np.random.default_rng(7))
    return stream.chunks(n, chunk)
t = time.perf_counter()
stats = replay(chunks(), epc, "linux", enclave_pages=pages)
t_replay = time.perf_counter() - t
t = time.perf_counter()
acc = LruStackDistances(pages)
for c in chunks():
    acc.update(c)
caps, mr = acc.curve()
t_mrc = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"accesses": n, "linux_miss_ratio": stats.miss_ratio,
                  "lru_miss_ratio_at_epc": float(mr[epc]), "replay_s": t_replay,
                  "mrc_s": t_mrc, "peak_rss_bytes": rss}))
"""


def test_streaming_peak_memory():
    """Generate + replay (linux) and generate + exact MRC over chunks; peak RSS of a child."""
    out = subprocess.run([sys.executable, "-c", _STREAM_CHILD, str(STREAM_ACCESSES)],
                         check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nstreaming {STREAM_ACCESSES:.0e} Zipf(0.99) accesses in 4 Mi-access chunks: "
          f"replay (generation included) {result['replay_s']:.1f} s, MRC "
          f"{result['mrc_s']:.1f} s, peak RSS {result['peak_rss_bytes'] / 2**20:.0f} MiB")
    print("JSON " + json.dumps(result))
    assert result["peak_rss_bytes"] < 2 * 2**30
