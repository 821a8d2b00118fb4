"""Load the catalogue (`models.yaml`, shipped with the package) and the variants registered by `harness finetune`.

Entries are checked on load: a malformed variant file (written by hand or by an older version) must fail as one
clear line naming the file and the field, not as a traceback deep inside a run.
"""

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
    published: dict[str, dict[str, Any]] = field(default_factory=dict)
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

# Published scores (model cards, tech reports, official leaderboards) the site and reports set beside ours.
PUBLISHED_BENCHMARKS = ("ceval", "mmlu", "cmmlu")
# score and source are required; the rest say under which protocol the number was obtained (None: not stated).
PUBLISHED_FIELDS = ("score", "shots", "split", "release", "method", "note", "source")
RELEASES = ("base", "chat")


def _published(raw: Any, where: str) -> dict[str, dict[str, Any]]:
    """Check and normalise `published:` -> {benchmark: {every PUBLISHED_FIELDS key}}."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"{where}: published must be a mapping of benchmark -> score record")
    out: dict[str, dict[str, Any]] = {}
    for bench, rec in raw.items():
        at = f"{where}: published.{bench}"
        if bench not in PUBLISHED_BENCHMARKS:
            raise UserError(f"{at}: unknown benchmark (known: {', '.join(PUBLISHED_BENCHMARKS)})")
        if not isinstance(rec, dict):
            raise UserError(f"{at}: must be a mapping with score and source")
        unknown = set(rec) - set(PUBLISHED_FIELDS)
        if unknown:
            raise UserError(f"{at}: unknown fields {', '.join(sorted(map(str, unknown)))}")
        score, source, shots = rec.get("score"), rec.get("source"), rec.get("shots")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 100:
            raise UserError(f"{at}.score: must be a number from 0 to 100, got {score!r}")
        if not isinstance(source, str) or not source.startswith(("https://", "http://")):
            raise UserError(f"{at}.source: must be the URL the number was taken from, got {source!r}")
        if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 0):
            raise UserError(f"{at}.shots: must be a whole number >= 0 or null, got {shots!r}")
        if rec.get("release") not in (None, *RELEASES):
            raise UserError(f"{at}.release: must be one of {', '.join(RELEASES)} or null, got {rec.get('release')!r}")
        for text in ("split", "method", "note"):
            if rec.get(text) is not None and not isinstance(rec[text], str):
                raise UserError(f"{at}.{text}: must be text or null, got {rec[text]!r}")
        out[bench] = {k: rec.get(k) for k in PUBLISHED_FIELDS} | {"score": float(score)}
    return out


def _entry(raw: Any, source: str) -> ModelEntry:
    if not isinstance(raw, dict):
        raise UserError(f"{source}: a model entry must be a mapping of fields, got {type(raw).__name__}")
    key = raw.get("key")
    if not isinstance(key, str) or not key:
        raise UserError(f"{source}: model entry has no key")
    if not raw.get("name_en"):
        raise UserError(f"{source}: model entry {key!r} has no name_en")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise UserError(f"{source}: model entry {key!r} has unknown fields: {', '.join(sorted(map(str, unknown)))}")
    data = dict(raw)
    data["hf"] = data.get("hf") or {}
    data["unverified"] = tuple(data.get("unverified") or ())
    stray = set(data["unverified"]) - _FIELDS
    if stray:
        raise UserError(f"{source}: model {key!r}: unverified names unknown fields: {', '.join(sorted(map(str, stray)))}")
    data["trust_remote_code"] = bool(data.get("trust_remote_code"))
    data["published"] = _published(data.get("published"), f"{source}: model {key!r}")
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
        if entry.key in entries:  # a shipped duplicate would silently shadow an entry
            raise ValueError(f"models.yaml: duplicate key {entry.key!r}")
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
