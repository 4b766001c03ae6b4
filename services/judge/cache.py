"""The verdict cache in the S3 store.

A verdict is stored under `judge-cache/<rubric_version>/<model>/<sha256>.json`,
the hash taken over (question, image hashes, response, judge model, rubric
version). Model verdicts are cached; the keyword baseline, a phrase match
cheaper than a store round trip, is not. Re-judging the same responses with the same judge therefore costs
nothing and returns the very verdict first given, which makes evaluations
reproducible; a new rubric version or judge model starts a fresh namespace.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import OrderedDict
from typing import Sequence

from mis.v1 import judge_pb2
from services.common.store import AsyncStore, ObjectNotFound, StoreError
from services.judge.verdicts import verdict_from_json, verdict_to_json

log = logging.getLogger("mis.judge.cache")
PREFIX = "judge-cache"


def cache_digest(question: str, image_sha256: Sequence[str], response: str, model: str,
                 rubric_version: str, images_sent: bool = True) -> str:
    fields = {"question": question, "images": list(image_sha256), "response": response,
              "model": model, "rubric": rubric_version}
    if not images_sent:  # a judge that never saw the images is another judge
        fields["images_sent"] = False
    material = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()


def _segment(text: str) -> str:
    """A model name such as "Qwen/Qwen2-VL-7B" as one safe key segment."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text) or "_"


def cache_key(rubric_version: str, model: str, digest: str) -> str:
    return f"{PREFIX}/{_segment(rubric_version)}/{_segment(model)}/{digest}.json"


class VerdictCache:
    """The store is the shared truth across replicas; a bounded in-memory layer
    in front of it answers repeated hits in this process without a round trip."""

    def __init__(self, store: AsyncStore, memory_entries: int = 10_000) -> None:
        self.store = store
        self.memory_entries = memory_entries
        self._memory: OrderedDict[str, bytes] = OrderedDict()

    def _remember(self, key: str, verdict: judge_pb2.Verdict) -> None:
        self._memory[key] = verdict.SerializeToString()
        self._memory.move_to_end(key)
        while len(self._memory) > self.memory_entries:
            self._memory.popitem(last=False)

    async def get(self, key: str) -> judge_pb2.Verdict | None:
        if key in self._memory:
            self._memory.move_to_end(key)
            verdict = judge_pb2.Verdict.FromString(self._memory[key])
            verdict.cached = True
            return verdict
        try:
            data = await self.store.get_json(key)
        except ObjectNotFound:
            return None
        except StoreError as exc:
            # The store being down costs a fresh judgement, not an answer.
            log.warning("verdict cache unreadable", extra={"key": key, "error": str(exc)})
            return None
        verdict = verdict_from_json(data)
        self._remember(key, verdict)
        verdict.cached = True
        return verdict

    async def put(self, key: str, verdict: judge_pb2.Verdict) -> None:
        stored = judge_pb2.Verdict()
        stored.CopyFrom(verdict)
        stored.cached = False
        self._remember(key, stored)
        try:
            await self.store.put_json(key, verdict_to_json(stored))
        except StoreError as exc:
            # A verdict the cache failed to keep is still a verdict: answer it.
            log.warning("verdict not cached", extra={"key": key, "error": str(exc)})
