"""Where a loaded index searches (services/retriever/index.py): on the GPUs a
faiss-gpu build sees, else on the CPU. The CPU side runs on the installed
faiss-cpu; the GPU side's choice is checked with a stand-in for a GPU build
of the module (no GPU here), which is all the choice reads of FAISS."""

from __future__ import annotations

import logging

import faiss
import numpy as np

from services.retriever import index as faiss_index


class GpuBuild:
    """What `for_search` asks of a faiss-gpu module: its GPU count and the cloner."""

    def __init__(self, gpus: int, fails: bool = False) -> None:
        self.gpus, self.fails = gpus, fails
        self.moved: list = []

    def get_num_gpus(self) -> int:
        return self.gpus

    def index_cpu_to_all_gpus(self, index):
        if self.fails:
            raise RuntimeError("Error: 'not implemented on GPU'")
        self.moved.append(index)
        return ("on all GPUs", index)


def unit_rows(count: int, dimension: int = 8) -> np.ndarray:
    rows = np.random.default_rng(0).normal(size=(count, dimension)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_faiss_cpu_keeps_the_index_on_the_cpu_and_it_still_searches():
    assert faiss_index.faiss_gpus(faiss) == 0
    built = faiss_index.build_index(unit_rows(50), "flat")
    placed = faiss_index.for_search(built)
    assert placed is built
    scores, ids = faiss_index.search(placed, unit_rows(50)[7:8], 3)
    assert ids[0][0] == 7 and abs(scores[0][0] - 1) < 1e-5


def test_a_gpu_build_that_sees_gpus_gets_the_index_on_all_of_them():
    built = faiss_index.build_index(unit_rows(50), "flat")
    two = GpuBuild(2)
    assert faiss_index.for_search(built, faiss_module=two) == ("on all GPUs", built)
    assert two.moved == [built]
    # No GPU visible, GPUs turned off by the setting, or the numpy index: nothing moves.
    for module, use_gpu, index in ((GpuBuild(0), True, built), (GpuBuild(2), False, built),
                                   (GpuBuild(2), True, faiss_index.build_index(unit_rows(50), "exact"))):
        assert faiss_index.for_search(index, use_gpu, faiss_module=module) is index
        assert module.moved == []
    assert faiss_index.faiss_gpus(object()) == 0  # a module without get_num_gpus


def test_an_index_the_gpu_cannot_hold_stays_on_the_cpu_with_a_warning(caplog):
    built = faiss_index.build_index(unit_rows(50), "flat")
    with caplog.at_level(logging.WARNING, logger="mis.retriever.index"):
        assert faiss_index.for_search(built, faiss_module=GpuBuild(1, fails=True)) is built
    assert "stays on the CPU" in caplog.text
