import gzip
import hashlib

import numpy as np
import pytest
from PIL import Image

from zoo import data
from zoo.data import sources


def test_mnist_offline_is_the_original(mnist_test):
    spec, test = mnist_test
    assert test.images.shape == (10000, 28, 28, 1) and test.images.dtype == np.uint8
    assert test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert "offline" in test.source
    assert spec.num_classes == 10 and spec.input_shape == (28, 28, 1)
    raw = gzip.open(data.data_dir() / "mnist" / "t10k-images-idx3-ubyte.gz").read()
    assert hashlib.md5(raw).hexdigest().startswith("2646ac64")


def test_fashion_mnist_from_an_offline_location():
    _, train = data.load("fashion_mnist", "train")
    assert train.images.shape == (60000, 28, 28, 1)
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert "offline" in train.source


def test_cifar10_jpeg_folders_decode_in_a_mixed_order_and_cache(cifar10_test):
    spec, test = cifar10_test
    assert test.images.shape == (10000, 32, 32, 3)
    assert np.bincount(test.labels).tolist() == [1000] * 10
    assert np.bincount(test.labels[:100], minlength=10).min() >= 3  # the first examples hold every class
    assert spec.class_names[0] == "airplane" and spec.augment == "crop_flip"
    first = np.asarray(Image.open(data.data_dir() / "cifar10" / "test" / "airplane" / "0000.jpg").convert("RGB"))
    found = np.flatnonzero((test.images == first).all(axis=(1, 2, 3)))
    assert len(found) == 1 and test.labels[found[0]] == 0
    _, again = data.load("cifar10", "test")  # served from the decoded cache
    np.testing.assert_array_equal(again.images, test.images)


def test_unknown_dataset_and_split():
    with pytest.raises(ValueError, match="Unknown dataset 'mnsit'.*Did you mean: mnist"):
        data.load("mnsit", "train")
    with pytest.raises(ValueError, match="Unknown split"):
        data.load("mnist", "validation")


def test_missing_offline_data_lists_what_was_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("KZOO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KZOO_OFFLINE", "1")
    with pytest.raises(ValueError, match=r"(?s)No source could load mnist\[test\].*Tried:.*offline copy"):
        data.load("mnist", "test")


def test_read_idx_rejects_garbage(tmp_path):
    bad = tmp_path / "t10k-images-idx3-ubyte"
    bad.write_bytes(b"not an idx file at all")
    with pytest.raises(ValueError, match="not an unsigned-byte IDX"):
        sources.read_idx(bad)
    truncated = tmp_path / "short"
    truncated.write_bytes(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"\x01\x02")
    with pytest.raises(ValueError, match="file holds 2"):
        sources.read_idx(truncated)


def test_user_image_folder(tmp_path):
    src = data.data_dir() / "cifar10" / "test"
    for cls in ("cat", "dog", "ship"):
        (tmp_path / cls).mkdir()
        for i in range(10):
            name = f"{i:04d}.jpg"
            (tmp_path / cls / name).write_bytes((src / cls / name).read_bytes())
    spec, train = data.load(str(tmp_path), "train")
    _, test = data.load(str(tmp_path), "test")
    assert spec.class_names == ("cat", "dog", "ship")
    assert spec.input_shape == (32, 32, 3)
    assert len(train) == 24 and len(test) == 6
    assert 0.2 < spec.mean[0] < 0.7
    assert spec.model_overrides()["num_classes"] == 3
    for split in ("train", "test"):  # a folder with its own train/ and test/ splits
        for cls in ("cat", "dog", "ship"):
            (tmp_path / "split" / split / cls).mkdir(parents=True)
            for i in range(10 if split == "train" else 4):
                name = f"{i:04d}.jpg"
                (tmp_path / "split" / split / cls / name).write_bytes((src / cls / name).read_bytes())
    _, train = data.load(str(tmp_path / "split"), "train")
    _, test = data.load(str(tmp_path / "split"), "test")
    assert len(train) == 30 and len(test) == 12
    assert np.bincount(train.labels).tolist() == [10] * 3 and len(set(train.labels[:6])) > 1  # mixed, not sorted


def test_pipeline_scales_and_augments(cifar10_test):
    from zoo.data.pipeline import make_pipeline, split_validation

    spec, test = cifar10_test
    images, labels = test.images[:64], test.labels[:64]
    plain = next(iter(make_pipeline(spec, images, labels, batch_size=64, training=False)))
    np.testing.assert_allclose(plain[0].numpy(), images / 255.0, atol=1e-6)
    augmented = next(iter(make_pipeline(spec, images, labels, batch_size=64, training=True, seed=1, epochs=1)))
    x = augmented[0].numpy()
    assert x.shape == (64, 32, 32, 3) and x.min() >= 0 and x.max() <= 1
    assert not np.allclose(np.sort(x.ravel()), np.sort(plain[0].numpy().ravel()))  # padding/crops changed pixels
    train, val = split_validation(test, 0.1)
    assert len(train) == 9000 and len(val) == 1000
    with pytest.raises(ValueError, match="batch_size"):
        make_pipeline(spec, images, labels, batch_size=0, training=False)
    with pytest.raises(ValueError, match="augment"):
        make_pipeline(spec, images, labels, batch_size=8, training=True, augment="mixup", epochs=1)


def test_shift_augmentation_translates_digits(mnist_test):
    from zoo.data.pipeline import make_pipeline

    spec, test = mnist_test
    images, labels = test.images[:256], test.labels[:256]
    x = next(
        iter(make_pipeline(spec, images, labels, batch_size=256, training=True, augment="shift", seed=3, epochs=1))
    )[0].numpy()
    plain = next(
        iter(make_pipeline(spec, images, labels, batch_size=256, training=True, augment="none", seed=3, epochs=1))
    )[0].numpy()
    assert spec.augment is None  # MNIST's standard is no augmentation
    # the same digits, moved: MNIST's empty border keeps almost all ink inside a 2-pixel shift
    assert abs(x.sum() - plain.sum()) / plain.sum() < 0.02
    moved = sum(not any(np.allclose(a, b) for b in plain) for a in x)
    assert moved > 200


def _mnist_png_folder(root, mnist_test, mode="L", per_class=6):
    """Real MNIST test digits of classes 0 and 1 written as PNGs (``mode`` L: grey, RGB: colour)."""
    _, test = mnist_test
    for digit in (0, 1):
        (root / str(digit)).mkdir(parents=True)
        for i, index in enumerate(np.flatnonzero(test.labels == digit)[:per_class]):
            Image.fromarray(test.images[index, :, :, 0]).convert(mode).save(root / str(digit) / f"{i}.png")
    return root


def test_grey_image_folder_reads_one_channel(tmp_path, mnist_test, caplog):
    root = _mnist_png_folder(tmp_path / "grey", mnist_test)
    spec, train = data.load(str(root), "train")
    assert spec.input_shape == (28, 28, 1) and train.images.shape[1:] == (28, 28, 1)
    _, test = mnist_test
    assert any(np.array_equal(image, test.images[np.flatnonzero(test.labels == 0)[0]]) for image in train.images)
    spec3, train3 = data.load_folder(str(root), "train", channels=3)  # a colour model's input
    assert spec3.input_shape == (28, 28, 3) and np.array_equal(train3.images[..., 0], train3.images[..., 2])
    assert "read as RGB" in caplog.text


def test_mixed_folder_reads_rgb_and_says_so(tmp_path, mnist_test, caplog):
    root = _mnist_png_folder(tmp_path / "mixed", mnist_test)
    Image.open(root / "0" / "0.png").convert("RGB").save(root / "0" / "0.png")
    spec, _ = data.load(str(root), "train")
    assert spec.input_shape == (28, 28, 3)
    assert "11 of 12 images are grey" in caplog.text
