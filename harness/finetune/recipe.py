"""Fine-tuning recipes: YAML files (shipped in `adapters/`, or a path) with LoRA and optimiser settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from harness.errors import UserError
from harness.resources import data_dir

PLAIN = "{% for message in messages %}{{ message['content'] }}{% endfor %}"
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
NAMED_TEMPLATES = {"plain": PLAIN, "chatml": CHATML}
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")


@dataclass
class Recipe:
    """How to train one LoRA adapter. `template`: `tokenizer` (the base model's own chat template),
    `chatml`, `plain` (the prompt text as it is, what `harness run` scores without --chat-template),
    or a path to a .jinja file."""

    name: str = "lora"
    description: str = ""
    domain: str | None = None
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"
    modules_to_save: list[str] | None = None  # whole modules trained beside the LoRA (e.g. a final norm)
    learning_rate: float = 2e-4
    scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 4
    gradient_accumulation: int = 4
    cutoff_len: int = 1024
    max_samples: int | None = None
    seed: int = 42
    eval_fraction: float = 0.1
    template: str = "tokenizer"
    quantization: str | None = None  # "4bit" for QLoRA (needs bitsandbytes and CUDA)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self, where: str) -> Recipe:
        if self.rank < 1 or self.alpha <= 0:
            raise UserError(f"{where}: rank must be >= 1 and alpha > 0")
        if not 0 <= self.dropout < 1 or not 0 <= self.eval_fraction < 1:
            raise UserError(f"{where}: dropout and eval_fraction must be in [0, 1)")
        if self.scheduler not in SCHEDULERS:
            raise UserError(f"{where}: scheduler must be one of {', '.join(SCHEDULERS)}")
        if self.batch_size < 1 or self.gradient_accumulation < 1 or self.cutoff_len < 2:
            raise UserError(f"{where}: batch_size, gradient_accumulation must be >= 1 and cutoff_len >= 2")
        if self.max_steps is None and self.epochs <= 0:
            raise UserError(f"{where}: give epochs > 0 or max_steps")
        if self.quantization not in (None, "4bit"):
            raise UserError(f"{where}: quantization must be '4bit' or absent")
        return self


def load_recipe(ref: str | Path | None, **overrides: Any) -> Recipe:
    """A recipe by shipped name (`law`, `adapters/law.yaml`) or path; `overrides` (not None) win."""
    raw: dict[str, Any] = {}
    where = "default recipe"
    if ref:
        path = Path(ref)
        if not path.is_file():
            shipped = data_dir("adapters") / f"{path.stem}.yaml"
            if not shipped.is_file():
                names = ", ".join(sorted(p.stem for p in data_dir("adapters").glob("*.yaml")))
                raise UserError(f"recipe not found: {ref} (shipped recipes: {names})")
            path = shipped
        where = str(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise UserError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
        if not isinstance(raw, dict):
            raise UserError(f"{path}: a recipe is a mapping of settings")
        raw.setdefault("name", path.stem)
    known = {f.name for f in fields(Recipe)}
    unknown = set(raw) - known
    if unknown:
        raise UserError(f"{where}: unknown recipe fields: {', '.join(sorted(unknown))}")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Recipe(**raw).check(where)
    except TypeError as exc:
        raise UserError(f"{where}: {exc}") from None


def template_text(recipe: Recipe, tokenizer: Any) -> str:
    """The jinja chat template the recipe trains with."""
    name = recipe.template
    if name in NAMED_TEMPLATES:
        return NAMED_TEMPLATES[name]
    if name == "tokenizer":
        own = getattr(tokenizer, "chat_template", None)
        if not own or not isinstance(own, str):
            raise UserError("the base model's tokenizer has no chat template: set `template: chatml` or `plain` in the recipe")
        return own
    path = Path(name)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    raise UserError(f"recipe template '{name}' is not tokenizer, chatml, plain or a .jinja file")
