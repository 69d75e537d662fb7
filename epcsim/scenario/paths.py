"""Dotted key paths into scenario data, as used by ``--set`` and ``sweep``.

A key path is dotted: ``workload.arrival.rate``. List items are addressed by their ``name``
where they have one, else by index: ``enclaves.kv.regions.table.size``,
``workload.operations.get.memory.0.pages``. The same spelling is used to show where a problem
is in error messages (:func:`display_path`).

Setting a path in raw (as-written) scenario data creates missing mappings on the way, so
``--set slo.latency_bound=2ms`` works on a scenario without an ``slo`` section; whether the
key exists in the format is decided by validation afterwards (an unknown key is reported
with a did-you-mean like any other).
"""

from __future__ import annotations

import copy
import difflib
from typing import Any

Path = tuple[str | int, ...]


class PathError(ValueError):
    """A key path that cannot be followed in the data."""

    def __init__(self, message: str, path: Path, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.suggestion = suggestion


def split_key_path(text: str) -> list[str]:
    """``"a.b.0.c"`` -> ``["a", "b", "0", "c"]``; refuses empty segments."""
    segments = text.strip().split(".")
    if not text.strip() or any(not s.strip() for s in segments):
        raise PathError(f"malformed key path {text!r}", (), "write it as dotted keys, e.g. "
                        "'workload.arrival.rate'")
    return [s.strip() for s in segments]


def _list_index(items: list[Any], segment: str, where: Path) -> int:
    names = [it.get("name") for it in items if isinstance(it, dict)]
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == segment:
            return i
    if segment.lstrip("-").isdigit():
        i = int(segment)
        if 0 <= i < len(items):
            return i
        raise PathError(f"index {i} is out of range ({len(items)} items)", where)
    str_names = [n for n in names if isinstance(n, str)]
    close = difflib.get_close_matches(segment, str_names, n=1, cutoff=0.6)
    listed = ", ".join(str_names) if str_names else "none have names; use an index"
    raise PathError(f"no item named {segment!r} (names: {listed})", where,
                    f"did you mean {close[0]!r}?" if close else None)


def set_path(data: dict[str, Any], segments: list[str], value: Any) -> Path:
    """Set ``value`` at ``segments`` in ``data`` (in place); return the resolved path
    (list names turned into indices)."""
    node: Any = data
    resolved: list[str | int] = []
    for n, seg in enumerate(segments):
        last = n == len(segments) - 1
        if isinstance(node, dict):
            resolved.append(seg)
            if last:
                node[seg] = value
            else:
                if not isinstance(node.get(seg), dict | list):
                    node[seg] = {}
                node = node[seg]
        elif isinstance(node, list):
            i = _list_index(node, seg, tuple(resolved))
            resolved.append(i)
            if last:
                node[i] = value
            else:
                if not isinstance(node[i], dict | list):
                    raise PathError("not a mapping or list", tuple(resolved))
                node = node[i]
        else:
            raise PathError("not a mapping or list", tuple(resolved))
    return tuple(resolved)


def get_path(data: Any, segments: list[str]) -> Any:
    """The value at ``segments`` (list items by name or index); PathError when absent."""
    node = data
    resolved: list[str | int] = []
    for seg in segments:
        if isinstance(node, dict):
            if seg not in node:
                close = difflib.get_close_matches(seg, [str(k) for k in node], n=1, cutoff=0.6)
                raise PathError(f"no key {seg!r}", tuple(resolved),
                                f"did you mean {close[0]!r}?" if close else None)
            resolved.append(seg)
            node = node[seg]
        elif isinstance(node, list):
            i = _list_index(node, seg, tuple(resolved))
            resolved.append(i)
            node = node[i]
        else:
            raise PathError("not a mapping or list", tuple(resolved))
    return node


def with_values(data: dict[str, Any], assignments: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``data`` with each ``key.path -> value`` set."""
    out = copy.deepcopy(data)
    for key, value in assignments.items():
        set_path(out, split_key_path(key), copy.deepcopy(value))
    return out


def display_path(path: Path, data: Any) -> str:
    """Dotted form of ``path``, naming list items by ``name`` when they have a unique one."""
    parts: list[str] = []
    node = data
    for seg in path:
        if isinstance(seg, int) and isinstance(node, list):
            item = node[seg] if 0 <= seg < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            names = [it.get("name") for it in node if isinstance(it, dict)]
            if isinstance(name, str) and name and names.count(name) == 1 and "." not in name \
                    and not name.isdigit():
                parts.append(name)
            else:
                parts.append(str(seg))
            node = item
        else:
            parts.append(str(seg))
            node = node.get(seg) if isinstance(node, dict) else None
    return ".".join(parts)
