"""What the export writers share: the runs to export, and each question's prompt rebuilt from the run's
own settings (records keep the question, not the rendered few-shot prompt)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

from harness.errors import UserError
from harness.results.discover import find_run_folders
from harness.results.run import Run, load_run
from harness.runner.config import RunConfig


def load_export_runs(paths: list[Path], warn: Callable[[str], None] = print) -> list[Run]:
    """Every finished run under `paths` (run folders or folders holding them); unfinished ones are named."""
    folders, unfinished = find_run_folders(paths)
    for folder in unfinished:
        warn(f"harness: skipping unfinished run {folder}")
    if not folders:
        raise UserError(f"no finished runs (results.json) under {', '.join(str(p) for p in paths)}")
    return [load_run(folder) for folder in folders]


def run_config(run: Run) -> RunConfig | None:
    """The RunConfig the run was made with, from its protocol card (None for a card without one)."""
    raw = run.card.get("config")
    if not isinstance(raw, dict):
        return None
    known = {f.name for f in fields(RunConfig)}
    values = {k: v for k, v in raw.items() if k in known}
    for name in ("output", "data_dir"):
        if values.get(name) is not None:
            values[name] = Path(values[name])
    try:
        return RunConfig(**values)
    except TypeError:
        return None


def rebuild_contexts(run: Run) -> dict[str, str] | None:
    """Each question's full prompt (header, few-shot examples, question) by id, rendered again from the run's
    settings and data; None when that cannot be done exactly: the data is not at hand, the prompts went
    through a chat template (the model's tokenizer renders those), or the result does not hash to the
    prompt_hash on the run's card."""
    from harness.runner.items import prepare
    from harness.suite import load_suite
    from harness.suite.prompt import continuations, digest

    proto = run.protocol
    config = run_config(run)
    if config is None or proto.get("chat_template") or proto.get("method") not in ("letter", "choice"):
        return None
    try:
        prep = prepare(config)
        spec = load_suite(config.suite)
    except (UserError, OSError):
        return None
    contexts = [p.context for p in prep.prompts]
    if digest(contexts + continuations(spec)) != proto.get("prompt_hash"):
        return None
    return {p.question.id: p.context for p in prep.prompts}


def split_sizes(run: Run) -> dict[str, int] | None:
    """Questions per subject in the run's split before --limit (lm-eval's n-samples "original"), read from the
    run's data; None when the data is not at hand."""
    from harness.runner.items import prepare

    config = run_config(run)
    if config is None:
        return None
    try:
        prep = prepare(replace(config, limit=None, shots=0))
    except (UserError, OSError):
        return None
    sizes: dict[str, int] = {}
    for p in prep.prompts:
        sizes[p.question.subject] = sizes.get(p.question.subject, 0) + 1
    return sizes


def split_id(record_id: str) -> str:
    """The dataset's own id of a question: our ids are `subject/split/<row id>`."""
    return record_id.rsplit("/", 1)[-1]
