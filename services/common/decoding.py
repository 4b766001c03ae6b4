"""Request bodies that do not decode are the caller's mistake, not the server's.

grpc decodes a request before any project code runs; a deserializer that
raises makes grpc log a stack trace at ERROR and answer UNKNOWN (INTERNAL on a
stream). `DecodeGuard`, the innermost interceptor, swaps in a deserializer
that turns a bad body into an `Undecodable` marker, and answers the marker with
INVALID_ARGUMENT when the handler would see it. Being innermost, every outer
check (authentication, admission) has already answered by then, so a caller
without a token gets UNAUTHENTICATED whatever it sent.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, AsyncIterator, Callable

import grpc

log = logging.getLogger("mis.rpc")


class Undecodable:
    """Stands in for a request message whose bytes did not parse."""

    __slots__ = ("message_type", "error")

    def __init__(self, message_type: str, error: str) -> None:
        self.message_type = message_type
        self.error = error

    @property
    def details(self) -> str:
        return f"request body: not a valid {self.message_type} message ({self.error})"


def message_type_of(deserializer: Callable[[bytes], Any]) -> str:
    """The full proto name a generated `FromString` parses, for error messages."""
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return getattr(descriptor, "full_name", "request")


def tolerant(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """`deserializer`, returning an `Undecodable` where it would raise."""
    message_type = message_type_of(deserializer)

    def deserialize(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        # Whatever the parser raises (DecodeError, RecursionError on deep
        # nesting, ValueError) means the same thing: these bytes are not a
        # message of this type.
        except Exception as exc:  # noqa: BLE001
            return Undecodable(message_type, type(exc).__name__)

    return deserialize


async def refuse(context: grpc.aio.ServicerContext, method: str, bad: Undecodable) -> None:
    log.warning("undecodable request", extra={"method": method, "message_type": bad.message_type,
                                               "error": bad.error})
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, bad.details)


async def responses(result: Any) -> AsyncIterator[Any]:
    """A streaming handler's answers, whether it is an async generator or a
    coroutine that writes through `context.write` (the health service's Watch)."""
    if hasattr(result, "__aiter__"):
        async for response in result:
            yield response
    elif inspect.isawaitable(result):
        await result


def guard(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    """`handler` with a tolerant deserializer and INVALID_ARGUMENT for bad bodies."""

    async def checked(requests: AsyncIterator[Any], context) -> AsyncIterator[Any]:
        async for request in requests:
            if isinstance(request, Undecodable):
                await refuse(context, method, request)
            yield request

    options = {"request_deserializer": tolerant(handler.request_deserializer),
               "response_serializer": handler.response_serializer}
    if handler.unary_unary:
        async def unary_unary(request, context):
            if isinstance(request, Undecodable):
                await refuse(context, method, request)
            return await handler.unary_unary(request, context)
        return grpc.unary_unary_rpc_method_handler(unary_unary, **options)
    if handler.unary_stream:
        async def unary_stream(request, context):
            if isinstance(request, Undecodable):
                await refuse(context, method, request)
            async for response in responses(handler.unary_stream(request, context)):
                yield response
        return grpc.unary_stream_rpc_method_handler(unary_stream, **options)
    if handler.stream_unary:
        async def stream_unary(requests, context):
            return await handler.stream_unary(checked(requests, context), context)
        return grpc.stream_unary_rpc_method_handler(stream_unary, **options)

    async def stream_stream(requests, context):
        async for response in responses(handler.stream_stream(checked(requests, context), context)):
            yield response
    return grpc.stream_stream_rpc_method_handler(stream_stream, **options)


class DecodeGuard(grpc.aio.ServerInterceptor):
    """Answers undecodable request bodies with INVALID_ARGUMENT; keep it last
    in the interceptor list so it wraps the servicer directly."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        return guard(handler, handler_call_details.method)
