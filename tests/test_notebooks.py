"""The teaching notebooks run top to bottom, in this interpreter, and are stored without outputs.

Needs ``nbclient``, ``nbformat``, ``ipykernel`` and ``matplotlib``; skipped where they are missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "examples" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def execute(notebook, cwd: Path) -> None:
    # jupyter_client starts a kernelspec whose command is "python" with sys.executable, so the
    # kernel runs this interpreter (checked below).
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()


def test_kernel_runs_this_interpreter(tmp_path):
    cell = nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)")
    notebook = nbformat.v4.new_notebook(cells=[cell])
    execute(notebook, tmp_path)
    assert notebook.cells[0].outputs[0]["text"].strip() == sys.prefix


def test_notebooks_present():
    names = {p.name for p in NOTEBOOKS}
    assert {
        "01_episodes_and_curriculum.ipynb",
        "02_rewards_and_coverage.ipynb",
        "03_multi_turn_repair.ipynb",
    } <= names


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path):
    notebook = nbformat.read(path, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code_cells), (
        f"{path.name} is stored with outputs; clear them before committing"
    )
    execute(notebook, path.parent)
    images = [o for c in code_cells for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} drew no plot"
