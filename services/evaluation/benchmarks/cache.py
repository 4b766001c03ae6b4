"""Benchmark judgements cached in the S3 store, beside the MIS judge's verdicts
(`judge-cache/<judge version>/<model>/<sha256>.json`): judging the same answer
with the same judge again costs nothing and returns the first judgement, which
keeps evaluations reproducible. The hash covers everything the judge saw.
The store being down costs a fresh judgement, never an answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from services.common.store import AsyncStore, ObjectNotFound, StoreError
from services.judge.cache import cache_key

log = logging.getLogger("mis.evaluation.benchmarks")


def judgement_key(version: str, model: str, seen: dict[str, Any]) -> str:
    material = json.dumps({**seen, "model": model, "judge": version}, sort_keys=True,
                          ensure_ascii=False)
    return cache_key(version, model, hashlib.sha256(material.encode()).hexdigest())


class JudgementCache:
    def __init__(self, store: AsyncStore | None) -> None:
        self.store = store

    async def get(self, key: str) -> dict | None:
        if self.store is None:
            return None
        try:
            value = await self.store.get_json(key)
        except ObjectNotFound:
            return None
        except StoreError as exc:
            log.warning("judgement cache unreadable", extra={"key": key, "error": str(exc)})
            return None
        return value if isinstance(value, dict) else None

    async def put(self, key: str, verdict: dict) -> None:
        if self.store is None:
            return
        try:
            await self.store.put_json(key, verdict)
        except StoreError as exc:
            log.warning("judgement not cached", extra={"key": key, "error": str(exc)})
