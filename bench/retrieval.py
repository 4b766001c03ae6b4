"""IVF-PQ retrieval against exact search on the same synthetic embeddings.

Prints queries/s of both (median of alternating rounds), recall@10 of IVF-PQ
against the exact top 10, and the build time of each index. The corpus is a
mixture of unit-normalised Gaussian clusters (real CLIP embeddings cluster by
content; uniform noise would have no neighbours worth finding), the queries
are perturbed corpus rows. The issue's target: recall@10 >= 0.95 at 10x or more
the exact search's queries/s, at 1M embeddings.

Run: `python -m bench.retrieval` (1M by default; `--size 100000` for a quick run).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.harness import compare
from services.retriever.embeddings import normalized
from services.retriever.index import IvfPqParameters, build_index, search

K = 10


def synthetic(size: int, dimension: int, queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(16, size // 1000), dimension)).astype(np.float32)
    corpus = np.empty((size, dimension), np.float32)
    for start in range(0, size, 100_000):  # in chunks: bounded temporary memory
        stop = min(size, start + 100_000)
        labels = rng.integers(0, len(centres), stop - start)
        corpus[start:stop] = centres[labels] + 0.5 * rng.normal(size=(stop - start, dimension))
    corpus = normalized(corpus)
    picked = corpus[rng.choice(size, queries, replace=False)]
    return corpus, normalized(picked + 0.05 * rng.normal(size=picked.shape).astype(np.float32))


def timed(build):
    started = time.perf_counter()
    index = build()
    return index, time.perf_counter() - started


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    hits = sum(len(set(f[f >= 0]) & set(e[e >= 0])) for f, e in zip(found, exact))
    answered = int((exact >= 0).sum())
    return hits / answered if answered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="corpus embeddings")
    parser.add_argument("--dimension", type=int, default=128)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    corpus, queries = synthetic(args.size, args.dimension, args.queries, args.seed)
    shape = IvfPqParameters.for_corpus(args.size, args.dimension)
    print(f"corpus {args.size} x {args.dimension}, {args.queries} queries; IVF-PQ {shape}")
    flat, flat_seconds = timed(lambda: build_index(corpus, "flat"))
    ivfpq, ivfpq_seconds = timed(lambda: build_index(corpus, "ivfpq", parameters=shape))
    print(f"build: exact {flat_seconds:.2f} s, IVF-PQ {ivfpq_seconds:.2f} s (training included)")

    exact_ids = search(flat, queries, K)[1]
    found_ids = search(ivfpq, queries, K)[1]
    answered = {"exact": int((exact_ids >= 0).any(axis=1).sum()),
                "IVF-PQ": int((found_ids >= 0).any(axis=1).sum())}
    empty = [side for side, count in answered.items() if count == 0]
    if empty:
        print(f"no ratio: {' and '.join(empty)} search produced nothing")
        return 1
    print(f"recall@{K} of IVF-PQ against exact search: {recall_at_k(found_ids, exact_ids):.4f} "
          f"(target >= 0.95)")
    queries_per_second = compare(
        "queries/s IVF-PQ vs exact",
        lambda: int((search(ivfpq, queries, K)[1] >= 0).any(axis=1).sum()),
        lambda: int((search(flat, queries, K)[1] >= 0).any(axis=1).sum()),
        rounds=args.rounds, unit="queries/s", target=10.0)
    print(queries_per_second.report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
