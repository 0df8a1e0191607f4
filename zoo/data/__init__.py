"""Data sets for the zoo: named sets with offline sources, user image folders, and tf.data pipelines.

Example:
    >>> from zoo import data
    >>> spec, test = data.load("mnist", "test")   # doctest: +SKIP
"""

from zoo.data.datasets import DatasetSpec, Split, get_spec, list_datasets, load, load_folder
from zoo.data.settings import cache_dir, data_dir, kzoo_home

__all__ = [
    "DatasetSpec",
    "Split",
    "cache_dir",
    "data_dir",
    "get_spec",
    "kzoo_home",
    "list_datasets",
    "load",
    "load_folder",
]
