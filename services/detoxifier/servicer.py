"""gRPC adapter of the detoxifier service (skeleton: every RPC answers UNIMPLEMENTED)."""

from __future__ import annotations

from mis.v1 import detoxifier_pb2_grpc


class DetoxifierServicer(detoxifier_pb2_grpc.DetoxifierServiceServicer):
    pass
