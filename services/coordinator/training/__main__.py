"""Prints the manifests a training request would create (a dry run), as YAML.

    python -m services.coordinator.training --request-id r1 --image registry/mis-trainer:1 \
        --output-root s3://mis/runs --spec '{"preset": "qwen2_vl_7b", "datasetUri": "s3://mis/exports/v1", "nodes": 2}'
"""

from __future__ import annotations

import argparse
import sys

import yaml
from google.protobuf import json_format

from mis.v1 import coordinator_pb2
from services.coordinator.training.errors import InvalidTrainingSpecError
from services.coordinator.training.engines import ENGINES
from services.coordinator.training.spec import training_name
from services.coordinator.training.placement import Placement


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.coordinator.training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--request-id", required=True)
    parser.add_argument("--spec", required=True, help="a TrainingSpec as JSON")
    parser.add_argument("--namespace", default="mis")
    parser.add_argument("--image", required=True)
    parser.add_argument("--output-root", required=True)
    parser.add_argument("--secret", action="append", default=[], help="a Secret to load as environment")
    parser.add_argument("--engine", choices=sorted(ENGINES), default="job",
                        help="what runs the gang: an Indexed Job and its Service, a JobSet or a TrainJob")
    args = parser.parse_args(argv)
    spec = json_format.Parse(args.spec, coordinator_pb2.TrainingSpec())
    placement = Placement(image=args.image, output_root=args.output_root, secret_names=tuple(args.secret))
    try:
        objects = ENGINES[args.engine].build(training_name(args.request_id), args.namespace, args.request_id, spec,
                                             placement)
    except InvalidTrainingSpecError as exc:
        print(f"invalid request: {exc}", file=sys.stderr)
        return 2
    yaml.safe_dump_all(objects, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
