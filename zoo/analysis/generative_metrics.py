"""Sample quality: Fréchet distance and kernel inception distance on the features of a classifier.

FID (Heusel et al. 2017) is the Fréchet distance between Gaussians fitted to two
sets of features; KID (Bińkowski et al. 2018) the unbiased MMD² with the cubic
polynomial kernel, averaged over subsets. Both are defined on Inception-v3's pool
features, whose weights cannot be downloaded on these machines: by default the
features are the penultimate layer of the zoo classifier trained on the same data
set (``lenet5:mnist``, ``lenet5:fashion_mnist``). Figures with different feature
extractors are not comparable with each other or with published FIDs; the
real-vs-real distance between held-out sets is the floor to read them against.
``features="inception:PATH"`` uses Keras' InceptionV3 with local weights instead.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

#: Data set -> the zoo classifier preset whose features measure it.
FEATURE_PRESETS = {"mnist": ("lenet5", "mnist"), "fashion_mnist": ("lenet5", "fashion_mnist")}


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||² + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of two feature sets (n, d).

    Example:
        >>> x = np.random.default_rng(0).normal(size=(500, 4))
        >>> round(frechet_distance(x, x), 6)
        0.0
    """
    from scipy import linalg

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # a singular product (e.g. collapsed samples) is handled below
        warnings.simplefilter("ignore")
        root, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    if not np.isfinite(root).all():  # a singular product: regularise as the reference implementation does
        offset = np.eye(len(cov_a)) * 1e-6
        root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    root = root.real
    distance = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root))
    return max(0.0, distance)  # a distance: rounding leaves -0.0 or -1e-15 for equal sets on some CPUs


def kernel_distance(
    a: np.ndarray, b: np.ndarray, *, subsets: int = 10, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: mean and standard deviation over subsets of the unbiased MMD² with k(x, y) = (x.y / d + 1)^3."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rng = np.random.default_rng(seed)
    m = min(subset_size, len(a), len(b))
    d = a.shape[1]
    values = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        values.append(
            (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2.0 * kxy.mean()
        )
    return float(np.mean(values)), float(np.std(values))


class FeatureExtractor:
    """Penultimate-layer features of a zoo classifier (the input of its ``predictions`` layer), or Inception's pool.

    Args:
        spec: ``"auto"`` (the preset of :data:`FEATURE_PRESETS` for ``dataset``), ``"MODEL:TAG"`` (any
            classifier preset or, with a path after the colon, run directory / weights file), or
            ``"inception:PATH"`` (InceptionV3 with the ImageNet weights file at PATH, no top).
        dataset: the data set the images come from.
    """

    def __init__(self, spec: str, dataset: str):
        import keras

        import zoo

        self.spec = spec
        if spec == "auto":
            if dataset not in FEATURE_PRESETS:
                raise ValueError(
                    f"No zoo classifier preset measures {dataset} samples; pass features='MODEL:TAG' "
                    f"(a classifier trained on {dataset}) or 'inception:PATH' (InceptionV3 weights). "
                    f"Known: {', '.join(sorted(FEATURE_PRESETS))}."
                )
            spec = ":".join(FEATURE_PRESETS[dataset])
        kind, _, where = spec.partition(":")
        if kind == "inception":
            if not where or not Path(where).expanduser().is_file():
                raise ValueError(
                    f"features='inception:PATH' needs the InceptionV3 weights file (no top) at PATH. Received: {spec!r}"
                )
            base = keras.applications.InceptionV3(
                include_top=False, pooling="avg", weights=str(Path(where).expanduser())
            )
            self.model, self.size, self.inception = base, (299, 299), True
            self.description = f"InceptionV3 pool features ({where})"
            return
        from zoo.weights import create_trained

        classifier, _ = create_trained(kind, where) if where else (zoo.create(kind), None)
        self.model = keras.Model(classifier.inputs, classifier.get_layer("predictions").input)
        self.size, self.inception = tuple(classifier.input_shape[1:3]), False
        self.description = f"{kind}:{where} penultimate features ({self.model.output_shape[-1]} dimensions)"

    def __call__(self, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Features of images in [0, 1], (n, H, W, C)."""
        from keras import ops

        out = []
        for start in range(0, len(images), batch_size):
            batch = ops.convert_to_tensor(np.asarray(images[start : start + batch_size], np.float32))
            if self.inception:
                batch = ops.image.resize(batch if batch.shape[-1] == 3 else ops.repeat(batch, 3, axis=-1), self.size)
                batch = batch * 2.0 - 1.0
            out.append(np.asarray(self.model(batch, training=False)))
        return np.concatenate(out)
