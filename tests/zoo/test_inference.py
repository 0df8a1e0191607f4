"""Local inference (issue 21): zoo.predict and `zoo predict NAME --weights TAG`, no server."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.cli import main
from zoo.inference import fit_to_input


@pytest.fixture(scope="module")
def lenet5_mnist():
    return zoo.create("lenet5", weights="mnist")


@pytest.fixture()
def digit_files(tmp_path, mnist_test):
    """The first five MNIST test digits as grey PNGs, with their labels."""
    _, test = mnist_test
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"digit{i}.png")
        Image.fromarray(test.images[i, :, :, 0]).save(paths[-1])
    return paths, test.labels[:5]


def test_predict_files_arrays_and_pil_images_alike(lenet5_mnist, digit_files, mnist_test):
    paths, labels = digit_files
    from_files = zoo.predict(lenet5_mnist, paths, top_k_classes=3)
    assert [r["top_k"][0]["label"] for r in from_files] == [str(d) for d in labels]
    assert all(len(r["top_k"]) == 3 and r["top_k"][0]["score"] > 0.5 for r in from_files)
    _, test = mnist_test
    batch = zoo.predict(lenet5_mnist, test.images[:5])  # one uint8 batch (N, 28, 28, 1)
    pil = zoo.predict(lenet5_mnist, [Image.open(p) for p in paths])
    floats = zoo.predict(lenet5_mnist, [test.images[i, :, :, 0] / 255.0 for i in range(5)])  # (28, 28) in [0, 1]
    for other in (batch, pil, floats):
        assert [r["top_k"][0]["class"] for r in other] == labels.tolist()
        np.testing.assert_allclose(
            [r["top_k"][0]["score"] for r in other], [r["top_k"][0]["score"] for r in from_files], atol=1e-5
        )


def test_predict_by_name_labels_classes_with_the_data_sets_names(digit_files):
    from zoo import data

    paths, _ = digit_files
    [result] = zoo.predict("lenet5", paths[0], weights="fashion_mnist", top_k_classes=10)
    names = data.get_spec("fashion_mnist").class_names
    assert {r["label"] for r in result["top_k"]} == set(names) and "sneaker" in names
    assert all(names[r["class"]] == r["label"] for r in result["top_k"])


def test_a_colour_photo_to_a_grey_model_is_refused_unless_converted(lenet5_mnist, cifar10_test, tmp_path, caplog):
    _, test = cifar10_test
    photo = tmp_path / "cat.png"
    Image.fromarray(test.images[0]).save(photo)
    with pytest.raises(ValueError, match=r"cat.png is an RGB image but the model takes grey images \(28x28x1\)"):
        zoo.predict(lenet5_mnist, photo)
    with caplog.at_level(logging.WARNING, logger="zoo.inference"):
        [result] = zoo.predict(lenet5_mnist, photo, convert=True)
    assert "RGB image converted to grey" in caplog.text and "resized from 32x32 to the model's 28x28" in caplog.text
    assert len(result["top_k"]) == 5


def test_fit_to_input_converts_only_when_asked():
    grey = (np.arange(16 * 16) % 256).astype(np.uint8).reshape(16, 16)
    rgb = fit_to_input(grey, (16, 16, 3), convert=True)
    assert rgb.shape == (16, 16, 3) and np.array_equal(rgb[..., 1], grey)
    with pytest.raises(ValueError, match="grey image but the model takes RGB"):
        fit_to_input(grey, (16, 16, 3))
    with pytest.raises(ValueError, match="expected an image"):
        fit_to_input(np.zeros((4, 4, 7)), (4, 4, 3))


def test_predict_refuses_non_classifiers_and_missing_weights():
    with pytest.raises(ValueError, match="char_gru is a language_model model"):
        zoo.predict("char_gru", np.zeros((4, 4)), weights="shakespeare")
    with pytest.raises(ValueError, match="Give weights= for lenet5"):
        zoo.predict("lenet5", np.zeros((28, 28)))


def test_zoo_predict_locally_without_a_server(digit_files, capsys):
    paths, labels = digit_files
    assert main(["predict", "lenet5", "--weights", "mnist", "--input", *map(str, paths), "--top-k", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["input"] for r in report] == list(map(str, paths))
    assert [r["top_k"][0]["label"] for r in report] == [str(d) for d in labels]
    assert main(["predict", "lenet5", "--weights", "mnist", "--server", "127.0.0.1:1", "--input", str(paths[0])]) == 2
    assert "Use one or the other" in capsys.readouterr().err


def test_zoo_predict_takes_the_files_after_the_name_without_input(digit_files, capsys):
    paths, labels = digit_files
    files = list(map(str, paths))
    # Files before the options, after them, and mixed with --input: all are predicted (--input ones first, then the
    # rest in the order given).
    assert main(["predict", "lenet5", files[0], "--weights", "mnist", *files[1:], "--json"]) == 0
    assert [r["input"] for r in json.loads(capsys.readouterr().out)] == files
    assert main(["predict", "lenet5", "--weights", "mnist", "--input", files[0], "--json", files[1]]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["input"] for r in report] == files[:2]
    assert [r["top_k"][0]["label"] for r in report] == [str(d) for d in labels[:2]]
    # An unknown option is still refused, and the other commands take no stray arguments.
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "lenet5", "--weights", "mnist", files[0], "--no-such-flag"])
    assert exit_info.value.code == 2 and "unrecognized arguments: --no-such-flag" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["info", "lenet5", "extra.png"])
    assert "unrecognized arguments: extra.png" in capsys.readouterr().err
