"""Uncertain inputs: a range or a distribution for numeric scenario fields.

A user rarely knows the pages an operation touches, its LLC miss share or its compute per
request exactly. The ``uncertain:`` section names such fields by key path (the spelling of
``sweep`` and ``--set``) and gives each a distribution, written in the field's own units::

    uncertain:
      workload.operations.get.memory.1.pages: {low: 1, high: 4}            # uniform
      workload.operations.get.compute: {dist: triangular, low: 2000 cycles, mode: 3000 cycles,
                                        high: 6000 cycles}
      workload.operations.get.memory.1.llc_miss_fraction: {dist: normal, mean: 0.6, sd: 0.1}
      enclaves.kv.regions.table.size: {dist: lognormal, median: 72 MiB, sigma: 0.3}
    uncertainty: {draws: 16}

Distributions: ``uniform`` (``low``, ``high``; the default when ``dist`` is left out),
``triangular`` (``low``, ``mode``, ``high``), ``normal`` (``mean``, ``sd``) and
``lognormal`` (``median``, ``sigma``: the standard deviation of the logarithm, no unit).
Normal and lognormal are truncated at 3 standard deviations (of the value or its logarithm):
the sizing never sees a value beyond those ends, and ``epcsim check`` validates the scenario at
both ends, so every draw is a valid scenario. Fields whose value is a whole number (pages,
counts, threads, sizes in bytes) take each draw rounded to the nearest whole number (sizes to
whole 4 KiB pages). ``workload.arrival.rate`` and ``slo.target_load`` are the load to carry:
a draw of them scales the SLO's target load (the VMs needed), not the capacity search.

This module resolves the section into base units (:func:`resolve_inputs`) by writing each
parameter into the scenario data and validating it, so the field's own unit rules and bounds
apply; it draws nothing (:mod:`epcsim.sizing.uncertainty` does).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from epcsim.scenario.fields import _Spec
from epcsim.scenario.paths import PathError, get_path, set_path, split_key_path
from epcsim.scenario.problems import Issue, issues_from_validation_error, short

if TYPE_CHECKING:
    from epcsim.scenario.spec import Scenario

#: Most draws one study may ask for (each draw is a whole capacity search per size).
MAX_DRAWS = 256
#: Normal and lognormal draws are truncated at this many standard deviations.
TRUNCATE_SD = 3.0
#: Key paths whose draws scale the SLO's target load instead of the simulated scenario.
LOAD_KEYS = ("workload.arrival.rate", "slo.target_load")

Dist = Literal["uniform", "triangular", "normal", "lognormal"]
_PARAMS: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"), "triangular": ("low", "mode", "high"),
    "normal": ("mean", "sd"), "lognormal": ("median", "sigma")}


class UncertainInput(_Spec):
    """One uncertain field: a distribution in the field's own units (see the module doc)."""

    dist: Dist = Field("uniform", description="`uniform` (low, high), `triangular` (low, "
                                              "mode, high), `normal` (mean, sd) or "
                                              "`lognormal` (median, sigma).")
    low: float | str | None = Field(None, description="Lowest value (uniform, triangular).")
    high: float | str | None = Field(None, description="Highest value (uniform, triangular).")
    mode: float | str | None = Field(None, description="Most likely value (triangular).")
    mean: float | str | None = Field(None, description="Mean (normal).")
    sd: float | str | None = Field(None, description="Standard deviation (normal), in the "
                                                     "field's units.")
    median: float | str | None = Field(None, description="Median (lognormal).")
    sigma: float | None = Field(None, gt=0, le=3, description="Standard deviation of the "
                                                              "logarithm (lognormal).")


class UncertaintySettings(_Spec):
    """How many draws of the uncertain inputs the sizing propagates."""

    draws: int = Field(16, ge=2, le=MAX_DRAWS, description="Latin-hypercube draws (each is a "
                                                           "capacity search per VM size).")
    seed: int | None = Field(None, ge=0, le=2**63 - 1,
                             description="Seed of the draws (default: simulation.seed).")


@dataclass(frozen=True)
class ResolvedInput:
    """An uncertain input in base units: ``params`` by name (``low``/``high``/``mode``/
    ``mean``/``sd``/``median``/``sigma``), ``lo``/``hi`` the ends a draw can reach,
    ``nominal`` the value the scenario itself has, ``integer`` whether draws are rounded
    (``step``: to multiples of it), ``write_key`` the key path a drawn number (base units)
    is written to."""

    key: str
    dist: str
    params: dict[str, float]
    lo: float
    hi: float
    nominal: float
    integer: bool
    step: int = 1
    write_key: str = ""

    @property
    def mid(self) -> float:
        """The middle of the input's range (the tornado's 'others at their midpoints')."""
        return self.rounded(0.5 * (self.lo + self.hi))

    def rounded(self, x: float) -> float:
        if not self.integer:
            return float(x)
        return float(max(self.step, round(x / self.step) * self.step))

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "dist": self.dist, "params": dict(self.params),
                "low": self.lo, "high": self.hi, "nominal": self.nominal}


def _read(scn: Scenario, segments: list[str]) -> tuple[object, list[str]]:
    """The field's validated value, and the sub-keys a number must be written to: a page
    count given as a fixed number reads as that number; a quantity stored as parts
    (``compute`` is cycles plus time) reads as its one non-zero part (written to that part)."""
    try:
        value = get_path(scn.model_dump(mode="json", by_alias=True), segments)
    except PathError:
        return None, []
    if isinstance(value, dict) and value.get("distribution") == "fixed" and "mean" in value:
        return value["mean"], []
    if isinstance(value, dict) and value and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()):
        nonzero = [k for k, v in value.items() if v]
        if len(nonzero) <= 1:
            part = nonzero[0] if nonzero else next(iter(value))
            return value[part], [part]
    return value, []


def _convert(scn: Scenario, raw: dict[str, Any], context: dict[str, Any], segments: list[str],
             value: object, where: tuple[str | int, ...]) -> tuple[float | None, list[Issue]]:
    """``value`` (as written) in the field's base units, by validating the scenario with it."""
    point = copy.deepcopy(raw)
    point.pop("sweep", None)
    point.pop("uncertain", None)
    try:
        set_path(point, segments, copy.deepcopy(value))
    except PathError as exc:
        return None, [Issue(where, f"unknown field: {exc.message}", "a key path into the "
                            "scenario", ".".join(segments), exc.suggestion)]
    from pydantic import ValidationError

    try:
        validated = type(scn).model_validate(point, context=context)
    except ValidationError as exc:
        first = issues_from_validation_error(exc, point, type(scn))[0]
        return None, [Issue(where, f"value {short(value)} is invalid: {first.message}",
                            first.expected, first.found, first.suggestion)]
    got, _ = _read(validated, segments)
    if isinstance(got, bool) or not isinstance(got, int | float):
        return None, [Issue(where, "not a numeric field", "a key path to a number (pages, "
                            "a fraction, cycles, a size, a time, a rate)", short(got))]
    return float(got), []


def _kind_scale(written: object, base: float) -> float | None:
    """Base units per written unit of ``written`` (a quantity whose base value is ``base``)."""
    from epcsim import units

    if isinstance(written, int | float) and not isinstance(written, bool):
        return base / float(written) if written else 1.0
    for kind in units.KINDS:
        try:
            value = float(units.parse_quantity(written, kind))
        except (ValueError, ArithmeticError):
            continue
        if math.isclose(value, base, rel_tol=1e-12, abs_tol=0.0):
            number = float(str(written).split()[0].rstrip("%/").replace("_", "") or "nan") \
                if isinstance(written, str) else float("nan")
            return base / number if number and math.isfinite(number) else None
    return None


def resolve_inputs(scn: Scenario, raw: dict[str, Any] | None = None,
                   context: dict[str, Any] | None = None
                   ) -> tuple[list[ResolvedInput], list[Issue]]:
    """The ``uncertain`` section of ``scn`` in base units, and the problems found (located at
    ``uncertain.<key path>``). ``raw``/``context``: the data and validation context the
    scenario was read from (default: its own)."""
    raw = copy.deepcopy(raw if raw is not None else scn.source)
    context = dict(context if context is not None else scn.context)
    inputs: list[ResolvedInput] = []
    issues: list[Issue] = []
    for key, spec in scn.uncertain.items():
        where: tuple[str | int, ...] = ("uncertain", key)
        try:
            segments = split_key_path(key)
        except PathError as exc:
            issues.append(Issue(where, exc.message, "a dotted key path", repr(key),
                                exc.suggestion))
            continue
        if segments[0] in ("uncertain", "uncertainty", "sweep", "name", "description", "vm",
                           "simulation") or (segments[0] == "slo" and key != "slo.target_load"):
            issues.append(Issue(where, "this field cannot be uncertain", "a workload, enclave "
                                "or cost field, or slo.target_load", repr(key)))
            continue
        if key in scn.sweep:
            issues.append(Issue(where, "the field is also swept", "a field in either `sweep` "
                                "or `uncertain`", repr(key)))
            continue
        names = _PARAMS[spec.dist]
        given = {n: getattr(spec, n) for n in _PARAMS["uniform"] + ("mode", "mean", "sd",
                                                                    "median", "sigma")
                 if getattr(spec, n) is not None}
        missing = [n for n in names if n not in given]
        extra = [n for n in given if n not in names]
        if missing or extra:
            issues.append(Issue(where, f"a {spec.dist} distribution takes "
                                f"{', '.join(names)}", ", ".join(names),
                                ", ".join(sorted(given)) or "nothing",
                                "e.g. {low: 1, high: 4} or {dist: normal, mean: 0.6, sd: 0.1}"))
            continue
        nominal, suffix = _read(scn, segments)
        segments = segments + suffix
        if isinstance(nominal, bool) or not isinstance(nominal, int | float):
            found = _convert(scn, raw, context, segments, given[names[0]], where)[1] \
                if nominal is None else []
            issues.extend(found or [Issue(where, "not a numeric field", "a key path to a "
                                          "number", short(nominal))])
            continue
        params: dict[str, float] = {}
        bad = False
        for name in names:
            if name == "sigma":
                params[name] = float(given[name])
                continue
            if name == "sd":
                continue
            got, found = _convert(scn, raw, context, segments, given[name], (*where, name))
            issues.extend(found)
            bad = bad or got is None
            params[name] = got if got is not None else math.nan
        if bad:
            continue
        if spec.dist == "normal":
            scale = _kind_scale(given["mean"], params["mean"])
            sd_number = given["sd"]
            try:
                sd = float(sd_number) * (scale or 1.0) if not isinstance(sd_number, str) \
                    else _sd_in_base(sd_number, given["mean"], params["mean"])
            except ValueError:
                sd = math.nan
            if not (math.isfinite(sd) and sd > 0):
                issues.append(Issue((*where, "sd"), "not a positive standard deviation in "
                                    "the field's units", "e.g. sd: 0.1 or sd: 500 cycles",
                                    short(sd_number)))
                continue
            params["sd"] = sd
            lo, hi = (params["mean"] - TRUNCATE_SD * sd, params["mean"] + TRUNCATE_SD * sd)
        elif spec.dist == "lognormal":
            if params["median"] <= 0:
                issues.append(Issue((*where, "median"), "a lognormal median must be positive",
                                    "a positive value", short(given["median"])))
                continue
            lo = params["median"] * math.exp(-TRUNCATE_SD * params["sigma"])
            hi = params["median"] * math.exp(TRUNCATE_SD * params["sigma"])
        else:
            lo, hi = params["low"], params["high"]
            if not lo < hi:
                issues.append(Issue(where, "low must be below high", "low < high",
                                    f"low {short(given['low'])}, high {short(given['high'])}"))
                continue
            if spec.dist == "triangular" and not lo <= params["mode"] <= hi:
                issues.append(Issue((*where, "mode"), "the mode must lie between low and "
                                    "high", "low <= mode <= high", short(given["mode"])))
                continue
        integer = isinstance(nominal, int) or segments[-1] in ("pages", "threads")
        step = 4096 if integer and nominal % 4096 == 0 and nominal >= 4096 and (
            segments[-1] == "size") else 1
        item = ResolvedInput(key, spec.dist, params, lo, hi, float(nominal), integer, step,
                             ".".join(segments))
        if spec.dist in ("normal", "lognormal"):  # the truncation ends must be valid too
            ok = True
            for end, value in (("low end", item.rounded(lo)), ("high end", item.rounded(hi))):
                as_written = int(value) if integer else value
                _, found = _convert(scn, raw, context, segments, as_written, where)
                if found:
                    issues.append(Issue(where, f"the {end} of the distribution (3 standard "
                                        f"deviations, {value:g} in base units) is invalid: "
                                        f"{found[0].message}", found[0].expected,
                                        found[0].found, "narrow the distribution or use "
                                        "{low, high}"))
                    ok = False
            if not ok:
                continue
        inputs.append(item)
    return inputs, issues


def _sd_in_base(sd: str, mean_written: object, mean_base: float) -> float:
    """A standard deviation written with a unit (``500 cycles``, ``2 MiB``), in base units:
    the unit's scale is read from the mean's kind."""
    from epcsim import units

    for kind in units.KINDS:
        try:
            if math.isclose(float(units.parse_quantity(mean_written, kind)), mean_base,
                            rel_tol=1e-12):
                return float(units.parse_quantity(sd, kind))
        except (ValueError, ArithmeticError):
            continue
    raise ValueError(sd)
