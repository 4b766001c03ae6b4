"""A run's inputs: its seeds (read with the extractor's seed readers; image
seeds are put in the store and sent as references) and its taxonomy. Both may
be local paths or s3:// URIs in the coordinator's store."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from mis.v1 import common_pb2, coordinator_pb2
from services.common.errors import InvalidArgument
from services.common.store import ObjectNotFound, Store
from services.common.taxonomy import BUNDLED, TaxonomyError, load_taxonomy
from services.coordinator.localpaths import LocalRoots
from services.coordinator.pipeline import RunInputs

FORMAT_NAMES = {coordinator_pb2.SEED_FORMAT_JSONL: "jsonl",
                coordinator_pb2.SEED_FORMAT_MIS_TEST: "mis_test",
                coordinator_pb2.SEED_FORMAT_VLGUARD: "vlguard"}


def seed_format(source: coordinator_pb2.SeedSource) -> str:
    if source.format in FORMAT_NAMES:
        return FORMAT_NAMES[source.format]
    return "jsonl" if source.uri.endswith((".jsonl", ".ndjson")) else "mis_test"


def _local(uri: str, store: Store, scratch: Path, field: str, roots: LocalRoots) -> Path:
    """A local path for `uri` inside the local roots, or s3://<our bucket>/key
    downloaded into `scratch`."""
    if not uri.startswith("s3://"):
        return roots.confine_readable(uri, field)
    bucket, _, key = uri[len("s3://"):].partition("/")
    if bucket != store.bucket:
        raise InvalidArgument(field, f"{uri}: only the coordinator's bucket {store.bucket!r} is readable")
    try:
        data = store.get_bytes(key)
    except ObjectNotFound:
        raise InvalidArgument(field, f"{uri}: no such object") from None
    target = scratch / Path(key).name
    target.write_bytes(data)
    return target


def load_inputs(config: coordinator_pb2.RunConfig, store: Store,
                roots: LocalRoots | None = None) -> RunInputs:
    """Read every seed source and the taxonomy; raise InvalidArgument naming the key."""
    roots = roots or LocalRoots.parse("")
    from services.extractor.extraction import resolve_hint
    from services.extractor.seeds import SeedError, read_seeds

    seeds: list[common_pb2.Seed] = []
    with tempfile.TemporaryDirectory() as scratch:
        try:
            named = config.taxonomy and config.taxonomy != BUNDLED
            taxonomy = load_taxonomy(_local(config.taxonomy, store, Path(scratch), "taxonomy", roots)
                                     if named else None)
        except TaxonomyError as exc:
            raise InvalidArgument("taxonomy", str(exc)) from None
        for index, source in enumerate(config.seeds):
            field = f"seeds[{index}].uri"
            path = _local(source.uri, store, Path(scratch), field, roots)
            if not path.is_file():
                raise InvalidArgument(field, f"{source.uri}: no such file")
            try:
                for seed in read_seeds(path, seed_format(source), source.limit):
                    # Checked now, under the user's own seed id, before any model is called.
                    resolve_hint(seed.category_hint, taxonomy, f"seed {seed.id!r}: category")
                    if seed.image.HasField("data"):
                        # Content addressed: putting the same image again is free.
                        ref = store.put_image(seed.image.data)
                        seed.image.Clear()
                        seed.image.ref.CopyFrom(ref)
                    seeds.append(seed)
            except (SeedError, ValueError) as exc:  # InvalidArgument too: a ValueError
                raise InvalidArgument(field, str(exc)) from None
    if not seeds:
        raise InvalidArgument("seeds", "the seed sources hold no seeds")
    return RunInputs(seeds, taxonomy.to_proto())


class InputsChanged(Exception):
    """A run's seed files or taxonomy no longer hash to what the run was created with."""


def inputs_digest(inputs: RunInputs) -> str:
    """SHA-256 of the seeds (in order, images as their content-addressed refs) and the taxonomy."""
    digest = hashlib.sha256()
    for seed in inputs.seeds:
        encoded = seed.SerializeToString(deterministic=True)
        digest.update(len(encoded).to_bytes(8, "big") + encoded)
    digest.update(b"taxonomy" + inputs.taxonomy.SerializeToString(deterministic=True))
    return digest.hexdigest()


def check_unchanged(recorded: str, inputs: RunInputs) -> None:
    """Refuses to resume a run whose inputs changed; a run recorded without a digest passes."""
    found = inputs_digest(inputs)
    if recorded and found != recorded:
        raise InputsChanged(
            f"the run's seed files or taxonomy changed since it was created (sha256 {recorded[:12]}..., "
            f"now {found[:12]}...); it is not resumed, so edited seeds are not mixed in: restore them, "
            "or start a new run with the edited files")
