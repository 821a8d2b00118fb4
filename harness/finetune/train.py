"""The LoRA training loop: response-only loss, held-out eval loss each epoch, best adapter kept.

The adapter folder holds the peft weights, `chat_template.jinja` (the template trained with, which
`harness run` then uses for this adapter) and `manifest.json` (what produced it). A catalogue base or
local base folder also gets a registered variant `BASE+NAME`.
"""

from __future__ import annotations

import importlib.util
import json
import math
import platform
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

import harness
from harness.backends.base import resolve_device
from harness.errors import UserError
from harness.finetune.data import Messages, load_examples
from harness.finetune.output import check_output, commit, staging_folder
from harness.finetune.recipe import Recipe, template_text
from harness.registry import resolve_model
from harness.registry.adapter import MANIFEST
from harness.registry.catalogue import clear_cache, variants_dir
from harness.results.evidence import file_sha256

TEMPLATE_FILE = "chat_template.jinja"


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]  # -100 where no loss (prompt, template glue of non-assistant turns)


def encode(messages: Messages, tokenizer: Any, template: str, cutoff: int) -> Encoded | None:
    """Tokens of a conversation with labels on the assistant turns only; None when the cutoff
    leaves no response token. Each turn is the difference between the template rendered up to and
    before it, so the template's own glue before an answer is prompt, after it (e.g. <|im_end|>) is answer."""

    def render(msgs: Messages, gen: bool) -> str:
        if not msgs:
            return ""
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen, chat_template=template)

    ids: list[int] = []
    labels: list[int] = []
    previous = ""
    for i, msg in enumerate(messages):
        is_answer = msg["role"] == "assistant"
        if is_answer:
            prompt_text = render(messages[:i], True)
            if prompt_text != previous:
                piece = tokenizer(prompt_text[len(previous):], add_special_tokens=not ids)["input_ids"]
                ids += piece
                labels += [-100] * len(piece)
                previous = prompt_text
        text = render(messages[: i + 1], False)
        if not text.startswith(previous):
            raise UserError("the chat template does not render a conversation as a growing prefix; use another template")
        piece = tokenizer(text[len(previous):], add_special_tokens=not ids)["input_ids"]
        ids += piece
        labels += piece if is_answer else [-100] * len(piece)
        previous = text
    ids, labels = ids[:cutoff], labels[:cutoff]
    if all(x == -100 for x in labels[1:]):
        return None
    return Encoded(ids, labels)


def _batches(items: list[Encoded], size: int, pad_id: int, rng: random.Random | None):
    import torch

    order = list(range(len(items)))
    if rng is not None:
        rng.shuffle(order)
    for start in range(0, len(order), size):
        chunk = [items[i] for i in order[start : start + size]]
        width = max(len(e.input_ids) for e in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        labels = torch.full((len(chunk), width), -100, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, e in enumerate(chunk):
            n = len(e.input_ids)
            ids[row, :n] = torch.tensor(e.input_ids)
            labels[row, :n] = torch.tensor(e.labels)
            mask[row, :n] = 1
        yield ids, labels, mask


def _loss_sum(model: Any, ids, labels, mask) -> tuple[Any, int]:
    """Summed token loss over response tokens (so accumulation weighs every token alike)."""
    import torch

    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    target = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=-100, reduction="sum")
    return loss, int((target != -100).sum())


def evaluate_loss(model: Any, items: list[Encoded], batch_size: int, pad_id: int, device: str) -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for ids, labels, mask in _batches(items, batch_size, pad_id, None):
            loss, n = _loss_sum(model, ids.to(device), labels.to(device), mask.to(device))
            total += float(loss)
            count += n
    model.train()
    return total / max(count, 1)


def model_linears(model: Any) -> list[str]:
    """Modules of the model's own code that subclass nn.Linear but compute something else in `forward` (e.g.
    DeepSeek-V4's grouped output projection, a block-diagonal bmm). peft's LoRA adds x @ A.T @ B.T to them as if
    they were x @ W.T, which fails or is wrong, so "all-linear" leaves them out."""
    import torch

    return [name for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and type(m).forward is not torch.nn.Linear.forward
            and type(m).__module__.startswith(("transformers.models.", "transformers_modules."))]


def _cutoff(cutoff_len: int, model: Any) -> int:
    """The recipe's cutoff_len, clamped (with a warning) to the positions the model has."""
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0 and cutoff_len > positions:
        print(f"harness: warning: cutoff_len {cutoff_len} is beyond the model's {positions} positions "
              f"(max_position_embeddings); training with cutoff_len {positions}", file=sys.stderr)
        return positions
    return cutoff_len


def variant_key(base_arg: str, name: str) -> str | None:
    """`BASE+NAME` for a catalogue key or a local base folder (its folder name); None for hub ids."""
    resolved = resolve_model(base_arg)
    if resolved.entry is not None and not resolved.entry.is_variant:
        return f"{resolved.entry.key}+{name}"
    if Path(resolved.path).is_dir():
        return f"{Path(resolved.path).name}+{name}"
    return None


def register_variant(key: str, base: str, adapter: Path, template: str, recipe: Recipe) -> Path:
    """Write `harness_home()/variants/<key>.yaml` so `harness run --model KEY` loads base + adapter."""
    folder = variants_dir()
    folder.mkdir(parents=True, exist_ok=True)
    entry = {
        "key": key,
        "name_en": f"{base} + LoRA {recipe.name}",
        "base": base,
        "adapter": {"path": str(adapter.resolve()), "kind": "lora", "chat_template": template},
        "domain": recipe.domain,
        "notes": f"fine-tuned by harness finetune; manifest: {adapter.resolve() / MANIFEST}",
    }
    path = folder / f"{key.replace('/', '_')}.yaml"
    path.write_text(yaml.safe_dump(entry, allow_unicode=True, sort_keys=False), encoding="utf-8")
    clear_cache()
    return path


def finetune(
    model_arg: str,
    data: Path,
    recipe: Recipe,
    output: Path,
    name: str | None = None,
    device: str = "auto",
    progress: bool = True,
    register: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train a LoRA adapter of `model_arg` on `data` into `output` (atomically: see
    harness/finetune/output.py; an existing adapter there is replaced only with `overwrite`);
    returns the manifest."""
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model

    started = time.time()
    base = resolve_model(model_arg)
    if base.adapter:
        raise UserError(f"'{model_arg}' is already an adapter; fine-tune its base model instead")
    device = resolve_device(device)
    if recipe.quantization == "4bit":
        if importlib.util.find_spec("bitsandbytes") is None:
            raise UserError("QLoRA (quantization: 4bit) needs bitsandbytes: pip install bitsandbytes (CUDA only)")
        if not device.startswith("cuda"):
            raise UserError("QLoRA (quantization: 4bit) needs a CUDA device")
    examples, fmt = load_examples(Path(data))
    check_output(output, overwrite)  # refuse now, before the model loads
    random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    rng = random.Random(recipe.seed)
    order = list(range(len(examples)))
    rng.shuffle(order)
    if recipe.max_samples:
        order = order[: recipe.max_samples]
    n_eval = int(round(len(order) * recipe.eval_fraction)) if len(order) > 1 else 0
    if recipe.eval_fraction > 0 and len(order) > 1:
        n_eval = min(max(1, n_eval), len(order) - 1)

    kwargs: dict[str, Any] = {"revision": base.revision, "trust_remote_code": base.trust_remote_code}
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(base.path, **kwargs)
        if recipe.quantization == "4bit":
            kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
            )
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        model = transformers.AutoModelForCausalLM.from_pretrained(base.path, dtype=dtype, **kwargs)
    except OSError as exc:
        raise UserError(f"could not load model '{base.path}': {str(exc).splitlines()[0]}") from None
    template = template_text(recipe, tokenizer)
    cutoff = _cutoff(recipe.cutoff_len, model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)

    encoded: list[Encoded | None] = [encode(examples[i], tokenizer, template, cutoff) for i in order]
    dropped = sum(e is None for e in encoded)
    eval_items = [e for e in encoded[:n_eval] if e is not None]
    train_items = [e for e in encoded[n_eval:] if e is not None]
    if not train_items:
        raise UserError(f"no training example keeps a response token within cutoff_len {cutoff}")

    if recipe.quantization == "4bit":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    odd = model_linears(model) if recipe.target_modules == "all-linear" else []
    lora = LoraConfig(
        r=recipe.rank, lora_alpha=recipe.alpha, lora_dropout=recipe.dropout, exclude_modules=odd or None,
        target_modules=recipe.target_modules, modules_to_save=recipe.modules_to_save, task_type="CAUSAL_LM",
        # a trained copy of tied embeddings must stay tied to the output layer, or the adapter and
        # its merge into the base would be different models
        ensure_weight_tying=bool(recipe.modules_to_save and getattr(model.config, "tie_word_embeddings", False)),
    )
    model = get_peft_model(model, lora)
    if recipe.quantization != "4bit":
        model.to(device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    steps_per_epoch = math.ceil(len(train_items) / (recipe.batch_size * recipe.gradient_accumulation))
    total_steps = recipe.max_steps or max(1, math.ceil(steps_per_epoch * recipe.epochs))
    scheduler = transformers.get_scheduler(
        recipe.scheduler, optimizer, num_warmup_steps=int(recipe.warmup_ratio * total_steps), num_training_steps=total_steps
    )

    tmp = staging_folder(output, overwrite)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {}
    step, epoch, last_loss = 0, 0, float("nan")

    def checkpoint() -> None:
        entry = {"step": step, "epoch": epoch, "train_loss": last_loss}
        if eval_items:
            entry["eval_loss"] = evaluate_loss(model, eval_items, recipe.batch_size, pad_id, device)
        history.append(entry)
        score = entry.get("eval_loss", last_loss)
        if not best or score < best["score"]:
            best.update(score=score, step=step, epoch=epoch, eval_loss=entry.get("eval_loss"))
            model.save_pretrained(tmp)

    with _Progress(progress, total_steps, f"finetune · {recipe.name}") as bar:
        while step < total_steps:
            epoch += 1
            window_loss, window_tokens, micro = 0.0, 0, 0
            for ids, labels, mask in _batches(train_items, recipe.batch_size, pad_id, rng):
                loss, n = _loss_sum(model, ids.to(device), labels.to(device), mask.to(device))
                if n:
                    (loss / n / recipe.gradient_accumulation).backward()
                window_loss += float(loss.detach())
                window_tokens += n
                micro += 1
                if micro % recipe.gradient_accumulation:
                    continue
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                step += 1
                last_loss = window_loss / max(window_tokens, 1)
                window_loss, window_tokens = 0.0, 0
                bar.update(step, last_loss, best.get("eval_loss"))
                if step >= total_steps:
                    break
            if micro % recipe.gradient_accumulation and step < total_steps:  # leftover micro-batches
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                step += 1
                last_loss = window_loss / max(window_tokens, 1)
                bar.update(step, last_loss, best.get("eval_loss"))
            checkpoint()
            bar.update(step, last_loss, best.get("eval_loss"))

    (tmp / TEMPLATE_FILE).write_text(template, encoding="utf-8")
    adapter_cfg = json.loads((tmp / "adapter_config.json").read_text(encoding="utf-8"))

    from harness.registry.identity import folder_fingerprint

    key = None
    name = name or recipe.name
    if register:
        key = variant_key(model_arg, name)
    base_ref = base.entry.key if base.entry is not None else base.path
    manifest = {
        "harness_version": harness.__version__,
        "variant": key,
        "base": {
            "model": model_arg,
            "path": base.path,
            "revision": base.revision or getattr(model.config, "_commit_hash", None),
            "fingerprint": folder_fingerprint(Path(base.path)) if Path(base.path).is_dir() else None,
        },
        "data": {"path": str(Path(data).resolve()), "sha256": file_sha256(Path(data)), "format": fmt,
                 "records": len(examples), "train": len(train_items), "eval": len(eval_items), "dropped_by_cutoff": dropped},
        "recipe": recipe.as_dict(),
        "cutoff_len": cutoff,
        "template": template,
        "peft_config": adapter_cfg,
        "seed": recipe.seed,
        "losses": {
            "final_train": last_loss,
            "final_eval": history[-1].get("eval_loss") if history else None,
            "best_eval": best.get("eval_loss"),
            "best_step": best.get("step"),
            "history": history,
        },
        "steps": step,
        "device": device,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "peft": importlib.import_module("peft").__version__, "python": platform.python_version()},
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 2),
    }
    manifest = commit(tmp, output, manifest)  # the adapter appears at `output` only now, complete
    if key:
        register_variant(key, base_ref, output, template, recipe)
    return manifest


class _Progress:
    """A rich bar on stderr showing step, loss and best eval loss."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        self.enabled, self.total, self.label = enabled, total, label

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=Console(stderr=True))
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, info="")
        return self

    def update(self, step: int, loss: float, eval_loss: float | None) -> None:
        if self.enabled:
            info = f"loss {loss:.4f}" + (f" · best eval {eval_loss:.4f}" if eval_loss is not None else "")
            self._bar.update(self._task, completed=step, info=info)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.stop()
