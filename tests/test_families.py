"""Every architecture family the catalogue lists natively can be built tiny, loaded, run and decoded on CPU.

This is what `harness models check` will stand on: if a family's own config class stops building, loading or
decoding here, the catalogue's claim that the harness runs it is false.
"""

from __future__ import annotations

import pytest
from conftest import FIXTURE_TEXT

from harness.errors import UserError
from harness.registry import load_catalogue
from harness.registry.families import REMOTE_CODE_ONLY, TINY, build_tiny, family_table, native_families

TEXTS = [
    FIXTURE_TEXT,
    "以下是中国关于计算机网络考试的单项选择题，请选出其中的正确答案。TCP属于哪一层？A. 物理层 B. 传输层 C. 应用层 D. 网络层 答案：B",
    "民事行为能力的年龄界限是____。A. 十六岁 B. 十八岁 C. 二十岁 D. 十四岁 答案：B",
    "The following are multiple choice questions about physics. The SI unit of resistance is A. ohm B. volt 答案：A",
]
# Long enough (~40 tokens) that sliding windows, KV compression and top-k sparse attention all take effect.
PROMPT = TEXTS[1] + TEXTS[2]


def test_every_native_family_in_the_catalogue_has_a_tiny_spec_and_the_rest_say_why_not():
    native = native_families()
    assert {"qwen2", "qwen3", "qwen3_moe", "glm4_moe", "deepseek_v3", "ernie4_5", "ernie4_5_moe",
            "hunyuan_v1_dense", "minicpm3", "llama"} <= set(native)
    assert set(native) <= set(TINY)
    rows = {r["family"]: r for r in family_table()}
    catalogue = load_catalogue()
    assert {k for r in rows.values() for k in r["keys"]} == {k for k, e in catalogue.items() if not e.is_api}
    for fam in ("chatglm", "baichuan", "internlm2", "moss", "cpmbee", "aquila"):
        assert rows[fam]["status"] == "not checkable offline" and rows[fam]["special"] == REMOTE_CODE_ONLY[fam]
    assert rows["glm4_moe"]["shrunk"]["hidden_size"] == 64 and rows["glm4_moe"]["shrunk"]["n_routed_experts"] == 4


def test_a_remote_code_family_cannot_be_built_and_says_why(tmp_path):
    with pytest.raises(UserError, match="cannot build a tiny 'chatglm' model offline: .*remote|modeling_chatglm"):
        build_tiny("chatglm", tmp_path / "m", TEXTS)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """family -> folder, built lazily once per family."""
    root = tmp_path_factory.mktemp("families")
    cache: dict[str, object] = {}

    def get(family: str):
        if family not in cache:
            cache[family] = build_tiny(family, root / family, TEXTS, seed=0)
        return cache[family]

    return get


@pytest.mark.parametrize("family", native_families())
def test_tiny_family_loads_runs_and_decodes(family, built):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = built(family)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    assert model.config.model_type == family or model.config.model_type == f"{family}_text"
    inputs = tokenizer(PROMPT, return_tensors="pt")
    n = inputs["input_ids"].shape[1]
    assert n >= 20, "the prompt must be long enough to pass the tiny windows"
    with torch.no_grad():
        logits = model(**inputs).logits
        cached = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False,
                                pad_token_id=tokenizer.pad_token_id)
        uncached = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False, use_cache=False,
                                  pad_token_id=tokenizer.pad_token_id)
    assert logits.shape == (1, n, len(tokenizer)) and torch.isfinite(logits).all()
    assert cached.shape == (1, n + 4)
    assert torch.equal(cached, uncached), "greedy decoding with the family's cache must match recomputation"
    assert cached[0, n] == logits[0, -1].argmax(), "the first generated token is the forward pass's argmax"


@pytest.mark.parametrize("family", [f for f in native_families() if TINY[f].prefix_cache_exact])
def test_a_cached_prefix_reproduces_full_prompt_logits(family, built):
    """What the shared-prefix scorer relies on: suffix log-probs on top of a cached prefix equal the full forward."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = built(family)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    ids = tokenizer(PROMPT * 4, return_tensors="pt")["input_ids"]  # ~150 tokens: past every tiny window
    n = ids.shape[1]
    with torch.no_grad():
        full = torch.log_softmax(model(input_ids=ids).logits, -1)
        for k in (n // 2, n - 8):
            prefix = model(input_ids=ids[:, :k], use_cache=True)
            suffix = model(input_ids=ids[:, k:], past_key_values=prefix.past_key_values, use_cache=True).logits
            assert torch.allclose(torch.log_softmax(suffix, -1), full[:, k:], atol=1e-4), (family, k)


def test_overrides_build_a_sliding_window_variant_of_a_family(tmp_path):
    """The sliding-window case the prefix cache must handle: a qwen2 whose window is shorter than the prompt."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    window = {"use_sliding_window": True, "sliding_window": 8, "max_window_layers": 0}
    folder = build_tiny("qwen2", tmp_path / "swa", TEXTS, overrides=window)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    assert model.config.sliding_window == 8 and set(model.config.layer_types) == {"sliding_attention"}
    ids = AutoTokenizer.from_pretrained(folder)(PROMPT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        windowed = model(input_ids=ids).logits
        # the same weights with a window wider than the prompt
        wide = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, sliding_window=4096).eval()
        assert not torch.allclose(windowed, wide(input_ids=ids).logits), "the window must change what is attended"
    with pytest.raises(ValueError, match="takes no"):
        build_tiny("qwen2", tmp_path / "bad", TEXTS, overrides={"sliding_windw": 8})
