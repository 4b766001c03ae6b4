"""What every model-driven stage does around a model call, written once: pick
the backend a request names, check batch limits and the request's taxonomy,
and turn a failed call (unparseable output, an endpoint that kept failing) into
a per-item `Rejection` with provenance instead of a crashed batch."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from mis.v1 import common_pb2
from services.common.setting_groups import ModelEndpointSettings
from services.common.errors import InvalidArgument
from services.common.metrics import Metrics
from services.common.models import (ChatModel, ChatRequest, ModelError, ModelUnavailable,
                                    OfflineChatModel, OutputParseError, build_chat_model)
from services.common.models.offline import Responder
from services.common.provenance import from_completion, provenance
from services.common.settings import SettingsError
from services.common.taxonomy import Taxonomy, TaxonomyError, load_taxonomy, taxonomy_from_request

log = logging.getLogger("mis.stage")


@dataclass
class Backends:
    """The endpoint's configured backend plus the offline one, which is always
    available so any run can ask for a dry run by name."""

    models: dict[str, ChatModel]
    default: str

    @classmethod
    def build(cls, settings: ModelEndpointSettings, *, metrics: Metrics | None,
              responders: dict[str, Responder], offline_model: str = "") -> "Backends":
        """`offline_model` names the offline backend's answers in provenance
        (e.g. the version of a bundled label set)."""
        offline = OfflineChatModel(responders, model=offline_model) if offline_model \
            else OfflineChatModel(responders)
        models: dict[str, ChatModel] = {"offline": offline}
        if settings.backend != "offline":
            models[settings.backend] = build_chat_model(settings, metrics=metrics)
        return cls(models, settings.backend)

    def pick(self, name: str, field: str = "options.backend") -> ChatModel:
        chosen = name or self.default
        if chosen not in self.models:
            raise InvalidArgument(field, f"backend {chosen!r} is not configured on this service; "
                                         f"choose from {', '.join(sorted(self.models))}")
        return self.models[chosen]

    async def close(self) -> None:
        for model in self.models.values():
            await model.close()


def service_taxonomy(path) -> Taxonomy:
    """The service's default taxonomy; a bad file fails start-up naming the variable."""
    try:
        return load_taxonomy(path)
    except TaxonomyError as exc:
        raise SettingsError(f"MIS_TAXONOMY_PATH: {exc}") from None


def check_batch(count: int, limit: int, field: str) -> None:
    """An empty batch or one over the limit fails the whole call."""
    if count == 0:
        raise InvalidArgument(field, "at least one item is required")
    if count > limit:
        raise InvalidArgument(field, f"{count} items is over the limit of {limit} per batch")


def request_taxonomy(message: common_pb2.Taxonomy, default: Taxonomy,
                     field: str = "options.taxonomy") -> Taxonomy:
    try:
        return taxonomy_from_request(message, default)
    except TaxonomyError as exc:
        raise InvalidArgument(field, str(exc)) from None


def check_text(value: str, field: str, limit: int) -> None:
    if not value.strip():
        raise InvalidArgument(field, "required, a non-empty string")
    if len(value) > limit:
        raise InvalidArgument(field, f"{len(value)} characters is over the limit of {limit}")


class StageRejected(Exception):
    """A model call produced no usable answer; carries the item's rejection."""

    def __init__(self, rejection: common_pb2.Rejection, record: common_pb2.Provenance) -> None:
        super().__init__(rejection.detail)
        self.rejection = rejection
        self.provenance = record


def rejection(reason: int, detail: str) -> common_pb2.Rejection:
    return common_pb2.Rejection(reason=reason, detail=detail[:2000])


def rejection_for(exc: ModelError, task: str) -> common_pb2.Rejection:
    """What a failed model call means for its item, decided here only: an
    answer that did not parse is UNPARSEABLE_OUTPUT; an endpoint that kept
    failing, or refused the call (a 4xx such as a prompt over the context
    length), is MODEL_UNAVAILABLE. Either is the item's rejection, never the
    batch's error (that is `errors.status_for`'s side)."""
    if isinstance(exc, OutputParseError):
        raw = exc.raw if len(exc.raw) <= 300 else exc.raw[:300] + "..."
        return rejection(common_pb2.REJECTION_REASON_UNPARSEABLE_OUTPUT, f"{task}: {exc} (raw: {raw!r})")
    if not isinstance(exc, ModelUnavailable):
        log.warning("model call failed", extra={"task": task, "error": str(exc)})
    return rejection(common_pb2.REJECTION_REASON_MODEL_UNAVAILABLE, f"{task}: {exc}")


def failed_call_provenance(model: ChatModel, exc: ModelError, stage: int, prompt_version: str,
                           parameters: dict[str, Any]) -> common_pb2.Provenance:
    """The provenance of a call that produced no answer: what was asked for,
    how often it was tried, and the tokens an unparseable answer still cost."""
    return provenance(stage, backend=model.backend, model=model.model, prompt_version=prompt_version,
                      parameters=parameters, attempts=getattr(exc, "attempts", 1),
                      prompt_tokens=getattr(exc, "prompt_tokens", 0),
                      completion_tokens=getattr(exc, "completion_tokens", 0))


async def ask(model: ChatModel, request: ChatRequest, stage: int,
              prompt_version: str, **parameters: Any) -> tuple[Any, common_pb2.Provenance]:
    """One structured model call: (parsed answer, provenance), or StageRejected."""
    # A rejected call still records what was asked for (temperature, max_tokens).
    sampling = getattr(model, "parameters", None)
    parameters = {**(sampling(request) if callable(sampling) else {}), **parameters}
    try:
        completion = await model.complete(request)
    except ModelError as exc:
        raise StageRejected(rejection_for(exc, request.task),
                            failed_call_provenance(model, exc, stage, prompt_version, parameters)) from None
    return completion.parsed, from_completion(stage, completion, prompt_version, **parameters)


def item_error(exc: InvalidArgument) -> common_pb2.ItemError:
    return common_pb2.ItemError(code="INVALID_ARGUMENT", message=exc.reason, field=exc.field)


def unary_field(field: str, batch_prefix: str, unary_name: str) -> str:
    """An item error's field as the unary RPC names it: "seeds[0].text" -> "seed.text"."""
    prefix = f"{batch_prefix}[0]"
    return unary_name + field[len(prefix):] if field.startswith(prefix) else field


async def single_item(batch: Callable[[Any], Awaitable[Any]], request: Any,
                      batch_field: str, unary_name: str) -> Any:
    """Serve a unary RPC through the batch path with one item: the item's
    result, or its per-item error raised as INVALID_ARGUMENT under the unary
    RPC's field name (a single malformed item fails the call)."""
    reply = await batch(request)
    result = reply.results[0]
    if result.HasField("error"):
        raise InvalidArgument(unary_field(result.error.field, batch_field, unary_name),
                              result.error.message)
    return result
