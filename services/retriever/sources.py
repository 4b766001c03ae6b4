"""Corpora an index is built from, each read as a sequence of shards.

A shard is the unit of progress: it is embedded, stored and recorded whole, so
an interrupted build resumes at the first shard not recorded. Three layouts:

- a folder of images (sorted paths, cut into shards of `shard_size`);
- WebDataset tar shards (`*.tar`, members grouped by key: an image plus
  optional `.txt` caption and `.json` with a `url`);
- LAION's published embeddings: `img_emb/img_emb_N.npy` beside
  `metadata/metadata_N.parquet` (or both in one folder) with `url` and
  `caption` columns. These are already CLIP image embeddings, so the paper's
  source is indexed without re-embedding billions of photos.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.common.store import Store

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
LAYOUTS = ("folder", "webdataset", "laion")
# Images under a prefix of the store's bucket (StorePrefix below).
STORE_LAYOUT = "s3"


class SourceError(ValueError):
    """The corpus is missing or not in the layout named."""


@dataclass
class CorpusItem:
    item_id: str
    url: str = ""
    caption: str = ""
    image: bytes | None = None


@dataclass
class Shard:
    """One shard: items, and for LAION their precomputed embeddings."""

    shard_id: str
    items: list[CorpusItem]
    embeddings: np.ndarray | None = None


@dataclass
class Source:
    layout: str
    root: Path
    shard_size: int = 256
    shard_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise SourceError(f"layout {self.layout!r}: choose from {', '.join(LAYOUTS)}")
        if not self.root.is_dir():
            raise SourceError(f"{self.root}: not a folder")
        self.shard_ids = getattr(self, f"_{self.layout}_ids")()
        if not self.shard_ids:
            raise SourceError(f"{self.root}: no {self.layout} shards found")

    # -- listing ------------------------------------------------------------------------

    def _images(self) -> list[Path]:
        # Listed once: a large folder is not walked again for every shard.
        if not hasattr(self, "_listed"):
            self._listed = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        return self._listed

    def _folder_ids(self) -> list[str]:
        count = len(self._images())
        return [f"folder-{n:06d}" for n in range((count + self.shard_size - 1) // self.shard_size)]

    def _webdataset_ids(self) -> list[str]:
        return [p.stem for p in sorted(self.root.rglob("*.tar"))]

    def _laion_pairs(self) -> dict[str, tuple[Path, Path]]:
        embeddings = {re.sub(r"^img_emb_", "", p.stem): p for p in self.root.rglob("img_emb_*.npy")}
        metadata = {re.sub(r"^metadata_", "", p.stem): p for p in self.root.rglob("metadata_*.parquet")}
        missing = sorted(set(embeddings) ^ set(metadata))
        if missing:
            raise SourceError(f"{self.root}: shard {missing[0]} lacks its img_emb_*.npy or "
                              f"metadata_*.parquet partner")
        return {number: (embeddings[number], metadata[number]) for number in embeddings}

    def _laion_ids(self) -> list[str]:
        return [f"laion-{n}" for n in sorted(self._laion_pairs(), key=lambda n: (len(n), n))]

    # -- reading ------------------------------------------------------------------------

    def read(self, shard_id: str) -> Shard:
        return getattr(self, f"_read_{self.layout}")(shard_id)

    def _read_folder(self, shard_id: str) -> Shard:
        start = int(shard_id.rsplit("-", 1)[1]) * self.shard_size
        paths = self._images()[start:start + self.shard_size]
        return Shard(shard_id, [CorpusItem(str(p.relative_to(self.root)), url=p.as_uri(),
                                           caption=p.stem.replace("_", " "), image=p.read_bytes())
                                for p in paths])

    def _read_webdataset(self, shard_id: str) -> Shard:
        path = next(p for p in sorted(self.root.rglob("*.tar")) if p.stem == shard_id)
        grouped: dict[str, dict[str, bytes]] = {}
        with tarfile.open(path) as archive:
            for member in archive:
                if not member.isfile():
                    continue
                name = member.name.rsplit("/", 1)[-1]
                key, _, extension = name.partition(".")
                prefix = member.name[: len(member.name) - len(name)]
                grouped.setdefault(prefix + key, {})[extension.lower()] = archive.extractfile(member).read()
        items = []
        for key, parts in sorted(grouped.items()):
            image = next((parts[s[1:]] for s in IMAGE_SUFFIXES if s[1:] in parts), None)
            if image is None:
                continue
            meta = json.loads(parts["json"]) if "json" in parts else {}
            items.append(CorpusItem(f"{shard_id}/{key}", url=str(meta.get("url", "")),
                                    caption=parts.get("txt", b"").decode("utf-8", "replace").strip(),
                                    image=image))
        return Shard(shard_id, items)

    def _read_laion(self, shard_id: str) -> Shard:
        import pyarrow.parquet as pq

        number = shard_id.removeprefix("laion-")
        embedding_path, metadata_path = self._laion_pairs()[number]
        embeddings = np.load(embedding_path)
        table = pq.read_table(metadata_path).to_pydict()
        if "url" not in table:
            raise SourceError(f"{metadata_path}: no url column")
        if len(table["url"]) != len(embeddings):
            raise SourceError(f"{metadata_path}: {len(table['url'])} rows beside "
                              f"{len(embeddings)} embeddings in {embedding_path.name}")
        captions = table.get("caption") or [""] * len(embeddings)
        items = [CorpusItem(f"{shard_id}/{row}", url=url or "", caption=caption or "")
                 for row, (url, caption) in enumerate(zip(table["url"], captions))]
        return Shard(shard_id, items, embeddings)


def image_of(data: bytes):
    from PIL import Image
    return Image.open(io.BytesIO(data))


@dataclass
class StorePrefix:
    """Images under a prefix of the store's own bucket (a corpus uploaded to
    S3), in key order, cut into shards of `shard_size`. Objects over the
    store's image limit are skipped by the builder like unreadable files."""

    store: "Store"
    prefix: str
    shard_size: int = 256
    layout: str = "s3"
    keys: list[str] = field(default_factory=list)
    shard_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.keys = [key for key in self.store.list_keys(self.prefix)
                     if Path(key).suffix.lower() in IMAGE_SUFFIXES]
        if not self.keys:
            raise SourceError(f"s3://{self.store.bucket}/{self.prefix}: no images found")
        count = len(self.keys)
        self.shard_ids = [f"s3-{n:06d}" for n in range((count + self.shard_size - 1) // self.shard_size)]

    @property
    def root(self) -> str:
        return f"s3://{self.store.bucket}/{self.prefix}"

    def read(self, shard_id: str) -> Shard:
        from services.common.store import ObjectTooLarge

        start = int(shard_id.rsplit("-", 1)[1]) * self.shard_size
        items = []
        for key in self.keys[start:start + self.shard_size]:
            try:
                image = self.store.get_bytes(key, max_bytes=self.store.max_image_bytes)
            except ObjectTooLarge:
                continue
            items.append(CorpusItem(key, url=f"s3://{self.store.bucket}/{key}",
                                    caption=Path(key).stem.replace("_", " "), image=image))
        return Shard(shard_id, items)
