"""``zoo compress``: soft weight-sharing compression of a trained classifier (Ullrich et al. 2017).

Start from trained weights, retrain under a learned Gaussian-mixture prior,
merge components that became the same, set every weight to its component's
mean (the zero component exactly 0), and measure accuracy and size. The output
directory holds a report (``report.json``, ``report.md``, ``weights.png``), the
per-epoch history, the compressed model as a preset (``preset/``) and, on
request, a SavedModel export in TF Serving's layout.

Its training goes through the engine's parts, as ``zoo train``'s does: the
``tf.distribute`` strategy, seeds, mixed precision, progress bars, and backups of
the whole state (:mod:`zoo.training.checkpoints`) at every epoch's end (and every
``backup_every`` batches), so a killed run continues where it stopped with
``resume=True`` (``zoo compress ... --out DIR --resume``). Its three stages are
the retraining under the prior, the sharpening, and the fine-tuning of the
quantised values; a backup knows which one it belongs to.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np

from zoo import data, presets
from zoo.data.pipeline import make_pipeline, steps_per_epoch
from zoo.presets.compressed import preset_sizes
from zoo.regularizers import apply_soft_weight_sharing, gamma_prior_for_std
from zoo.regularizers.compression import Mixture, dense_bits_per_weight, quantize_model
from zoo.training import checkpoints
from zoo.training.classification import build_for_dataset, compile_classifier, evaluate_model
from zoo.training.config import CompressConfig
from zoo.training.distribute import make_strategy, precision
from zoo.training.optim import NO_DECAY, make_optimizer, make_schedule
from zoo.training.run_dir import HISTORY, environment, write_json
from zoo.training.run_layout import REPORT, check_out_dir
from zoo.weights import create_trained

logger = logging.getLogger(__name__)

REPORT_MD = "report.md"
PLOT = "weights.png"
PRESET = "preset"
#: The settings of a run, checked when it is resumed.
SETTINGS = "compress.json"
#: The retrained weights before quantisation, kept while the run can still be resumed.
RETRAINED = "retrained.weights.h5"
#: CompressConfig fields that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = {"resume", "verbose", "backup_every"}
#: The training stages, in order (their index is recorded in a backup).
STAGES = ("retrain", "sharpen", "finetune")


@dataclasses.dataclass
class CompressResult:
    """The compressed model (a plain zoo model whose kernels hold only component means) and its report."""

    out: Path
    model: keras.Model
    report: dict[str, Any]


class _MixtureLogger(keras.callbacks.Callback):
    """Records loss, accuracy and the mixture after every epoch into ``history.json``."""

    def __init__(self, path: Path, prior, epochs: list | None = None):
        super().__init__()
        self.path, self.prior, self.epochs = path, prior, list(epochs or [])

    def on_epoch_end(self, epoch, logs=None):
        mixture = Mixture.from_prior(self.prior)
        self.epochs.append(
            {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}, "mixture": mixture.as_dict()}
        )
        write_json(self.path, self.epochs)


def compress(
    model_name: str,
    weights: str | Path,
    dataset: str,
    *,
    config: CompressConfig | None = None,
    out: str | Path | None = None,
    export_base: str | Path | None = None,
    preset_tag: str | None = None,
) -> CompressResult:
    """Compresses trained weights of ``model_name`` with soft weight sharing.

    Args:
        model_name: a registered image classifier.
        weights: its trained weights: a preset tag, a run directory or a ``.weights.h5`` file.
        dataset: the data set to retrain and test on (``mnist``, ...).
        config: hyper-parameters, see :class:`CompressConfig`.
        out: output directory (default ``runs/<model>-<dataset>-sws-<time>``).
        export_base: also export the compressed model as a SavedModel under this TF Serving base path.
        preset_tag: name of the preset directory written in ``out`` (default ``<dataset>-sws``).

    Returns:
        A :class:`CompressResult`.

    Example:
        >>> compress("lenet5_caffe", "runs/lenet5_caffe-mnist", "mnist")  # doctest: +SKIP
    """
    config = config or CompressConfig()
    config.validate()
    if config.resume and out is None:
        raise ValueError("resume continues an interrupted run: give its output directory (--out DIR).")
    run = _CompressionRun(model_name, weights, dataset, config, out)
    model = run.model
    before = evaluate_model(model, dataset)
    run.wrap()
    original = run.shared_weights()
    unsharpened = run.retrain()
    seconds = run.timer.total
    retrained_weights = run.shared_weights()
    if not all(np.all(np.isfinite(w)) for w in retrained_weights):
        raise FloatingPointError("Retraining diverged (non-finite weights); lower --lr or --tau.")
    retrained = evaluate_model(model, dataset)
    quantized = quantize_model(run.wrapped, config.merge_kl)
    quantized_only = run.finetune_values(quantized)
    after = evaluate_model(model, dataset)

    report = _report(model_name, dataset, config, before, retrained, after, quantized, seconds, len(run.train_split))
    _add_intermediate_test(report, "unsharpened", unsharpened)
    _add_intermediate_test(report, "quantized", quantized_only)
    out = run.out
    plot_weights(original, retrained_weights, quantized.mixture, out / PLOT, title=f"{model_name} on {dataset}")
    preset = out / PRESET / (preset_tag or f"{Path(dataset).name}-sws")
    _save_preset(model, preset, model_name, dataset, quantized, report, run.spec.class_names)
    report["preset"] = str(preset)
    report["on_disk"] = preset_sizes(preset)
    if export_base is not None:
        from zoo.inference import fit_class_names
        from zoo.serving.exporter import export

        class_names = fit_class_names(run.spec.class_names, model)
        report["export"] = str(export(model, export_base, model_name=model_name, class_names=class_names))
    write_json(out / REPORT, report)
    (out / REPORT_MD).write_text(report_markdown(report))
    checkpoints.remove_backup(out)
    return CompressResult(out, model, report)


class _CompressionRun:
    """The state of one compression run: strategy, data, the model and its wrapped copy, the output directory, the
    backup it continues from, and the stages (retraining, sharpening, fine-tuning of the shared values).

    Creating it creates the strategy (before any other op), loads the trained weights, prepares (or, resuming,
    checks) the output directory and seeds everything.
    """

    def __init__(self, model_name: str, weights, dataset: str, config: CompressConfig, out: str | Path | None):
        self.model_name, self.dataset, self.config = model_name, dataset, config
        self.strategy = make_strategy(config.strategy)  # before any other op
        self.spec, train_split = data.load(dataset, "train")
        with precision(config.mixed_precision), self.strategy.scope():
            self.model, _ = create_trained(model_name, weights, build=lambda: build_for_dataset(model_name, self.spec))
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.out = Path(out) if out else Path("runs") / f"{model_name}-{Path(dataset).name}-sws-{stamp}"
        self.point = _prepare_out(self.out, model_name, weights, dataset, config)
        self.stage = self.point.stage if self.point is not None else 0  # the first stage still to run
        keras.utils.set_random_seed(config.seed)
        self.train_split = train_split.head(config.max_train_examples)
        self.batches_per_epoch = steps_per_epoch(len(self.train_split), config.batch_size)

    def wrap(self) -> None:
        """Puts the mixture prior on the model's weights, compiles the retraining, and sets up its callbacks.

        Resuming, the wrapped model is built (as the first training step builds it) so that the backup loads into it.
        """
        config = self.config
        with precision(config.mixed_precision), self.strategy.scope():
            self.wrapped = apply_soft_weight_sharing(
                self.model,
                components=config.components,
                tau=config.tau,
                num_examples=len(self.train_split),
                zero_mixing=config.zero_mixing,
                init_std=config.init_std,
                gamma_prior=config.gamma_prior,
                prior_lr_multiplier={
                    "means": config.means_lr_multiplier,
                    "log_var": config.variance_lr_multiplier,
                    "mixing_logits": config.mixing_lr_multiplier,
                },
                pull_weights=config.method == "sws",
            )
            _compile_retraining(self.wrapped, config, config.epochs, len(self.train_split))
            if self.point is not None:
                self.wrapped(np.zeros((1, *self.model.input_shape[1:]), "float32"), training=False)
        saved = self.point.history if self.point is not None else {}
        self.mixture_log = _MixtureLogger(self.out / HISTORY, self.wrapped.prior, saved.get("mixture"))
        self.timer = _Seconds(saved.get("seconds", 0.0))
        self.backup = checkpoints.Backup(
            self.out,
            self.batches_per_epoch,
            lambda: {"mixture": self.mixture_log.epochs, "seconds": self.timer.total},
            every=config.backup_every,
        )

    def shared_weights(self) -> list[np.ndarray]:
        """Copies of the weights the prior pulls together."""
        return [np.array(v) for _, v in self.wrapped.shared_variables()]

    def train_batches(self, first_epoch: int, epochs: int, skip: int = 0):
        """The training pipeline from epoch ``first_epoch`` to ``epochs``, without the first ``skip`` batches."""
        split, config = self.train_split, self.config
        return make_pipeline(
            self.spec,
            split.images,
            split.labels,
            batch_size=config.batch_size,
            training=True,
            augment="none",
            seed=config.seed,
            first_epoch=first_epoch,
            epochs=epochs,
            skip_batches=skip,
        )

    def run_stage(self, index: int, trainee, batches, start: int, end: int, callbacks) -> None:
        """Fits stage ``index`` (of :data:`STAGES`) over epochs ``start .. end - 1``, from the backup when it is the
        stage the interruption stopped."""
        resuming = self.point if self.point is not None and self.point.stage == index else None
        self.backup.progress = {"stage": index, "stage_start": start}
        callbacks = [*callbacks, self.timer, self.backup]
        _fit_stage(
            trainee, batches, start, end, resuming, self.backup, callbacks, self.batches_per_epoch, self.config.verbose
        )

    def _prior_callbacks(self) -> list[keras.callbacks.Callback]:
        return [self.mixture_log, keras.callbacks.TerminateOnNaN()]

    def retrain(self) -> dict[str, Any] | None:
        """Retrains under the prior, then sharpens (when asked), and keeps the retrained weights for a resumption of
        the fine-tuning. Returns the test metrics before sharpening (None without sharpening)."""
        config = self.config
        if self.stage == 0:
            logger.info(
                "Retraining %s under a %d-component prior on %d examples",
                self.model_name,
                config.components,
                len(self.train_split),
            )
            self.run_stage(0, self.wrapped, self.train_batches, 0, config.epochs, self._prior_callbacks())
        unsharpened = self._sharpen() if config.sharpen_epochs and self.stage <= 1 else None
        retrained = checkpoints.backup_dir(self.out) / RETRAINED
        if self.stage <= 1:
            retrained.parent.mkdir(parents=True, exist_ok=True)
            self.wrapped.save_weights(retrained)
        else:  # resuming the fine-tuning: quantise the retrained weights again, as the interrupted run did
            _load_weights_only(self.wrapped, retrained)
            if config.sharpen_epochs:
                unsharpened = _read_progress(self.out)["unsharpened"]
        return unsharpened

    def _sharpen(self) -> dict[str, Any]:
        """The sharpening stage (see ``CompressConfig.sharpen_epochs``); returns the test metrics before it."""
        config = self.config
        if self.stage == 0:
            unsharpened = evaluate_model(self.model, self.dataset)
            _write_progress(self.out, {"unsharpened": unsharpened})
        else:
            unsharpened = _read_progress(self.out)["unsharpened"]
        with self.strategy.scope():
            _start_sharpening(self.wrapped, config, len(self.train_split))
            end = config.epochs + config.sharpen_epochs
            self.run_stage(1, self.wrapped, self.train_batches, config.epochs, end, self._prior_callbacks())
        return unsharpened

    def finetune_values(self, quantized) -> dict[str, Any] | None:
        """Han et al.'s trained quantisation: fine-tunes the shared values with the codes fixed (when
        ``finetune_epochs``). Returns the test metrics right after quantisation (None without fine-tuning)."""
        config = self.config
        if not config.finetune_epochs:
            return None
        quantized_only = evaluate_model(self.model, self.dataset)
        first = config.epochs + config.sharpen_epochs
        with self.strategy.scope():
            variables = {v.path: v for _, v in self.wrapped.shared_variables()}
            compile_classifier(self.model, keras.optimizers.Adam(config.finetune_lr))
            logger.info(
                "Fine-tuning the %d shared values for %d epochs", len(quantized.codebook), config.finetune_epochs
            )
            self.run_stage(
                2,
                self.model,
                lambda a, b, skip=0: self.train_batches(first + a, first + b, skip),
                0,
                config.finetune_epochs,
                [_ProjectToCodebook(quantized, variables), keras.callbacks.TerminateOnNaN()],
            )
            quantized.project(variables)
        return quantized_only


def _add_intermediate_test(report: dict[str, Any], name: str, metrics: dict[str, Any] | None) -> None:
    """Adds the test metrics of an intermediate model (``unsharpened``, ``quantized``) to the report, when measured."""
    if metrics is not None:
        report["error_percent"][name] = round(100 * (1 - metrics["accuracy"]), 2)
        report["test"][name] = metrics


def _save_preset(model, directory: Path, model_name: str, dataset: str, quantized, report, class_names) -> None:
    """Saves the compressed model as a preset in ``directory``, with its codebook and compression report."""
    command = report["environment"]["command"]
    presets.save_preset(
        model,
        directory,
        name=model_name,
        dataset=dataset,
        overwrite=True,
        description=(
            f"{model_name} compressed with soft weight sharing (Ullrich et al. 2017): every kernel holds "
            f"only {len(quantized.codebook)} distinct non-zero values; "
            f"{report['compression']['sparse_huffman']:.0f}x smaller in Han et al.'s sparse format."
        ),
        metrics={
            "accuracy": {"value": report["test"]["after"]["accuracy"], "command": command},
            "compression_ratio": {"value": round(report["compression"]["sparse_huffman"], 1), "command": command},
        },
        extra={
            "compression": report["compression"],
            "mixture": quantized.mixture.as_dict(),
            "codebook": quantized.codebook.tolist(),
            "class_names": list(class_names),
        },
        codebook=quantized.codebook,
    )


def _prepare_out(out: Path, model_name: str, weights, dataset: str, config: CompressConfig):
    """Creates (or, resuming, checks) the output directory; returns the backup to resume from, or None.

    Raises:
        FileExistsError: ``out`` holds a finished run, or an interrupted one without ``config.resume``.
        ValueError: resuming a run started with other settings.
    """
    check_out_dir(out, resume=config.resume, finished=REPORT, kind="compression run")
    record = {"model": model_name, "weights": str(weights), "dataset": dataset, "config": dataclasses.asdict(config)}
    point = checkpoints.read_backup(out)
    if config.resume and point is None:
        logger.warning("%s has no backup to resume from: starting from the beginning", out)
    if point is not None:
        saved = json.loads((out / SETTINGS).read_text())
        old = {**dataclasses.asdict(CompressConfig()), **saved["config"]}
        changed = sorted(
            k
            for k in set(old) | set(record["config"])
            if k not in RESUMABLE_CHANGES and json.dumps(old.get(k)) != json.dumps(record["config"].get(k))
        )
        changed += [k for k in ("model", "weights", "dataset") if saved.get(k) != record[k]]
        if changed:
            raise ValueError(
                f"{out} was started with other settings ({', '.join(changed)}); resume with the same. "
                f"Started with: {[saved['config'].get(k, saved.get(k)) for k in changed]}"
            )
        logger.info("Resuming the %s stage of %s", STAGES[point.stage], out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / SETTINGS, record)
    return point


def _fit_stage(trainee, batches, start: int, end: int, point, backup, callbacks, steps: int, verbose) -> None:
    """Fits epochs ``start .. end - 1`` of a stage (as ``trainee.fit`` counts them), from ``point`` when resuming.

    ``batches(first, end, skip)`` is the stage's input pipeline from epoch ``first`` on, without the first
    ``skip`` batches of that epoch: the pipelines are pure functions of (seed, epoch, position), so a resumed
    stage takes the same steps as an uninterrupted one.
    """
    first = start
    if point is not None:
        checkpoints.restore(trainee, point)
        first = point.epoch
        if point.step and first < end:
            backup.step_offset = point.step
            trainee.fit(
                batches(first, first + 1, point.step),
                initial_epoch=first,
                epochs=first + 1,
                steps_per_epoch=steps - point.step,
                verbose=verbose,
                shuffle=False,
                callbacks=callbacks,
            )
            first += 1
    if first < end:
        trainee.fit(
            batches(first, end),
            initial_epoch=first,
            epochs=end,
            steps_per_epoch=steps,
            verbose=verbose,
            shuffle=False,
            callbacks=callbacks,
        )


class _Seconds(keras.callbacks.Callback):
    """Training seconds, summed over epochs (and over the runs of a resumed compression)."""

    def __init__(self, total: float = 0.0):
        super().__init__()
        self.total, self._started = float(total), None

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.total += time.perf_counter() - self._started


PROGRESS = "progress.json"


def _read_progress(out: Path) -> dict[str, Any]:
    return json.loads((checkpoints.backup_dir(out) / PROGRESS).read_text())


def _write_progress(out: Path, values: dict[str, Any]) -> None:
    checkpoints.backup_dir(out).mkdir(parents=True, exist_ok=True)
    write_json(checkpoints.backup_dir(out) / PROGRESS, values)


def _load_weights_only(model: keras.Model, path: Path) -> None:
    """Loads the weights saved with ``save_weights``, without the optimizer state stored beside them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(path)


def _compile_retraining(wrapped, config, epochs: int, examples: int) -> None:
    """Compiles ``wrapped`` with a new Adam whose learning-rate schedule spans ``epochs``."""
    steps = steps_per_epoch(examples, config.batch_size) * epochs
    optimizer = make_optimizer("adam", make_schedule(config.schedule, config.lr, steps), config.weight_decay)
    if config.weight_decay:  # decay the network's weights, never the prior's variables
        optimizer.exclude_from_weight_decay(var_list=list(wrapped.prior.trainable_variables), var_names=NO_DECAY)
    # XLA fuses the prior's (weights x components) element-wise chain: about 2x faster per step on CPU.
    compile_classifier(wrapped, optimizer, jit_compile=True)


def _start_sharpening(wrapped, config, examples: int) -> None:
    """Narrows the components for the sharpening epochs (see ``CompressConfig.sharpen_epochs``) and recompiles.

    The objective changes, so Adam starts afresh (its moment estimates belong to the old one): measured
    on lenet_300_100, keeping them cost 0.3 points more after quantisation (2.25% vs 1.95%, seed 4).
    """
    shape = wrapped.prior.gamma_prior[:1] if wrapped.prior.gamma_prior else ()  # keep its shape, else the default
    wrapped.prior.gamma_prior = gamma_prior_for_std(config.sharpen_std, *shape)
    logger.info("Sharpening the mixture (component std %g) for %d epochs", config.sharpen_std, config.sharpen_epochs)
    _compile_retraining(wrapped, config, config.sharpen_epochs, examples)  # a train step with the new hyperprior


class _ProjectToCodebook(keras.callbacks.Callback):
    def __init__(self, quantized, variables):
        super().__init__()
        self.quantized, self.variables = quantized, variables

    def on_train_batch_end(self, batch, logs=None):
        self.quantized.project(self.variables)


def _report(model_name, dataset, config, before, retrained, after, quantized, seconds, examples) -> dict[str, Any]:
    sparse = quantized.size()
    huffman = quantized.size(huffman=True)
    total = sum(c.size for c in quantized.codes.values())
    nonzero = sum(int(np.count_nonzero(c)) for c in quantized.codes.values())
    used = len(quantized.codebook) + (1 if nonzero < total else 0)
    return {
        "model": model_name,
        "dataset": dataset,
        "config": dataclasses.asdict(config),
        "train_examples": examples,
        "retrain_seconds": round(seconds, 1),
        "test": {"before": before, "retrained": retrained, "after": after},
        "error_percent": {
            k: round(100 * (1 - v["accuracy"]), 2)
            for k, v in (("before", before), ("retrained", retrained), ("after", after))
        },
        "components": {"initial": config.components, "after_merge": len(quantized.mixture), "used": used},
        "codebook": quantized.codebook.tolist(),
        "weights": {"total": total, "nonzero": nonzero, "nonzero_fraction": nonzero / total},
        "nonzero_fraction": quantized.nonzero_fraction(),
        "compression": {
            "sparse_huffman": huffman["ratio"],
            "sparse": sparse["ratio"],
            "bits_per_weight": dense_bits_per_weight(len(quantized.codebook)),
            "dense_ratio": 32.0 / dense_bits_per_weight(len(quantized.codebook)),
            "layers": {
                p: {
                    "nonzero": s["nonzero"],
                    "weights": s["weights"],
                    "bits": s["bits"],
                    "bits_huffman": huffman["layers"][p]["bits"],
                }
                for p, s in sparse["layers"].items()
            },
        },
        "mixture": quantized.mixture.as_dict(),
        "environment": environment(),
    }


def report_markdown(report: dict[str, Any]) -> str:
    """A short markdown summary of a compression report."""
    c, e = report["compression"], report["error_percent"]
    lines = [
        f"# {report['model']} on {report['dataset']}: soft weight-sharing compression",
        "",
        "| test error before | after retraining | after quantisation | compression (sparse + Huffman) "
        "| sparse, no Huffman | bits/weight (dense codes) | non-zero | components used |",
        "|---|---|---|---|---|---|---|---|",
        f"| {e['before']:.2f}% | {e['retrained']:.2f}% | **{e['after']:.2f}%** | **{c['sparse_huffman']:.1f}x** "
        f"| {c['sparse']:.1f}x | {c['bits_per_weight']:.0f} ({c['dense_ratio']:.1f}x) "
        f"| {100 * report['weights']['nonzero_fraction']:.2f}% | {report['components']['used']} |",
        "",
        "| tensor | weights | non-zero | bits (sparse) | bits (+ Huffman) |",
        "|---|---|---|---|---|",
    ]
    for path, layer in c["layers"].items():
        lines.append(
            f"| {path} | {layer['weights']} | {100 * layer['nonzero'] / layer['weights']:.2f}% "
            f"| {layer['bits']} | {layer['bits_huffman']} |"
        )
    env = report["environment"]
    lines += [
        "",
        f"- Command: `{env['command']}`",
        f"- Machine: {env['machine']}; Keras {env['keras']} ({env['keras_backend']}), "
        f"TensorFlow {env['tensorflow']}; retraining took {report['retrain_seconds'] / 60:.1f} min.",
        "- Compression ratio: 32-bit dense weights over Han et al.'s sparse format (relative indices of "
        "8 bits in conv and 5 in dense layers with filler zeros, codebook indices, row pointers, one shared "
        "32-bit codebook), with and without Huffman coding of the index and code streams.",
        f"- Plot: `{PLOT}` (pretrained vs retrained weights with the mixture components).",
        "",
    ]
    if "on_disk" in report:
        d = report["on_disk"]
        lines.insert(
            -1,
            f"- On disk: the preset's {d['weights_file']} takes {d['weights_bytes']:,} bytes (the "
            f"estimate above: {d['estimate_bytes']:,}), the whole preset {d['preset_bytes']:,} bytes.",
        )
    if "unsharpened" in e:
        lines.insert(
            -1,
            f"- Sharpening: the last {report['config']['sharpen_epochs']} retraining epochs held the "
            f"components near a standard deviation of {report['config']['sharpen_std']:g}; test error "
            f"{e['unsharpened']:.2f}% before them, {e['retrained']:.2f}% after.",
        )
    if "quantized" in e:
        lines.insert(
            -1,
            f"- Trained quantisation (Han et al. 2016): the {len(report['codebook'])} shared values were "
            f"fine-tuned for {report['config']['finetune_epochs']} epochs with the codes fixed; test error "
            f"{e['quantized']:.2f}% right after quantisation, {e['after']:.2f}% after.",
        )
    return "\n".join(lines)


def plot_weights(
    before: list[np.ndarray],
    after: list[np.ndarray],
    mixture: Mixture,
    path: Path,
    *,
    title: str = "",
    max_points: int = 20000,
) -> None:
    """Ullrich et al.'s figure: each weight before vs after retraining, with the mixture's means and 2 sigma bands."""
    from zoo.analysis.plots import pyplot

    plt = pyplot()

    x = np.concatenate([np.ravel(w) for w in before])
    y = np.concatenate([np.ravel(w) for w in after])
    pick = np.random.default_rng(0).choice(x.size, size=min(max_points, x.size), replace=False)
    fig = plt.figure(figsize=(7, 7))
    grid = fig.add_gridspec(4, 4, hspace=0.05, wspace=0.05)
    main = fig.add_subplot(grid[1:, :3])
    top = fig.add_subplot(grid[0, :3], sharex=main)
    side = fig.add_subplot(grid[1:, 3], sharey=main)
    for mean, std in zip(mixture.means, np.sqrt(mixture.variances)):
        main.axhspan(mean - 2 * std, mean + 2 * std, color="tab:blue", alpha=0.12, lw=0)
        main.axhline(mean, color="tab:blue", lw=0.6)
    main.scatter(x[pick], y[pick], s=1, color="black", alpha=0.3)
    main.set_xlabel("pretrained weight")
    main.set_ylabel("retrained weight")
    top.hist(x, bins=200, color="gray", log=True)
    side.hist(y, bins=200, color="gray", log=True, orientation="horizontal")
    top.tick_params(labelbottom=False)
    side.tick_params(labelleft=False)
    top.set_title(title)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
