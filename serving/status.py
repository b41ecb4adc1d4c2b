"""Status codes and the one exception type the request handlers raise.

Codes are `tensorflow.error.Code` numbers, which are gRPC's status code numbers. Each transport
turns a ServingError into its own form: a gRPC status, or an HTTP status with a JSON body.
"""

from __future__ import annotations

import enum

from tensorslow.framework import errors as ts_errors

# tensorflow.error.Code, from the one table the library keeps (tensorslow.framework.errors).
Code = enum.IntEnum("Code", {name: code for code, name in sorted(ts_errors.CODE_NAMES.items())})


# TensorFlow Serving's mapping from status code to HTTP status (its REST server's).
HTTP_STATUS = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}


class ServingError(Exception):
    """A failed request or load: a status code and a message for the caller."""

    def __init__(self, code: Code | int, message: str):
        super().__init__(message)
        self.code = Code(code)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


def invalid_argument(message: str) -> ServingError:
    return ServingError(Code.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(Code.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingError:
    return ServingError(Code.FAILED_PRECONDITION, message)


def unavailable(message: str) -> ServingError:
    return ServingError(Code.UNAVAILABLE, message)


def resource_exhausted(message: str) -> ServingError:
    return ServingError(Code.RESOURCE_EXHAUSTED, message)


def deadline_exceeded(message: str = "Deadline exceeded") -> ServingError:
    return ServingError(Code.DEADLINE_EXCEEDED, message)


def internal(message: str) -> ServingError:
    return ServingError(Code.INTERNAL, message)


def from_exception(error: BaseException) -> ServingError:
    """The ServingError for any exception: TensorSlow's OpErrors keep their code."""
    if isinstance(error, ServingError):
        return error
    if isinstance(error, ts_errors.OpError):
        return ServingError(error.error_code, error.message or str(error))
    return ServingError(Code.INTERNAL, f"{type(error).__name__}: {error}")
