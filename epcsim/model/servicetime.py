"""Service-time variability: the distribution of an operation's compute and OCALL host times.

What it models: a time (or cycle) quantity of an operation is ``mean x M`` where ``M`` is a
dimensionless multiplier with mean 1 drawn per operation (compute) or per OCALL (host time)
from one of

- ``fixed``: M = 1;
- ``exponential``: M ~ Exp(1) (cv 1);
- ``lognormal``: ln M ~ N(-s^2/2, s^2) with s^2 = ln(1 + cv^2) (mean 1, the given cv);
- ``gamma``: M ~ Gamma(shape 1/cv^2, scale cv^2);
- ``uniform``: M ~ U(low/mean, high/mean);
- ``empirical``: M is a sample of a user file divided by the file's mean (resampled with
  replacement, uniform over the samples).

Draws come in chunks of :data:`CHUNK` from one stream per (operation type, quantity)
(:mod:`epcsim.model.streams`), in arrival order, so every VM size sees the same multipliers
(common random numbers); there is never one numpy call per operation. ``exponential`` is drawn
as ``standard_exponential``, which gives the same numbers as the per-call
``Generator.exponential`` the model used before chunking.

The shapes are assumptions: no source gives the CV of enclave request service times
(docs/model.md, "Service-time distributions"); users should set them from their own
measurements.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

DistKind = Literal["fixed", "exponential", "lognormal", "gamma", "uniform", "empirical"]
DIST_KINDS: tuple[str, ...] = ("fixed", "exponential", "lognormal", "gamma", "uniform",
                               "empirical")

#: Multipliers are drawn this many at a time.
CHUNK = 4_096


@dataclass(frozen=True)
class ServiceDist:
    """The shape of a service-time quantity, as a multiplier of its mean (mean 1).

    Attributes:
        kind: one of :data:`DIST_KINDS`.
        cv: coefficient of variation (lognormal, gamma); 1 for exponential, 0 for fixed.
        low, high: bounds of the multiplier (uniform): ``low_s / mean`` and ``high_s / mean``.
        samples: the empirical multipliers (samples / their mean), for ``empirical``.
    """

    kind: DistKind = "fixed"
    cv: float = 0.0
    low: float = 1.0
    high: float = 1.0
    samples: tuple[float, ...] = ()

    @property
    def is_fixed(self) -> bool:
        return self.kind == "fixed"

    def problems(self) -> list[str]:
        """What is wrong with the parameters (empty when they are usable)."""
        out = []
        if self.kind not in DIST_KINDS:
            out.append(f"unknown distribution {self.kind!r}")
        if self.kind in ("lognormal", "gamma") and not (self.cv > 0 and math.isfinite(self.cv)):
            out.append(f"{self.kind} needs cv > 0 (found {self.cv!r})")
        if self.kind == "uniform" and not (0 <= self.low <= self.high and
                                           math.isfinite(self.high)):
            out.append(f"uniform needs 0 <= low <= high (found {self.low!r}, {self.high!r})")
        if self.kind == "empirical" and (not self.samples or
                                         min(self.samples) < 0):
            out.append("empirical needs non-negative samples")
        return out

    def second_moment(self) -> float:
        """E[M^2] (for Pollaczek-Khinchine checks)."""
        if self.kind == "fixed":
            return 1.0
        if self.kind == "exponential":
            return 2.0
        if self.kind in ("lognormal", "gamma"):
            return 1.0 + self.cv**2
        if self.kind == "uniform":
            a, b = self.low, self.high
            return (a * a + a * b + b * b) / 3.0
        s = np.asarray(self.samples)
        return float(np.mean(s * s))


class MultiplierFeed:
    """Multipliers of one quantity of one operation type, drawn in chunks from ``rng``."""

    def __init__(self, dist: ServiceDist, rng: np.random.Generator) -> None:
        self.dist = dist
        self.rng = rng
        self._buf: list[float] = []
        self._i = 0
        self._samples = np.asarray(dist.samples, dtype=float) if dist.samples else None
        if dist.kind == "lognormal":
            s2 = math.log1p(dist.cv**2)
            self._mu, self._sigma = -s2 / 2.0, math.sqrt(s2)
        elif dist.kind == "gamma":
            self._shape, self._scale = 1.0 / dist.cv**2, dist.cv**2

    def _chunk(self, n: int) -> np.ndarray:
        d = self.dist
        rng = self.rng
        if d.kind == "exponential":
            return rng.standard_exponential(n)
        if d.kind == "lognormal":
            return rng.lognormal(self._mu, self._sigma, n)
        if d.kind == "gamma":
            return rng.gamma(self._shape, self._scale, n)
        if d.kind == "uniform":
            return rng.uniform(d.low, d.high, n)
        if d.kind == "empirical":
            assert self._samples is not None
            return self._samples[rng.integers(0, len(self._samples), n)]
        return np.ones(n)

    def next(self) -> float:
        """The next multiplier."""
        if self._i >= len(self._buf):
            self._buf = self._chunk(CHUNK).tolist()
            self._i = 0
        m = self._buf[self._i]
        self._i += 1
        return m

    def take(self, n: int) -> list[float]:
        """The next ``n`` multipliers."""
        out: list[float] = []
        while len(out) < n:
            if self._i >= len(self._buf):
                self._buf = self._chunk(max(CHUNK, n - len(out))).tolist()
                self._i = 0
            k = min(n - len(out), len(self._buf) - self._i)
            out.extend(self._buf[self._i : self._i + k])
            self._i += k
        return out


def normalised_samples(values: tuple[float, ...] | list[float]) -> tuple[float, tuple[float, ...]]:
    """(mean, samples / mean) of an empirical sample (mean 0: all multipliers 1)."""
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean()) if len(arr) else 0.0
    if mean <= 0:
        return 0.0, tuple(np.ones(len(arr)).tolist())
    return mean, tuple((arr / mean).tolist())
