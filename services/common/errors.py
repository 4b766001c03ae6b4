"""Domain errors and their gRPC status codes, mapped in one place.

Logic raises these plain exceptions (it knows nothing of gRPC); `grpc_errors`
turns them into `context.abort` with the right code, so a servicer never sends
an empty reply and never leaks a traceback as UNKNOWN.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any, Callable

import grpc

from services.common.images import ImageRejected
from services.common.models.base import ModelUnavailable
from services.common.store import InvalidReference, ObjectNotFound, StoreError

log = logging.getLogger("mis.errors")


class InvalidArgument(ValueError):
    """A request field is missing or malformed."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotFound(LookupError):
    pass


class ResourceExhausted(RuntimeError):
    pass


class FailedPrecondition(RuntimeError):
    pass


class AlreadyExists(RuntimeError):
    """An idempotency key was already used for a different request."""


class Unavailable(RuntimeError):
    """A service this call needs did not answer; the same call may succeed later."""


def status_for(exc: BaseException) -> grpc.StatusCode | None:
    """The status code for a domain error, or None for an unexpected one."""
    if isinstance(exc, (InvalidArgument, ImageRejected, InvalidReference)):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(exc, (NotFound, ObjectNotFound)):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(exc, ResourceExhausted):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(exc, FailedPrecondition):
        return grpc.StatusCode.FAILED_PRECONDITION
    if isinstance(exc, AlreadyExists):
        return grpc.StatusCode.ALREADY_EXISTS
    if isinstance(exc, (ModelUnavailable, StoreError, Unavailable)):
        return grpc.StatusCode.UNAVAILABLE
    return None


def require(condition: Any, field: str, reason: str) -> None:
    if not condition:
        raise InvalidArgument(field, reason)


def grpc_errors(method: Callable) -> Callable:
    """Decorate a servicer method (unary or streaming) to map domain errors."""

    async def abort(context: grpc.aio.ServicerContext, exc: Exception) -> None:
        code = status_for(exc)
        if code is None:
            log.exception("unexpected error in %s", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}")
        await context.abort(code, str(exc))

    if inspect.isasyncgenfunction(method):
        @functools.wraps(method)
        async def streaming(self, request, context):
            try:
                async for item in method(self, request, context):
                    yield item
            except (grpc.aio.AbortError, grpc.aio.BaseError):
                raise
            except Exception as exc:
                await abort(context, exc)
        return streaming

    @functools.wraps(method)
    async def unary(self, request, context):
        try:
            return await method(self, request, context)
        except (grpc.aio.AbortError, grpc.aio.BaseError):
            raise
        except Exception as exc:
            await abort(context, exc)
    return unary
