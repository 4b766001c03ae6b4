"""Typed settings: a missing or malformed variable fails with its name."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.common.setting_groups import ModelEndpointSettings, ServerSettings, StoreSettings
from services.common.settings import (SettingsError, describe, env, group, load_settings,
                                      positive)


@dataclass(frozen=True)
class Example:
    required_name: str = env("EXAMPLE_NAME", help="a required value")
    server: ServerSettings = group(ServerSettings)
    llm: ModelEndpointSettings = group(ModelEndpointSettings, "MIS_LLM_")
    workers: int = env("EXAMPLE_WORKERS", 2, check=positive)
    hosts: tuple[str, ...] = env("EXAMPLE_HOSTS", ())


def test_defaults_and_conversion():
    settings = load_settings(Example, {"EXAMPLE_NAME": "x", "MIS_PORT": "5055",
                                       "MIS_LLM_BACKEND": "openai", "MIS_LLM_MODEL": "gpt-4o",
                                       "EXAMPLE_HOSTS": "a:1, b:2", "MIS_TLS_CERT": "/c.pem"})
    assert settings.server.port == 5055
    assert settings.server.tls_cert == Path("/c.pem")
    assert settings.llm.backend == "openai" and settings.llm.model == "gpt-4o"
    assert settings.hosts == ("a:1", "b:2")
    assert settings.workers == 2


@pytest.mark.parametrize("variables, message", [
    ({}, "EXAMPLE_NAME: required"),
    ({"EXAMPLE_NAME": "x", "MIS_PORT": "fifty"}, "MIS_PORT: expected an integer, got 'fifty'"),
    ({"EXAMPLE_NAME": "x", "MIS_PORT": "70000"}, "MIS_PORT: must be a port number"),
    ({"EXAMPLE_NAME": "x", "EXAMPLE_WORKERS": "0"}, "EXAMPLE_WORKERS: must be greater than 0"),
    ({"EXAMPLE_NAME": "x", "MIS_LLM_BACKEND": "gpt"}, "MIS_LLM_BACKEND: must be one of offline, openai"),
    ({"EXAMPLE_NAME": "x", "MIS_S3_SECURE": "maybe"}, None),
    ({"EXAMPLE_NAME": "x", "MIS_LLM_TIMEOUT_SECONDS": "soon"}, "MIS_LLM_TIMEOUT_SECONDS: expected a number"),
])
def test_bad_variables_are_named(variables, message):
    if message is None:  # a variable of a group the class does not use is ignored
        load_settings(Example, variables)
        with pytest.raises(SettingsError, match="MIS_S3_SECURE: expected true or false"):
            load_settings(StoreSettings, variables)
        return
    with pytest.raises(SettingsError) as caught:
        load_settings(Example, variables)
    assert message in str(caught.value)


def test_secrets_are_redacted_in_description():
    settings = load_settings(Example, {"EXAMPLE_NAME": "x", "MIS_LLM_API_KEY": "sk-verysecretvalue"})
    described = describe(settings)
    assert described["MIS_LLM_API_KEY"] == "***"
    assert described["EXAMPLE_NAME"] == "x"


def test_a_service_process_fails_fast_naming_the_variable(tmp_path):
    result = subprocess.run([sys.executable, "-m", "services.cli.main", "serve", "extractor"],
                            env={"MIS_PORT": "not-a-port", "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "MIS_PORT: expected an integer, got 'not-a-port'" in result.stderr
