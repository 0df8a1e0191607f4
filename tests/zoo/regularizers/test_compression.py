"""Merging, quantisation and Han et al.'s sparse-format accounting."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

import zoo
from zoo.regularizers import Mixture, apply_soft_weight_sharing, merge_components, quantize, quantize_model, sparse_size
from zoo.regularizers.compression import _huffman_lengths, gaussian_kl, sparse_layer_bits


def _mixture(means, stds, mixing, zero=0):
    return Mixture(np.array(means, float), np.square(np.array(stds, float)), np.array(mixing, float), zero)


def test_gaussian_kl_matches_the_closed_form_and_vanishes_for_equal_gaussians():
    assert gaussian_kl(0.3, 0.01, 0.3, 0.01) == 0.0
    assert gaussian_kl(0.0, 1.0, 1.0, 1.0) == pytest.approx(0.5)
    assert gaussian_kl(0.0, 1.0, 0.0, 4.0) == pytest.approx(0.5 * (math.log(4) + 0.25 - 1))


def test_merge_joins_components_that_became_the_same_and_keeps_zero_at_zero():
    mixture = _mixture([0.0, 0.001, 0.2, 0.2001, -0.3], [0.02, 0.02, 0.02, 0.02, 0.02], [0.9, 0.02, 0.03, 0.01, 0.04])
    merged = merge_components(mixture, kl_threshold=0.01)
    assert len(merged) == 3
    assert merged.zero == 0 and merged.means[0] == 0.0 and merged.mixing[0] == pytest.approx(0.92)
    pair = np.argmin(np.abs(merged.means - 0.2))
    assert merged.means[pair] == pytest.approx((0.03 * 0.2 + 0.01 * 0.2001) / 0.04)
    assert merged.mixing.sum() == pytest.approx(1.0)
    assert len(merge_components(mixture, kl_threshold=0.0)) == 5  # nothing merges at 0
    with pytest.raises(ValueError):
        merge_components(mixture, -1.0)


def test_merge_renumbers_the_zero_component_when_it_absorbs_an_earlier_one():
    mixture = _mixture([0.0001, 0.5, 0.0], [0.02, 0.02, 0.02], [0.05, 0.05, 0.9], zero=2)
    merged = merge_components(mixture, kl_threshold=0.01)
    assert merged.zero == 0 and merged.means[merged.zero] == 0.0 and len(merged) == 2


def test_quantize_leaves_exactly_the_component_means():
    mixture = _mixture([0.0, -0.25, 0.125, 0.3], [0.03, 0.05, 0.05, 0.05], [0.7, 0.1, 0.1, 0.1])
    weights = np.random.default_rng(0).normal(0, 0.2, size=(50, 40)).astype("float32")
    quantised, index = quantize(weights, mixture)
    assert quantised.shape == weights.shape and quantised.dtype == np.float32
    assert set(np.unique(quantised)) <= {np.float32(m) for m in mixture.means}
    assert np.all(quantised[index == 0] == 0.0)
    # each weight went to its most responsible component
    joint = mixture.log_joint(weights.ravel())
    np.testing.assert_array_equal(index.ravel(), joint.argmax(axis=1))


def test_huffman_code_lengths_are_optimal_for_a_dyadic_source():
    counts = Counter({"a": 8, "b": 4, "c": 2, "d": 1, "e": 1})
    assert _huffman_lengths(counts) == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 4}
    assert _huffman_lengths(Counter({"x": 5})) == {"x": 1}


def test_sparse_format_counts_relative_indices_fillers_codes_and_pointers():
    codes = np.zeros((100, 1), np.int64)  # one output unit: a single row of 100 inputs
    codes[3, 0], codes[70, 0] = 2, 1
    stats = sparse_layer_bits(codes, "dense", value_bits=3)
    # gap 3, then a gap of 66 > 31: fillers jump 32 places twice, leaving gap 2
    assert stats["entries"] == 4 and stats["nonzero"] == 2
    assert stats["index_bits"] == 4 * 5 and stats["value_bits"] == 4 * 3
    assert stats["pointer_bits"] == 2 * math.ceil(math.log2(5))
    conv = sparse_layer_bits(codes.reshape(10, 10, 1, 1), "conv", value_bits=3)
    assert conv["entries"] == 2 and conv["index_bits"] == 2 * 8  # 8-bit indices need no filler


def test_sparse_size_ratio_and_its_bounds():
    rng = np.random.default_rng(0)
    dense = rng.integers(1, 16, size=(200, 50))
    sparse = np.where(rng.random((200, 50)) < 0.02, dense, 0)
    all_dense = sparse_size([("w", "dense", dense)], codebook_size=15)
    mostly_zero = sparse_size([("w", "dense", sparse)], codebook_size=15)
    assert all_dense["original_bits"] == 200 * 50 * 32
    assert 32 / 10 < all_dense["ratio"] < 32 / 9  # (5 index + 4 code) bits per weight plus overheads
    assert mostly_zero["ratio"] > 8 * all_dense["ratio"]
    big = np.where(rng.random((2000, 50)) < 0.02, rng.integers(1, 16, size=(2000, 50)), 0)
    assert (
        sparse_size([("w", "dense", big)], 15, huffman=True)["ratio"] > sparse_size([("w", "dense", big)], 15)["ratio"]
    )


def test_quantize_model_writes_codebook_values_into_the_kernels():
    model = zoo.create("lenet_300_100")
    wrapped = apply_soft_weight_sharing(model, components=6, init_std=0.02)
    result = quantize_model(wrapped, kl_threshold=1e-3)
    allowed = set(result.codebook.tolist()) | {0.0}
    for layer in ("dense1", "dense2", "predictions"):
        for variable in (model.get_layer(layer).kernel, model.get_layer(layer).bias):
            values = np.array(variable)
            assert set(np.unique(values).tolist()) <= allowed
            codes = result.codes[variable.path]
            np.testing.assert_array_equal(values == 0.0, codes == 0)
            np.testing.assert_array_equal(values[codes > 0], result.codebook[codes[codes > 0] - 1])
    assert list(result.codebook) == sorted(result.codebook) and len(result.codebook) <= 5
    assert result.size()["ratio"] > 1.0


def test_project_moves_each_shared_value_to_its_weights_mean_and_keeps_the_codes():
    model = zoo.create("lenet_300_100")
    wrapped = apply_soft_weight_sharing(model, components=6, init_std=0.02)
    result = quantize_model(wrapped, kl_threshold=1e-3)
    variables = {v.path: v for _, v in wrapped.shared_variables()}
    codes = {p: c.copy() for p, c in result.codes.items()}
    rng = np.random.default_rng(0)
    nudged = {p: np.array(v) + rng.normal(0.0, 1e-3, v.shape).astype("float32") for p, v in variables.items()}
    for path, values in nudged.items():
        variables[path].assign(values)
    result.project(variables)
    all_codes = np.concatenate([codes[p].ravel() for p in variables])
    all_nudged = np.concatenate([nudged[p].ravel() for p in variables])
    for k in range(1, len(result.codebook) + 1):
        assert result.codebook[k - 1] == pytest.approx(all_nudged[all_codes == k].mean(), abs=1e-6)
    for path, variable in variables.items():
        np.testing.assert_array_equal(result.codes[path], codes[path])
        values = np.array(variable)
        np.testing.assert_array_equal(values[codes[path] == 0], 0.0)  # pruned weights stay pruned
        np.testing.assert_allclose(values[codes[path] > 0], result.codebook[codes[path][codes[path] > 0] - 1])
