"""Ship the trained MNIST weights of bench/weights/ as `mnist` presets in zoo/pretrained/.

Usage:
    python bench/install_presets.py

For each bench/weights/<model>-mnist run, measures the test accuracy with
`zoo evaluate <model> --weights bench/weights/<model>-mnist --dataset mnist --json`
and writes zoo/pretrained/<model>/mnist with `zoo.save_preset` (config, weights
without optimizer state, metadata with sha256 per file and the metric's command,
model card), which `zoo.create(model, weights="mnist")` then loads.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODELS = ("lenet5", "lenet5_caffe", "lenet_300_100", "mlp")


def main() -> int:
    import zoo
    from zoo.weights import create_trained

    for name in MODELS:
        run = f"bench/weights/{name}-mnist"
        command = ["zoo", "evaluate", name, "--weights", run, "--dataset", "mnist", "--json"]
        done = subprocess.run([str(Path(sys.executable).with_name("zoo")), *command[1:]], cwd=ROOT, check=True,
                              stdout=subprocess.PIPE, text=True)
        accuracy = json.loads(done.stdout)["accuracy"]
        model, run_config = create_trained(name, ROOT / run)
        training = run_config["training"]
        target = zoo.save_preset(
            model, ROOT / "zoo" / "pretrained" / name / "mnist", name=name, dataset="mnist", overwrite=True,
            description=(f"{name} trained on MNIST by `zoo train` ({training['epochs']} epochs, {training['optimizer']}, "
                         f"lr {training['lr']}, {training['schedule']} schedule); report: bench/reports/{name}-mnist.md "
                         f"where there is one."),
            metrics={"accuracy": {"value": accuracy, "command": shlex.join(command)}},
        )
        print(f"{name}: test accuracy {accuracy:.4f} -> {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
