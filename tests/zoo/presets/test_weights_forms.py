"""Each form of ``weights=`` in the README's table resolves as documented, through the one resolver
``zoo.presets.locate`` (``hf://`` and timm folders: test_timm.py; ``https://``: the download tests)."""

from __future__ import annotations

import shutil

import pytest

import zoo
from zoo import presets
from zoo.presets import store


@pytest.fixture
def packaged():
    directory = presets.find("lenet5", "mnist")
    assert directory.parent.parent == store.PACKAGED
    return directory


def test_a_tag_is_the_packaged_preset_even_beside_a_folder_of_that_name(tmp_path, monkeypatch, packaged):
    shutil.copytree(packaged, tmp_path / "mnist")
    monkeypatch.chdir(tmp_path)
    assert presets.locate("lenet5", "mnist") == packaged
    assert presets.locate("lenet5", "./mnist").resolve() == (tmp_path / "mnist").resolve()


def test_paths_and_file_urls_name_preset_directories(tmp_path, packaged):
    copy = shutil.copytree(packaged, tmp_path / "copy")
    assert presets.locate("lenet5", str(copy)) == copy
    assert presets.locate("lenet5", copy.as_uri()).resolve() == copy.resolve()


def test_run_directories_and_weights_files_are_left_to_the_weights_loader(tmp_path, packaged):
    run = tmp_path / "run"
    run.mkdir()
    model = zoo.create("lenet5", weights="mnist")
    model.save_weights(run / "best.weights.h5")
    assert presets.locate("lenet5", str(run)) is None
    assert presets.locate("lenet5", str(run / "best.weights.h5")) is None
    loaded = zoo.create("lenet5", weights=str(run / "best.weights.h5"))
    assert all((a == b).all() for a, b in zip(loaded.get_weights(), model.get_weights()))


def test_an_unknown_tag_and_a_non_string_are_refused_with_the_model_tags():
    with pytest.raises(ValueError, match="fashion_mnist"):
        presets.locate("lenet5", "imagenet")
    with pytest.raises(ValueError, match="a preset tag, a path or a URL"):
        zoo.create("lenet5", weights=True)
