"""gRPC adapter of the coordinator: validate, call the run manager, the
exporter or the training launcher, map the results."""

from __future__ import annotations

import asyncio

from mis.v1 import coordinator_pb2 as pb
from mis.v1 import coordinator_pb2_grpc
from services.common.errors import grpc_errors, require
from services.common.store import Store
from services.coordinator.export import export_run
from services.coordinator.importing import import_folder
from services.coordinator.localpaths import LocalRoots
from services.coordinator.review.decisions import Reviews
from services.coordinator.review.sheet import build_review_sheet
from services.coordinator.runs import RunManager
from services.coordinator.training_rpcs import Trainings


class CoordinatorServicer(coordinator_pb2_grpc.CoordinatorServiceServicer):
    def __init__(self, runs: RunManager, store: Store, trainings: Trainings,
                 roots: LocalRoots | None = None) -> None:
        self.runs = runs
        self.store = store
        self.trainings = trainings
        self.roots = roots or LocalRoots.parse("")
        self.reviews = Reviews(store)

    @grpc_errors
    async def CreateRun(self, request: pb.CreateRunRequest, context) -> pb.CreateRunResponse:
        require(request.HasField("config") or request.run_id, "config", "required")
        return pb.CreateRunResponse(run=await self.runs.create(request.config, request.run_id))

    @grpc_errors
    async def GetRun(self, request: pb.GetRunRequest, context) -> pb.GetRunResponse:
        require(request.run_id, "run_id", "required")
        return pb.GetRunResponse(run=self.runs.snapshot(await self.runs.find(request.run_id)))

    @grpc_errors
    async def ListRuns(self, request: pb.ListRunsRequest, context) -> pb.ListRunsResponse:
        return pb.ListRunsResponse(runs=await self.runs.list())

    @grpc_errors
    async def CancelRun(self, request: pb.CancelRunRequest, context) -> pb.CancelRunResponse:
        require(request.run_id, "run_id", "required")
        return pb.CancelRunResponse(run=await self.runs.cancel(request.run_id))

    @grpc_errors
    async def WatchRun(self, request: pb.WatchRunRequest, context):
        require(request.run_id, "run_id", "required")
        async for run in self.runs.watch(request.run_id):
            yield pb.WatchRunResponse(run=run)

    @grpc_errors
    async def RetryFailed(self, request: pb.RetryFailedRequest, context) -> pb.RetryFailedResponse:
        require(request.run_id, "run_id", "required")
        return pb.RetryFailedResponse(requeued=await self.runs.retry_failed(request.run_id))

    @grpc_errors
    async def ExportDataset(self, request: pb.ExportDatasetRequest, context) -> pb.ExportDatasetResponse:
        require(request.run_id, "run_id", "required")
        run = self.runs.snapshot(await self.runs.find(request.run_id))
        manifest = await asyncio.to_thread(export_run, self.store, run, request.version,
                                           request.local_dir, self.roots)
        return pb.ExportDatasetResponse(manifest=manifest)

    @grpc_errors
    async def ImportDataset(self, request: pb.ImportDatasetRequest, context) -> pb.ImportDatasetResponse:
        manifest, imported = await asyncio.to_thread(import_folder, self.store, request.path,
                                                     request.name, request.version, self.roots)
        return pb.ImportDatasetResponse(manifest=manifest, imported=imported)

    @grpc_errors
    async def ExportReviewSheet(self, request: pb.ExportReviewSheetRequest, context) -> pb.ExportReviewSheetResponse:
        require(request.run_id, "run_id", "required")
        run = self.runs.snapshot(await self.runs.find(request.run_id))
        return await build_review_sheet(self.store, run, request.format, request.link_ttl_seconds)

    @grpc_errors
    async def ImportReviewDecisions(self, request: pb.ImportReviewDecisionsRequest,
                                    context) -> pb.ImportReviewDecisionsResponse:
        require(request.run_id, "run_id", "required")
        require(request.sheet, "sheet", "required, the filled-in review sheet")
        run = self.runs.snapshot(await self.runs.find(request.run_id))
        return await self.reviews.apply(run, request)

    @grpc_errors
    async def LaunchTraining(self, request: pb.LaunchTrainingRequest, context) -> pb.LaunchTrainingResponse:
        return pb.LaunchTrainingResponse(training=await self.trainings.launch(request.request_id, request.spec))

    @grpc_errors
    async def GetTraining(self, request: pb.GetTrainingRequest, context) -> pb.GetTrainingResponse:
        return pb.GetTrainingResponse(training=await self.trainings.get(request.name))

    @grpc_errors
    async def ListTrainings(self, request: pb.ListTrainingsRequest, context) -> pb.ListTrainingsResponse:
        return pb.ListTrainingsResponse(trainings=await self.trainings.list())

    @grpc_errors
    async def CancelTraining(self, request: pb.CancelTrainingRequest, context) -> pb.CancelTrainingResponse:
        return pb.CancelTrainingResponse(training=await self.trainings.cancel(request.name))
