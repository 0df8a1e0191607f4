"""``zoo presets`` and ``zoo pull``: the catalog of pretrained weights and the download cache."""

from __future__ import annotations

import sys
from typing import Any

from zoo.cli.common import print_json


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
        print_json(rows)
        return 0
    width = max((len(f"{r['model']}:{r['tag']}") for r in rows), default=0)
    for r in rows:
        where = (r["url"] or "remote (no mirror: see zoo pull)") if r["where"] == "remote" else r["where"]
        print(
            f"{r['model'] + ':' + r['tag']:<{width}}  {r['dataset'] or '-':<14} {format_size(r['size']):>8}  {where:<8}  "
            f"{_metric_summary(r['metrics'])}"
        )
    if not rows:
        from zoo.naming import did_you_mean

        every = presets.list_presets()
        names = {f"{r['model']}:{r['tag']}" for r in every}
        names = sorted(names if ":" in (args.pattern or "") else names | {r["model"] for r in every})
        hint = did_you_mean(args.pattern or "", names)
        print(f"no presets match {args.pattern!r}.{hint} (zoo presets lists them all)", file=sys.stderr)
        return 1
    return 0


def cmd_pull(args) -> int:
    from zoo import presets

    for spec in args.presets:
        for directory in presets.pull(spec, force=args.force, progress=not args.quiet, image_size=args.image_size):
            print(directory)
    return 0


def add_parsers(sub) -> None:
    """Adds ``presets`` and ``pull`` to the ``zoo`` parser's subcommands."""
    p = sub.add_parser("presets", help="list pretrained weights (presets): tag, data set, size, where, metrics")
    p.add_argument("pattern", nargs="?", default=None, help='model or model:tag wildcard, e.g. "lenet*" or "*:mnist"')
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_presets)

    p = sub.add_parser(
        "pull", help="download published presets (or convert timm checkpoints) into the cache ($KZOO_HOME/presets)"
    )
    p.add_argument(
        "presets",
        nargs="+",
        metavar="NAME[:TAG]",
        help='a model (all its tags), model:tag, a wildcard as zoo presets takes it ("*:mnist"), '
        "hf://timm/<architecture>.<tag>, or a folder in timm's Hub layout (config.json + "
        "model.safetensors)",
    )
    p.add_argument("--force", action="store_true", help="download (or convert) again even when cached")
    p.add_argument(
        "--image-size",
        type=int,
        default=None,
        metavar="N",
        help="timm checkpoints: convert for NxN images instead of pretrained_cfg's size (a ViT's position "
        "table is resampled as timm does); the tag gets the suffix -N",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(fn=cmd_pull)
