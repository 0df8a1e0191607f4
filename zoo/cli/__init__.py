"""The ``zoo`` command: the top layer of kzoo, above ``training``, ``serving`` and the core ``zoo`` package.

One module per command group (:mod:`zoo.cli.models`, :mod:`~zoo.cli.presets`, :mod:`~zoo.cli.data`,
:mod:`~zoo.cli.training`, :mod:`~zoo.cli.serving`, :mod:`~zoo.cli.robustness`, :mod:`~zoo.cli.teaching`); each
adds its subcommands with ``add_parsers(sub)`` and imports TensorFlow or Keras only inside the command that needs
them, so ``zoo --help``, ``zoo list`` and ``zoo presets`` start in well under a second. Each subcommand calls a
public Python function.
"""

from __future__ import annotations

import argparse
import logging
import sys

from zoo.cli import data, models, presets, robustness, serving, teaching, training
from zoo.cli.common import filtered_stderr, quiet_startup
from zoo.cli.presets import format_size

__all__ = ["build_parser", "format_size", "main"]

COMMAND_GROUPS = (models, presets, data, training, serving, robustness, teaching)


def build_parser() -> argparse.ArgumentParser:
    """The ``zoo`` parser: every command group's subcommands (imports nothing heavy)."""
    parser = argparse.ArgumentParser(
        prog="zoo", description="kzoo: pick a model by name, train it, evaluate it, export it, serve it, query it."
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log progress messages (data sources, files) and TensorFlow's start-up lines",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_parsers(sub)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args``, except that a command naming a list in ``trailing_inputs`` also takes its items as
    plain arguments anywhere on the line (``zoo predict NAME --weights TAG a.jpg b.jpg``), which argparse alone
    refuses once the command's positional is filled."""
    args, extra = parser.parse_known_args(argv)
    destination = getattr(args, "trailing_inputs", None)
    refused = extra if destination is None else [item for item in extra if item.startswith("-")]
    if refused:
        parser.error("unrecognized arguments: " + " ".join(refused))
    if extra:
        setattr(args, destination, list(getattr(args, destination)) + extra)
    return args


def main(argv: list[str] | None = None) -> int:
    """Runs ``zoo ARGS``; returns the exit status (2 with a one-line message on a user error)."""
    parser = build_parser()
    args = _parse(parser, argv)
    quiet_startup(args.verbose)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    with filtered_stderr(enabled=not args.verbose):
        try:
            return args.fn(args)
        except (ValueError, FileNotFoundError, FileExistsError, FloatingPointError) as err:
            print(f"zoo {args.command}: error: {err}", file=sys.stderr)
            return 2
