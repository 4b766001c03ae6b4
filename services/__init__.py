"""The MIS platform's services: one folder per gRPC service, plus `common`."""
