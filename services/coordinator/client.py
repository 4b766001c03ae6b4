"""A small synchronous client of the coordinator for the CLI and scripts,
and the text progress bars `mis runs watch` draws."""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import Iterator

import grpc

from mis.v1 import common_pb2, coordinator_pb2 as pb, coordinator_pb2_grpc
from services.common.tls import channel_credentials
from services.coordinator.stages import BRANCH_SPLITS, BY_STAGE, PIPELINE, run_options
from services.coordinator.stages.options import RunConfigError

DEFAULT_ADDRESS = "127.0.0.1:50051"
# A watch is one long stream per window, re-opened when the window closes: every
# call has a deadline, so a coordinator that vanished without closing the
# connection is noticed within a window instead of never.
WATCH_WINDOW_SECONDS = 300.0


def default_address() -> str:
    return os.environ.get("MIS_COORDINATOR_ADDRESS", DEFAULT_ADDRESS)


def _env_path(variable: str) -> Path | None:
    value = os.environ.get(variable, "")
    return Path(value) if value else None


def default_token_file() -> Path | None:
    """MIS_COORDINATOR_TOKEN_FILE: the bearer token a coordinator with
    MIS_AUTH_TOKENS_FILE asks for (the token alone, or name:token)."""
    return _env_path("MIS_COORDINATOR_TOKEN_FILE")


def default_ca_file() -> Path | None:
    """MIS_COORDINATOR_CA_FILE: the CA of the coordinator's certificate; enables TLS."""
    return _env_path("MIS_COORDINATOR_CA_FILE")


def default_client_pair() -> tuple[Path | None, Path | None]:
    """MIS_COORDINATOR_CERT_FILE and MIS_COORDINATOR_KEY_FILE: the client
    certificate a coordinator with MIS_TLS_CLIENT_CA (mutual TLS) asks for."""
    return _env_path("MIS_COORDINATOR_CERT_FILE"), _env_path("MIS_COORDINATOR_KEY_FILE")


def read_token(path: Path) -> str:
    """The token of a token file: its first line, `token` or `name:token`."""
    lines = path.read_text().strip().splitlines()
    return lines[0].rpartition(":")[2].strip() if lines else ""


class _CallDetails(collections.namedtuple(
        "_CallDetails", "method timeout metadata credentials wait_for_ready compression"),
        grpc.ClientCallDetails):
    pass


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call (also over a
    plaintext channel, where grpc's call credentials are not allowed)."""

    def __init__(self, token: str) -> None:
        self.header = ("authorization", f"Bearer {token}")

    def _details(self, details):
        return _CallDetails(details.method, details.timeout, [*(details.metadata or ()), self.header],
                            details.credentials, details.wait_for_ready, details.compression)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)


class CoordinatorClient:
    def __init__(self, address: str, timeout_seconds: float = 600.0, *,
                 watch_window_seconds: float = WATCH_WINDOW_SECONDS,
                 token_file: Path | None = None, ca_file: Path | None = None,
                 cert_file: Path | None = None, key_file: Path | None = None) -> None:
        """`token_file` and `ca_file` default to MIS_COORDINATOR_TOKEN_FILE and
        MIS_COORDINATOR_CA_FILE; a CA makes the channel TLS, a client
        certificate and key (MIS_COORDINATOR_CERT_FILE, _KEY_FILE) mutual TLS."""
        self.address = address
        self.timeout = timeout_seconds
        self.watch_window = watch_window_seconds
        token_file = token_file or default_token_file()
        ca_file = ca_file or default_ca_file()
        env_cert, env_key = default_client_pair()
        cert_file, key_file = cert_file or env_cert, key_file or env_key
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        self.channel = (grpc.secure_channel(address, channel_credentials(ca_file, cert_file, key_file),
                                            options=options)
                        if ca_file or cert_file else grpc.insecure_channel(address, options=options))
        if token_file:
            self.channel = grpc.intercept_channel(self.channel, _Bearer(read_token(token_file)))
        self.stub = coordinator_pb2_grpc.CoordinatorServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "CoordinatorClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create(self, config: pb.RunConfig, run_id: str = "") -> pb.Run:
        return self.stub.CreateRun(pb.CreateRunRequest(config=config, run_id=run_id),
                                   timeout=self.timeout).run

    def get(self, run_id: str) -> pb.Run:
        return self.stub.GetRun(pb.GetRunRequest(run_id=run_id), timeout=self.timeout).run

    def list(self) -> list[pb.Run]:
        return list(self.stub.ListRuns(pb.ListRunsRequest(), timeout=self.timeout).runs)

    def cancel(self, run_id: str) -> pb.Run:
        return self.stub.CancelRun(pb.CancelRunRequest(run_id=run_id), timeout=self.timeout).run

    def retry_failed(self, run_id: str) -> int:
        return self.stub.RetryFailed(pb.RetryFailedRequest(run_id=run_id), timeout=self.timeout).requeued

    def watch(self, run_id: str) -> Iterator[pb.Run]:
        """Snapshots until the run ends (the coordinator closes the stream then). Each
        stream lives at most one watch window; when its deadline passes, the watch goes
        on with a new one, and any other error is raised."""
        while True:
            try:
                for reply in self.stub.WatchRun(pb.WatchRunRequest(run_id=run_id),
                                                timeout=self.watch_window):
                    yield reply.run
                return
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise

    def export(self, run_id: str, version: str = "", local_dir: str = "") -> pb.DatasetManifest:
        return self.stub.ExportDataset(pb.ExportDatasetRequest(
            run_id=run_id, version=version, local_dir=local_dir), timeout=self.timeout).manifest

    def import_folder(self, path: str, name: str = "", version: str = "") -> pb.ImportDatasetResponse:
        return self.stub.ImportDataset(pb.ImportDatasetRequest(path=path, name=name, version=version),
                                       timeout=self.timeout)


def state_name(state: int) -> str:
    return pb.RunState.Name(state).removeprefix("RUN_STATE_").lower()


def stage_totals(run: pb.Run) -> dict[int, int]:
    """How many items each stage will see, as far as known now: the seeds for
    the first stage, then the samples less those stopped at an earlier stage;
    after a stage where some splits finish, only what it sent on."""
    progress = run.progress
    counts = {s.stage: s for s in progress.stages}
    none = pb.StageProgress()
    # A branch sees the forks taken so far; they are samples the main line never sees.
    branches = [stage for stage in PIPELINE if stage.branches_from]
    totals = {}
    for branch in branches:
        seen = counts.get(branch.stage, none)
        totals[branch.stage] = seen.done + seen.rejected + seen.failed + seen.in_flight
    main = [stage for stage in PIPELINE if not stage.branches_from]
    remaining = progress.samples_total - sum(totals.values())
    totals.update({main[0].stage: progress.seeds_total, main[1].stage: remaining})
    for before, stage in zip(main[1:], main[2:]):
        seen = counts.get(before.stage, none)
        if before.finishes:
            finished = sum(progress.per_split.get(split, 0) for split in before.finishes
                           if split not in BRANCH_SPLITS)
            remaining = max(seen.done - finished, 0)
        else:
            remaining -= seen.rejected + seen.failed
        totals[stage.stage] = remaining
    return totals


def progress_lines(run: pb.Run, width: int = 30) -> list[str]:
    """One bar per stage: items finished at that stage of those that will reach it."""
    progress = run.progress
    active = run.state in (pb.RUN_STATE_PENDING, pb.RUN_STATE_RUNNING)
    totals = stage_totals(run)
    state = state_name(run.state)
    message = "" if run.message in ("", state) else f"  {run.message}"
    lines = [f"run {run.id}  {state}{message}"]
    for stage in progress.stages:
        declared = BY_STAGE.get(stage.stage)
        if declared is None:
            continue
        finished = stage.done + stage.rejected + stage.failed
        reached = finished + stage.in_flight
        total = max(reached, totals.get(stage.stage, 0) if active else 0, 1)
        filled = int(width * finished / total)
        lines.append(f"  {declared.key:<9}[{'#' * filled}{'.' * (width - filled)}] {finished:>4}/{total:<4} "
                     f"in flight {stage.in_flight:<3} rejected {stage.rejected:<3} failed {stage.failed}")
    splits = ", ".join(f"{k} {v}" for k, v in sorted(progress.per_split.items())) or "none yet"
    lines.append(f"  seeds {progress.seeds_total}; samples {progress.samples_finished}/"
                 f"{progress.samples_total} finished ({progress.near_duplicates} near-duplicates); "
                 f"per split: {splits}; tokens {progress.tokens.prompt_tokens}+"
                 f"{progress.tokens.completion_tokens}; GPU-seconds {progress.gpu_seconds:.1f}")
    for failure in list(progress.failures)[:5]:
        lines.append(f"  failed {failure.sample_id} at "
                     f"{common_pb2.Stage.Name(failure.stage).removeprefix('STAGE_').lower()}: "
                     f"{failure.reason}")
    return lines


def option_lines(run: pb.Run) -> list[str]:
    """One line per stage with options of its own: each option the run set
    (under its stage or by a deprecated key), as the stage reads it, and
    how many it left at their defaults. From the declarations, so a new
    stage's options show with no edit here."""
    try:
        found = run_options(run.config)
    except RunConfigError as exc:  # a run recorded before a check it fails
        return [f"  options: not readable: {exc}"]
    lines = []
    for key, options in found.items():
        given = [f"{name}={value.value!r}" for name, value in options.items() if value.given]
        left = len(options) - len(given)
        parts = [" ".join(given)] if given else []
        parts += [f"{left} at their defaults" if given else "all at their defaults"] if left else []
        lines.append(f"  options {key:<9}{'; '.join(parts)}")
    return lines
