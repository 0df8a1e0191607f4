"""Run the walkthrough notebooks top to bottom and keep their outputs.

Usage:
    python notebooks/execute.py [NOTEBOOK ...] [--budget full|small] [--out DIR] [--timeout SECONDS]

Without --out the notebooks are rewritten in place with fresh outputs (what is
committed: the full budget). The tests run every notebook with ``--budget small
--out TMP``: the same cells on fewer examples and epochs (each notebook reads
``KZOO_NOTEBOOK_BUDGET``), and fail on the first cell that raises.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Start-up chatter of TensorFlow's C++ runtime (and the node line under its warnings) and SavedModel writer,
#: dropped from the saved outputs.
NOISE = ("I0000 ", "W0000 ", "E0000 ", "To enable the following instructions: ",
         "WARNING: All log messages before absl::InitializeLog()", "INFO:tensorflow:Assets written to",
         "[IPKernelApp] WARNING | Kernel is running over TCP", "\t [[{{node ")


def _drop_noise(notebook) -> None:
    for cell in notebook.cells:
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                output["text"] = "".join(line for line in output["text"].splitlines(keepends=True)
                                         if not line.startswith(NOISE))
                if not output["text"]:
                    continue
            outputs.append(output)
        if cell.cell_type == "code":
            cell.outputs = outputs


def execute(path: Path, *, budget: str, out: Path | None, timeout: int) -> Path:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    os.environ["KZOO_NOTEBOOK_BUDGET"] = budget
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}})
    started = time.perf_counter()
    client.execute()
    _drop_noise(notebook)
    target = (out / path.name) if out else path
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    print(f"{path.name}: {time.perf_counter() - started:.0f} s ({budget} budget) -> {target}", flush=True)
    return target


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    parser.add_argument("--budget", choices=["full", "small"], default="full")
    parser.add_argument("--out", type=Path, default=None, help="write executed copies here instead of in place")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    for path in args.notebooks or sorted(HERE.glob("*.ipynb")):
        execute(path.resolve(), budget=args.budget, out=args.out, timeout=args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
