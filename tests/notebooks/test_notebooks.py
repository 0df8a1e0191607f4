"""Every walkthrough notebook runs top to bottom (small budget) and shows what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
#: Per notebook, text its executed outputs must contain (proof the walkthrough did its job, not just ran).
EXPECTED = {
    "01_quickstart.ipynb": ["'accuracy':", "predicted:", "AVAILABLE"],
    "02_finetuning.ipynb": ["fine-tuned (two stages)", "transferred: ['conv1', 'conv2', 'fc1', 'fc2']", "(None, 4)"],
    "03_compression.ipynb": ["compression:", "distinct values", "'accuracy':"],
    "04_serving.ipynb": ["INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION", "(3, 'AVAILABLE')",
                         ":tensorflow:serving:request_count"],
}


def _text(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") + str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_every_notebook_is_covered():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_notebook_runs_with_a_small_budget(name, tmp_path):
    done = subprocess.run([sys.executable, str(NOTEBOOKS / "execute.py"), str(NOTEBOOKS / name), "--budget", "small",
                           "--out", str(tmp_path), "--timeout", "600"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    text = _text(nbformat.read(tmp_path / name, as_version=4))
    for expected in EXPECTED[name]:
        assert expected in text, f"{name}: {expected!r} not in the outputs"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_committed_notebook_holds_real_outputs(name):
    """The committed copy was executed (full budget) and every code cell has run, in order, without errors."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    for expected in EXPECTED[name]:
        assert expected in _text(notebook)
