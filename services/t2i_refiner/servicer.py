"""gRPC adapter of the t2i-refiner service (skeleton: every RPC answers UNIMPLEMENTED)."""

from __future__ import annotations

from mis.v1 import t2i_refiner_pb2_grpc


class T2IRefinerServicer(t2i_refiner_pb2_grpc.T2IRefinerServiceServicer):
    pass
