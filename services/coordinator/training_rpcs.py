"""The coordinator's training RPCs over the `TrainingLauncher`, and its housekeeping.

Without a Kubernetes configuration (MIS_KUBECONFIG, or the pod's in-cluster service
account) every RPC answers FAILED_PRECONDITION with the reason. With one, a background
pass every MIS_TRAINING_RECONCILE_SECONDS restarts failed gangs from their last
checkpoint and deletes cancelled runs past their retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from mis.v1 import coordinator_pb2
from services.common.setting_groups import StoreSettings
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.coordinator.config import TrainingSettings
from services.coordinator.training.cluster import kubernetes_client, placement_from

log = logging.getLogger("mis.coordinator.trainings")


@dataclass
class Trainings:
    """Training RPCs over the launcher, or a clear refusal when there is none."""

    launcher: Any | None
    unavailable_reason: str = ""
    reconcile_seconds: float = 30.0
    _housekeeping: asyncio.Task | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: TrainingSettings, store: StoreSettings,
                      s3_client: Any = None) -> "Trainings":
        placement = placement_from(settings, store)
        api, reason = kubernetes_client(settings)
        if api is None:
            log.info("training disabled: %s", reason)
            return cls(None, reason)
        from services.coordinator.training import StoreProgressReader, TrainingLauncher

        return cls(TrainingLauncher(api, settings.namespace, placement,
                                    progress_reader=StoreProgressReader(s3_client)),
                   reconcile_seconds=settings.reconcile_seconds)

    # ------------------------------------------------------------------ housekeeping
    async def start(self) -> None:
        if self.launcher is not None and self._housekeeping is None:
            self._housekeeping = asyncio.create_task(self._housekeep(), name="training-housekeeping")

    async def close(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
            self._housekeeping = None

    async def reconcile(self):
        """One housekeeping pass now (what the background loop runs)."""
        return await self._call(lambda: self.launcher.reconcile())

    async def _housekeep(self) -> None:
        while True:
            try:
                done = await self.reconcile()
                if done.restarted or done.deleted or done.deactivated:
                    log.info("training housekeeping: restarted %s, deleted %s, deactivated %d workloads",
                             list(done.restarted), list(done.deleted), done.deactivated)
            except (FailedPrecondition, NotFound) as exc:
                # The API refused or is unreachable: say so, and try again next period.
                log.warning("training housekeeping failed: %s", exc)
            except Exception:  # noqa: BLE001 - a dead loop would stop restarts and clean-up silently
                log.exception("training housekeeping pass failed; trying again next period")
            await asyncio.sleep(self.reconcile_seconds)

    # ------------------------------------------------------------------ RPCs
    async def _call(self, operation: Callable[[], Any]) -> Any:
        if self.launcher is None:
            raise FailedPrecondition(f"training is unavailable: {self.unavailable_reason}")
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        from services.coordinator.training import (InvalidTrainingSpecError, TrainingConflictError,
                                                   TrainingNotFoundError)
        from services.coordinator.training.logs import NoPodError
        try:
            return await asyncio.to_thread(operation)
        except InvalidTrainingSpecError as exc:
            raise InvalidArgument(exc.field, exc.reason) from None
        except (TrainingNotFoundError, NoPodError) as exc:
            raise NotFound(str(exc)) from None
        except TrainingConflictError as exc:
            raise AlreadyExists(str(exc)) from None
        except ApiException as exc:
            raise FailedPrecondition(f"Kubernetes API answered {exc.status} {exc.reason}") from None
        except HTTPError as exc:
            raise FailedPrecondition(f"Kubernetes API unreachable: {exc}") from None

    async def launch(self, request_id: str, spec: coordinator_pb2.TrainingSpec) -> coordinator_pb2.Training:
        if not request_id:
            raise InvalidArgument("request_id", "required (an idempotency key)")
        return await self._call(lambda: self.launcher.launch(request_id, spec))

    async def get(self, name: str) -> coordinator_pb2.Training:
        if not name:
            raise InvalidArgument("name", "required")
        return await self._call(lambda: self.launcher.get(name))

    async def list(self) -> list[coordinator_pb2.Training]:
        return await self._call(lambda: self.launcher.list())

    async def cancel(self, name: str) -> coordinator_pb2.Training:
        if not name:
            raise InvalidArgument("name", "required")
        return await self._call(lambda: self.launcher.cancel(name))
