"""gRPC adapter of the extractor service (skeleton: every RPC answers UNIMPLEMENTED)."""

from __future__ import annotations

from mis.v1 import extractor_pb2_grpc


class ExtractorServicer(extractor_pb2_grpc.ExtractorServiceServicer):
    pass
