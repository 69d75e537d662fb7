"""Importing real page traces: .npy / .npz / .csv arrays and Valgrind lackey output.

What users bring: a recorded sequence of memory accesses, as page numbers or as byte
addresses. Addresses are mapped to 4 KiB pages (``address // 4096``). Page numbers taken from a
real process are sparse (``0x7ffd...``); :func:`dense_pages` renumbers them 0, 1, 2, ... in
order of first touch so they can be replayed as an enclave's page offsets.

Formats:

* ``.npy``: a 1-D integer array. Page numbers unless ``values="addresses"``.
* ``.npz``: an array named ``pages`` or ``addresses`` (or the only array in the file).
* ``.csv``: one value per line, decimal or ``0x`` hex; an optional header line ``page`` or
  ``address`` (or ``addr``) says which it is; blank lines and ``#`` comments are skipped.
* Valgrind lackey (:func:`read_lackey`): produce it with
  ``valgrind --tool=lackey --trace-mem=yes --log-file=trace.txt ./program``. Lines look like
  ``I  0400d7d4,8`` (instruction fetch), `` L 1ffefffe68,8`` (load), `` S ...`` (store) and
  `` M ...`` (modify = load + store); an access that crosses a page boundary touches both
  pages. Instruction fetches are left out unless ``include_instructions=True``.

Every problem (missing file, corrupt or truncated file, wrong dtype, negative or fractional
values, an empty trace) raises :class:`~epcsim.errors.EpcsimError` naming the file and, for
text, the line. Every file is size-checked before it is read, and a ``.npy``/``.npz`` header is
checked before its array is allocated (:mod:`epcsim.traces.files`).

Arrival traces (:func:`read_arrival_times`): one time in seconds per line (the first column of
a CSV; one header line is skipped), non-negative and non-decreasing.
"""

from __future__ import annotations

import math
import zipfile
from array import array
from pathlib import Path

import numpy as np

from epcsim.errors import EpcsimError, clip
from epcsim.traces.files import check_npy, check_npz, file_size, max_text_bytes, read_text

#: Most timestamps an arrival trace may hold (about 160 MB of float64).
MAX_ARRIVAL_TIMESTAMPS = 20_000_000

PAGE_BYTES = 4096
PAGE_SHIFT = 12


def _check_values(values: np.ndarray, path: Path, what: str) -> np.ndarray:
    if values.dtype == np.bool_ or not (np.issubdtype(values.dtype, np.integer)
                                        or np.issubdtype(values.dtype, np.floating)):
        raise EpcsimError(f"{path}: expected an array of integer {what}, found dtype "
                          f"{values.dtype}")
    if values.ndim != 1:
        if values.ndim == 2 and 1 in values.shape:
            values = values.reshape(-1)
        else:
            raise EpcsimError(f"{path}: expected a 1-D array of {what}, found shape "
                              f"{values.shape}")
    if values.size == 0:
        raise EpcsimError(f"{path}: the trace is empty (expected at least one {what[:-1]})")
    if np.issubdtype(values.dtype, np.floating):
        if not np.all(np.isfinite(values)) or np.any(values != np.floor(values)):
            bad = int(np.flatnonzero(~np.isfinite(values) | (values != np.floor(values)))[0])
            raise EpcsimError(f"{path}: {what} must be whole numbers (found {values[bad]!r} "
                              f"at index {bad})")
        if np.any(np.abs(values) > 2.0**62):
            raise EpcsimError(f"{path}: {what} too large for 64-bit integers")
    if np.issubdtype(values.dtype, np.unsignedinteger) and values.max() > np.iinfo(np.int64).max:
        raise EpcsimError(f"{path}: {what} too large for 64-bit signed integers")
    out = values.astype(np.int64)
    if out.min() < 0:
        bad = int(np.argmax(out < 0))
        raise EpcsimError(f"{path}: {what} must be >= 0 (found {int(out[bad])} at index "
                          f"{bad})")
    return out


def _to_pages(values: np.ndarray, kind: str) -> np.ndarray:
    return values >> PAGE_SHIFT if kind == "addresses" else values


def load_page_trace(path: str | Path, *, values: str | None = None) -> np.ndarray:
    """Load a trace as page numbers (int64 array of shape (n,), in file order).

    ``values``: ``"pages"`` or ``"addresses"``; by default taken from the CSV header or the
    .npz array name, else pages. Lackey text files are recognised by a ``.lackey`` or
    ``.lackey.txt`` suffix (or use :func:`read_lackey`).
    """
    p = Path(path)
    if values not in (None, "pages", "addresses"):
        raise EpcsimError(f"values must be 'pages' or 'addresses', found {values!r}")
    if not p.is_file():
        raise EpcsimError(f"{p}: trace file not found")
    suffix = p.suffix.lower()
    name = p.name.lower()
    if name.endswith((".lackey", ".lackey.txt")):
        return read_lackey(p)
    if suffix == ".npy":
        check_npy(p)
        try:
            arr = np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise EpcsimError(f"{p}: not a readable .npy array ({exc})") from None
        kind = values or "pages"
        return _to_pages(_check_values(np.asarray(arr), p, kind), kind)
    if suffix == ".npz":
        check_npz(p)
        try:
            with np.load(p, allow_pickle=False) as z:
                names = list(z.files)
                key = next((k for k in ("pages", "addresses") if k in names), None)
                if key is None:
                    if len(names) != 1:
                        raise EpcsimError(f"{p}: expected an array named 'pages' or "
                                          f"'addresses' (found {names})")
                    key = names[0]
                arr = z[key]
        except EpcsimError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            raise EpcsimError(f"{p}: not a readable .npz archive ({exc})") from None
        kind = values or ("addresses" if key == "addresses" else "pages")
        return _to_pages(_check_values(np.asarray(arr), p, kind), kind)
    if suffix in (".csv", ".txt"):
        return _read_csv(p, values)
    raise EpcsimError(f"{p}: unknown trace format {suffix!r} (expected .npy, .npz, .csv, or "
                      ".lackey for Valgrind lackey output)")


def _read_csv(p: Path, values: str | None) -> np.ndarray:
    kind = values
    out = array("q")
    text = read_text(p, "page trace")
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip().rstrip(",")
        if not line:
            continue
        if not out and line.lower() in ("page", "pages", "address", "addresses", "addr"):
            if kind is None:
                kind = "pages" if line.lower().startswith("page") else "addresses"
            continue
        try:
            v = int(line, 16) if line.lower().startswith("0x") else int(line)
        except ValueError:
            raise EpcsimError(f"{p}:{lineno}: expected an integer page or address (decimal or "
                              f"0x hex), found {clip(repr(line))}") from None
        if v < 0:
            raise EpcsimError(f"{p}:{lineno}: pages and addresses must be >= 0, found {v}")
        if v >= 2**63:
            raise EpcsimError(f"{p}:{lineno}: value {v} too large for 64 bits")
        out.append(v)
    if not out:
        raise EpcsimError(f"{p}: the trace is empty (expected one page or address per line)")
    return _to_pages(np.frombuffer(out, dtype=np.int64).copy(), kind or "pages")


def read_lackey(path: str | Path, *, include_instructions: bool = False) -> np.ndarray:
    """Page numbers touched by a Valgrind lackey memory trace, in order (int64, shape (n,)).

    Each ``L``/``S``/``M`` record (and ``I`` if ``include_instructions``) yields the page of its
    first byte, and also the page of its last byte when the access crosses a 4 KiB boundary.
    Valgrind's own ``==pid==`` lines are skipped; any other unparsable line is an error (a
    truncated last line included).
    """
    p = Path(path)
    size = file_size(p, "lackey trace")
    limit = max_text_bytes()
    if size > limit:
        raise EpcsimError(f"{p}: lackey trace of {size / 2**20:,.1f} MiB is over the limit of "
                          f"{limit / 2**20:,.1f} MiB; refused without reading it (if the file "
                          "is genuine, raise the limit: EPCSIM_MAX_TEXT_MIB=<MiB>)")
    out = array("q")
    kinds = ("I", "L", "S", "M") if include_instructions else ("L", "S", "M")
    with p.open("r", encoding="utf-8-sig", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.startswith("=="):
                continue
            parts = line.split()
            if len(parts) != 2 or parts[0] not in ("I", "L", "S", "M") or "," not in parts[1]:
                raise EpcsimError(f"{p}:{lineno}: not a lackey record (expected e.g. "
                                  f"' L 04001234,8'), found {clip(repr(line.rstrip()))}")
            if parts[0] not in kinds:
                continue
            addr_s, size_s = parts[1].split(",", 1)
            if not addr_s or addr_s[0] in "+-" or addr_s.lower().startswith("0x"):
                raise EpcsimError(f"{p}:{lineno}: expected a bare hexadecimal address (lackey "
                                  f"writes e.g. 04001234), found {clip(repr(addr_s))}")
            try:
                addr = int(addr_s, 16)
                size = int(size_s)
            except ValueError:
                raise EpcsimError(f"{p}:{lineno}: bad address or size in "
                                  f"{clip(repr(line.rstrip()))}") from None
            if size < 1 or addr + size > 2**63:
                raise EpcsimError(f"{p}:{lineno}: bad access size {size} at {addr_s}")
            first = addr >> PAGE_SHIFT
            last = (addr + size - 1) >> PAGE_SHIFT
            out.append(first)
            if last != first:
                out.append(last)
    if not out:
        raise EpcsimError(f"{p}: no memory accesses in the lackey trace (was it made with "
                          "--trace-mem=yes?)")
    return np.frombuffer(out, dtype=np.int64).copy()


def read_arrival_times(path: str | Path, where: str = "workload.arrival.file") -> np.ndarray:
    """Arrival times in seconds (float64, shape (n,)) from a CSV/text file: one number per
    line (the first column of a CSV; a header line is skipped; ``#`` comments and blank lines
    too). ``where`` is the scenario key path for messages. Raises :class:`EpcsimError` for
    anything else, naming the file and line; never truncates (a file over the size limit, or
    with more than :data:`MAX_ARRIVAL_TIMESTAMPS` arrivals, is refused whole)."""
    p = Path(path)
    text = read_text(p, "arrival trace")
    values = array("d")
    last = -math.inf
    for number, line in enumerate(text.splitlines(), start=1):
        cell = line.split(",")[0].strip()
        if not cell or cell.startswith("#"):
            continue
        try:
            value = float(cell)
        except ValueError:
            if not values and number == 1:
                continue  # a header
            raise EpcsimError(f"{p}:{number}: {where}: expected a time in seconds, found "
                              f"{clip(repr(cell), 40)}") from None
        if not math.isfinite(value) or value < 0:
            raise EpcsimError(f"{p}:{number}: {where}: expected a time >= 0 s, found "
                              f"{clip(repr(cell), 40)}")
        if value < last:
            raise EpcsimError(f"{p}:{number}: {where}: timestamps must not decrease "
                              f"({value} after {last})")
        last = value
        values.append(value)
        if len(values) > MAX_ARRIVAL_TIMESTAMPS:
            raise EpcsimError(f"{p}: {where}: more than {MAX_ARRIVAL_TIMESTAMPS:,} arrivals "
                              "(split the trace into phases, or sample it)")
    if not values:
        raise EpcsimError(f"{p}: {where}: the arrival trace is empty")
    return np.frombuffer(values, dtype=np.float64).copy()


def dense_pages(pages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber pages 0, 1, ... in order of first touch.

    Returns ``(offsets, page_numbers)``: ``offsets`` has the shape of ``pages``;
    ``page_numbers[k]`` is the original page of offset ``k``.
    """
    uniq, first, inverse = np.unique(pages, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse].astype(np.int64), uniq[order]
