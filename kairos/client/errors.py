"""One exception hierarchy for every failed call: :class:`KairosError` and a subclass per gRPC status code."""

from __future__ import annotations

import re

import grpc

_FIELD = re.compile(r"^([A-Za-z_][\w.\[\]]*): ")


class KairosError(Exception):
    """A call that did not succeed: the gRPC status code and the server's message (which names the field)."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(f"{(code or self.code).name}: {message}" if message else (code or self.code).name)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def field(self) -> str | None:
        """The request field the server's message starts with (e.g. 'k', 'events[3].timestamp_ms'), if any."""
        match = _FIELD.match(self.message)
        return match.group(1) if match else None

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later (the service was down, overloaded or too slow)."""
        return self.code in _RETRYABLE


class CallCancelledError(KairosError):
    """The call was cancelled (gRPC CANCELLED; a cancelled asyncio task raises asyncio.CancelledError)."""

    code = grpc.StatusCode.CANCELLED


class UnknownError(KairosError):
    code = grpc.StatusCode.UNKNOWN


class InvalidArgumentError(KairosError):
    """Bad input; the message starts with the offending field."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceededError(KairosError):
    """No answer within the call's deadline."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFoundError(KairosError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(KairosError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDeniedError(KairosError):
    """The bearer token is valid but lacks the scope this RPC needs."""

    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhaustedError(KairosError):
    """The server shed the call (overloaded) or a message was too large."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPreconditionError(KairosError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class AbortedError(KairosError):
    code = grpc.StatusCode.ABORTED


class OutOfRangeError(KairosError):
    code = grpc.StatusCode.OUT_OF_RANGE


class UnimplementedError(KairosError):
    code = grpc.StatusCode.UNIMPLEMENTED


class InternalError(KairosError):
    code = grpc.StatusCode.INTERNAL


class UnavailableError(KairosError):
    """The service (or a dependency it needs) cannot be reached; retried by the channel before surfacing."""

    code = grpc.StatusCode.UNAVAILABLE


class DataLossError(KairosError):
    code = grpc.StatusCode.DATA_LOSS


class UnauthenticatedError(KairosError):
    """No bearer token, or one the server does not accept."""

    code = grpc.StatusCode.UNAUTHENTICATED


_RETRYABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)
_BY_CODE: dict[grpc.StatusCode, type[KairosError]] = {
    cls.code: cls
    for cls in (
        CallCancelledError, UnknownError, InvalidArgumentError, DeadlineExceededError, NotFoundError,
        AlreadyExistsError, PermissionDeniedError, ResourceExhaustedError, FailedPreconditionError, AbortedError,
        OutOfRangeError, UnimplementedError, InternalError, UnavailableError, DataLossError, UnauthenticatedError,
    )
}  # fmt: skip


def error_for(code: grpc.StatusCode, message: str) -> KairosError:
    """The KairosError subclass for `code` (KairosError itself for a code without one)."""
    cls = _BY_CODE.get(code)
    return cls(message) if cls is not None else KairosError(message, code)


def from_rpc_error(error: grpc.RpcError) -> KairosError:
    """Map a failed call (grpc.aio.AioRpcError, or a blocking call's grpc.RpcError) to its KairosError."""
    code = error.code() if isinstance(error, grpc.Call | grpc.aio.AioRpcError) else grpc.StatusCode.UNKNOWN
    details = error.details() if isinstance(error, grpc.Call | grpc.aio.AioRpcError) else str(error)
    return error_for(code, details or "")
