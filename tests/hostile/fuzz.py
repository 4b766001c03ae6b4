"""Hostile inputs for any gRPC service of the platform, generated from its
proto descriptors: random bytes, random messages, mutations of a valid
request, and the targeted images (a decompression bomb, a truncated PNG, text
posing as an image). Calls go out as raw bytes, so nothing on the client side
checks or repairs them, and every call has a deadline."""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass
from typing import AsyncIterator

import grpc
from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.images import to_png

DEADLINE_SECONDS = 15.0
# Client mistakes and refusals: the only answers a hostile call may get while
# the store is healthy. UNKNOWN, INTERNAL, UNAVAILABLE and DEADLINE_EXCEEDED
# (a hang) are failures.
CLEAN_CODES = frozenset({
    grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.ALREADY_EXISTS,
})


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A PNG of a few dozen bytes whose header declares width x height pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))


def small_png(seed: int = 0, size: int = 32) -> bytes:
    from PIL import Image
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size), tuple(rng.randrange(256) for _ in range(3)))
    return to_png(image)


def truncated_png() -> bytes:
    whole = small_png(7, 64)
    return whole[: len(whole) // 2]


HOSTILE_IMAGES = (bomb_png(), truncated_png(), b"not an image, a line of text",
                  b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)


@dataclass(frozen=True)
class Rpc:
    path: str
    request_class: type
    client_streaming: bool
    server_streaming: bool


def rpcs_of(pb2_module, service: str) -> list[Rpc]:
    described = pb2_module.DESCRIPTOR.services_by_name[service]
    return [Rpc(f"/{described.full_name}/{method.name}",
                message_factory.GetMessageClass(method.input_type),
                method.client_streaming, method.server_streaming)
            for method in described.methods]


class Generator:
    """Random values for protobuf fields, biased towards edges and hostile images."""

    STRINGS = ("", " ", "a" * 5000, "..", "../../etc/passwd", "\x00", "é\u202e\ud7ff",
               "images/sha256/00/none.png", "[[[[[[", "1" * 5000, "{\"a\":" * 50, "\n")

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def scalar(self, field: pb_descriptor.FieldDescriptor):
        rng, kind = self.rng, field.type
        if kind == field.TYPE_STRING:
            if rng.random() < 0.5:
                return rng.choice(self.STRINGS)
            return "".join(chr(rng.randrange(32, 0x2FF)) for _ in range(rng.randrange(0, 40)))
        if kind == field.TYPE_BYTES:
            if rng.random() < 0.5:
                return rng.choice(HOSTILE_IMAGES + (small_png(rng.randrange(100)),))
            return rng.randbytes(rng.randrange(0, 64))
        if kind == field.TYPE_BOOL:
            return rng.random() < 0.5
        if kind in (field.TYPE_FLOAT, field.TYPE_DOUBLE):
            return rng.choice((0.0, -1.0, 1e30, -1e30, 0.5, float("nan"), float("inf")))
        if kind == field.TYPE_ENUM:
            values = [value.number for value in field.enum_type.values]
            return rng.choice(values + [999, -1])
        unsigned = kind in (field.TYPE_UINT32, field.TYPE_UINT64, field.TYPE_FIXED32,
                            field.TYPE_FIXED64)
        bits = 32 if kind in (field.TYPE_INT32, field.TYPE_UINT32, field.TYPE_SINT32,
                              field.TYPE_FIXED32, field.TYPE_SFIXED32) else 64
        edges = (0, 1, 2, 3, 16, 1024, (1 << bits - 1) - 1) if not unsigned else (0, 1, 3, (1 << bits) - 1)
        value = rng.choice(edges)
        return -value if not unsigned and rng.random() < 0.3 else value

    def fill(self, message, depth: int = 0) -> None:
        for field in message.DESCRIPTOR.fields:
            if self.rng.random() < 0.35:
                continue
            repeated = field.is_repeated
            count = self.rng.randrange(0, 4) if repeated else 1
            for _ in range(count):
                if field.type == field.TYPE_MESSAGE:
                    if field.message_type.GetOptions().map_entry or depth > 3:
                        continue
                    target = getattr(message, field.name).add() if repeated else getattr(message, field.name)
                    self.fill(target, depth + 1)
                    if not repeated:
                        target.SetInParent()
                elif repeated:
                    getattr(message, field.name).append(self.scalar(field))
                else:
                    setattr(message, field.name, self.scalar(field))

    def message(self, request_class) -> bytes:
        message = request_class()
        self.fill(message)
        return message.SerializeToString()

    def mutation(self, valid: bytes) -> bytes:
        data = bytearray(valid)
        choice = self.rng.randrange(4)
        if choice == 0 and data:
            for _ in range(self.rng.randrange(1, 8)):
                data[self.rng.randrange(len(data))] = self.rng.randrange(256)
        elif choice == 1 and data:
            del data[self.rng.randrange(len(data)):]
        elif choice == 2:
            at = self.rng.randrange(len(data) + 1)
            data[at:at] = self.rng.randbytes(self.rng.randrange(1, 16))
        else:
            data += data[: self.rng.randrange(len(data) + 1)]
        return bytes(data)

    def garbage(self) -> bytes:
        return self.rng.choice((b"\xff" * 9, b"\x0a\xff\xff\xff\xff\x0f", b"\x08" * 3,
                                self.rng.randbytes(self.rng.randrange(1, 200))))


async def call_raw(channel: grpc.aio.Channel, rpc: Rpc, payload: bytes,
                   metadata: tuple = ()) -> grpc.StatusCode:
    """Send `payload` as the request body (one message on a stream) and return
    the status; stream answers are read to the end."""
    try:
        if rpc.client_streaming:
            async def one() -> AsyncIterator[bytes]:
                yield payload
            call = channel.stream_stream(rpc.path)(one(), timeout=DEADLINE_SECONDS, metadata=metadata)
            async for _ in call:
                pass
        elif rpc.server_streaming:
            async for _ in channel.unary_stream(rpc.path)(payload, timeout=DEADLINE_SECONDS,
                                                         metadata=metadata):
                pass
        else:
            await channel.unary_unary(rpc.path)(payload, timeout=DEADLINE_SECONDS, metadata=metadata)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def serving(channel: grpc.aio.Channel) -> bool:
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                            timeout=DEADLINE_SECONDS)
    return reply.status == health_pb2.HealthCheckResponse.SERVING
