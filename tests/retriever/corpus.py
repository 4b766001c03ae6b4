"""Generated corpora for the retriever tests: simple PIL drawings in a folder,
the same as WebDataset tar shards, and LAION-layout embedding shards."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 60, 220), "yellow": (230, 210, 40)}
SHAPES = ("square", "circle", "triangle")


def drawing(colour: str, shape: str, number: int) -> bytes:
    """A shape on a background whose shade varies with `number`, so no two images are equal."""
    from PIL import Image, ImageDraw

    shade = 40 + (number * 37) % 200
    image = Image.new("RGB", (48, 48), (shade, 255 - shade, (shade * 3) % 256))
    draw = ImageDraw.Draw(image)
    box = (6 + number % 5, 6 + number % 7, 40, 40)
    fill = COLOURS[colour]
    if shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "circle":
        draw.ellipse(box, fill=fill)
    else:
        draw.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) // 2, box[1])], fill=fill)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def drawings(count: int):
    """(name, png bytes) pairs, e.g. ("red_square_0007", ...)."""
    colours = list(COLOURS)
    for number in range(count):
        colour, shape = colours[number % len(colours)], SHAPES[(number // len(colours)) % len(SHAPES)]
        yield f"{colour}_{shape}_{number:04d}", drawing(colour, shape, number)


def image_folder(root: Path, count: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in drawings(count):
        (root / f"{name}.png").write_bytes(data)
    return root


def webdataset_shards(root: Path, count: int, per_shard: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    items = list(drawings(count))
    for shard, start in enumerate(range(0, count, per_shard)):
        with tarfile.open(root / f"shard-{shard:05d}.tar", "w") as archive:
            for name, data in items[start:start + per_shard]:
                parts = {"png": data, "txt": name.replace("_", " ").encode(),
                         "json": json.dumps({"url": f"https://example.org/{name}.png"}).encode()}
                for extension, body in parts.items():
                    info = tarfile.TarInfo(f"{name}.{extension}")
                    info.size = len(body)
                    archive.addfile(info, io.BytesIO(body))
    return root


def laion_shards(root: Path, shards: int, per_shard: int, dimension: int, seed: int = 0) -> np.ndarray:
    """LAION's layout: img_emb/img_emb_N.npy (float16 unit rows) beside
    metadata/metadata_N.parquet (url, caption). Returns all rows, in order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "img_emb").mkdir(parents=True, exist_ok=True)
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(32, dimension))
    written = []
    for shard in range(shards):
        rows = centres[rng.integers(0, 32, per_shard)] + 0.4 * rng.normal(size=(per_shard, dimension))
        rows = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float16)
        np.save(root / "img_emb" / f"img_emb_{shard}.npy", rows)
        table = pa.table({"url": [f"https://laion.example/{shard}/{n}.jpg" for n in range(per_shard)],
                          "caption": [f"photo {shard} {n}" for n in range(per_shard)],
                          "similarity": [0.3] * per_shard})
        pq.write_table(table, root / "metadata" / f"metadata_{shard}.parquet")
        written.append(rows)
    return np.concatenate(written).astype(np.float32)
