"""Exact LRU miss-ratio curves for every EPC size in one pass, and the EPC knee.

LRU is a stack algorithm (Mattson et al., 1970): a touch hits in an LRU cache of ``c`` pages
exactly when its stack distance (the number of distinct pages touched since the previous touch
of the same page, plus one) is at most ``c``. One pass that computes every touch's stack
distance therefore gives the miss ratio for all capacities at once.

Stack distances are counted with a Fenwick (binary indexed) tree over time positions in which
only each page's most recent touch is marked: the distance of a touch is the number of marks
after the page's previous mark, plus one. That is O(log B) per touch. To stream traces of any
length in bounded memory, positions live in a window of ``B = 2 * n_pages`` slots (at least
1024); when the window is full the marks (at most ``n_pages``) are compacted to its start in
order, an O(B) step that happens at most once every ``B - n_pages`` touches. Memory is
O(n_pages), independent of the trace length.

The miss ratio counts cold (first-touch) misses: ``miss_ratio[c] = (cold + #{d > c}) / N``.

The knee: :func:`knee` returns the capacity at which the curve lies farthest below the chord
from ``(0, mr(0))`` to ``(2W, mr(W))``, where ``W`` is the number of distinct pages (the
curve is flat beyond ``W``). This is the Kneedle point (Satopaa et al., 2011) of the curve
extended to twice the working set: the capacity where one more page stops buying more than the
average reduction per page. A uniform working set has its knee at ``W``; a hot set at the hot
set's size; a Zipf curve at the point where its slope falls to the chord's.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numba import njit

from epcsim.errors import EpcsimError


@njit(cache=True)
def _mrc_kernel(pages, n_pages, last_pos, page_at, bit, hist, sc):  # pragma: no cover
    """Advance the stack-distance state over ``pages``; returns the index of a bad page or -1.

    ``sc``: [t (next free position), n_marked, cold]. ``bit`` is 1-indexed (size B + 1).
    """
    B = page_at.shape[0]
    t = sc[0]
    marked = sc[1]
    cold = sc[2]
    for i in range(pages.shape[0]):
        p = pages[i]
        if p < 0 or p >= n_pages:
            sc[0] = t
            sc[1] = marked
            sc[2] = cold
            return i
        lp = last_pos[p]
        if lp < 0:
            cold += 1
        else:
            # prefix sum of marks at positions <= lp
            s = 0
            j = lp + 1
            while j > 0:
                s += bit[j]
                j -= j & (-j)
            hist[marked - s + 1] += 1
            j = lp + 1
            while j <= B:
                bit[j] -= 1
                j += j & (-j)
            page_at[lp] = -1
            marked -= 1
        if t == B:
            # compact the marks to positions 0..marked-1, keeping their order
            k = 0
            for pos in range(B):
                q = page_at[pos]
                if q >= 0:
                    page_at[pos] = -1
                    page_at[k] = q
                    last_pos[q] = k
                    k += 1
            for pos in range(1, B + 1):
                bit[pos] = 1 if pos <= k else 0
            for pos in range(1, B + 1):
                parent = pos + (pos & (-pos))
                if parent <= B:
                    bit[parent] += bit[pos]
            t = k
        j = t + 1
        while j <= B:
            bit[j] += 1
            j += j & (-j)
        page_at[t] = p
        last_pos[p] = t
        t += 1
        marked += 1
    sc[0] = t
    sc[1] = marked
    sc[2] = cold
    return -1


class LruStackDistances:
    """Streaming exact LRU stack-distance histogram over page offsets in ``[0, n_pages)``.

    ``update(chunk)`` any number of times, then :meth:`curve`. Memory: about
    ``4 * n_pages`` (last positions) + ``16 * n_pages`` (window: page and Fenwick count per
    position) + ``8 * n_pages`` (histogram) bytes.
    """

    def __init__(self, n_pages: int) -> None:
        if not 1 <= n_pages < 2**30:
            raise EpcsimError(f"a miss-ratio curve needs 1 to 2**30 - 1 pages (found "
                              f"{n_pages})")
        self.n_pages = int(n_pages)
        window = max(2 * self.n_pages, 1024)
        self._last_pos = np.full(self.n_pages, -1, dtype=np.int32)
        self._page_at = np.full(window, -1, dtype=np.int32)
        self._bit = np.zeros(window + 1, dtype=np.int32)
        #: ``hist[d]``: touches with stack distance d (1..n_pages); index 0 unused.
        self.hist = np.zeros(self.n_pages + 2, dtype=np.int64)
        self._sc = np.zeros(3, dtype=np.int64)
        self.accesses = 0

    def update(self, pages: np.ndarray) -> None:
        """Add the touches of ``pages`` (1-D int page offsets), in order."""
        arr = np.ascontiguousarray(pages, dtype=np.int64)
        if arr.ndim != 1:
            raise EpcsimError(f"a page trace must be 1-D (found shape {arr.shape})")
        bad = _mrc_kernel(arr, self.n_pages, self._last_pos, self._page_at, self._bit,
                          self.hist, self._sc)
        if bad >= 0:
            self.accesses += int(bad)
            raise EpcsimError(f"page {int(arr[bad])} at index {bad} is outside "
                              f"[0, {self.n_pages})")
        self.accesses += int(arr.shape[0])

    @property
    def cold_misses(self) -> int:
        """First touches (misses at every capacity)."""
        return int(self._sc[2])

    @property
    def distinct_pages(self) -> int:
        """Pages touched at least once (the working set)."""
        return int(self._sc[2])

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """``(capacities_pages, miss_ratio)`` for capacities 0..distinct pages (int64, float64).

        ``miss_ratio[c]`` is the fraction of touches that miss in an LRU cache of ``c`` pages.
        """
        if self.accesses == 0:
            raise EpcsimError("the trace is empty: no miss-ratio curve")
        w = self.distinct_pages
        h = self.hist[1:w + 1]
        # misses at capacity c: cold + sum_{d > c} hist[d]
        tail = np.concatenate([np.cumsum(h[::-1])[::-1], [0]])
        misses = self.cold_misses + tail
        return np.arange(w + 1, dtype=np.int64), misses / self.accesses


def lru_miss_ratio_curve(trace: np.ndarray | Iterable[np.ndarray],
                         n_pages: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact LRU miss ratio for every capacity in one pass.

    ``trace``: 1-D int64 page offsets, or an iterable of chunks (then ``n_pages``, the size of
    the page space, is required). Returns ``(capacities_pages, miss_ratio)``: capacities
    ``0..W`` (``W`` distinct pages touched), miss ratios in [0, 1] including cold misses.
    """
    if isinstance(trace, np.ndarray):
        if trace.size == 0:
            raise EpcsimError("the trace is empty: no miss-ratio curve")
        if n_pages is None:
            if trace.min() < 0:
                raise EpcsimError(f"negative page offset {int(trace.min())} in the trace")
            n_pages = int(trace.max()) + 1
        chunks: Iterable[np.ndarray] = [trace]
    else:
        if n_pages is None:
            raise EpcsimError("a chunked trace needs n_pages")
        chunks = trace
    acc = LruStackDistances(n_pages)
    for chunk in chunks:
        acc.update(chunk)
    return acc.curve()


def knee(capacities_pages: np.ndarray, miss_ratio: np.ndarray) -> int:
    """The EPC knee of a miss-ratio curve, in pages (see the module docstring).

    The curve is extended flat to twice its last capacity ``W``; the knee is the capacity in
    ``[0, W]`` where ``chord(c) - miss_ratio(c)`` is largest, the chord joining ``(0, mr(0))``
    and ``(2W, mr(W))``. Ties go to the smallest capacity. A curve with ``W == 0`` has knee 0.
    """
    c = np.asarray(capacities_pages, dtype=np.float64)
    m = np.asarray(miss_ratio, dtype=np.float64)
    if c.shape != m.shape or c.ndim != 1 or c.size == 0:
        raise EpcsimError("knee() needs two 1-D arrays of the same, non-zero length")
    w = c[-1]
    if w <= 0 or m[0] == m[-1]:
        return int(c[0])
    chord = m[0] + (m[-1] - m[0]) * (c - c[0]) / (2 * w - c[0])
    return int(c[int(np.argmax(chord - m))])


def capacity_for_miss_ratio(capacities_pages: np.ndarray, miss_ratio: np.ndarray,
                            target: float) -> int | None:
    """Smallest capacity (pages) whose miss ratio is at most ``target``; None if none is."""
    ok = np.flatnonzero(np.asarray(miss_ratio) <= target)
    return int(capacities_pages[ok[0]]) if ok.size else None
