"""`harness finetune`: data errors, the adapter + manifest + registered variant, merge equivalence."""

from __future__ import annotations

import json

import pytest
import yaml

from harness.cli import main
from harness.errors import UserError
from harness.finetune.data import load_examples
from harness.finetune.recipe import load_recipe

RECORDS = [{"instruction": f"下列选项中，属于动物的是____。\nA. 猫\nB. 红色\nC. 苹果\nD. 钢琴\n答案：{i}", "input": "", "output": "A"}
           for i in range(12)]


@pytest.fixture
def home(tmp_path, monkeypatch):
    from harness.registry.catalogue import clear_cache

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    clear_cache()
    yield tmp_path / "home"
    clear_cache()


def test_malformed_record_names_record_and_problem(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"instruction": "a", "output": "b"}, {"instruction": "c", "output": 3}]), encoding="utf-8")
    with pytest.raises(UserError, match=r"record 2: 'output' must be a string"):
        load_examples(path)
    path.write_text(json.dumps([{"conversations": [{"from": "human", "value": "hi"}]}]), encoding="utf-8")
    with pytest.raises(UserError, match=r"record 1: .*must end with an assistant"):
        load_examples(path)
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"instruction": "a", "output": "b"}\n{oops\n', encoding="utf-8")
    with pytest.raises(UserError, match="line 2 is not valid JSON"):
        load_examples(jsonl)


def test_sharegpt_and_alpaca_become_messages(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"conversations": [{"from": "human", "value": "问"}, {"from": "gpt", "value": "答"}]},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    examples, fmt = load_examples(path)
    assert fmt == "sharegpt" and examples[0] == [{"role": "user", "content": "问"}, {"role": "assistant", "content": "答"}]


def test_shipped_recipes_load_and_bad_fields_are_refused(tmp_path):
    for name in ("general-zh", "law", "medicine", "demo"):
        assert load_recipe(name).target_modules == "all-linear"
    bad = tmp_path / "r.yaml"
    bad.write_text("rank: 8\nlearning_rte: 0.1\n", encoding="utf-8")
    with pytest.raises(UserError, match="unknown recipe fields: learning_rte"):
        load_recipe(str(bad))


def test_response_only_labels(tiny_model):
    from transformers import AutoTokenizer

    from harness.finetune.recipe import CHATML
    from harness.finetune.train import encode

    tok = AutoTokenizer.from_pretrained(tiny_model)
    enc = encode([{"role": "user", "content": "问题"}, {"role": "assistant", "content": "答案"}], tok, CHATML, 512)
    labelled = tok.decode([i for i, lab in zip(enc.input_ids, enc.labels, strict=True) if lab != -100])
    assert labelled == "答案<|im_end|>\n"


def test_finetune_registers_variant_and_merge_gives_same_predictions(tiny_model, ceval_dir, tmp_path, home, capsys):
    data = tmp_path / "train.json"
    data.write_text(json.dumps(RECORDS, ensure_ascii=False), encoding="utf-8")
    recipe = tmp_path / "quick.yaml"
    recipe.write_text("rank: 4\nalpha: 8\nlearning_rate: 0.05\nbatch_size: 4\ngradient_accumulation: 1\n"
                      "max_steps: 4\ntemplate: chatml\neval_fraction: 0.25\n", encoding="utf-8")
    adapter = tmp_path / "adapter"
    assert main(["finetune", "--model", str(tiny_model), "--data", str(data), "--recipe", str(recipe),
                 "--output", str(adapter), "--name", "quick", "--quiet"]) == 0
    manifest = json.loads((adapter / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["variant"] == "tiny+quick" and manifest["data"]["train"] == 9 and manifest["data"]["eval"] == 3
    assert manifest["losses"]["best_eval"] is not None and manifest["peft_config"]["r"] == 4
    assert manifest["base"]["fingerprint"] and len(manifest["data"]["sha256"]) == 64
    assert (adapter / "chat_template.jinja").read_text(encoding="utf-8") == manifest["template"]
    entry = yaml.safe_load((home / "variants" / "tiny+quick.yaml").read_text(encoding="utf-8"))
    assert entry["base"] == str(tiny_model) and entry["adapter"]["chat_template"] == manifest["template"]

    merged = tmp_path / "merged"
    assert main(["finetune", "merge", "tiny+quick", "--output", str(merged)]) == 0
    runs = {}
    for label, model in (("variant", "tiny+quick"), ("merged", str(merged)), ("base", str(tiny_model))):
        out = tmp_path / label
        assert main(["run", "--suite", "ceval", "--model", model, "--data-dir", str(ceval_dir), "--shots", "1", "--subjects", "computer_network,law",
                     "--chat-template", "--output", str(out), "--quiet"]) == 0
        runs[label] = [json.loads(x) for x in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["pred"] for r in runs["variant"]] == [r["pred"] for r in runs["merged"]]
    for a, b in zip(runs["variant"], runs["merged"], strict=True):
        assert a["logprobs"] == pytest.approx(b["logprobs"], abs=1e-4)
    # the adapter really changed the model (otherwise the equality above proves nothing)
    assert any(a["logprobs"] != pytest.approx(b["logprobs"], abs=1e-3) for a, b in zip(runs["variant"], runs["base"], strict=True))


def test_finetune_bad_input_is_one_line(tiny_model, tmp_path, home, capsys):
    assert main(["finetune", "--model", str(tiny_model), "--data", str(tmp_path / "none.json")]) == 2
    assert "training data not found" in capsys.readouterr().err
    assert main(["finetune", "--model", str(tiny_model), "--data", str(tmp_path), "--recipe", "nope"]) == 2
    assert "recipe not found" in capsys.readouterr().err
