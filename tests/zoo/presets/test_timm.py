"""timm checkpoints into zoo models: exact logits against a NumPy forward pass written from PyTorch's semantics,
clear refusals, the hf:// path through huggingface_hub's offline cache, export and fine-tuning."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import timm_reference as ref

import zoo
from zoo.presets import timm

TOLERANCE = 1e-4  # the goal, float32 against the float64 reference


@pytest.fixture
def kzoo_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KZOO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KZOO_OFFLINE", raising=False)
    return tmp_path / "home"


@pytest.fixture(scope="module")
def resnet18_checkpoint(tmp_path_factory):
    tensors = ref.resnet_tensors("resnet18", seed=1)
    folder = ref.write_checkpoint(
        tmp_path_factory.mktemp("timm") / "resnet18.test_in1k",
        "resnet18",
        tensors,
        image_size=64,
        mean=[0.5, 0.4, 0.3],
        std=[0.2, 0.25, 0.3],
    )
    return folder, tensors


def _images(size, n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, size, size, 3)).astype("float32")


def test_resnet18_logits_equal_pytorch_semantics_and_same_padding_would_not(
    kzoo_home, resnet18_checkpoint, real_images
):
    folder, tensors = resnet18_checkpoint
    model = zoo.create("resnet18", weights=str(folder))
    assert model.input_shape == (None, 64, 64, 3)  # pretrained_cfg's input size
    images = real_images((64, 64, 3))  # CIFAR-10 photos, resized
    expected = ref.resnet_forward(tensors, "resnet18", images, mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3])
    assert ref.relative_error(model(images), expected) <= TOLERANCE
    # The reference is sensitive to the padding trap: Keras' "same" on the strided layers moves the logits far.
    same = ref.resnet_forward(
        tensors, "resnet18", images, mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3], mode="keras_same"
    )
    assert ref.relative_error(same, expected) > 100 * TOLERANCE
    # Other input sizes (odd ones too) stay exact: the ResNet pools globally.
    odd = zoo.create("resnet18", weights=str(folder), input_shape=(45, 45, 3))
    images = _images(45, seed=1)
    expected = ref.resnet_forward(tensors, "resnet18", images, mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3])
    assert ref.relative_error(odd(images), expected) <= TOLERANCE


@pytest.mark.parametrize("architecture", ["resnet34", "resnet50"])
def test_resnet34_and_resnet50_at_full_width_match(kzoo_home, tmp_path, architecture):
    tensors = ref.resnet_tensors(architecture, num_classes=10, seed=2)
    folder = ref.write_checkpoint(tmp_path / architecture, architecture, tensors, image_size=64)
    model = zoo.create(architecture, weights=str(folder))
    images = _images(64, seed=3)
    expected = ref.resnet_forward(tensors, architecture, images)
    assert model.output_shape == (None, 10)
    assert ref.relative_error(model(images), expected) <= TOLERANCE
    assert (
        ref.relative_error(ref.resnet_forward(tensors, architecture, images, mode="keras_same"), expected)
        > 100 * TOLERANCE
    )


@pytest.mark.parametrize(
    "architecture,name,size", [("vit_tiny_patch16_224", "vit_ti16", 32), ("vit_small_patch16_224", "vit_s16", 48)]
)
def test_vit_logits_equal_pytorch_semantics(kzoo_home, tmp_path, architecture, name, size):
    tensors = ref.vit_tensors(architecture, image_size=size, num_classes=7, depth=12, seed=4)
    folder = ref.write_checkpoint(tmp_path / architecture, architecture, tensors, image_size=size)
    model = zoo.create(name, weights=str(folder))
    images = _images(size, seed=5)
    assert ref.relative_error(model(images), ref.vit_forward(tensors, architecture, images)) <= TOLERANCE


#: PyTorch 2.14.1's F.interpolate(x, size, mode="bicubic", antialias=True, align_corners=False) on
#: x = arange(h * w) ** 1.5 (what timm's resample_abs_pos_embed calls), printed once in the torch environment.
TORCH_RESIZED = {
    ((2, 2), (3, 3)): [[-0.24595, 0.268929, 0.783808], [1.303434, 2.256145, 3.208857], [2.852818, 4.243362, 5.633907]],
    ((4, 4), (3, 3)): [
        [1.378913, 3.659976, 6.9269],
        [15.6383, 20.778831, 26.365993],
        [38.689026, 45.528622, 52.713352],
    ],
    ((3, 3), (5, 2)): [
        [-0.159158, 1.62866],
        [1.861726, 4.517753],
        [6.049652, 10.17999],
        [12.684033, 17.784073],
        [16.611135, 22.186205],
    ],
}


@pytest.mark.parametrize("grids", list(TORCH_RESIZED))
def test_position_tables_are_resampled_as_pytorch_does(grids):
    (h, w), new = grids
    table = np.concatenate([[-7.0], np.arange(h * w) ** 1.5]).reshape(1, 1 + h * w, 1).astype("float32")
    resized = timm.resample_position_table(table, (h, w), new)
    assert resized[0, 0, 0] == -7.0  # the class token's row is kept
    np.testing.assert_allclose(resized[0, 1:, 0].reshape(new), TORCH_RESIZED[grids], rtol=1e-5, atol=1e-5)


def test_a_vit_converted_for_another_image_size_resamples_its_positions(kzoo_home, tmp_path):
    architecture = "vit_tiny_patch16_224"
    tensors = ref.vit_tensors(architecture, image_size=32, num_classes=5, seed=8)
    folder = ref.write_checkpoint(tmp_path / "vit", architecture, tensors, image_size=32)
    (directory,) = zoo.presets.pull(str(folder), image_size=48)
    assert directory.name == "test_in1k-48"
    model = zoo.create("vit_ti16", weights=str(directory))
    assert model.input_shape == (None, 48, 48, 3)
    moved = {**tensors, "pos_embed": timm.resample_position_table(tensors["pos_embed"], (2, 2), (3, 3))}
    images = _images(48, seed=9)
    assert ref.relative_error(model(images), ref.vit_forward(moved, architecture, images)) <= TOLERANCE
    with pytest.raises(ValueError, match=r"image_size applies to timm checkpoints"):
        zoo.presets.pull("lenet5:mnist", image_size=48)


def test_the_preset_records_source_license_pretrained_cfg_and_class_names(kzoo_home, resnet18_checkpoint):
    folder, _ = resnet18_checkpoint
    (directory,) = zoo.presets.pull(str(folder))
    assert directory == kzoo_home / "presets" / "resnet18" / "test_in1k"
    metadata = json.loads((directory / "metadata.json").read_text())
    assert metadata["source"] == str(folder.absolute()) and metadata["architecture"] == "resnet18"
    assert metadata["license"] == "apache-2.0" and metadata["timm_tag"] == "test_in1k"
    assert metadata["pretrained_cfg"]["mean"] == [0.5, 0.4, 0.3]
    assert metadata["pretrained_cfg"]["interpolation"] == "bicubic" and metadata["pretrained_cfg"]["crop_pct"] == 0.95
    assert metadata["image_size"] == [64, 64] and metadata["dataset"] == "imagenet-1k"
    assert metadata["class_names"][:2] == ["tench", "goldfish"] and len(metadata["class_names"]) == 1000
    config = json.loads((directory / "config.json").read_text())["model_config"]
    assert config["input_mean"] == [0.5, 0.4, 0.3] and config["input_std"] == [0.2, 0.25, 0.3]
    # Now an ordinary preset: its tag loads it, and the folder is not converted again while unchanged.
    stamp = (directory / "model.weights.h5").stat().st_mtime_ns
    assert zoo.create("resnet18", weights="test_in1k").count_params() == zoo.create("resnet18").count_params()
    zoo.create("resnet18", weights=str(folder))
    assert (directory / "model.weights.h5").stat().st_mtime_ns == stamp


def _break(folder, tmp_path, edit):
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    from safetensors.numpy import load_file, save_file

    tensors = load_file(broken / "model.safetensors")
    edit(tensors)
    save_file(tensors, str(broken / "model.safetensors"))
    return broken


def test_missing_misshapen_and_unexpected_tensors_are_refused_naming_them(kzoo_home, tmp_path, resnet18_checkpoint):
    folder, _ = resnet18_checkpoint
    missing = _break(folder, tmp_path / "a", lambda t: t.pop("layer3.1.bn2.running_var"))
    with pytest.raises(ValueError, match=r"'layer3\.1\.bn2\.running_var' is missing.*Nothing was loaded"):
        zoo.create("resnet18", weights=str(missing))
    wrong = _break(
        folder, tmp_path / "b", lambda t: t.update({"layer2.0.conv2.weight": np.zeros((128, 64, 3, 3), "float32")})
    )
    with pytest.raises(
        ValueError,
        match=r"'layer2\.0\.conv2\.weight' has shape \(128, 64, 3, 3\), but resnet18 "
        r"\(stack2_block1/conv2/conv/kernel\) needs \(128, 128, 3, 3\)",
    ):
        zoo.create("resnet18", weights=str(wrong))
    extra = _break(folder, tmp_path / "c", lambda t: t.update({"layer1.0.se.fc.weight": np.zeros((4, 4), "float32")}))
    with pytest.raises(ValueError, match=r"unexpected tensor\(s\) 'layer1\.0\.se\.fc\.weight'"):
        zoo.create("resnet18", weights=str(extra))
    layer4 = _break(folder, tmp_path / "d", lambda t: [t.pop(k) for k in list(t) if k.startswith("layer4.")])
    with pytest.raises(ValueError, match=r"'layer4\.0\.conv1\.weight' is missing.*; and \d+ more\. Nothing"):
        zoo.create("resnet18", weights=str(layer4))
    assert not (kzoo_home / "presets" / "resnet18").exists()  # nothing half-converted was kept


def test_other_architectures_wrong_models_and_corrupt_files_are_refused(kzoo_home, tmp_path, resnet18_checkpoint):
    folder, _ = resnet18_checkpoint
    other = tmp_path / "resnet50d"
    shutil.copytree(folder, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "architecture": "resnet50d"}))
    with pytest.raises(ValueError, match=r"timm architecture 'resnet50d' has no zoo model\. Supported: .*resnet18"):
        zoo.create("resnet50", weights=str(other))
    with pytest.raises(ValueError, match=r"holds timm's resnet18 \(kzoo model 'resnet18'\), not 'resnet34'"):
        zoo.create("resnet34", weights=str(folder))
    with pytest.raises(ValueError, match=r"holds timm's vit_base_patch16_224 \(kzoo model 'vit_b16'\), not 'resnet50'"):
        zoo.create("resnet50", weights="hf://timm/vit_base_patch16_224.augreg_in1k")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(folder, corrupt)
    data = (corrupt / "model.safetensors").read_bytes()
    (corrupt / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"model\.safetensors is corrupt"):
        zoo.create("resnet18", weights=str(corrupt))


def _hub_cache(hf_home, repo_id, folder):
    """``folder``'s files in huggingface_hub's cache layout: blobs, refs/main, snapshots/<commit>/ symlinks."""
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "blobs").mkdir()
    for source in folder.iterdir():
        blob = repo / "blobs" / zoo.presets.sha256(source)
        shutil.copyfile(source, blob)
        (repo / "snapshots" / commit / source.name).symlink_to(f"../../blobs/{blob.name}")


def test_hf_references_load_from_the_hugging_face_cache_offline(kzoo_home, tmp_path, monkeypatch, resnet18_checkpoint):
    folder, tensors = resnet18_checkpoint
    uri = "hf://timm/resnet18.test_in1k"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("KZOO_OFFLINE", "1")
    with pytest.raises(ValueError, match=r"config\.json is not in .*downloads are off.*zoo pull hf://timm/resnet18"):
        zoo.create("resnet18", weights=uri)
    hub = tmp_path / "hub-files"  # as on the Hub: the license only in the model card's front matter
    shutil.copytree(folder, hub)
    config = json.loads((hub / "config.json").read_text())
    config["pretrained_cfg"].pop("license")
    (hub / "config.json").write_text(json.dumps(config))
    (hub / "README.md").write_text("---\ntags:\n- timm\nlicense: mit\nlibrary_name: timm\n---\n# resnet18\n")
    _hub_cache(tmp_path / "hf", "timm/resnet18.test_in1k", hub)
    monkeypatch.delenv("KZOO_OFFLINE")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = zoo.create("resnet18", weights=uri)
    images = _images(64, seed=7)
    expected = ref.resnet_forward(tensors, "resnet18", images, mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3])
    assert ref.relative_error(model(images), expected) <= TOLERANCE
    metadata = json.loads((kzoo_home / "presets" / "resnet18" / "test_in1k" / "metadata.json").read_text())
    assert metadata["source"] == uri and metadata["license"] == "mit"
    # Converted once: the preset answers even with the Hugging Face cache gone.
    shutil.rmtree(tmp_path / "hf")
    assert zoo.create("resnet18", weights=uri).count_params() == model.count_params()


def test_export_names_the_imagenet_classes(kzoo_home, tmp_path, resnet18_checkpoint):
    import tensorflow as tf

    from zoo.serving.exporter import export_weights
    from zoo.serving.signatures import IMAGE_FEATURE

    folder, _ = resnet18_checkpoint
    version = export_weights("resnet18", str(folder), tmp_path / "models", version=1)
    classify = tf.saved_model.load(str(version)).signatures["classify"]
    feature = tf.train.Feature(float_list=tf.train.FloatList(value=_images(64, n=1).ravel()))
    example = tf.train.Example(features=tf.train.Features(feature={IMAGE_FEATURE: feature}))
    outputs = classify(inputs=tf.constant([example.SerializeToString()]))
    classes = [c.decode() for c in outputs["classes"].numpy()[0]]
    assert len(classes) == 1000 and classes[:3] == ["tench", "goldfish", "great white shark"]


@pytest.mark.slow
def test_finetune_resizes_a_folder_to_the_preset_input_size(kzoo_home, tmp_path, resnet18_checkpoint, cifar10_test):
    from PIL import Image

    from zoo.training.finetune import FinetuneConfig, finetune

    folder, _ = resnet18_checkpoint
    _, split = cifar10_test
    data = tmp_path / "photos"
    for i, (image, label) in enumerate(zip(split.images[:40], split.labels[:40])):
        (data / f"class{label % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).resize((24, 24)).save(data / f"class{label % 2}" / f"{i}.png")
    result = finetune(
        "resnet18",
        str(folder),
        str(data),
        out=tmp_path / "run",
        config=FinetuneConfig(epochs=2, batch_size=8, validation_split=0.0),
    )
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model_config"]["input_shape"] == [64, 64, 3] and config["model_config"]["num_classes"] == 2
    assert config["model_config"]["input_mean"] == [0.5, 0.4, 0.3]
    assert "stack4_block2" in config["pretrained"]["transferred_layers"]
    assert result.model.input_shape == (None, 64, 64, 3)
