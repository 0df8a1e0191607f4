"""Named image-classification data sets, loaded from the first source that works.

Order for a named set: tensorflow-datasets' prepared data (no download), the
offline copies (``KZOO_DATA_DIR`` and system locations), then a
tensorflow-datasets download unless ``KZOO_OFFLINE=1``. The source used is
logged and returned, so reports can say where the data came from.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from zoo.data import sources
from zoo.data.settings import data_dir, offline_only, shown_path
from zoo.data.stats import CIFAR10_MEAN, CIFAR10_STD, FASHION_MNIST_MEAN, FASHION_MNIST_STD, MNIST_MEAN, MNIST_STD
from zoo.naming import did_you_mean

logger = logging.getLogger(__name__)

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What a data set is: shapes, classes, pixel statistics and augmentation.

    Attributes:
        name: data set name (tensorflow-datasets' name for the named sets).
        input_shape: (height, width, channels).
        class_names: one name per label.
        mean, std: per-channel statistics of the training pixels in [0, 1].
        augment: ``"crop_flip"`` (pad 4, random crop, horizontal flip) or None.
    """

    name: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def model_overrides(self) -> dict:
        """Constructor arguments fitting a zoo image classifier to this data."""
        scalar = len(self.mean) == 1
        return {
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "input_mean": self.mean[0] if scalar else list(self.mean),
            "input_std": self.std[0] if scalar else list(self.std),
        }


@dataclasses.dataclass
class Split:
    """One split in memory: uint8 images (N, H, W, C), int64 labels (N,), and where it came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, count: int | None) -> "Split":
        """The first ``count`` examples (all of them when ``count`` is None or larger)."""
        if count is None or count >= len(self):
            return self
        return Split(self.images[:count], self.labels[:count], self.source)


#: A validation set smaller than this chooses the best epoch on noise (``validation_problems`` says so).
MIN_VALIDATION_EXAMPLES = 100


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(kept, held_out)`` holding out ``fraction`` of every class (at least one example of each class
    that has two or more), each part in its own fixed random order.

    Example:
        >>> kept, held = stratified_split(np.array([0] * 8 + [1] * 2), 0.2, seed=0)
        >>> sorted(np.array([0] * 8 + [1] * 2)[held].tolist()), len(kept)
        ([0, 0, 1], 7)
    """
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = int(round(len(members) * fraction))
        if count == 0 and len(members) > 1 and fraction > 0:
            count = 1
        held.append(members[:count])
    held_out = np.concatenate(held) if held else np.zeros(0, dtype=np.int64)
    kept = np.setdiff1d(np.arange(len(labels)), held_out)
    return rng.permutation(kept), rng.permutation(held_out)


def validation_problems(
    train_labels: np.ndarray, validation_labels: np.ndarray, class_names: tuple[str, ...] | None = None
) -> list[str]:
    """What makes a validation set a poor judge of the best epoch: too few examples, classes it lacks."""
    problems = []
    if len(validation_labels) < MIN_VALIDATION_EXAMPLES:
        problems.append(
            f"the validation set has only {len(validation_labels)} examples (fewer than "
            f"{MIN_VALIDATION_EXAMPLES}), so its accuracy moves in steps of "
            f"{100 / max(len(validation_labels), 1):.0f}%"
        )
    missing = sorted(set(np.unique(train_labels).tolist()) - set(np.unique(validation_labels).tolist()))
    if missing:
        named = [class_names[m] if class_names and m < len(class_names) else str(m) for m in missing]
        problems.append(f"it has no example of class(es) {', '.join(named)}")
    return problems


def _idx_offline(*folders: Callable[[], Path]):
    def load(split: str) -> tuple[tuple[np.ndarray, np.ndarray], str]:
        tried = []
        for folder in folders:
            directory = folder()
            try:
                return sources.load_idx_split(directory, split), f"offline idx files in {shown_path(directory)}"
            except sources.SourceUnavailable as err:
                tried.append(str(err))
        raise sources.SourceUnavailable("; ".join(tried))

    return load


def _cifar10_offline(split: str):
    directory = data_dir() / "cifar10" / split
    return sources.load_class_folders(
        directory, CIFAR10_CLASSES
    ), f"offline JPEG copy in {shown_path(directory)} (lossy re-encoding)"


_NAMED = {
    "mnist": (
        DatasetSpec("mnist", (28, 28, 1), tuple(str(i) for i in range(10)), (MNIST_MEAN,), (MNIST_STD,)),
        _idx_offline(lambda: data_dir() / "mnist"),
    ),
    "fashion_mnist": (
        DatasetSpec(
            "fashion_mnist",
            (28, 28, 1),
            ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"),
            (FASHION_MNIST_MEAN,),
            (FASHION_MNIST_STD,),
        ),
        _idx_offline(
            lambda: data_dir() / "fashion_mnist", lambda: data_dir() / "fashion-mnist", lambda: DEBIAN_FASHION_MNIST
        ),
    ),
    "cifar10": (
        DatasetSpec("cifar10", (32, 32, 3), tuple(CIFAR10_CLASSES), CIFAR10_MEAN, CIFAR10_STD, "crop_flip"),
        _cifar10_offline,
    ),
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load` (a folder path is accepted as well)."""
    return sorted(_NAMED)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {SPLITS}.")


def parse_class_subset(name: str) -> tuple[str, tuple[int, ...] | None]:
    """Splits ``"mnist:2,5"`` into ``("mnist", (2, 5))``; a name without ``:`` has no subset.

    Raises:
        ValueError: a subset that is not two or more distinct non-negative integers.
    """
    base, sep, subset = name.partition(":")
    if not sep or Path(name).expanduser().is_dir():
        return name, None
    try:
        classes = tuple(int(c) for c in subset.split(","))
    except ValueError:
        classes = ()
    if len(classes) < 2 or len(set(classes)) != len(classes) or min(classes) < 0:
        raise ValueError(
            f"A class subset is NAME:C1,C2[,...] with two or more distinct class numbers (mnist:2,5). Received: {name!r}"
        )
    return base, classes


def _subset_spec(spec: DatasetSpec, name: str, classes: tuple[int, ...]) -> DatasetSpec:
    if max(classes) >= spec.num_classes:
        raise ValueError(f"{spec.name} has classes 0..{spec.num_classes - 1}. Received: {name!r}")
    return dataclasses.replace(spec, name=name, class_names=tuple(spec.class_names[c] for c in classes))


def _subset_split(split: Split, classes: tuple[int, ...]) -> Split:
    """Keeps the examples of ``classes`` and relabels them 0, 1, ... in that order."""
    relabel = np.full(max(int(split.labels.max()), max(classes)) + 1, -1, dtype=np.int64)
    relabel[list(classes)] = np.arange(len(classes))
    keep = relabel[split.labels] >= 0
    return Split(split.images[keep], relabel[split.labels[keep]], f"{split.source}, classes {list(classes)}")


def get_spec(name: str) -> DatasetSpec:
    """Returns the spec of a named data set, a class subset of one (``mnist:2,5``) or an image folder."""
    base, classes = parse_class_subset(name)
    if classes is not None:
        return _subset_spec(get_spec(base), name, classes)
    if name in _NAMED:
        return _NAMED[name][0]
    if Path(name).expanduser().is_dir():
        return load_folder(name, "train")[0]
    path = Path(name).expanduser()
    if path.exists():
        raise ValueError(
            f"Data set {name!r} is a file ({path.absolute()}); a folder data set is a directory with "
            f"one subfolder of images per class (or train/ and test/ holding such subfolders)."
        )
    if _looks_like_path(name):
        raise ValueError(
            f"No such folder: {path.absolute()} (data set {name!r}). Give an existing folder with one "
            f"subfolder of images per class, or a named data set: {', '.join(list_datasets())}."
        )
    raise ValueError(
        f"Unknown dataset {name!r}.{did_you_mean(name, list(_NAMED))} Known: {', '.join(list_datasets())}, "
        f"or a folder of images with one subfolder per class."
    )


def _looks_like_path(name: str) -> bool:
    """A data-set name written as a path (``~/photos``, ``./data``, ``runs/x``), not a named set."""
    return any(sep in name for sep in ("/", "\\")) or name.startswith(("~", "."))


def load(name: str, split: str) -> tuple[DatasetSpec, Split]:
    """Loads one split of a named data set or image folder into memory.

    Args:
        name: ``mnist``, ``fashion_mnist``, ``cifar10``, a folder path (see :func:`load_folder`), or
            any of these followed by a class subset, ``mnist:2,5``: the examples of classes 2 and 5,
            relabelled 0 and 1 (binary tasks such as logistic regression on 2 vs 5).
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(spec, split)``; ``split.source`` says where the data came from.

    Raises:
        ValueError: unknown name or split, or no source could provide the data
            (the message lists what was tried).
    """
    _check_split(split)
    base, classes = parse_class_subset(name)
    if classes is not None:
        spec, whole = load(base, split)
        return _subset_spec(spec, name, classes), _subset_split(whole, classes)
    if name not in _NAMED:
        if Path(name).expanduser().is_dir():
            return load_folder(name, split)
        get_spec(name)  # raises the unknown-dataset error
    spec, offline = _NAMED[name]
    attempts = [
        (
            "tensorflow-datasets (prepared)",
            lambda: (sources.load_tfds(name, split, download=False), "tensorflow-datasets"),
        ),
        ("offline copy", lambda: offline(split)),
    ]
    if not offline_only():
        attempts.append(
            (
                "tensorflow-datasets (download)",
                lambda: (sources.load_tfds(name, split, download=True), "tensorflow-datasets (downloaded)"),
            )
        )
    tried = []
    for label, attempt in attempts:
        try:
            (images, labels), where = attempt()
        except sources.SourceUnavailable as err:
            tried.append(f"{label}: {err}")
            continue
        logger.info("Loaded %s[%s]: %d examples from %s", name, split, len(labels), where)
        return spec, Split(images, labels, where)
    from zoo.data.settings import config_file, data_dir_and_source

    folder, source = data_dir_and_source()
    raise ValueError(
        f"No source could load {name}[{split}]: the data directory {folder} (from {source}) has no {name}/. "
        f"Point kzoo at the folder holding the offline copies: set KZOO_DATA_DIR=DIR, or run "
        f'`zoo datasets --set-data-dir DIR` (it writes {config_file()}); the README\'s "Data" section gives the '
        f"format. Tried:\n  " + "\n  ".join(tried)
    )


GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F", "P;L"})
"""PIL modes of single-channel images (with or without alpha)."""


def folder_color_mode(root: Path) -> str:
    """``"grayscale"`` when every image under ``root`` is grey, else ``"rgb"`` (saying what gets converted).

    Reads only the images' headers. Grey images among colour ones are copied to three channels and alpha is
    dropped; a warning says how many images were converted.
    """
    from PIL import Image

    modes: dict[str, int] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in sources.IMAGE_SUFFIXES:
            with Image.open(path) as image:
                modes[image.mode] = modes.get(image.mode, 0) + 1
    total, grey = sum(modes.values()), sum(n for m, n in modes.items() if m in GREY_MODES)
    if total and grey == total:
        return "grayscale"
    if grey:
        logger.warning(
            "%s: %d of %d images are grey; they are read as RGB (grey copied to 3 channels).", root, grey, total
        )
    alpha = sum(n for m, n in modes.items() if m in ("RGBA", "LA", "PA"))
    if alpha:
        logger.warning("%s: the alpha channel of %d images is dropped.", root, alpha)
    return "rgb"


def load_folder(
    path: str, split: str, *, image_size: tuple[int, int] | None = None, channels: int | None = None
) -> tuple[DatasetSpec, Split]:
    """Loads a user folder of images, one subfolder per class, through Keras.

    The colour mode comes from the images: grey when all are grey (1 channel), else RGB (3 channels), see
    :func:`folder_color_mode`; ``channels`` overrides it (a pretrained model's input).

    ``path/train/<class>/*`` and ``path/test/<class>/*`` are used when they
    exist; otherwise ``path/<class>/*`` is split 80/20 into train and test, stratified (20% of
    every class, seed 1337, see :func:`stratified_split`). Pixel statistics come from the training
    images. Examples come in a fixed mixed order (the split's shuffle, or ``sources.mixed_order``),
    never one class after another.

    Args:
        path: the folder.
        split: ``"train"`` or ``"test"``.
        image_size: (height, width) to resize to; defaults to the first image's size.
        channels: 1 or 3 to read every image as grey or RGB whatever the images are (a warning says when
            this converts them); None infers it from the images.
    """
    import keras

    _check_split(split)
    root = Path(path).expanduser()
    if channels not in (None, 1, 3):
        raise ValueError(f"channels is 1 (grey) or 3 (RGB). Received: channels={channels!r}")
    color_mode = folder_color_mode(root)
    if channels is not None and channels != (1 if color_mode == "grayscale" else 3):
        logger.warning(
            "%s: %s images read as %s to fit the model's %d input channel(s).",
            root,
            "grey" if color_mode == "grayscale" else "colour",
            "RGB" if channels == 3 else "grey",
            channels,
        )
        color_mode = "rgb" if channels == 3 else "grayscale"
    if image_size is None:
        first = next((p for p in sorted(root.rglob("*")) if p.suffix.lower() in sources.IMAGE_SUFFIXES), None)
        if first is None:
            raise ValueError(f"{root} holds no images ({', '.join(sources.IMAGE_SUFFIXES)}).")
        from PIL import Image

        with Image.open(first) as im:
            image_size = (im.height, im.width)

    def read(directory: Path):
        ds = keras.utils.image_dataset_from_directory(
            directory, image_size=image_size, batch_size=None, shuffle=False, verbose=False, color_mode=color_mode
        )
        pairs = list(ds.as_numpy_iterator())
        images = np.stack([p[0] for p in pairs]).round().clip(0, 255).astype(np.uint8)
        labels = np.asarray([p[1] for p in pairs], dtype=np.int64)
        return ds.class_names, images, labels

    if (root / "train").is_dir() and (root / "test").is_dir():
        class_names, train_x, _ = read(root / "train")
        chosen = (class_names, *sources.mixed_order(*read(root / split)[1:]))
    else:
        class_names, images, labels = read(root)
        kept, held = stratified_split(labels, 0.2, seed=1337)
        train_x = images[kept]
        rows = kept if split == "train" else held
        chosen = (class_names, images[rows], labels[rows])
    pixels = train_x.reshape(-1, train_x.shape[-1]).astype(np.float64) / 255.0
    spec = DatasetSpec(
        name=str(root),
        input_shape=tuple(int(d) for d in train_x.shape[1:]),
        class_names=tuple(class_names),
        mean=tuple(float(m) for m in pixels.mean(0)),
        std=tuple(float(s) for s in pixels.std(0) + 1e-6),
    )
    return spec, Split(chosen[1], chosen[2], f"image folder {root}")
