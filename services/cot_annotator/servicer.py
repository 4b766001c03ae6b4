"""gRPC adapter of the cot-annotator service (skeleton: every RPC answers UNIMPLEMENTED)."""

from __future__ import annotations

from mis.v1 import cot_annotator_pb2_grpc


class CotAnnotatorServicer(cot_annotator_pb2_grpc.CotAnnotatorServiceServicer):
    pass
