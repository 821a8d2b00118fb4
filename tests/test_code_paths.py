"""A code run's generate → stop → extract → execute path, through `harness run` with a backend that returns
fixed outputs (registered for the test): the stop strings a backend is asked for depend on the prompt style,
and a chat answer's fenced block with a helper function and comments survives to the sandbox."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.backends import BACKENDS
from harness.backends.base import Backend, GenerationParams
from harness.backends.tokens import cut_at_stop
from harness.cli import main
from harness.suite.formats import HUMANEVAL_STOP, MBPP_STOP
from tests.test_code_suite import CHAT, MBPP, _data

ANSWERS = {  # (chat, task) -> what the "model" writes, before any stop
    (False, "add"): "    return a + b\n\n\ndef test_add():\n    assert add(2, 2) == 5\n\ntest_add()\n",
    (False, "total"): "    return sum(xs)\n\nprint(total([1]))\n#",
    (False, "mbpp"): MBPP["code"] + "\n[DONE]\n\nYou are an expert Python programmer, and here is your task: …",
    (True, "add"): CHAT,
    (True, "total"): "```python\ndef total(xs):\n    # add them up\n    return sum(xs)\n```",
    (True, "mbpp"): "Sure.\n```python\n# a helper first\n" + MBPP["code"] + "\n```\nDone.",
}


class FixedBackend(Backend):
    """Answers every prompt with ANSWERS, cut at the run's stop strings as the local backends cut them."""

    name = "fixed"
    asked: list[tuple[str, ...]] = []

    def __init__(self, model: Any, **options: Any) -> None:
        self.batch_size = 4

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "dtype": None, "batch_size": None}

    def letter_token_ids(self, context: str, continuations: Sequence[str]) -> list[int] | None:
        return None

    def score(self, *args: Any, **kwargs: Any):
        raise NotImplementedError

    def apply_chat_template(self, text: str) -> str:
        return f"<|user|>{text}<|assistant|>"

    def _generate_batch(self, prompts: Sequence[str], params: GenerationParams, seed: int) -> list[list[str]]:
        FixedBackend.asked.append(params.stop)
        out = []
        for prompt in prompts:
            task = "mbpp" if "expert Python programmer" in prompt else "total" if "def total" in prompt else "add"
            key = (prompt.startswith("<|user|>"), task)
            out.append([cut_at_stop(ANSWERS[key], params.stop)] * params.n)
        return out


def _run(tmp_path: Path, monkeypatch, *extra: str) -> dict[str, dict]:
    monkeypatch.setitem(BACKENDS, "fixed", (__name__, "FixedBackend", ""))
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text("{}", encoding="utf-8")
    data = tmp_path / "data"
    _data(data)
    out = tmp_path / ("chat" if extra else "base")
    FixedBackend.asked = []
    assert main(["run", "--suite", "code", "--model", str(model), "--backend", "fixed", "--data-dir", str(data),
                 "--output", str(out), "--quiet", *extra]) == 0
    return {r["id"].rsplit("/", 1)[-1]: r for r in map(json.loads, (out / "records.jsonl").read_text(encoding="utf-8").splitlines())}


def test_base_prompts_stop_as_their_benchmark_does(tmp_path, monkeypatch) -> None:
    records = _run(tmp_path, monkeypatch)
    assert set(FixedBackend.asked) == {HUMANEVAL_STOP, MBPP_STOP}
    assert "\ndef" not in MBPP_STOP and "\ndef " not in MBPP_STOP  # MBPP programs define helpers
    assert records["7"]["output"].startswith("def double(x)") and records["7"]["correct"]
    assert records["0"]["correct"] and records["1"]["correct"]  # cut before the model's own (wrong) test


def test_chat_answers_keep_their_fenced_block_whole(tmp_path, monkeypatch) -> None:
    records = _run(tmp_path, monkeypatch, "--chat-template")
    assert set(FixedBackend.asked) == {()}  # no stop strings for chat
    for rec in records.values():
        assert rec["output"].count("```") == 2 and rec["correct"], rec.get("values", {}).get("error")
