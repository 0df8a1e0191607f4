"""NumPy <-> TensorProto conversion, checked against TensorFlow's own converters."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from zoo.serving.tensors import TensorConversionError, to_array, to_tensor_proto

DTYPES = [
    np.float32,
    np.float64,
    np.float16,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.bool_,
    np.complex64,
    np.complex128,
]


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_and_tensorflow_agrees(dtype):
    rng = np.random.default_rng(0)
    value = (rng.normal(size=(2, 3, 4)) * 50).astype(dtype)
    proto = to_tensor_proto(value)
    np.testing.assert_array_equal(to_array(proto), value)
    np.testing.assert_array_equal(tf.make_ndarray(proto), value)  # TF reads what we write
    np.testing.assert_array_equal(to_array(tf.make_tensor_proto(value)), value)  # we read what TF writes


def test_strings_round_trip():
    value = np.array([[b"a", "é".encode()], [b"", b"\x00\xff"]], dtype=object)
    proto = to_tensor_proto(value)
    assert proto.dtype == types_pb2.DT_STRING
    np.testing.assert_array_equal(to_array(proto), value)
    assert to_array(to_tensor_proto(np.array(["x", "y"]))).tolist() == [b"x", b"y"]


def test_typed_value_fields_and_tensorflow_padding_rule():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.0, 2.0])
    proto.tensor_shape.dim.add(size=4)
    assert to_array(proto).tolist() == [1.0, 2.0, 2.0, 2.0]  # the last value repeats, as in TensorFlow
    half = tensor_pb2.TensorProto(dtype=types_pb2.DT_HALF, half_val=np.array([1.5, -2.0], np.float16).view(np.uint16))
    half.tensor_shape.dim.add(size=2)
    assert to_array(half).tolist() == [1.5, -2.0]
    np.testing.assert_array_equal(tf.make_ndarray(half), to_array(half))
    scalar = tf.make_tensor_proto(np.int64(7))
    assert to_array(scalar) == 7


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p: setattr(p, "tensor_content", b"\x00" * 3), "tensor_content"),
        (lambda p: p.tensor_shape.dim.add(size=-1), "fully defined"),
        (lambda p: setattr(p, "dtype", types_pb2.DT_RESOURCE), "Unsupported"),
        (lambda p: p.tensor_shape.__setattr__("unknown_rank", True), "fully defined"),
    ],
)
def test_malformed_protos_raise_clear_errors(mutate, message):
    proto = to_tensor_proto(np.zeros((2, 2), np.float32))
    mutate(proto)
    with pytest.raises(TensorConversionError, match=message):
        to_array(proto)


def test_too_many_values_for_shape():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32, int_val=[1, 2, 3])
    proto.tensor_shape.dim.add(size=2)
    with pytest.raises(TensorConversionError, match="3 values"):
        to_array(proto)
