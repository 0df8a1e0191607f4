"""The signatures ``zoo info`` describes (``zoo.tasks``) are the ones an export writes: for one small model per task,
the signature names, TF Serving methods, input and output names, dtypes and shapes of the real SavedModel."""

from __future__ import annotations

import pytest
import tensorflow as tf

import zoo
from zoo.registry import describe
from zoo.serving.exporter import export
from zoo.serving.servable import read_signature_defs
from zoo.serving.signatures import task_signature
from zoo.tasks import REQUEST_DIMS, TASKS, Tensor

#: One small model per task and the overrides that keep its export quick.
SMALL_MODELS = {
    "image_classification": ("lenet5", {}),
    "regression": ("linear_regression", {}),
    "node_classification": ("gcn", {}),
    "language_model": ("char_gru", {"units": 8, "embedding_dim": 8}),
    "image_generation": ("dcgan", {"latent_dim": 8}),
    "autoencoding": ("vae_2d", {}),
    "diffusion": ("ddpm_small", {"timesteps": 10}),
}


def test_one_small_model_per_task():
    assert set(SMALL_MODELS) == set(TASKS)
    for task, (name, _) in SMALL_MODELS.items():
        assert describe(name)["task"] == task


def check_tensor(where: str, described: Tensor, spec: tf.TensorSpec, sizes: dict[str, int], *, is_input: bool):
    """``spec`` has the dtype and rank ``described`` says, its fixed sizes, a free size (None) for each input dimension
    a request chooses, a fixed one for each other input dimension, and one size per dimension name in ``sizes``."""
    assert spec.dtype.name == described.dtype, f"{where}: exported {spec.dtype.name}, described {described.dtype}"
    real = spec.shape.as_list()
    assert len(real) == len(described.shape), f"{where}: exported shape {real}, described {described.shape}"
    for dim, size in zip(described.shape, real):
        if isinstance(dim, int):
            assert size == dim, f"{where}: exported shape {real}, described {described.shape}"
        elif dim in REQUEST_DIMS:
            assert size is None or not is_input, f"{where}: {dim} is chosen per request, exported {real}"
        else:
            assert size is not None or not is_input, f"{where}: {dim} is fixed by the model, exported {real}"
            if size is not None:
                assert sizes.setdefault(dim, size) == size, f"{where}: {dim} is {size} here, {sizes[dim]} elsewhere"


@pytest.mark.parametrize("task_name", sorted(TASKS))
def test_described_signatures_are_exported(task_name, tmp_path):
    """About 20 s for all seven on a CPU, most of it tracing diffusion's and the RNN's sampling loops."""
    name, overrides = SMALL_MODELS[task_name]
    task = TASKS[task_name]
    assert zoo.info(name, build=False)["signatures"] == task.describe_signatures()
    path = export(zoo.create(name, **overrides), tmp_path, model_name=name, update_config=False)
    loaded = tf.saved_model.load(str(path))
    assert set(loaded.signatures) == set(task.signatures)
    methods = {key: signature_def.method_name for key, signature_def in read_signature_defs(path).items()}
    sizes: dict[str, int] = {}
    for key, described in task.signatures.items():
        assert methods[key] == described.method, f"{name} {key}: method {methods[key]}, described {described.method}"
        _, inputs = loaded.signatures[key].structured_input_signature
        outputs = loaded.signatures[key].structured_outputs
        assert set(inputs) == set(described.inputs), f"{name} {key}: exported inputs {sorted(inputs)}"
        assert set(outputs) == set(described.outputs), f"{name} {key}: exported outputs {sorted(outputs)}"
        for tensor_name, tensor in described.inputs.items():
            check_tensor(f"{name} {key} {tensor_name}", tensor, inputs[tensor_name], sizes, is_input=True)
        for tensor_name, tensor in described.outputs.items():
            check_tensor(f"{name} {key} {tensor_name}", tensor, outputs[tensor_name], sizes, is_input=False)


def test_a_signature_function_takes_the_described_inputs_in_their_order():
    with pytest.raises(ValueError, match=r"takes the inputs \['num_images', 'steps', 'eta', 'seed'\], in this order"):
        task_signature("diffusion", "serving_default")(lambda steps, num_images, eta, seed: None)
    traced = task_signature("regression", "serving_default", features=3)(lambda features: {"predictions": features})
    assert [spec.name for spec in traced.input_signature] == ["features"]
    assert traced.input_signature[0].shape.as_list() == [None, 3]
