"""Server interceptors for cross-cutting concerns: request ids, logs and
metrics for every RPC, and bearer-token authentication.

Each interceptor wraps the method handler once with an async "around" hook,
whatever the streaming shape of the method, so concerns stay out of servicers.
"""

from __future__ import annotations

import hmac
import inspect
import logging
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import grpc

from services.common.logs import request_id_var
from services.common.metrics import Metrics

log = logging.getLogger("mis.rpc")

REQUEST_ID_KEY = "x-request-id"
# Health checks and reflection stay reachable without credentials so probes
# and discovery work; everything else is guarded.
PUBLIC_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

def metadata_value(context: grpc.aio.ServicerContext, key: str) -> str:
    for item in context.invocation_metadata() or ():
        if item.key == key:
            return item.value if isinstance(item.value, str) else item.value.decode()
    return ""


def wrap_handler(handler: grpc.RpcMethodHandler, method: str, before: Callable[
        [grpc.aio.ServicerContext, str], Awaitable[None]],
        after: Callable[[grpc.aio.ServicerContext, str, float, BaseException | None], None] | None = None,
) -> grpc.RpcMethodHandler:
    """Return `handler` with `before` awaited ahead of the call and `after` run when it ends."""

    def finish(context: grpc.aio.ServicerContext, started: float, error: BaseException | None) -> None:
        if after is not None:
            after(context, method, time.perf_counter() - started, error)

    if handler.unary_unary or handler.stream_unary:
        inner = handler.unary_unary or handler.stream_unary

        async def unary_response(request_or_iterator: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            error: BaseException | None = None
            try:
                await before(context, method)
                return await inner(request_or_iterator, context)
            except BaseException as exc:
                error = exc
                raise
            finally:
                finish(context, started, error)

        factory = (grpc.unary_unary_rpc_method_handler if handler.unary_unary
                   else grpc.stream_unary_rpc_method_handler)
        return factory(unary_response, request_deserializer=handler.request_deserializer,
                       response_serializer=handler.response_serializer)

    inner_stream = handler.unary_stream or handler.stream_stream

    async def stream_response(request_or_iterator: Any,
                              context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            await before(context, method)
            produced = inner_stream(request_or_iterator, context)
            if inspect.isawaitable(produced):
                # A handler that writes with `context.write` (grpc's health
                # Watch does) returns a coroutine, not an async iterator.
                await produced
            else:
                async for response in produced:
                    yield response
        except BaseException as exc:
            error = exc
            raise
        finally:
            finish(context, started, error)

    factory = (grpc.unary_stream_rpc_method_handler if handler.unary_stream
               else grpc.stream_stream_rpc_method_handler)
    return factory(stream_response, request_deserializer=handler.request_deserializer,
                   response_serializer=handler.response_serializer)


def _status_name(context: grpc.aio.ServicerContext, error: BaseException | None) -> str:
    code = context.code()
    if code is None:
        if error is None:
            return "OK"
        return "CANCELLED" if isinstance(error, (GeneratorExit,)) else "UNKNOWN"
    return code.name if isinstance(code, grpc.StatusCode) else str(code)


class ObservabilityInterceptor(grpc.aio.ServerInterceptor):
    """Gives every RPC a request id (taken from x-request-id or made), logs its
    outcome as JSON and records its count and latency."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method

        async def before(context: grpc.aio.ServicerContext, _method: str) -> None:
            request_id = metadata_value(context, REQUEST_ID_KEY) or uuid.uuid4().hex
            request_id_var.set(request_id)
            context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
            self.metrics.rpc_in_flight.inc()

        def after(context: grpc.aio.ServicerContext, _method: str, seconds: float,
                  error: BaseException | None) -> None:
            self.metrics.rpc_in_flight.dec()
            status = _status_name(context, error)
            self.metrics.rpc_total.labels(method, status).inc()
            self.metrics.rpc_seconds.labels(method).observe(seconds)
            if not method.startswith(PUBLIC_METHOD_PREFIXES):
                level = logging.INFO if status in ("OK", "CANCELLED") else logging.WARNING
                log.log(level, "rpc", extra={"method": method, "code": status,
                                             "seconds": round(seconds, 4)})

        return wrap_handler(handler, method, before, after)


def load_tokens(path: Path) -> dict[str, str]:
    """Read bearer tokens, one per line as `token` or `name:token`; # starts a comment.

    Returns token -> caller name, the name being what logs and rate limits use.
    """
    tokens: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, token = line.rpartition(":")
        token = token.strip()
        if len(token) < 16:
            raise ValueError(f"{path}:{number}: token shorter than 16 characters")
        tokens[token] = name.strip() or f"token-{number}"
    if not tokens:
        raise ValueError(f"{path}: no tokens")
    return tokens


def caller_tokens(path: Path | None, service: str) -> dict[str, str] | None:
    """The tokens a service accepts (MIS_AUTH_TOKENS_FILE), or None with a
    warning when no file is set: unauthenticated calls are then accepted,
    which only a local stack should do."""
    from services.common.settings import SettingsError

    if path is None:
        log.warning(f"MIS_AUTH_TOKENS_FILE is unset: the {service} accepts unauthenticated calls "
                    "(acceptable only on a local stack)")
        return None
    try:
        return load_tokens(path)
    except (OSError, ValueError) as exc:
        raise SettingsError(f"MIS_AUTH_TOKENS_FILE: {exc}") from None


def call_metadata(handler_call_details, key: str) -> str:
    """A metadata value of a call as the interceptor sees it, before any body is read."""
    for item_key, value in handler_call_details.invocation_metadata or ():
        if item_key == key:
            return value if isinstance(value, str) else value.decode()
    return ""


# Messages a refused stream reads (and drops) before answering a client that
# never stops writing.
REFUSED_STREAM_MESSAGES = 1024


def refusal(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, details: str) -> grpc.RpcMethodHandler:
    """A handler answering `code` without reading the request body.

    It takes the request as a stream whatever the method's shape (the wire
    format is the same), and a stream handler receives no message until it
    asks for one: a refused 40 MB body stays in the sender's flow-control
    window instead of this process's memory.
    """
    options = {"request_deserializer": lambda _raw: None,
               "response_serializer": handler.response_serializer}
    if handler.unary_unary or handler.stream_unary:
        async def refuse_unary(_requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
            await context.abort(code, details)
        return grpc.stream_unary_rpc_method_handler(refuse_unary, **options)

    async def refuse_stream(requests: AsyncIterator[Any],
                            context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        # Answer once the client has finished writing (its messages are
        # dropped undecoded, one at a time): answering while it still writes
        # races its next write, and grpc's client then reports an INTERNAL
        # error instead of our status. A client that never stops writing is
        # answered after REFUSED_STREAM_MESSAGES. Initial metadata first, for
        # clients that wait for it before sending.
        await context.send_initial_metadata(())
        seen = 0
        async for _ignored in requests:
            seen += 1
            if seen >= REFUSED_STREAM_MESSAGES:
                break
        await context.abort(code, details)
        yield None  # unreachable: abort raises; makes this an async generator
    return grpc.stream_stream_rpc_method_handler(refuse_stream, **options)


class BearerAuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without a known `authorization: Bearer <token>` with
    UNAUTHENTICATED, from the metadata alone, before the body is read or
    decoded; health and reflection stay open."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self._tokens = dict(tokens)

    def caller_of_header(self, header: str) -> str | None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        for known, name in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.strip().encode()):
                return name
        return None

    def caller(self, context: grpc.aio.ServicerContext) -> str | None:
        return self.caller_of_header(metadata_value(context, "authorization"))

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(PUBLIC_METHOD_PREFIXES):
            return handler
        if self.caller_of_header(call_metadata(handler_call_details, "authorization")) is None:
            return refusal(handler, grpc.StatusCode.UNAUTHENTICATED,
                           "missing or unknown bearer token in the authorization metadata")
        return handler


def bearer_token(header: str) -> str:
    """The token of an `authorization: Bearer <token>` header (empty when none)."""
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def caller_of(context: grpc.aio.ServicerContext) -> str:
    """The bearer token of a call (empty when none), for per-caller limits."""
    return bearer_token(metadata_value(context, "authorization"))
