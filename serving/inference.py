"""The inference APIs on protos: Predict, Classify, Regress, MultiInference, GetModelMetadata.

Both front ends (gRPC and REST) call these, so behaviour and errors are the same
on either wire. Messages and codes follow TF Serving's implementation
(``predict_util.cc``, ``classifier.cc``, ``regressor.cc``, ``multi_inference.cc``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    input_pb2,
    predict_pb2,
    prediction_log_pb2,
    regression_pb2,
)

from zoo.serving import errors
from zoo.serving.drain import Drain
from zoo.serving.exporter import WARMUP_FILE
from zoo.serving.manager import ModelManager
from zoo.serving.metrics import ServingMetrics
from zoo.serving.servable import CLASSIFY_METHOD, DEFAULT_SIGNATURE, REGRESS_METHOD, Servable
from zoo.serving.tensors import TensorConversionError, to_array, to_tensor_proto

logger = logging.getLogger(__name__)

MAX_WARMUP_RECORDS = 1000
#: The input alias of Classify and Regress signatures (TF's CLASSIFY_INPUTS / REGRESS_INPUTS).
INPUTS_KEY = "inputs"


def serialized_examples(request_input: input_pb2.Input) -> np.ndarray:
    """The serialized tf.Examples of an ``Input``; context features are merged into each example.

    Raises:
        ServingError: INVALID_ARGUMENT for an empty input.
    """
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        serialized = [e.SerializeToString() for e in request_input.example_list.examples]
    elif kind == "example_list_with_context":
        # Concatenated protobuf encodings parse as a merge: context first, then the example.
        context = request_input.example_list_with_context.context.SerializeToString()
        serialized = [context + e.SerializeToString() for e in request_input.example_list_with_context.examples]
    else:
        serialized = []
    if not serialized:
        raise errors.invalid_argument("Input is empty.")
    array = np.empty(len(serialized), dtype=object)
    array[:] = serialized
    return array


def _request_arrays(request: predict_pb2.PredictRequest) -> dict[str, np.ndarray]:
    """A PredictRequest's input tensors as arrays.

    Raises:
        ServingError: INVALID_ARGUMENT naming a tensor that does not convert.
    """
    inputs = {}
    for alias, proto in request.inputs.items():
        try:
            inputs[alias] = to_array(proto)
        except TensorConversionError as err:
            raise errors.invalid_argument(f"tensor parsing error: {alias}: {err}") from None
    return inputs


def _filtered(outputs: dict[str, np.ndarray], wanted: list[str]) -> dict[str, np.ndarray]:
    return {alias: outputs[alias] for alias in wanted} if wanted else outputs


class InferenceService:
    """Answers inference requests against the servables of a ``ModelManager``.

    Args:
        manager: the loaded models.
        metrics: where requests are counted and timed.
        tensor_content: Predict responses carry numeric outputs in ``tensor_content``
            (``--enable_serialization_as_tensor_content``); by default they fill the typed
            fields (``float_val``, ``int64_val``, ...) as TF Serving does.
        method_name_check: Classify / Regress / MultiInference require the signature's
            ``method_name`` to be theirs (``--enable_signature_method_name_check``). Off by
            default, as in TF Serving: a signature qualifies by its input and output names, so
            TF2 SavedModels (whose ``method_name`` is always predict) serve Classify and Regress.
        warmup_iterations: times each warmup record is replayed (``--num_request_iterations_for_warmup``).
    """

    def __init__(
        self,
        manager: ModelManager,
        metrics: ServingMetrics | None = None,
        *,
        tensor_content: bool = False,
        method_name_check: bool = False,
        warmup_iterations: int = 1,
    ):
        self.manager = manager
        self.metrics = metrics or ServingMetrics()
        self.drain = Drain()
        self.tensor_content = tensor_content
        self.method_name_check = method_name_check
        self.warmup_iterations = max(int(warmup_iterations), 1)

    # --- resolution -------------------------------------------------------
    def resolve(self, model_spec) -> Servable:
        """The servable a ``ModelSpec`` names (version, version label, or latest)."""
        choice = model_spec.WhichOneof("version_choice")
        version = model_spec.version.value if choice == "version" else None
        label = model_spec.version_label if choice == "version_label" else None
        return self.manager.servable(model_spec.name, version=version, label=label)

    @staticmethod
    def fill_spec(spec, servable: Servable, signature_name: str) -> None:
        spec.name = servable.name
        spec.version.value = servable.version
        spec.signature_name = signature_name

    def record(self, api: str, entrypoint: str, model_spec, response, code: str, seconds: float) -> None:
        """Counts and times one request (both front ends call this)."""
        name = model_spec.name if model_spec is not None else ""
        version, signature = "", model_spec.signature_name if model_spec is not None else ""
        if response is not None and response.model_spec.HasField("version"):
            version = str(response.model_spec.version.value)
            signature = response.model_spec.signature_name or signature
        self.metrics.request_count.inc(name, version, signature, api, entrypoint, code)
        self.metrics.request_latency.observe(seconds * 1e6, name, version, signature, api, entrypoint)

    def _run(self, servable: Servable, key: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        outputs = servable.run(key, inputs)
        self._observe_run(servable, key, start)
        return outputs

    async def _run_async(self, servable: Servable, key: str, inputs, executor) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        outputs = await servable.run_async(key, inputs, executor)
        self._observe_run(servable, key, start)
        return outputs

    def _observe_run(self, servable: Servable, key: str, start: float) -> None:
        self.metrics.runtime_latency.observe(
            (time.perf_counter() - start) * 1e6, servable.name, str(servable.version), key
        )

    # --- Predict ----------------------------------------------------------
    def checked_predict_inputs(
        self, servable: Servable, signature_name: str | None, inputs: Mapping[str, np.ndarray], output_filter=()
    ) -> tuple[str, list[str]]:
        """Checks a predict call on arrays; returns (signature key, the wanted output aliases, [] for all)."""
        key, signature = servable.signature(signature_name)
        wanted = list(output_filter)
        for alias in wanted:
            if alias not in signature.outputs:
                raise errors.invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                    f"{{{','.join(sorted(signature.outputs))}}}."
                )
        duplicate = next((a for a in wanted if wanted.count(a) > 1), None)
        if duplicate is not None:
            raise errors.invalid_argument(f"duplicate output tensor alias: {duplicate}")
        servable.check_inputs(key, inputs)
        return key, wanted

    def predict_arrays(
        self, servable: Servable, signature_name: str | None, inputs: Mapping[str, np.ndarray], output_filter=()
    ) -> tuple[str, dict[str, np.ndarray]]:
        """Runs a predict signature on arrays; returns (signature key, outputs)."""
        key, wanted = self.checked_predict_inputs(servable, signature_name, inputs, output_filter)
        return key, _filtered(self._run(servable, key, inputs), wanted)

    def predict_with(self, servable: Servable, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        inputs = _request_arrays(request)
        key, wanted = self.checked_predict_inputs(
            servable, request.model_spec.signature_name, inputs, request.output_filter
        )
        return self._predict_response(servable, key, _filtered(self._run(servable, key, inputs), wanted))

    def predict(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        return self.predict_with(self.resolve(request.model_spec), request)

    async def predict_async(self, request: predict_pb2.PredictRequest, executor=None) -> predict_pb2.PredictResponse:
        """``predict`` for the asyncio gRPC front end: the model runs on ``executor`` or in a merged batch."""
        servable = self.resolve(request.model_spec)
        inputs = _request_arrays(request)
        key, wanted = self.checked_predict_inputs(
            servable, request.model_spec.signature_name, inputs, request.output_filter
        )
        outputs = await self._run_async(servable, key, inputs, executor)
        return self._predict_response(servable, key, _filtered(outputs, wanted))

    def _predict_response(self, servable: Servable, key: str, outputs) -> predict_pb2.PredictResponse:
        response = predict_pb2.PredictResponse()
        self.fill_spec(response.model_spec, servable, key)
        for alias, value in outputs.items():
            response.outputs[alias].CopyFrom(to_tensor_proto(value, self.tensor_content))
        return response

    # --- Classify / Regress -------------------------------------------------
    def _method_signature(self, servable: Servable, name: str, method: str, kind: str) -> tuple[str, object]:
        """The Classify / Regress signature ``name``, checked as TF Serving's classifier.cc / regressor.cc do."""
        key = name or DEFAULT_SIGNATURE
        signature = servable.signature_defs.get(key)
        if signature is None:
            raise errors.invalid_argument(f"No signature was found with the name: {key}")
        if self.method_name_check and signature.method_name != method:
            raise errors.invalid_argument(
                f"Expected {kind} signature method_name to be {method}. Was: {signature.method_name}"
            )
        if len(signature.inputs) != 1:
            raise errors.invalid_argument("Expected one input Tensor.")
        if INPUTS_KEY not in signature.inputs:
            raise errors.invalid_argument(
                f"No {kind} inputs found in SignatureDef: {key} has inputs "
                f"{sorted(signature.inputs)}, expected '{INPUTS_KEY}'."
            )
        outputs = set(signature.outputs)
        if method == CLASSIFY_METHOD:
            if len(outputs) not in (1, 2):
                raise errors.invalid_argument(f"Expected one or two output Tensors, found {len(outputs)}")
            if not outputs & {"classes", "scores"}:
                raise errors.invalid_argument(
                    f'Expected classification signature outputs to contain at least one of "classes" or "scores". '
                    f"Signature {key} has {sorted(outputs)}."
                )
        else:
            if len(outputs) != 1:
                raise errors.invalid_argument("Expected one output Tensor.")
            if "outputs" not in outputs:
                raise errors.invalid_argument(
                    f"No regression outputs found in SignatureDef: {key} has outputs "
                    f"{sorted(outputs)}, expected 'outputs'."
                )
        return key, signature

    def _run_examples(
        self, servable: Servable, key: str, signature, request_input
    ) -> tuple[int, dict[str, np.ndarray]]:
        """Runs a one-input signature on the request's tf.Examples; returns (examples, outputs)."""
        examples = serialized_examples(request_input)
        return len(examples), self._run(servable, key, {INPUTS_KEY: examples})

    def classify_with(self, servable: Servable, request) -> classification_pb2.ClassificationResponse:
        key, signature = self._method_signature(
            servable, request.model_spec.signature_name, CLASSIFY_METHOD, "classification"
        )
        n, outputs = self._run_examples(servable, key, signature, request.input)
        classes, scores = outputs.get("classes"), outputs.get("scores")
        if classes is None and scores is None:
            raise errors.invalid_argument(f"Signature {key} has neither 'classes' nor 'scores' outputs.")
        classes = None if classes is None else np.asarray(classes).reshape(n, -1)
        scores = None if scores is None else np.asarray(scores, dtype=np.float32).reshape(n, -1)
        response = classification_pb2.ClassificationResponse()
        self.fill_spec(response.model_spec, servable, key)
        for i in range(n):
            entry = response.result.classifications.add()
            width = (classes if classes is not None else scores).shape[1]
            for j in range(width):
                label = classes[i, j] if classes is not None else b""
                entry.classes.add(
                    label=label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label),
                    score=float(scores[i, j]) if scores is not None else 0.0,
                )
        return response

    def classify(self, request: classification_pb2.ClassificationRequest):
        return self.classify_with(self.resolve(request.model_spec), request)

    def regress_with(self, servable: Servable, request) -> regression_pb2.RegressionResponse:
        key, signature = self._method_signature(
            servable, request.model_spec.signature_name, REGRESS_METHOD, "regression"
        )
        _, outputs = self._run_examples(servable, key, signature, request.input)
        if "outputs" not in outputs:
            raise errors.invalid_argument(f"Regression signature {key} has no 'outputs' output.")
        values = np.asarray(outputs["outputs"], dtype=np.float32).reshape(-1)
        response = regression_pb2.RegressionResponse()
        self.fill_spec(response.model_spec, servable, key)
        for value in values:
            response.result.regressions.add(value=float(value))
        return response

    def regress(self, request: regression_pb2.RegressionRequest):
        return self.regress_with(self.resolve(request.model_spec), request)

    def multi_inference(self, request: inference_pb2.MultiInferenceRequest) -> inference_pb2.MultiInferenceResponse:
        """Several classify/regress signatures of one model on the same input."""
        if not request.tasks:
            raise errors.invalid_argument("MultiInferenceRequest must contain at least one task.")
        names = {t.model_spec.name for t in request.tasks}
        if "" in names:
            raise errors.invalid_argument("Found ModelSpec with an empty model name.")
        if len(names) > 1:
            raise errors.invalid_argument("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
        return self.multi_inference_with(self.resolve(request.tasks[0].model_spec), request)

    def multi_inference_with(self, servable: Servable, request) -> inference_pb2.MultiInferenceResponse:
        """MultiInference on a resolved servable (the request's tasks all name it)."""
        seen = set()
        response = inference_pb2.MultiInferenceResponse()
        for task in request.tasks:
            key = task.model_spec.signature_name or DEFAULT_SIGNATURE
            if key in seen:
                raise errors.invalid_argument(f"Duplicate evaluation of signature: {key}")
            seen.add(key)
            result = response.results.add()
            if task.method_name == CLASSIFY_METHOD:
                sub = classification_pb2.ClassificationRequest(model_spec=task.model_spec, input=request.input)
                answer = self.classify_with(servable, sub)
                result.classification_result.CopyFrom(answer.result)
            elif task.method_name == REGRESS_METHOD:
                sub = regression_pb2.RegressionRequest(model_spec=task.model_spec, input=request.input)
                answer = self.regress_with(servable, sub)
                result.regression_result.CopyFrom(answer.result)
            else:
                raise errors.ServingError(
                    errors.grpc.StatusCode.UNIMPLEMENTED, f"Unsupported signature method_name: {task.method_name}"
                )
            result.model_spec.CopyFrom(answer.model_spec)
        return response

    # --- metadata -----------------------------------------------------------
    def metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest):
        if not request.metadata_field:
            raise errors.invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != "signature_def":
                raise errors.invalid_argument(f"Metadata field {field} is not supported")
        servable = self.resolve(request.model_spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        self.fill_spec(response.model_spec, servable, "")
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in servable.signature_defs.items():
            signature_map.signature_def[key].CopyFrom(signature)
        response.metadata["signature_def"].Pack(signature_map)
        return response

    # --- warmup -------------------------------------------------------------
    def warmup(self, servable: Servable) -> int:
        """Replays ``assets.extra/tf_serving_warmup_requests``; returns how many records ran.

        Raises:
            ServingError: INVALID_ARGUMENT for too many or unsupported records, or a
                failing request (the version then does not become AVAILABLE).
        """
        path = Path(servable.path) / "assets.extra" / WARMUP_FILE
        if not path.is_file():
            return 0
        import tensorflow as tf

        count = 0
        try:
            records = [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
        except tf.errors.OpError as err:
            raise errors.ServingError(
                errors.grpc.StatusCode.DATA_LOSS,
                f"{path}: {err.message}. Please verify your warmup data is in TFRecord format.",
            ) from None
        if len(records) > MAX_WARMUP_RECORDS:
            raise errors.invalid_argument(
                f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}"
            )
        for record in records:
            log = prediction_log_pb2.PredictionLog()
            try:
                log.ParseFromString(record)
            except Exception as err:  # noqa: BLE001 - protobuf DecodeError
                raise errors.invalid_argument(f"Failed to parse warmup record: {err}") from None
            kind = log.WhichOneof("log_type")
            if kind == "predict_log":
                replay = lambda: self.predict_with(servable, log.predict_log.request)  # noqa: E731
            elif kind == "classify_log":
                replay = lambda: self.classify_with(servable, log.classify_log.request)  # noqa: E731
            elif kind == "regress_log":
                replay = lambda: self.regress_with(servable, log.regress_log.request)  # noqa: E731
            elif kind == "multi_inference_log":
                replay = lambda: self.multi_inference_with(servable, log.multi_inference_log.request)  # noqa: E731
            else:
                raise errors.ServingError(
                    errors.grpc.StatusCode.UNIMPLEMENTED, f"Unsupported log_type for warmup: {kind}"
                )
            for _ in range(self.warmup_iterations):
                replay()
            count += 1
        return count
