"""Merge a LoRA adapter into its base model's weights, for serving where peft is not at hand."""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import UserError
from harness.registry import resolve_model


def merge_adapter(adapter: str, output: Path) -> Path:
    """Write base + adapter as one model folder (float32 weights, the tokenizer with the trained chat template)."""
    import torch
    import transformers
    from peft import PeftModel

    resolved = resolve_model(adapter)
    if not resolved.adapter:
        raise UserError(f"'{adapter}' is not a LoRA adapter or registered variant")
    kwargs = {"revision": resolved.revision, "trust_remote_code": resolved.trust_remote_code}
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(resolved.path, **kwargs)
        model = transformers.AutoModelForCausalLM.from_pretrained(resolved.path, dtype=torch.float32, **kwargs)
        model = PeftModel.from_pretrained(model, resolved.adapter).merge_and_unload()
    except (OSError, ValueError) as exc:
        raise UserError(f"could not load '{adapter}': {str(exc).splitlines()[0]}") from None
    if resolved.chat_template:
        tokenizer.chat_template = resolved.chat_template
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    info = {"base": resolved.path, "revision": resolved.revision, "adapter": str(Path(resolved.adapter).resolve())}
    manifest = Path(resolved.adapter) / "manifest.json"
    if manifest.is_file():
        info["manifest"] = json.loads(manifest.read_text(encoding="utf-8"))
    (output / "harness_merge.json").write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    return output
