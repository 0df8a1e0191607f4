"""The ``zoo`` command. Thin: each subcommand calls a public Python function."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _parse_override(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set takes KEY=VALUE (VALUE as JSON). Received: {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare string such as activation=relu
    return key, value


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, default=str))


def cmd_list(args) -> int:
    import zoo

    names = zoo.list_models(args.pattern)
    if args.json:
        from zoo.registry import get_entry

        _print_json([{"name": n, "task": get_entry(n).task, "description": get_entry(n).description} for n in names])
    else:
        from zoo.registry import get_entry

        width = max((len(n) for n in names), default=0)
        for n in names:
            print(f"{n:<{width}}  {get_entry(n).description}")
    return 0


def cmd_info(args) -> int:
    import zoo

    details = zoo.info(args.name)
    if args.json:
        _print_json(details)
        return 0
    for key in ("name", "family", "task", "dataset", "description", "input_shape", "output_shape", "parameters"):
        print(f"{key:>12}: {details[key]}")
    print(f"{'config':>12}: {json.dumps(details['config'])}")
    print(f"{'signatures':>12}: {', '.join(details['signatures'])}")
    print(f"{'weights':>12}: {', '.join(details['weights']) or '(none published yet)'}")
    if args.layers:
        width = max(len(layer["name"]) for layer in details["layers"])
        print(f"{'layers':>12}:")
        for layer in details["layers"]:
            print(f"{'':>14}{layer['name']:<{width}}  {layer['type']:<22} {layer['parameters']:>10,}")
    return 0


def format_size(count: int) -> str:
    """A byte count as `zoo presets` shows it: MB from 0.1 MB up, else kB."""
    return f"{count / 1e6:.1f} MB" if count >= 1e5 else f"{count / 1e3:.0f} kB"


def _metric_summary(metrics: dict[str, Any]) -> str:
    values = {k: (v.get("value") if isinstance(v, dict) else v) for k, v in metrics.items()}
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, (int, float)) else f"{k} {v}" for k, v in values.items())


def cmd_presets(args) -> int:
    from zoo import presets

    rows = presets.list_presets(args.pattern)
    if args.json:
        _print_json(rows)
        return 0
    width = max((len(f"{r['model']}:{r['tag']}") for r in rows), default=0)
    for r in rows:
        where = (r["url"] or "remote (no mirror: see zoo pull)") if r["where"] == "remote" else r["where"]
        print(f"{r['model'] + ':' + r['tag']:<{width}}  {r['dataset'] or '-':<14} {format_size(r['size']):>8}  {where:<8}  "
              f"{_metric_summary(r['metrics'])}")
    if not rows:
        print(f"no presets match {args.pattern!r}", file=sys.stderr)
    return 0


def cmd_pull(args) -> int:
    from zoo import presets

    for spec in args.presets:
        for directory in presets.pull(spec, force=args.force, progress=not args.quiet, image_size=args.image_size):
            print(directory)
    return 0


def cmd_datasets(args) -> int:
    from zoo import data
    from zoo.data.tabular import list_tabular
    from zoo.data.text import list_corpora

    for name in data.list_datasets():
        spec = data.get_spec(name)
        print(f"{name:<14} images {tuple(spec.input_shape)}, {spec.num_classes} classes (NAME:C1,C2 picks classes)")
    for name in list_tabular():
        print(f"{name:<14} tabular regression (scikit-learn's bundled copy)")
    for name in list_corpora():
        print(f"{name:<14} text corpus for language models")
    from zoo.data.graphs import GRAPHS

    for name in GRAPHS:
        print(f"{name:<14} citation graph for node classification (Planetoid split)")
    print(f"data directory (KZOO_DATA_DIR): {data.data_dir()}")
    return 0


def cmd_generate(args) -> int:
    from zoo.weights import create_trained
    from training.language_model import generate

    model, _ = create_trained(args.name, args.weights)
    texts = generate(model, args.prompt, args.length, temperature=args.temperature, seed=args.seed)
    _print_json(texts) if args.json else print("\n\n".join(texts))
    return 0


def _fit_settings(args) -> dict[str, Any]:
    """The TrainConfig fields that ``zoo train`` and ``zoo finetune`` share."""
    return dict(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer, schedule=args.schedule,
        weight_decay=args.weight_decay, validation_split=args.validation_split,
        max_train_examples=args.max_train_examples, augment=args.augment, seed=args.seed,
        verbose=2 if args.quiet else "auto", strategy=args.strategy, lr_scaling=args.lr_scaling,
        mixed_precision=args.mixed_precision, deterministic=args.deterministic, resume=args.resume,
        backup_every=args.backup_every, select=args.select, warmup_epochs=args.warmup_epochs,
        label_smoothing=args.label_smoothing, jit_compile=args.jit_compile,
    )


def cmd_train(args) -> int:
    from training import TrainConfig, train

    config = TrainConfig(**_fit_settings(args), seq_length=args.seq_length, sampling=args.sampling)
    # With --json, stdout carries only the summary; Keras' progress goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        result = train(args.name, args.dataset, config=config, out=args.out, overrides=dict(args.set))
    summary = {"run_dir": str(result.run_dir), "test": result.test}
    _print_json(summary) if args.json else print(f"run directory: {result.run_dir}\ntest: {_metrics_line(result.test)}")
    return 0


def cmd_finetune(args) -> int:
    from training.finetune import FinetuneConfig, finetune

    config = FinetuneConfig(
        **_fit_settings(args), freeze=args.freeze, head_epochs=args.head_epochs,
        unfreeze_lr_scale=args.unfreeze_lr_scale, num_classes=args.num_classes, train_batchnorm=args.train_batchnorm,
    )
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        result = finetune(args.name, args.weights, args.dataset, config=config, out=args.out)
    summary = {"run_dir": str(result.run_dir), "test": result.test}
    _print_json(summary) if args.json else print(f"run directory: {result.run_dir}\ntest: {_metrics_line(result.test)}")
    return 0


def _metrics_line(metrics: dict[str, Any]) -> str:
    """One line of a task's test metrics: accuracy (classifiers), MSE/R² (regression), perplexity (language models)."""
    if "accuracy" in metrics:
        return (f"accuracy {metrics['accuracy']:.4f} (error {100 * (1 - metrics['accuracy']):.2f}%), "
                f"loss {metrics['loss']:.4f} on {metrics['examples']} examples")
    if "nll" in metrics:
        return (f"-log p(x) {metrics['nll']:.2f} nats (importance-weighted, k={metrics['importance_samples']}), "
                f"negative ELBO {metrics['negative_elbo']:.2f} nats on {metrics['examples']} binarised test images")
    if "fid" in metrics:
        if metrics["fid"] is None:
            return f"FID not measured: {metrics.get('note')}"
        return (f"FID {metrics['fid']:.3f} (real vs real {metrics['fid_real_vs_real']:.3f}), KID {metrics['kid']:.5f} "
                f"on {metrics['samples']} samples, {metrics['features']}")
    if "r2" in metrics:
        ls = metrics["least_squares"]
        return (f"MSE {metrics['mse']:.2f}, R² {metrics['r2']:.4f} on {metrics['examples']} examples "
                f"(least squares: MSE {ls['mse']:.2f}, R² {ls['r2']:.4f}; weight gap {metrics['weight_gap']:.3g})")
    return f"perplexity {metrics['perplexity']:.3f} ({metrics['bits_per_character']:.3f} bits/char) on {metrics['characters']} characters"


def cmd_evaluate(args) -> int:
    from training import evaluate

    options = {k: v for k, v in (("importance_samples", args.importance_samples), ("num_samples", args.num_samples),
                                 ("steps", args.steps), ("eta", args.eta), ("features", args.features),
                                 ("max_examples", args.max_examples)) if v is not None}
    metrics = evaluate(args.name, args.weights, args.dataset, batch_size=args.batch_size, **options)
    _print_json(metrics) if args.json else print(_metrics_line(metrics))
    return 0


def cmd_compress(args) -> int:
    from training.compression import CompressConfig, compress

    config = CompressConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, schedule=args.schedule,
        components=args.components, tau=args.tau, init_std=args.init_std,
        zero_mixing=None if args.zero_mixing <= 0 else args.zero_mixing, merge_kl=args.merge_kl,
        sharpen_epochs=args.sharpen_epochs, sharpen_std=args.sharpen_std,
        finetune_epochs=args.finetune_epochs, finetune_lr=args.finetune_lr,
        max_train_examples=args.max_train_examples, seed=args.seed, verbose=2 if args.quiet else "auto",
        method=args.method.replace("-", "_"), weight_decay=args.weight_decay, strategy=args.strategy,
        mixed_precision=args.mixed_precision, resume=args.resume, backup_every=args.backup_every,
    )
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        result = compress(args.name, args.weights, args.dataset, config=config, out=args.out,
                          export_base=args.export_base, preset_tag=args.tag)
    report = result.report
    if args.json:
        _print_json({k: report[k] for k in ("error_percent", "compression", "components", "weights", "preset",
                                            "on_disk")} | {"out": str(result.out), "export": report.get("export")})
    else:
        e, c = report["error_percent"], report["compression"]
        print(f"test error {e['before']:.2f}% -> {e['after']:.2f}%; {c['sparse_huffman']:.1f}x smaller "
              f"(sparse + Huffman; {c['sparse']:.1f}x without Huffman); "
              f"{100 * report['weights']['nonzero_fraction']:.2f}% non-zero, {report['components']['used']} values\n"
              f"report: {result.out / 'report.md'}\npreset: {report['preset']} "
              f"({report['on_disk']['preset_bytes']:,} bytes on disk)")
    return 0


def _add_fit_arguments(p, *, schedules: list[str], default_schedule: str, schedule_help: str) -> None:
    """The hyper-parameter flags ``zoo train`` and ``zoo finetune`` share."""
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", default="adam", choices=["sgd", "gd", "momentum", "adam", "adamw", "rmsprop"],
                   help="sgd: Nesterov momentum 0.9; momentum: classical momentum 0.9; gd: plain gradient descent")
    p.add_argument("--schedule", default=default_schedule, choices=schedules, help=schedule_help)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--validation-split", type=float, default=0.1,
                   help="held-out fraction of train (stratified by class) for best-checkpoint selection")
    p.add_argument("--select", default="best", choices=["best", "last"],
                   help="weights the run keeps: the best epoch on validation (default) or the last epoch's")
    p.add_argument("--max-train-examples", type=int, default=None, help="train on a subset (quick runs, few labels)")
    p.add_argument("--warmup-epochs", type=float, default=None,
                   help="warm-up of warmup_cosine / one_cycle (default: 5%% / 30%% of the run)")
    p.add_argument("--label-smoothing", type=float, default=0.0, help="classifiers: smooth the targets by this much")
    p.add_argument("--augment", default="auto", choices=["auto", "none", "crop_flip", "shift", "crop_flip_cutout"],
                   help="auto: the data set's standard (crop+flip for CIFAR-10, none for MNIST); shift: random "
                        "translation by 2 px; crop_flip_cutout: crop+flip, then a random 16x16 square zeroed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--deterministic", action="store_true", help="deterministic TensorFlow ops (same seed, same weights)")
    d = p.add_argument_group("distribution and fault tolerance")
    d.add_argument("--strategy", default="auto", choices=["auto", "one_device", "mirrored", "multi_worker", "tpu"],
                   help="auto: multi_worker when TF_CONFIG names a cluster, mirrored with several GPUs, else one device; "
                        "--batch-size is the global batch, split across replicas")
    d.add_argument("--lr-scaling", default="none", choices=["none", "linear"], help="linear: lr x number of replicas")
    d.add_argument("--jit-compile", default="auto", choices=["auto", "on", "off"],
                   help="classifiers: XLA-compile the train step (auto: Keras' choice, off on a TensorFlow CPU)")
    _add_fault_tolerance_flags(d)
    p.add_argument("--out", default=None, help="run directory (default runs/<model>-<dataset>-<time>)")
    p.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _add_fault_tolerance_flags(group) -> None:
    """--mixed-precision, --resume and --backup-every, the same for every command that trains."""
    group.add_argument("--mixed-precision", action="store_true",
                       help="compute in float16 (GPU) or bfloat16; weights stay float32")
    group.add_argument("--resume", action="store_true", help="continue the interrupted run in --out from its last backup")
    group.add_argument("--backup-every", type=int, default=0, metavar="STEPS",
                       help="also back up the training state every STEPS batches (default: at epoch ends)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="kzoo: pick a model by name, train it, evaluate it, export it, serve it, query it.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress messages (data sources, files)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list registered models (wildcards allowed)")
    p.add_argument("pattern", nargs="?", default=None, help='e.g. "resnet*"')
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_list)

    p = sub.add_parser("info", help="describe a model: task, input, parameters, default config, presets, layers")
    p.add_argument("name")
    p.add_argument("--layers", action="store_true", help="also list the top-level layers (names for --freeze until:)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_info)

    p = sub.add_parser("presets", help="list pretrained weights (presets): tag, data set, size, where, metrics")
    p.add_argument("pattern", nargs="?", default=None, help='model or model:tag wildcard, e.g. "lenet*" or "*:mnist"')
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_presets)

    p = sub.add_parser("pull", help="download published presets (or convert timm checkpoints) into the cache "
                                    "($KZOO_HOME/presets)")
    p.add_argument("presets", nargs="+", metavar="NAME[:TAG]",
                   help='a model (all its tags), model:tag, a wildcard as zoo presets takes it ("*:mnist"), '
                        "hf://timm/<architecture>.<tag>, or a folder in timm's Hub layout (config.json + "
                        "model.safetensors)")
    p.add_argument("--force", action="store_true", help="download (or convert) again even when cached")
    p.add_argument("--image-size", type=int, default=None, metavar="N",
                   help="timm checkpoints: convert for NxN images instead of pretrained_cfg's size (a ViT's position "
                        "table is resampled as timm does); the tag gets the suffix -N")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(fn=cmd_pull)

    p = sub.add_parser("datasets", help="list the named data sets and the data directory")
    p.set_defaults(fn=cmd_datasets)

    p = sub.add_parser("train", help="train a model from scratch and write a run directory")
    p.add_argument("name", help="registered model name")
    p.add_argument("--dataset", required=True,
                   help="mnist, fashion_mnist, cifar10, a class subset (mnist:2,5), a folder with one subfolder per "
                        "class; diabetes for regression; shakespeare for language models; cora, citeseer for graphs")
    _add_fit_arguments(p, schedules=["cosine", "warmup_cosine", "one_cycle", "constant", "step", "inverse_time"],
                       default_schedule="cosine",
                       schedule_help="warmup_cosine: linear warm-up (--warmup-epochs) then cosine to 0; one_cycle: "
                                     "lr/25 up to lr, then cosine to ~0; step: x0.1 at 50%% and 75%%; "
                                     "inverse_time: lr / (1 + epoch)")
    p.add_argument("--seq-length", type=int, default=100, help="language models: characters per training window")
    p.add_argument("--sampling", default="random", choices=["random", "sequential"],
                   help="language models: shuffled random windows, or sequential streams with the state carried over")
    p.add_argument("--set", action="append", type=_parse_override, default=[], metavar="KEY=VALUE",
                   help="model override, VALUE as JSON (repeatable): --set dropout=0.1")
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("finetune", help="fine-tune pretrained weights on new data: new head, frozen then unfrozen layers")
    p.add_argument("name", help="registered image or node classifier")
    p.add_argument("--weights", required=True, help="pretrained weights: a preset tag (zoo presets), preset directory "
                                                    "or URL, run directory or .weights.h5 / .weights.kzq file")
    p.add_argument("--dataset", required=True, help="the new data: a named set, a class subset (cifar10:5,6,7,8,9), "
                                                    "a folder of images, a citation graph (cora:0,1,2)")
    p.add_argument("--num-classes", type=int, default=None, help="classes of the new head (default: the data set's)")
    p.add_argument("--freeze", default="none", metavar="backbone|none|until:LAYER",
                   help="layers kept frozen (after the head-only stage of two_stage): backbone = all but the head; "
                        "until:LAYER = LAYER and everything before it (zoo info NAME --layers lists them)")
    _add_fit_arguments(p, schedules=["two_stage", "cosine", "constant"], default_schedule="two_stage",
                       schedule_help="two_stage: train the head with the backbone frozen, then unfreeze at a lower lr")
    p.add_argument("--head-epochs", type=int, default=None, help="two_stage: epochs of the head-only stage (default: half)")
    p.add_argument("--unfreeze-lr-scale", type=float, default=0.1, help="two_stage: lr of the unfrozen stage = lr x this")
    p.add_argument("--train-batchnorm", action="store_true",
                   help="let unfrozen BatchNormalization layers update their statistics (default: inference mode)")
    p.set_defaults(fn=cmd_finetune)

    p = sub.add_parser("evaluate", help="evaluate weights on a test split")
    p.add_argument("name")
    p.add_argument("--weights", required=True, help="a preset tag (see zoo info NAME), a preset or run directory, or a .weights.h5 / .weights.kzq file")
    p.add_argument("--dataset", default=None,
                   help="the test data (default: the data set the run or preset records; required for a bare file)")
    p.add_argument("--batch-size", type=int, default=256)
    g = p.add_argument_group("generative models")
    g.add_argument("--importance-samples", type=int, default=None, metavar="K",
                   help="VAE: samples of the importance-weighted -log p(x) estimate (default 1000)")
    g.add_argument("--num-samples", type=int, default=None, help="GAN/diffusion: images for FID and KID (default 5000)")
    g.add_argument("--steps", type=int, default=None, help="diffusion: sampling steps (default: all T)")
    g.add_argument("--eta", type=float, default=None, help="diffusion: 0 deterministic DDIM (default), 1 DDPM")
    g.add_argument("--features", default=None, help="FID features: auto (the zoo classifier of the data set), "
                                                     "MODEL:TAG, or inception:PATH (InceptionV3 weights file)")
    g.add_argument("--max-examples", type=int, default=None, help="VAE: test images to measure (default all)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_evaluate)

    p = sub.add_parser("generate", help="continue text prompts with a trained language model")
    p.add_argument("name")
    p.add_argument("--weights", required=True, help="a run directory of zoo train (it holds the vocabulary)")
    p.add_argument("--prompt", action="append", required=True, help="text to continue (repeatable)")
    p.add_argument("--length", type=int, default=300, help="characters to generate")
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature; 0 decodes greedily")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_generate)

    p = sub.add_parser("compress", help="compress trained weights with soft weight sharing (Ullrich et al. 2017)")
    p.add_argument("name")
    p.add_argument("--weights", required=True, help="trained weights: a preset tag, run directory or .weights.h5 / .weights.kzq file")
    p.add_argument("--dataset", required=True)
    p.add_argument("--epochs", type=int, default=30, help="retraining epochs under the prior")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=5e-4, help="Adam learning rate of the weights")
    p.add_argument("--schedule", default="constant", choices=["constant", "cosine", "step"],
                   help="learning-rate schedule over the retraining (the prior's rates follow it)")
    p.add_argument("--components", type=int, default=17, help="mixture components, the zero component included")
    p.add_argument("--tau", type=float, default=5e-3, help="weight of the prior against the data set's log-likelihood")
    p.add_argument("--init-std", type=float, default=0.25, help="initial standard deviation of every component")
    p.add_argument("--zero-mixing", type=float, default=0.99, help="fixed pi_0 of the zero component; 0 learns it")
    p.add_argument("--merge-kl", type=float, default=1e-2, help="merge components closer than this symmetric KL")
    p.add_argument("--sharpen-epochs", type=int, default=0,
                   help="then retrain this many more epochs with the components narrowed to --sharpen-std, which "
                        "pulls the weights onto the means and makes quantising them cheaper")
    p.add_argument("--sharpen-std", type=float, default=5e-3, help="component standard deviation while sharpening")
    p.add_argument("--finetune-epochs", type=int, default=0,
                   help="after quantising, fine-tune the shared values (codes fixed; Han et al.'s trained quantisation)")
    p.add_argument("--finetune-lr", type=float, default=1e-4)
    p.add_argument("--method", default="sws", choices=["sws", "weight-decay"],
                   help="weight-decay: the baseline without the prior (same mixture fit and quantisation)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="decoupled weight decay of the network's weights")
    p.add_argument("--max-train-examples", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output directory (default runs/<model>-<dataset>-sws-<time>)")
    p.add_argument("--export-base", default=None, help="also export a SavedModel under this TF Serving base path")
    p.add_argument("--tag", default=None, help="preset tag (default <dataset>-sws)")
    d = p.add_argument_group("distribution and fault tolerance")
    d.add_argument("--strategy", default="auto", choices=["auto", "one_device", "mirrored", "multi_worker", "tpu"],
                   help="tf.distribute strategy of the retraining (see zoo train --help)")
    _add_fault_tolerance_flags(d)
    p.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_compress)

    from zoo.analysis.robustness_cli import add_parsers as add_robustness_parsers
    from zoo.analysis.teaching_cli import add_parsers as add_teaching_parsers
    from serving.cli import add_parsers as add_serving_parsers

    add_serving_parsers(sub)
    add_robustness_parsers(sub)
    add_teaching_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.fn(args)
    except (ValueError, FileNotFoundError, FileExistsError, FloatingPointError) as err:
        print(f"zoo {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
