"""Access patterns of the scenario format: how an operation's page touches are spread over a
region (uniform, Zipf, hot set, sequential, strided, shifting window, mixtures, a recorded page
trace), and the input-file field that a trace names.

A bare name is short for ``{kind: NAME}``: ``uniform``, ``sequential`` and ``zipf`` (with its
documented default ``s: 0.99``, YCSB's exponent); a name whose pattern needs parameters
(``hotset``, ``strided``, ...) is refused with its full form.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from epcsim.scenario.fields import (
    INPUT_FILE,
    Fraction01,
    PositiveCount,
    PositiveFraction01,
    Weight,
    _fail,
    _Spec,
)


def _resolve_file(v: object, info: ValidationInfo) -> object:
    """Paths are relative to the scenario file's folder; stored absolute."""
    import os

    if not isinstance(v, str) or not v:
        return v
    base = (info.context or {}).get("base_dir") if info.context else None
    path = v if os.path.isabs(v) or base is None else os.path.join(base, v)
    path = os.path.normpath(os.path.abspath(path))
    if not os.path.isfile(path):
        raise _fail("file", "file not found", expected="an existing file (relative paths are "
                    "relative to the scenario file)", found=v)
    return path


TraceFile = Annotated[str, Field(min_length=1, max_length=4096), INPUT_FILE]


#: Bare pattern names that need parameters: the full form each error shows.
PATTERN_FULL_FORMS = {
    "hotset": "{kind: hotset, hot_pages_fraction: 10%, hot_touches_fraction: 90%}",
    "strided": "{kind: strided, stride_pages: 16}",
    "shifting": "{kind: shifting, window_fraction: 10%, shift_pages: 64, "
                "shift_every_touches: 10000}",
    "mixture": "{kind: mixture, components: [{weight: 9, pattern: zipf}, "
               "{weight: 1, pattern: uniform}]}",
    "trace": "{kind: trace, file: pages.npy}",
}
#: Zipf exponent of a bare `zipf` (YCSB's 0.99).
ZIPF_DEFAULT_S = 0.99


def _pattern_shorthand(v: object) -> object:
    """A bare name is short for ``{kind: NAME}`` (``uniform``, ``sequential``, and ``zipf``
    with ``s: 0.99``); a name whose pattern needs parameters is refused with its full
    form."""
    if not isinstance(v, str):
        return v
    name = v.strip()
    if name in PATTERN_FULL_FORMS:
        raise _fail("pattern", f"the `{name}` pattern needs parameters",
                    expected=f"the full form, e.g. `{PATTERN_FULL_FORMS[name]}`", found=v)
    return {"kind": name}


class UniformPattern(_Spec):
    """Every page of the region equally likely."""

    kind: Literal["uniform"] = Field(description="`uniform`.")


class ZipfPattern(_Spec):
    """Bounded Zipf over the region's pages (page rank i has weight 1 / i^s)."""

    kind: Literal["zipf"] = Field(description="`zipf`.")
    s: float = Field(ZIPF_DEFAULT_S, ge=0, le=10,
                     description="Zipf exponent (0: uniform; 0.99: YCSB). Default 0.99, so "
                                 "a bare `pattern: zipf` is `{kind: zipf, s: 0.99}`.")


class HotsetPattern(_Spec):
    """A hot set of pages gets most of the touches; the rest are uniform."""

    kind: Literal["hotset"] = Field(description="`hotset`.")
    hot_pages_fraction: PositiveFraction01 = Field(
        description="Share of the region's pages that are hot (`10%`).")
    hot_touches_fraction: Fraction01 = Field(
        description="Share of touches that go to the hot pages (`90%`).")


class SequentialPattern(_Spec):
    """A scan that continues where the last operation stopped, wrapping at the end."""

    kind: Literal["sequential"] = Field(description="`sequential`.")


class StridedPattern(_Spec):
    """A scan with a fixed stride (wrapping)."""

    kind: Literal["strided"] = Field(description="`strided`.")
    stride_pages: int = Field(ge=1, le=2**40, description="Pages between touches.")


class ShiftingPattern(_Spec):
    """A uniform window over part of the region that moves along as touches accumulate."""

    kind: Literal["shifting"] = Field(description="`shifting`.")
    window_fraction: PositiveFraction01 = Field(
        description="Window size as a share of the region's pages.")
    shift_pages: int = Field(ge=1, le=2**40, description="Pages the window moves per shift.")
    shift_every_touches: PositiveCount = Field(description="Touches between shifts.")


class MixtureComponent(_Spec):
    """One component of a mixture pattern."""

    weight: Weight = Field(description="Relative weight (> 0).")
    pattern: Pattern = Field(description="The component's pattern.")

    @field_validator("pattern", mode="before")
    @classmethod
    def _shorthand(cls, v: object) -> object:
        return _pattern_shorthand(v)


class MixturePattern(_Spec):
    """Each touch picks a component by weight, then a page from that component's pattern."""

    kind: Literal["mixture"] = Field(description="`mixture`.")
    components: tuple[MixtureComponent, ...] = Field(min_length=1, max_length=64,
                                                     description="Weighted components.")


class TracePattern(_Spec):
    """Replay page offsets from a file (.npy/.npz/.csv; wraps at the end)."""

    kind: Literal["trace"] = Field(description="`trace`.")
    file: TraceFile = Field(description="Page trace file (relative to the scenario file).")

    _check_file = field_validator("file")(_resolve_file)


Pattern = Annotated[
    UniformPattern | ZipfPattern | HotsetPattern | SequentialPattern | StridedPattern
    | ShiftingPattern | MixturePattern | TracePattern,
    Field(discriminator="kind"),
]
MixtureComponent.model_rebuild()
MixturePattern.model_rebuild()

#: Pattern kinds in which one operation may touch more pages than the region has (the scan
#: wraps, or the trace repeats pages).
REPEATING_PATTERNS = frozenset({"sequential", "strided", "trace"})
