"""Model clients shared by the stage services and the judge.

`ChatModel` is what a stage calls: `OpenAIChatModel` for any OpenAI-compatible
endpoint (vLLM or OpenAI) and `OfflineChatModel`, a deterministic backend for
dry runs with no model at all, named as such in every provenance record.
"""

from services.common.models.base import (ChatModel, ChatRequest, Completion, ModelError,
                                         ModelUnavailable, OutputParseError, TokenMeter,
                                         image_part, text_part)
from services.common.models.factory import build_chat_model
from services.common.models.offline import OfflineChatModel
from services.common.models.openai_chat import OpenAIChatModel

__all__ = ["ChatModel", "ChatRequest", "Completion", "ModelError", "ModelUnavailable",
           "OutputParseError", "TokenMeter", "image_part", "text_part", "build_chat_model",
           "OfflineChatModel", "OpenAIChatModel"]
