"""The command line: a thin face over the same API that notebooks use.

Each subcommand lives in its own module under :mod:`epcsim.cli` and exposes
``add_parser(subparsers)`` and ``main(args) -> int``. This module only dispatches and turns
errors into exit statuses: a user's mistake (:class:`~epcsim.errors.EpcsimError`) prints its
located message and exits 2; so does an ``OSError`` (a read-only folder, a full disk: the
environment, not a bug); ``--debug`` shows the traceback as well.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a bad option (argparse printed why), --help, --version
        return exc.code if isinstance(exc.code, int) else 2
    try:
        status: int = args.func(args)
        return status
    except EpcsimError as exc:
        if args.debug:
            raise
        text = "\n".join(clip(line, MAX_MESSAGE_LINE_CHARS) for line in str(exc).split("\n"))
        print(f"epcsim: error: {text}" if "\n" not in text else f"epcsim: error:\n{text}",
              file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("epcsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `epcsim catalog | head`
        return 0
    except OSError as exc:  # the environment, not epcsim: read-only folder, disk full...
        if args.debug:
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"epcsim: error: {where}{exc.strerror or exc} (nothing was half-written: "
              "files are replaced atomically; fix the cause and run again)", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
