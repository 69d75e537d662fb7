"""Errors that users see.

Every error a user can cause (a bad scenario, a bad trace file, a bad command-line value) is an
:class:`EpcsimError`. The command line prints its message and exits with status 2, without a
traceback unless ``--debug`` is given. Anything else escaping to the command line is a bug in
epcsim and is reported as such.

A :class:`Problem` is one located complaint: the file, the line where known, the key path in
the scenario, what was expected, what was found and an optional suggestion. Loaders collect all
problems in a file and raise them together in one :class:`ScenarioError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Longest user value echoed in a message; longer ones are cut and their length given.
MAX_ECHO_CHARS = 200
#: Longest line of any error message (prose and values); a catch-all for :func:`clip`.
MAX_MESSAGE_LINE_CHARS = 1000


def clip(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """``text`` itself, or its first ``limit`` characters and ``... (N characters)``."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


@dataclass(frozen=True)
class Problem:
    """One located problem in a user's input."""

    message: str
    file: str | None = None
    line: int | None = None
    key_path: str | None = None
    expected: str | None = None
    found: str | None = None
    suggestion: str | None = None

    def format(self) -> str:
        """One line: ``file:line: key.path: message (expected X, found Y; did you mean Z?)``."""
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        key = f"{self.key_path}: " if self.key_path else ""
        details = []
        if self.expected is not None:
            details.append(f"expected {self.expected}")
        if self.found is not None:
            details.append(f"found {clip(self.found)}")
        tail = ", ".join(details)
        if self.suggestion:
            tail = f"{tail}; {self.suggestion}" if tail else self.suggestion
        line = f"{where}{key}{self.message}" + (f" ({tail})" if tail else "")
        return clip(line, MAX_MESSAGE_LINE_CHARS)


class EpcsimError(Exception):
    """An error caused by user input; the CLI prints it and exits with status 2."""

    exit_status = 2


@dataclass
class ScenarioError(EpcsimError):
    """All problems found in one scenario (or trace, or measurement) file."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "\n".join(p.format() for p in self.problems)
