"""The catalogue lists every model the project promises, and `--model` resolves each kind of argument."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.errors import UserError
from harness.registry import load_catalogue, resolve_model

CATALOGUE = [
    "glm-4-9b", "glm-130b", "chatglm-6b", "chatglm2-6b", "chatglm3-6b", "moss-moon-003-sft", "minicpm-2b",
    "minicpm-llama3-v-2.5", "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b", "qwen2.5-7b", "qwen2.5-14b",
    "qwen2.5-32b", "qwen2.5-72b", "deepseek-llm-7b", "deepseek-coder-1.3b", "deepseek-coder-6.7b", "baichuan-7b",
    "internlm-7b", "internlm2-7b", "aquila-7b", "chatlaw-13b", "chatlaw-33b", "llama-7b+bentsao", "cpm-bee-10b",
    "ernie-4.0-turbo", "doubao", "hunyuan-turbo",
]


def test_catalogue_has_every_promised_model():
    catalogue = load_catalogue()
    missing = [k for k in CATALOGUE if k not in catalogue]
    assert not missing
    for entry in catalogue.values():
        assert entry.name_en and entry.organisation
        assert entry.is_api or entry.hf or entry.is_variant or entry.notes, entry.key
        if entry.is_api:
            assert entry.api.get("key_env") and entry.api.get("provider")
        if entry.is_variant:
            assert entry.base in catalogue and entry.adapter


def test_models_command_lists_all(capsys):
    assert main(["models", "--json"]) == 0
    keys = {e["key"] for e in json.loads(capsys.readouterr().out)}
    assert set(CATALOGUE) <= keys
    assert main(["models", "show", "qwen2.5-7b"]) == 0
    assert "Qwen/Qwen2.5-7B" in capsys.readouterr().out
    assert main(["models", "show", "nope"]) == 2


def test_resolution():
    base = resolve_model("qwen2.5-7b")
    assert base.path == "Qwen/Qwen2.5-7B" and base.adapter is None
    assert resolve_model("qwen2.5-7b:chat").path == "Qwen/Qwen2.5-7B-Instruct"
    variant = resolve_model("llama-7b+bentsao")
    assert variant.adapter and variant.path == resolve_model("llama-7b").path
    assert resolve_model("someorg/some-model").path == "someorg/some-model"
    with pytest.raises(UserError, match="API-only"):
        resolve_model("doubao")
    with pytest.raises(UserError, match="unknown model"):
        resolve_model("qwen9")


def test_local_folder_and_adapter_folder(tiny_model, tmp_path):
    assert resolve_model(str(tiny_model)).path == str(tiny_model)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_model)}), encoding="utf-8")
    resolved = resolve_model(str(adapter))
    assert resolved.path == str(tiny_model) and resolved.adapter == str(adapter)
    with pytest.raises(UserError, match="not a model folder"):
        resolve_model(str(tmp_path))
