"""`mis datasets ...`: export a finished run, import a MIS_Test-style folder,
and write the static HTML browser of an exported dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from services.cli.runs import add_coordinator_option, coordinator_client, handle_rpc_errors
from services.coordinator.browser import write_browser


def print_manifest(manifest) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(manifest.per_split.items()))
    print(f"dataset {manifest.name} {manifest.version}: {counts}")
    print(f"  store: {manifest.uri}  (card {manifest.card_key})")


def export(args: argparse.Namespace) -> int:
    local = str(Path(args.out).resolve()) if args.out else ""
    with coordinator_client(args) as client:
        manifest = client.export(args.run_id, args.version, local)
    print_manifest(manifest)
    if local:
        print(f"  local: {local}")
        if args.browser:
            print(f"  browser: {write_browser(Path(local))}")
    return 0


def import_(args: argparse.Namespace) -> int:
    with coordinator_client(args) as client:
        reply = client.import_folder(str(Path(args.path).resolve()), args.name, args.version)
    print(f"imported {reply.imported} samples")
    print_manifest(reply.manifest)
    return 0


def browse(args: argparse.Namespace) -> int:
    path = write_browser(Path(args.folder))
    print(f"browser: {path}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("datasets", help="export, import and browse datasets")
    actions = parser.add_subparsers(dest="action", required=True)
    action = actions.add_parser("export", help="export a finished run as a versioned dataset")
    action.add_argument("run_id")
    action.add_argument("--version", default="", help="version label (default: the run id)")
    action.add_argument("--out", default="", help="also write the dataset to this local folder")
    action.add_argument("--browser", action="store_true", help="write browser.html into --out")
    add_coordinator_option(action)
    action.set_defaults(handler=handle_rpc_errors(export))
    action = actions.add_parser("import", help="import a MIS_Test-style folder into the store")
    action.add_argument("path")
    action.add_argument("--name", default="")
    action.add_argument("--version", default="")
    add_coordinator_option(action)
    action.set_defaults(handler=handle_rpc_errors(import_))
    action = actions.add_parser("browse", help="write browser.html for an exported dataset folder")
    action.add_argument("folder")
    action.set_defaults(handler=browse)
