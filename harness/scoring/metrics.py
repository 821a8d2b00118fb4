"""The table of generation metrics: a suite's YAML names a subject's `metric`, and this table says how
to score an output by it.

Adding a metric is one function `(item, output) -> Scored` and one line in `METRICS`. A metric may
also name a subject-level `summary` (extra numbers over all of a subject's records, such as corpus
BLEU) and a `batch` scorer (for metrics that are faster over many outputs at once, such as code run
in parallel sandboxes).

  choice       letters read by `extract_choice`; correct when the set equals the gold set (accuracy).
               Whether several letters may be right is the item's `multi` (the suite's), never the gold's
  lawbench_choice  `choice`, plus LawBench's own letter-count judge in `values` (summary: lawbench_acc)
  rouge_l      Chinese-aware ROUGE-L F (BLEU with the zh tokenizer recorded too)
  char_f1      character-level F1 against the gold text
  exact_match  normalised exact match against the gold text
  label_f1     F1 between the task's labels named in the output and the gold labels (LawBench 2-3, 2-9)
  label_acc    1 when the output names exactly the gold label (LawBench 2-2, 2-4)
  article_f1   F1 between article numbers (LawBench 3-1)
  set_f1       F1 between charge names (LawBench 3-3) or ';'/'、'-separated items
  log_distance LawBench prison-term score 1 - |log(pred+1) - log(gold+1)| / log(216), in months
  amount_acc   correct when the gold amount appears among the output's numbers (LawBench 3-7)
  rc_f1        CAIL reading-comprehension character F1 (LawBench 2-5)
  ie_f1        LawBench's entity-extraction F1 (2-6)
  trigger_f1   LawBench's trigger-word F1 (2-10)
  pass         the completion passes the task's tests in the sandbox (pass@1, pass@k over samples)

A metric may return a `skipped` result (values["skipped"] = why): the item is one the benchmark's own
evaluation leaves out, and it is kept out of the subject's score and accuracy (harness/scoring/summary.py).
Every metric but `pass` sees the output cut at the item's stop strings (`pass` cuts after taking a fenced
block, see harness/scoring/code.py), so outputs made elsewhere (`harness score`) are read the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.backends.tokens import cut_at_stop
from harness.errors import UserError
from harness.scoring import code, lawbench
from harness.scoring import text_metrics as tm
from harness.scoring.extract import extract_choice
from harness.scoring.scored import Scored
from harness.suite.items import GenItem


def choice(item: GenItem, output: str) -> Scored:
    letters = list(item.options) or list("ABCD")
    opts = {k: v for k, v in item.options.items() if v}
    got = extract_choice(output, letters, opts or None, multi=item.multi)
    ok = got is not None and got == item.gold
    return Scored(got, ok, float(ok))


def lawbench_choice(item: GenItem, output: str) -> Scored:
    scored = choice(item, output)
    scored.values["lawbench"] = lawbench.multi_choice_judge(output, list(item.options) or list("ABCD"), item.gold)
    return scored


def lawbench_acc(records: list, samples: int) -> dict[str, float]:
    return {"lawbench_acc": sum(r.values.get("lawbench", 0) for r in records) / max(1, len(records))}


def rouge_l(item: GenItem, output: str) -> Scored:
    r = tm.rouge_l(output, item.gold)
    return Scored(output.strip() or None, r >= 1.0, r, {"rouge_l": r, "bleu": tm.bleu(output, item.gold)})


def char_f1(item: GenItem, output: str) -> Scored:
    f = tm.token_f1(output, item.gold)
    return Scored(output.strip() or None, tm.exact_match(output, item.gold), f, {"f1": f})


def exact_match(item: GenItem, output: str) -> Scored:
    ok = tm.exact_match(output, item.gold)
    return Scored(output.strip() or None, ok, float(ok))


def corpus_bleu(records: list, samples: int) -> dict[str, float]:
    return {"bleu": tm.corpus_bleu([r.output or "" for r in records], [r.gold or "" for r in records])}


@dataclass(frozen=True)
class Metric:
    score: Callable[[GenItem, str], Scored]
    summary: Callable[[list, int], dict[str, Any]] | None = None
    batch: Callable[[list[GenItem], list[list[str]], dict[str, Any]], list[Scored]] | None = None


METRICS: dict[str, Metric] = {
    "choice": Metric(choice),
    "lawbench_choice": Metric(lawbench_choice, summary=lawbench_acc),
    "rouge_l": Metric(rouge_l, summary=corpus_bleu),
    "char_f1": Metric(char_f1),
    "exact_match": Metric(exact_match),
    "label_f1": Metric(lawbench.label_f1),
    "label_acc": Metric(lawbench.label_acc),
    "article_f1": Metric(lawbench.article_f1),
    "set_f1": Metric(lawbench.set_f1),
    "log_distance": Metric(lawbench.log_distance),
    "amount_acc": Metric(lawbench.amount_acc),
    "rc_f1": Metric(lawbench.rc_f1),
    "ie_f1": Metric(lawbench.ie_f1),
    "trigger_f1": Metric(lawbench.trigger_f1),
    "pass": Metric(code.passes, summary=code.pass_at_k_summary, batch=code.score_batch),
}


def get_metric(name: str, where: str = "") -> Metric:
    if name not in METRICS:
        raise UserError(f"{where}unknown metric '{name}' (known: {', '.join(METRICS)})")
    return METRICS[name]


def score_text(item: GenItem, output: str) -> Scored:
    """One output of `item` scored by the item's metric (cut at the item's stops first, as in a run)."""
    metric = get_metric(item.metric, f"subject {item.subject}: ")
    return metric.score(item, (output or "") if metric.batch else cut_at_stop(output or "", item.stop))


def score_outputs(items: list[GenItem], outputs: list[list[str]], options: dict[str, Any]) -> list[Scored]:
    """Each item's outputs scored by its metric: a batch metric sees all its items at once; the
    others score each item's first output."""
    scored: list[Scored | None] = [None] * len(items)
    by_metric: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_metric.setdefault(item.metric, []).append(i)
    for name, indices in by_metric.items():
        metric = get_metric(name, f"subject {items[indices[0]].subject}: ")
        if metric.batch is not None:
            results = metric.batch([items[i] for i in indices], [outputs[i] for i in indices], options)
        else:
            results = [metric.score(items[i], cut_at_stop(outputs[i][0] or "", items[i].stop)) for i in indices]
        for i, s in zip(indices, results, strict=True):
            scored[i] = s
    return scored  # type: ignore[return-value]
