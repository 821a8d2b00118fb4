"""Failure modes that used to pass silently: NaN log-probabilities, a misspelt prompt placeholder, and a
prompt longer than the model's context."""

from __future__ import annotations

import json
import math
from pathlib import Path

from harness.backends import BACKENDS
from harness.backends.hf import HFBackend
from harness.cli import main
from harness.registry import resolve_model
from harness.runner import RunConfig, execute, prepare
from harness.suite import load_suite


class NaNBackend(HFBackend):
    """The transformers backend, with the first question's log-probabilities NaN (an fp16 overflow, say)."""

    def score(self, *args, **kwargs):
        for batch in super().score(*args, **kwargs):
            if 0 in batch.indices:
                batch.outputs[batch.indices.index(0)] = [math.nan] * len(batch.outputs[0])
            yield batch


def _records(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]


def test_nan_log_probabilities_never_predict_a_letter(tiny_model, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(BACKENDS, "nan", (__name__, "NaNBackend", ""))
    out = tmp_path / "run"
    assert main(["run", "--suite", "sample", "--subjects", "arithmetic", "--limit", "4", "--shots", "0",
                 "--model", str(tiny_model), "--backend", "nan", "--output", str(out), "--quiet"]) == 0
    first = _records(out)[0]
    assert first.get("pred") is None and first["correct"] is False and first["values"]["invalid"]
    assert set(first["logprobs"].values()) == {None}  # valid JSON, no NaN token
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["scores"]["overall"]["micro"]["invalid"] == 1 and results["scores"]["overall"]["micro"]["n"] == 4
    assert "1 question(s) got NaN log-probabilities" in capsys.readouterr().err


def test_an_unknown_placeholder_is_refused_when_the_suite_loads(tmp_path, capsys) -> None:
    text = load_suite("sample").path.read_text(encoding="utf-8").replace("{question}", "{questoin}")
    suite = tmp_path / "typo.yaml"
    suite.write_text(text.replace("data_dir: sample", f"data_dir: {load_suite('sample').data_dir}"), encoding="utf-8")
    code = main(["run", "--suite", str(suite), "--model", str(tmp_path / "no-model"), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "unknown placeholder {questoin}" in err and "\n" not in err


def test_too_long_prompts_drop_whole_shots_not_their_start(tiny_model, tmp_path, capsys) -> None:
    config = RunConfig(suite="sample", model=str(tiny_model), output=tmp_path / "run", subjects=["word_kind"],
                       limit=6, shots=5, batch_size=4)
    prep = prepare(config)
    backend = HFBackend(resolve_model(str(tiny_model)), device="cpu")
    subject = prep.prompts[0].question.subject
    from harness.suite.prompt import build_prefix

    def tokens(p, k: int) -> int:
        return backend.count_tokens([build_prefix(prep.spec, subject, prep.fewshot[subject][:k]) + p.suffix])[0]

    limit = max(tokens(p, 2) for p in prep.prompts) + 1  # room for the answer letter
    assert limit < min(tokens(p, 5) for p in prep.prompts)
    config.backend_options = {"max_length": limit}
    results = execute(config, progress=False)
    records = _records(config.output)
    shots = [r["values"]["shots"] for r in records]
    assert all(2 <= k < 5 for k in shots) and "truncated_tokens" not in json.dumps(records)
    for record, p in zip(records, prep.prompts, strict=True):  # the most shots that fit, as the official code keeps
        k = record["values"]["shots"]
        assert tokens(p, k) + 1 <= limit < tokens(p, k + 1) + 1
    assert results["scores"]["overall"]["fewer_shots"] == len(records)
    assert "dropped whole few-shot examples" in capsys.readouterr().err


def test_a_generation_prompt_longer_than_the_context_is_flagged(tiny_model, tmp_path, capsys) -> None:
    folder = tmp_path / "law" / "data" / "zero_shot"
    folder.mkdir(parents=True)
    row = {"instruction": "请回答下列问题:", "question": "醉驾如何处罚？" * 80, "answer": "处拘役并处罚金。"}
    (folder / "3-8.json").write_text(json.dumps([row], ensure_ascii=False), encoding="utf-8")
    config = RunConfig(suite="law", model=str(tiny_model), output=tmp_path / "run", data_dir=tmp_path / "law",
                       max_new_tokens=8, backend_options={"max_length": 64})
    execute(config, progress=False)
    (record,) = _records(config.output)
    assert record["values"]["truncated_tokens"] > 0
    assert "cuts them from the left" in capsys.readouterr().err
