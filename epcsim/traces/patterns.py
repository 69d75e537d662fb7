"""Page-access pattern generators: which page of a region each touch goes to.

A pattern turns a spec (a mapping such as ``{"kind": "zipf", "s": 0.99}``) and a region size
``n_pages`` into a :class:`PageStream`, whose ``take(n)`` returns the next ``n`` page offsets
(int64, in ``[0, n_pages)``). Streams draw from the ``numpy.random.Generator`` they are given,
in chunks of ``chunk_touches`` (so per-operation calls of a few pages stay cheap), and nothing
else: the same generator state gives the same pages.

Kinds (the scenario format, see docs/scenarios.md):

* ``uniform``: every page equally likely (independent reference model).
* ``zipf`` (``s`` >= 0): bounded Zipf over the region, P(page k) = (k+1)^-s / H(n, s), page 0
  the hottest; sampled exactly (to double precision) with a Walker/Vose alias table.
* ``hotset`` (``hot_pages_fraction`` h, ``hot_touches_fraction`` t): the first
  ``round(h * n_pages)`` pages receive a share t of the touches, uniformly; the rest get 1-t.
* ``sequential``: a scan that continues where the last touch stopped and wraps at the end.
* ``strided`` (``stride_pages`` s): pages 0, s, 2s, ...; past the end the scan moves to the
  next lane (1, 1+s, ...), so every page is visited once per ``n_pages`` touches.
* ``shifting`` (``window_fraction`` w, ``shift_pages``, ``shift_every_touches``): uniform
  touches in a window of ``max(1, round(w * n_pages))`` pages that moves forward by
  ``shift_pages`` (wrapping) after every ``shift_every_touches`` touches of this stream.
* ``mixture`` (``components``: list of ``{weight, pattern}``): each touch picks a component
  with probability proportional to its weight; each component is its own stream.
* ``trace`` (``file``): replays the pages of a trace file (see
  :func:`epcsim.traces.io.load_page_trace`; .npy, .npz, .csv or a ``.lackey`` log) cyclically.
  Pages are used as offsets when all are below ``n_pages``; otherwise (real page numbers are
  sparse) they are renumbered 0, 1, ... in order of first touch, which keeps the reuse
  pattern; a trace with more distinct pages than the region is an error.

Touches are independent draws: one operation's pages may repeat (the repeats are EPC hits).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from epcsim.errors import EpcsimError

DEFAULT_CHUNK_TOUCHES = 65536

_KEYS: dict[str, set[str]] = {
    "uniform": set(),
    "zipf": {"s"},
    "hotset": {"hot_pages_fraction", "hot_touches_fraction"},
    "sequential": set(),
    "strided": {"stride_pages"},
    "shifting": {"window_fraction", "shift_pages", "shift_every_touches"},
    "mixture": {"components"},
    "trace": {"file"},
}


def _as_mapping(spec: Any, where: str) -> Mapping[str, Any]:
    if hasattr(spec, "model_dump"):  # a pydantic model from epcsim.scenario
        spec = spec.model_dump()
    if not isinstance(spec, Mapping):
        raise EpcsimError(f"{where}: a pattern must be a mapping with a 'kind' (found "
                          f"{spec!r})")
    return spec


def _number(spec: Mapping[str, Any], key: str, where: str, lo: float, hi: float,
            integer: bool = False) -> float:
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise EpcsimError(f"{where}.{key}: expected a number, found {value!r}")
    if integer and int(value) != value:
        raise EpcsimError(f"{where}.{key}: expected a whole number, found {value!r}")
    if not lo <= value <= hi:
        raise EpcsimError(f"{where}.{key}: expected a value in [{lo}, {hi}], found {value!r}")
    return float(value)


class PageStream:
    """A stream of page offsets in ``[0, n_pages)``; ``take(n)`` returns the next ``n``.

    Subclasses implement ``_generate(n)``; this class serves ``take`` from a buffer refilled
    ``chunk_touches`` at a time, so small takes cost no generator call each.
    """

    def __init__(self, n_pages: int, chunk_touches: int = DEFAULT_CHUNK_TOUCHES) -> None:
        self.n_pages = int(n_pages)
        self.chunk_touches = int(chunk_touches)
        self._buf = np.empty(0, dtype=np.int64)
        self._at = 0

    def _generate(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` page offsets (int64 array of shape (n,)).

        The stream is generated ``chunk_touches`` at a time whatever ``n`` is, so the
        sequence does not depend on how it is split into takes.
        """
        if n < 0:
            raise ValueError(f"cannot take {n} pages")
        avail = self._buf.shape[0] - self._at
        if n <= avail:
            out = self._buf[self._at:self._at + n]
            self._at += n
            return out
        parts = [self._buf[self._at:]]
        need = n - avail
        while True:
            self._buf = self._generate(self.chunk_touches)
            if need <= self.chunk_touches:
                parts.append(self._buf[:need])
                self._at = need
                return np.concatenate(parts)
            parts.append(self._buf)
            need -= self.chunk_touches

    def chunks(self, total: int, chunk: int = 1 << 22) -> Iterator[np.ndarray]:
        """Yield ``total`` touches in arrays of at most ``chunk`` (for streaming analysis)."""
        done = 0
        while done < total:
            k = min(chunk, total - done)
            yield self.take(k)
            done += k


class UniformStream(PageStream):
    def __init__(self, n_pages: int, rng: np.random.Generator, **kw: Any) -> None:
        super().__init__(n_pages, **kw)
        self.rng = rng

    def _generate(self, n: int) -> np.ndarray:
        return self.rng.integers(0, self.n_pages, size=n, dtype=np.int64)


def build_alias_table(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias table for a discrete distribution over ``len(probabilities)`` items.

    Returns ``(prob, alias)``: draw column ``k`` uniformly, keep ``k`` with probability
    ``prob[k]``, else take ``alias[k]``. Built without a Python loop: Vose's algorithm with the
    small items in index order and the large items in index order, where a large item that
    drops below 1 becomes the next small item, has a closed form (small item m goes to the
    first large item whose cumulative excess reaches the cumulative deficit before m), which
    is evaluated here with cumulative sums and ``searchsorted``.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    n = p.shape[0]
    q = p * (n / p.sum())
    prob = np.ones(n, dtype=np.float64)
    alias = np.arange(n, dtype=np.int64)
    small = np.flatnonzero(q < 1.0)
    large = np.flatnonzero(q >= 1.0)
    if small.size == 0 or large.size == 0:
        return prob, alias
    deficit = 1.0 - q[small]
    d_end = np.cumsum(deficit)
    d_start = d_end - deficit
    excess_cum = np.cumsum(q[large] - 1.0)
    # small m -> large k = min{k : E_k >= D(m)}
    k = np.searchsorted(excess_cum, d_start, side="left")
    k = np.minimum(k, large.size - 1)
    prob[small] = q[small]
    alias[small] = large[k]
    # large k: exhausted after the last small with D(m) <= E_k; leftover 1 - (D(a+1) - E_k)
    a_next = np.searchsorted(d_start, excess_cum, side="right")  # number of smalls covered
    last_covered_end = d_end[a_next - 1]
    exhausted = last_covered_end > excess_cum
    exhausted[-1] = False  # the last large item keeps what is left (1 up to rounding)
    idx = np.flatnonzero(exhausted)
    leftover = 1.0 - (d_end[a_next[idx] - 1] - excess_cum[idx])
    prob[large[idx]] = np.clip(leftover, 0.0, 1.0)
    nxt = np.minimum(idx + 1, large.size - 1)
    alias[large[idx]] = large[nxt]
    return prob, alias


@lru_cache(maxsize=32)
def _zipf_table(n_pages: int, s: float) -> tuple[np.ndarray, np.ndarray]:
    weights = np.arange(1, n_pages + 1, dtype=np.float64) ** (-s)
    return build_alias_table(weights / weights.sum())


def zipf_probabilities(n_pages: int, s: float) -> np.ndarray:
    """Exact bounded-Zipf probabilities ``(k+1)^-s / H(n, s)`` for k in 0..n_pages-1."""
    w = np.arange(1, n_pages + 1, dtype=np.float64) ** (-s)
    return w / w.sum()


class AliasStream(PageStream):
    """Samples page offsets from an alias table ``(prob, alias)``."""

    def __init__(self, prob: np.ndarray, alias: np.ndarray, rng: np.random.Generator,
                 **kw: Any) -> None:
        super().__init__(prob.shape[0], **kw)
        self.prob = prob
        self.alias = alias
        self.rng = rng

    def _generate(self, n: int) -> np.ndarray:
        u = self.rng.random(n)
        u *= self.n_pages
        col = u.astype(np.int64)
        np.minimum(col, self.n_pages - 1, out=col)  # u * n may round up to n
        u -= col  # the fraction within the column, uniform in [0, 1)
        keep = u < self.prob[col]
        out = self.alias[col]
        np.copyto(out, col, where=keep)
        return out


class HotsetStream(PageStream):
    def __init__(self, n_pages: int, hot_pages: int, hot_share: float,
                 rng: np.random.Generator, **kw: Any) -> None:
        super().__init__(n_pages, **kw)
        self.hot_pages = hot_pages
        self.hot_share = hot_share
        self.rng = rng

    def _generate(self, n: int) -> np.ndarray:
        h, cold = self.hot_pages, self.n_pages - self.hot_pages
        if cold == 0 or self.hot_share >= 1.0:
            return self.rng.integers(0, max(h, 1), size=n, dtype=np.int64)
        if h == 0 or self.hot_share <= 0.0:
            return self.rng.integers(h, self.n_pages, size=n, dtype=np.int64)
        u = self.rng.random(n)
        hot = u < self.hot_share
        # reuse the uniform: within the chosen class, its position is again uniform
        v = np.where(hot, u / self.hot_share, (u - self.hot_share) / (1.0 - self.hot_share))
        pages = np.where(hot, v * h, h + v * cold).astype(np.int64)
        return np.minimum(pages, np.where(hot, h - 1, self.n_pages - 1))


class SequentialStream(PageStream):
    def __init__(self, n_pages: int, stride_pages: int = 1, **kw: Any) -> None:
        super().__init__(n_pages, **kw)
        self.stride = int(stride_pages)
        self._t = 0

    def _generate(self, n: int) -> np.ndarray:
        j = (self._t + np.arange(n, dtype=np.int64)) % self.n_pages
        self._t = (self._t + n) % self.n_pages
        s = self.stride
        if s == 1:
            return j
        size = self.n_pages
        q, rem = divmod(size, s)
        big = rem * (q + 1)
        in_big = j < big
        jj = j - big
        qq = max(q, 1)
        lane = np.where(in_big, j // (q + 1), rem + jj // qq)
        k = np.where(in_big, j % (q + 1), jj % qq)
        return lane + k * s


class ShiftingStream(PageStream):
    def __init__(self, n_pages: int, window_pages: int, shift_pages: int, every: int,
                 rng: np.random.Generator, **kw: Any) -> None:
        super().__init__(n_pages, **kw)
        self.window_pages = window_pages
        self.shift_pages = shift_pages
        self.every = every
        self.rng = rng
        self._t = 0

    def _generate(self, n: int) -> np.ndarray:
        t = self._t + np.arange(n, dtype=np.int64)
        self._t += n
        offset = ((t // self.every) % self.n_pages) * (self.shift_pages % self.n_pages)
        inner = self.rng.integers(0, self.window_pages, size=n, dtype=np.int64)
        return (offset + inner) % self.n_pages


class MixtureStream(PageStream):
    def __init__(self, n_pages: int, weights: np.ndarray, streams: list[PageStream],
                 rng: np.random.Generator, **kw: Any) -> None:
        super().__init__(n_pages, **kw)
        self.cum = np.cumsum(weights / weights.sum())
        self.cum[-1] = 1.0
        self.streams = streams
        self.rng = rng

    def _generate(self, n: int) -> np.ndarray:
        which = np.searchsorted(self.cum, self.rng.random(n), side="right")
        out = np.empty(n, dtype=np.int64)
        for k, stream in enumerate(self.streams):
            mask = which == k
            count = int(mask.sum())
            if count:
                out[mask] = stream.take(count)
        return out


class ReplayStream(PageStream):
    def __init__(self, pages: np.ndarray, n_pages: int, **kw: Any) -> None:
        super().__init__(n_pages, **kw)
        self.pages = pages
        self._t = 0

    def _generate(self, n: int) -> np.ndarray:
        idx = (self._t + np.arange(n, dtype=np.int64)) % self.pages.shape[0]
        self._t = (self._t + n) % self.pages.shape[0]
        return self.pages[idx]


def make_pattern(spec: Mapping[str, Any], n_pages: int, rng: np.random.Generator, *,
                 chunk_touches: int = DEFAULT_CHUNK_TOUCHES, base_dir: str | Path | None = None,
                 where: str = "pattern") -> PageStream:
    """A :class:`PageStream` for ``spec`` over a region of ``n_pages`` pages.

    ``rng`` is the only source of randomness (pass a generator derived from the run's
    ``SeedSequence``). ``base_dir`` resolves a relative ``file`` of a ``trace`` pattern;
    ``where`` prefixes error messages (e.g. the scenario key path).
    """
    spec = _as_mapping(spec, where)
    kind = spec.get("kind")
    if kind not in _KEYS:
        raise EpcsimError(f"{where}.kind: unknown pattern kind {kind!r} (expected one of "
                          f"{', '.join(_KEYS)})")
    if isinstance(n_pages, bool) or int(n_pages) != n_pages or n_pages < 1:
        raise EpcsimError(f"{where}: a region needs at least 1 page (found {n_pages!r})")
    n_pages = int(n_pages)
    allowed = _KEYS[kind] | {"kind"}
    unknown = set(spec) - allowed
    if unknown:
        raise EpcsimError(f"{where}: unknown key(s) {sorted(unknown)} for pattern {kind!r} "
                          f"(allowed: {sorted(allowed)})")
    missing = _KEYS[kind] - set(spec) - ({"s"} if kind == "zipf" else set())
    if missing:
        raise EpcsimError(f"{where}: pattern {kind!r} needs {sorted(missing)}")
    kw = {"chunk_touches": chunk_touches}
    if kind == "uniform":
        return UniformStream(n_pages, rng, **kw)
    if kind == "zipf":
        s = _number(spec, "s", where, 0.0, 100.0) if "s" in spec else 0.99
        prob, alias = _zipf_table(n_pages, s)
        return AliasStream(prob, alias, rng, **kw)
    if kind == "hotset":
        h = _number(spec, "hot_pages_fraction", where, 0.0, 1.0)
        t = _number(spec, "hot_touches_fraction", where, 0.0, 1.0)
        hot = round(h * n_pages)
        return HotsetStream(n_pages, hot, t, rng, **kw)
    if kind == "sequential":
        return SequentialStream(n_pages, 1, **kw)
    if kind == "strided":
        s_pages = int(_number(spec, "stride_pages", where, 1, 2**62, integer=True))
        return SequentialStream(n_pages, s_pages, **kw)
    if kind == "shifting":
        w = _number(spec, "window_fraction", where, 0.0, 1.0)
        shift = int(_number(spec, "shift_pages", where, 0, 2**62, integer=True))
        every = int(_number(spec, "shift_every_touches", where, 1, 2**62, integer=True))
        window = max(1, round(w * n_pages))
        return ShiftingStream(n_pages, window, shift, every, rng, **kw)
    if kind == "mixture":
        comps = spec["components"]
        if not isinstance(comps, (list, tuple)) or not comps:
            raise EpcsimError(f"{where}.components: expected a non-empty list of "
                              f"{{weight, pattern}}, found {comps!r}")
        weights = []
        streams: list[PageStream] = []
        for i, comp in enumerate(comps):
            cw = f"{where}.components.{i}"
            comp = _as_mapping(comp, cw)
            if set(comp) != {"weight", "pattern"}:
                raise EpcsimError(f"{cw}: expected keys weight and pattern, found "
                                  f"{sorted(comp)}")
            weights.append(_number(comp, "weight", cw, 0.0, float("inf")))
            streams.append(make_pattern(comp["pattern"], n_pages, rng, chunk_touches=kw[
                "chunk_touches"], base_dir=base_dir, where=f"{cw}.pattern"))
        warr = np.asarray(weights)
        if warr.sum() <= 0:
            raise EpcsimError(f"{where}.components: the weights must not all be 0")
        return MixtureStream(n_pages, warr, streams, rng, **kw)
    # trace
    from epcsim.traces.io import load_page_trace

    path = Path(str(spec["file"]))
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    pages = load_page_trace(path)
    if int(pages.max()) >= n_pages:
        # real traces carry sparse page numbers: renumber them in first-touch order
        from epcsim.traces.io import dense_pages

        offsets, numbers = dense_pages(pages)
        if numbers.size > n_pages:
            raise EpcsimError(f"{path}: the trace touches {numbers.size} distinct pages, more "
                              f"than the region's {n_pages} pages (page {int(pages.max())} "
                              "is outside it)")
        pages = offsets
    return ReplayStream(pages, n_pages, **kw)
