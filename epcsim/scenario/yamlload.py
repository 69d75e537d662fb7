"""Safe, bounded YAML loading that remembers where every key was written.

Scenario files are user input, so loading them must be safe and must fail clearly:

- only :class:`yaml.SafeLoader` tags are constructed (no Python objects, ever);
- a file larger than :data:`MAX_FILE_BYTES` is refused before it is parsed;
- binary files (NUL bytes) and text that is not UTF-8 are refused with the line;
- aliases are expanded while counting nodes, and more than :data:`MAX_NODES` expanded nodes
  (a "billion laughs" alias bomb) is refused at once, without building the expansion;
- nesting deeper than :data:`MAX_DEPTH` is refused;
- duplicate keys in one mapping are reported (YAML allows them silently; we do not);
- every problem found is collected, with its line, rather than stopping at the first.

:func:`load_yaml_text` returns the plain data (dicts, lists, str, int, float, bool, None;
dates become ISO strings) and a map from key path (a tuple of keys and list indices) to the
1-based line where that key or item was written. Mapping keys are always strings, read from
the text as written (so ``on:`` stays the key ``"on"``, not ``True``).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import yaml

#: Largest scenario file accepted, in bytes (1 MiB).
MAX_FILE_BYTES = 1024 * 1024
#: Most YAML nodes after alias expansion.
MAX_NODES = 50_000
#: Deepest nesting of mappings and lists.
MAX_DEPTH = 40

Path = tuple[str | int, ...]


class ScenarioYamlLoader(yaml.SafeLoader):
    """The safe loader whose constructor turns scalar nodes into values (only the YAML 1.1
    core types: str, int, float, bool, null, timestamps); :func:`load_yaml_text` builds
    mappings and lists itself, with line numbers, duplicate-key detection and budgets."""


#: Parser used for the bounded pre-scan and for composing nodes: libyaml's C parser when
#: PyYAML was built with it (same resolver, same safe tag set, much faster), else the pure
#: Python SafeLoader. Neither constructs anything; construction uses ScenarioYamlLoader.
_PARSER: type = getattr(yaml, "CSafeLoader", ScenarioYamlLoader)

_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_LEAF = (yaml.ScalarEvent, yaml.AliasEvent)


@dataclass
class YamlProblem:
    """One problem found while reading YAML (converted to :class:`epcsim.errors.Problem`)."""

    message: str
    line: int | None = None
    path: Path = ()
    expected: str | None = None
    found: str | None = None


@dataclass
class YamlDocument:
    """Loaded data, where each key path was written, and problems found on the way."""

    data: Any = None
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[YamlProblem] = field(default_factory=list)


class _TooBig(Exception):
    pass


_SCALAR_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:timestamp",
}
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Builder:
    def __init__(self, loader: ScenarioYamlLoader, doc: YamlDocument) -> None:
        self.loader = loader
        self.doc = doc
        self.nodes = 0

    def build(self, node: yaml.Node, path: Path, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig
        line = node.start_mark.line + 1
        if depth > MAX_DEPTH:
            self.doc.problems.append(YamlProblem(
                "nested too deeply", line, path, expected=f"at most {MAX_DEPTH} levels",
                found="deeper nesting"))
            return None
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                self._bad_tag(node, path)
                return None
            out = []
            for i, item in enumerate(node.value):
                self.doc.lines.setdefault((*path, i), item.start_mark.line + 1)
                out.append(self.build(item, (*path, i), depth + 1))
            return out
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP_TAG:
                self._bad_tag(node, path)
                return None
            return self._mapping(node, path, depth)
        return None  # pragma: no cover - no other node kinds exist

    def _bad_tag(self, node: yaml.Node, path: Path) -> None:
        self.doc.problems.append(YamlProblem(
            "unsupported YAML tag", node.start_mark.line + 1, path,
            expected="plain YAML values (no tags)", found=str(node.tag)))

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        if node.tag not in _SCALAR_TAGS:
            self._bad_tag(node, path)
            return None
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError, yaml.YAMLError) as exc:
            self.doc.problems.append(YamlProblem(
                "value cannot be read", node.start_mark.line + 1, path,
                expected="a number, text, true/false or null", found=_short(node.value)
                + f" ({type(exc).__name__})"))
            return None
        if isinstance(value, _dt.datetime | _dt.date):
            return value.isoformat()
        return value

    def _key(self, node: yaml.Node, path: Path) -> str | None:
        if isinstance(node, yaml.ScalarNode):
            return str(node.value)
        self.doc.problems.append(YamlProblem(
            "a key must be plain text", node.start_mark.line + 1, path,
            expected="a text key", found="a " + ("list" if isinstance(
                node, yaml.SequenceNode) else "mapping")))
        return None

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        merged: list[dict[str, Any]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_sources(value_node, path, depth))
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            line = key_node.start_mark.line + 1
            if key in first_line:
                self.doc.problems.append(YamlProblem(
                    f"duplicate key {key!r} (first written on line {first_line[key]})",
                    line, (*path, key), expected="each key once per mapping",
                    found=f"{key!r} again"))
                continue
            first_line[key] = line
            self.doc.lines[(*path, key)] = line
            out[key] = self.build(value_node, (*path, key), depth + 1)
        for source in merged:  # explicit keys win over merged ones; earlier sources win
            for key, value in source.items():
                out.setdefault(key, value)
        return out

    def _merge_sources(self, node: yaml.Node, path: Path, depth: int) -> list[dict[str, Any]]:
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        sources = []
        for n in nodes:
            value = self.build(n, path, depth + 1)
            if isinstance(value, dict):
                sources.append(value)
            else:
                self.doc.problems.append(YamlProblem(
                    "a merge key (<<) must merge mappings", n.start_mark.line + 1, path,
                    expected="a mapping or list of mappings", found=type(value).__name__))
        return sources


def _short(text: object) -> str:
    s = repr(text)
    return s if len(s) <= 60 else s[:57] + "..."


def _line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode_scenario_bytes(data: bytes) -> tuple[str | None, list[YamlProblem]]:
    """UTF-8 text of ``data``, or problems (too big, binary, not UTF-8)."""
    if len(data) > MAX_FILE_BYTES:
        return None, [YamlProblem(
            "file too large for a scenario; refused without reading it", None, (),
            expected=f"at most {MAX_FILE_BYTES // 1024} KiB", found=f"{len(data)} bytes")]
    nul = data.find(b"\x00")
    if nul >= 0:
        return None, [YamlProblem(
            "binary file, not a YAML scenario", _line_of_offset(data, nul), (),
            expected="UTF-8 text", found=f"a NUL byte at offset {nul}")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [YamlProblem(
            "not UTF-8 text", _line_of_offset(data, exc.start), (),
            expected="UTF-8 text", found=f"byte 0x{data[exc.start]:02x} at offset {exc.start}")]
    return text, []


def load_yaml_text(text: str) -> YamlDocument:
    """Parse one YAML document safely; see the module docstring for the bounds."""
    doc = YamlDocument()
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        doc.problems.append(YamlProblem(
            "text too large for a scenario; refused", None, (),
            expected=f"at most {MAX_FILE_BYTES // 1024} KiB", found=f"{len(text)} characters"))
        return doc
    try:
        too_big = _prescan(text, doc)
        if too_big:
            return doc
        node = yaml.compose(text, Loader=_PARSER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if "nesting depth" in str(exc.problem):
            doc.problems.append(YamlProblem(
                "nested too deeply; refused", mark.line + 1 if mark else None, (),
                expected=f"at most {MAX_DEPTH} levels", found="deeper nesting"))
            return doc
        doc.problems.append(YamlProblem(
            "not valid YAML: " + " ".join(str(exc.problem or exc.context or "").split()),
            mark.line + 1 if mark else None, (), expected="YAML text",
            found=_short(_line_text(text, mark.line) if mark else "")))
        return doc
    except yaml.reader.ReaderError as exc:
        line = text[:exc.position].count("\n") + 1 if isinstance(exc.position, int) else None
        doc.problems.append(YamlProblem(
            "not valid YAML: a control character is not allowed", line, (),
            expected="printable text", found=f"character {exc.character!r}"))
        return doc
    except yaml.YAMLError as exc:
        doc.problems.append(YamlProblem("not valid YAML: " + " ".join(str(exc).split()),
                                        None, (), expected="YAML text"))
        return doc
    except RecursionError:
        doc.problems.append(YamlProblem("nested too deeply; refused", None, (),
                                        expected=f"at most {MAX_DEPTH} levels"))
        return doc
    if node is None:
        return doc
    constructor = ScenarioYamlLoader("")
    try:
        doc.data = _Builder(constructor, doc).build(node, (), 0)
    except _TooBig:
        doc.problems.append(YamlProblem(
            "too many YAML nodes after expanding aliases (an alias bomb?); refused",
            None, (), expected=f"at most {MAX_NODES} nodes", found="more"))
        doc.data = None
    finally:
        constructor.dispose()
    return doc


def _mark_line(mark: Any) -> int | None:
    return mark.line + 1 if mark is not None else None


def _prescan(text: str, doc: YamlDocument) -> bool:
    """Walk the parse events, refusing deep nesting and too many nodes before any node tree
    is built. True when refused (the problem is added to ``doc``)."""
    depth = 0
    count = 0
    for event in yaml.parse(text, Loader=_PARSER):
        if isinstance(event, _OPEN):
            depth += 1
            count += 1
            if depth > MAX_DEPTH:
                doc.problems.append(YamlProblem(
                    "nested too deeply; refused", _mark_line(event.start_mark), (),
                    expected=f"at most {MAX_DEPTH} levels", found="deeper nesting"))
                return True
        elif isinstance(event, _CLOSE):
            depth -= 1
        elif isinstance(event, _LEAF):
            count += 1
        if count > MAX_NODES:
            doc.problems.append(YamlProblem(
                "too many YAML nodes for a scenario; refused", _mark_line(event.start_mark), (),
                expected=f"at most {MAX_NODES} nodes", found="more"))
            return True
    return False


def _line_text(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line].strip() if 0 <= line < len(lines) else ""
