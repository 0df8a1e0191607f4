"""Spektral's graph convolution, adapted to Keras 3 in this one place.

spektral 1.3.1 (its last release) predates Keras 3: Keras passes ``mask=[None, None]``
to a layer with two inputs, and ``GCNConv.call`` then computes ``output *= mask[0]``
(spektral issues #453, #455, #457); Functional models also need
``compute_output_shape``. :class:`GCNConv` fixes both and changes nothing else.
"""

from __future__ import annotations

import keras
from spektral.layers import GCNConv as SpektralGCNConv


@keras.saving.register_keras_serializable(package="kzoo")
class GCNConv(SpektralGCNConv):
    """Kipf & Welling's graph convolution ``act(Â X W + b)`` (Spektral's), usable in Keras 3 models.

    Call it on ``[x, a]``: node features (nodes, features) and the normalised
    adjacency Â (nodes, nodes), dense or ``tf.SparseTensor``, as produced by
    ``spektral.utils.gcn_filter``.
    """

    def call(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)) and all(m is None for m in mask):
            mask = None
        return super().call(inputs, mask=mask)

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], self.channels)

    def compute_mask(self, inputs, mask=None):
        return None
