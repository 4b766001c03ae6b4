"""Settings groups every service composes into its own settings class.

Variable names are the deployment contract: the Helm chart, the local stack and
docs/configuration.md use exactly these.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.settings import env, non_negative, one_of, port_number, positive


@dataclass(frozen=True)
class ServerSettings:
    """How a service listens: address, limits, TLS, drain and metrics."""

    host: str = env("MIS_HOST", "127.0.0.1", help="address to bind; 0.0.0.0 in a pod")
    port: int = env("MIS_PORT", 0, check=port_number, help="gRPC port; 0 picks a free one")
    metrics_port: int | None = env("MIS_METRICS_PORT", None, check=port_number,
                                   help="Prometheus /metrics port; unset disables it")
    max_message_bytes: int = env("MIS_MAX_MESSAGE_BYTES", 64 * 1024 * 1024, check=positive,
                                 help="largest gRPC message accepted or sent")
    max_concurrent_rpcs: int = env("MIS_MAX_CONCURRENT_RPCS", 100, check=positive,
                                   help="calls in flight at most (streams and health checks "
                                        "included); more get RESOURCE_EXHAUSTED unread")
    grace_seconds: float = env("MIS_GRACE_SECONDS", 20.0, check=non_negative,
                               help="drain time on SIGTERM; keep it below the pod's grace period")
    tls_cert: Path | None = env("MIS_TLS_CERT", None, help="PEM certificate; enables TLS with MIS_TLS_KEY")
    tls_key: Path | None = env("MIS_TLS_KEY", None, help="PEM private key")
    tls_client_ca: Path | None = env("MIS_TLS_CLIENT_CA", None,
                                     help="PEM CA bundle; when set, clients must present a certificate (mTLS)")
    log_level: str = env("MIS_LOG_LEVEL", "INFO", check=one_of("DEBUG", "INFO", "WARNING", "ERROR"))
    parent_pid: int | None = env("MIS_PARENT_PID", None, check=positive,
                                 help="drain and exit when this process is gone (test runs and the "
                                      "local stack set it, so a killed parent leaves no service behind)")


@dataclass(frozen=True)
class StoreSettings:
    """Where images and artifacts live: any S3 endpoint reached through `minio`."""

    endpoint: str = env("MIS_S3_ENDPOINT", "127.0.0.1:9000", help="host:port of the S3 server")
    access_key: str = env("MIS_S3_ACCESS_KEY", "mis", secret=True)
    secret_key: str = env("MIS_S3_SECRET_KEY", "mis-secret-key", secret=True)
    bucket: str = env("MIS_S3_BUCKET", "mis", help="bucket for images and artifacts")
    secure: bool = env("MIS_S3_SECURE", False, help="use HTTPS")
    region: str = env("MIS_S3_REGION", "us-east-1")
    max_image_bytes: int = env("MIS_MAX_IMAGE_BYTES", 20 * 1024 * 1024, check=positive,
                               help="larger images are rejected")
    timeout_seconds: float = env("MIS_S3_TIMEOUT_SECONDS", 30.0, check=positive)


@dataclass(frozen=True)
class ModelEndpointSettings:
    """One model endpoint; a service reads it under a prefix such as MIS_LLM_ or MIS_VLM_."""

    backend: str = env("BACKEND", "offline", check=one_of("offline", "openai"),
                       help="offline: deterministic dry-run backend; openai: any OpenAI-compatible API")
    base_url: str = env("BASE_URL", "", help="e.g. http://vllm-qwen:8000/v1; empty for api.openai.com")
    model: str = env("MODEL", "", help="served model name, e.g. Qwen/Qwen2.5-72B-Instruct or gpt-4o")
    api_key: str = env("API_KEY", "", secret=True, help="API key; vLLM accepts any")
    api_key_file: Path | None = env("API_KEY_FILE", None, help="file holding the API key (a mounted Secret)")
    concurrency: int = env("CONCURRENCY", 8, check=positive, help="requests in flight to this endpoint at most")
    timeout_seconds: float = env("TIMEOUT_SECONDS", 120.0, check=positive, help="deadline per request")
    max_attempts: int = env("MAX_ATTEMPTS", 4, check=positive, help="attempts on 429, 5xx and timeouts")
    temperature: float = env("TEMPERATURE", 0.0, check=non_negative)
    seed: int | None = env("SEED", None,
                           help="sampling seed: each call is seeded from it and the call's own inputs, so "
                                "a rerun samples the same answers (vLLM honours it; OpenAI best effort); "
                                "empty: unseeded")
    max_tokens: int = env("MAX_TOKENS", 1024, check=positive)

    def resolved_api_key(self) -> str:
        """The key from the file when one is mounted, else the variable."""
        if self.api_key_file is not None:
            return self.api_key_file.read_text().strip()
        return self.api_key


@dataclass(frozen=True)
class JudgeClientSettings:
    """How a service reaches the judge (the cot-annotator's quality gate)."""

    address: str = env("MIS_JUDGE_ADDRESS", "", help="judge service target; empty: no judge")
    token_file: Path | None = env("MIS_JUDGE_TOKEN_FILE", None,
                                  help="bearer token for the judge (a mounted Secret)")
    ca_file: Path | None = env("MIS_JUDGE_CA_FILE", None,
                               help="CA bundle of the judge's certificate; enables TLS")
    timeout_seconds: float = env("MIS_JUDGE_TIMEOUT_SECONDS", 60.0, check=positive,
                                 help="deadline of one judge call")

    def token(self) -> str | None:
        return self.token_file.read_text().strip() if self.token_file else None
