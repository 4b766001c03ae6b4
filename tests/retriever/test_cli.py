"""`mis index build` refuses a bad corpus with a message naming the problem
and exit status 2, before anything is written to the store."""

from __future__ import annotations

import pytest

from services.cli.main import main
from tests.retriever.corpus import image_folder


@pytest.fixture
def corpus_env(monkeypatch, store_env):
    for name, value in store_env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(("arguments", "message"), [
    (["missing"], "missing: not a folder"),
    (["drawings", "--layout", "laion"], "no laion shards found"),
    (["drawings"], "a folder corpus needs a CLIP model to embed its images"),
    (["drawings", "--clip", "nowhere"], "nowhere: no config.json; expected a CLIP model folder"),
])
def test_bad_corpus_is_refused_naming_the_problem(corpus_env, store, tmp_path, capsys, monkeypatch,
                                                   arguments, message):
    image_folder(tmp_path / "drawings", 2)
    monkeypatch.chdir(tmp_path)
    assert main(["index", "build", "refused", *arguments]) == 2
    assert message in capsys.readouterr().err
    assert list(store.list_keys("indexes/")) == []
