"""Indexes built into the real S3 store with real FAISS: from a folder of
generated drawings embedded by a tiny CLIP, from WebDataset tars, and from
LAION-layout embedding shards; then searched."""

from __future__ import annotations

import io

import numpy as np
import pytest

from services.retriever.build import IndexBuilder
from services.retriever.retrieval import LoadedIndex, Retriever
from services.retriever.sources import Source, SourceError, StorePrefix, image_of
from tests.retriever.conftest import CORPUS_SIZE
from tests.retriever.corpus import drawings, laion_shards, webdataset_shards


@pytest.fixture
def folder_index(store, embedder, drawings_folder):
    builder = IndexBuilder(store, "drawings", Source("folder", drawings_folder, shard_size=100), embedder)
    builder.embed_all()
    return builder.assemble()


def test_folder_index_holds_every_drawing_and_finds_a_drawing_by_its_own_embedding(
        store, embedder, drawings_folder, folder_index):
    assert folder_index["kind"] == "flat"
    assert folder_index["count"] == CORPUS_SIZE
    assert [s["count"] for s in folder_index["shards"]] == [100, 100, 100]
    loaded = LoadedIndex.load(store, "drawings")
    wanted = "blue_circle_0030.png"
    query = embedder.embed_images([image_of((drawings_folder / wanted).read_bytes())])[0]
    best = loaded.search(query, 5)
    assert best[0].item_id == wanted
    assert best[0].score == pytest.approx(1.0, abs=1e-4)
    assert best[0].caption == "blue circle 0030"
    # The photo itself went to the store under its content address.
    assert store.get_bytes(best[0].image["key"]) == (drawings_folder / wanted).read_bytes()


def test_text_query_ranks_photos_as_exact_cosine_similarity_does(store, embedder, folder_index):
    retriever = Retriever(store, embedder, "drawings", default_top_k=10, max_top_k=50)
    loaded, found = retriever.retrieve("", "red square", 10)
    image_rows = np.concatenate([
        np.load(io.BytesIO(store.get_bytes(f"indexes/drawings/shards/{s['id']}.npy")))
        for s in loaded.manifest["shards"]])
    exact = image_rows @ embedder.embed_queries(["red square"])[0]
    expected = [loaded.items[i]["item_id"] for i in np.argsort(-exact)[:10]]
    assert [c.item_id for c in found] == expected
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)


def test_webdataset_shards_carry_their_urls_and_captions(store, embedder, tmp_path):
    root = webdataset_shards(tmp_path / "wds", count=30, per_shard=12)
    builder = IndexBuilder(store, "wds", Source("webdataset", root), embedder)
    builder.embed_all()
    manifest = builder.assemble()
    assert [s["count"] for s in manifest["shards"]] == [12, 12, 6]
    loaded = LoadedIndex.load(store, "wds")
    by_id = {item["item_id"]: item for item in loaded.items}
    assert len(by_id) == 30
    item = by_id["shard-00001/green_square_0013"]
    assert item["url"] == "https://example.org/green_square_0013.png"
    assert item["caption"] == "green square 0013"


def test_laion_layout_shards_build_an_ivfpq_index_that_finds_each_row_first(store, tmp_path):
    rows = laion_shards(tmp_path / "laion", shards=3, per_shard=1000, dimension=16)
    builder = IndexBuilder(store, "laion", Source("laion", tmp_path / "laion"), None, kind="ivfpq")
    builder.embed_all()
    manifest = builder.assemble()
    assert (manifest["kind"], manifest["count"], manifest["dimension"]) == ("ivfpq", 3000, 16)
    loaded = LoadedIndex.load(store, "laion")
    for position in (0, 1234, 2001, 2999):
        best = loaded.search(rows[position] / np.linalg.norm(rows[position]), 3)[0]
        shard, row = divmod(position, 1000)
        assert best.item_id == f"laion-{shard}/{row}"
        assert best.url == f"https://laion.example/{shard}/{row}.jpg"
        assert best.caption == f"photo {shard} {row}"


def test_laion_shard_without_its_metadata_is_refused_naming_it(tmp_path):
    laion_shards(tmp_path / "laion", shards=2, per_shard=10, dimension=8)
    (tmp_path / "laion" / "metadata" / "metadata_1.parquet").unlink()
    with pytest.raises(SourceError, match="shard 1 lacks its img_emb_\\*.npy or metadata_\\*.parquet"):
        Source("laion", tmp_path / "laion")


def test_index_from_another_corpus_under_a_used_name_is_refused(store, embedder, tmp_path, drawings_folder):
    IndexBuilder(store, "named", Source("folder", drawings_folder, shard_size=100), embedder)._record_plan()
    other = webdataset_shards(tmp_path / "wds", count=4, per_shard=2)
    with pytest.raises(SourceError, match="was started from another corpus"):
        IndexBuilder(store, "named", Source("webdataset", other), embedder).embed_all()


def test_images_under_a_store_prefix_are_indexed_in_key_order(store, embedder):
    for name, data in drawings(12):
        store.put_bytes(f"uploads/photos/{name}.png", data, "image/png")
    store.put_bytes("uploads/photos/notes.txt", b"not a photo")
    builder = IndexBuilder(store, "uploads", StorePrefix(store, "uploads/photos/", shard_size=5), embedder)
    builder.embed_all()
    manifest = builder.assemble()
    assert [s["count"] for s in manifest["shards"]] == [5, 5, 2]
    assert manifest["corpus"] == f"s3://{store.bucket}/uploads/photos/"
    loaded = LoadedIndex.load(store, "uploads")
    query = embedder.embed_images([image_of(store.get_bytes("uploads/photos/yellow_square_0003.png"))])[0]
    assert loaded.search(query, 1)[0].item_id == "uploads/photos/yellow_square_0003.png"
    with pytest.raises(SourceError, match="no images found"):
        StorePrefix(store, "uploads/empty/")
