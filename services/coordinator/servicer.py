"""gRPC adapter of the coordinator service (skeleton: every RPC answers UNIMPLEMENTED)."""

from __future__ import annotations

from mis.v1 import coordinator_pb2_grpc


class CoordinatorServicer(coordinator_pb2_grpc.CoordinatorServiceServicer):
    pass
