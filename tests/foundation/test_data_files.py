"""Data the platform ships is loaded and validated: the taxonomy, prompts,
the generated contracts and the configuration reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common import protogen, settings_doc
from services.common.prompts import PromptError, load_prompt
from services.common.taxonomy import Taxonomy, TaxonomyError, load_taxonomy

ROOT = Path(__file__).resolve().parents[2]


def test_bundled_taxonomy_matches_the_paper():
    taxonomy = load_taxonomy()
    assert taxonomy.version == "mis-v1"
    assert len(taxonomy.categories) == 6
    assert sum(len(subs) for subs in taxonomy.categories.values()) == 14
    assert taxonomy.has_sub_category("Privacy", "Identity Theft")
    assert taxonomy.category_of("Cybercrimes") == "Illegal Activity"
    assert Taxonomy.from_proto(taxonomy.to_proto()) == taxonomy


@pytest.mark.parametrize("text, problem", [
    ("version: v1\n", "categories: required"),
    ("categories: [{name: A, sub_categories: [x]}]\n", "version: required"),
    ("version: v1\ncategories: [{name: A}]\n", "categories[0].sub_categories: at least one"),
    ("version: v1\ncategories: [{name: A, sub_categories: [x]}, {name: A, sub_categories: [y]}]\n",
     "categories[1].name: duplicate"),
    ("version: v1\ncategories: [{sub_categories: [x]}]\n", "categories[0].name: required"),
    ("version: [unclosed\n", "not valid YAML"),
])
def test_a_users_taxonomy_is_checked(tmp_path, text, problem):
    path = tmp_path / "taxonomy.yaml"
    path.write_text(text)
    with pytest.raises(TaxonomyError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        load_taxonomy(path)


def test_every_shipped_prompt_loads():
    prompt_files = sorted(ROOT.glob("services/*/prompts/*.yaml"))
    for path in prompt_files:
        package = "services." + path.parent.parent.name
        prompt = load_prompt(package, path.stem)
        assert prompt.version and prompt.system and prompt.user
    with pytest.raises(PromptError, match="no prompt named"):
        load_prompt("services.common", "does-not-exist")


def test_generated_contracts_are_fresh():
    assert protogen.main(["--check"]) == 0


def test_configuration_reference_is_fresh():
    assert settings_doc.main(["--check"]) == 0, "run: python -m services.common.settings_doc"
