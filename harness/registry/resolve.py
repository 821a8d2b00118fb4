"""Turn a `--model` argument (catalogue key, variant, local folder or Hugging Face id) into what a backend loads."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.registry.adapter import checked_adapter
from harness.registry.catalogue import ModelEntry, load_catalogue
from harness.results.jsonl import read_json

_HF_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


@dataclass(frozen=True)
class ResolvedModel:
    """What to load: weights (`path`: a folder or hub id), an optional LoRA adapter, and how."""

    name: str  # what results and reports call it
    path: str
    revision: str | None = None
    adapter: str | None = None
    trust_remote_code: bool = False
    chat_template: str | None = None  # a jinja template to use instead of the tokenizer's
    entry: ModelEntry | None = None
    api: dict[str, Any] | None = None  # served elsewhere, by name: the catalogue's api block ({} for any server)

    @property
    def is_local(self) -> bool:
        return Path(self.path).is_dir()


def _from_entry(entry: ModelEntry, flavour: str | None, catalogue: dict[str, ModelEntry]) -> ResolvedModel:
    if entry.is_api:
        key_env = entry.api.get("key_env")
        raise UserError(
            f"model '{entry.key}' is API-only ({entry.api.get('provider')}): evaluate it with --backend openai"
            + (f" (the key in ${key_env})" if key_env else "")
        )
    if entry.is_variant:
        base_key = entry.base
        if base_key not in catalogue and not Path(base_key).is_dir():
            raise UserError(f"variant '{entry.key}' names an unknown base '{base_key}'")
        base = (
            _from_entry(catalogue[base_key], flavour, catalogue)
            if base_key in catalogue
            else ResolvedModel(name=base_key, path=base_key)
        )
        adapter = entry.adapter or {}
        adapter_ref = adapter.get("path") or adapter.get("hf")
        if not adapter_ref:
            raise UserError(f"variant '{entry.key}' has no adapter path")
        return ResolvedModel(
            name=entry.key,
            path=base.path,
            revision=base.revision,
            adapter=adapter_ref,
            trust_remote_code=base.trust_remote_code,
            chat_template=adapter.get("chat_template") or base.chat_template,
            entry=entry,
        )
    hf = entry.hf or {}
    if flavour in ("chat", "base"):  # asked for by name: that release, never the other one instead
        repo = hf.get(flavour)
    else:  # the bare key: the base release, or the only (chat) one an entry has
        repo = hf.get("base") or hf.get("chat")
    if not repo:
        raise UserError(f"model '{entry.key}' has no Hugging Face weights{f' for {flavour}' if flavour else ''}"
                        + (" (it has a chat release: use the bare key or :chat)" if flavour == "base" and hf.get("chat")
                           else ""))
    name = entry.key + (":chat" if flavour == "chat" else "")
    return ResolvedModel(name=name, path=repo, trust_remote_code=entry.trust_remote_code, entry=entry)


def _local_folder(path: Path) -> ResolvedModel:
    adapter_cfg = path / "adapter_config.json"
    if adapter_cfg.is_file():
        config = read_json(adapter_cfg)
        base = config.get("base_model_name_or_path") if isinstance(config, dict) else None
        if not base:
            raise UserError(f"{adapter_cfg}: no base_model_name_or_path")
        template = path / "chat_template.jinja"
        return ResolvedModel(
            name=path.name,
            path=base,
            adapter=str(path),
            chat_template=template.read_text(encoding="utf-8") if template.is_file() else None,
        )
    if not (path / "config.json").is_file():
        raise UserError(f"{path}: not a model folder (no config.json or adapter_config.json)")
    return ResolvedModel(name=path.name, path=str(path))


def resolve_served(arg: str) -> ResolvedModel:
    """What `--backend openai` asks a server for. A catalogue API entry brings its provider's base URL,
    key variable and model name; anything `resolve_model` knows (folder, catalogue key, variant) is
    asked for under its resolved name — the name `harness serve` gives it — and keeps its identity
    (a local folder's fingerprint); any other name is sent to the server as it is."""
    catalogue = load_catalogue()
    key, _, _flavour = arg.partition(":")
    entry = catalogue.get(key)
    if entry is not None and entry.is_api:
        return ResolvedModel(name=entry.key, path=str(entry.api.get("model_name") or entry.key), entry=entry,
                             api=dict(entry.api))
    if Path(arg).expanduser().exists():  # a folder must be a model or an adapter: say so if it is not
        return replace(resolve_model(arg), api={})
    try:
        return replace(resolve_model(arg), api={})
    except UserError:
        return ResolvedModel(name=arg, path=arg, api={})


def resolve_model(arg: str, revision: str | None = None, served: bool = False) -> ResolvedModel:
    """Resolve `arg`: a local folder, `KEY`, `KEY:chat`, a registered variant `BASE+NAME`, or a hub id.
    With `served`, the model is asked for by name on a server (see `resolve_served`)."""
    if served:
        return resolve_served(arg)
    path = Path(arg).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"{arg}: a model must be a folder, not a file")
        resolved = _local_folder(path.resolve())
    else:
        catalogue = load_catalogue()
        key, _, flavour = arg.partition(":")
        if key in catalogue:
            if flavour not in ("", "chat", "base"):
                raise UserError(f"unknown model flavour ':{flavour}' (use ':chat' or ':base')")
            resolved = _from_entry(catalogue[key], flavour or None, catalogue)
        elif _HF_ID.match(arg):
            resolved = ResolvedModel(name=arg, path=arg)
        else:
            close = [k for k in catalogue if arg.lower() in k][:5]
            hint = f" (did you mean: {', '.join(close)})" if close else "; see `harness models`"
            raise UserError(f"unknown model '{arg}': not a folder, catalogue key or Hugging Face id{hint}")
    if revision:
        resolved = ResolvedModel(**{**resolved.__dict__, "revision": revision})
    if resolved.adapter and Path(resolved.adapter).is_dir():
        checked_adapter(Path(resolved.adapter))  # unfinished or changed adapters are refused
    return resolved
