"""The harm taxonomy as versioned data (a YAML file), convertible to and from
the `Taxonomy` message so a run can carry the user's own taxonomy to every
stage."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from mis.v1 import common_pb2
from services.common.parsing import ParseRejected, read_text_file

BUNDLED = "mis-v1"
# A taxonomy is a few kilobytes; the size is checked before reading.
MAX_TAXONOMY_BYTES = 1024 * 1024


class TaxonomyError(ValueError):
    """The taxonomy file is malformed; the message says where."""


@dataclass(frozen=True)
class Taxonomy:
    version: str
    categories: dict[str, tuple[str, ...]]
    descriptions: dict[str, str]

    def has_category(self, name: str) -> bool:
        return name in self.categories

    def has_sub_category(self, category: str, sub_category: str) -> bool:
        return sub_category in self.categories.get(category, ())

    def category_of(self, sub_category: str) -> str | None:
        for name, subs in self.categories.items():
            if sub_category in subs:
                return name
        return None

    def to_proto(self) -> common_pb2.Taxonomy:
        return common_pb2.Taxonomy(version=self.version, categories=[
            common_pb2.TaxonomyCategory(name=name, description=self.descriptions.get(name, ""),
                                        sub_categories=list(subs))
            for name, subs in self.categories.items()])

    @classmethod
    def from_proto(cls, message: common_pb2.Taxonomy) -> "Taxonomy":
        return cls.from_dict({"version": message.version, "categories": [
            {"name": c.name, "description": c.description, "sub_categories": list(c.sub_categories)}
            for c in message.categories]}, "request")

    @classmethod
    def from_dict(cls, data: dict, source: str) -> "Taxonomy":
        if not isinstance(data, dict):
            raise TaxonomyError(f"{source}: expected a mapping with version and categories")
        version = data.get("version")
        if not isinstance(version, str) or not version.strip():
            raise TaxonomyError(f"{source}: version: required, a non-empty string")
        entries = data.get("categories")
        if not isinstance(entries, list) or not entries:
            raise TaxonomyError(f"{source}: categories: required, a non-empty list")
        categories: dict[str, tuple[str, ...]] = {}
        descriptions: dict[str, str] = {}
        for index, entry in enumerate(entries):
            where = f"{source}: categories[{index}]"
            if not isinstance(entry, dict) or not str(entry.get("name", "")).strip():
                raise TaxonomyError(f"{where}.name: required")
            name = str(entry["name"]).strip()
            if name in categories:
                raise TaxonomyError(f"{where}.name: duplicate category {name!r}")
            subs = entry.get("sub_categories") or []
            if not isinstance(subs, list) or not all(isinstance(s, str) and s.strip() for s in subs):
                raise TaxonomyError(f"{where}.sub_categories: must be a list of names")
            if not subs:
                raise TaxonomyError(f"{where}.sub_categories: at least one is required")
            categories[name] = tuple(s.strip() for s in subs)
            descriptions[name] = str(entry.get("description", ""))
        return cls(version.strip(), categories, descriptions)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load a taxonomy file, or the bundled MIS taxonomy when `path` is None."""
    if path is None or str(path) in ("", BUNDLED):
        text = (resources.files("services.common") / "data" / "taxonomy" / f"{BUNDLED}.yaml").read_text()
        source = f"bundled {BUNDLED}"
    else:
        try:
            text = read_text_file(Path(path), MAX_TAXONOMY_BYTES)
        except ParseRejected as exc:
            raise TaxonomyError(f"{path}: {exc}") from None
        source = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        # Only the position and the kind of problem: the YAML error's own text
        # quotes the offending line, and the file may not be a taxonomy at all.
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        raise TaxonomyError(f"{source}: {where}not valid YAML") from None
    except (yaml.YAMLError, RecursionError):
        raise TaxonomyError(f"{source}: not valid YAML (or nested too deeply)") from None
    return Taxonomy.from_dict(data, source)


def taxonomy_from_request(message: common_pb2.Taxonomy, default: Taxonomy) -> Taxonomy:
    """The request's taxonomy when it carries one, else the service default."""
    return Taxonomy.from_proto(message) if message.categories else default
