"""The command line: a thin face over the same API that notebooks use.

Each subcommand lives in its own module under :mod:`epcsim.cli` and exposes
``add_parser(subparsers)`` and ``main(args) -> int``. This module only dispatches and turns
errors into exit statuses: a user's mistake (:class:`~epcsim.errors.EpcsimError`) prints its
located message and exits 2; so does an ``OSError`` (a read-only folder, a full disk: the
environment, not a bug); ``--debug`` shows the traceback as well. A command run with ``--json``
writes one JSON document on stdout and everything else on stderr (:mod:`epcsim.cli.jsonout`);
when it fails, stdout gets an error document beside the message on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from epcsim import __version__
from epcsim.errors import MAX_MESSAGE_LINE_CHARS, EpcsimError, clip

#: The exit statuses of every command (README, "The command line").
EXIT_STATUSES = """exit statuses:
  0    done (a validation miss is a finding, not an error, unless --strict)
  1    some runs failed (epcsim run), or a target missed (epcsim validate --strict)
  2    bad input: scenario, option, file or results folder; the message says where
  3    epcsim run: no VM size that can be bought on the decision date meets the SLO
  130  interrupted (Ctrl-C)"""

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ("run", "check", "catalog", "schema", "trace", "report", "validate", "calibrate",
            "mechanisms")


def _available_commands() -> list[ModuleType]:
    modules: list[ModuleType] = []
    for name in COMMANDS:
        try:
            modules.append(importlib.import_module(f"epcsim.cli.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"epcsim.cli.{name}":
                raise
    return modules


class _Parser(argparse.ArgumentParser):
    """argparse's parser, remembering its last error message (for ``--json``'s error
    document; subcommand parsers are of the same class)."""

    last_error: str | None = None

    def error(self, message: str) -> NoReturn:  # type: ignore[override,unused-ignore]
        _Parser.last_error = f"{self.prog}: error: {message}"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="epcsim",
        description="Predict SGX enclave throughput, latency and cost on Azure confidential VMs.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"epcsim {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks for errors (for bug reports)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in _available_commands():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:  # a bad option (argparse printed why), --help, --version
        code = exc.code if isinstance(exc.code, int) else 2
        if code == 2 and "--json" in words:
            _json_error(sys.stdout, next((w for w in words if w in COMMANDS), None),
                        _Parser.last_error or "bad command line", 2, None)
        return code
    # A command that has written its document (check lists its files' problems in it) sets
    # args.json_out to None, so no error document follows it.
    json_out = sys.stdout if getattr(args, "json", False) else None
    args.json_out = json_out
    try:
        # With --json, stdout is kept for the one document: everything else goes to stderr.
        with (contextlib.redirect_stdout(sys.stderr) if json_out is not None
              else contextlib.nullcontext()):
            status: int = args.func(args)
        return status
    except EpcsimError as exc:
        if args.debug:
            raise
        text = "\n".join(clip(line, MAX_MESSAGE_LINE_CHARS) for line in str(exc).split("\n"))
        print(f"epcsim: error: {text}" if "\n" not in text else f"epcsim: error:\n{text}",
              file=sys.stderr)
        _json_error(args.json_out, args.command, text, exc.exit_status, exc)
        return exc.exit_status
    except KeyboardInterrupt:
        print("epcsim: interrupted", file=sys.stderr)
        _json_error(args.json_out, args.command, "interrupted", 130, None)
        return 130
    except BrokenPipeError:  # e.g. `epcsim catalog | head`
        return 0
    except OSError as exc:  # the environment, not epcsim: read-only folder, disk full...
        if args.debug:
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        text = (f"{where}{exc.strerror or exc} (nothing was half-written: files are replaced "
                "atomically; fix the cause and run again)")
        print(f"epcsim: error: {text}", file=sys.stderr)
        _json_error(args.json_out, args.command, text, 2, None)
        return 2


def _json_error(stream: object, command: str | None, message: str, status: int,
                exc: BaseException | None) -> None:
    """With --json: the error document on stdout (the message is on stderr as well)."""
    if stream is None:
        return
    from epcsim.cli.jsonout import emit, error_document

    with contextlib.suppress(OSError):
        emit(error_document(command, message, status, exc), stream)  # type: ignore[arg-type]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
