"""``zoo train``, ``finetune``, ``evaluate``, ``generate`` and ``compress``: the commands that run ``training``.

TensorFlow and Keras are imported inside the commands, never when the parser is built.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from zoo.cli.common import parse_override, print_json


def cmd_generate(args) -> int:
    from zoo.training.language_model import generate
    from zoo.weights import create_trained

    model, _ = create_trained(args.name, args.weights)
    texts = generate(model, args.prompt, args.length, temperature=args.temperature, seed=args.seed)
    print_json(texts) if args.json else print("\n\n".join(texts))
    return 0


def _fit_settings(args) -> dict[str, Any]:
    """The TrainConfig fields that ``zoo train`` and ``zoo finetune`` share."""
    return dict(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        schedule=args.schedule,
        weight_decay=args.weight_decay,
        validation_split=args.validation_split,
        max_train_examples=args.max_train_examples,
        augment=args.augment,
        seed=args.seed,
        verbose=2 if args.quiet or not sys.stdout.isatty() else "auto",
        strategy=args.strategy,
        lr_scaling=args.lr_scaling,
        mixed_precision=args.mixed_precision,
        deterministic=args.deterministic,
        resume=args.resume,
        backup_every=args.backup_every,
        select=args.select,
        warmup_epochs=args.warmup_epochs,
        label_smoothing=args.label_smoothing,
        jit_compile=args.jit_compile,
    )


def cmd_train(args) -> int:
    from zoo.training import TrainConfig, train

    config = TrainConfig(**_fit_settings(args), seq_length=args.seq_length, sampling=args.sampling)
    # With --json, stdout carries only the summary; Keras' progress goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        result = train(args.name, args.dataset, config=config, out=args.out, overrides=dict(args.set))
    _print_run(args, result)
    return 0


def cmd_finetune(args) -> int:
    from zoo.training.finetune import FinetuneConfig, finetune

    config = FinetuneConfig(
        **_fit_settings(args),
        freeze=args.freeze,
        head_epochs=args.head_epochs,
        unfreeze_lr_scale=args.unfreeze_lr_scale,
        num_classes=args.num_classes,
        train_batchnorm=args.train_batchnorm,
    )
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        result = finetune(args.name, args.weights, args.dataset, config=config, out=args.out)
    _print_run(args, result)
    return 0


def _print_run(args, result) -> None:
    """The run directory and test metrics of ``zoo train`` and ``zoo finetune``, as JSON with ``--json``."""
    if args.json:
        print_json({"run_dir": str(result.run_dir), "test": result.test})
    else:
        print(f"run directory: {result.run_dir}\ntest: {_metrics_line(args.name, result.test)}")


def _metrics_line(model_name: str, metrics: dict[str, Any]) -> str:
    """One line of test metrics, as the task of ``model_name`` summarises them (``zoo.tasks.Task.summarize``)."""
    from zoo.registry import describe
    from zoo.tasks import get_task

    return get_task(describe(model_name)["task"]).summarize(metrics)


def cmd_evaluate(args) -> int:
    from zoo.training import evaluate

    options = {
        k: v
        for k, v in (
            ("importance_samples", args.importance_samples),
            ("num_samples", args.num_samples),
            ("steps", args.steps),
            ("eta", args.eta),
            ("features", args.features),
            ("max_examples", args.max_examples),
        )
        if v is not None
    }
    metrics = evaluate(args.name, args.weights, args.dataset, batch_size=args.batch_size, **options)
    print_json(metrics) if args.json else print(_metrics_line(args.name, metrics))
    return 0


def cmd_compress(args) -> int:
    from zoo.training.compression import CompressConfig, compress

    config = CompressConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        schedule=args.schedule,
        components=args.components,
        tau=args.tau,
        init_std=args.init_std,
        zero_mixing=None if args.zero_mixing <= 0 else args.zero_mixing,
        merge_kl=args.merge_kl,
        sharpen_epochs=args.sharpen_epochs,
        sharpen_std=args.sharpen_std,
        finetune_epochs=args.finetune_epochs,
        finetune_lr=args.finetune_lr,
        max_train_examples=args.max_train_examples,
        seed=args.seed,
        verbose=2 if args.quiet or not sys.stdout.isatty() else "auto",
        method=args.method.replace("-", "_"),
        weight_decay=args.weight_decay,
        strategy=args.strategy,
        mixed_precision=args.mixed_precision,
        resume=args.resume,
        backup_every=args.backup_every,
    )
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        result = compress(
            args.name,
            args.weights,
            args.dataset,
            config=config,
            out=args.out,
            export_base=args.export_base,
            preset_tag=args.tag,
        )
    report = result.report
    if args.json:
        print_json(
            {k: report[k] for k in ("error_percent", "compression", "components", "weights", "preset", "on_disk")}
            | {"out": str(result.out), "export": report.get("export")}
        )
    else:
        e, c = report["error_percent"], report["compression"]
        print(
            f"test error {e['before']:.2f}% -> {e['after']:.2f}%; {c['sparse_huffman']:.1f}x smaller "
            f"(sparse + Huffman; {c['sparse']:.1f}x without Huffman); "
            f"{100 * report['weights']['nonzero_fraction']:.2f}% non-zero, {report['components']['used']} values\n"
            f"report: {result.out / 'report.md'}\npreset: {report['preset']} "
            f"({report['on_disk']['preset_bytes']:,} bytes on disk)"
        )
    return 0


def _add_fit_arguments(p, *, schedules: list[str], default_schedule: str, schedule_help: str) -> None:
    """The hyper-parameter flags ``zoo train`` and ``zoo finetune`` share."""
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument(
        "--optimizer",
        default="adam",
        choices=["sgd", "gd", "momentum", "adam", "adamw", "rmsprop"],
        help="sgd: Nesterov momentum 0.9; momentum: classical momentum 0.9; gd: plain gradient descent",
    )
    p.add_argument("--schedule", default=default_schedule, choices=schedules, help=schedule_help)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument(
        "--validation-split",
        type=float,
        default=0.1,
        help="held-out fraction of train (stratified by class) for best-checkpoint selection",
    )
    p.add_argument(
        "--select",
        default="best",
        choices=["best", "last"],
        help="weights the run keeps: the best epoch on validation (default) or the last epoch's",
    )
    p.add_argument("--max-train-examples", type=int, default=None, help="train on a subset (quick runs, few labels)")
    p.add_argument(
        "--warmup-epochs",
        type=float,
        default=None,
        help="warm-up of warmup_cosine / one_cycle (default: 5%% / 30%% of the run)",
    )
    p.add_argument("--label-smoothing", type=float, default=0.0, help="classifiers: smooth the targets by this much")
    p.add_argument(
        "--augment",
        default="auto",
        choices=["auto", "none", "crop_flip", "shift", "crop_flip_cutout"],
        help="auto: the data set's standard (crop+flip for CIFAR-10, none for MNIST); shift: random "
        "translation by 2 px; crop_flip_cutout: crop+flip, then a random 16x16 square zeroed",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--deterministic", action="store_true", help="deterministic TensorFlow ops (same seed, same weights)"
    )
    d = p.add_argument_group("distribution and fault tolerance")
    d.add_argument(
        "--strategy",
        default="auto",
        choices=["auto", "one_device", "mirrored", "multi_worker", "tpu"],
        help="auto: multi_worker when TF_CONFIG names a cluster, mirrored with several GPUs, else one device; "
        "--batch-size is the global batch, split across replicas",
    )
    d.add_argument("--lr-scaling", default="none", choices=["none", "linear"], help="linear: lr x number of replicas")
    d.add_argument(
        "--jit-compile",
        default="auto",
        choices=["auto", "on", "off"],
        help="classifiers: XLA-compile the train step (auto: Keras' choice, off on a TensorFlow CPU)",
    )
    _add_fault_tolerance_flags(d)
    p.add_argument("--out", default=None, help="run directory (default runs/<model>-<dataset>-<time>)")
    p.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _add_fault_tolerance_flags(group) -> None:
    """--mixed-precision, --resume and --backup-every, the same for every command that trains."""
    group.add_argument(
        "--mixed-precision", action="store_true", help="compute in float16 (GPU) or bfloat16; weights stay float32"
    )
    group.add_argument(
        "--resume", action="store_true", help="continue the interrupted run in --out from its last backup"
    )
    group.add_argument(
        "--backup-every",
        type=int,
        default=0,
        metavar="STEPS",
        help="also back up the training state every STEPS batches (default: at epoch ends)",
    )


def add_parsers(sub) -> None:
    """Adds the training commands to the ``zoo`` parser's subcommands."""
    p = sub.add_parser("train", help="train a model from scratch and write a run directory")
    p.add_argument("name", help="registered model name")
    p.add_argument(
        "--dataset",
        required=True,
        help="mnist, fashion_mnist, cifar10, a class subset (mnist:2,5), a folder with one subfolder per "
        "class; diabetes for regression; shakespeare for language models; cora, citeseer for graphs",
    )
    _add_fit_arguments(
        p,
        schedules=["cosine", "warmup_cosine", "one_cycle", "constant", "step", "inverse_time"],
        default_schedule="cosine",
        schedule_help="warmup_cosine: linear warm-up (--warmup-epochs) then cosine to 0; one_cycle: "
        "lr/25 up to lr, then cosine to ~0; step: x0.1 at 50%% and 75%%; "
        "inverse_time: lr / (1 + epoch)",
    )
    p.add_argument("--seq-length", type=int, default=100, help="language models: characters per training window")
    p.add_argument(
        "--sampling",
        default="random",
        choices=["random", "sequential"],
        help="language models: shuffled random windows, or sequential streams with the state carried over",
    )
    p.add_argument(
        "--set",
        action="append",
        type=parse_override,
        default=[],
        metavar="KEY=VALUE",
        help="model override, VALUE as JSON (repeatable): --set dropout=0.1",
    )
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser(
        "finetune", help="fine-tune pretrained weights on new data: new head, frozen then unfrozen layers"
    )
    p.add_argument("name", help="registered image or node classifier")
    p.add_argument(
        "--weights",
        required=True,
        help="pretrained weights: a preset tag (zoo presets), preset directory "
        "or URL, run directory or .weights.h5 / .weights.kzq file",
    )
    p.add_argument(
        "--dataset",
        required=True,
        help="the new data: a named set, a class subset (cifar10:5,6,7,8,9), "
        "a folder of images, a citation graph (cora:0,1,2)",
    )
    p.add_argument("--num-classes", type=int, default=None, help="classes of the new head (default: the data set's)")
    p.add_argument(
        "--freeze",
        default="none",
        metavar="backbone|none|until:LAYER",
        help="layers kept frozen (after the head-only stage of two_stage): backbone = all but the head; "
        "until:LAYER = LAYER and everything before it (zoo info NAME --layers lists them)",
    )
    _add_fit_arguments(
        p,
        schedules=["two_stage", "cosine", "constant"],
        default_schedule="two_stage",
        schedule_help="two_stage: train the head with the backbone frozen, then unfreeze at a lower lr",
    )
    p.add_argument(
        "--head-epochs", type=int, default=None, help="two_stage: epochs of the head-only stage (default: half)"
    )
    p.add_argument(
        "--unfreeze-lr-scale", type=float, default=0.1, help="two_stage: lr of the unfrozen stage = lr x this"
    )
    p.add_argument(
        "--train-batchnorm",
        action="store_true",
        help="let unfrozen BatchNormalization layers update their statistics (default: inference mode)",
    )
    p.set_defaults(fn=cmd_finetune)

    p = sub.add_parser("evaluate", help="evaluate weights on a test split")
    p.add_argument("name")
    p.add_argument(
        "--weights",
        required=True,
        help="a preset tag (see zoo info NAME), a preset or run directory, or a .weights.h5 / .weights.kzq file",
    )
    p.add_argument(
        "--dataset",
        default=None,
        help="the test data (default: the data set the run or preset records; required for a bare file)",
    )
    p.add_argument("--batch-size", type=int, default=256)
    g = p.add_argument_group("generative models")
    g.add_argument(
        "--importance-samples",
        type=int,
        default=None,
        metavar="K",
        help="VAE: samples of the importance-weighted -log p(x) estimate (default 1000)",
    )
    g.add_argument("--num-samples", type=int, default=None, help="GAN/diffusion: images for FID and KID (default 5000)")
    g.add_argument("--steps", type=int, default=None, help="diffusion: sampling steps (default: all T)")
    g.add_argument("--eta", type=float, default=None, help="diffusion: 0 deterministic DDIM (default), 1 DDPM")
    g.add_argument(
        "--features",
        default=None,
        help="FID features: auto (the zoo classifier of the data set), "
        "MODEL:TAG, or inception:PATH (InceptionV3 weights file)",
    )
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
    p.add_argument(
        "--weights",
        required=True,
        help="trained weights: a preset tag, run directory or .weights.h5 / .weights.kzq file",
    )
    p.add_argument("--dataset", required=True)
    p.add_argument("--epochs", type=int, default=30, help="retraining epochs under the prior")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=5e-4, help="Adam learning rate of the weights")
    p.add_argument(
        "--schedule",
        default="constant",
        choices=["constant", "cosine", "step"],
        help="learning-rate schedule over the retraining (the prior's rates follow it)",
    )
    p.add_argument("--components", type=int, default=17, help="mixture components, the zero component included")
    p.add_argument("--tau", type=float, default=5e-3, help="weight of the prior against the data set's log-likelihood")
    p.add_argument("--init-std", type=float, default=0.25, help="initial standard deviation of every component")
    p.add_argument("--zero-mixing", type=float, default=0.99, help="fixed pi_0 of the zero component; 0 learns it")
    p.add_argument("--merge-kl", type=float, default=1e-2, help="merge components closer than this symmetric KL")
    p.add_argument(
        "--sharpen-epochs",
        type=int,
        default=0,
        help="then retrain this many more epochs with the components narrowed to --sharpen-std, which "
        "pulls the weights onto the means and makes quantising them cheaper",
    )
    p.add_argument("--sharpen-std", type=float, default=5e-3, help="component standard deviation while sharpening")
    p.add_argument(
        "--finetune-epochs",
        type=int,
        default=0,
        help="after quantising, fine-tune the shared values (codes fixed; Han et al.'s trained quantisation)",
    )
    p.add_argument("--finetune-lr", type=float, default=1e-4)
    p.add_argument(
        "--method",
        default="sws",
        choices=["sws", "weight-decay"],
        help="weight-decay: the baseline without the prior (same mixture fit and quantisation)",
    )
    p.add_argument("--weight-decay", type=float, default=0.0, help="decoupled weight decay of the network's weights")
    p.add_argument("--max-train-examples", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output directory (default runs/<model>-<dataset>-sws-<time>)")
    p.add_argument("--export-base", default=None, help="also export a SavedModel under this TF Serving base path")
    p.add_argument("--tag", default=None, help="preset tag (default <dataset>-sws)")
    d = p.add_argument_group("distribution and fault tolerance")
    d.add_argument(
        "--strategy",
        default="auto",
        choices=["auto", "one_device", "mirrored", "multi_worker", "tpu"],
        help="tf.distribute strategy of the retraining (see zoo train --help)",
    )
    _add_fault_tolerance_flags(d)
    p.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_compress)
