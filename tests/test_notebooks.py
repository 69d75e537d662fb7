"""The notebooks in notebooks/ run from top to bottom on short settings.

Each notebook is stored without outputs and is executed here with nbclient on the
``python3`` kernel of this interpreter's environment, with ``EPCSIM_NOTEBOOK_FAST=1`` (short
durations, few sizes) and ``EPCSIM_NOTEBOOK_OUT`` pointing at a temporary folder (the only
place a notebook may write). A notebook passes when every cell runs without error, it shows
at least one figure, it takes under a minute, and it left no file behind in the repository.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = ("quickstart", "sizing", "what-if", "epc-knee")
#: Wall-clock budget per notebook on short settings (kernel start included).
BUDGET_S = 60.0

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def _paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _snapshot(folder: Path) -> dict[str, float]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in folder.rglob("*")
            if ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts}


def test_the_expected_notebooks_exist() -> None:
    assert {p.stem for p in _paths()} >= set(EXPECTED)


@pytest.mark.parametrize("path", _paths(), ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a code cell has stored outputs"
            assert cell.execution_count is None
    # Opens with a title and says how to run it fast.
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert any("EPCSIM_NOTEBOOK_FAST" in c.source for c in nb.cells)


@pytest.mark.parametrize("path", _paths(), ids=lambda p: p.stem)
def test_notebook_runs_on_short_settings(path: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("ipykernel") is None:
        pytest.skip("ipykernel is not installed in this environment")
    out = tmp_path / "results"
    monkeypatch.setenv("EPCSIM_NOTEBOOK_FAST", "1")
    monkeypatch.setenv("EPCSIM_NOTEBOOK_OUT", str(out))
    before_nb = _snapshot(NOTEBOOKS)
    before_results = _snapshot(ROOT / "results" / "notebooks")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=int(BUDGET_S * 2),
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError with the cell and traceback on failure
    wall_s = time.perf_counter() - t0
    assert wall_s < BUDGET_S, f"{path.name} took {wall_s:.0f} s on short settings"
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} shows no figure"
    first_stream = next(o for o in outputs if o.output_type == "stream")
    assert "fast mode" in first_stream.text and str(out) in first_stream.text
    # Nothing written next to the notebooks or into the repository's results folder.
    assert _snapshot(NOTEBOOKS) == before_nb
    assert _snapshot(ROOT / "results" / "notebooks") == before_results
