"""zoo.tasks: each task's signatures are well formed, and their input specs need the sizes the model fixes."""

from __future__ import annotations

import pytest

from zoo.tasks import CLASSIFY, PREDICT, REGRESS, REQUEST_DIMS, TASKS, get_task


@pytest.mark.parametrize("name", sorted(TASKS))
def test_signatures_are_well_formed(name):
    task = TASKS[name]
    assert task.name == name and "serving_default" in task.signatures and task.metrics
    for signature in task.signatures.values():
        assert signature.method in (PREDICT, CLASSIFY, REGRESS)
        assert signature.inputs and signature.outputs
        for tensor in [*signature.inputs.values(), *signature.outputs.values()]:
            assert tensor.dtype in ("float32", "int32", "int64", "string")
            assert all(isinstance(d, int) or d.isidentifier() for d in tensor.shape)


def test_input_specs_take_the_model_sizes_and_leave_request_sizes_free():
    sparse = get_task("node_classification").signatures["sparse"]
    assert sparse.input_specs(features=1433) == (
        ("features", "float32", (None, 1433)),
        ("adjacency_indices", "int64", (None, 2)),
        ("adjacency_values", "float32", (None,)),
    )
    assert {"nodes", "edges"} <= REQUEST_DIMS
    with pytest.raises(ValueError, match="The model fixes the size of 'height': pass height="):
        get_task("diffusion").signatures["sample"].input_specs()


def test_zoo_info_describes_the_tensors_with_dtype_and_shape():
    inputs = get_task("image_classification").describe_signatures()["classify"]["inputs"]
    assert inputs == {"inputs": "string (batch,), serialized tf.Example with feature 'images'"}
