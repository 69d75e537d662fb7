"""The bad-scenario corpus: every file fails with exit status 2, a located one-line message
per problem that names the expected key path and problem, no traceback, in under 2 s.

Each file in tests/bad_scenarios/ starts with ``# expect: LINE | KEY.PATH | FRAGMENT``
(``-`` where there is no line or key path) and a ``# Tests:`` comment. Cases that cannot
sensibly be committed (binary, non-UTF-8, oversized, alias bombs...) are generated below.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from epcsim.cli import main as cli_main
from epcsim.errors import ScenarioError
from epcsim.scenario import load_scenario
from epcsim.scenario.yamlload import MAX_FILE_BYTES

CORPUS = Path(__file__).parent / "bad_scenarios"
FILES = sorted(CORPUS.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\S+) \| (\S+) \| (.+)$")


@pytest.fixture(autouse=True, scope="module")
def _warm_imports() -> None:
    """Import every CLI command once, so the 2 s bound measures checking, not imports."""
    from epcsim.cli import build_parser

    build_parser()
    load_scenario(Path(__file__).parent.parent / "scenarios" / "quickstart.yaml")


def test_corpus_is_big_enough():
    assert len(FILES) >= 30


def _expectation(path: Path) -> tuple[str, str, str]:
    lines = path.read_bytes().decode("utf-8").splitlines()
    m = EXPECT.match(lines[0])
    assert m, f"{path.name}: first line must be '# expect: LINE | KEY | FRAGMENT'"
    assert lines[1].startswith("# Tests: "), f"{path.name}: second line must say what it tests"
    return m.group(1), m.group(2), m.group(3)


def _run_check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, float]:
    start = time.perf_counter()
    status = cli_main(["check", str(path)])
    elapsed = time.perf_counter() - start
    return status, capsys.readouterr().err, elapsed


def _problem_lines(err: str) -> list[str]:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if lines and lines[0] == "epcsim: error:":
        return lines[1:]
    return [ln.removeprefix("epcsim: error: ") for ln in lines]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_bad_scenario(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line, key, fragment = _expectation(path)
    status, err, elapsed = _run_check(path, capsys)
    assert status == 2
    assert "Traceback" not in err
    assert elapsed < 2.0
    problems = _problem_lines(err)
    assert problems, err
    for p in problems:  # one located line per problem
        assert p.startswith(str(path)), p
    prefix = str(path) + (f":{line}: " if line != "-" else ": ")
    if key != "-":
        prefix += f"{key}: "
    hits = [p for p in problems if p.startswith(prefix) and fragment in p]
    assert hits, f"expected a line starting {prefix!r} containing {fragment!r}; got:\n{err}"


def test_all_problems_of_a_file_together(tmp_path: Path) -> None:
    text = (CORPUS / "unknown_unit.yaml").read_text().replace("threads: 2", "thread: 2")
    text = text.replace("warmup: 0.5 s", "warmup: 5 s x")
    f = tmp_path / "many.yaml"
    f.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(f)
    keys = {p.key_path for p in info.value.problems}
    assert {"enclaves.kv.size", "enclaves.kv.thread", "simulation.warmup"} <= keys


def test_cli_exit_status_and_no_traceback_in_a_real_process() -> None:
    some = [str(p) for p in FILES[:8]]
    proc = subprocess.run([sys.executable, "-m", "epcsim", "check", *some],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    for p in some:
        assert p in proc.stderr


def test_debug_shows_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ScenarioError):
        cli_main(["--debug", "check", str(CORPUS / "unknown_vm.yaml")])


# ---- generated cases ------------------------------------------------------------------------


def _fails_fast(path: Path, fragment: str, capsys: pytest.CaptureFixture[str]) -> str:
    status, err, elapsed = _run_check(path, capsys)
    assert status == 2
    assert "Traceback" not in err
    assert elapsed < 2.0, elapsed
    assert fragment in err, err
    return err


def test_binary_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "binary.yaml"
    f.write_bytes(b"name: x\n\x00\x01\x02\xff\xfe" + bytes(range(256)))
    err = _fails_fast(f, "binary file, not a YAML scenario", capsys)
    assert f"{f}:2:" in err


def test_non_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "latin1.yaml"
    f.write_bytes("name: x\ndescription: caf\u00e9\n".encode("latin-1"))
    err = _fails_fast(f, "not UTF-8 text", capsys)
    assert f"{f}:2:" in err and "0xe9" in err


def test_control_characters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "ctrl.yaml"
    f.write_bytes(b"name: x\ndescription: a\x07b\n")
    err = _fails_fast(f, "not valid YAML: a control character is not allowed", capsys)
    assert f"{f}:2:" in err


def test_oversized_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "huge.yaml"
    f.write_bytes(b"# " + b"x" * (MAX_FILE_BYTES + 10) + b"\nname: x\n")
    _fails_fast(f, "file too large for a scenario", capsys)


def test_billion_laughs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append("name: bomb")
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(lines) + "\n")
    _fails_fast(f, "alias bomb", capsys)


def test_merge_key_bomb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ["m0: &m0 {k0: 1, k1: 2, k2: 3, k3: 4, k4: 5}"]
    for i in range(1, 12):
        lines.append(f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}, *m{i - 1}, *m{i - 1}]}}")
    f = tmp_path / "merge.yaml"
    f.write_text("\n".join(lines) + "\n")
    _fails_fast(f, "alias bomb", capsys)


def test_deep_nesting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "deep.yaml"
    f.write_text("name: x\ndescription: " + "[" * 5000 + "]" * 5000 + "\n")
    _fails_fast(f, "nested too deeply", capsys)


def test_huge_integer_literal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = (CORPUS / "unknown_unit.yaml").read_text().replace("64 Mib", "9" * 5000)
    f = tmp_path / "bigint.yaml"
    f.write_text(base)
    _fails_fast(f, "enclaves.kv.size", capsys)


def test_huge_exponent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = (CORPUS / "unknown_unit.yaml").read_text().replace("64 Mib", "1e999999999 B")
    f = tmp_path / "bigexp.yaml"
    f.write_text(base)
    _fails_fast(f, "number out of range", capsys)


def test_missing_file_and_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fails_fast(tmp_path / "nope.yaml", "no such scenario file", capsys)
    _fails_fast(tmp_path, "a folder, not a scenario file", capsys)


def test_bad_override(capsys: pytest.CaptureFixture[str]) -> None:
    good = Path(__file__).parent.parent / "scenarios" / "quickstart.yaml"
    status = cli_main(["check", str(good), "--set", "simulation.warmup"])
    err = capsys.readouterr().err
    assert status == 2 and "malformed override" in err
    status = cli_main(["check", str(good), "--set", "enclaves.kvv.threads=3"])
    err = capsys.readouterr().err
    assert status == 2 and "no item named 'kvv'" in err and "did you mean 'kv'?" in err
    status = cli_main(["check", str(good), "--set", "simulation.warmp=1s"])
    err = capsys.readouterr().err
    assert status == 2 and "did you mean 'warmup'?" in err
