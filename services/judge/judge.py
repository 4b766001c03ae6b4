"""The judge's logic, usable in-process (the cot-annotator, the evaluation
runner and the benchmark call it directly) and behind the gRPC servicer.

`judge_items` answers every item with a verdict or an explicit error, in
order, never dropping one: a malformed item, a missing referenced image, or a
judge model that keeps failing becomes that item's error while the others are
judged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Sequence

from mis.v1 import common_pb2, judge_pb2
from services.common.errors import InvalidArgument
from services.common.metrics import Metrics
from services.common.models import ModelUnavailable, OutputParseError, build_chat_model
from services.common.models.base import ModelError
from services.common.references import ReferenceNotFound
from services.common.settings import SettingsError
from services.common.store import AsyncStore, Store, StoreError
from services.judge.backends import JudgeBackend, KeywordBackend, RubricBackend, offline_rubric_answer
from services.judge.cache import VerdictCache, cache_digest, cache_key
from services.judge.config import KEYWORD_BACKEND, Settings
from services.judge.items import ItemLimits, resolve_item
from services.judge.metrics import JudgeMetrics
from services.judge.rubric import load_refusal_phrases, load_rubric
from services.judge.verdicts import class_name

log = logging.getLogger("mis.judge")
CONTRACT_VERSION = "mis.v1"


def item_error(code: str, message: str, field: str = "") -> common_pb2.ItemError:
    return common_pb2.ItemError(code=code, message=message, field=field)


class Judge:
    def __init__(self, backends: dict[str, JudgeBackend], default_backend: str, *,
                 store: AsyncStore | None = None, cache_enabled: bool = True,
                 limits: ItemLimits = ItemLimits(), max_batch_items: int = 100,
                 metrics: Metrics | None = None) -> None:
        if default_backend not in backends:
            raise ValueError(f"default backend {default_backend!r} is not one of {sorted(backends)}")
        self.backends = backends
        self.default_backend = default_backend
        self.store = store
        self.cache = VerdictCache(store) if (store is not None and cache_enabled) else None
        self.limits = limits
        self.max_batch_items = max_batch_items
        self.metrics = JudgeMetrics(metrics or Metrics())

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics | None = None,
                      store: AsyncStore | None = None, connect_store: bool = False) -> "Judge":
        """Build the judge the settings describe. The store is connected when the
        cache is on or `connect_store` asks for it (the service does, so callers
        can send image references); in-process users without a store turn the
        cache off."""
        keyword = KeywordBackend(load_refusal_phrases())
        rubric = load_rubric(settings.judge.rubric_version)
        model_backend = settings.model.backend  # "openai" or "offline"
        chat = build_chat_model(settings.model, metrics=metrics,
                                offline_responders={"judge": offline_rubric_answer(keyword)})
        backends: dict[str, JudgeBackend] = {
            KEYWORD_BACKEND: keyword,
            model_backend: RubricBackend(model_backend, chat, rubric, settings.judge.send_images),
        }
        default = settings.judge.default_backend or (
            "openai" if model_backend == "openai" else KEYWORD_BACKEND)
        if default not in backends:
            raise SettingsError(f"MIS_JUDGE_DEFAULT_BACKEND: {default!r} is not configured; "
                                f"available: {', '.join(backends)}")
        if store is None and (settings.judge.cache_enabled or connect_store):
            sync = Store.from_settings(settings.store)
            sync.ensure_bucket()
            store = AsyncStore(sync)
        limits = ItemLimits(max_images=settings.judge.max_images_per_item,
                            max_image_bytes=settings.store.max_image_bytes,
                            max_question_chars=settings.judge.max_question_chars,
                            max_response_chars=settings.judge.max_response_chars)
        return cls(backends, default, store=store, cache_enabled=settings.judge.cache_enabled,
                   limits=limits, max_batch_items=settings.judge.max_batch_items, metrics=metrics)

    def info(self) -> judge_pb2.GetJudgeInfoResponse:
        default = self.backends[self.default_backend]
        return judge_pb2.GetJudgeInfoResponse(
            backends=list(self.backends), default_backend=self.default_backend,
            rubric_version=default.rubric_version, max_images_per_item=self.limits.max_images,
            max_image_bytes=self.limits.max_image_bytes, max_batch_items=self.max_batch_items,
            contract_version=CONTRACT_VERSION)

    def backend_for(self, options: judge_pb2.JudgeOptions | None,
                    field: str = "options.backend") -> JudgeBackend:
        name = (options.backend if options is not None else "") or self.default_backend
        if name not in self.backends:
            raise InvalidArgument(field, f"{name!r} is not configured here; available: "
                                         f"{', '.join(self.backends)}")
        return self.backends[name]

    async def judge_one(self, item: judge_pb2.JudgeItem, options: judge_pb2.JudgeOptions | None,
                        field: str = "item") -> judge_pb2.Verdict:
        """Judge one item; problems raise (InvalidArgument, NotFound, ModelUnavailable...)."""
        backend = self.backend_for(options)
        resolved = await resolve_item(item, field, self.limits, self.store)
        bypass = options.bypass_cache if options is not None else False
        key = None
        if self.cache is not None and backend.cacheable:
            key = cache_key(backend.rubric_version, backend.model, cache_digest(
                resolved.question, resolved.image_sha256, resolved.response, backend.model,
                backend.rubric_version, getattr(backend, "send_images", True)))
            if not bypass:
                cached = await self.cache.get(key)
                if cached is not None:
                    self.metrics.verdicts.labels(backend.name, class_name(cached.response_class),
                                                 "true").inc()
                    return cached
        verdict = await backend.judge(resolved)
        if key is not None:
            await self.cache.put(key, verdict)
        self.metrics.verdicts.labels(backend.name, class_name(verdict.response_class), "false").inc()
        return verdict

    async def judge_result(self, item: judge_pb2.JudgeItem, options: judge_pb2.JudgeOptions | None,
                           field: str) -> judge_pb2.JudgeItemResult:
        """A verdict or an explicit error for one item; never raises for the item's own faults."""
        try:
            verdict = await self.judge_one(item, options, field)
            return judge_pb2.JudgeItemResult(item_id=item.item_id, verdict=verdict)
        except InvalidArgument as exc:
            error = item_error("INVALID_ARGUMENT", exc.reason, exc.field)
        except ReferenceNotFound as exc:
            error = item_error("NOT_FOUND", exc.reason, exc.field)
        except ModelUnavailable as exc:
            error = item_error("UNAVAILABLE", f"judge model unavailable after {exc.attempts} "
                                              f"attempts: {exc}")
        except OutputParseError as exc:
            error = item_error("INTERNAL", f"judge model output did not fit the rubric schema "
                                           f"after {exc.attempts} attempts: {exc}")
        except ModelError as exc:
            error = item_error("FAILED_PRECONDITION", f"judge model refused the request: {exc}")
        except StoreError as exc:
            error = item_error("UNAVAILABLE", f"store unavailable: {exc}")
        except Exception as exc:  # a bug must still leave an explicit row, and a trace in the log
            log.exception("judging an item failed unexpectedly", extra={"item_id": item.item_id})
            error = item_error("INTERNAL", f"internal error: {type(exc).__name__}")
        self.metrics.item_errors.labels(error.code).inc()
        log.warning("item not judged", extra={"item_id": item.item_id, "code": error.code,
                                              "field": error.field, "reason": error.message})
        return judge_pb2.JudgeItemResult(item_id=item.item_id, error=error)

    async def judge_items(self, items: Sequence[judge_pb2.JudgeItem],
                          options: judge_pb2.JudgeOptions | None = None,
                          field: str = "items") -> list[judge_pb2.JudgeItemResult]:
        """Results for `items`, in order; the backend is checked once for all."""
        self.backend_for(options)
        return list(await asyncio.gather(*(
            self.judge_result(item, options, f"{field}[{index}]")
            for index, item in enumerate(items))))

    async def close(self) -> None:
        for backend in self.backends.values():
            await backend.close()
