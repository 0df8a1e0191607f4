"""The shipped CCT presets load by name and classify real test images as their reports say."""

import numpy as np
import pytest

import zoo
from zoo import data


@pytest.mark.parametrize("dataset, floor", [("mnist", 0.985), ("fashion_mnist", 0.9)])
def test_a_cct_preset_classifies_the_first_thousand_test_images(dataset, floor):
    model = zoo.create("cct_2_3x2_28", weights=dataset)
    _, test = data.load(dataset, "test")
    images, labels = test.images[:1000].astype("float32") / 255.0, test.labels[:1000]
    predicted = np.argmax(model.predict(images.reshape(-1, 28, 28, 1), batch_size=250, verbose=0), axis=-1)
    assert np.mean(predicted == labels) >= floor
    assert model.count_params() == 281_419
