"""Readers for the offline copies of data sets (standard formats) and for tensorflow-datasets.

Every reader returns ``(images, labels)``: uint8 (N, H, W, C) and int64 (N,).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from zoo.data.settings import cache_dir

logger = logging.getLogger(__name__)

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


class SourceUnavailable(Exception):
    """A source does not hold the data set here (missing files, no network)."""


def read_idx(path: Path) -> np.ndarray:
    """Reads an IDX file (LeCun's MNIST format), gzipped or not.

    Raises:
        ValueError: if the header is not an unsigned-byte IDX header or the size is wrong.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (header {data[:4]!r}).")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} ({int(np.prod(dims))} bytes), file holds {body.size}.")
    return body.reshape(dims)


def _find(directory: Path, stem: str) -> Path:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.exists():
            return candidate
    raise SourceUnavailable(f"{directory} has no {stem}[.gz]")


def load_idx_split(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Loads an MNIST-format split (``train`` or ``test``) from ``directory``."""
    if not directory.is_dir():
        raise SourceUnavailable(f"{directory} does not exist")
    images_stem, labels_stem = IDX_FILES[split]
    images = read_idx(_find(directory, images_stem))
    labels = read_idx(_find(directory, labels_stem)).astype(np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{directory}: {len(images)} images but {len(labels)} labels in {split}.")
    return images[..., None], labels


def _decode(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def mixed_order(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The examples of a class-sorted source in one fixed pseudo-random order (seed 0).

    Folders list one class after another; mixed like the published binary files, the first N
    examples (``--max-train-examples``, ``--max-examples``) hold every class, not the first one.
    """
    order = np.random.default_rng(0).permutation(len(labels))
    return images[order], labels[order]


def load_class_folders(directory: Path, class_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Decodes ``directory/<class>/*.jpg`` into arrays, caching them in ``cache_dir()``.

    The files are read by class (in ``class_names`` order), then by file name, and returned in
    ``mixed_order``. The cache key covers the file list, so a changed folder is decoded again.
    """
    if not directory.is_dir():
        raise SourceUnavailable(f"{directory} does not exist")
    files, labels = [], []
    for label, name in enumerate(class_names):
        class_dir = directory / name
        if not class_dir.is_dir():
            raise SourceUnavailable(f"{directory} has no folder {name}/")
        found = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += found
        labels += [label] * len(found)
    key = hashlib.sha256("\n".join(f"{p}:{p.stat().st_size}" for p in files).encode()).hexdigest()[:16]
    cache = cache_dir() / f"{directory.parent.name}-{directory.name}-{key}.npz"
    if cache.exists():
        with np.load(cache) as cached:
            return mixed_order(cached["images"], cached["labels"])
    logger.info("Decoding %d images from %s (cached afterwards in %s)", len(files), directory, cache)
    with ThreadPoolExecutor(max_workers=8) as pool:
        images = np.stack(list(pool.map(_decode, files, chunksize=256)))
    labels_array = np.asarray(labels, dtype=np.int64)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, images=images, labels=labels_array)
    tmp.replace(cache)
    return mixed_order(images, labels_array)


def load_tfds(name: str, split: str, *, download: bool) -> tuple[np.ndarray, np.ndarray]:
    """Loads a split through tensorflow-datasets (``download=False`` uses only prepared data)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as err:  # pragma: no cover - a dependency of kzoo
        raise SourceUnavailable(f"tensorflow-datasets is not installed ({err})") from err
    try:
        if not download:
            absl_logger = logging.getLogger("absl")
            level = absl_logger.level
            absl_logger.setLevel(logging.ERROR)  # tfds warns about every data set it has not prepared
            try:
                prepared = tfds.builder(name).is_prepared()
            finally:
                absl_logger.setLevel(level)
            if not prepared:
                raise SourceUnavailable(f"tensorflow-datasets has no prepared copy of {name} (and download is off)")
        images, labels = tfds.as_numpy(
            tfds.load(name, split=split, as_supervised=True, batch_size=-1, download=download)
        )
    except SourceUnavailable:
        raise
    except Exception as err:  # tfds raises many types for "not prepared" / "no network" / a missing module
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise SourceUnavailable(
            f"tensorflow-datasets could not {'download' if download else 'load'} {name}[{split}] "
            f"({type(err).__name__}: {first_line[:200]})"
        ) from err
    return np.asarray(images, dtype=np.uint8), np.asarray(labels, dtype=np.int64)
