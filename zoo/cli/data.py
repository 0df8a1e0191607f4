"""``zoo datasets``: the named data sets and the data directory."""

from __future__ import annotations


def cmd_datasets(args) -> int:
    from zoo.data.settings import data_dir_and_source, set_data_dir

    if args.set_data_dir:
        print(f"data directory {args.set_data_dir} recorded in {set_data_dir(args.set_data_dir)}")
        return 0
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
    folder, source = data_dir_and_source()
    print(f"data directory: {folder} (from {source})")
    return 0


def add_parsers(sub) -> None:
    """Adds ``datasets`` to the ``zoo`` parser's subcommands."""
    p = sub.add_parser("datasets", help="list the named data sets and the data directory")
    p.add_argument(
        "--set-data-dir",
        default=None,
        metavar="DIR",
        help="record DIR (the folder holding mnist/, cifar10/, ...) in $KZOO_HOME/config.json, so no "
        "KZOO_DATA_DIR is needed",
    )
    p.set_defaults(fn=cmd_datasets)
