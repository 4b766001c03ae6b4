"""gRPC adapter of the filter service (skeleton: every RPC answers UNIMPLEMENTED)."""

from __future__ import annotations

from mis.v1 import filter_pb2_grpc


class FilterServicer(filter_pb2_grpc.FilterServiceServicer):
    pass
