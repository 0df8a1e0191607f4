"""TF Serving REST JSON codec: predict inputs/outputs, examples, classify/regress results."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest

from zoo.serving.rest_codec import (
    RestError,
    TensorSpec,
    decode_examples,
    decode_predict_inputs,
    encode_classification,
    encode_predict_outputs,
    encode_regression,
    parse_body,
)

STRING = np.dtype(object)
IMAGE = {"image": TensorSpec(np.dtype("float32"), (None, 2, 2))}
MULTI = {
    "pixels": TensorSpec(np.dtype("uint8"), (None, 3)),
    "count": TensorSpec(np.dtype("int64"), (None,)),
    "flag": TensorSpec(np.dtype("bool"), (None,)),
    "text": TensorSpec(STRING, (None,)),
    "blob_bytes": TensorSpec(STRING, None),
    "weight": TensorSpec(np.dtype("float64"), None),
}


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


# --------------------------------------------------------------------------- parse_body


def test_parse_body_accepts_bytes_str_and_nan():
    assert parse_body(b'{"instances": [1]}') == {"instances": [1]}
    assert parse_body('{"a": "\u00e9"}'.encode("utf-8")) == {"a": "\u00e9"}
    doc = parse_body('{"inputs": [NaN, Infinity, -Infinity]}')
    assert math.isnan(doc["inputs"][0]) and doc["inputs"][1:] == [math.inf, -math.inf]


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "empty"),
        ("   \n", "empty"),
        (b'{"instances": [1,', "JSON Parse error"),
        (b"[1, 2]", "Is not object"),
        (b'"text"', "Is not object"),
        (b'{"a": "\xff\xfe"}', "UTF-8"),
    ],
)
def test_parse_body_rejects(body, message):
    with pytest.raises(RestError, match=message):
        parse_body(body)


# --------------------------------------------------------------------------- predict: decoding


def test_row_single_input_stacks_instances():
    images = [[[0.5, 1], [2, -3.25]], [[0, 0], [0, 1e-3]]]
    inputs, fmt = decode_predict_inputs({"instances": images, "signature_name": "x", "extra": 1}, IMAGE)
    assert fmt == "row"
    assert inputs["image"].dtype == np.float32 and inputs["image"].shape == (2, 2, 2)
    np.testing.assert_array_equal(inputs["image"], np.array(images, np.float32))


def test_row_single_input_named_instances():
    inputs, fmt = decode_predict_inputs({"instances": [{"image": [[1, 2], [3, 4]]}]}, IMAGE)
    assert fmt == "row"
    np.testing.assert_array_equal(inputs["image"], [[[1, 2], [3, 4]]])


def test_row_scalar_instances_and_b64_plain_list():
    inputs, _ = decode_predict_inputs({"instances": [3, 4, -5]}, {"x": TensorSpec(np.dtype("int32"), (None,))})
    assert inputs["x"].dtype == np.int32 and inputs["x"].tolist() == [3, 4, -5]
    # A {"b64": ...} instance is a value, not a named instance.
    inputs, _ = decode_predict_inputs(
        {"instances": [b64(b"\x00\xff"), "caf\u00e9"]}, {"raw": TensorSpec(STRING, (None,))}
    )
    assert inputs["raw"].dtype == object and inputs["raw"].tolist() == [b"\x00\xff", "caf\u00e9".encode()]
    # Padding may be left out, as absl's decoder allows.
    request = {"instances": [{"b64": "QQ"}, {"b64": "QUI="}]}
    inputs, _ = decode_predict_inputs(request, {"raw": TensorSpec(STRING, None)})
    assert inputs["raw"].tolist() == [b"A", b"AB"]


def test_row_several_inputs_of_every_dtype():
    instances = [
        {"pixels": [0, 128, 255], "count": 2**40, "flag": True, "text": "a", "blob_bytes": b64(b"\x01"), "weight": 1},
        {
            "pixels": [1, 2, 3],
            "count": -7,
            "flag": False,
            "text": "\u00fc",
            "blob_bytes": b64(b"\x02\x03"),
            "weight": 0.5,
        },
    ]
    inputs, fmt = decode_predict_inputs({"instances": instances}, MULTI)
    assert fmt == "row" and set(inputs) == set(MULTI)
    assert inputs["pixels"].dtype == np.uint8 and inputs["pixels"].tolist() == [[0, 128, 255], [1, 2, 3]]
    assert inputs["count"].dtype == np.int64 and inputs["count"].tolist() == [2**40, -7]
    assert inputs["flag"].dtype == np.bool_ and inputs["flag"].tolist() == [True, False]
    assert inputs["text"].tolist() == [b"a", "\u00fc".encode()]
    assert inputs["blob_bytes"].tolist() == [b"\x01", b"\x02\x03"]
    assert inputs["weight"].dtype == np.float64 and inputs["weight"].tolist() == [1.0, 0.5]


def test_columnar_single_input_plain_and_named():
    value = [[[1, 2], [3, 4]]]
    for request in ({"inputs": value}, {"inputs": {"image": value}}):
        inputs, fmt = decode_predict_inputs(request, IMAGE)
        assert fmt == "columnar"
        np.testing.assert_array_equal(inputs["image"], np.array(value, np.float32))
    inputs, _ = decode_predict_inputs({"inputs": b64(b"xyz")}, {"s": TensorSpec(STRING, ())})
    assert inputs["s"].shape == () and inputs["s"].item() == b"xyz"


def test_columnar_several_inputs_and_empty_batch():
    specs = {"a": TensorSpec(np.dtype("float32"), (None, 2)), "b": TensorSpec(np.dtype("int32"), None)}
    inputs, fmt = decode_predict_inputs({"inputs": {"a": [[1, 2.5], [3, 4]], "b": 7}}, specs)
    assert fmt == "columnar"
    assert inputs["a"].tolist() == [[1.0, 2.5], [3.0, 4.0]] and inputs["b"].shape == () and inputs["b"] == 7
    specs["a"] = TensorSpec(np.dtype("float32"), None)
    inputs, _ = decode_predict_inputs({"inputs": {"a": [], "b": [[], []]}}, specs)
    assert inputs["a"].shape == (0,) and inputs["a"].dtype == np.float32 and inputs["b"].shape == (2, 0)


def test_float_edge_values_are_kept():
    spec = {"x": TensorSpec(np.dtype("float32"), (None,))}
    inputs, _ = decode_predict_inputs(parse_body('{"instances": [NaN, -Infinity, 16777215, 3.0e38]}'), spec)
    values = inputs["x"]
    assert np.isnan(values[0]) and values[1] == -np.inf and values[2] == 16777215 and values[3] == np.float32(3e38)


FLOAT1 = {"x": TensorSpec(np.dtype("float32"), (None, 2))}
INT1 = {"n": TensorSpec(np.dtype("int32"), (None,))}
STR1 = {"s": TensorSpec(STRING, (None,))}
TWO = {"a": TensorSpec(np.dtype("float32"), (None,)), "b": TensorSpec(np.dtype("int64"), (None,))}


@pytest.mark.parametrize(
    "request_, specs, message",
    [
        ({"instances": [[1, 2]], "inputs": [[1, 2]]}, FLOAT1, "only one of 'inputs' or 'instances'"),
        ({"signature_name": "serving_default"}, FLOAT1, "Missing 'inputs' or 'instances'"),
        ({"instances": {"x": [1, 2]}}, FLOAT1, "'instances' to be a list.*object"),
        ({"instances": []}, FLOAT1, "No values in 'instances'"),
        ({"instances": [[1.0, 2]]}, TWO, "plain list.*several inputs: a, b"),
        ({"instances": [{"a": 1.0}]}, TWO, "Instance 0.*missing input 'b'.*inputs are: a, b"),
        ({"instances": [{"a": 1.0, "b": 2, "c": 3}]}, TWO, "Instance 0.*unknown input 'c'.*inputs are: a, b"),
        ({"instances": [{"x": [1, 2]}, [3, 4]]}, FLOAT1, "Expecting object but got array at item 1"),
        ({"instances": [[1, 2], {"x": [3, 4]}]}, FLOAT1, "Expecting value/list but got object at item 1"),
        ({"instances": [[1, 2], [3, 4, 5]]}, FLOAT1, r"Input 'x'.*ragged.*instances\[1\] has 3 elements, expected 2"),
        ({"instances": [{"a": 1.0, "b": [2]}, {"a": 1.0, "b": 3}]}, TWO, r"Input 'b'.*ragged.*instances\[1\] is a int"),
        ({"instances": [[1, [2, 3]]]}, FLOAT1, r"Input 'x'.*ragged.*instances\[0\]\[1\] is a list, expected a scalar"),
        ({"inputs": {"a": [1.0]}}, TWO, "missing input 'b'.*inputs are: a, b"),
        ({"inputs": {"a": [1.0], "b": [1], "z": [0]}}, TWO, "unknown input 'z'"),
        ({"inputs": {"y": [[1, 2]]}}, FLOAT1, "unknown input 'y'.*inputs are: x"),
        ({"inputs": [1.0]}, TWO, "plain value/list.*several inputs: a, b"),
        ({"instances": [1.5]}, INT1, "Input 'n'.*1.5 Type: float is not of expected type: int32"),
        ({"instances": [True]}, INT1, "Input 'n'.*true Type: bool is not of expected type: int32"),
        ({"instances": [["1", 2]]}, FLOAT1, "Input 'x'.*\"1\" Type: string is not of expected type: float32"),
        ({"instances": [[False, 2]]}, FLOAT1, "Input 'x'.*Type: bool is not of expected type: float32"),
        ({"instances": [[b64(b"\x01"), 2]]}, FLOAT1, "Input 'x'.*Type: object is not of expected type: float32"),
        ({"instances": [[None, 2]]}, FLOAT1, "Input 'x'.*null Type: null is not of expected type"),
        ({"instances": ["a", 3]}, STR1, "Input 's'.*3 Type: int is not of expected type: string"),
        ({"instances": [1]}, {"f": TensorSpec(np.dtype(bool), None)}, "Input 'f'.*Type: int is not of expected type"),
        ({"instances": [{"b64": "!!!"}]}, STR1, "Input 's'.*Unable to base64 decode"),
        (
            {"instances": [{"b64": "QQ==", "x": 1}]},
            {"s": TensorSpec(STRING, None), "t": TensorSpec(STRING, None)},
            "Instance 0.*unknown input 'b64'",
        ),
        ({"inputs": [{"b64": 5}]}, STR1, "Input 's'.*not formatted correctly for base64"),
        ({"instances": [[300]]}, {"p": TensorSpec(np.dtype("uint8"), None)}, "Input 'p'.*300 is out of range for uint"),
        ({"instances": [-1]}, {"p": TensorSpec(np.dtype("uint8"), None)}, "Input 'p'.*-1 is out of range for uint8"),
        ({"instances": [2**40]}, INT1, "Input 'n'.*1099511627776 is out of range for int32"),
        ({"instances": [[2**24 + 1, 0]]}, FLOAT1, "Input 'x'.*16777217 to float32 without loss of precision"),
        ({"instances": [[1e39, 0]]}, FLOAT1, "Input 'x'.*1e\\+39 to float32 without loss of precision"),
        ({"instances": [2**53]}, {"d": TensorSpec(np.dtype("float64"), None)}, "Input 'd'.*float64 without loss"),
    ],
)
def test_predict_rejects(request_, specs, message):
    with pytest.raises(RestError, match=message):
        decode_predict_inputs(request_, specs)


def test_rest_error_is_value_error():
    assert issubclass(RestError, ValueError)
    with pytest.raises(ValueError):
        decode_predict_inputs({}, FLOAT1)


# --------------------------------------------------------------------------- predict: encoding


def test_encode_row_single_and_several_outputs():
    probs = np.array([[0.2, 0.8], [1.0, 0.0]], np.float32)
    assert encode_predict_outputs({"probs": probs}, "row") == {"predictions": [[0.2, 0.8], [1.0, 0.0]]}
    labels = np.array([3, 1], np.int64)
    encoded = encode_predict_outputs({"probs": probs, "label": labels, "ok": np.array([True, False])}, "row")
    assert encoded == {
        "predictions": [
            {"probs": [0.2, 0.8], "label": 3, "ok": True},
            {"probs": [1.0, 0.0], "label": 1, "ok": False},
        ]
    }
    assert all(type(row["label"]) is int for row in encoded["predictions"])


def test_encode_columnar_single_and_several_outputs():
    scores = np.array([[1.5], [2.5]], np.float64)
    assert encode_predict_outputs({"scores": scores}, "columnar") == {"outputs": [[1.5], [2.5]]}
    encoded = encode_predict_outputs({"scores": scores, "n": np.int32(4)}, "columnar")
    assert encoded == {"outputs": {"scores": [[1.5], [2.5]], "n": 4}}


def test_encode_strings_bytes_and_non_utf8():
    names = np.array([b"cat", "d\u00f6g".encode()], dtype=object)
    blob = np.array([[b"\x00\x01"], [b"ok"]], dtype=object)
    encoded = encode_predict_outputs({"names": names, "image_bytes": blob}, "row")
    assert encoded["predictions"][0] == {"names": "cat", "image_bytes": [{"b64": "AAE="}]}
    assert encoded["predictions"][1] == {"names": "d\u00f6g", "image_bytes": [{"b64": "b2s="}]}
    # Not valid UTF-8 and not named *_bytes: falls back to base64 instead of writing invalid JSON.
    raw = np.array([b"\xff"], dtype=object)
    assert encode_predict_outputs({"raw": raw}, "columnar") == {"outputs": [{"b64": "/w=="}]}
    assert encode_predict_outputs({"u": np.array(["x", "y"])}, "columnar") == {"outputs": ["x", "y"]}


def test_encode_nan_and_json_round_trip():
    encoded = encode_predict_outputs({"y": np.array([np.nan, np.inf, 0.1], np.float32)}, "columnar")
    text = json.dumps(encoded)
    assert text == '{"outputs": [NaN, Infinity, 0.1]}'
    assert parse_body(text)["outputs"][1] == math.inf


def test_round_trip_through_json_text():
    specs = {"x": TensorSpec(np.dtype("float32"), (None, 3)), "tag_bytes": TensorSpec(STRING, (None,))}
    original = {"x": np.array([[0.1, 0.2, 0.3]], np.float32), "tag_bytes": np.array([b"\x00\xfe"], dtype=object)}
    for fmt in ("row", "columnar"):
        body = json.dumps(encode_predict_outputs(original, fmt))
        doc = parse_body(body)
        request = {"instances": doc["predictions"]} if fmt == "row" else {"inputs": doc["outputs"]}
        decoded, got_fmt = decode_predict_inputs(request, specs)
        assert got_fmt == fmt
        np.testing.assert_array_equal(decoded["x"], original["x"])
        assert decoded["tag_bytes"].tolist() == [b"\x00\xfe"]


@pytest.mark.parametrize(
    "outputs, fmt, message",
    [
        ({"a": np.zeros((2, 1)), "b": np.zeros((3,))}, "row", "b has inconsistent batch size: 3 expecting: 2"),
        ({"s": np.float32(1.0)}, "row", "s has no shape information"),
        ({}, "row", "empty tensor map"),
        ({"a": np.zeros(2)}, "grpc", "Invalid request format"),
        ({"c": np.zeros(2, np.complex64)}, "columnar", "Output 'c'.*complex"),
    ],
)
def test_encode_outputs_rejects(outputs, fmt, message):
    with pytest.raises(RestError, match=message):
        encode_predict_outputs(outputs, fmt)


# --------------------------------------------------------------------------- classify / regress


def features(example) -> dict:
    """A tf.train.Example's features as {name: (kind, values)}."""
    out = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        out[name] = (kind, list(getattr(feature, kind).value) if kind else [])
    return out


def test_decode_examples_without_context():
    request = {
        "signature_name": "classify",
        "examples": [
            {"age": 42, "tags": ["a", "b"], "w": [1, 2.5], "blob": b64(b"\x00\x01"), "on": True, "empty": []},
            {"age": [1, 2], "h": 0.25},
        ],
    }
    result = decode_examples(request)
    assert result.WhichOneof("kind") == "example_list"
    first, second = result.example_list.examples
    assert features(first) == {
        "age": ("int64_list", [42]),
        "tags": ("bytes_list", [b"a", b"b"]),
        "w": ("float_list", [1.0, 2.5]),
        "blob": ("bytes_list", [b"\x00\x01"]),
        "on": ("int64_list", [1]),
        "empty": (None, []),
    }
    assert features(second) == {"age": ("int64_list", [1, 2]), "h": ("float_list", [0.25])}
    # The proto serializes and parses back as a tf.train.Example.
    from tensorflow.core.example import example_pb2

    parsed = example_pb2.Example.FromString(first.SerializeToString())
    assert list(parsed.features.feature["tags"].bytes_list.value) == [b"a", b"b"]


def test_decode_examples_with_context():
    result = decode_examples({"context": {"country": "fr", "year": 2024}, "examples": [{"q": "x"}, {"q": "y"}]})
    assert result.WhichOneof("kind") == "example_list_with_context"
    lists = result.example_list_with_context
    assert features(lists.context) == {"country": ("bytes_list", [b"fr"]), "year": ("int64_list", [2024])}
    assert [features(e)["q"] for e in lists.examples] == [("bytes_list", [b"x"]), ("bytes_list", [b"y"])]


@pytest.mark.parametrize(
    "request_, message",
    [
        ({"instances": [1]}, "'examples' is expected and was not found"),
        ({"examples": {"a": 1}}, "'examples' value to be a list.*object"),
        ({"examples": []}, "'examples' value is an empty array"),
        ({"examples": [[1, 2]]}, r"examples\[0\]: Example must be JSON object but got JSON array"),
        ({"examples": [{"a": [[1, 2]]}]}, "Feature: a has element with unexpected JSON type: array"),
        ({"examples": [{"a": None}]}, "Feature: a has element with unexpected JSON type: null"),
        ({"examples": [{"a": {"x": 1}}]}, "Feature: a has element with unexpected JSON type: object"),
        ({"examples": [{"a": ["s", 1]}]}, "Feature: a mixes strings and numbers"),
        ({"examples": [{"a": [1.5, True]}]}, "Feature: a mixes booleans and floats"),
        ({"examples": [{"a": 2**63}]}, "Feature: a has element 9223372036854775808 out of int64 range"),
        ({"examples": [{"a": [0.5, 1e39]}]}, "Feature: a.*to float without loss of precision"),
        ({"examples": [{"a": {"b64": "@@"}}]}, "Feature: a.*Unable to base64 decode"),
        ({"examples": [{"a": 1}], "context": [1]}, "context: Example must be JSON object but got JSON array"),
        ({"examples": [{"a": 1}], "context": {"c": [None]}}, "context: Feature: c has element with unexpected JSON"),
    ],
)
def test_decode_examples_rejects(request_, message):
    with pytest.raises(RestError, match=message):
        decode_examples(request_)


def test_encode_classification_and_regression():
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    result = classification_pb2.ClassificationResult()
    first = result.classifications.add()
    first.classes.add(label="cat", score=0.7)
    first.classes.add(label="dog", score=0.3)
    result.classifications.add().classes.add(score=0.9)  # No label: written as "".
    assert encode_classification(result) == {"results": [[["cat", 0.7], ["dog", 0.3]], [["", 0.9]]]}

    regression = regression_pb2.RegressionResult()
    for value in (0.1, -2.0, float("nan")):
        regression.regressions.add(value=value)
    encoded = encode_regression(regression)
    assert encoded["results"][:2] == [0.1, -2.0] and math.isnan(encoded["results"][2])
    assert json.dumps(encoded) == '{"results": [0.1, -2.0, NaN]}'

    with pytest.raises(RestError, match="empty ClassificationResults"):
        encode_classification(classification_pb2.ClassificationResult())
    with pytest.raises(RestError, match="empty RegressionResults"):
        encode_regression(regression_pb2.RegressionResult())
