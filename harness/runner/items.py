"""What a run asks, known before any model is loaded: the suite's items, their prompts and a data hash.

Multiple-choice suites give `PromptedQuestion`s (header, few-shot examples, question); generation-scored
suites give `GenItem`s; a multiple-choice suite run with --method generate gives GenItems made from
its prompted questions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import UserError
from harness.runner.config import RunConfig
from harness.suite import load_suite
from harness.suite.domain import available_subjects, load_items
from harness.suite.items import GenItem
from harness.suite.loader import discover_subjects, load_questions
from harness.suite.prompt import PromptedQuestion, build_prompts, digest
from harness.suite.spec import Question, SuiteSpec


@dataclass
class Prepared:
    """A multiple-choice suite's questions, rendered."""

    spec: SuiteSpec
    split: str
    shots: int
    subjects: list[str]
    prompts: list[PromptedQuestion]
    fewshot: dict[str, list[Question]]
    data_hash: str
    answered: bool = True  # False on a split without answers (C-Eval test): gold is None, nothing is scored


@dataclass
class GenPlan:
    """A generation run's items."""

    items: list[GenItem]
    subjects: list[str]
    split: str
    shots: int
    data_hash: str
    answered: bool = True


def _data_dir(config: RunConfig) -> Path | None:
    data_dir = config.data_dir.expanduser().resolve() if config.data_dir else None
    if data_dir is not None and not data_dir.is_dir():
        raise UserError(f"data folder not found: {config.data_dir}")
    return data_dir


def _check_limit(config: RunConfig) -> None:
    if config.limit is not None and config.limit <= 0:
        raise UserError("--limit must be a positive number of questions per subject")


def _split(config: RunConfig, spec: SuiteSpec) -> str:
    split = config.split or spec.eval_split
    if split not in spec.splits:
        raise UserError(f"suite {spec.name} scores splits {', '.join(spec.splits)}, not '{split}'")
    return split


def prepare(config: RunConfig) -> Prepared:
    """Load and check a multiple-choice suite's data and render its prompts (no model needed)."""
    spec = load_suite(config.suite)
    split = _split(config, spec)
    shots = spec.default_shots if config.shots is None else config.shots
    if shots < 0:
        raise UserError("--shots must be 0 or more")
    if shots and not spec.fewshot_split:
        raise UserError(f"suite {spec.name} has no few-shot pool; use --shots 0")
    data_dir = _data_dir(config)
    if spec.subjects:
        subjects = spec.select_subjects(config.subjects)
    else:
        root = data_dir or spec.data_dir
        if root is None:
            raise UserError(f"suite {spec.name} lists no subjects: pass --data-dir")
        found = discover_subjects(spec, root, split)
        subjects = [s for s in found if not config.subjects or s in config.subjects]
    _check_limit(config)
    # The suite's own split must have answers (a missing answer column there is a mistake). Another split the
    # user asks for may have none (C-Eval test: the official leaderboard holds them): such a run is predictions
    # only (gold None, scores say "no gold"), e.g. for `harness export --format ceval-submission`.
    need_answer = True if split == spec.eval_split else None
    prompts: list[PromptedQuestion] = []
    fewshot: dict[str, list[Question]] = {}
    for subject in subjects:
        questions = load_questions(spec, subject, split, data_dir, need_answer=need_answer)
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
    with_gold = sum(p.question.answer is not None for p in prompts)
    if 0 < with_gold < len(prompts):
        raise UserError(f"suite {spec.name}: split '{split}' has answers for {with_gold} of {len(prompts)} questions "
                        "(all or none: a split without answers is run for predictions only)")
    answered = with_gold == len(prompts)
    ids = [p.question.id for p in prompts]
    if len(set(ids)) != len(ids):
        dup = next(i for i, count in Counter(ids).items() if count > 1)
        raise UserError(f"suite {spec.name}: duplicate question id '{dup}'")
    data_hash = digest(
        [repr(q.as_dict()) for s in subjects for q in fewshot[s]] + [repr(p.question.as_dict()) for p in prompts]
    )
    return Prepared(spec, split, shots, subjects, prompts, fewshot, data_hash, answered)


def prepare_generation(config: RunConfig, spec: SuiteSpec) -> GenPlan:
    """The items of a generation run: a domain suite's, or a multiple-choice suite's prompted questions."""
    if spec.kind == "multiple_choice":
        prep = prepare(config)
        items = [GenItem(p.question.id, p.question.subject, p.context, p.question.answer or "", "choice",
                         p.question.options) for p in prep.prompts]
        return GenPlan(items, prep.subjects, prep.split, prep.shots, prep.data_hash, prep.answered)
    split = _split(config, spec)
    if config.shots:
        raise UserError(f"suite {spec.name} takes no --shots (LawBench's one_shot split has its example built in)")
    _check_limit(config)
    data_dir = _data_dir(config)
    subjects = spec.select_subjects(config.subjects)
    present = available_subjects(spec, split, data_dir)
    chosen = [s for s in subjects if s in present]
    if not chosen:
        where = f"under {data_dir}" if data_dir else "on the hub"
        raise UserError(f"suite {spec.name}: no data for split '{split}' {where} (expected e.g. "
                        f"{', '.join(str(f) for f in spec.subjects[subjects[0]].get('files', []))})")
    items: list[GenItem] = []
    for subject in chosen:
        loaded = load_items(spec, subject, split, data_dir)
        items.extend(loaded[: config.limit] if config.limit else loaded)
    return GenPlan(items, chosen, split, 0, digest([repr(asdict(i)) for i in items]))
