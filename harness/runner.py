"""`harness run`: suite spec → prompts → backend → scored records → run folder.

The runner owns the order of work and the protocol card; suites know data and prompts,
backends know log-probabilities, scoring knows metrics, the store knows files.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
from harness.errors import UserError
from harness.registry import ResolvedModel, resolve_model
from harness.results.store import RunStore
from harness.scoring.mc import aggregate, predict
from harness.suite import load_suite
from harness.suite.loader import discover_subjects, load_questions
from harness.suite.prompt import PromptedQuestion, build_prompts, continuations, digest
from harness.suite.spec import Question, SuiteSpec

log = logging.getLogger("harness")

METHODS = ("letter", "choice", "generate")


@dataclass
class RunConfig:
    suite: str
    model: str
    output: Path
    split: str | None = None
    shots: int | None = None
    subjects: list[str] | None = None
    limit: int | None = None
    method: str = "letter"
    backend: str = "hf"
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 16
    data_dir: Path | None = None
    chat_template: bool = False
    revision: str | None = None
    overwrite: bool = False
    prefix_cache: bool = True
    backend_options: dict[str, Any] = field(default_factory=dict)
    # --method generate (and suites of another kind than multiple_choice): see harness/generation.py
    max_new_tokens: int | None = None
    samples: int = 1
    temperature: float | None = None
    top_p: float = 1.0
    seed: int = 1234
    cot: bool = False
    code_timeout: float = 10.0


@dataclass
class Prepared:
    """Everything about a run that is known before a model is loaded."""

    spec: SuiteSpec
    split: str
    shots: int
    subjects: list[str]
    prompts: list[PromptedQuestion]
    fewshot: dict[str, list[Question]]
    data_hash: str


def prepare(config: RunConfig) -> Prepared:
    """Load and check the suite's data and render its prompts (no model needed)."""
    spec = load_suite(config.suite)
    split = config.split or spec.eval_split
    if split not in spec.splits:
        raise UserError(f"suite {spec.name} scores splits {', '.join(spec.splits)}, not '{split}'")
    shots = spec.default_shots if config.shots is None else config.shots
    if shots < 0:
        raise UserError("--shots must be 0 or more")
    if shots and not spec.fewshot_split:
        raise UserError(f"suite {spec.name} has no few-shot pool; use --shots 0")
    data_dir = config.data_dir.expanduser().resolve() if config.data_dir else None
    if data_dir is not None and not data_dir.is_dir():
        raise UserError(f"data folder not found: {config.data_dir}")
    if spec.subjects:
        subjects = spec.select_subjects(config.subjects)
    else:
        root = data_dir or spec.data_dir
        if root is None:
            raise UserError(f"suite {spec.name} lists no subjects: pass --data-dir")
        found = discover_subjects(spec, root, split)
        subjects = [s for s in found if not config.subjects or s in config.subjects]
    if config.limit is not None and config.limit <= 0:
        raise UserError("--limit must be a positive number of questions per subject")
    prompts: list[PromptedQuestion] = []
    fewshot: dict[str, list[Question]] = {}
    for subject in subjects:
        questions = load_questions(spec, subject, split, data_dir)
        if config.limit:
            questions = questions[: config.limit]
        shots_for = []
        if shots:
            pool = load_questions(spec, subject, spec.fewshot_split, data_dir)
            if len(pool) < shots:
                raise UserError(
                    f"subject {subject} has {len(pool)} few-shot examples in '{spec.fewshot_split}', fewer than --shots {shots}"
                )
            shots_for = pool[:shots]
        fewshot[subject] = shots_for
        prompts.extend(build_prompts(spec, subject, questions, shots_for))
    if not prompts:
        raise UserError(f"suite {spec.name} has no questions for split '{split}' and the chosen subjects")
    ids = [p.question.id for p in prompts]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise UserError(f"suite {spec.name}: duplicate question id '{dup}'")
    data_hash = digest(
        [repr(q.as_dict()) for s in subjects for q in fewshot[s]] + [repr(p.question.as_dict()) for p in prompts]
    )
    return Prepared(spec, split, shots, subjects, prompts, fewshot, data_hash)


def _protocol(config: RunConfig, prep: Prepared, contexts: list[str], method: str) -> dict[str, Any]:
    spec = prep.spec
    conts = continuations(spec)
    return {
        "suite": spec.name,
        "suite_definition": spec.definition_hash,
        "split": prep.split,
        "fewshot_split": spec.fewshot_split if prep.shots else None,
        "shots": prep.shots,
        "method": method,
        "chat_template": config.chat_template,
        "choices": spec.choices,
        "prompt_template": {
            "header": spec.prompt.header,
            "question": spec.prompt.question,
            "answer": spec.prompt.answer,
            "target_delimiter": spec.prompt.target_delimiter,
        },
        "prompt_hash": digest(contexts + conts),
        "data_hash": prep.data_hash,
        "subjects": len(prep.subjects),
        "questions": len(prep.prompts),
        "limit": config.limit,
    }


def open_backend(config: RunConfig, model: ResolvedModel):
    """The configured backend for `model` (the run's device, dtype and batch options as defaults)."""
    from harness.backends import make_backend

    options = dict(config.backend_options)
    options.setdefault("device", config.device)
    options.setdefault("dtype", config.dtype)
    options.setdefault("batch_size", config.batch_size)
    options.setdefault("prefix_cache", config.prefix_cache)
    return make_backend(config.backend, model, **options)


def model_identity(model: ResolvedModel) -> dict[str, Any]:
    """Name, weights and a fingerprint of a local folder's files (hub models carry their commit)."""
    ident: dict[str, Any] = {"name": model.name, "path": model.path, "adapter": model.adapter}
    if model.entry is not None:
        ident["key"] = model.entry.key
        ident["base"] = model.entry.base
    for label, ref in (("fingerprint", model.path), ("adapter_fingerprint", model.adapter)):
        if ref and Path(ref).is_dir():
            ident[label] = folder_fingerprint(Path(ref))
    return ident


def folder_fingerprint(folder: Path) -> str:
    """A cheap content fingerprint: config files in full, weight files by size and their first and last MiB."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        h.update(path.name.encode())
        size = path.stat().st_size
        h.update(str(size).encode())
        with open(path, "rb") as fh:
            if size <= 4 << 20:
                h.update(fh.read())
            else:
                h.update(fh.read(1 << 20))
                fh.seek(-(1 << 20), 2)
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


def _record(p: PromptedQuestion, letters: list[str], logprobs: list[float], method: str) -> dict[str, Any]:
    pred = predict(logprobs, letters)
    q = p.question
    return {
        "id": q.id,
        "subject": q.subject,
        "gold": q.answer,
        "pred": pred,
        "correct": pred == q.answer,
        "logprobs": dict(zip(letters, [round(x, 6) for x in logprobs], strict=True)),
        "method": method,
        "question": q.question,
        "options": q.options,
    }


def execute(config: RunConfig, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) one suite on one model and return the results written to `config.output`."""
    if config.method not in METHODS:
        raise UserError(f"unknown method '{config.method}' (choose from {', '.join(METHODS)})")
    spec = load_suite(config.suite)
    if config.method == "generate" or spec.kind != "multiple_choice":
        from harness.generation import run_generation

        return run_generation(config, spec, progress)
    prep = prepare(config)
    model = resolve_model(config.model, config.revision)
    started = time.time()

    backend = open_backend(config, model)
    try:
        contexts = [p.context for p in prep.prompts]
        if config.chat_template:
            contexts = [backend.apply_chat_template(c) for c in contexts]
        conts = tuple(continuations(prep.spec))
        method = config.method
        letter_ids: dict[str, list[int]] | None = None
        if method == "letter":
            letter_ids = {}
            for subject in prep.subjects:
                first = next((c for c, p in zip(contexts, prep.prompts, strict=True) if p.question.subject == subject), None)
                if first is None:
                    continue
                ids = backend.letter_token_ids(first, conts)
                if ids is None:
                    print(
                        f"harness: warning: the answer letters {list(conts)} are not single distinct tokens for this "
                        "tokenizer; scoring with --method choice instead",
                        file=sys.stderr,
                    )
                    method, letter_ids = "choice", None
                    break
                letter_ids[subject] = ids
        protocol = _protocol(config, prep, contexts, method)
        identity = model_identity(model)
        backend_info = backend.describe()
        run_key = digest(
            [repr(sorted(protocol.items())), repr(sorted(identity.items())), backend_info["backend"],
             str(backend_info.get("dtype")), str(backend_info.get("batch_size"))]
        )
        store = RunStore(config.output, run_key, overwrite=config.overwrite)
        done = store.begin({"suite": prep.spec.name, "model": model.name, "started_at": _now()})
        requests = _requests(prep, contexts, conts)
        index_of = {p.question.id: i for i, p in enumerate(prep.prompts)}
        finished: dict[int, dict[str, Any]] = {index_of[k]: v for k, v in done.items() if k in index_of}
        letters = prep.spec.choices
        with _progress(progress, len(prep.prompts), len(finished), f"{prep.spec.name} · {model.name}") as advance:
            for batch in backend.score(requests, method, letter_ids, done=set(finished)):
                new = []
                for i, lps in zip(batch.indices, batch.logprobs, strict=True):
                    if i in finished:
                        continue
                    finished[i] = _record(prep.prompts[i], letters, lps, method)
                    new.append(finished[i])
                store.append(new)
                advance(len(new))
        ordered = [finished[i] for i in range(len(prep.prompts))]
        scores = aggregate(ordered, {s: prep.spec.category_of(s) for s in prep.subjects}, prep.spec.subsets)
        card = build_card(config, prep.spec, protocol, identity, backend_info, backend, started)
        results = {"suite": prep.spec.name, "model": model.name, "scores": scores, "card": card}
        store.finish(ordered, results)
        return {"run_key": run_key, **results}
    finally:
        backend.close()


def build_card(
    config: RunConfig,
    spec: SuiteSpec,
    protocol: dict[str, Any],
    identity: dict[str, Any],
    backend_info: dict[str, Any],
    backend: Any,
    started: float,
) -> dict[str, Any]:
    """The protocol card of a finished run: what produced its numbers, and at what cost."""
    stats = backend.stats
    return {
        "harness_version": harness.__version__,
        "protocol": protocol,
        "protocol_id": digest([repr(sorted(protocol.items()))]),
        "model": identity,
        "backend": backend_info,
        "suite": {"name": spec.name, "title": spec.title, "language": spec.language},
        "data_dir": str(config.data_dir) if config.data_dir else (spec.hub or None),
        "finished_at": _now(),
        "seconds": round(time.time() - started, 3),
        "tokens": {"prompt": stats.prompt_tokens, "computed": stats.computed_tokens},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
    }


def _requests(prep: Prepared, contexts: list[str], conts: tuple[str, ...]) -> list:
    from harness.backends.base import ScoreRequest

    return [ScoreRequest(c, conts, p.question.subject) for c, p in zip(contexts, prep.prompts, strict=True)]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _progress:
    """A rich progress bar with ETA on stderr (silent when disabled or not a terminal in tests)."""

    def __init__(self, enabled: bool, total: int, already: int, label: str) -> None:
        self.enabled, self.total, self.already, self.label = enabled, total, already, label

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._bar.start()
        task = self._bar.add_task(self.label, total=self.total, completed=self.already)
        if self.already:
            self._bar.console.print(f"resuming: {self.already} of {self.total} questions already scored")
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.stop()
