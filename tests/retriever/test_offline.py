"""The offline retriever a dry run uses: the palette embedder, the exact numpy
index and the bundled corpus, in the real S3 store. A light install has no
torch and no FAISS, so the whole path is checked in a process that has
neither."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from mis.v1 import common_pb2
from services.common.store import Store
from services.retriever.bundled import BundledCorpus, captions, ensure_bundled_index
from services.retriever.build import index_prefix
from services.retriever.index import ExactIndex, build_index, from_bytes, to_bytes
from services.retriever.offline import PaletteEmbedder, colour_index, draw, words
from services.retriever.retrieval import BUNDLED_INDEX, Retriever

ROOT = Path(__file__).resolve().parents[2]


def test_a_word_is_a_colour_and_a_drawing_embeds_as_its_words():
    embedder = PaletteEmbedder()
    caption = "heavy steel crowbar on a wooden table"
    assert words(caption) == ["heavy", "steel", "crowbar", "wooden", "table"]
    assert all(1 <= colour_index(w) < embedder.dimension for w in words(caption))
    picture = embedder.embed_images([Image.open(io.BytesIO(draw(caption)))])[0]
    text = embedder.embed_queries([caption])[0]
    assert float(picture @ text) > 0.95
    assert abs(float(np.linalg.norm(picture)) - 1) < 1e-5
    assert draw(caption) == draw(caption)  # deterministic bytes


def test_every_object_the_offline_extractor_writes_finds_its_own_bundled_picture_first():
    lexicon = yaml.safe_load((ROOT / "services/extractor/data/offline-lexicon.yaml").read_text())
    objects = dict.fromkeys(o for entry in lexicon["categories"].values() for o in entry["objects"])
    embedder = PaletteEmbedder()
    _, texts = captions()
    index = build_index(embedder.embed_images([Image.open(io.BytesIO(draw(c))) for c in texts]), "exact")
    for phrase in objects:
        _, ids = index.search(embedder.embed_queries([phrase]), 1)
        assert texts[ids[0][0]].startswith(phrase), phrase


def test_the_exact_index_ranks_as_brute_force_and_round_trips():
    rows = np.random.default_rng(3).normal(size=(50, 8)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    index = build_index(rows, "exact")
    assert isinstance(index, ExactIndex)
    queries = rows[[4, 9]] + 0.01
    scores, ids = index.search(queries, 5)
    expected = np.argsort(-(queries @ rows.T), axis=1)[:, :5]
    assert (ids == expected).all()
    again = from_bytes(to_bytes(index), "exact")
    assert (again.search(queries, 5)[1] == ids).all()


def test_the_bundled_index_is_built_once_into_the_store_on_first_search(store: Store):
    embedder = PaletteEmbedder()
    retriever = Retriever(store, embedder, BUNDLED_INDEX, 4, 20,
                          bundled=lambda: ensure_bundled_index(store, embedder))
    assert not store.exists(f"{index_prefix(BUNDLED_INDEX)}manifest.json")
    loaded, found = retriever.retrieve("", "old laptop computer", 4)
    manifest = store.get_json(f"{index_prefix(BUNDLED_INDEX)}manifest.json")
    assert (manifest["kind"], manifest["corpus"], manifest["model"]) == (
        "exact", "bundled:bundled-corpus-v1", "offline-palette-v1")
    assert manifest["count"] == len(BundledCorpus().captions)
    assert found[0].caption.startswith("old laptop computer")
    assert store.get_image(common_pb2.ImageRef(bucket=store.bucket, **found[0].image))
    keys = set(store.list_keys(index_prefix(BUNDLED_INDEX)))
    ensure_bundled_index(store, embedder)  # already there: nothing rewritten
    assert set(store.list_keys(index_prefix(BUNDLED_INDEX))) == keys


def test_the_offline_service_path_imports_neither_torch_nor_faiss(store, store_env):
    script = textwrap.dedent("""
        import asyncio, os, sys
        from services.common.metrics import Metrics
        from services.common.settings import load_settings
        from services.retriever import server
        from services.retriever.config import Settings
        settings = load_settings(Settings, dict(os.environ))
        retriever = server.build_retriever(settings, server.Store.from_settings(settings.store))
        _, found = retriever.retrieve("", "sharp kitchen knife", 3)
        asyncio.run(server.build(settings, Metrics()))
        print(found[0].caption)
        print(sorted(m for m in ("torch", "faiss", "transformers") if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **store_env}, timeout=120)
    assert done.returncode == 0, done.stderr
    caption, imported = done.stdout.strip().splitlines()[-2:]
    assert caption.startswith("sharp kitchen knife")
    assert imported == "[]"
