"""`--method generate`: prompts → generated text → extracted answers or metrics → records → scores.

Used for every suite whose `kind` is not multiple_choice (law, medicine, code) and for any
multiple-choice suite run with --method generate. The log-probability path in runner.py is left as
it is. Records keep the raw output next to what was read from it, so extraction can be audited.

Metrics (a subject's `metric`):
  choice       letters read by `extract_choice`; correct when the set equals the gold set (accuracy)
  rouge_l      Chinese-aware ROUGE-L F (BLEU with the zh tokenizer recorded too)
  char_f1      character-level F1 against the gold text (LawBench rc-F1 / soft-F1 tasks, approximated)
  label_f1     F1 between the task's labels named in the output and in the gold answer
  label_acc    correct when exactly the gold label is named
  article_f1   F1 between the sets of article numbers (第N条)
  set_f1       F1 between ';'/'、'-separated items (charges)
  log_distance LawBench prison-term score 1 - |log(pred+1) - log(gold+1)| / log(216), in months
  amount_acc   correct when the gold amount appears among the output's numbers
  pass         the completion passes the task's tests in the sandbox (pass@1, pass@k over samples)
`correct` is the accuracy notion (for graded metrics: a perfect score), `score` the graded value.
"""

from __future__ import annotations

import math
import re
import sys
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from harness.errors import UserError
from harness.scoring import text_metrics as tm
from harness.scoring.extract import extract_choice
from harness.scoring.mc import aggregate
from harness.suite.domain import GenItem, available_subjects, load_items
from harness.suite.prompt import digest

if TYPE_CHECKING:
    from harness.runner import RunConfig
    from harness.suite.spec import SuiteSpec

COT = {
    "zh": "\n请一步一步地思考，最后以“答案是X”的格式给出答案。\n",
    "en": "\nLet's think step by step, then finish with \"The answer is X\".\n",
}
CODE_STOP = ["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\n```"]
_FENCE = re.compile(r"```(?:python|py|Python)?\s*\n(.*?)(?:```|$)", re.S)


# -- items ----------------------------------------------------------------------------------
def _mc_items(config: RunConfig) -> tuple[list[GenItem], list[str], str, int, str]:
    from harness.runner import prepare

    prep = prepare(config)
    items = [
        GenItem(p.question.id, p.question.subject, p.context, p.question.answer or "", "choice", p.question.options)
        for p in prep.prompts
    ]
    return items, prep.subjects, prep.split, prep.shots, prep.data_hash


def _domain_items(spec: SuiteSpec, config: RunConfig) -> tuple[list[GenItem], list[str], str, int, str]:
    split = config.split or spec.eval_split
    if split not in spec.splits:
        raise UserError(f"suite {spec.name} scores splits {', '.join(spec.splits)}, not '{split}'")
    if config.shots:
        raise UserError(f"suite {spec.name} takes no --shots (LawBench's one_shot split has its example built in)")
    if config.limit is not None and config.limit <= 0:
        raise UserError("--limit must be a positive number of questions per subject")
    data_dir = config.data_dir.expanduser().resolve() if config.data_dir else None
    if data_dir is not None and not data_dir.is_dir():
        raise UserError(f"data folder not found: {config.data_dir}")
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
    data_hash = digest([repr(asdict(i)) for i in items])
    return items, chosen, split, 0, data_hash


# -- scoring --------------------------------------------------------------------------------
def _strip_gold(gold: str) -> str:
    """LawBench golds start with a label ("答案:", "回答:", "罪名:"); compare the content."""
    return re.sub(r"^[^:：]{0,12}[:：]", "", gold.strip()).rstrip("。").strip()


def _months(text: str) -> int | None:
    m = re.search(r"(\d+)\s*个?月", text)
    if m:
        return int(m.group(1))
    y = re.search(r"(\d+)\s*年", text)
    return int(y.group(1)) * 12 if y else None


def _articles(text: str) -> set[str]:
    """Article numbers: "第264条", "第234、275条" → {"264"} / {"234", "275"}."""
    return {n for run in re.findall(r"第\s*([\d、,，\s]+?)\s*条", text) for n in re.findall(r"\d+", run)}


def _items_of(text: str) -> set[str]:
    return {x.strip().removesuffix("罪") for x in re.split(r"[;；、,，\s]+", text) if x.strip()}


def score_text(item: GenItem, output: str) -> dict[str, Any]:
    """Extracted answer, correct and score for one non-code output."""
    metric, out = item.metric, output or ""
    if metric == "choice":
        letters = list(item.options) or list("ABCD")
        opts = {k: v for k, v in item.options.items() if v}
        got = extract_choice(out, letters, opts or None, multi=len(item.gold) > 1)
        ok = got is not None and got == item.gold
        return {"extracted": got, "correct": ok, "score": float(ok)}
    gold = _strip_gold(item.gold)
    if metric == "rouge_l":
        r = tm.rouge_l(out, gold)
        return {"extracted": out.strip() or None, "correct": r >= 1.0, "score": r, "rouge_l": r, "bleu": tm.bleu(out, gold)}
    if metric == "char_f1":
        f = tm.token_f1(out, gold)
        return {"extracted": out.strip() or None, "correct": tm.exact_match(out, gold), "score": f, "f1": f}
    if metric in ("label_f1", "label_acc"):
        labels = sorted(item.labels, key=len, reverse=True)
        gold_set = {lab for lab in labels if lab in gold} or {gold}
        pred = {lab for lab in labels if lab in out}
        pred = {p for p in pred if not any(p != q and p in q for q in pred)}
        f = tm.set_f1(pred, gold_set)
        ok = pred == gold_set
        score = float(ok) if metric == "label_acc" else f
        return {"extracted": "、".join(sorted(pred)) or None, "correct": ok, "score": score, "f1": f}
    if metric == "article_f1":
        gold_set, pred = _articles(gold), _articles(out)
        f = tm.set_f1(pred, gold_set)
        return {"extracted": ",".join(sorted(pred)) or None, "correct": bool(pred) and pred == gold_set, "score": f, "f1": f}
    if metric == "set_f1":
        gold_set = _items_of(gold)
        m = re.search(r"(?:\[[^\]]*\]|[:：])\s*([^<\n]+)", out)
        pred = _items_of(m.group(1) if m else out.strip().splitlines()[0] if out.strip() else "")
        f = tm.set_f1(pred, gold_set)
        return {"extracted": ";".join(sorted(pred)) or None, "correct": pred == gold_set, "score": f, "f1": f}
    if metric == "log_distance":
        want, got = _months(gold), _months(out)
        if want is None:  # death penalty / life imprisonment: LawBench skips these
            return {"extracted": got, "correct": False, "score": 0.0, "skipped": True}
        dist = math.log(216) if got is None else abs(math.log(want + 1) - math.log(got + 1))
        s = max(0.0, 1.0 - dist / math.log(216))
        return {"extracted": got, "correct": got == want, "score": s, "log_distance": dist}
    if metric == "amount_acc":
        want = float(re.findall(r"\d+\.?\d*", gold)[0])
        nums = [float(x) for x in re.findall(r"\d+\.?\d*", out)]
        ok = want in nums
        return {"extracted": nums[0] if nums else None, "correct": ok, "score": float(ok)}
    raise UserError(f"unknown metric '{metric}' for subject {item.subject}")


def completion_code(item: GenItem, output: str) -> str:
    """The program text a completion stands for: a fenced block if the model wrote one, else the
    completion after the prompt (HumanEval) or on its own (MBPP)."""
    fenced = _FENCE.search(output or "")
    if fenced:
        return fenced.group(1)
    return item.prefix + (output or "")


def program_for(item: GenItem, code: str) -> str:
    return code + "\n" + item.tests


def score_code(items: list[GenItem], outputs: list[list[str]], timeout: float) -> list[dict[str, Any]]:
    """Run every sample of every item in the sandbox; pass@1 per item is the fraction passed."""
    from harness.sandbox import run_many

    programs = [program_for(it, completion_code(it, o)) for it, outs in zip(items, outputs, strict=True) for o in outs]
    results = iter(run_many(programs, timeout=timeout))
    scored = []
    for outs in outputs:
        runs = [next(results) for _ in outs]
        passed = [r.passed for r in runs]
        scored.append({
            "extracted": None if not any((o or "").strip() for o in outs) else "code",
            "correct": passed[0],
            "score": sum(passed) / len(passed),
            "passed": passed,
            "status": [r.status for r in runs],
            "error": next((r.detail[-300:] for r in runs if not r.passed), ""),
        })
    return scored


# -- aggregate ------------------------------------------------------------------------------
def generation_scores(records: list[dict[str, Any]], spec: SuiteSpec, subjects: list[str], n: int) -> dict[str, Any]:
    """mc.aggregate's structure (acc = fraction correct), plus each subject's metric, mean score,
    extraction rate and, for code, pass@k; overall adds the macro mean score and extraction rate."""
    from harness.sandbox import pass_at_k

    category_of = {s: spec.subjects.get(s, {}).get("category", "Other") for s in subjects}
    scores = aggregate(records, category_of, spec.subsets)
    means = []
    for subject, entry in scores["subjects"].items():
        recs = [r for r in records if r["subject"] == subject]
        metric = recs[0].get("metric", "choice")
        entry["metric"] = metric
        entry["score"] = sum(r["score"] for r in recs) / len(recs)
        entry["extraction_rate"] = sum(r.get("extracted") is not None for r in recs) / len(recs)
        if metric == "rouge_l":
            entry["bleu"] = tm.corpus_bleu([r["output"] for r in recs], [_strip_gold(r["gold"]) for r in recs])
        if metric == "pass":
            for k in (1, 10, 100):
                if k <= n:
                    entry[f"pass@{k}"] = sum(pass_at_k(len(r["passed"]), sum(r["passed"]), k) for r in recs) / len(recs)
        means.append(entry["score"])
    overall = scores["overall"]
    overall["score"] = sum(means) / len(means) if means else 0.0
    overall["extraction_rate"] = sum(r.get("extracted") is not None for r in records) / max(1, len(records))
    return scores


# -- the run --------------------------------------------------------------------------------
def run_generation(config: RunConfig, spec: SuiteSpec, progress: bool = True) -> dict[str, Any]:
    from harness.registry import resolve_model
    from harness.results.store import RunStore
    from harness.runner import _now, _progress, build_card, model_identity, open_backend

    if spec.kind == "multiple_choice":
        items, subjects, split, shots, data_hash = _mc_items(config)
    else:
        items, subjects, split, shots, data_hash = _domain_items(spec, config)
    gen = dict(spec.raw.get("generation") or {})
    is_code = any(i.metric == "pass" for i in items)
    max_new = config.max_new_tokens or int(gen.get("max_new_tokens", 512))
    n = max(1, config.samples)
    temperature = config.temperature if config.temperature is not None else (0.8 if n > 1 else 0.0)
    if n > 1 and temperature == 0:
        raise UserError("--samples above 1 needs --temperature above 0 (greedy samples are all the same)")
    stop = list(gen.get("stop", CODE_STOP if is_code else []))
    cot = COT.get(spec.language, COT["en"]) if config.cot else ""
    model = resolve_model(config.model, config.revision)
    started = time.time()
    backend = open_backend(config, model)
    try:
        prompts = [i.prompt + cot for i in items]
        if config.chat_template:
            prompts = [backend.apply_chat_template(p) for p in prompts]
            stop = [s for s in stop if s != "\n```"]
        protocol = {
            "suite": spec.name,
            "suite_definition": spec.definition_hash,
            "split": split,
            "shots": shots,
            "method": "generate",
            "chat_template": config.chat_template,
            "cot": config.cot,
            "generation": {"max_new_tokens": max_new, "temperature": temperature, "top_p": config.top_p,
                           "samples": n, "seed": config.seed, "stop": stop},
            "metrics": {s: spec.subjects.get(s, {}).get("metric", "choice") for s in subjects},
            "prompt_hash": digest(prompts),
            "data_hash": data_hash,
            "subjects": len(subjects),
            "questions": len(items),
            "limit": config.limit,
        }
        if is_code:
            from harness.sandbox import isolation

            protocol["sandbox"] = {"timeout_s": config.code_timeout, **isolation()}
        identity = model_identity(model)
        info = backend.describe()
        run_key = digest([repr(sorted(protocol.items())), repr(sorted(identity.items())), info["backend"],
                          str(info.get("dtype")), str(info.get("batch_size"))])
        store = RunStore(config.output, run_key, overwrite=config.overwrite)
        done = store.begin({"suite": spec.name, "model": model.name, "started_at": _now()})
        finished = {i: done[it.id] for i, it in enumerate(items) if it.id in done}
        todo = [i for i in range(len(items)) if i not in finished]
        chunk = max(1, config.batch_size)
        with _progress(progress, len(items), len(finished), f"{spec.name} · {model.name} · generate") as advance:
            for start in range(0, len(todo), chunk):
                idx = todo[start:start + chunk]
                outs = backend.generate([prompts[i] for i in idx], max_new_tokens=max_new, temperature=temperature,
                                        top_p=config.top_p, n=n, seed=config.seed + idx[0], stop=stop)
                batch_items = [items[i] for i in idx]
                if is_code:
                    scored = score_code(batch_items, outs, config.code_timeout)
                else:
                    scored = [score_text(it, o[0]) for it, o in zip(batch_items, outs, strict=True)]
                new = []
                for i, it, o, s in zip(idx, batch_items, outs, scored, strict=True):
                    rec = {"id": it.id, "subject": it.subject, "gold": it.gold, "output": o[0], **s,
                           "metric": it.metric, "method": "generate"}
                    if n > 1:
                        rec["outputs"] = o
                    if it.options and any(it.options.values()):
                        rec["options"] = it.options
                    finished[i] = rec
                    new.append(rec)
                store.append(new)
                advance(len(new))
        ordered = [finished[i] for i in range(len(items))]
        scores = generation_scores(ordered, spec, subjects, n)
        card = build_card(config, spec, protocol, identity, info, backend, started)
        results = {"suite": spec.name, "model": model.name, "scores": scores, "card": card}
        store.finish(ordered, results)
        if progress and scores["overall"]["extraction_rate"] < 1:
            print(f"harness: answers found in {scores['overall']['extraction_rate']:.0%} of outputs", file=sys.stderr)
        return {"run_key": run_key, **results}
    finally:
        backend.close()
