"""Build tiny random-weight models with a locally trained tokenizer (no hub, no network).

The model is a Qwen2-architecture decoder (head_dim 32), which loads in transformers, peft,
lm-eval and vLLM. Train the tokenizer on real text for realistic token counts: on C-Eval's dev
split a ~8k vocabulary spends ~1.4 characters per token on Chinese, like real Chinese tokenizers.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4000):
    """A byte-level BPE tokenizer (every byte is a token, so A-D are always single tokens)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHATML,
        clean_up_tokenization_spaces=False,
    )


def build_tiny_model(
    out: Path,
    texts: Iterable[str],
    vocab_size: int = 4000,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 2,
    kv_heads: int = 1,
    intermediate_size: int = 128,
    seed: int = 0,
    initializer_range: float = 0.1,
) -> Path:
    """Write a tiny Qwen2 model and its tokenizer to `out`; returns `out`."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = train_tokenizer(texts, vocab_size)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=hidden_size // heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
        initializer_range=initializer_range,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def suite_texts(folder: Path) -> list[str]:
    """All text of the CSV/JSON files under `folder`, for training a tokenizer."""
    return [p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*")) if p.suffix in (".csv", ".json", ".jsonl")]
