import json

import pytest

import zoo
from zoo.registry import register_model


def test_lists_every_family_with_wildcards_in_natural_order():
    names = zoo.list_models()
    for expected in (
        "mlp",
        "lenet_300_100",
        "lenet5",
        "lenet5_caffe",
        "resnet20",
        "resnet32",
        "resnet56",
        "resnet18",
        "resnet34",
        "resnet50",
    ):
        assert expected in names
    assert zoo.list_models("resnet*") == ["resnet18", "resnet20", "resnet32", "resnet34", "resnet50", "resnet56"]
    assert zoo.list_models("lenet5*") == ["lenet5", "lenet5_caffe"]
    assert zoo.list_models("nothing*") == []


def test_unknown_model_suggests_close_names():
    with pytest.raises(ValueError, match=r"Unknown model 'resnet2'.*Did you mean: resnet20"):
        zoo.create("resnet2")
    with pytest.raises(ValueError, match="Unknown model 'lenett5'.*lenet5"):
        zoo.info("lenett5")


def test_overrides_change_the_model():
    model = zoo.create("resnet20", num_classes=100, input_shape=(64, 64, 3))
    assert model.input_shape == (None, 64, 64, 3)
    assert model.output_shape == (None, 100)
    assert zoo.create("mlp", hidden_units=[7]).get_layer("dense1").units == 7


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("mlp", {"hidden_units": [-3]}, "hidden_units"),
        ("lenet5", {"conv_filters": [0, 16]}, "conv_filters"),
        ("resnet20", {"num_classes": 0}, "num_classes"),
        ("resnet20", {"dropout": 1.5}, "dropout"),
        ("resnet20", {"stem": "vgg"}, "stem"),
        ("resnet56", {"input_shape": (32, 32)}, "input_shape"),
        ("lenet5", {"input_shape": (8, 8, 1)}, "too small"),
        ("lenet5", {"widht": 3}, "does not accept the override.*'widht'.*Accepted: activation"),
    ],
)
def test_bad_overrides_fail_clearly(name, overrides, message):
    with pytest.raises(ValueError, match=message):
        zoo.create(name, **overrides)


def test_info_is_json_and_describes_the_model():
    details = zoo.info("lenet5")
    json.dumps(details)
    assert details["parameters"] == 61706
    assert details["task"] == "image_classification"
    assert details["input_shape"] == [28, 28, 1]
    assert "serving_default" in details["signatures"]
    assert details["config"]["conv_filters"] == [6, 16]
    assert zoo.info("resnet20")["parameters"] == 271098  # He et al. 2016: 0.27M


def test_registration_rejects_duplicates_bad_names_and_tasks():
    with pytest.raises(ValueError, match="already registered"):
        register_model("lenet5", task="image_classification")(lambda **kw: None)
    with pytest.raises(ValueError, match="lowercase"):
        register_model("LeNet", task="image_classification")
    with pytest.raises(ValueError, match="Unknown task"):
        register_model("brand_new", task="telepathy")
