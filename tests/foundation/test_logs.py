"""JSON logs carry the request id and never a secret."""

from __future__ import annotations

import io
import json
import logging

from services.common.logs import JsonFormatter, RedactingFilter, request_id_var


def capture(secrets=()):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    handler.addFilter(RedactingFilter(secrets))
    logger = logging.getLogger(f"mis.test.{len(secrets)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_json_lines_with_request_id_and_extras():
    logger, stream = capture()
    token = request_id_var.set("abc123")
    try:
        logger.info("rpc", extra={"method": "/x", "seconds": 0.5})
    finally:
        request_id_var.reset(token)
    entry = json.loads(stream.getvalue())
    assert entry["request_id"] == "abc123"
    assert (entry["msg"], entry["method"], entry["seconds"], entry["service"]) == ("rpc", "/x", 0.5, "test")


def test_secrets_are_masked_in_messages_and_tracebacks():
    logger, stream = capture(secrets=["hunter2-very-secret"])
    logger.warning("calling with Bearer abcdefghijklmnop and key sk-live1234567890")
    logger.info("configured password=hunter2-very-secret")
    try:
        raise RuntimeError("api_key=topsecretvalue failed")
    except RuntimeError:
        logger.exception("boom")
    text = stream.getvalue()
    for secret in ("abcdefghijklmnop", "sk-live1234567890", "hunter2-very-secret", "topsecretvalue"):
        assert secret not in text
    assert text.count("***") >= 4
