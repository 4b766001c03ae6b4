"""Choosing a chat model from settings."""

from __future__ import annotations

from services.common.setting_groups import ModelEndpointSettings
from services.common.metrics import Metrics
from services.common.models.base import ChatModel
from services.common.models.offline import OfflineChatModel, Responder
from services.common.models.openai_chat import OpenAIChatModel


def build_chat_model(settings: ModelEndpointSettings, *, metrics: Metrics | None = None,
                     offline_responders: dict[str, Responder] | None = None) -> ChatModel:
    """The backend the settings name; the offline one answers with `offline_responders`."""
    if settings.backend == "openai":
        return OpenAIChatModel(settings, metrics=metrics)
    return OfflineChatModel(offline_responders)
