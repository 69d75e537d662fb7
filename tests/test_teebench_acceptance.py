"""Issue 4's TeeBench acceptance, on the bundled validation scenarios (validation/).

With a 93 MiB usable EPC (Core i7-8565U, SGX1) the CHT join's throughput falls by at least
5 times between an 88 MB and a 96 MB outer table when the inner table is 100 MB (the probed
hash table outgrows the EPC), and does not fall like that when the inner table is 16 MB
(the probes then reach only 16.5 MiB of the table). Measured (TeeBench, PVLDB 15(3) 2022,
Fig. 5): 12.07 -> 1.37 M records/s (8.8x) for S = 100 MB.
"""

from __future__ import annotations

from pathlib import Path

from epcsim.validation import simulate_hash_join

VALIDATION = Path(__file__).resolve().parents[1] / "validation"


def _drop(scenario: str, inner_mib: float) -> float:
    path = VALIDATION / scenario
    before = simulate_hash_join(path, 88, inner_mib, probe_sample_batches=64)
    after = simulate_hash_join(path, 96, inner_mib, probe_sample_batches=64)
    return before.throughput_mrec_s / after.throughput_mrec_s


def test_cliff_of_at_least_5x_with_the_100mb_inner_table() -> None:
    assert _drop("teebench_cht_s100.yaml", 100) >= 5.0


def test_no_cliff_with_the_16mb_inner_table() -> None:
    assert _drop("teebench_cht_s16.yaml", 16) < 1.5
