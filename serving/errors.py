"""Errors carrying TF Serving's status codes, and their HTTP equivalents."""

from __future__ import annotations

import grpc

# TF Serving's ToHTTPStatusCode (model_servers/http_server.cc).
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}
_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class ServingError(Exception):
    """A request failure with a gRPC status code (``grpc.StatusCode``) and a message for the caller."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    @property
    def code_name(self) -> str:
        return self.code.name


def invalid_argument(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.FAILED_PRECONDITION, message)


def unavailable(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.UNAVAILABLE, message)


def code_from_number(number: int) -> grpc.StatusCode:
    """The ``grpc.StatusCode`` of a numeric code (TensorFlow's ``OpError.error_code`` uses the same numbers)."""
    return _BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


def _first_line(message, err: BaseException) -> str:
    return (str(message or "").strip().splitlines() or [type(err).__name__])[0]


def _op_error_line(err) -> str:
    """The informative line of a TensorFlow op error: a failed assertion's message when there is one,
    else the first line that is not graph-execution boilerplate or a traceback."""
    lines = [line.strip() for line in str(err.message or "").splitlines() if line.strip()]
    for line in lines:
        if line.startswith("assertion failed:"):
            return line
    useful = [
        l
        for l in lines
        if l not in ("Graph execution error:", "<stack traces unavailable>")
        and not l.startswith(("Detected at node", "File ", "[[{{node"))
    ]
    return (useful or lines or [type(err).__name__])[0]


def from_exception(err: BaseException) -> ServingError:
    """Maps an exception raised while running a model to a ``ServingError``.

    TensorFlow's op errors keep their code (a bad tf.Example is INVALID_ARGUMENT);
    Python-side argument errors are INVALID_ARGUMENT; anything else is INTERNAL.
    """
    if isinstance(err, ServingError):
        return err
    import tensorflow as tf

    if isinstance(err, tf.errors.OpError):
        return ServingError(code_from_number(err.error_code), _op_error_line(err))
    if isinstance(err, (ValueError, TypeError)):
        return invalid_argument(_first_line(str(err), err))
    return ServingError(grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {err}")
