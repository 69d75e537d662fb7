"""The shared table formatter: alignment found from the cells, the plain-text layout used by
`epcsim run`, `epcsim catalog` and `epcsim validate`, and Markdown cell escaping."""

from __future__ import annotations

import pytest

from epcsim.report.format import compact, duration, num, pct, plus_minus, usd, with_ci
from epcsim.report.tables import Table, is_numeric, markdown_cell, text_table


@pytest.mark.parametrize("cell", ["9,880", "$0.0027", "15%", "11.6 us ±5.0%", "-", "n/a",
                                  "12.7 [11.9, 13.4]", "≥ 52,500", "+12%", "2.6/3.7",
                                  "1.2e-05", "-3"])
def test_numbers_are_recognised(cell: str) -> None:
    assert is_numeric(cell)


@pytest.mark.parametrize("cell", ["Standard_DC1s_v2", "1 x DC4s_v2", "9,000 (scenario)",
                                  "2026-06-30", "EPC paging", "0.1 - 0.5"])
def test_words_are_not_numbers(cell: str) -> None:
    assert not is_numeric(cell)


def test_text_table_aligns_numbers_right_and_words_left() -> None:
    t = Table.of(["size", "ops/s", "note"], [["DC1s", "9,880", "slow"],
                                             ["DC24s_v3", "123", "-"]],
                 title="Sizes", notes=["(means)"])
    assert t.align == ("left", "right", "left")
    assert text_table(t).splitlines() == [
        "Sizes",
        "size      ops/s  note",
        "--------  -----  ----",
        "DC1s      9,880  slow",
        "DC24s_v3    123  -",
        "(means)",
    ]


def test_explicit_alignment_and_shape_errors() -> None:
    assert Table.of(["a", "b"], [["1", "x"]], align="rr").align == ("right", "right")
    assert Table.of(["a"], [["-"], ["n/a"]]).align == ("left",)  # placeholders only: words
    with pytest.raises(ValueError, match="row 0 has 1 cells"):
        Table.of(["a", "b"], [["1"]])
    with pytest.raises(ValueError, match="alignments"):
        Table.of(["a", "b"], [["1", "2"]], align="r")


def test_markdown_cells_escape_pipes_and_line_breaks() -> None:
    assert markdown_cell("a|b\nc") == "a\\|b c"


def test_number_formats() -> None:
    assert [num(1234.5), num(0.5), num(2e-5), num(float("nan")), num(None)] == [
        "1,234", "0.5", "2e-05", "n/a", ""]
    assert [usd(0.0027), usd(70), usd(1234.4), pct(0.153)] == ["$0.0027", "$70.00", "$1,234",
                                                               "15%"]
    assert with_ci({"x": 10.0, "x_ci_low": 9.0, "x_ci_high": 11.0}, "x") == "10 [9, 11]"
    assert with_ci({"x": 10.0, "x_ci_low": float("nan"), "x_ci_high": 11.0}, "x") == "10"
    assert [compact(9880.2), compact(2.777), compact(None)] == ["9,880", "2.78", "-"]
    assert [duration(1.16e-5), duration(0.5), duration(3e-10)] == ["11.6 us", "500 ms",
                                                                   "0.3 ns"]
    assert plus_minus({"t": 2e-5, "t_ci_low": 1.9e-5}, "t", duration) == "20 us ±5.0%"
