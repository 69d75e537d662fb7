"""Bounded reading of the files users bring: every input is sized before it is read.

A page trace, an arrival trace or a measurement CSV comes from outside; a hostile or broken
one must end in a located message, not in a MemoryError or a silently shortened input. The
rules, for every reader in epcsim:

- a file's size is checked against a limit *before* it is read: text files (CSV, lackey logs,
  arrival traces) at most :func:`max_text_bytes`, binary arrays at most
  :func:`max_array_bytes`; a file over the limit is refused whole, never truncated;
- a ``.npy`` header's shape x item size is checked against the limit and against the bytes
  the file really holds before anything is allocated; a ``.npz`` archive's members are
  checked the same way from the zip directory and each member's own header before any member
  is extracted (a zip bomb declares sizes it cannot deliver);
- text is UTF-8, with or without the byte-order mark Excel writes (``\\ufeff``), which is
  dropped;
- a CSV line is split with :mod:`csv`; a cell beyond :mod:`csv`'s field limit (128 KiB) is a
  located problem, not an exception.

The limits can be raised for genuine large inputs with the environment variables
``EPCSIM_MAX_TEXT_MIB`` (default 256) and ``EPCSIM_MAX_ARRAY_MIB`` (default 2048); every
refusal names the limit and the variable.
"""

from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path
from typing import IO

import numpy as np

from epcsim.errors import EpcsimError, Problem, ScenarioError, clip

#: Default limits, MiB.
DEFAULT_MAX_TEXT_MIB = 256
DEFAULT_MAX_ARRAY_MIB = 2048
#: Most arrays in one ``.npz`` archive.
MAX_NPZ_MEMBERS = 64
_BOM = "\ufeff"


def _limit(variable: str, default_mib: int) -> int:
    text = os.environ.get(variable, "").strip()
    if not text:
        return default_mib * 2**20
    try:
        mib = float(text)
    except ValueError:
        raise EpcsimError(f"{variable}: expected a size in MiB (a number), found "
                          f"{clip(repr(text))}") from None
    if not 0 < mib <= 2**30:
        raise EpcsimError(f"{variable}: expected a size in MiB in (0, 2^30], found {text!r}")
    return int(mib * 2**20)


def max_text_bytes() -> int:
    """Largest text input file read (``EPCSIM_MAX_TEXT_MIB``, default 256 MiB)."""
    return _limit("EPCSIM_MAX_TEXT_MIB", DEFAULT_MAX_TEXT_MIB)


def max_array_bytes() -> int:
    """Largest array loaded from a binary trace (``EPCSIM_MAX_ARRAY_MIB``, default 2 GiB)."""
    return _limit("EPCSIM_MAX_ARRAY_MIB", DEFAULT_MAX_ARRAY_MIB)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def _too_large(path: Path, what: str, size: int, limit: int, variable: str) -> EpcsimError:
    return EpcsimError(
        f"{path}: {what} of {_mib(size)} is over the limit of {_mib(limit)}; refused without "
        f"reading it (if the file is genuine, raise the limit: {variable}=<MiB>)")


def file_size(path: Path, what: str) -> int:
    """The size of ``path`` in bytes; EpcsimError if it is missing or not a file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise EpcsimError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise EpcsimError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    if not path.is_file():
        raise EpcsimError(f"{path}: not a file (expected a {what})")
    return st.st_size


def read_text(path: str | Path, what: str) -> str:
    """The text of a user's file: size-checked, UTF-8, a leading byte-order mark dropped.

    ``what`` names the file's role in messages (``"page trace"``, ``"measurement CSV"``).
    Raises :class:`EpcsimError` (over the limit, unreadable) or :class:`ScenarioError`
    (not UTF-8, with the line of the first bad byte).
    """
    p = Path(path)
    size = file_size(p, what)
    limit = max_text_bytes()
    if size > limit:
        raise _too_large(p, what, size, limit, "EPCSIM_MAX_TEXT_MIB")
    try:
        with p.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise EpcsimError(f"{p}: cannot read the {what} ({exc.strerror})") from None
    if len(data) > limit:  # grew while we looked
        raise _too_large(p, what, len(data), limit, "EPCSIM_MAX_TEXT_MIB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ScenarioError([Problem(f"not a text file: not UTF-8 (byte "
                                     f"0x{data[exc.start]:02x}); is this a {what}?",
                                     file=str(p), line=line)]) from None
    return text[1:] if text.startswith(_BOM) else text


def csv_cells(line: str, path: str | Path, lineno: int) -> list[str]:
    """The stripped cells of one CSV line; a located :class:`ScenarioError` when :mod:`csv`
    cannot split it (a cell over its 128 KiB field limit, a stray quote at the end)."""
    try:
        return [c.strip() for c in next(csv.reader([line]))]
    except csv.Error as exc:
        raise ScenarioError([Problem(f"not a CSV line: {exc}", file=str(path), line=lineno,
                                     expected="comma-separated cells of at most "
                                              f"{csv.field_size_limit() // 1024} KiB each",
                                     found=f"a line of {len(line):,} characters")]) from None


def _header_shape(fh: IO[bytes], where: str) -> tuple[tuple[int, ...], np.dtype]:
    from numpy.lib import format as npf

    try:
        version = npf.read_magic(fh)
        if version == (1, 0):
            shape, _fortran, dtype = npf.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, _fortran, dtype = npf.read_array_header_2_0(fh)
        else:  # pragma: no cover - numpy rejects other versions in read_magic
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise EpcsimError(f"{where}: not a readable .npy array ({clip(str(exc))})") from None
    return tuple(int(n) for n in shape), np.dtype(dtype)


def _check_header(shape: tuple[int, ...], dtype: np.dtype, available: int, where: str) -> None:
    if dtype.hasobject:
        raise EpcsimError(f"{where}: not a readable .npy array: an array of Python objects "
                          "is refused (expected integers)")
    count = 1
    for n in shape:
        if n < 0:
            raise EpcsimError(f"{where}: negative dimension in shape {shape}")
        count *= n
    need = count * dtype.itemsize
    limit = max_array_bytes()
    if need > limit:
        raise EpcsimError(
            f"{where}: the array's header declares shape {clip(str(shape), 80)} of {dtype} "
            f"({_mib(need)}), over the limit of {_mib(limit)}; refused before allocating it "
            "(if the trace is genuine, raise the limit: EPCSIM_MAX_ARRAY_MIB=<MiB>)")
    if need > available:
        raise EpcsimError(f"{where}: truncated or corrupt: the header declares shape "
                          f"{clip(str(shape), 80)} of {dtype} ({need:,} bytes) but the file "
                          f"holds {max(available, 0):,} bytes of data")


def check_npy(path: Path) -> None:
    """Refuse a ``.npy`` file whose header declares more data than the limit or the file."""
    size = file_size(path, "page trace")
    try:
        with path.open("rb") as fh:
            shape, dtype = _header_shape(fh, str(path))
            available = size - fh.tell()
    except OSError as exc:
        raise EpcsimError(f"{path}: cannot read the page trace ({exc.strerror})") from None
    _check_header(shape, dtype, available, str(path))


def check_npz(path: Path) -> None:
    """Refuse a ``.npz`` archive whose members would expand past the limit (zip bombs) or
    whose arrays' headers declare more data than their members hold; nothing is extracted
    beyond the members' headers."""
    file_size(path, "page trace")
    limit = max_array_bytes()
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_NPZ_MEMBERS:
                raise EpcsimError(f"{path}: {len(infos)} arrays in the archive (expected at "
                                  f"most {MAX_NPZ_MEMBERS})")
            total = sum(i.file_size for i in infos)
            if total > limit:
                raise EpcsimError(
                    f"{path}: the archive expands to {_mib(total)}, over the limit of "
                    f"{_mib(limit)}; refused before extracting it (if the trace is genuine, "
                    "raise the limit: EPCSIM_MAX_ARRAY_MIB=<MiB>)")
            for info in infos:
                where = f"{path}[{info.filename}]"
                with zf.open(info) as fh:
                    shape, dtype = _header_shape(fh, where)
                    header = fh.tell()
                _check_header(shape, dtype, info.file_size - header, where)
    except EpcsimError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            NotImplementedError, RuntimeError) as exc:
        raise EpcsimError(f"{path}: not a readable .npz archive ({clip(str(exc))})") from None
