"""`mis index build`: embed a corpus and store its FAISS index (or, with
`--kind lance`, its LanceDB table), resumably.

The store is the one the services use (MIS_S3_* variables). A progress bar on
stderr counts shards; one line per finished shard goes to stdout, flushed, so
a supervisor (or a test) sees durable progress as it happens. Run the same
command again after an interruption: shards already recorded are skipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from services.common.setting_groups import StoreSettings
from services.common.settings import SettingsError, load_settings
from services.common.store import Store, StoreError


def build(args: argparse.Namespace) -> int:
    from services.retriever.build import IndexBuilder, ShardDone
    from services.retriever.embeddings import ClipEmbedder, EmbedderError
    from services.retriever.lance import LanceUnavailable
    from services.retriever.sources import STORE_LAYOUT, Source, SourceError, StorePrefix

    try:
        store = Store.from_settings(load_settings(StoreSettings))
        store.ensure_bucket()
        source = (StorePrefix(store, args.path, shard_size=args.shard_size)
                  if args.layout == STORE_LAYOUT
                  else Source(args.layout, Path(args.path), shard_size=args.shard_size))
        embedder = ClipEmbedder.load(Path(args.clip)) if args.clip else None
        builder = IndexBuilder(store, args.name, source, embedder, kind=args.kind, lancedb=args.lancedb)
        bar = Progress(TextColumn("index {task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeRemainingColumn(), console=Console(stderr=True))
        with bar:
            task = bar.add_task(args.name, total=len(source.shard_ids))

            def report(done: ShardDone) -> None:
                state = "done earlier" if done.resumed else f"{done.items} items"
                print(f"shard {done.position}/{done.total} {done.shard_id}: {state}", flush=True)
                bar.advance(task)

            builder.embed_all(report)
        manifest = builder.assemble()
    except (SettingsError, SourceError, EmbedderError, LanceUnavailable, ValueError) as exc:
        print(f"mis index build: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"mis index build: the store failed, run again to resume: {exc}", file=sys.stderr)
        return 1
    print(f"index {manifest['name']}: {manifest['kind']}, {manifest['count']} items of "
          f"{manifest['dimension']} dims from {manifest['corpus']} -> "
          f"s3://{store.bucket}/{builder.prefix}", flush=True)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    from services.retriever.index import KINDS
    from services.retriever.lance import KIND as LANCE
    from services.retriever.sources import LAYOUTS, STORE_LAYOUT

    parser = commands.add_parser("index", help="build retrieval indexes of image corpora")
    actions = parser.add_subparsers(dest="action", required=True)
    action = actions.add_parser("build", help="embed a corpus and store its index (resumes)")
    action.add_argument("name", help="index name, as the retriever's requests name it")
    action.add_argument("path", help="the corpus folder, or for --layout s3 a key prefix in the store's bucket")
    action.add_argument("--layout", choices=(*LAYOUTS, STORE_LAYOUT), default="folder",
                        help="folder of images, WebDataset *.tar shards, LAION img_emb/metadata, "
                             "or images under a store prefix")
    action.add_argument("--clip", default="", help="CLIP model folder (not needed for --layout laion)")
    action.add_argument("--kind", choices=(*KINDS, LANCE), default="auto",
                        help="flat (exact) or ivfpq; auto picks by corpus size; lance: a LanceDB table "
                             "(--lancedb), for corpora that outgrow index files")
    action.add_argument("--lancedb", default="", help="LanceDB database folder of a --kind lance index")
    action.add_argument("--shard-size", type=int, default=256,
                        help="images per shard of a folder or store prefix")
    action.set_defaults(handler=build)
