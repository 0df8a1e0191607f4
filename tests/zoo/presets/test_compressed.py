"""The compressed weight format of quantised models (model.weights.kzq) on real MNIST digits."""

from __future__ import annotations

import hashlib
import json
import logging
import struct

import keras
import numpy as np
import pytest

import zoo
from zoo import presets
from zoo.presets import compressed
from zoo.presets.compressed import CompressedWeightsError


@pytest.fixture
def kzoo_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KZOO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _quantise(model, tensors: tuple[str, ...], values: int = 15, pruned: float = 0.6) -> np.ndarray:
    """Sets the named kernels to a shared codebook (the smallest ``pruned`` fraction exactly 0), as zoo compress
    leaves them; returns the codebook."""
    variables = [v for v in model.weights if v.path in tensors]
    weights = np.concatenate([np.asarray(v).ravel() for v in variables])
    threshold = np.quantile(np.abs(weights), pruned)
    kept = weights[np.abs(weights) > threshold]
    codebook = np.unique(np.quantile(kept, np.linspace(0, 1, values)).astype(np.float32))
    for variable in variables:
        array = np.asarray(variable)
        nearest = codebook[np.argmin(np.abs(array[..., None] - codebook), axis=-1)]
        variable.assign(np.where(np.abs(array) > threshold, nearest, 0).astype(np.float32))
    return codebook


def _digits(mnist_test, n=256):
    _, split = mnist_test
    return split.images[:n].astype("float32") / 255.0, split.labels[:n]


@pytest.fixture(scope="module")
def quantised_lenet(mnist_test):
    """lenet_300_100 with its trained MNIST weights, every tensor quantised to 15 shared values."""
    model = zoo.create("lenet_300_100", weights="mnist")
    codebook = _quantise(model, tuple(v.path for v in model.weights))
    return model, codebook


def test_a_quantised_model_round_trips_with_identical_logits(quantised_lenet, mnist_test, tmp_path):
    model, codebook = quantised_lenet
    images, labels = _digits(mnist_test)
    before = np.asarray(model(images, training=False))
    path = compressed.save(model, tmp_path / "model.weights.kzq", codebook)
    loaded = zoo.create("lenet_300_100")
    compressed.load(loaded, path)
    after = np.asarray(loaded(images, training=False))
    assert after.tobytes() == before.tobytes()  # bit for bit
    assert np.mean(np.argmax(after, -1) == labels) > 0.9  # still a digit classifier (chance: 0.1)
    model.save_weights(tmp_path / "model.weights.h5")
    assert path.stat().st_size * 10 < (tmp_path / "model.weights.h5").stat().st_size
    info = compressed.describe(path.read_bytes())
    assert info["version"] == compressed.VERSION and info["codebook"] == len(codebook)
    assert [t["encoding"] for t in info["tensors"]] == ["codes"] * 6


def _mixed_model():
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(10, name="dense")(x)
    return keras.Model(inputs, outputs, name="mixed")


def test_dense_conv_and_batchnorm_layers_round_trip(mnist_test, tmp_path):
    """Kernels are coded; BatchNorm's statistics and the unquantised biases are stored as they are."""
    keras.utils.set_random_seed(0)
    model = _mixed_model()
    images, labels = _digits(mnist_test)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images, labels, epochs=1, batch_size=64, verbose=0)  # real BatchNorm statistics, non-zero biases
    codebook = _quantise(model, ("conv/kernel", "dense/kernel"), values=7, pruned=0.5)
    before = np.asarray(model(images, training=False))
    path = compressed.save(model, tmp_path / "mixed.weights.kzq", codebook)
    encodings = {t["path"]: t["encoding"] for t in compressed.describe(path.read_bytes())["tensors"]}
    assert encodings["conv/kernel"] == encodings["dense/kernel"] == "codes"
    assert encodings["bn/moving_variance"] == encodings["bn/gamma"] == encodings["dense/bias"] == "raw"
    keras.utils.set_random_seed(1)
    fresh = _mixed_model()
    compressed.load(fresh, path)
    assert np.asarray(fresh(images, training=False)).tobytes() == before.tobytes()


def test_both_layouts_read_back_and_the_smaller_is_kept():
    rng = np.random.default_rng(0)
    codebook = np.float32([-0.5, 0.25, 0.75])
    sparse = np.where(rng.random((300, 40)) < 0.02, rng.choice(codebook, (300, 40)), 0).astype(np.float32)
    dense = rng.choice(codebook, (64, 3, 3, 16)).astype(np.float32)
    for array, layout in ((sparse, "sparse"), (dense, "dense")):
        blob = compressed.encode([("w", array), ("b", np.arange(3, dtype=np.float32) + 0.1)], codebook)
        assert compressed.describe(blob)["layout"] == layout
        (_, back), (_, bias) = compressed.decode(blob)
        assert back.tobytes() == array.tobytes() and bias.tolist() == pytest.approx([0.1, 1.1, 2.1])
    odd = [
        ("scalar", np.float32(0.25).reshape(())),
        ("steps", np.array(7, np.int64)),
        ("conv", sparse.reshape(30, 2, 5, 40)),
    ]
    back = compressed.decode(compressed.encode(odd, codebook))
    assert [(a.shape, a.dtype, a.tobytes()) for _, a in back] == [(a.shape, a.dtype, a.tobytes()) for _, a in odd]
    with pytest.raises(ValueError, match="at most 255 distinct finite non-zero values"):
        compressed.encode([("w", sparse)], [0.0, 0.25])


def test_every_flipped_byte_is_refused():
    blob = compressed.encode([("w", np.float32([[0, 0.5], [-1, 0]])), ("b", np.float32([0.1, 0.2]))], [-1.0, 0.5])
    for i in range(len(blob)):
        changed = bytearray(blob)
        changed[i] ^= 0x40
        with pytest.raises(CompressedWeightsError):
            compressed.decode(bytes(changed))


def _rewrite(blob: bytes, *, version: int | None = None, payload_edit=None) -> bytes:
    """``blob`` with another version number or payload, and a valid sha256 (only what was changed is wrong)."""
    _, old_version, codec, _ = struct.unpack_from("<8sHBI", blob)
    body = blob[15:-32]
    if payload_edit is not None:
        name, pack, unpack = compressed.CODECS[codec]
        body = pack(payload_edit(unpack(body)))
    head = struct.pack("<8sHBI", compressed.MAGIC, version or old_version, codec, len(body)) + body
    return head + hashlib.sha256(head).digest()


def test_corrupt_truncated_and_wrong_version_files_are_refused_and_nothing_loads(quantised_lenet, tmp_path):
    model, codebook = quantised_lenet
    good = compressed.save(model, tmp_path / "good.weights.kzq", codebook).read_bytes()
    target = zoo.create("lenet_300_100")
    untouched = [np.asarray(v).copy() for v in target.weights]
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x01

    def too_many_codes(payload: bytes) -> bytes:  # a code past the codebook, behind a valid checksum
        return payload[:-1] + bytes([len(codebook) + 3])

    cases = {
        "corrupt": (bytes(flipped), "corrupt or was modified"),
        "truncated": (good[:-100], "truncated"),
        "version": (_rewrite(good, version=2), "format version 2; this kzoo reads version 1"),
        "not-kzq": (b"\x89HDF\r\n\x1a\n" + good[8:], "not a kzoo compressed weights file"),
        "inconsistent": (_rewrite(good, payload_edit=too_many_codes), "uses code"),
        "empty": (b"", "not a kzoo compressed weights file"),
    }
    for name, (blob, message) in cases.items():
        path = tmp_path / f"{name}.weights.kzq"
        path.write_bytes(blob)
        with pytest.raises(CompressedWeightsError, match=message):
            zoo.create("lenet_300_100", weights=str(path))
        with pytest.raises(ValueError, match=message):
            compressed.load(target, path)
        assert all(np.array_equal(np.asarray(v), u) for v, u in zip(target.weights, untouched)), name
    other = zoo.create("lenet_300_100", num_classes=5)
    with pytest.raises(CompressedWeightsError, match="predictions/kernel has shape"):
        compressed.load(other, tmp_path / "good.weights.kzq")


def test_a_compressed_preset_loads_by_tag_and_is_checksummed(quantised_lenet, kzoo_home, mnist_test, caplog):
    model, codebook = quantised_lenet
    directory = presets.save_preset(
        model,
        kzoo_home / "presets" / "lenet_300_100" / "mnist-kzq",
        name="lenet_300_100",
        dataset="mnist",
        codebook=codebook,
    )
    assert sorted(p.name for p in directory.iterdir()) == [
        "README.md",
        "config.json",
        "metadata.json",
        "model.weights.kzq",
    ]
    images, _ = _digits(mnist_test, 64)
    loaded = zoo.create("lenet_300_100", weights="mnist-kzq")
    assert np.asarray(loaded(images)).tobytes() == np.asarray(model(images)).tobytes()
    weights = directory / "model.weights.kzq"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(ValueError, match="corrupt or was modified"):
        zoo.create("lenet_300_100", weights="mnist-kzq")
    with caplog.at_level(logging.WARNING):  # a codebook the model was not quantised with: stored raw, and said so
        unquantised = zoo.create("lenet_300_100")
        raw = presets.save_preset(
            unquantised,
            kzoo_home / "presets" / "lenet_300_100" / "raw",
            name="lenet_300_100",
            dataset="mnist",
            codebook=[0.123],
        )
    assert "all are stored raw" in caplog.text
    assert (
        np.asarray(zoo.create("lenet_300_100", weights=str(raw))(images)).tobytes()
        == np.asarray(unquantised(images)).tobytes()
    )


@pytest.mark.parametrize("name, goal", [("lenet5_caffe", 50), ("lenet_300_100", 30)])
def test_the_shipped_soft_weight_sharing_presets_are_small_on_disk(name, goal):
    """The whole mnist-sws preset (every file) is at most 1/goal of the uncompressed mnist preset."""
    directory = presets.find(name, "mnist-sws")
    assert presets.weights_file(directory).name == "model.weights.kzq"
    sizes = compressed.preset_sizes(directory)
    assert sizes["preset_bytes"] * goal <= compressed.preset_sizes(presets.find(name, "mnist"))["preset_bytes"]
    assert sizes["preset_bytes"] <= 1.5 * sizes["estimate_bytes"]  # the sparse + Huffman accounting
    row = next(r for r in presets.list_presets(name) if r["tag"] == "mnist-sws")
    assert row["size"] == sizes["preset_bytes"]
    assert json.loads((directory / "metadata.json").read_text())["files"].keys() >= {"model.weights.kzq"}


def test_a_compressed_preset_downloads_from_a_url_and_loads_exactly(kzoo_home, monkeypatch, mirror_server, mnist_test):
    """The shipped lenet5_caffe:mnist-sws served over HTTP (127.0.0.1): fetched, verified, the same logits."""
    from zoo.presets import catalog

    monkeypatch.setenv("KZOO_OFFLINE", "0")
    catalog.publish(presets.find("lenet5_caffe", "mnist-sws"), mirror_server.root)
    fetched = zoo.create("lenet5_caffe", weights=f"{mirror_server.url}/lenet5_caffe/mnist-sws/")
    assert ("/lenet5_caffe/mnist-sws/model.weights.kzq", None) in mirror_server.requests
    images, _ = _digits(mnist_test, 128)
    packaged = zoo.create("lenet5_caffe", weights="mnist-sws")
    assert np.asarray(fetched(images)).tobytes() == np.asarray(packaged(images)).tobytes()
