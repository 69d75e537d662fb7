"""The layer contract: one package per stage, imports flowing down only, no import cycles.

DESIGN.md section 3 fixes the order (top to bottom)::

    cli -> api -> validation, report -> sizing -> study -> model, scenario
        -> traces, epc, reference -> units, errors

This test reads every module of the package with :mod:`ast` (it imports nothing), collects
every ``import`` and ``from ... import`` (module level, inside functions and under
``if TYPE_CHECKING:``), and checks:

- each stage imports only the stages this table allows (:data:`ALLOWED`);
- the third-party libraries a stage must not depend on (:data:`FORBIDDEN_THIRD_PARTY`);
- no cycle among the imports that run (type-checking-only imports are annotations, and may
  point back inside a package, as import-linter's ``exclude_type_checking_imports`` does);
- nothing below ``cli`` and ``api`` prints (``print`` or ``sys.stdout``), except where a
  caller asked for it through a ``verbose``/``progress`` parameter listed in
  :data:`PRINTS_WHEN_ASKED`;
- the top level of ``epcsim/`` holds only the entry modules and the stage packages, and no
  module is longer than :data:`MAX_LINES`.

``check_tree`` is also run on a copy of the package with a deliberately wrong import, so the
contract is known to fail when it should.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "epcsim"

#: Stage -> the epcsim stages it may import (besides itself). ``epcsim`` is the package root,
#: whose ``__init__`` is lazy (it imports nothing of epcsim until a name is used), so any
#: stage may read ``epcsim.__version__`` from it.
BOTTOM = {"units", "errors", "epcsim"}
MEMORY = {"traces", "epc", "reference"} | BOTTOM
ALLOWED: dict[str, set[str]] = {
    "cli": {"api", "validation", "report", "sizing", "study", "model", "scenario"} | MEMORY,
    "__main__": {"cli"} | BOTTOM,
    "api": {"validation", "report", "sizing", "study", "model", "scenario"} | MEMORY,
    "validation": {"sizing", "study", "model", "scenario"} | MEMORY,
    "report": {"sizing", "study", "scenario"} | MEMORY,
    "sizing": {"study", "model", "scenario"} | MEMORY,
    "study": {"model", "scenario"} | MEMORY,
    "model": MEMORY,
    "scenario": MEMORY,
    "traces": {"epc"} | BOTTOM,
    "epc": BOTTOM,
    "reference": BOTTOM,
    "units": {"errors", "epcsim"},
    "errors": {"epcsim"},
    "epcsim": set(),
}

#: Third-party libraries a stage must not import.
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "traces": {"simpy", "pandas", "matplotlib", "pyarrow"},
    "epc": {"simpy", "pandas", "matplotlib", "pyarrow"},
    "reference": {"simpy", "pandas", "matplotlib", "numba"},
    "model": {"pandas", "matplotlib", "pyarrow"},
    "scenario": {"simpy", "pandas", "matplotlib", "pyarrow", "numba"},
    "units": {"simpy", "pandas", "matplotlib", "numpy", "numba"},
    "errors": {"simpy", "pandas", "matplotlib", "numpy", "numba"},
}

#: Modules below cli/api that may print, and the parameter through which a caller asks.
PRINTS_WHEN_ASKED: dict[str, str] = {
    "epcsim.study.runner": "verbose",
}

TOP_LEVEL_FILES = {"__init__.py", "__main__.py", "api.py", "errors.py", "units.py", "py.typed"}
STAGES = {"cli", "validation", "report", "sizing", "study", "model", "scenario", "traces",
          "epc", "reference"}
MAX_LINES = 600


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def stage_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "epcsim"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(tree: ast.Module, module: str, is_package: bool
               ) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, type-checking only) for every import in ``tree``."""
    tc_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for sub in node.body:
                for inner in ast.walk(sub):
                    if hasattr(inner, "lineno"):
                        tc_lines.add(inner.lineno)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, node.lineno in tc_lines
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # ``from epcsim.x import y`` imports the submodule epcsim.x.y when there is one
            # (an edge to that module, not to the package that holds it), else a name of x.
            for alias in node.names:
                yield f"{target}.{alias.name}", node.lineno, node.lineno in tc_lines
            yield target, node.lineno, node.lineno in tc_lines


def _is_main_block(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Compare) \
        and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"


def _prints(tree: ast.Module) -> list[int]:
    """Lines that print, outside an ``if __name__ == "__main__":`` block (a script's own
    entry point is a command line, asked to print)."""
    lines = []
    body = ast.Module(body=[n for n in tree.body if not _is_main_block(n)], type_ignores=[])
    for node in ast.walk(body):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "print":
            lines.append(node.lineno)
        if isinstance(node, ast.Attribute) and node.attr == "stdout" \
                and isinstance(node.value, ast.Name) and node.value.id == "sys":
            lines.append(node.lineno)
    return lines


def check_tree(root: Path) -> list[str]:
    """Every breach of the contract in the package at ``root``, as readable lines."""
    problems: list[str] = []
    files = sorted(root.rglob("*.py"))
    modules = {module_name(f, root): f for f in files}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_LINES:
            problems.append(f"{path.relative_to(root.parent)}: {len(text.splitlines())} lines "
                            f"(at most {MAX_LINES})")
        tree = ast.parse(text, filename=str(path))
        stage = stage_of(mod)
        allowed = ALLOWED.get(stage)
        if allowed is None:
            problems.append(f"{mod}: not a known stage ({stage}); add it to the contract")
            continue
        found = list(imports_of(tree, mod, path.name == "__init__.py"))
        submodule_lines: dict[str, set[int]] = {}
        for target, line, _ in found:
            parent = target.rpartition(".")[0]
            if target in modules and parent in modules:
                submodule_lines.setdefault(parent, set()).add(line)
        for target, line, tc_only in found:
            top = target.split(".")[0]
            where = f"{path.relative_to(root.parent)}:{line}"
            if top != "epcsim":
                if top in FORBIDDEN_THIRD_PARTY.get(stage, set()):
                    problems.append(f"{where}: stage '{stage}' must not import {top}")
                continue
            if target not in modules:
                continue  # a name imported from a module, not a module
            if line in submodule_lines.get(target, ()):
                continue  # ``from pkg import submodule``: the edge goes to the submodule
            tstage = stage_of(target)
            if tstage != stage and tstage not in allowed:
                problems.append(f"{where}: '{mod}' imports '{target}': stage '{stage}' may "
                                f"not depend on stage '{tstage}'")
            if not tc_only and target != mod:
                graph[mod].add(target)
        if stage not in ("cli", "api", "__main__", "epcsim"):
            printed = _prints(tree)
            if printed and mod not in PRINTS_WHEN_ASKED:
                problems.append(f"{path.relative_to(root.parent)}:{printed[0]}: prints, but "
                                f"only cli and api may (or list it in PRINTS_WHEN_ASKED)")
    problems.extend(_cycles(graph))
    for entry in root.iterdir():
        if entry.name.startswith((".", "__pycache__")):
            continue
        if entry.is_dir() and entry.name not in STAGES:
            problems.append(f"epcsim/{entry.name}/: a top-level package that is not a stage")
        if entry.is_file() and entry.name not in TOP_LEVEL_FILES:
            problems.append(f"epcsim/{entry.name}: the top level holds only "
                            f"{sorted(TOP_LEVEL_FILES)} and the stage packages")
    return problems


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """Strongly connected components with more than one module (Tarjan), as messages.

    A package's ``__init__`` that re-exports its submodules is not a cycle with them when
    the submodules do not import the package itself; importing ``epcsim.x`` from a module
    of ``epcsim.x`` would be."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[str] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append("import cycle: " + " <-> ".join(sorted(comp)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_package_keeps_the_layer_contract() -> None:
    problems = check_tree(PACKAGE)
    assert not problems, "layer contract broken:\n" + "\n".join(problems)


@pytest.mark.parametrize(("module", "line", "message"), [
    ("model/metrics.py", "import pandas as pd\n", "stage 'model' must not import pandas"),
    ("model/records.py", "from epcsim.scenario import load_scenario\n",
     "stage 'model' may not depend on stage 'scenario'"),
    ("traces/counts.py", "from epcsim.study import run_study\n",
     "stage 'traces' may not depend on stage 'study'"),
    ("scenario/paths.py", "from epcsim.model import simulate\n",
     "stage 'scenario' may not depend on stage 'model'"),
    ("epc/mrc.py", "import simpy\n", "stage 'epc' must not import simpy"),
    ("study/stats.py", "from epcsim.study.runner import run_study\n", "import cycle"),
    ("sizing/knee.py", "print('hello')\n", "prints, but only cli and api may"),
])
def test_contract_fails_on_a_wrong_import(tmp_path: Path, module: str, line: str,
                                          message: str) -> None:
    copy = tmp_path / "epcsim"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + "\n" + line, encoding="utf-8")
    problems = check_tree(copy)
    assert any(message in p for p in problems), problems


def test_contract_fails_on_a_stray_top_level_module(tmp_path: Path) -> None:
    copy = tmp_path / "epcsim"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "glue.py").write_text('"""glue"""\n', encoding="utf-8")
    assert any("epcsim/glue.py" in p for p in check_tree(copy))
