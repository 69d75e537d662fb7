"""Tables as data, and their plain-text form: one formatter for every table epcsim shows.

A :class:`Table` is a header, rows of already formatted cells (see
:mod:`epcsim.report.format`) and an alignment per column. The report's templates render it
as HTML and Markdown (right-aligned numbers in both); :func:`text_table` writes it for the
terminal (``epcsim run``'s headline, ``epcsim catalog``, ``epcsim validate``): columns two
spaces apart, a dashed rule under the header, numbers right-aligned, an optional title above
and notes below. Nothing here prints.

Alignment, when not given, is found from the cells: a column whose every cell reads as a
number (``9,880``, ``$0.0027``, ``15%``, ``11.6 us ±5.0%``, ``12.7 [11.9, 13.4]``, or a
placeholder such as ``-`` and ``n/a``) is right-aligned; any other column is left-aligned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Align = Literal["left", "right"]

_NUMBER = r"[-+]?\$?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?%?(?: ?[a-zµ]{1,3}\b)?"
_NUMERIC = re.compile(
    rf"(?:≥ )?{_NUMBER}(?: ±{_NUMBER})?(?: \[{_NUMBER}, {_NUMBER}\])?(?:/{_NUMBER})?")
_PLACEHOLDERS = frozenset({"", "-", "n/a", "inf", "-inf"})


def is_numeric(cell: str) -> bool:
    """Whether a formatted cell reads as a number (placeholders such as ``-`` count too)."""
    return cell in _PLACEHOLDERS or _NUMERIC.fullmatch(cell) is not None


def infer_align(rows: Sequence[Sequence[str]], n_columns: int) -> tuple[Align, ...]:
    """Right for columns of numbers (with at least one real number), left for the rest."""
    out: list[Align] = []
    for i in range(n_columns):
        cells = [r[i] for r in rows]
        numeric = (any(c not in _PLACEHOLDERS for c in cells)
                   and all(is_numeric(c) for c in cells))
        out.append("right" if numeric else "left")
    return tuple(out)


@dataclass(frozen=True)
class Table:
    """A table of text cells. ``align``: one of ``left``/``right`` per column; ``caption``:
    a sentence shown above it in the report; ``notes``: lines shown below it."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: tuple[Align, ...]
    caption: str = ""
    title: str = ""
    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, header: Sequence[Any], rows: Iterable[Sequence[Any]],
           align: Sequence[Align] | str | None = None, *, caption: str = "",
           title: str = "", notes: Sequence[str] = ()) -> Table:
        """A table from any cells (turned into text with ``str``). ``align`` may be a
        sequence of ``left``/``right`` or a string of ``l``/``r`` letters, one per column;
        None infers it (module docstring)."""
        head = tuple(str(h) for h in header)
        body = tuple(tuple("" if c is None else str(c) for c in r) for r in rows)
        for n, r in enumerate(body):
            if len(r) != len(head):
                raise ValueError(f"row {n} has {len(r)} cells, the header {len(head)}")
        if align is None:
            aligns = infer_align(body, len(head))
        elif isinstance(align, str):
            aligns = tuple("right" if a == "r" else "left" for a in align)
        else:
            aligns = tuple(align)
        if len(aligns) != len(head):
            raise ValueError(f"{len(aligns)} alignments for {len(head)} columns")
        return cls(head, body, aligns, caption, title, tuple(notes))

    @property
    def right(self) -> tuple[bool, ...]:
        """Per column: right-aligned (for templates)."""
        return tuple(a == "right" for a in self.align)


def text_table(table: Table) -> str:
    """The table as plain text for a terminal (no trailing spaces, no final newline)."""
    widths = [max([len(table.header[i])] + [len(r[i]) for r in table.rows])
              for i in range(len(table.header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if a == "right" else c.ljust(w)
                         for c, w, a in zip(cells, widths, table.align, strict=True)).rstrip()

    lines = [table.title] if table.title else []
    lines.append(line(table.header))
    lines.append("  ".join("-" * w for w in widths))
    lines += [line(r) for r in table.rows]
    lines += list(table.notes)
    return "\n".join(lines)


def markdown_cell(cell: Any) -> str:
    """A cell for a Markdown table: pipes escaped, line breaks flattened."""
    return str(cell).replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> str:
    """The table as a GitHub Markdown table (numbers right-aligned), the notes below it."""
    rule = ["---:" if a == "right" else "---" for a in table.align]
    lines = ["| " + " | ".join(markdown_cell(c) for c in cells) + " |"
             for cells in (table.header, rule, *table.rows)]
    if table.notes:
        lines += ["", *table.notes]
    return "\n".join(lines)
