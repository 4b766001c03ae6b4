"""Indexes of kind `lance` (services/retriever/lance.py): LanceDB embedded in
a folder, behind the same index interface as FAISS. Built from the tiny
CLIP's drawings and from LAION-layout shards in the real S3 store, searched
through the retriever and the service, and built by `mis index build`.
Needs the `vectordb` extra, which `make setup-test` installs."""

from __future__ import annotations

import shutil

import grpc
import numpy as np
import pytest

pytest.importorskip("lancedb")

from mis.v1 import retriever_pb2, retriever_pb2_grpc  # noqa: E402
from services.cli.main import main  # noqa: E402
from services.common.grpc_server import start_server  # noqa: E402
from services.common.metrics import Metrics  # noqa: E402
from services.common.setting_groups import ServerSettings  # noqa: E402
from services.common.settings import load_settings  # noqa: E402
from services.retriever import server as retriever_server  # noqa: E402
from services.retriever.build import IndexBuilder  # noqa: E402
from services.retriever.config import Settings  # noqa: E402
from services.retriever.lance import LanceIndex  # noqa: E402
from services.retriever.retrieval import LoadedIndex  # noqa: E402
from services.retriever.sources import Source, SourceError, image_of  # noqa: E402
from tests.retriever.conftest import CORPUS_SIZE  # noqa: E402
from tests.retriever.corpus import laion_shards  # noqa: E402

PHRASES = ["red square", "blue circle", "green triangle", "yellow square", "cat", "a lamp on a chair"]


def build(store, name, source, embedder, kind="auto", lancedb="", ann_min_rows=100_000):
    builder = IndexBuilder(store, name, source, embedder, kind=kind, lancedb=lancedb)
    builder.embed_all()
    return builder.assemble(ann_min_rows)


@pytest.fixture
def both_indexes(store, embedder, drawings_folder, tmp_path):
    """The drawings as a FAISS flat index and as a LanceDB table, from one store."""
    source = Source("folder", drawings_folder, shard_size=100)
    flat = build(store, "drawings", source, embedder)
    database = str(tmp_path / "lancedb")
    table = build(store, "drawings-lance", source, embedder, kind="lance", lancedb=database)
    return flat, table, database


def test_a_lance_table_answers_as_the_exact_faiss_index_does(store, embedder, drawings_folder, both_indexes):
    flat, table, database = both_indexes
    assert (table["kind"], table["count"], table["dimension"], table["lancedb"]) == (
        "lance", CORPUS_SIZE, 16, database)
    assert [s["count"] for s in table["shards"]] == [100, 100, 100]
    assert not store.exists("indexes/drawings-lance/index.faiss")  # the table is the index
    exact, lance = LoadedIndex.load(store, "drawings"), LoadedIndex.load(store, "drawings-lance")
    assert lance.items is None and lance.index.ntotal == CORPUS_SIZE
    for query in embedder.embed_queries(PHRASES):
        wanted, got = exact.search(query, 10), lance.search(query, 10)
        assert [c.item_id for c in got] == [c.item_id for c in wanted]
        assert [c.score for c in got] == pytest.approx([c.score for c in wanted], abs=1e-5)
        assert [(c.caption, c.url, c.image) for c in got] == [(c.caption, c.url, c.image) for c in wanted]
    own = embedder.embed_images([image_of((drawings_folder / "blue_circle_0030.png").read_bytes())])[0]
    [best] = lance.search(own, 1)
    assert best.item_id == "blue_circle_0030.png" and best.score == pytest.approx(1.0, abs=1e-4)
    assert store.get_bytes(best.image["key"]) == (drawings_folder / "blue_circle_0030.png").read_bytes()


def test_laion_layout_shards_get_lancedbs_ivfpq_index_that_finds_each_row_first(store, tmp_path):
    rows = laion_shards(tmp_path / "laion", shards=3, per_shard=1000, dimension=16)
    database = str(tmp_path / "lancedb")
    manifest = build(store, "laion", Source("laion", tmp_path / "laion"), None, kind="lance", lancedb=database,
                     ann_min_rows=1000)
    assert (manifest["kind"], manifest["count"]) == ("lance", 3000)
    opened = LanceIndex.open(database, "laion")
    assert [index.index_type for index in opened.table.list_indices()] == ["IvfPq"]
    loaded = LoadedIndex.load(store, "laion")
    for position in (0, 1234, 2001, 2999):
        best = loaded.search(rows[position] / np.linalg.norm(rows[position]), 3)[0]
        shard, row = divmod(position, 1000)
        assert (best.item_id, best.url, best.caption) == (
            f"laion-{shard}/{row}", f"https://laion.example/{shard}/{row}.jpg", f"photo {shard} {row}")


async def test_the_service_searches_a_moved_database_and_names_a_missing_table(
        store, s3_server, clip_path, both_indexes, tmp_path):
    _, _, database = both_indexes
    moved = tmp_path / "mounted-elsewhere"
    shutil.copytree(database, moved)
    shutil.rmtree(database)
    env = {"MIS_S3_ENDPOINT": s3_server.endpoint, "MIS_S3_ACCESS_KEY": s3_server.access_key,
           "MIS_S3_SECRET_KEY": s3_server.secret_key, "MIS_S3_BUCKET": store.bucket,
           "MIS_RETRIEVER_CLIP_PATH": str(clip_path), "MIS_RETRIEVER_LANCEDB": str(moved)}
    wiring = await retriever_server.build(load_settings(Settings, env), Metrics())
    running = await start_server(wiring.bindings, ServerSettings(port=0))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = retriever_pb2_grpc.RetrieverServiceStub(channel)
            reply = await stub.Retrieve(retriever_pb2.RetrieveRequest(
                index="drawings-lance", object_phrase="green triangle", top_k=5), timeout=30)
            expected = await stub.Retrieve(retriever_pb2.RetrieveRequest(
                index="drawings", object_phrase="green triangle", top_k=5), timeout=30)
            assert [p.item_id for p in reply.photos] == [p.item_id for p in expected.photos]
            assert len(reply.photos) == 5 and reply.photos[0].image.key
            # An index whose manifest names a table the database does not hold.
            manifest = store.get_json("indexes/drawings-lance/manifest.json")
            store.put_json("indexes/ghost/manifest.json", {**manifest, "name": "ghost"})
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Retrieve(retriever_pb2.RetrieveRequest(index="ghost", object_phrase="cat"), timeout=30)
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
            assert f"no table 'ghost' in LanceDB '{moved}'" in caught.value.details()
    finally:
        await running.server.stop(0)
        for close in wiring.closers:
            await close()


def test_mis_index_build_makes_a_lance_index_and_refuses_one_without_its_database(
        monkeypatch, store_env, store, clip_path, drawings_folder, tmp_path, capsys):
    for name, value in store_env.items():
        monkeypatch.setenv(name, value)
    assert main(["index", "build", "no-db", str(drawings_folder), "--clip", str(clip_path), "--kind", "lance"]) == 2
    assert "a LanceDB database is needed for kind lance" in capsys.readouterr().err
    assert list(store.list_keys("indexes/")) == []
    database = tmp_path / "db"
    assert main(["index", "build", "cli-lance", str(drawings_folder), "--clip", str(clip_path),
                 "--kind", "lance", "--lancedb", str(database), "--shard-size", "150"]) == 0
    out = capsys.readouterr().out
    assert "index cli-lance: lance, 300 items of 16 dims" in out
    assert LanceIndex.open(str(database), "cli-lance").ntotal == CORPUS_SIZE


def test_a_corpus_without_readable_items_is_refused(store, tmp_path, embedder):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(SourceError, match="no readable items in any shard"):
        build(store, "broken", Source("folder", tmp_path / "empty"), embedder, kind="lance",
              lancedb=str(tmp_path / "db"))
