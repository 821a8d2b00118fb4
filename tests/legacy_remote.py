"""A remote-code model written by the tests, shaped like ChatGLM2's hub code (modeling_chatglm.py).

What the transformers backend must survive, as the real ChatGLM2/3 code has it:
- `forward` has a fixed signature: no `logits_to_keep`, no `**kwargs` (an unknown keyword is a TypeError);
- `past_key_values` is a legacy tuple of per-layer (key, value) tensors, sequence-first
  ([seq, batch, heads, head_dim]), concatenated along dim 0 — not a transformers `Cache`;
- hidden states run sequence-first inside; logits come back batch-first.

`write_legacy_model(folder, texts)` writes configuration_legacyglm.py, modeling_legacyglm.py, a config.json whose
`auto_map` points at them, random weights and a locally trained tokenizer: the folder loads only with
`trust_remote_code=True`, from disk, as a hub snapshot of such a model would.
"""

from __future__ import annotations

import json
from pathlib import Path

CONFIGURATION = '''
from transformers import PretrainedConfig


class LegacyGLMConfig(PretrainedConfig):
    model_type = "legacyglm"

    def __init__(self, vocab_size=1000, hidden_size=64, num_layers=2, num_heads=2, ffn_hidden_size=128,
                 seq_length=2048, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.ffn_hidden_size = ffn_hidden_size
        self.seq_length = seq_length
        super().__init__(**kwargs)
'''

MODELING = '''
import math

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from .configuration_legacyglm import LegacyGLMConfig


def rotate(x, positions):
    """Rotary embedding on a [seq, batch, heads, dim] tensor; positions [seq]."""
    dim = x.shape[-1]
    inv = 1.0 / (10000 ** (torch.arange(0, dim, 2, dtype=torch.float32, device=x.device) / dim))
    angles = positions.float()[:, None] * inv[None, :]
    cos, sin = angles.cos()[:, None, None, :], angles.sin()[:, None, None, :]
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.flatten(-2).to(x.dtype)


class Layer(nn.Module):
    def __init__(self, config):
        super().__init__()
        h = config.hidden_size
        self.heads = config.num_heads
        self.norm1 = nn.LayerNorm(h)
        self.qkv = nn.Linear(h, 3 * h)
        self.dense = nn.Linear(h, h, bias=False)
        self.norm2 = nn.LayerNorm(h)
        self.mlp = nn.Sequential(nn.Linear(h, config.ffn_hidden_size), nn.GELU(), nn.Linear(config.ffn_hidden_size, h))

    def forward(self, hidden, positions, past):
        # hidden: [seq, batch, h] (sequence-first, as in ChatGLM2)
        s, b, h = hidden.shape
        q, k, v = self.qkv(self.norm1(hidden)).view(s, b, self.heads, 3 * h // self.heads).chunk(3, dim=-1)
        q, k = rotate(q, positions), rotate(k, positions)
        if past is not None:
            k = torch.cat([past[0], k], dim=0)
            v = torch.cat([past[1], v], dim=0)
        present = (k, v)
        t = k.shape[0]
        scores = torch.einsum("sbnd,tbnd->bnst", q, k) / math.sqrt(q.shape[-1])
        offset = t - s
        mask = torch.ones(s, t, dtype=torch.bool, device=hidden.device).tril(diagonal=offset)
        scores = scores.masked_fill(~mask, float("-inf"))
        ctx = torch.einsum("bnst,tbnd->sbnd", scores.softmax(-1), v).reshape(s, b, h)
        hidden = hidden + self.dense(ctx)
        return hidden + self.mlp(self.norm2(hidden)), present


class LegacyGLMForConditionalGeneration(PreTrainedModel, GenerationMixin):
    config_class = LegacyGLMConfig
    base_model_prefix = "transformer"
    _no_split_modules = ["Layer"]

    def __init__(self, config):
        super().__init__(config)
        self.embedding = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList([Layer(config) for _ in range(config.num_layers)])
        self.final_norm = nn.LayerNorm(config.hidden_size)
        self.output_layer = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(0.0, 0.1)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()

    def get_input_embeddings(self):
        return self.embedding

    def forward(
        self,
        input_ids=None,
        position_ids=None,
        attention_mask=None,
        past_key_values=None,
        inputs_embeds=None,
        labels=None,
        use_cache=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        return_last_logit=False,
    ):
        if past_key_values is not None and not isinstance(past_key_values, tuple):
            raise TypeError(f"this model only knows tuple caches, got {type(past_key_values).__name__}")
        past_len = past_key_values[0][0].shape[0] if past_key_values else 0
        hidden = (self.embedding(input_ids) if inputs_embeds is None else inputs_embeds).transpose(0, 1)
        positions = torch.arange(past_len, past_len + hidden.shape[0], device=hidden.device)
        presents = ()
        for i, layer in enumerate(self.layers):
            hidden, present = layer(hidden, positions, past_key_values[i] if past_key_values else None)
            presents += (present,)
        hidden = self.final_norm(hidden)
        if return_last_logit:
            hidden = hidden[-1:]
        logits = self.output_layer(hidden).transpose(0, 1).contiguous()
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                                               labels[:, 1:].reshape(-1), ignore_index=-100)
        return CausalLMOutputWithPast(loss=loss, logits=logits, past_key_values=presents if use_cache else None)

    def prepare_inputs_for_generation(self, input_ids, past_key_values=None, attention_mask=None, use_cache=None,
                                      **kwargs):
        if isinstance(past_key_values, tuple) and past_key_values:
            input_ids = input_ids[:, -1:]
        elif not isinstance(past_key_values, tuple):
            past_key_values = None
        return {"input_ids": input_ids, "past_key_values": past_key_values, "use_cache": use_cache,
                "return_last_logit": True}
'''


def write_legacy_model(folder: Path, texts: list[str], seed: int = 0) -> Path:
    """Write the remote-code model and a trained tokenizer to `folder` (random weights, seeded)."""
    import importlib.util
    import sys

    import torch

    from harness.demo.tiny import train_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "configuration_legacyglm.py").write_text(CONFIGURATION, encoding="utf-8")
    (folder / "modeling_legacyglm.py").write_text(MODELING, encoding="utf-8")
    tokenizer = train_tokenizer(texts, 600)
    tokenizer.save_pretrained(folder)
    config = {
        "architectures": ["LegacyGLMForConditionalGeneration"],
        "model_type": "legacyglm",
        "auto_map": {
            "AutoConfig": "configuration_legacyglm.LegacyGLMConfig",
            "AutoModel": "modeling_legacyglm.LegacyGLMForConditionalGeneration",
            "AutoModelForCausalLM": "modeling_legacyglm.LegacyGLMForConditionalGeneration",
        },
        "vocab_size": len(tokenizer), "hidden_size": 64, "num_layers": 2, "num_heads": 2, "ffn_hidden_size": 128,
        "seq_length": 2048, "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id,
        "torch_dtype": "float32",
    }
    # Build the weights with the same code the folder ships (imported from the folder as a package).
    name = f"_legacyglm_{abs(hash(str(folder)))}"
    init = folder / "__init__.py"
    init.write_text("", encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(folder)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    try:
        spec.loader.exec_module(package)
        cfg_mod = importlib.import_module(f"{name}.configuration_legacyglm")
        model_mod = importlib.import_module(f"{name}.modeling_legacyglm")
        torch.manual_seed(seed)
        model = model_mod.LegacyGLMForConditionalGeneration(cfg_mod.LegacyGLMConfig(**{
            k: v for k, v in config.items() if k not in ("architectures", "auto_map", "model_type", "torch_dtype")
        }))
        model.save_pretrained(folder)
    finally:
        for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[mod]
        init.unlink()
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return folder

