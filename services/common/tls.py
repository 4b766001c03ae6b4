"""TLS and mutual TLS credentials from PEM files (mounted Secrets in a pod)."""

from __future__ import annotations

from pathlib import Path

import grpc

from services.common.settings import SettingsError


def _read(path: Path, variable: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{variable}: cannot read {path}: {exc.strerror}") from None


def server_credentials(cert: Path | None, key: Path | None,
                       client_ca: Path | None) -> grpc.ServerCredentials | None:
    """TLS when cert and key are set; mutual TLS when a client CA is set too."""
    if cert is None and key is None:
        if client_ca is not None:
            raise SettingsError("MIS_TLS_CLIENT_CA: needs MIS_TLS_CERT and MIS_TLS_KEY as well")
        return None
    if cert is None or key is None:
        missing = "MIS_TLS_CERT" if cert is None else "MIS_TLS_KEY"
        raise SettingsError(f"{missing}: required when the other TLS file is set")
    pair = [(_read(key, "MIS_TLS_KEY"), _read(cert, "MIS_TLS_CERT"))]
    if client_ca is None:
        return grpc.ssl_server_credentials(pair)
    return grpc.ssl_server_credentials(pair, root_certificates=_read(client_ca, "MIS_TLS_CLIENT_CA"),
                                       require_client_auth=True)


def channel_credentials(ca: Path | None = None, cert: Path | None = None,
                        key: Path | None = None) -> grpc.ChannelCredentials:
    """Client side: trust `ca` (system roots when None), present cert/key for mTLS."""
    return grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes() if ca else None,
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )
