"""``zoo list`` and ``zoo info``: the registry, read from its index unless a command must build a model."""

from __future__ import annotations

import json
import sys

from zoo.cli.common import print_json


def cmd_list(args) -> int:
    from zoo.registry import describe, list_models

    rows = [describe(n) for n in list_models(args.pattern)]
    if args.json:
        print_json([{k: row[k] for k in ("name", "task", "description")} for row in rows])
        return 0
    width = max((len(row["name"]) for row in rows), default=0)
    for row in rows:
        print(f"{row['name']:<{width}}  {row['description']}")
    if not rows:
        print(f"no models match {args.pattern!r}", file=sys.stderr)
        return 1
    return 0


def cmd_info(args) -> int:
    from zoo.registry import describe

    describe(args.name)  # an unknown name fails before Keras loads
    from zoo.factory import info

    if args.layers and args.no_build:
        raise ValueError("--layers lists the built model's layers: drop --no-build.")
    details = info(args.name, build=not args.no_build)
    if args.json:
        print_json(details)
        return 0
    keys = ("name", "family", "task", "dataset", "description", "input_shape", "output_shape", "parameters")
    for key in (k for k in keys if k in details):
        print(f"{key:>12}: {details[key]}")
    if "config" in details:
        print(f"{'config':>12}: {json.dumps(details['config'])}")
    print(f"{'signatures':>12}: {', '.join(details['signatures'])}")
    print(f"{'weights':>12}: {', '.join(details['weights']) or '(none published yet)'}")
    if args.layers:
        width = max(len(layer["name"]) for layer in details["layers"])
        print(f"{'layers':>12}:")
        for layer in details["layers"]:
            print(f"{'':>14}{layer['name']:<{width}}  {layer['type']:<22} {layer['parameters']:>10,}")
    return 0


def add_parsers(sub) -> None:
    """Adds ``list`` and ``info`` to the ``zoo`` parser's subcommands."""
    p = sub.add_parser("list", help="list registered models (wildcards allowed)")
    p.add_argument("pattern", nargs="?", default=None, help='e.g. "resnet*"')
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_list)

    p = sub.add_parser("info", help="describe a model: task, input, parameters, default config, presets, layers")
    p.add_argument("name")
    p.add_argument("--layers", action="store_true", help="also list the top-level layers (names for --freeze until:)")
    p.add_argument(
        "--no-build",
        action="store_true",
        help="describe from the registry's index only (no shapes or parameters; starts without Keras)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_info)
