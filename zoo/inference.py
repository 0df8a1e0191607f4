"""Local inference: image files or arrays in, a classifier's top-k class names and scores out.

``predict`` is what ``zoo predict NAME --weights TAG --input a.png`` runs, without a server. Inputs are checked
against the model's input before anything runs: a colour image given to a grey model (or the reverse) is an
error unless ``convert=True``, and an image of another size is resized with a warning naming it.

The image helpers (:func:`read_input`, :func:`fit_to_input`) use NumPy and Pillow only, so the gRPC client of
``zoo predict --server`` shares them without importing TensorFlow.

Example:
    >>> import numpy as np
    >>> fit_to_input(np.zeros((28, 28), np.uint8), (28, 28, 1)).shape
    (28, 28, 1)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

CHANNEL_NAMES = {1: "grey", 3: "RGB", 4: "RGBA"}


def open_image(path: str | Path):
    """``PIL.Image.open(path)`` fully decoded, or an error naming the file when it is not a readable image.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a corrupt or unsupported file.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
        image.load()  # decode now: a truncated or corrupt file fails here, not inside a later conversion
    except FileNotFoundError:
        raise FileNotFoundError(f"No such input file: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(
            f"{path} is not a readable image ({type(err).__name__}: {err}). zoo predict takes .npy "
            f"files or images (PNG, JPEG, BMP, ...)."
        ) from None
    return image


def read_input(item: Any) -> np.ndarray:
    """One input as an array: an image file (pixels as uint8, H x W x C), a .npy file, a PIL image or an array."""
    if isinstance(item, (str, Path)):
        if str(item).endswith(".npy"):
            try:
                return np.load(item, allow_pickle=False)
            except FileNotFoundError:
                raise FileNotFoundError(f"No such input file: {item}") from None
            except (ValueError, OSError, EOFError) as err:
                raise ValueError(f"{item} is not a readable .npy array ({err}).") from None
        with open_image(item) as image:
            return _pil_array(image)
    if hasattr(item, "getbands"):  # a PIL image
        return _pil_array(item)
    return np.asarray(item)


def _pil_array(image) -> np.ndarray:
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "L" if len(image.getbands()) == 1 else "RGB")
    array = np.asarray(image)
    return array.reshape(array.shape[0], array.shape[1], -1)


def fit_to_input(
    array: np.ndarray, input_shape: Sequence[int | None], *, name: str = "input", convert: bool = False
) -> np.ndarray:
    """``array`` (H x W, H x W x C) made to fit a model input of ``input_shape`` (without the batch axis).

    Args:
        array: pixels, uint8 in [0, 255] or floats in [0, 1].
        input_shape: the model's (height, width, channels); None sizes accept any.
        name: what the messages call the input (its file name).
        convert: convert colour to grey or grey to colour when the channels differ (a warning says so);
            False raises instead.

    Returns:
        The pixels, same dtype as given, shaped (height, width, channels). Other sizes are resized (bilinear),
        with a warning.

    Raises:
        ValueError: channels that differ without ``convert``, or an input that is not an image.
    """
    if len(input_shape) != 3:
        return array  # not an image model: passed through unchanged
    height, width, channels = input_shape
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"{name}: expected an image (height, width[, 1|3|4 channels]); received an array of shape {array.shape}."
        )
    have = array.shape[-1]
    if have == 4 and channels != 4:
        array, have = array[..., :3], 3  # drop alpha
    if channels is not None and have != channels:
        want, got = CHANNEL_NAMES.get(channels, f"{channels}-channel"), CHANNEL_NAMES[have]
        if not convert:
            raise ValueError(
                f"{name} is {'an' if got[0] in 'AEIOUR' else 'a'} {got} image but the model takes {want} "
                f"images ({height}x{width}x{channels}). Pass --convert (convert=True) to convert it to "
                f"{want}, or give a {want} image."
            )
        logger.warning("%s: %s image converted to %s for the model.", name, got, want)
        if channels == 1:  # ITU-R 601 luma, as PIL's convert("L")
            luma = array[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
            array = (luma.round() if array.dtype == np.uint8 else luma).astype(array.dtype)[..., None]
        else:
            array = np.repeat(array, channels, axis=-1)
    if height and width and array.shape[:2] != (height, width):
        logger.warning(
            "%s: resized from %dx%d to the model's %dx%d.", name, array.shape[0], array.shape[1], height, width
        )
        array = _resize(array, (height, width))
    return array


def _resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    uint8 = array.dtype == np.uint8
    planes = [
        Image.fromarray(array[..., c] if uint8 else array[..., c].astype(np.float32), "L" if uint8 else "F").resize(
            (size[1], size[0]), Image.BILINEAR
        )
        for c in range(array.shape[-1])
    ]
    return np.stack([np.asarray(p) for p in planes], axis=-1).astype(array.dtype)


def to_pixels(array: np.ndarray) -> np.ndarray:
    """Pixels as float32 in [0, 1], the range zoo image models take (uint8 is divided by 255)."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    array = array.astype(np.float32)
    if array.size and (array.min() < -1e-3 or array.max() > 1 + 1e-3):
        raise ValueError(
            f"Float pixels are expected in [0, 1]; received values in [{array.min():.3g}, "
            f"{array.max():.3g}]. Give uint8 pixels (0-255) or divide by 255."
        )
    return array


def prepare_batch(
    inputs: Sequence[Any], input_shape: Sequence[int | None], *, convert: bool = False
) -> tuple[np.ndarray, list[str]]:
    """Reads, checks and stacks ``inputs`` for a model of ``input_shape``: ``(pixels in [0, 1], names)``.

    A 4-D array is a batch; anything else is one input.
    """
    arrays, names = [], []
    for i, item in enumerate(inputs):
        name = str(item) if isinstance(item, (str, Path)) else f"input {i}"
        array = read_input(item)
        examples = list(array) if array.ndim == len(input_shape) + 1 and array.ndim == 4 else [array]
        for j, example in enumerate(examples):
            arrays.append(to_pixels(fit_to_input(example, input_shape, name=name, convert=convert)))
            names.append(name if len(examples) == 1 else f"{name}[{j}]")
    if not arrays:
        raise ValueError("No inputs given.")
    return np.stack(arrays), names


def recorded_class_names(record: dict, model) -> list[str] | None:
    """The class names a run's ``config.json`` or a preset's metadata records, else its data set's, when there is
    one per model output; None otherwise (classes are then named ``"0"``, ``"1"``, ...)."""
    from zoo import data

    if isinstance(record.get("class_names"), list):
        return fit_class_names(record["class_names"], model)
    dataset = record.get("dataset")
    try:
        return fit_class_names(data.get_spec(dataset).class_names, model) if dataset else None
    except (ValueError, TypeError):
        logger.warning(
            "No class names recorded and data set %r is not available: classes are named by number.", dataset
        )
        return None


def fit_class_names(names, model) -> list[str] | None:
    """``names`` as a list when there is one per model output, else None (classes are then named by index)."""
    names = list(names)
    return names if len(names) == model.output_shape[-1] else None


def top_k(scores: np.ndarray, names: Sequence[str], class_names: Sequence[str] | None, k: int) -> list[dict]:
    """Per input ``{"input", "top_k": [{"class", "label", "score"}, ...]}``, best first."""
    report = []
    for name, row in zip(names, scores):
        order = np.argsort(-row)[:k]
        report.append(
            {
                "input": name,
                "top_k": [
                    {"class": int(j), "label": class_names[j] if class_names else str(j), "score": float(row[j])}
                    for j in order
                ],
            }
        )
    return report


def predict(
    model: Any,
    inputs: Any,
    *,
    weights: str | Path | None = None,
    top_k_classes: int = 5,
    convert: bool = False,
    class_names: Sequence[str] | None = None,
) -> list[dict]:
    """Classifies images locally: the top-k class names and scores of each input.

    Args:
        model: a registry name (with ``weights``) or a built ``keras.Model``.
        inputs: image files (PNG, JPEG, ...), .npy files, PIL images or arrays (H x W, H x W x C, or a batch
            N x H x W x C; uint8 pixels or floats in [0, 1]); one of these or a list of them.
        weights: for a name: a preset tag (``"mnist"``), preset or run directory, or weights file.
        top_k_classes: int. Classes reported per input.
        convert: bool. Convert colour to grey (or grey to colour) when the model takes the other; False refuses.
        class_names: names of the classes; default: those the weights record (their data set's).

    Returns:
        One dict per input: ``{"input": name, "top_k": [{"class": 3, "label": "cat", "score": 0.93}, ...]}``.

    Raises:
        ValueError: a model that is not an image classifier, a name without weights, or inputs that do not fit.

    Example:
        >>> predict("lenet5", ["digit.png"], weights="mnist", top_k_classes=1)  # doctest: +SKIP
        [{'input': 'digit.png', 'top_k': [{'class': 7, 'label': '7', 'score': 0.9998}]}]
    """
    record = None
    if isinstance(model, str):
        from zoo.registry import describe

        task = describe(model)["task"]
        if task != "image_classification":
            raise ValueError(f"predict classifies images; {model} is a {task} model.")
        if weights is None:
            raise ValueError(
                f"Give weights= for {model}: a preset tag (`zoo presets {model}`), a run directory or "
                f"a weights file. Random weights predict nothing useful."
            )
        from zoo.weights import create_trained

        model, record = create_trained(model, weights)
    if not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    input_shape = tuple(model.input_shape[1:])
    batch, names = prepare_batch(inputs, input_shape, convert=convert)
    scores = np.asarray(model.predict(batch, verbose=0))
    if scores.ndim != 2:
        raise ValueError(f"predict classifies images; the model's output has shape {scores.shape[1:]}.")
    if scores.min() < 0 or not np.allclose(scores.sum(-1), 1.0, atol=1e-3):  # logits: to probabilities
        shifted = np.exp(scores - scores.max(-1, keepdims=True))
        scores = shifted / shifted.sum(-1, keepdims=True)
    names_of_classes = (
        list(class_names) if class_names is not None else (recorded_class_names(record, model) if record else None)
    )
    return top_k(scores, names, names_of_classes, top_k_classes)
