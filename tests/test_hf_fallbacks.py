"""The transformers backend on models that are not transformers' own decoders.

- A remote-code model shaped like ChatGLM2 (fixed `forward` signature without `logits_to_keep` or **kwargs, legacy
  tuple cache of sequence-first tensors), loaded from a local folder with --trust-remote-code: it scores, letter and
  choice, exactly what its whole prompts give (checked against a forward pass written here), generates, and the card
  says why the shared-prefix cache is off.
- A sliding-window model (tiny Qwen2 with the window on in every layer): the same predictions and log-probs with the
  prefix cache on and off, both when the few-shot prefix is longer than the window (scored whole) and when it fits
  but the prompts run past the window (the prefix is shared and the window masks the suffix).
"""

from __future__ import annotations

import json
import os

import pytest
from conftest import FIXTURE_TEXT, REPO
from legacy_remote import write_legacy_model

from harness.cli import main

SHOTS = ["--suite", "sample", "--shots", "2", "--limit", "3", "--quiet", "--batch-size", "4"]


def _texts() -> list[str]:
    from harness.demo.tiny import suite_texts

    return suite_texts(REPO / "suites" / "sample") + [FIXTURE_TEXT]


def _run(tmp_path, model, name, *extra) -> tuple[dict, list[dict]]:
    out = tmp_path / name
    assert main(["run", "--model", str(model), "--output", str(out), *SHOTS, *extra]) == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    records = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    return results, sorted(records, key=lambda r: r["id"])


def _same(a: list[dict], b: list[dict], tol: float) -> None:
    assert [r["id"] for r in a] == [r["id"] for r in b] and len(a) == 12
    for x, y in zip(a, b, strict=True):
        assert x["pred"] == y["pred"], x["id"]
        assert x["logprobs"] == pytest.approx(y["logprobs"], abs=tol), x["id"]


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    return write_legacy_model(tmp_path_factory.mktemp("legacy") / "legacyglm", _texts())


def test_remote_code_needs_consent(legacy, tmp_path, capsys):
    assert main(["run", "--model", str(legacy), "--output", str(tmp_path / "r"), *SHOTS]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"harness: error: model '{legacy}' ships its own code; run it only if you trust it: --trust-remote-code"]


@pytest.mark.parametrize("method", ["letter", "choice"])
def test_legacy_remote_code_model_scores_as_its_whole_prompts(legacy, tmp_path, method):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    results, shared = _run(tmp_path, legacy, "cache", "--method", method, "--trust-remote-code")
    _, whole = _run(tmp_path, legacy, "whole", "--method", method, "--trust-remote-code", "--no-prefix-cache")
    backend = results["card"]["backend"]
    assert backend["prefix_cache"].startswith("off (legacy tuple cache")
    assert backend["model_forward"] == {"logits_to_keep": False, "cache": "tuple"}
    assert results["card"]["protocol"]["method"] == method
    _same(shared, whole, 0.0)

    # Independently of the backend: the whole prompt through the model's own forward, option by option.
    from harness.runner import RunConfig, prepare

    prep = prepare(RunConfig(suite="sample", model=str(legacy), output=tmp_path / "x", shots=2, limit=3))
    tok = AutoTokenizer.from_pretrained(legacy)
    model = AutoModelForCausalLM.from_pretrained(legacy, trust_remote_code=True, dtype=torch.float32).eval()
    by_id = {r["id"]: r for r in whole}
    for p in prep.prompts[::4]:
        ctx = tok(p.context)["input_ids"]
        want = []
        for letter in "ABCD":
            full = tok(p.context + letter)["input_ids"]
            assert full[: len(ctx)] == ctx
            with torch.no_grad():
                logp = torch.log_softmax(model(input_ids=torch.tensor([full[:-1]])).logits[0].float(), -1)
            want.append(sum(float(logp[i - 1, full[i]]) for i in range(len(ctx), len(full))))
        got = by_id[p.question.id]["logprobs"]
        assert [got[k] for k in "ABCD"] == pytest.approx(want, abs=1e-5)


def test_legacy_remote_code_model_generates(legacy, tmp_path):
    results, records = _run(tmp_path, legacy, "gen", "--method", "generate", "--max-new-tokens", "4",
                            "--trust-remote-code")
    assert len(records) == 12 and all(isinstance(r["output"], str) for r in records)
    assert results["card"]["protocol"]["method"] == "generate"


def _prefix_tokens(folder) -> tuple[int, int]:
    """(shortest shared few-shot prefix over the subjects, longest prompt) in tokens, as the backend sees them."""
    from transformers import AutoTokenizer

    from harness.runner import RunConfig, prepare

    tok = AutoTokenizer.from_pretrained(folder)
    prep = prepare(RunConfig(suite="sample", model=str(folder), output=folder / "x", shots=2, limit=3))
    by_subject: dict[str, list[list[int]]] = {}
    for p in prep.prompts:
        by_subject.setdefault(p.question.subject, []).append(tok(p.context)["input_ids"])
    prefixes = [len(os.path.commonprefix(rows)) for rows in by_subject.values()]
    return min(prefixes), max(len(r) for rows in by_subject.values() for r in rows)


@pytest.mark.parametrize("case", ["prefix longer than window", "prefix within window"])
def test_sliding_window_model_same_with_and_without_prefix_cache(tmp_path, case):
    from harness.registry.families import build_tiny

    probe = build_tiny("qwen2", tmp_path / "probe", _texts())
    prefix, longest = _prefix_tokens(probe)
    window = 8 if case == "prefix longer than window" else prefix + 4
    assert window < longest, "the prompts must run past the window for the window to matter"
    folder = build_tiny("qwen2", tmp_path / "swa", _texts(),
                        overrides={"use_sliding_window": True, "sliding_window": window, "max_window_layers": 0})
    for method in ("letter", "choice"):
        on, shared = _run(tmp_path, folder, f"on-{method}", "--method", method)
        off, whole = _run(tmp_path, folder, f"off-{method}", "--method", method, "--no-prefix-cache")
        _same(shared, whole, 1e-4)
        assert on["card"]["backend"]["prefix_cache"] == f"on (sliding window {window}: a longer shared prefix is scored whole)"
        assert off["card"]["backend"]["prefix_cache"] == "off (--no-prefix-cache)"
        assert on["card"]["backend"]["shared_prefix_attention"] is False  # one prefix copy is for full attention only
        tokens = on["card"]["tokens"]
        if window < prefix:  # nothing shared: every prompt computed whole
            assert tokens["computed"] == tokens["prompt"]
        else:
            assert tokens["computed"] < tokens["prompt"]
    # the window matters for these prompts: the same weights with a wide window score differently
    wide = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    wide.update(use_sliding_window=False, layer_types=["full_attention"] * wide["num_hidden_layers"])
    (folder / "config.json").write_text(json.dumps(wide), encoding="utf-8")
    _, unwindowed = _run(tmp_path, folder, "wide", "--method", "choice")
    assert any(abs(a["logprobs"]["A"] - b["logprobs"]["A"]) > 1e-4 for a, b in zip(whole, unwindowed, strict=True))


def test_linear_attention_state_is_shared_and_scores_as_whole_prompts(tmp_path):
    """Qwen3.5's hybrid layers (Gated DeltaNet recurrent state + full attention): the prefix's recurrent state is
    copied to every row of a batch, and each row goes on from it exactly as its whole prompt would."""
    from harness.registry.families import build_tiny

    folder = build_tiny("qwen3_5", tmp_path / "hybrid", _texts(), overrides={"initializer_range": 0.2})
    for method in ("letter", "choice"):
        on, shared = _run(tmp_path, folder, f"on-{method}", "--method", method)
        _, whole = _run(tmp_path, folder, f"off-{method}", "--method", method, "--no-prefix-cache")
        _same(shared, whole, 1e-4)
        assert on["card"]["backend"]["prefix_cache"] == "on"
        assert on["card"]["backend"]["model_forward"]["cache"] == "DynamicCache"
        assert on["card"]["backend"]["shared_prefix_attention"] is False  # recurrent layers: the expanded cache
        assert on["card"]["tokens"]["computed"] < on["card"]["tokens"]["prompt"]
