"""NumPy arrays to and from TensorFlow's ``TensorProto``, as TF Serving reads and writes them.

Requests carry numeric tensors in ``tensor_content`` (raw little-endian bytes);
responses fill the typed fields (``float_val``, ...) as TF Serving does unless
asked for ``tensor_content``; strings travel in ``string_val``. Decoding also accepts the
typed ``*_val`` fields other clients send, with TensorFlow's rule that a short
list is padded with its last value.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

# isort: split
import zoo.serving.protos  # noqa: F401  (before the protos below: imports them without TensorFlow)

# isort: split
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

_NUMPY_BY_ENUM: dict[int, np.dtype] = {
    types_pb2.DT_FLOAT: np.dtype(np.float32),
    types_pb2.DT_DOUBLE: np.dtype(np.float64),
    types_pb2.DT_HALF: np.dtype(np.float16),
    types_pb2.DT_INT8: np.dtype(np.int8),
    types_pb2.DT_INT16: np.dtype(np.int16),
    types_pb2.DT_INT32: np.dtype(np.int32),
    types_pb2.DT_INT64: np.dtype(np.int64),
    types_pb2.DT_UINT8: np.dtype(np.uint8),
    types_pb2.DT_UINT16: np.dtype(np.uint16),
    types_pb2.DT_UINT32: np.dtype(np.uint32),
    types_pb2.DT_UINT64: np.dtype(np.uint64),
    types_pb2.DT_BOOL: np.dtype(np.bool_),
    types_pb2.DT_COMPLEX64: np.dtype(np.complex64),
    types_pb2.DT_COMPLEX128: np.dtype(np.complex128),
    types_pb2.DT_STRING: np.dtype(object),
}
_ENUM_BY_NUMPY = {dtype: enum for enum, dtype in _NUMPY_BY_ENUM.items() if enum != types_pb2.DT_STRING}


def _add_bfloat16() -> bool:
    """Registers ml_dtypes' bfloat16 on first use (importing ml_dtypes costs about a second of a client's start-up;
    TensorFlow depends on it, bfloat16 is optional everywhere else). Returns whether bfloat16 is available."""
    if types_pb2.DT_BFLOAT16 in _NUMPY_BY_ENUM:
        return True
    try:
        from ml_dtypes import bfloat16
    except ImportError:  # pragma: no cover
        return False
    _NUMPY_BY_ENUM[types_pb2.DT_BFLOAT16] = np.dtype(bfloat16)
    _ENUM_BY_NUMPY[np.dtype(bfloat16)] = types_pb2.DT_BFLOAT16
    return True


# Which repeated field holds the values of each dtype when tensor_content is empty.
_VAL_FIELD = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_HALF: "half_val",
    types_pb2.DT_BFLOAT16: "half_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_COMPLEX64: "scomplex_val",
    types_pb2.DT_COMPLEX128: "dcomplex_val",
    types_pb2.DT_STRING: "string_val",
}


#: Largest tensor a short value list may expand to (TensorFlow's padding rule); tensor_content
#: tensors are bounded by the message size instead.
MAX_EXPANDED_BYTES = 256 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """The dtype and shape a signature expects for one input.

    Attributes:
        dtype: numpy dtype; DT_STRING is ``np.dtype(object)`` holding bytes.
        shape: dims with None for an unknown dim (e.g. batch), or None for unknown rank.
    """

    dtype: np.dtype
    shape: tuple | None


class TensorConversionError(ValueError):
    """A TensorProto that cannot become an array, or an array that cannot become one."""


def dtype_name(enum: int) -> str:
    """``DT_FLOAT`` -> ``"DT_FLOAT"``; unknown values print as numbers."""
    try:
        return types_pb2.DataType.Name(enum)
    except ValueError:
        return str(enum)


def numpy_dtype(enum: int) -> np.dtype:
    """The NumPy dtype of a TensorFlow ``DataType`` (``object`` for ``DT_STRING``).

    Raises:
        TensorConversionError: a dtype serving does not handle (resources, variants, ...).
    """
    if enum == types_pb2.DT_BFLOAT16:
        _add_bfloat16()
    try:
        return _NUMPY_BY_ENUM[enum]
    except KeyError:
        raise TensorConversionError(f"Unsupported tensor dtype {dtype_name(enum)}.") from None


def dtype_enum(dtype: np.dtype) -> int:
    """The TensorFlow ``DataType`` of a NumPy dtype; bytes/str/object arrays are ``DT_STRING``."""
    dtype = np.dtype(dtype)
    if dtype.kind in "OSU":
        return types_pb2.DT_STRING
    if dtype not in _ENUM_BY_NUMPY and dtype.name == "bfloat16":
        _add_bfloat16()
    try:
        return _ENUM_BY_NUMPY[dtype]
    except KeyError:
        raise TensorConversionError(f"Arrays of dtype {dtype} have no TensorFlow equivalent.") from None


def shape_of(proto: tensor_shape_pb2.TensorShapeProto) -> tuple[int | None, ...] | None:
    """A ``TensorShapeProto`` as a tuple with ``None`` for unknown dims, or ``None`` for unknown rank."""
    if proto.unknown_rank:
        return None
    return tuple(d.size if d.size >= 0 else None for d in proto.dim)


def _as_bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, np.bytes_):
        return bytes(value)
    raise TensorConversionError(f"String tensors hold bytes or str; received {type(value).__name__}.")


def to_tensor_proto(value, tensor_content: bool = True) -> tensor_pb2.TensorProto:
    """Encodes an array-like as a ``TensorProto``.

    Args:
        value: the array.
        tensor_content: numeric values as raw bytes in ``tensor_content`` (what clients send, and
            TF Serving's ``--enable_serialization_as_tensor_content``); False fills the typed
            fields instead (``float_val``, ``int_val``, ``int64_val``, ...), as TF Serving's
            default ``Tensor::AsProtoField`` does for responses. Strings always go in ``string_val``.

    Example:
        >>> to_array(to_tensor_proto(np.arange(3, dtype=np.int32))).tolist()
        [0, 1, 2]
        >>> list(to_tensor_proto(np.array([0.5, 2.0], np.float32), tensor_content=False).float_val)
        [0.5, 2.0]
    """
    array = np.asarray(value)
    proto = tensor_pb2.TensorProto(dtype=dtype_enum(array.dtype))
    proto.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in array.shape)
    if proto.dtype == types_pb2.DT_STRING:
        proto.string_val.extend(_as_bytes(v) for v in array.reshape(-1))
    elif tensor_content:
        proto.tensor_content = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    else:
        _fill_typed_values(proto, array.reshape(-1))
    return proto


def _fill_typed_values(proto: tensor_pb2.TensorProto, flat: np.ndarray) -> None:
    """Writes ``flat`` into the repeated field of ``proto.dtype`` (TensorFlow's AsProtoField layout)."""
    field = getattr(proto, _VAL_FIELD[proto.dtype])
    if proto.dtype in (types_pb2.DT_HALF, types_pb2.DT_BFLOAT16):
        field.extend(flat.view(np.uint16).tolist())  # the 16 bits of each value, as TensorFlow stores them
    elif proto.dtype in (types_pb2.DT_COMPLEX64, types_pb2.DT_COMPLEX128):
        field.extend(np.stack([flat.real, flat.imag], axis=-1).reshape(-1).tolist())
    else:
        field.extend(flat.tolist())


def to_array(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """Decodes a ``TensorProto`` (``tensor_content`` or typed values) into a NumPy array.

    Raises:
        TensorConversionError: unknown dims, a dtype serving does not handle, or a
            content size that does not match the shape.
    """
    dtype = numpy_dtype(proto.dtype)
    shape = shape_of(proto.tensor_shape)
    if shape is None or any(d is None for d in shape):
        raise TensorConversionError("Tensor shapes in requests must be fully defined (no -1 dims, known rank).")
    size = math.prod(shape)  # Python ints: no overflow, and ~15 us cheaper per tensor than np.prod
    if proto.tensor_content:
        if dtype == object:  # noqa: E721 (a NumPy dtype equals object; it is not object)
            raise TensorConversionError("DT_STRING tensors use string_val, not tensor_content.")
        if len(proto.tensor_content) != size * dtype.itemsize:
            raise TensorConversionError(
                f"tensor_content holds {len(proto.tensor_content)} bytes; shape {list(shape)} of "
                f"{dtype_name(proto.dtype)} needs {size * dtype.itemsize}."
            )
        return np.frombuffer(proto.tensor_content, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    values = getattr(proto, _VAL_FIELD[proto.dtype])
    if proto.dtype == types_pb2.DT_STRING:
        flat = np.empty(len(values), dtype=object)
        flat[:] = list(values)
    elif proto.dtype in (types_pb2.DT_HALF, types_pb2.DT_BFLOAT16):
        flat = np.asarray(values, dtype=np.uint16).view(dtype)
    elif proto.dtype in (types_pb2.DT_COMPLEX64, types_pb2.DT_COMPLEX128):
        pairs = np.asarray(values, dtype=dtype.type(0).real.dtype).reshape(-1, 2)
        flat = (pairs[:, 0] + 1j * pairs[:, 1]).astype(dtype)
    else:
        try:
            flat = np.asarray(values).astype(dtype, casting="unsafe") if len(values) else np.empty(0, dtype)
        except OverflowError as err:
            raise TensorConversionError(f"Values do not fit {dtype_name(proto.dtype)}: {err}") from None
    if len(flat) > size:
        raise TensorConversionError(f"{len(flat)} values given for shape {list(shape)} ({size} elements).")
    if len(flat) == size:
        return flat.reshape(shape)
    if size * max(dtype.itemsize, 8) > MAX_EXPANDED_BYTES:
        raise TensorConversionError(
            f"{len(flat)} values would expand to shape {list(shape)}, over {MAX_EXPANDED_BYTES >> 20} MiB."
        )
    filled = np.full(size, flat[-1] if len(flat) else (b"" if dtype == object else 0), dtype=dtype)  # noqa: E721
    filled[: len(flat)] = flat
    return filled.reshape(shape)
