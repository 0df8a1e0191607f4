"""TensorFlow Serving's REST JSON, to and from numpy arrays and protos.

Follows TF Serving's ``json_tensor.cc`` (https://www.tensorflow.org/tfx/serving/api_rest)
so that existing REST clients work unchanged:

* ``:predict`` takes ``{"instances": [...]}`` (row format, one entry per batch item) or
  ``{"inputs": ...}`` (columnar, whole tensors) and answers ``{"predictions": [...]}`` or
  ``{"outputs": ...}`` accordingly.
* ``:classify`` and ``:regress`` take ``{"examples": [...], "context": {...}}`` (features
  by name) and answer ``{"results": [...]}``.
* Binary strings travel as ``{"b64": "<base64>"}``; outputs whose name ends in ``_bytes``
  are always written that way.

Everything here is a pure function; a malformed request raises :class:`RestError`.
The protos are imported lazily, since importing them loads TensorFlow.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.serving.tensors import TensorSpec

if TYPE_CHECKING:
    from tensorflow_serving.apis import classification_pb2, input_pb2, regression_pb2

_INT64 = np.iinfo(np.int64)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
# The JSON scalar types each numpy dtype kind accepts (bool is not an int here, as in JSON).
_STRINGS = {str, dict}  # dict: {"b64": ...}
_ALLOWED_TYPES = {"f": {int, float}, "i": {int}, "u": {int}, "b": {bool}, "O": _STRINGS, "S": _STRINGS, "U": _STRINGS}


class RestError(ValueError):
    """A malformed request; the server answers HTTP 400 with {"error": str(err)} (INVALID_ARGUMENT)."""


# --------------------------------------------------------------------------- JSON helpers


def parse_body(body: bytes | str) -> dict:
    """Parses a request body as TF Serving does (NaN and Infinity allowed).

    Args:
        body: the raw HTTP body, UTF-8.

    Returns:
        The top-level JSON object.

    Raises:
        RestError: empty body, invalid UTF-8 or JSON, or a top level that is not an object.
    """
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            body = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise RestError(f"JSON Parse error: Invalid encoding (not UTF-8) at offset: {err.start}") from None
    if not body.strip():
        raise RestError("JSON Parse error: The document is empty")
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as err:
        raise RestError(f"JSON Parse error: {err.msg} at offset: {err.pos}") from None
    except (ValueError, RecursionError) as err:  # Too many digits, too deeply nested.
        raise RestError(f"JSON Parse error: {err}") from None
    if not isinstance(doc, dict):
        raise RestError(f"JSON Value: {_show(doc)} Is not object")
    return doc


def _show(value: Any, limit: int = 120) -> str:
    """Compact JSON text of a value for error messages, truncated to ``limit`` characters."""
    text = json.dumps(value, separators=(",", ":"), default=repr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: Any) -> str:
    """The JSON type of a decoded value, as error messages name it."""
    names = {type(None): "null", bool: "bool", int: "int", float: "float", str: "string", dict: "object", list: "array"}
    return names.get(type(value), type(value).__name__)


def _is_b64(value: Any) -> bool:
    """Whether value is ``{"b64": "<string>"}`` (exactly that one key)."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _b64decode(value: Any, where: str) -> bytes:
    """Decodes a ``{"b64": ...}`` object, tolerating missing padding as absl does."""
    if not _is_b64(value):
        raise RestError(f"{where}: JSON Value: {_show(value)} not formatted correctly for base64 data")
    text = value["b64"]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise RestError(f"{where}: Unable to base64 decode {_show(value)}") from None


def _dtype_name(dtype: np.dtype) -> str:
    return "string" if dtype.kind in "OSU" else dtype.name


# --------------------------------------------------------------------------- JSON -> numpy


class _Ragged(Exception):
    """A list of the wrong length, or a list/scalar at the wrong depth (path filled in on unwind)."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.path: list[int] = []
        self.problem = problem


def _dense_shape(value: Any) -> list[int]:
    """The shape implied by following the first element of each nested list (as TF Serving does)."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _flatten(value: list, shape: list[int], level: int, out: list) -> None:
    """Appends the leaves of ``value`` (a list at ``level``) to ``out``, checking it is dense."""
    if len(value) != shape[level]:
        raise _Ragged(f"has {len(value)} elements, expected {shape[level]}")
    if level == len(shape) - 1:
        out.extend(value)  # Lists among these leaves are caught by the caller's type check.
        return
    for i, item in enumerate(value):
        try:
            if not isinstance(item, list):
                raise _Ragged(f"is a {_kind(item)}, expected a list of {shape[level + 1]}")
            _flatten(item, shape, level + 1, out)
        except _Ragged as err:
            err.path.insert(0, i)
            raise


def _convert(leaves: list, dtype: np.dtype, name: str) -> np.ndarray:
    """Converts a flat list of JSON scalars to a 1-D array of ``dtype``, as TF Serving would."""
    where = f"Input '{name}'"
    types = set(map(type, leaves))
    kind = dtype.kind
    allowed = _ALLOWED_TYPES.get(kind)
    if allowed is None:
        raise RestError(f"{where}: conversion of JSON values to type {dtype.name} is not supported")
    if not types <= allowed:
        bad = next(v for v in leaves if type(v) not in allowed)
        raise RestError(
            f"{where}: JSON Value: {_show(bad)} Type: {_kind(bad)} is not of expected type: {_dtype_name(dtype)}"
        )
    if kind in "OSU":
        out = np.empty(len(leaves), dtype=object)
        try:
            out[:] = [v.encode("utf-8") if type(v) is str else _b64decode(v, where) for v in leaves]
        except UnicodeEncodeError:
            raise RestError(f"{where}: string is not valid UTF-8 (lone surrogate)") from None
        return out
    if kind in "iu" and leaves:
        info = np.iinfo(dtype)
        for bad in (min(leaves), max(leaves)):
            if not info.min <= bad <= info.max:
                raise RestError(f"{where}: JSON Value: {bad} is out of range for {dtype.name} [{info.min}, {info.max}]")
    if kind == "f":
        if int in types:  # Integers must be exact in the float type (TF Serving's IsLosslessDecimal).
            limit = 2 ** (np.finfo(dtype).nmant + 1) - 1
            bad = next((v for v in leaves if type(v) is int and abs(v) > limit), None)
            if bad is not None:
                raise RestError(f"{where}: Cannot convert JSON value: {bad} to {dtype.name} without loss of precision")
        values = np.array(leaves, dtype=np.float64)
        too_big = np.isfinite(values) & (np.abs(values) > np.finfo(dtype).max)
        if too_big.any():
            bad = leaves[int(np.argmax(too_big))]
            raise RestError(f"{where}: Cannot convert JSON value: {bad} to {dtype.name} without loss of precision")
        return values.astype(dtype)
    return np.array(leaves, dtype=dtype)


def _to_array(value: Any, spec: TensorSpec, name: str, label: str) -> np.ndarray:
    """Converts one input's JSON value (nested lists of scalars) to an array matching ``spec``.

    Args:
        value: the decoded JSON value; for row format the list of per-instance values.
        spec: the input's expected dtype and shape.
        name: the input's name, for error messages.
        label: ``"instances"`` or ``"inputs"``, the JSON key the value came from.
    """
    dtype = np.dtype(spec.dtype)
    shape = _dense_shape(value)
    leaves: list = []
    try:
        if shape:
            _flatten(value, shape, 0, leaves)
        else:
            leaves.append(value)
    except _Ragged as err:
        path = "".join(f"[{i}]" for i in err.path)
        raise RestError(f"Input '{name}' has a ragged or mismatched shape: {label}{path} {err.problem}") from None
    if any(type(v) is list for v in leaves):
        index = next(i for i, v in enumerate(leaves) if type(v) is list)
        path = "".join(f"[{i}]" for i in np.unravel_index(index, shape))
        raise RestError(f"Input '{name}' has a ragged or mismatched shape: {label}{path} is a list, expected a scalar")
    # No check against the signature's declared shape: TensorFlow checks what the graph accepts (TF Serving's
    # README feeds {"instances": [1.0, 2.0, 5.0]} to half_plus_two, whose input is declared [-1, 1]).
    return _convert(leaves, dtype, name).reshape(shape)


def _check_names(keys: Any, specs: dict[str, TensorSpec], where: str) -> None:
    """Raises unless ``keys`` are exactly the signature's input names."""
    expected = ", ".join(sorted(specs))
    unknown = [k for k in keys if k not in specs]
    if unknown:
        raise RestError(f"{where}: unknown input '{unknown[0]}'; the signature's inputs are: {expected}")
    missing = [k for k in specs if k not in keys]
    if missing:
        raise RestError(f"{where}: missing input '{missing[0]}'; the signature's inputs are: {expected}")


def decode_predict_inputs(request: dict, specs: dict[str, TensorSpec]) -> tuple[dict[str, np.ndarray], str]:
    """Decodes a ``:predict`` request body into input arrays.

    Args:
        request: the parsed request object (see :func:`parse_body`).
        specs: the signature's inputs by name.

    Returns:
        ``(inputs, fmt)``: arrays by input name, and ``"row"`` when the request used
        ``"instances"`` or ``"columnar"`` when it used ``"inputs"``.

    Raises:
        RestError: the request does not fit the signature.
    """
    if not specs:
        raise RestError("Failed to get input map for signature: it has no inputs")
    has_rows, has_columns = "instances" in request, "inputs" in request
    if has_rows == has_columns:
        raise RestError(
            "Not formatted correctly, expecting only one of 'inputs' or 'instances' keys to exist"
            if has_rows
            else "Missing 'inputs' or 'instances' key"
        )
    names = list(specs)
    if has_columns:
        value = request["inputs"]
        if not isinstance(value, dict) or _is_b64(value):
            if len(specs) > 1:
                raise RestError(
                    "'inputs' is a plain value/list, but expecting an object as the signature has several inputs: "
                    + ", ".join(sorted(specs))
                )
            value = {names[0]: value}
        _check_names(value, specs, "'inputs' object")
        return {n: _to_array(value[n], specs[n], n, "inputs") for n in names}, "columnar"

    instances = request["instances"]
    if not isinstance(instances, list):
        raise RestError(f"Expecting 'instances' to be a list/array, got {_kind(instances)}")
    if not instances:
        raise RestError("No values in 'instances' array")

    def is_named(item: Any) -> bool:
        return isinstance(item, dict) and not _is_b64(item)

    named = is_named(instances[0])
    if not named and len(specs) > 1:
        raise RestError(
            "'instances' is a plain list, but expecting a list of objects as the signature has several inputs: "
            + ", ".join(sorted(specs))
        )
    columns: dict[str, list] = {n: [] for n in names}
    for i, item in enumerate(instances):
        if is_named(item) != named:
            want, got = ("object", _kind(item)) if named else ("value/list", "object")
            raise RestError(f"Expecting {want} but got {got} at item {i} of 'instances' list")
        if named:
            _check_names(item, specs, f"Instance {i} of 'instances' list")
            for n in names:
                columns[n].append(item[n])
        else:
            columns[names[0]].append(item)
    return {n: _to_array(columns[n], specs[n], n, "instances") for n in names}, "row"


# --------------------------------------------------------------------------- numpy -> JSON


def _to_json(array: Any, name: str) -> Any:
    """Converts an output array to plain Python (nested lists), as TF Serving writes it."""
    array = np.asarray(array)
    kind = array.dtype.kind
    if kind in "OSU":
        as_b64 = name.endswith("_bytes")

        def text(value: Any) -> Any:
            if isinstance(value, str) and not as_b64:
                return value
            if not isinstance(value, (str, bytes, bytearray)):
                raise RestError(f"Output '{name}': cannot write {type(value).__name__} as a JSON string")
            raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
            if not as_b64:
                try:
                    return raw.decode("utf-8")
                except UnicodeDecodeError:  # TF Serving would write invalid JSON here.
                    pass
            return {"b64": base64.b64encode(raw).decode("ascii")}

        flat = np.empty(array.size, dtype=object)
        flat[:] = [text(v) for v in array.reshape(-1).tolist()]
        return flat.reshape(array.shape).tolist()
    if kind == "c":
        raise RestError(f"Output '{name}': complex type {array.dtype.name} cannot be written as JSON")
    if kind not in "biuf":  # bfloat16 and other ml_dtypes floats.
        array = array.astype(np.float32)
    if array.dtype.kind == "f" and array.dtype.itemsize < 8:
        # Shortest decimal that round-trips in the narrow type: 0.2f is written 0.2, not 0.20000000298.
        array = array.astype(str).astype(np.float64)
    return array.tolist()


def encode_predict_outputs(outputs: dict[str, np.ndarray], fmt: str) -> dict:
    """Encodes ``:predict`` outputs in the request's format.

    Args:
        outputs: output arrays by name.
        fmt: ``"row"`` or ``"columnar"``, as returned by :func:`decode_predict_inputs`.

    Returns:
        ``{"predictions": [...]}`` (row: item i is output row i, or ``{name: row i}`` with several
        outputs) or ``{"outputs": value}`` (columnar: ``{name: value}`` with several outputs).

    Raises:
        RestError: no outputs, an unknown format, or (row format) outputs without a common batch dim.
    """
    if not outputs:
        raise RestError("Cannot convert empty tensor map to JSON")
    if fmt == "columnar":
        values = {name: _to_json(value, name) for name, value in outputs.items()}
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if fmt != "row":
        raise RestError(f"Invalid request format: {fmt!r} (expected 'row' or 'columnar')")
    batch = None
    for name, value in outputs.items():
        shape = np.shape(value)
        if not shape:
            raise RestError(f"Tensor name: {name} has no shape information (a scalar cannot be split into rows)")
        if batch is not None and shape[0] != batch:
            raise RestError(f"Tensor name: {name} has inconsistent batch size: {shape[0]} expecting: {batch}")
        batch = shape[0]
    rows = {name: _to_json(value, name) for name, value in outputs.items()}
    if len(rows) == 1:
        return {"predictions": next(iter(rows.values()))}
    return {"predictions": [{name: rows[name][i] for name in rows} for i in range(batch)]}


# --------------------------------------------------------------------------- classify / regress


def _make_example(value: Any, where: str) -> Any:
    """Builds a ``tf.train.Example`` from ``{feature_name: scalar or flat list}``."""
    from tensorflow.core.example import example_pb2

    if not isinstance(value, dict):
        raise RestError(f"{where}: Example must be JSON object but got JSON {_kind(value)}")
    example = example_pb2.Example()
    for name, content in value.items():
        items = content if isinstance(content, list) else [content]
        feature = example.features.feature[name]
        for item in items:
            if item is None or isinstance(item, list) or (isinstance(item, dict) and not _is_b64(item)):
                raise RestError(f"{where}: Feature: {name} has element with unexpected JSON type: {_kind(item)}")
        types = {type(v) for v in items}
        if types & {str, dict}:
            if not types <= {str, dict}:
                raise RestError(f"{where}: Feature: {name} mixes strings and numbers")
            feature.bytes_list.value.extend(
                v.encode("utf-8", "surrogatepass") if type(v) is str else _b64decode(v, f"{where}: Feature: {name}")
                for v in items
            )
        elif float in types:  # Any float makes the whole list a float_list.
            if bool in types:
                raise RestError(f"{where}: Feature: {name} mixes booleans and floats")
            for v in items:
                exact = type(v) is not int or abs(v) <= 2**24 - 1
                if not exact or (np.isfinite(v) and abs(v) > _FLOAT32_MAX):
                    raise RestError(
                        f"{where}: Feature: {name}: Cannot convert JSON value: {v} to float without loss of precision"
                    )
            feature.float_list.value.extend(float(v) for v in items)
        elif items:  # ints and bools (true -> 1) make an int64_list.
            bad = next((v for v in items if not _INT64.min <= v <= _INT64.max), None)
            if bad is not None:
                raise RestError(f"{where}: Feature: {name} has element {bad} out of int64 range")
            feature.int64_list.value.extend(int(v) for v in items)
    return example


def decode_examples(request: dict) -> input_pb2.Input:
    """Decodes a ``:classify`` / ``:regress`` request body into an ``Input`` proto.

    Args:
        request: the parsed request object, with ``"examples"`` (a non-empty list of
            ``{feature: value}`` objects) and optionally ``"context"`` (one such object).

    Returns:
        An ``Input`` holding ``example_list``, or ``example_list_with_context`` when
        ``"context"`` was given.

    Raises:
        RestError: missing or malformed examples or context.
    """
    from tensorflow_serving.apis import input_pb2

    result = input_pb2.Input()
    if "examples" not in request:
        raise RestError("Key 'examples' is expected and was not found")
    examples = request["examples"]
    if not isinstance(examples, list):
        raise RestError(f"Expecting 'examples' value to be a list/array, got {_kind(examples)}")
    if not examples:
        raise RestError("'examples' value is an empty array")
    built = [_make_example(e, f"examples[{i}]") for i, e in enumerate(examples)]
    if "context" in request:
        target = result.example_list_with_context
        target.context.CopyFrom(_make_example(request["context"], "context"))
    else:
        target = result.example_list
    target.examples.extend(built)
    return result


def _float32(value: float) -> float:
    """The shortest decimal of a float32 value, as a Python float (0.2f -> 0.2)."""
    return float(str(np.float32(value)))


def encode_classification(result: classification_pb2.ClassificationResult) -> dict:
    """Encodes a ``ClassificationResult`` as ``{"results": [[[label, score], ...], ...]}``.

    Raises:
        RestError: the result holds no classifications.
    """
    if not result.classifications:
        raise RestError("Cannot convert empty ClassificationResults to JSON")
    return {"results": [[[c.label, _float32(c.score)] for c in item.classes] for item in result.classifications]}


def encode_regression(result: regression_pb2.RegressionResult) -> dict:
    """Encodes a ``RegressionResult`` as ``{"results": [value, ...]}``.

    Raises:
        RestError: the result holds no regressions.
    """
    if not result.regressions:
        raise RestError("Cannot convert empty RegressionResults to JSON")
    return {"results": [_float32(r.value) for r in result.regressions]}
