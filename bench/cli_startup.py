"""Start-up time of the ``zoo`` commands that should not need TensorFlow (issue 21).

Runs each command ``--runs`` times in a fresh interpreter (``python -m zoo.cli ...``) with the code of
``--root`` on ``PYTHONPATH`` and records the median wall-clock time. Run it once on a checkout from before a
change (``--label before``) and once after (``--label after``): both land in the same report, side by side.

    python bench/cli_startup.py --root /path/to/old/checkout --label before
    python bench/cli_startup.py --root . --label after

``zoo predict`` is measured as its client side: a .npy input sent to a port where nothing listens, so the
time is the start-up plus one refused connection.

Writes bench/reports/cli-startup.json and bench/reports/cli-startup.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPORTS = Path(__file__).resolve().parent / "reports"
GOALS = {"--help": 1.0, "list": 1.0, "presets": 1.0, "predict": 1.5}


def commands(npy: Path) -> dict[str, list[str]]:
    """The measured commands, by the name the report shows."""
    return {
        "--help": ["--help"],
        "list": ["list"],
        "presets": ["presets"],
        "info": ["info", "lenet5"],
        "info --no-build": ["info", "lenet5", "--no-build"],
        "predict": ["predict", "--server", "127.0.0.1:1", "--timeout", "2", "--model", "lenet5", "--input", str(npy)],
    }


def time_command(root: Path, args: list[str], runs: int) -> list[float]:
    """Wall-clock seconds of ``python -m zoo.cli ARGS``, once per run."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"} | {"PYTHONPATH": str(root)}
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "zoo.cli", *args], cwd=root, env=env, capture_output=True, check=False)
        seconds.append(time.perf_counter() - start)
    return seconds


def git_commit(root: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


def write_markdown(report: dict) -> None:
    labels = list(report["runs"])
    names = list(dict.fromkeys(n for run in report["runs"].values() for n in run["commands"]))
    lines = [
        "# zoo command start-up",
        "",
        f"Machine: {report['machine']}. Median wall-clock seconds of `python -m zoo.cli ARGS` in a fresh "
        f"interpreter (`python bench/cli_startup.py --root DIR --label LABEL`). The machine is shared: "
        f"load average at the end of each run: "
        + ", ".join(f"{l} {r.get('load_average_1min', '?')}" for l, r in report["runs"].items())
        + ".",
        "",
        "| command | " + " | ".join(f"{l} ({report['runs'][l]['commit']})" for l in labels) + " | goal |",
        "|---|" + "---|" * (len(labels) + 1),
    ]
    for name in names:
        cells = []
        for label in labels:
            row = report["runs"][label]["commands"].get(name)
            cells.append(f"{row['median_s']:.2f} s" if row else "-")
        args = next(r["commands"][name]["args"] for r in report["runs"].values() if name in r["commands"])
        goal = f"< {GOALS[name]} s" if name in GOALS else ""
        lines.append(
            f"| `zoo {' '.join(a if not a.endswith('.npy') else 'x.npy' for a in args)}` | "
            + " | ".join(cells)
            + f" | {goal} |"
        )
    lines += [
        "",
        "`predict` sends one .npy input to 127.0.0.1:1, where nothing listens: start-up plus a refused "
        "connection. `info lenet5` builds the model (Keras); `zoo info NAME --no-build` does not.",
    ]
    (REPORTS / "cli-startup.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=".", help="checkout whose zoo/ is measured")
    parser.add_argument("--label", required=True, help="column of the report (before, after)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--commit", default=None, help="the commit --root holds, when it is not a git checkout")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    path = REPORTS / "cli-startup.json"
    report = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    report["machine"] = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        npy = Path(tmp) / "x.npy"
        np.save(npy, np.zeros((28, 28, 1), np.float32))
        rows = {}
        for name, cmd in commands(npy).items():
            seconds = time_command(root, cmd, args.runs)
            rows[name] = {
                "args": cmd,
                "median_s": round(statistics.median(seconds), 3),
                "runs_s": [round(s, 3) for s in seconds],
            }
            print(f"{args.label} zoo {name}: median {rows[name]['median_s']:.2f} s", flush=True)
    report["runs"][args.label] = {
        "load_average_1min": round(os.getloadavg()[0], 1),
        "root": str(root),
        "commit": args.commit or git_commit(root),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commands": rows,
    }
    REPORTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
