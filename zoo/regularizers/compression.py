"""Compression with a trained soft weight-sharing prior (Ullrich, Meeds & Welling 2017, section 4).

After retraining under the prior, components that became the same are merged
(:func:`merge_components`), every weight is set to the mean of its most
responsible component (:func:`quantize`, the zero component exactly 0), and
the result is sized in Han et al.'s sparse format (:func:`sparse_size`).
Everything here is NumPy on the prior's current values.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections import Counter
from typing import Any

import numpy as np

VALUE_BITS_FLOAT = 32
# Han et al. (2016), section 2: relative indices take 8 bits in conv layers, 5 in fully connected ones.
INDEX_BITS = {"conv": 8, "dense": 5}


@dataclasses.dataclass
class Mixture:
    """A Gaussian mixture as NumPy arrays; ``zero`` is the index of the component fixed at 0 (or None)."""

    means: np.ndarray
    variances: np.ndarray
    mixing: np.ndarray
    zero: int | None

    @classmethod
    def from_prior(cls, prior) -> "Mixture":
        """Reads a :class:`~zoo.regularizers.SoftWeightSharing` layer's current mixture."""
        from keras import ops

        means = ops.convert_to_numpy(prior.all_means()).astype(np.float64)
        variances = np.exp(ops.convert_to_numpy(prior.log_var).astype(np.float64))
        mixing = np.exp(ops.convert_to_numpy(prior.log_mixing()).astype(np.float64))
        return cls(means, variances, mixing, 0 if prior.zero_component else None)

    def __len__(self) -> int:
        return len(self.means)

    def log_joint(self, weights: np.ndarray) -> np.ndarray:
        """(N, J) log pi_j + log N(w_i | mu_j, sigma_j^2)."""
        w = np.asarray(weights, np.float64).reshape(-1, 1)
        return np.log(self.mixing) - 0.5 * (np.log(2 * np.pi * self.variances) + (w - self.means) ** 2 / self.variances)

    def assign(self, weights: np.ndarray) -> np.ndarray:
        """Index of the most responsible component for each weight (flat)."""
        return np.argmax(self.log_joint(weights), axis=1)

    def as_dict(self) -> dict:
        return {
            "means": self.means.tolist(),
            "stds": np.sqrt(self.variances).tolist(),
            "mixing": self.mixing.tolist(),
            "zero": self.zero,
        }


def gaussian_kl(mean_p, var_p, mean_q, var_q) -> float:
    """KL(N(mean_p, var_p) || N(mean_q, var_q))."""
    return 0.5 * (math.log(var_q / var_p) + (var_p + (mean_p - mean_q) ** 2) / var_q - 1.0)


def merge_components(mixture: Mixture, kl_threshold: float) -> Mixture:
    """Merges pairs of components whose symmetric KL divergence is below ``kl_threshold``, closest first.

    A merged pair keeps ``pi = pi_a + pi_b`` and the pi-weighted mean and
    variance; a pair that includes the zero component keeps mean exactly 0.
    """
    if kl_threshold < 0:
        raise ValueError(f"kl_threshold must be >= 0. Received: {kl_threshold}")
    means, variances, mixing = list(mixture.means), list(mixture.variances), list(mixture.mixing)
    zero = mixture.zero
    while len(means) > 1:
        best = None
        for a in range(len(means)):
            for b in range(a + 1, len(means)):
                kl = gaussian_kl(means[a], variances[a], means[b], variances[b]) + gaussian_kl(
                    means[b], variances[b], means[a], variances[a]
                )
                if kl < kl_threshold and (best is None or kl < best[0]):
                    best = (kl, a, b)
        if best is None:
            break
        _, a, b = best
        total = mixing[a] + mixing[b]
        mean = 0.0 if zero in (a, b) else (mixing[a] * means[a] + mixing[b] * means[b]) / total
        variance = (mixing[a] * variances[a] + mixing[b] * variances[b]) / total
        means[a], variances[a], mixing[a] = mean, variance, total
        del means[b], variances[b], mixing[b]
        if zero == b:
            zero = a
        elif zero is not None and zero > b:
            zero -= 1
    return Mixture(np.array(means), np.array(variances), np.array(mixing), zero)


def quantize(weights: np.ndarray, mixture: Mixture) -> tuple[np.ndarray, np.ndarray]:
    """Sets each weight to its most responsible component's mean (the zero component's exactly 0).

    Returns:
        ``(quantised weights with the input's shape and dtype, component index per weight)``.
    """
    weights = np.asarray(weights)
    index = mixture.assign(weights.ravel())
    means = mixture.means.copy()
    if mixture.zero is not None:
        means[mixture.zero] = 0.0
    return means[index].reshape(weights.shape).astype(weights.dtype), index.reshape(weights.shape)


def _huffman_lengths(counts: Counter) -> dict:
    """Code length in bits of each symbol in an optimal prefix (Huffman) code."""
    if len(counts) == 1:
        return {symbol: 1 for symbol in counts}
    heap = [(count, i, (symbol,)) for i, (symbol, count) in enumerate(counts.items())]
    heapq.heapify(heap)
    lengths = dict.fromkeys(counts, 0)
    tie = len(heap)
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        for symbol in s1 + s2:
            lengths[symbol] += 1
        heapq.heappush(heap, (c1 + c2, tie, s1 + s2))
        tie += 1
    return lengths


def _stream_bits(symbols: list, fixed_bits: int, huffman: bool) -> int:
    if not symbols:
        return 0
    if not huffman:
        return len(symbols) * fixed_bits
    counts = Counter(symbols)
    lengths = _huffman_lengths(counts)
    table = len(counts) * (fixed_bits + 8)  # the code table: each symbol and its code length
    return sum(counts[s] * lengths[s] for s in counts) + table


def sparse_layer_bits(codes: np.ndarray, kind: str, value_bits: int, *, huffman: bool = False) -> dict:
    """Bits to store one quantised tensor in Han et al.'s sparse format.

    ``codes`` holds each weight's codebook index, 0 meaning a pruned weight.
    The tensor is stored row by row (one row per output unit: the last axis),
    each non-zero as (relative index, codebook index); a gap longer than the
    relative index can express inserts a filler zero entry (Han et al. 2016,
    figure 3). Row pointers take ``ceil(log2(entries + 1))`` bits each.
    """
    index_bits = INDEX_BITS[kind]
    rows = np.moveaxis(codes, -1, 0).reshape(codes.shape[-1], -1) if codes.ndim > 1 else codes.reshape(1, -1)
    max_gap = 2**index_bits - 1
    gaps, values = [], []
    for row in rows:
        previous = -1
        for position in np.flatnonzero(row):
            gap = position - previous - 1
            while gap > max_gap:  # filler zero: jump max_gap + 1 places storing a zero value
                gaps.append(max_gap)
                values.append(0)
                gap -= max_gap + 1
            gaps.append(gap)
            values.append(int(row[position]))
            previous = position
    entries = len(values)
    pointer_bits = (rows.shape[0] + 1) * max(1, math.ceil(math.log2(entries + 1)))
    return {
        "weights": int(codes.size),
        "nonzero": int(np.count_nonzero(codes)),
        "entries": entries,
        "index_bits": _stream_bits(gaps, index_bits, huffman),
        "value_bits": _stream_bits(values, value_bits, huffman),
        "pointer_bits": pointer_bits,
    }


def sparse_size(layers: list[tuple[str, str, np.ndarray]], codebook_size: int, *, huffman: bool = False) -> dict:
    """Compression of quantised tensors in Han et al.'s sparse format, as Ullrich et al. report it.

    Args:
        layers: ``(name, kind, codes)`` per tensor; ``kind`` is ``conv`` or
            ``dense`` (biases count as ``dense``); ``codes`` as in :func:`sparse_layer_bits`.
        codebook_size: number of distinct non-zero values (stored once, 32 bits each).
        huffman: Huffman-code the index and value streams (Deep Compression's last stage).

    Returns:
        ``{"ratio", "bits", "original_bits", "layers": {name: {...}}}``.
    """
    value_bits = max(1, math.ceil(math.log2(codebook_size + 1)))  # +1: the code 0 marks fillers
    per_layer, total = {}, codebook_size * VALUE_BITS_FLOAT
    original = 0
    for name, kind, codes in layers:
        stats = sparse_layer_bits(codes, kind, value_bits, huffman=huffman)
        stats["bits"] = stats["index_bits"] + stats["value_bits"] + stats["pointer_bits"]
        per_layer[name] = stats
        total += stats["bits"]
        original += stats["weights"] * VALUE_BITS_FLOAT
    return {"ratio": original / total, "bits": total, "original_bits": original, "layers": per_layer}


def dense_bits_per_weight(codebook_size: int) -> float:
    """Bits per weight when every weight stores a fixed-length code (zero included) and nothing is sparse."""
    return float(max(1, math.ceil(math.log2(codebook_size + 1))))


@dataclasses.dataclass
class QuantizedModel:
    """What :func:`quantize_model` did: the merged mixture, the codebook and each tensor's codes."""

    mixture: Mixture
    codebook: np.ndarray  # the distinct non-zero values, ascending; code k > 0 means codebook[k - 1]
    codes: dict[str, np.ndarray]  # variable path -> code per weight (0 = pruned)
    kinds: dict[str, str]  # variable path -> "conv" or "dense"

    def project(self, variables: dict[str, Any]) -> None:
        """Moves each code's value to the mean of the weights carrying it, across all tensors, and
        sets every weight to its code's value (pruned ones stay exactly 0); updates ``codebook``.

        Called after each optimizer step, this is Han et al.'s (2016) trained quantisation: each
        shared value moves by the average update of its weights, and the codes never change.
        """
        values = {path: np.asarray(variables[path]) for path in self.codes}
        sums = np.zeros(len(self.codebook) + 1)
        counts = np.zeros(len(self.codebook) + 1)
        for path, codes in self.codes.items():
            sums += np.bincount(codes.ravel(), weights=values[path].ravel(), minlength=len(sums))
            counts += np.bincount(codes.ravel(), minlength=len(counts))
        used = counts[1:] > 0
        self.codebook[used] = (sums[1:][used] / counts[1:][used]).astype(self.codebook.dtype)
        table = np.concatenate([[0.0], self.codebook]).astype(np.float32)
        for path, codes in self.codes.items():
            variables[path].assign(table[codes])

    def nonzero_fraction(self) -> dict[str, float]:
        return {path: float(np.count_nonzero(c)) / c.size for path, c in self.codes.items()}

    def size(self, *, huffman: bool = False) -> dict:
        """:func:`sparse_size` of the quantised tensors."""
        return sparse_size([(p, self.kinds[p], c) for p, c in self.codes.items()], len(self.codebook), huffman=huffman)


def quantize_model(sws_model, kl_threshold: float = 1e-2) -> QuantizedModel:
    """Quantises a retrained :class:`~zoo.regularizers.SoftWeightSharingModel` in place.

    Merges components (:func:`merge_components`), then sets every shared
    weight to its component's mean; the wrapped model keeps working as a plain
    model whose kernels hold only those values.
    """
    mixture = merge_components(Mixture.from_prior(sws_model.prior), kl_threshold)
    assigned = {}
    for layer, variable in sws_model.shared_variables():
        values, index = quantize(np.asarray(variable), mixture)
        variable.assign(values)
        assigned[variable.path] = (layer, values, index)
    used = sorted({int(i) for _, _, index in assigned.values() for i in np.unique(index)} - {mixture.zero})
    used.sort(key=lambda j: mixture.means[j])
    code_of = np.zeros(len(mixture), np.int64)
    code_of[used] = np.arange(1, len(used) + 1)
    codes = {path: code_of[index] for path, (_, _, index) in assigned.items()}
    kinds = {path: "conv" if len(layer.kernel.shape) > 2 else "dense" for path, (layer, _, _) in assigned.items()}
    return QuantizedModel(mixture, mixture.means[used].astype(np.float32), codes, kinds)
