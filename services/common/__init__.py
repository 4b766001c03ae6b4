"""What every MIS service shares: settings, logs, metrics, the gRPC server and
channels, the S3 store and the model clients. Nothing here knows a stage."""
