"""Random streams of a run: fixed stream ids, derived from one root seed.

Every generator of a run is ``np.random.default_rng(np.random.SeedSequence(seed,
spawn_key=(replication, stream_id)))`` with a ``stream_id`` from the table below. No stream
depends on the VM, so every VM size sees the same arrivals, mix, compute draws and page
traces (common random numbers). There is no global random state.

==============================  =========================================================
stream_id                       what it draws
==============================  =========================================================
``ARRIVALS + phase``            open-loop Poisson inter-arrival gaps of that phase
``MIX + phase``                 open-loop operation types of that phase (one per arrival)
``THINK + phase*65536 + c``     closed-loop client ``c``'s think times in that phase
``CLIENT_MIX + phase*65536+c``  closed-loop client ``c``'s operation types in that phase
``COMPUTE + op``                compute-time multipliers of operation type ``op``
``HOST_TIME + op``              OCALL host-time multipliers of ``op`` (one per OCALL)
``PAGES + op*256 + access``     page stream of memory access ``access`` of ``op``
``COUNTS + op*256 + access``    per-operation page counts of that access
``TIMER``                       Poisson timer-interrupt counts (``timer_interrupt_mode:
                                poisson``)
``EPC``                         the EPC engine's seed (its ``random`` policy)
``WAKE + 2*enclave + side``     switchless worker wake-up latencies (side 0 OCALL, 1 ECALL)
==============================  =========================================================

Draws happen in arrival order (open loop: VM-independent) except the timer stream, which is
drawn as operations run. In a closed loop, arrival order itself depends on the VM, so only
each client's think times and mix are VM-independent; page traces are the same sequences,
handed to operations in arrival order.
"""

from __future__ import annotations

import numpy as np

ARRIVALS = 1_000
MIX = 2_000
TIMER = 3_000
EPC = 4_000
WAKE = 5_000
THINK = 1 << 24
CLIENT_MIX = 2 << 24
COMPUTE = 3 << 24
PAGES = 4 << 24
COUNTS = 5 << 24
HOST_TIME = 6 << 24


def rng_for(seed: int, replication: int, stream_id: int) -> np.random.Generator:
    """The generator of one stream of one replication."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(replication), int(stream_id)))
    return np.random.default_rng(ss)


def seed_int(seed: int, replication: int, stream_id: int) -> int:
    """A 63-bit integer seed derived the same way (for components that take an int)."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(replication), int(stream_id)))
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
