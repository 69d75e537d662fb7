"""Per-operation page counts: how many pages one operation touches in one region.

A count spec is an int (fixed) or a mapping ``{distribution, mean, min, max}``:

* ``fixed``: always ``mean``.
* ``poisson``: Poisson with mean ``mean`` (support 0, 1, 2, ...).
* ``geometric``: number of trials to the first success with success probability ``1/mean``
  (support 1, 2, ..., mean ``mean``; needs ``mean >= 1``).
* ``uniform``: integers uniformly in ``[min, max]`` (both inclusive; ``mean``, if given, must
  be ``(min + max) / 2``).

``min``/``max`` on ``poisson`` and ``geometric`` truncate the distribution: draws outside the
bounds are redrawn (rejection), never clipped, so the shape inside the bounds is kept; ``mean``
is then the parameter of the untruncated distribution.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from epcsim.errors import EpcsimError

DISTRIBUTIONS = ("fixed", "poisson", "geometric", "uniform")


class CountSampler:
    """Draws per-operation page counts; ``take(n)`` -> int64 array of shape (n,)."""

    def __init__(self, distribution: str, mean: float, lo: int, hi: int,
                 rng: np.random.Generator | None) -> None:
        self.distribution = distribution
        self.mean = mean
        self.lo = lo
        self.hi = hi
        self.rng = rng

    def _draw(self, n: int) -> np.ndarray:
        assert self.rng is not None
        if self.distribution == "poisson":
            return self.rng.poisson(self.mean, size=n).astype(np.int64)
        if self.distribution == "geometric":
            return self.rng.geometric(1.0 / self.mean, size=n).astype(np.int64)
        return self.rng.integers(self.lo, self.hi + 1, size=n, dtype=np.int64)

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` page counts (int64, each in ``[min, max]``)."""
        if self.distribution == "fixed":
            return np.full(n, int(self.mean), dtype=np.int64)
        out = self._draw(n)
        bad = (out < self.lo) | (out > self.hi)
        for _ in range(10_000):
            k = int(bad.sum())
            if k == 0:
                return out
            out[bad] = self._draw(k)
            bad = (out < self.lo) | (out > self.hi)
        raise EpcsimError(f"page count {self.distribution}(mean={self.mean}) almost never "
                          f"falls in [{self.lo}, {self.hi}]; widen the bounds")


def make_count_sampler(spec: Any, rng: np.random.Generator | None, *,
                       where: str = "pages") -> CountSampler:
    """A :class:`CountSampler` for an int or a ``{distribution, mean, min, max}`` mapping."""
    if hasattr(spec, "model_dump"):
        spec = spec.model_dump()
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        if spec < 0:
            raise EpcsimError(f"{where}: expected a page count >= 0, found {spec}")
        return CountSampler("fixed", float(spec), int(spec), int(spec), rng)
    if not isinstance(spec, Mapping):
        raise EpcsimError(f"{where}: expected an int or {{distribution, mean, min, max}}, "
                          f"found {spec!r}")
    unknown = set(spec) - {"distribution", "mean", "min", "max"}
    if unknown:
        raise EpcsimError(f"{where}: unknown key(s) {sorted(unknown)} (allowed: "
                          "distribution, mean, min, max)")
    dist = spec.get("distribution", "fixed")
    if dist not in DISTRIBUTIONS:
        raise EpcsimError(f"{where}.distribution: expected one of {', '.join(DISTRIBUTIONS)}, "
                          f"found {dist!r}")

    def num(key: str, default: float | None) -> float | None:
        v = spec.get(key, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not np.isfinite(v) or v < 0:
            raise EpcsimError(f"{where}.{key}: expected a number >= 0, found {v!r}")
        return float(v)

    mean = num("mean", None)
    lo = num("min", None)
    hi = num("max", None)
    if dist == "uniform":
        if lo is None or hi is None:
            raise EpcsimError(f"{where}: a uniform page count needs min and max")
        if mean is not None and abs(mean - (lo + hi) / 2) > 1e-9:
            raise EpcsimError(f"{where}.mean: a uniform count on [{lo:g}, {hi:g}] has mean "
                              f"{(lo + hi) / 2:g}, found {mean:g}")
        mean = (lo + hi) / 2
    if mean is None:
        raise EpcsimError(f"{where}: {dist} page count needs a mean")
    if dist == "fixed":
        if mean != int(mean):
            raise EpcsimError(f"{where}.mean: a fixed page count must be whole, found {mean}")
        return CountSampler("fixed", mean, int(mean), int(mean), rng)
    if dist == "geometric" and mean < 1:
        raise EpcsimError(f"{where}.mean: a geometric page count needs mean >= 1, found {mean}")
    ilo = int(lo) if lo is not None else 0
    ihi = int(hi) if hi is not None else 2**62
    if ilo > ihi:
        raise EpcsimError(f"{where}: min {ilo} > max {ihi}")
    if rng is None:
        raise EpcsimError(f"{where}: a random page count needs a generator")
    return CountSampler(dist, mean, ilo, ihi, rng)
