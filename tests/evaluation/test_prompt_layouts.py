"""The prompt layouts, checked against how vLLM itself turns OpenAI content
parts into a prompt (its own code, run in .venv-vllm): InternVL's official
layout comes out exactly as the paper's inference script wrote it, and the
default layout is what vLLM makes of two image parts and a question."""

from __future__ import annotations

import json
import subprocess

import pytest

from services.evaluation.dataset import load_samples
from services.evaluation.generation import candidate_messages
from tests.evaluation.support import make_mis_test
from tests.support.processes import VLLM_PYTHON

pytestmark = pytest.mark.integration

# vLLM's combination of text parts and image placeholders (InternVL's is "<image>").
RENDER = """
import json, sys
from vllm.renderers.chat_utils import _get_full_multimodal_text_prompt as combine
for content in json.loads(sys.stdin.read()):
    images = sum(1 for part in content if part["type"] == "image_url")
    texts = [part["text"] for part in content if part["type"] == "text"]
    print(json.dumps(combine({"image": ["<image>"] * images}, texts, False)))
"""


def test_layouts_as_vllm_renders_them(tmp_path):
    if not VLLM_PYTHON.exists():
        pytest.skip(".venv-vllm missing")
    sample = load_samples(["easy"], make_mis_test(tmp_path / "d", {"easy": 1}))[0]
    contents = [candidate_messages(sample, False, layout)[0]["content"]
                for layout in ("internvl", "images-first")]
    done = subprocess.run([str(VLLM_PYTHON), "-c", RENDER], input=json.dumps(contents),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    internvl, images_first = [json.loads(line) for line in done.stdout.splitlines()[-2:]]
    # The paper's script: "\n".join(f"Image-{i}: <image>\n" for i in (1, 2)) + "\n" + question
    official = "\n".join(f"Image-{i}: <image>\n" for i in (1, 2)) + "\n" + sample.question
    assert internvl == official
    assert images_first == f"<image>\n<image>\n{sample.question}"
