"""Graph convolutional networks for node classification (Kipf & Welling, ICLR 2017), on Spektral.

The model works in Spektral's single mode: the nodes are the batch. Inputs are the
node features (nodes, features) and the normalised adjacency Â (nodes, nodes) of
``spektral.utils.gcn_filter``; outputs are per-node class logits. This family is
TensorFlow-only (Spektral's ops), unlike the backend-agnostic ones; Spektral is imported
only when a GCN is built, so ``import zoo`` stays TensorFlow-free under other backends.
"""

from __future__ import annotations

import keras

from zoo.models.base import ZooModel, check_positive_ints, check_rate
from zoo.registry import register_model


@keras.saving.register_keras_serializable(package="kzoo")
class GCN(ZooModel):
    """Dropout, graph convolutions with ReLU, dropout, and a graph convolution to class logits.

    Args:
        num_features: int. Features per node. Defaults to 1433 (Cora).
        num_classes: int. Defaults to 7 (Cora).
        hidden_units: list of int. Width of each hidden graph convolution. Defaults to [16].
        dropout: float. Dropout on the inputs of every convolution. Defaults to 0.5.
        l2: float. Kipf & Welling's weight decay on the first layer's kernel:
            ``l2 * sum(w^2) / 2`` is added to the loss. Defaults to 5e-4.

    Example:
        >>> GCN(num_features=5, num_classes=3).output_shape
        (None, 3)
    """

    def __init__(
        self,
        num_features: int = 1433,
        num_classes: int = 7,
        hidden_units=(16,),
        dropout: float = 0.5,
        l2: float = 5e-4,
        **kwargs,
    ):
        hidden_units = list(hidden_units)
        check_positive_ints("GCN", num_features=num_features, num_classes=num_classes, hidden_units=hidden_units)
        check_rate("GCN", dropout=dropout)
        if not isinstance(l2, (int, float)) or l2 < 0:
            raise ValueError(f"GCN: `l2` must be >= 0. Received: l2={l2!r}")

        from zoo.layers.graph import GCNConv  # Spektral imports TensorFlow: only when a GCN is built

        # === Functional Model ===
        features = keras.Input(shape=(num_features,), name="features")
        adjacency = keras.Input(shape=(None,), name="adjacency")
        x = features
        for i, units in enumerate([*hidden_units, num_classes], start=1):
            last = i == len(hidden_units) + 1
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
            x = GCNConv(
                units,
                activation=None if last else "relu",
                kernel_regularizer=keras.regularizers.L2(l2 / 2) if i == 1 and l2 else None,
                name="predictions" if last else f"gcn{i}",
            )([x, adjacency])

        # === Config ===
        super().__init__(
            [features, adjacency],
            x,
            config={
                "num_features": num_features,
                "num_classes": num_classes,
                "hidden_units": hidden_units,
                "dropout": dropout,
                "l2": l2,
            },
            **kwargs,
        )


@register_model("gcn", task="node_classification", dataset="cora")
def gcn(**overrides):
    """Kipf & Welling's two-layer GCN: 16 hidden units, dropout 0.5, L2 5e-4 on the first layer."""
    return GCN(**{"name": "gcn", **overrides})
