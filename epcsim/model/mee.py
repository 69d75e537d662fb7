"""The SGX1 Memory Encryption Engine: read and write miss penalties and its bandwidth limit.

What it models (sources and confidence in docs/model.md, "Memory time", and
``epcsim/reference/data/cost_parameters.csv``):

- **Read and write misses.** Every LLC miss to the EPC goes through the MEE (Gueron, "A
  Memory Encryption Engine Suitable for General Purpose Processors", ePrint 2016/204): a read
  decrypts the line and verifies its MAC and version up the integrity tree to the first
  cached node (``mee_miss_penalty_ns``); a written line is also written back, which encrypts
  it, computes a new MAC and increments the versions up the tree
  (``mee_write_penalty_ns`` on top of the read, which a write miss pays too: the line is read
  for ownership first). With ``write_fraction`` w of an access's misses being writes, each
  miss pays ``mee_miss_penalty_ns + w x mee_write_penalty_ns``.
- **Bandwidth.** A miss moves a 64-byte line through the MEE, a write miss twice (the read for
  ownership and the write-back): ``64 x (1 + w)`` bytes. The MEE's throughput
  (``mee_bandwidth_bytes_per_s``, 0 = unlimited) is shared by every thread of the VM. Fluid model,
  no SimPy event: a segment with memory time M that moves B bytes in its segment of length
  S demands ``d = B / S`` bytes per second; when the demands of the segments running at its
  start (including its own) add up to D > ``cap``, the MEE is shared in proportion to demand
  and its memory time stretches by ``D / cap``. The stretch is fixed at the segment's start
  (later segments do not re-stretch it). In steady state n identical streaming threads then
  get ``cap`` between them.

Everything here is arithmetic on floats.
"""

from __future__ import annotations

LINE_BYTES = 64


def miss_penalty_s(read_penalty_s: float, write_penalty_s: float,
                   write_fraction: float) -> float:
    """MEE penalty of one LLC miss to the EPC when ``write_fraction`` of them are writes."""
    return read_penalty_s + write_fraction * write_penalty_s


def bytes_per_miss(write_fraction: float) -> float:
    """Bytes one LLC miss moves through the MEE (a write miss: read for ownership + write-back)."""
    return LINE_BYTES * (1.0 + write_fraction)


class MeeBandwidth:
    """Demand of the segments in progress against the MEE's bandwidth (bytes per second).

    ``cap_bytes_s == 0`` switches the limit off: :meth:`start` then never stretches.
    ``stretch_s`` totals the memory time added by the limit over the run.
    """

    def __init__(self, cap_bytes_s: float) -> None:
        self.cap_bytes_s = cap_bytes_s
        self.demand_bytes_s = 0.0
        self.stretch_s = 0.0

    def start(self, mem_s: float, segment_s: float, bytes_per_mem_s: float
              ) -> tuple[float, float]:
        """A segment of ``segment_s`` seconds, ``mem_s`` of them memory time moving
        ``bytes_per_mem_s`` bytes per second of memory time, starts now.

        Returns (its memory time after the bandwidth share, its demand to pass to
        :meth:`end` when it finishes)."""
        if self.cap_bytes_s <= 0.0 or mem_s <= 0.0 or segment_s <= 0.0 or bytes_per_mem_s <= 0:
            return mem_s, 0.0
        demand = bytes_per_mem_s * mem_s / segment_s
        total = self.demand_bytes_s + demand
        self.demand_bytes_s = total
        if total > self.cap_bytes_s:
            stretched = mem_s * (total / self.cap_bytes_s)
            self.stretch_s += stretched - mem_s
            return stretched, demand
        return mem_s, demand

    def end(self, demand: float) -> None:
        """The segment that :meth:`start` returned ``demand`` for has finished."""
        if demand:
            self.demand_bytes_s -= demand
            if self.demand_bytes_s < 1e-9 * self.cap_bytes_s:
                self.demand_bytes_s = 0.0  # no drift from float round-off
