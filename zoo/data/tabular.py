"""Tabular regression data sets: feature vectors and real-valued targets, held in memory.

``diabetes`` (Efron et al. 2004: 442 patients, 10 baseline variables, disease
progression after one year) ships inside scikit-learn, so it loads offline. The
split is a fixed random 80/20 (seed 0); the features are raw (models standardise
them with the training statistics).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from zoo.naming import unknown_name

TEST_FRACTION = 0.2


@dataclasses.dataclass(frozen=True)
class TabularSplit:
    """One split: float32 features (N, D), float32 targets (N, K), names and where it came from."""

    features: np.ndarray
    targets: np.ndarray
    feature_names: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return len(self.targets)

    def model_overrides(self) -> dict:
        """Constructor arguments fitting :class:`zoo.models.LinearRegression` to these features."""
        return {
            "num_features": self.features.shape[1],
            "num_outputs": self.targets.shape[1],
            "input_mean": [float(m) for m in self.features.mean(0)],
            "input_std": [float(s) for s in self.features.std(0) + 1e-6],
            "output_mean": float(self.targets.mean()),
            "output_std": float(self.targets.std() + 1e-6),
        }


def _diabetes():
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    return bunch.data, bunch.target, tuple(bunch.feature_names), "scikit-learn's bundled copy of the diabetes data"


_TABULAR = {"diabetes": _diabetes}


def list_tabular() -> list[str]:
    """Names accepted by :func:`load_tabular`."""
    return sorted(_TABULAR)


def load_tabular(name: str, split: str) -> TabularSplit:
    """Loads the ``train`` or ``test`` split of a tabular data set.

    Raises:
        ValueError: unknown name or split.

    Example:
        >>> train = load_tabular("diabetes", "train")
        >>> train.features.shape, train.targets.shape
        ((354, 10), (354, 1))
    """
    if name not in _TABULAR:
        raise unknown_name("tabular data set", name, list(_TABULAR))
    if split not in ("train", "test"):
        raise ValueError(f"Unknown split {split!r}; expected 'train' or 'test'.")
    features, targets, names, source = _TABULAR[name]()
    order = np.random.default_rng(0).permutation(len(targets))
    n_test = int(round(len(targets) * TEST_FRACTION))
    chosen = order[n_test:] if split == "train" else order[:n_test]
    return TabularSplit(
        features[chosen].astype(np.float32), targets[chosen].reshape(len(chosen), -1).astype(np.float32), names, source
    )
