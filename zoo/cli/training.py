"""``zoo train``, ``finetune``, ``evaluate``, ``generate`` and ``compress``: the commands that run ``training``.

TensorFlow and Keras are imported inside the commands, never when the parser is built. The flags of ``train``,
``finetune`` and ``compress`` are made from the fields of their config classes (:mod:`zoo.training.config`).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from zoo.cli.common import add_config_flags, config_from_args, parse_override, print_json
from zoo.training.config import CompressConfig, FinetuneConfig, TrainConfig


def cmd_generate(args) -> int:
    from zoo.training.language_model import generate
    from zoo.weights import create_trained

    model, _ = create_trained(args.name, args.weights)
    texts = generate(model, args.prompt, args.length, temperature=args.temperature, seed=args.seed)
    print_json(texts) if args.json else print("\n\n".join(texts))
    return 0


def _verbosity(args) -> int | str:
    """Keras' ``verbose``: one line per epoch with ``--quiet`` or when stdout is not a terminal, else progress bars."""
    return 2 if args.quiet or not sys.stdout.isatty() else "auto"


def command_config(config_class, args):
    """The ``config_class`` (``TrainConfig``, ``FinetuneConfig``, ``CompressConfig``) a command's flags set."""
    return config_from_args(config_class, args, verbose=_verbosity(args))


def _progress_to_stderr(args):
    """With ``--json``, stdout carries only the summary: Keras' progress goes to stderr."""
    return contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()


def _preflight(args, config=None, **kind: str) -> None:
    """What a command can check before TensorFlow loads (seconds), so a typo fails at once: the model name,
    settings of image classifiers given for another task (``config``), and an ``--out`` that holds a
    finished or an interrupted run (``kind``: ``check_out_dir``'s ``finished`` and ``kind``). The library
    checks them again."""
    from zoo.registry import describe
    from zoo.training.dispatch import check_settings_apply

    check_settings_apply(args.name, describe(args.name)["task"], config)
    if getattr(args, "out", None):
        from zoo.training.run_layout import check_out_dir

        check_out_dir(args.out, resume=bool(getattr(args, "resume", False)), **kind)


def cmd_train(args) -> int:
    config = command_config(TrainConfig, args)
    _preflight(args, config)
    from zoo.training import train

    with _progress_to_stderr(args):
        result = train(args.name, args.dataset, config=config, out=args.out, overrides=dict(args.set))
    _print_run(args, result)
    return 0


def cmd_finetune(args) -> int:
    config = command_config(FinetuneConfig, args)
    _preflight(args, config)
    from zoo.training.finetune import finetune

    with _progress_to_stderr(args):
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
    _preflight(args)
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
    from zoo.training.run_layout import REPORT

    _preflight(args, finished=REPORT, kind="compression run")
    from zoo.training.compression import compress

    with _progress_to_stderr(args):
        result = compress(
            args.name,
            args.weights,
            args.dataset,
            config=command_config(CompressConfig, args),
            out=args.out,
            export_base=args.export_base,
            preset_tag=args.tag,
        )
    _print_compression(result, args)
    return 0


def _print_compression(result, args) -> None:
    """Test error before and after, the compression ratios, and where the report and preset are."""
    report = result.report
    if args.json:
        print_json(
            {k: report[k] for k in ("error_percent", "compression", "components", "weights", "preset", "on_disk")}
            | {"out": str(result.out), "export": report.get("export")}
        )
        return
    e, c = report["error_percent"], report["compression"]
    print(
        f"test error {e['before']:.2f}% -> {e['after']:.2f}%; {c['sparse_huffman']:.1f}x smaller "
        f"(sparse + Huffman; {c['sparse']:.1f}x without Huffman); "
        f"{100 * report['weights']['nonzero_fraction']:.2f}% non-zero, {report['components']['used']} values\n"
        f"report: {result.out / 'report.md'}\npreset: {report['preset']} "
        f"({report['on_disk']['preset_bytes']:,} bytes on disk)"
    )


def _add_run_output_flags(p, out_help: str) -> None:
    """``--out``, ``--quiet`` and ``--json`` of the commands that train."""
    p.add_argument("--out", default=None, help=out_help)
    p.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _add_train_parser(sub) -> None:
    """``zoo train NAME --dataset D``: every TrainConfig field is a flag."""
    p = sub.add_parser("train", help="train a model from scratch and write a run directory")
    p.add_argument("name", help="registered model name")
    p.add_argument(
        "--dataset",
        required=True,
        help="mnist, fashion_mnist, cifar10, a class subset (mnist:2,5), a folder with one subfolder per "
        "class; diabetes for regression; shakespeare for language models; cora, citeseer for graphs",
    )
    add_config_flags(p, TrainConfig)
    _add_run_output_flags(p, "run directory (default runs/<model>-<dataset>-<time>)")
    p.add_argument(
        "--set",
        action="append",
        type=parse_override,
        default=[],
        metavar="KEY=VALUE",
        help="model override, VALUE as JSON (repeatable): --set dropout=0.1",
    )
    p.set_defaults(fn=cmd_train)


def _add_finetune_parser(sub) -> None:
    """``zoo finetune NAME --weights W --dataset D``: every FinetuneConfig flag field is a flag."""
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
    add_config_flags(p, FinetuneConfig)
    _add_run_output_flags(p, "run directory (default runs/<model>-<dataset>-<time>)")
    p.set_defaults(fn=cmd_finetune)


def _add_evaluate_parser(sub) -> None:
    """``zoo evaluate NAME --weights W``, with the generative models' measuring options."""
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


def _add_generate_parser(sub) -> None:
    """``zoo generate NAME --weights RUN --prompt TEXT``."""
    p = sub.add_parser("generate", help="continue text prompts with a trained language model")
    p.add_argument("name")
    p.add_argument("--weights", required=True, help="a run directory of zoo train (it holds the vocabulary)")
    p.add_argument("--prompt", action="append", required=True, help="text to continue (repeatable)")
    p.add_argument("--length", type=int, default=300, help="characters to generate")
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature; 0 decodes greedily")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_generate)


def _add_compress_parser(sub) -> None:
    """``zoo compress NAME --weights W --dataset D``: every CompressConfig flag field is a flag."""
    p = sub.add_parser("compress", help="compress trained weights with soft weight sharing (Ullrich et al. 2017)")
    p.add_argument("name")
    p.add_argument(
        "--weights",
        required=True,
        help="trained weights: a preset tag, run directory or .weights.h5 / .weights.kzq file",
    )
    p.add_argument("--dataset", required=True)
    add_config_flags(p, CompressConfig)
    p.add_argument("--out", default=None, help="output directory (default runs/<model>-<dataset>-sws-<time>)")
    p.add_argument("--export-base", default=None, help="also export a SavedModel under this TF Serving base path")
    p.add_argument("--tag", default=None, help="preset tag (default <dataset>-sws)")
    p.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_compress)


def add_parsers(sub) -> None:
    """Adds the training commands to the ``zoo`` parser's subcommands."""
    for add in (
        _add_train_parser,
        _add_finetune_parser,
        _add_evaluate_parser,
        _add_generate_parser,
        _add_compress_parser,
    ):
        add(sub)
