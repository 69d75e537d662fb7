"""Turning validation failures into located, actionable problems.

pydantic reports errors with a location tuple and a terse message; users need the file, the
line, the key path as they would write it (``enclaves.kv.regions.table.size``), what was
expected, what was found and, for a misspelt key or name, the nearest correct spelling. This
module does that translation; :mod:`epcsim.scenario.checks` produces :class:`Issue` objects
directly for the cross-field checks.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from epcsim.errors import Problem
from epcsim.scenario.paths import Path, display_path


@dataclass
class Issue:
    """One problem at a key path of the raw scenario data (list items by index)."""

    path: Path
    message: str
    expected: str | None = None
    found: str | None = None
    suggestion: str | None = None


class IssuesError(ValueError):
    """Raised inside validation to carry several located issues out of pydantic."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(i.message for i in issues))
        self.issues = issues


def short(value: object) -> str:
    """A short repr of a found value."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str | None:
    """``"did you mean 'x'?"`` for the closest choice, or None."""
    choices = [c for c in choices if isinstance(c, str)]
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        folded = {c.casefold(): c for c in choices}
        hits = difflib.get_close_matches(word.casefold(), list(folded), n=1, cutoff=0.6)
        close = [folded[h] for h in hits]
    return f"did you mean {close[0]!r}?" if close else None


_TYPE_TAGS = {"int", "float", "str", "bool", "list", "dict", "tuple", "none", "literal"}


def _is_tag(el: object) -> bool:
    return isinstance(el, str) and ("[" in el or el.startswith("function-")
                                    or el in _TYPE_TAGS)


def clean_loc(loc: tuple[str | int, ...], raw: Any) -> Path:
    """Drop pydantic's union tags from ``loc`` so that it is a path into ``raw``."""
    out: list[str | int] = []
    node = raw
    for el in loc:
        if isinstance(node, dict):
            if el in node:
                out.append(el)
                node = node[el]
                continue
            if isinstance(el, str) and (node.get("kind") == el or _is_tag(el)):
                continue
            out.append(el)
            node = None
        elif isinstance(node, list) and isinstance(el, int) and 0 <= el < len(node):
            out.append(el)
            node = node[el]
        else:
            if _is_tag(el):
                continue
            out.append(el)
            node = None
    return tuple(out)


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types inside Annotated / Optional / Union."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _field_by_key(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return info.annotation
    return None


def _pick(candidates: list[Any], raw: Any) -> list[Any]:
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    if len(models) > 1 and isinstance(raw, dict) and "kind" in raw:
        chosen = []
        for m in models:
            kind_ann = _field_by_key(m, "kind")
            if kind_ann is not None and raw["kind"] in typing.get_args(kind_ann):
                chosen.append(m)
        return chosen or models
    return models or candidates


def model_at(root: type[BaseModel], path: Path, raw: Any) -> type[BaseModel] | None:
    """The spec class that validates the mapping at ``path`` (None if not a spec)."""
    candidates: list[Any] = [root]
    node = raw
    for seg in path:
        nxt: list[Any] = []
        for c in _pick(candidates, node):
            if isinstance(c, type) and issubclass(c, BaseModel):
                if isinstance(seg, str):
                    ann = _field_by_key(c, seg)
                    if ann is not None:
                        nxt.extend(_unwrap(ann))
            else:
                origin = typing.get_origin(c)
                args = typing.get_args(c)
                if origin in (list, tuple) and args:
                    nxt.extend(_unwrap(args[0]))
                elif origin is dict and len(args) == 2:
                    nxt.extend(_unwrap(args[1]))
        candidates = nxt
        if isinstance(node, dict):
            node = node.get(seg) if isinstance(seg, str) else None
        elif isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
            node = node[seg]
        else:
            node = None
    models = _pick(candidates, node)
    for m in models:
        if isinstance(m, type) and issubclass(m, BaseModel):
            return m
    return None


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """The YAML keys a spec accepts."""
    return [info.alias or name for name, info in model.model_fields.items()]


def issues_from_validation_error(exc: ValidationError, raw: Any,
                                 root: type[BaseModel]) -> list[Issue]:
    """Located issues for every error in ``exc`` (raised validating ``raw`` as ``root``)."""
    issues: list[Issue] = []
    errors = exc.errors(include_url=False)
    for err in errors:
        if err["type"] == "too_short" and isinstance(err.get("input"), list | tuple) \
                and err["input"] and any(
                    e is not err and tuple(e["loc"][:len(err["loc"])]) == tuple(err["loc"])
                    for e in errors):
            continue  # pydantic also counts items that failed; their own errors say why
        ctx = err.get("ctx") or {}
        error = ctx.get("error")
        if isinstance(error, IssuesError):
            issues.extend(error.issues)
            continue
        loc = clean_loc(tuple(err["loc"]), raw)
        typ = err["type"]
        found = err.get("input")
        if "expected" in ctx and "found" in ctx:
            issues.append(Issue(loc, err["msg"], str(ctx["expected"]), str(ctx["found"]),
                                str(ctx.get("suggestion") or "") or None))
        elif typ == "extra_forbidden":
            model = model_at(root, loc[:-1], raw)
            keys = allowed_keys(model) if model else []
            key = str(loc[-1]) if loc else "?"
            issues.append(Issue(loc, f"unknown key {key!r}",
                                "one of: " + ", ".join(keys) if keys else None, None,
                                did_you_mean(key, keys)))
        elif typ == "missing":
            key = str(loc[-1]) if loc else "?"
            issues.append(Issue(loc, f"missing required key {key!r}"))
        elif typ == "union_tag_invalid":
            tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
            tag = str(ctx.get("tag", ""))
            issues.append(Issue((*loc, "kind"), f"unknown kind {tag!r}",
                                "one of: " + ", ".join(tags), short(tag),
                                did_you_mean(tag, tags)))
        elif typ == "union_tag_not_found":
            issues.append(Issue(loc, "missing required key 'kind'",
                                "a mapping with a `kind` key", short(found)))
        elif typ == "literal_error":
            expected = str(ctx.get("expected", ""))
            options = [t.strip(" '") for t in expected.replace(" or ", ",").split(",")]
            issues.append(Issue(loc, "not one of the allowed values", expected, short(found),
                                did_you_mean(str(found), options)))
        elif typ in ("model_type", "dict_type"):
            issues.append(Issue(loc, "expected a mapping (key: value lines)", "a mapping",
                                short(found)))
        elif typ == "too_short":
            n = ctx.get("min_length", 1)
            issues.append(Issue(loc, "must not be empty" if n == 1 else f"needs at least {n} "
                                "items", f"at least {n} item{'s' if n != 1 else ''}",
                                short(found)))
        elif typ == "too_long":
            issues.append(Issue(loc, "too many items",
                                f"at most {ctx.get('max_length')} items",
                                f"{len(found) if hasattr(found, '__len__') else found} items"))
        elif typ in ("int_parsing", "int_from_float", "int_type"):
            issues.append(Issue(loc, "not a whole number", "an integer", short(found)))
        elif typ in ("bool_parsing", "bool_type"):
            issues.append(Issue(loc, "not true or false", "true or false", short(found)))
        elif typ in ("list_type", "tuple_type"):
            issues.append(Issue(loc, "expected a list", "a list", short(found)))
        else:
            msg = err["msg"]
            if msg.startswith("Input should be "):
                issues.append(Issue(loc, "wrong value", msg[len("Input should be "):],
                                    short(found)))
            elif msg.startswith("Value error, "):
                issues.append(Issue(loc, msg[len("Value error, "):], None, short(found)))
            else:
                issues.append(Issue(loc, msg, None, short(found)))
    return issues


def to_problem(issue: Issue, raw: Any, lines: dict[Path, int], file: str | None) -> Problem:
    """A :class:`Problem` with the line of the longest known prefix of the issue's path."""
    line = None
    for n in range(len(issue.path), -1, -1):
        if issue.path[:n] in lines:
            line = lines[issue.path[:n]]
            break
    key = display_path(issue.path, raw) if issue.path else None
    return Problem(message=issue.message, file=file, line=line, key_path=key,
                   expected=issue.expected, found=issue.found, suggestion=issue.suggestion)

