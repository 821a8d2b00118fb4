"""The catalogue lists every model the project promises, and `--model` resolves each kind of argument."""

from __future__ import annotations

import json
import re

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
    # current open releases of the same teams (issue #12)
    "qwen3-0.6b", "qwen3-8b", "qwen3-32b", "qwen3-30b-a3b", "qwen3-235b-a22b", "qwen3-next-80b-a3b", "qwen3.5-9b",
    "qwen3.5-35b-a3b", "glm-4-9b-hf", "glm-4-32b-0414", "glm-4.5", "glm-4.5-air", "glm-4.6", "glm-4.7-flash", "glm-5",
    "deepseek-v3", "deepseek-r1", "deepseek-v3.1", "deepseek-v3.2", "deepseek-v4-flash", "ernie-4.5-0.3b",
    "ernie-4.5-21b-a3b", "ernie-4.5-300b-a47b", "hunyuan-7b", "hunyuan-a13b", "minicpm3-4b", "minicpm4-8b",
    "internlm3-8b", "baichuan2-7b", "baichuan2-13b", "baichuan-m2-32b", "seed-oss-36b",
]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private HARNESS_HOME, so registered variants of other tests (or of the user) never leak in."""
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


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


def test_models_command_lists_all(capsys, home):
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


def test_base_asked_by_name_is_never_silently_the_chat_release():
    chat_only = [e for e in load_catalogue().values() if e.hf and e.hf.get("chat") and not e.hf.get("base")]
    assert chat_only, "the catalogue has chat-only releases (ERNIE 4.5's -PT weights)"
    entry = chat_only[0]
    assert resolve_model(entry.key).path == entry.hf["chat"]  # the bare key: the one release there is
    with pytest.raises(UserError, match="no Hugging Face weights for base"):
        resolve_model(f"{entry.key}:base")


def test_local_folder_and_adapter_folder(tiny_model, tmp_path):
    assert resolve_model(str(tiny_model)).path == str(tiny_model)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_model)}), encoding="utf-8")
    resolved = resolve_model(str(adapter))
    assert resolved.path == str(tiny_model) and resolved.adapter == str(adapter)
    with pytest.raises(UserError, match="not a model folder"):
        resolve_model(str(tmp_path))


def test_every_weights_entry_names_its_transformers_family():
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    catalogue = load_catalogue()
    for entry in catalogue.values():
        assert entry.family, entry.key
    # families that transformers implements are spelled as its model_type, so `--family` and the check agree
    for key in ("qwen3-8b", "qwen3-30b-a3b", "glm-4.5", "deepseek-v3", "ernie-4.5-0.3b", "ernie-4.5-21b-a3b",
                "hunyuan-7b", "minicpm3-4b", "seed-oss-36b"):
        assert catalogue[key].family in CONFIG_MAPPING_NAMES and not catalogue[key].trust_remote_code, key


def test_ernie_has_an_open_weight_entry_beside_the_api(capsys, home):
    assert main(["models", "show", "ernie-4.5-21b-a3b", "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["api"] is None and entry["hf"]["chat"] == "baidu/ERNIE-4.5-21B-A3B-PT"
    assert entry["family"] == "ernie4_5_moe" and entry["license"] == "Apache-2.0"
    assert main(["models", "--api", "--format", "tsv"]) == 0
    api_keys = {line.split("\t")[0] for line in capsys.readouterr().out.splitlines()[1:]}
    assert "ernie-4.0-turbo" in api_keys and not any(k.startswith("ernie-4.5") for k in api_keys)


def test_keys_are_never_cut_in_a_narrow_non_terminal_console(capsys, monkeypatch, home):
    monkeypatch.setenv("COLUMNS", "80")  # what CI logs and pipes get
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in out
    for key in load_catalogue():
        assert any(re.search(rf"(^|\s){re.escape(key)}(\s|$)", line) for line in lines), key


def test_tsv_has_one_whole_row_per_entry_and_filters_compose(capsys, home):
    assert main(["models", "--format", "tsv"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    header, body = rows[0], rows[1:]
    assert header[0] == "key" and all(len(r) == len(header) for r in body)
    assert [r[0] for r in body] == list(load_catalogue())
    assert main(["models", "--open", "--domain", "medicine", "--format", "tsv"]) == 0
    keys = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert "baichuan-m2-32b" in keys and "llama-7b+bentsao" in keys
    assert all(not load_catalogue()[k].is_api and load_catalogue()[k].domain == "medicine" for k in keys)
    assert main(["models", "--family", "QWEN3_MOE", "--json"]) == 0
    assert {e["key"] for e in json.loads(capsys.readouterr().out)} == {"qwen3-30b-a3b", "qwen3-235b-a22b"}


def test_filter_mistakes_are_one_line(capsys, home):
    assert main(["models", "--family", "qwen9"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown family 'qwen9'" in err and "qwen3_moe" in err and len(err.splitlines()) == 1
    assert main(["models", "show", "deepseek-v33"]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_show_prints_every_field_and_the_published_protocol(capsys, monkeypatch, home):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["models", "show", "deepseek-v3"]) == 0
    out = capsys.readouterr().out
    for field in load_catalogue()["deepseek-v3"].as_dict():
        if field != "published":
            assert re.search(rf"^{field}\s", out, re.M), field
    line = next(x for x in out.splitlines() if x.startswith("published.ceval"))
    assert "90.1" in line and "5-shot" in line and "base release" in line
    assert "https://github.com/deepseek-ai/DeepSeek-V3" in line  # the source whole, copyable


def _write_variant(home, published) -> None:
    import yaml

    (home / "variants").mkdir(parents=True, exist_ok=True)
    entry = {"key": "qwen2.5-0.5b+mine", "name_en": "mine", "base": "qwen2.5-0.5b",
             "adapter": {"path": "/nowhere", "kind": "lora"}, "published": published}
    (home / "variants" / "mine.yaml").write_text(yaml.safe_dump(entry), encoding="utf-8")


GOOD = {"score": 61.5, "shots": 5, "split": "val", "source": "https://example.org/card"}


@pytest.mark.parametrize(
    "published, complaint",
    [
        ({"ceval": dict(GOOD, score=161.5)}, "published.ceval.score"),
        ({"ceval": dict(GOOD, source="the model card")}, "published.ceval.source"),
        ({"c-eval": GOOD}, "unknown benchmark"),
        ({"mmlu": [61.5]}, "published.mmlu: must be a mapping"),
        ({"cmmlu": dict(GOOD, shots="five")}, "published.cmmlu.shots"),
        ({"ceval": dict(GOOD, macro=True)}, "unknown fields macro"),
        ([GOOD], "published must be a mapping"),
    ],
)
def test_a_bad_published_block_in_a_variant_is_one_clear_line(published, complaint, capsys, home):
    _write_variant(home, published)
    assert main(["models"]) == 2
    err = capsys.readouterr().err.strip()
    assert complaint in err and "mine.yaml" in err and len(err.splitlines()) == 1


def test_a_good_published_block_in_a_variant_is_shown(capsys, home):
    _write_variant(home, {"ceval": dict(GOOD, method="5-shot, chat template", note="macro average")})
    assert main(["models", "show", "qwen2.5-0.5b+mine"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("published.ceval"))
    assert "61.5 (5-shot; split: val; method: 5-shot, chat template) — macro average — https://example.org/card" in line
