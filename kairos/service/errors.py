"""Domain errors and their mapping to gRPC status codes."""

from __future__ import annotations

import logging
from typing import Any

import grpc

from kairos.service.decoding import UndecodableRequest, tolerant_deserializer
from kairos.service.interceptors import UnaryBehavior, UnaryInterceptor

log = logging.getLogger(__name__)


class InvalidArgument(ValueError):
    """Bad input. The message always starts with the offending field, e.g. 'events[3].timestamp_ms: ...'."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class Unavailable(RuntimeError):
    """A dependency is down; the caller may retry later."""


class NotFound(LookupError):
    """The request names something that does not exist; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")


class ErrorMappingInterceptor(UnaryInterceptor):
    """Turns InvalidArgument into INVALID_ARGUMENT, NotFound into NOT_FOUND, Unavailable into UNAVAILABLE and logs
    unexpected errors.

    Requests whose bytes do not decode (malformed protobuf, invalid UTF-8 in a string field) are answered
    INVALID_ARGUMENT naming the field, instead of grpc's UNKNOWN.
    """

    async def around(
        self,
        details: grpc.HandlerCallDetails,
        request: Any,
        context: grpc.aio.ServicerContext,
        call_next: UnaryBehavior,
    ) -> Any:
        if isinstance(request, UndecodableRequest):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.problem)
        try:
            return await call_next(request, context)
        except InvalidArgument as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Unavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except grpc.aio.AbortError:
            raise
        except Exception:
            log.exception("unhandled error", extra={"method": details.method})
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")

    def adapt(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(
            handler.unary_unary,
            request_deserializer=tolerant_deserializer(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
