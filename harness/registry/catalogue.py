"""Load the catalogue (`models.yaml`, shipped with the package) and the variants registered by `harness finetune`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from harness.errors import UserError
from harness.resources import harness_home

CATALOGUE_FILE = Path(__file__).with_name("models.yaml")


@dataclass(frozen=True)
class ModelEntry:
    """One catalogued model or fine-tuned variant."""

    key: str
    name_en: str
    name_zh: str | None = None
    organisation: str | None = None
    family: str | None = None
    hf: dict[str, str | None] = field(default_factory=dict)
    params_b: float | None = None
    context_length: int | None = None
    license: str | None = None
    trust_remote_code: bool = False
    chat_template: str | None = None
    vllm: str | None = None
    domain: str | None = None
    api: dict[str, Any] | None = None
    base: str | None = None
    adapter: dict[str, Any] | None = None
    unverified: tuple[str, ...] = ()
    notes: str | None = None
    source: str = "catalogue"

    @property
    def is_api(self) -> bool:
        return bool(self.api)

    @property
    def is_variant(self) -> bool:
        return self.base is not None

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        data["unverified"] = list(self.unverified)
        return data


_FIELDS = set(ModelEntry.__dataclass_fields__)


def _entry(raw: dict[str, Any], source: str) -> ModelEntry:
    unknown = set(raw) - _FIELDS
    if unknown:
        raise UserError(f"{source}: model entry {raw.get('key')!r} has unknown fields: {', '.join(sorted(unknown))}")
    data = dict(raw)
    data["hf"] = data.get("hf") or {}
    data["unverified"] = tuple(data.get("unverified") or ())
    data["trust_remote_code"] = bool(data.get("trust_remote_code"))
    data["source"] = source
    return ModelEntry(**data)


def variants_dir() -> Path:
    """Folder holding one YAML file per variant registered by `harness finetune`."""
    return harness_home() / "variants"


@lru_cache(maxsize=4)
def _load(variants_path: str) -> dict[str, ModelEntry]:
    raw = yaml.safe_load(CATALOGUE_FILE.read_text(encoding="utf-8"))
    entries: dict[str, ModelEntry] = {}
    for item in raw["models"]:
        entry = _entry(item, "catalogue")
        entries[entry.key] = entry
    folder = Path(variants_path)
    if folder.is_dir():
        for path in sorted(folder.glob("*.yaml")):
            try:
                item = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise UserError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
            entry = _entry(item, str(path))
            entries[entry.key] = entry
    return entries


def load_catalogue() -> dict[str, ModelEntry]:
    """All entries by key: the shipped catalogue plus registered variants."""
    return _load(str(variants_dir()))


def clear_cache() -> None:
    _load.cache_clear()
