"""The validation corpus: its files, the scoring rules, the fit/test split, and the guard that
keeps the model from getting worse on the test series unnoticed."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from epcsim.errors import EpcsimError
from epcsim.validation.assess import TARGETS, CorpusReport, score
from epcsim.validation.corpus import (
    CATEGORIES,
    POINT_COLUMNS,
    SERIES_COLUMNS,
    default_corpus_dir,
    load_corpus,
)
from epcsim.validation.corpus_fit import fit_corpus, fit_points
from epcsim.validation.regression import read_recorded, regressions

CORPUS = default_corpus_dir()


def _series_row(**kw: str) -> dict[str, str]:
    row = {c: "" for c in SERIES_COLUMNS}
    row.update(series="s1", split="test", category="transition_microbench", kind="absolute",
               scenario="s.yaml", metric="latency_mean_s", citation="c", hardware="h",
               clock_ghz="3.7", software="sdk", measured="m", confidence="high", notes="")
    row.update(kw)
    return row


def _write_corpus(root: Path, series: list[dict[str, str]], points: list[dict[str, str]]
                  ) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "s.yaml").write_text("placeholder: scenario files are checked for existence\n")
    with (root / "series.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=SERIES_COLUMNS)
        w.writeheader()
        w.writerows(series)
    with (root / "points.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=POINT_COLUMNS)
        w.writeheader()
        for p in points:
            w.writerow({c: p.get(c, "") for c in POINT_COLUMNS})
    return root


# -- the corpus as committed ------------------------------------------------------------------

def test_the_corpus_meets_the_issue_s_shape() -> None:
    corpus = load_corpus(CORPUS)
    assert len(corpus) >= 12
    sources = {s.citation.split(",")[0].split("(")[0].strip().lower() for s in corpus}
    assert len(sources) >= 6, sources
    tests = [s for s in corpus if s.split == "test"]
    assert 2 * len(tests) >= len(corpus), "at least half of the series are test series"
    for s in corpus:
        assert s.citation and s.hardware and s.software and s.measured
        assert s.clock_ghz > 0 or ("not stated" in s.hardware.lower()), s.series
        assert all(c in CATEGORIES for c in s.categories)


def test_every_category_with_two_series_has_a_test_series() -> None:
    corpus = load_corpus(CORPUS)
    for cat in CATEGORIES:
        members = [s for s in corpus if cat in s.categories]
        if len(members) >= 2:
            assert any(s.split == "test" for s in members), cat


def test_recorded_errors_cover_every_test_series() -> None:
    recorded = read_recorded(CORPUS)
    tests = {s.series for s in load_corpus(CORPUS) if s.split == "test"}
    assert tests <= set(recorded) | _failing_test_series(), tests - set(recorded)


def _failing_test_series() -> set[str]:
    """Test series the model cannot run yet (listed in docs/validation.md)."""
    return set()


# -- file checks ------------------------------------------------------------------------------

def test_a_point_of_an_unknown_series_is_located(tmp_path: Path) -> None:
    root = _write_corpus(tmp_path, [_series_row()],
                         [{"series": "s1", "x": "1", "value": "2"},
                          {"series": "s11", "x": "1", "value": "2"}])
    with pytest.raises(EpcsimError, match=r"points.csv:3: series: 's11' .*did you mean 's1'"):
        load_corpus(root)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("split", "train", "split: expected fit or test"),
    ("kind", "relative", "kind: expected absolute or ratio"),
    ("category", "gpu", "category: expected"),
    ("compare", "ratio", "compare: expected one of"),
    ("predictor", "eval:1", "predictor: expected one of"),
    ("scenario", "missing.yaml", "scenario: 'missing.yaml' not found"),
    ("clock_ghz", "-1", "clock_ghz: expected a finite number > 0"),
])
def test_bad_series_fields_are_refused_with_their_line(tmp_path: Path, field: str, value: str,
                                                       message: str) -> None:
    root = _write_corpus(tmp_path, [_series_row(**{field: value})],
                         [{"series": "s1", "x": "1", "value": "2"}])
    with pytest.raises(EpcsimError, match=r"series.csv:2: " + message):
        load_corpus(root)


def test_assignments_are_literal_key_value_pairs(tmp_path: Path) -> None:
    root = _write_corpus(tmp_path, [_series_row()],
                         [{"series": "s1", "x": "1", "value": "2", "set": "{x*2}"}])
    with pytest.raises(EpcsimError, match="set: expected key=value"):
        load_corpus(root)


def test_a_series_without_points_is_refused(tmp_path: Path) -> None:
    root = _write_corpus(tmp_path, [_series_row(), _series_row(series="s2")],
                         [{"series": "s1", "x": "1", "value": "2"}])
    with pytest.raises(EpcsimError, match="series 's2' has no points"):
        load_corpus(root)


def test_a_bom_and_comment_lines_are_accepted(tmp_path: Path) -> None:
    root = _write_corpus(tmp_path, [_series_row()], [{"series": "s1", "x": "1", "value": "2"}])
    text = (root / "points.csv").read_text()
    (root / "points.csv").write_text("\ufeff" + text + "# a comment\n")
    assert len(load_corpus(root)[0].points) == 1


# -- scoring ----------------------------------------------------------------------------------

def _one(tmp_path: Path, values: list[float], **kw: str) -> object:
    pts = [{"series": "s1", "x": str(i), "value": str(v), "note": "input" if i == 9 else ""}
           for i, v in enumerate(values)]
    return load_corpus(_write_corpus(tmp_path, [_series_row(**kw)], pts))[0]


def test_absolute_errors_are_relative_to_the_measurement(tmp_path: Path) -> None:
    spec = _one(tmp_path, [10.0, 20.0, 40.0])
    lines = [p.line for p in spec.points]  # type: ignore[attr-defined]
    s = score(spec, dict(zip(lines, [11.0, 18.0, 40.0], strict=True)))  # type: ignore[arg-type]
    assert [round(p.error, 9) for p in s.points] == [0.1, -0.1, 0.0]
    assert s.median_error == pytest.approx(0.1)
    assert s.worst_error == pytest.approx(0.1)


def test_per_first_normalises_both_curves_and_skips_the_first_point(tmp_path: Path) -> None:
    spec = _one(tmp_path, [100.0, 50.0, 10.0], compare="per_first", kind="ratio")
    lines = [p.line for p in spec.points]  # type: ignore[attr-defined]
    # The model is 3x off in absolute terms but has exactly the measured shape.
    s = score(spec, dict(zip(lines, [300.0, 150.0, 30.0], strict=True)))  # type: ignore[arg-type]
    assert not s.points[0].scored
    assert [p.error for p in s.scored] == pytest.approx([0.0, 0.0])


def test_groups_use_the_median_of_series_medians_and_the_targets(tmp_path: Path) -> None:
    a = _one(tmp_path / "a", [1.0, 1.0, 1.0])
    b = _one(tmp_path / "b", [1.0])
    sa = score(a, {p.line: 1.5 for p in a.points})  # type: ignore[attr-defined]
    sb = score(b, {p.line: 1.1 for p in b.points})  # type: ignore[attr-defined]
    report = CorpusReport([sa, sb], 0.0)
    test_abs = next(g for g in report.groups() if (g.split, g.kind) == ("test", "absolute"))
    assert test_abs.median_of_series == pytest.approx((0.5 + 0.1) / 2)
    assert test_abs.median_of_points == pytest.approx(0.5)
    assert test_abs.target == TARGETS[("test", "absolute")]
    assert test_abs.met is False and not report.targets_met


def test_the_guard_flags_a_test_series_that_got_worse(tmp_path: Path) -> None:
    a = _one(tmp_path, [1.0, 1.0])
    s = score(a, {p.line: 1.2 for p in a.points})  # type: ignore[attr-defined]
    report = CorpusReport([s], 0.0)
    assert regressions(report, {"s1": (0.20, 0.20)}) == []
    assert regressions(report, {"s1": (0.16, 0.20)}) == []
    assert regressions(report, {"s1": (0.10, 0.20)})


def test_fit_points_never_include_test_series_or_inputs(tmp_path: Path) -> None:
    spec = _one(tmp_path, [100.0, 50.0, 10.0], compare="per_first", kind="ratio", split="fit")
    pts = fit_points([spec])  # type: ignore[list-item]
    assert [p.value for p in pts] == [0.5, 0.1]


def test_calibrating_on_a_test_series_is_refused() -> None:
    test_series = next(s.series for s in load_corpus(CORPUS) if s.split == "test")
    with pytest.raises(EpcsimError, match="is a test series"):
        fit_corpus(["ecall_cycles"], folder=CORPUS, series=[test_series])


def test_scored_values_are_finite_for_a_clean_series(tmp_path: Path) -> None:
    spec = _one(tmp_path, [2.0, 4.0])
    s = score(spec, {})  # nothing predicted: errors are NaN, the series has no median
    assert all(math.isnan(p.error) for p in s.points)
    assert math.isnan(s.median_error)


@pytest.mark.slow
def test_no_test_series_got_worse_than_recorded() -> None:
    """The regression guard: every test series of the corpus, run in full (the same
    scenarios and points as `epcsim validate`), against validation/corpus/recorded_errors.csv.
    A model change that makes a test series worse by more than MARGIN fails here; one that
    improves it is recorded with `epcsim validate --record` in the same commit."""
    from epcsim.validation.corpus_run import validate_corpus
    from epcsim.validation.regression import MARGIN

    report = validate_corpus(CORPUS, split="test", workers=2)
    problems = regressions(report, read_recorded(CORPUS))
    assert not problems, f"worse than recorded by more than {MARGIN:.0%}:\n" + "\n".join(
        problems)
