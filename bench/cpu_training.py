"""Training speed on the CPU, side by side: precision, XLA, Keras backend, and the input pipeline's cost.

One worker process per Keras backend (``KERAS_BACKEND`` set before Keras is imported)
holds every configuration of that backend, built and compiled once. The parent then
interleaves timed windows over all configurations (A B C ... A B C ...), so load from
other processes on a shared machine spreads over all of them, and reports the median
examples/s of the windows per configuration and the ratios to the baseline (TensorFlow,
float32, no XLA, real pipeline: what ``zoo train`` did before).

A configuration is (model, backend, precision, jit_compile, input):

* ``input="cached"``: one real CIFAR-10 batch held in memory, repeated (the model alone);
* ``input="pipeline"``: ``zoo``'s training pipeline on the offline JPEG copy (decoded and cached
  arrays, per-epoch shuffle, random crop + flip, prefetch), as ``zoo train`` feeds the model;
* ``input="arrays"``: random crop + flip in NumPy on the host (its time counted), fed to ``fit``
  as arrays, as ``bench/train_arrays.py`` does on any backend (no tf.data beside the model);

and a kernel path (``--norms``): ``norm="fused"`` (zoo's layers: ``FusedBatchNormalization``'s TensorFlow
kernel, ``FastLayerNormalization``'s and ``zoo.layers.gelu``'s hand-written gradients; what the models use),
``norm="keras"`` (Keras' own ops for all three, what the models used before) or ``norm="keras_gelu"`` (zoo's
normalisation with Keras' GELU: isolates the GELU).

``--onednn default on off`` runs TensorFlow with its own choice of oneDNN kernels (on for CPUs with
AVX-512 VNNI/BF16 or AMX, off elsewhere) or with ``TF_ENABLE_ONEDNN_OPTS`` forced to 1 or 0; each
setting gets its own worker process, since TensorFlow reads the variable once, at import.

On the JAX backend ``jit_compile=False`` runs op by op (eager) and is not a candidate, so
only ``jit_compile=True`` is measured there.

Usage:
    python bench/cpu_training.py                      # writes bench/reports/cpu-training.{md,json}
    python bench/cpu_training.py --rounds 2 --steps 5 --models resnet20   # quicker
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "bench" / "reports"
#: ``cached``: the model alone; ``pipeline``: zoo's tf.data pipeline; ``arrays``: augmented in NumPy, fed as arrays.
INPUTS = ("cached", "pipeline", "arrays")
BASELINE = {
    "backend": "tensorflow",
    "batch": 128,
    "precision": "float32",
    "jit": False,
    "input": "pipeline",
    "norm": "keras",
    "onednn": "default",
}
NORMS = ("fused", "keras", "keras_gelu")


def configurations(
    models: list[str],
    backends: list[str],
    precisions: list[str],
    jits: list[str],
    batch_sizes: list[int],
    inputs: tuple[str, ...] = INPUTS,
    norms: tuple[str, ...] = ("fused",),
    onednn: tuple[str, ...] = ("default",),
) -> list[dict]:
    """Every measured configuration, in the order of each round."""
    configs = []
    grid = itertools.product(models, backends, onednn, batch_sizes, precisions, jits, norms, inputs)
    for model, backend, kernels, batch, precision, jit, norm, source in grid:
        if backend == "jax" and jit == "off":
            continue  # op by op: not a candidate
        configs.append(
            {
                "model": model,
                "backend": backend,
                "batch": batch,
                "precision": precision,
                "jit": jit == "on",
                "norm": norm,
                "input": source,
                "onednn": kernels,
            }
        )
    return configs


def key(config: dict) -> str:
    return (
        f"{config['model']}|{config['backend']}|batch={config['batch']}|{config['precision']}|jit={config['jit']}|"
        f"norm={config['norm']}|{config['input']}|onednn={config['onednn']}"
    )


# ----------------------------------------------------------------------------------------- worker side


def _worker() -> None:
    """Reads one JSON command per line on stdin, answers one JSON line on stdout."""
    import keras
    import numpy as np
    import tensorflow as tf

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    from keras.activations import gelu as keras_gelu
    from train_arrays import augment

    import zoo
    from zoo import data
    from zoo.data.pipeline import make_pipeline, steps_per_epoch
    from zoo.layers import FastLayerNormalization, FusedBatchNormalization, gelu
    from zoo.layers.transformer import TransformerBlock
    from zoo.training.distribute import precision
    from zoo.training.optim import make_optimizer

    spec, train = data.load("cifar10", "train")

    def cached(batch_size):  # one real batch, repeated
        batch = (train.images[:batch_size].astype("float32") / 255.0, train.labels[:batch_size].astype("int64"))
        return tf.data.Dataset.from_tensors(batch).repeat()

    built: dict[str, keras.Model] = {}
    answer = sys.stdout
    sys.stdout = sys.stderr  # Keras' prints must not reach the protocol stream

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())

        def on_train_begin(self, logs=None):
            self.times = []

    for line in sys.stdin:
        command = json.loads(line)
        config, steps = command["config"], command["steps"]
        batch_size = config["batch"]
        name = key(config)
        model_key = name.rsplit("|", 1)[0]
        model = built.get(model_key)
        if model is None:
            keras.utils.set_random_seed(0)
            with precision(config["precision"] == "bfloat16"):
                model = zoo.create(config["model"], **spec.model_overrides())
            for layer in model._flatten_layers():
                if isinstance(layer, FusedBatchNormalization):
                    layer.use_fused_kernel = config["norm"] != "keras"
                if isinstance(layer, FastLayerNormalization):
                    layer.use_fast_path = config["norm"] != "keras"
                if isinstance(layer, TransformerBlock):
                    layer.fc1.activation = gelu if config["norm"] == "fused" else keras_gelu
            model.compile(
                optimizer=make_optimizer("sgd", 0.01, 5e-4),
                jit_compile=config["jit"],
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            )
            built[model_key] = model
        augment_seconds = 0.0
        if config["input"] == "arrays":  # bench/train_arrays.py's path: NumPy crop + flip on the host, then arrays
            started = time.perf_counter()
            rng = np.random.default_rng(command.get("seed", 0))
            pick = rng.choice(len(train), (steps + 1) * batch_size, replace=False)
            x = augment(train.images[pick], "crop_flip", rng, pad=4).astype("float32") / 255.0
            augment_seconds = (time.perf_counter() - started) * steps / (steps + 1)
            ds = (x, train.labels[pick].astype("int64"))
        elif config["input"] == "cached":
            ds = cached(batch_size)
        else:
            epochs = -(-(steps + 1) // steps_per_epoch(len(train), batch_size)) + 1
            ds = make_pipeline(
                spec,
                train.images,
                train.labels,
                batch_size=batch_size,
                training=True,
                seed=command.get("seed", 0),
                epochs=epochs,
            )
        clock = Clock()
        started = time.perf_counter()
        if isinstance(ds, tuple):
            model.fit(*ds, batch_size=batch_size, epochs=1, shuffle=False, verbose=0, callbacks=[clock])
        else:
            model.fit(ds, epochs=1, steps_per_epoch=steps + 1, verbose=0, callbacks=[clock])
        total = time.perf_counter() - started
        # the first step (and iterator start-up) is excluded; the host augmentation of the timed steps is not
        seconds = clock.times[-1] - clock.times[0] + augment_seconds
        answer.write(
            json.dumps(
                {
                    "key": name,
                    "examples_per_second": steps * batch_size / seconds,
                    "seconds": seconds,
                    "call_seconds": total,
                    "dtype_policy": model.dtype_policy.name,
                }
            )
            + "\n"
        )
        answer.flush()


# ----------------------------------------------------------------------------------------- parent side


class Worker:
    def __init__(self, backend: str, onednn: str = "default"):
        env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
        env.pop("TF_ENABLE_ONEDNN_OPTS", None)
        if onednn != "default":
            env["TF_ENABLE_ONEDNN_OPTS"] = "1" if onednn == "on" else "0"
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
        )

    def run(self, config: dict, steps: int, seed: int) -> dict:
        self.proc.stdin.write(json.dumps({"config": config, "steps": steps, "seed": seed}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {config['backend']} worker died (see its stderr above)")
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def versions() -> dict:
    out = {}
    for backend in ("tensorflow", "jax", "torch"):
        code = f"import importlib; m = importlib.import_module({backend!r}); print(m.__version__)"
        try:
            out[backend] = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout.strip()
        except subprocess.CalledProcessError:
            out[backend] = None
    import keras

    out["keras"] = keras.__version__
    out["python"] = platform.python_version()
    return out


def machine() -> dict:
    from zoo.cpu_kernels import cpu_flags, cpu_model_name

    flags = cpu_flags() or []
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    return {"cpu": cpu_model_name(), "cores": os.cpu_count(), "isa": isa, "load_average_start": os.getloadavg()}


def summarise(results: dict[str, list[float]], configs: list[dict]) -> list[dict]:
    base = {key(c): c for c in configs}
    rows = []
    for config in configs:
        values = results[key(config)]
        baseline_keys = [key({**config, **BASELINE}), key({**config, **BASELINE, "norm": config["norm"]})]
        baseline = next((statistics.median(results[k]) for k in baseline_keys if results.get(k)), None)
        median = statistics.median(values)
        rows.append(
            {
                **base[key(config)],
                "examples_per_second": round(median, 1),
                "windows": [round(v, 1) for v in values],
                "vs_baseline": round(median / baseline, 2) if baseline else None,
            }
        )
    return rows


def markdown(report: dict) -> str:
    lines = [
        "# Training speed on this CPU: precision, XLA, backend, input pipeline",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores "
        f"({', '.join(report['machine']['isa'])}); load average {report['machine']['load_average_start'][0]:.1f} "
        f"at the start, {report['load_average_end'][0]:.1f} at the end (the run itself keeps about 2 busy; more "
        "means other work shared the cores and absolute figures are low). The configurations were interleaved "
        "(one window of each per round), so the ratios hold best.  ",
        f"Versions: Keras {report['versions']['keras']}, TensorFlow {report['versions']['tensorflow']}, "
        f"JAX {report['versions']['jax']}, PyTorch {report['versions'].get('torch')}, Python {report['versions']['python']}.  ",
        f"Batch sizes {report['batch_sizes']}, {report['steps']} timed steps per window (after {report['warmup_steps']} "
        f"warm-up steps and the first step of each window), {report['rounds']} rounds; median examples/s of the "
        "windows. `vs base`: ratio to TensorFlow, float32, no XLA, Keras' normalisation, real pipeline (`zoo "
        "train`'s former default; the same normalisation where Keras' was not measured).",
        "",
        "Input `cached`: one real CIFAR-10 batch held in memory, repeated (the model alone). `pipeline`: zoo's "
        "training pipeline on the offline JPEG copy (decoded once and cached, shuffled per epoch, random crop + "
        "flip, prefetched). `arrays`: `bench/train_arrays.py`'s path, random crop + flip in NumPy on the host (its "
        "time counted), fed to `fit` as arrays. JAX without `jit_compile` runs op by op and is not measured. Norm "
        "`fused`: zoo's `FusedBatchNormalization` (TensorFlow's fused kernel), `FastLayerNormalization` and "
        "`zoo.layers.gelu` (hand-written gradients); `keras`: Keras' own ops for all three; `keras_gelu`: zoo's "
        "normalisation with Keras' GELU.",
        "",
        "| model | backend | oneDNN | batch | precision | jit_compile | norm | input | examples/s | vs base | windows |",
        "|---|---|---|---:|---|---|---|---|---:|---:|---|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['model']} | {row['backend']} | {row['onednn']} | {row['batch']} | {row['precision']} | {row['jit']} | {row['norm']} | "
            f"{row['input']} | "
            f"{row['examples_per_second']:.0f} | {row['vs_baseline']} | "
            f"{', '.join(f'{v:.0f}' for v in row['windows'])} |"
        )
    lines += ["", "## Reading", "", report.get("reading") or "(not given: pass --reading)", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["resnet20", "cct_4_3x2_32"])
    p.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[128])
    p.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    p.add_argument("--jit", nargs="+", default=["off", "on"], choices=["off", "on"], help="jit_compile settings")
    p.add_argument("--inputs", nargs="+", default=list(INPUTS), choices=INPUTS)
    p.add_argument(
        "--norms",
        nargs="+",
        default=["fused"],
        choices=NORMS,
        help="kernel paths: zoo's fast normalisation and GELU, Keras' ops, or zoo's normalisation with Keras' GELU",
    )
    p.add_argument(
        "--onednn",
        nargs="+",
        default=["default"],
        choices=["default", "on", "off"],
        help="TensorFlow's oneDNN kernels: its per-CPU default, or TF_ENABLE_ONEDNN_OPTS forced on or off",
    )
    p.add_argument("--reading", default=None, help="a paragraph for the report's Reading section")
    p.add_argument("--steps", type=int, default=10, help="timed steps per window")
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default=str(REPORTS / "cpu-training"), help="report path without suffix")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        _worker()
        return 0

    configs = configurations(
        args.models,
        args.backends,
        args.precisions,
        args.jit,
        args.batch_sizes,
        args.inputs,
        tuple(args.norms),
        tuple(args.onednn),
    )
    workers = {(b, o): Worker(b, o) for b in args.backends for o in args.onednn}
    results: dict[str, list[float]] = {key(c): [] for c in configs}
    policies = {}
    host = machine()  # the load average before the run
    started = time.perf_counter()
    try:
        for config in configs:  # build, compile, warm up (not timed)
            answer = workers[config["backend"], config["onednn"]].run(config, args.warmup_steps, seed=0)
            policies[key(config)] = answer["dtype_policy"]
            print(f"warm {key(config)}: {answer['examples_per_second']:.0f}/s", file=sys.stderr, flush=True)
        for r in range(args.rounds):
            for config in configs:
                answer = workers[config["backend"], config["onednn"]].run(config, args.steps, seed=r + 1)
                results[key(config)].append(answer["examples_per_second"])
                print(
                    f"round {r + 1} {key(config)}: {answer['examples_per_second']:.0f}/s", file=sys.stderr, flush=True
                )
    finally:
        for w in workers.values():
            w.close()
    report = {
        "command": "python bench/cpu_training.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": host,
        "load_average_end": os.getloadavg(),
        "versions": versions(),
        "batch_sizes": args.batch_sizes,
        "reading": args.reading,
        "steps": args.steps,
        "warmup_steps": args.warmup_steps,
        "rounds": args.rounds,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "dtype_policies": policies,
        "rows": summarise(results, configs),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
