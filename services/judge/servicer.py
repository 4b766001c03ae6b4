"""gRPC adapter of the judge service (skeleton: every RPC answers UNIMPLEMENTED)."""

from __future__ import annotations

from mis.v1 import judge_pb2_grpc


class JudgeServicer(judge_pb2_grpc.JudgeServiceServicer):
    pass
