"""Store throughput against the raw `minio` client on the same S3 server with
the same images: put and get, one writer and eight concurrent writers.

Run: `python -m bench.storage` (or `make bench`). Target ratio >= 0.95.
"""

from __future__ import annotations

import io
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from bench.harness import compare
from services.common.setting_groups import StoreSettings
from services.common.s3server import LocalS3Server
from services.common.store import Store, image_key

IMAGES_PER_ROUND = 120


def make_images(count: int, seed: int) -> list[bytes]:
    """Distinct noisy 96x96 PNGs (about 28 KB each): never seen by either side before."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(buffer, "PNG")
        out.append(buffer.getvalue())
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch, \
            LocalS3Server(Path(scratch) / "s3") as server:
        settings = StoreSettings(endpoint=server.endpoint, access_key=server.access_key,
                                 secret_key=server.secret_key, bucket="bench")
        store = Store.from_settings(settings)
        store.ensure_bucket()
        raw = store.client  # the same minio client and connection pool: only our layer differs
        rounds = int(os.environ.get("BENCH_ROUNDS", "7"))
        # Every round writes images neither side has seen; drawn before timing starts.
        fresh = iter([make_images(IMAGES_PER_ROUND, seed) for seed in range(4 * (rounds + 1) + 4)])
        written: dict[str, list] = {"ours": [], "raw": []}

        def ours_put(workers: int):
            def run() -> int:
                batch = next(fresh)
                with ThreadPoolExecutor(workers) as pool:
                    written["ours"] = list(pool.map(store.put_image, batch))
                return len(batch)
            return run

        def raw_put(workers: int):
            def run() -> int:
                import hashlib
                batch = next(fresh)

                def put(data: bytes) -> str:
                    key = image_key(hashlib.sha256(data).hexdigest(), "png")
                    raw.put_object("bench", key, io.BytesIO(data), len(data), content_type="image/png")
                    return key
                with ThreadPoolExecutor(workers) as pool:
                    written["raw"] = list(pool.map(put, batch))
                return len(batch)
            return run

        def ours_get(workers: int):
            def run() -> int:
                with ThreadPoolExecutor(workers) as pool:
                    list(pool.map(store.get_image, written["ours"]))
                return len(written["ours"])
            return run

        def raw_get(workers: int):
            def run() -> int:
                def get(key: str) -> bytes:
                    response = raw.get_object("bench", key)
                    try:
                        return response.read()
                    finally:
                        response.close()
                        response.release_conn()
                with ThreadPoolExecutor(workers) as pool:
                    list(pool.map(get, written["raw"]))
                return len(written["raw"])
            return run

        print(f"store vs raw minio client, {IMAGES_PER_ROUND} images per round, rclone S3 on loopback")
        for workers in (1, 8):
            print(compare(f"put x{workers}", ours_put(workers), raw_put(workers), rounds=rounds,
                          unit="images/s", target=0.95).report())
            print(compare(f"get x{workers}", ours_get(workers), raw_get(workers), rounds=rounds,
                          unit="images/s", target=0.95).report())


if __name__ == "__main__":
    main()
