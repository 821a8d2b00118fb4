"""What the benchmarks share: the machine's load, the bench model, lm-eval task files that reproduce a suite's
prompt, the unique-token floor, and whole-process runs of `harness run` and of lm-eval.

Each timed run is its own process, started the way a user starts it (`harness run ...`; lm-eval through its
Python API in a fresh interpreter), so imports, data loading and model loading are all in the time. The
process runs under bench/first_forward.py, which also reports when the first forward pass began.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
SHARED = REPO.parent / "shared" / "data"  # real benchmark data beside the checkout (never copied into it)
DEFAULT_DATA = SHARED / "ceval" / "ceval-exam"
IDLE_LOAD = 0.5  # 1-minute load average above which timings on this machine are not comparable
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
for _key, _value in OFFLINE.items():
    os.environ.setdefault(_key, _value)


def load_line() -> str:
    """The machine's load average, printed beside every timing (2 shared cores: any other job skews seconds)."""
    one, five, fifteen = os.getloadavg()
    flag = "" if one <= IDLE_LOAD else f"  WARNING: load above {IDLE_LOAD}: timings are not comparable"
    return f"[load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores]{flag}"


def check_load(require_idle: bool) -> float:
    """Print the load before a timed run; with `require_idle`, refuse to time on a loaded machine."""
    print(load_line(), flush=True)
    one = os.getloadavg()[0]
    if require_idle and one > IDLE_LOAD:
        sys.exit(f"bench: load average {one:.2f} > {IDLE_LOAD}; not timing (drop --require-idle to time anyway)")
    return one


def build_model(workdir: Path, data: Path, hidden: int, layers: int) -> Path:
    """The bench model: random-weight Qwen2 with a byte-level BPE tokenizer trained on C-Eval's dev text."""
    from harness.demo.tiny import build_tiny_model

    out = workdir / f"qwen2-h{hidden}-l{layers}"
    if (out / "config.json").is_file():
        return out
    texts = [p.read_text(encoding="utf-8") for p in sorted((data / "dev").glob("*.csv"))]
    heads = max(1, hidden // 64)
    return build_tiny_model(out, texts, vocab_size=8000, hidden_size=hidden, layers=layers, heads=heads,
                            kv_heads=max(1, heads // 4), intermediate_size=int(hidden * 2.75), seed=0)


def lm_eval_tasks(folder: Path, prep, shots: int, split: str = "eval") -> list[str]:
    """One lm-eval task per subject over JSON-lines copies of exactly the questions the harness scores, with
    the suite's own prompt: header as description, its question template, target and few-shot delimiters."""
    import yaml

    from harness.suite.prompt import _Blank, header_fields

    spec = prep.spec
    template = spec.prompt.question
    for key in ("question", *spec.choices):
        template = template.replace("{" + key + "}", "{{" + key + "}}")
    answer = spec.prompt.answer
    delim = spec.prompt.target_delimiter
    if not answer.startswith(delim + "{answer}"):
        raise SystemExit(f"bench: suite {spec.name}'s answer template {answer!r} has no lm-eval equivalent")
    fewshot_delimiter = answer[len(delim + "{answer}"):]
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    by_subject: dict[str, list] = {}
    for p in prep.prompts:
        by_subject.setdefault(p.question.subject, []).append(p.question)
    letters = list(spec.choices)
    for subject in prep.subjects:
        files = {}
        for part, questions in (("dev", prep.fewshot[subject]), (split, by_subject[subject])):
            path = folder / f"{spec.name}_{subject}_{part}.jsonl"
            with open(path, "w", encoding="utf-8") as fh:
                for q in questions:
                    fh.write(json.dumps({"question": q.question.strip(), **q.options, "answer": q.answer},
                                        ensure_ascii=False) + "\n")
            files[part] = str(path)
        name = f"bench_{spec.name}_{subject}"
        task = {
            "task": name,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": files},
            "validation_split": split,
            "fewshot_split": "dev",
            "fewshot_config": {"sampler": "first_n"},
            "num_fewshot": shots,
            "output_type": "multiple_choice",
            "description": spec.prompt.header.format_map(_Blank(header_fields(spec, subject))),
            "doc_to_text": template,
            "doc_to_choice": letters,
            "doc_to_target": "{{" + repr(letters) + ".index(answer)}}",
            "target_delimiter": delim,
            "fewshot_delimiter": fewshot_delimiter,
            "metric_list": [{"metric": "acc"}],
        }
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(task, allow_unicode=True), encoding="utf-8")
        names.append(name)
    return names


def token_floor(prep, tokenizer_dir: Path) -> tuple[int, int, int]:
    """(tokens in all prompts, unique-token floor, trie floor). The floor: per subject, the longest shared token
    prefix once plus each question's own tokens; the trie floor also shares openings common to some questions."""
    from transformers import AutoTokenizer

    from harness.backends.plan import common_prefix
    from harness.backends.tokens import PromptTokens

    class _Tok(PromptTokens):
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)

    tok = _Tok()
    by_subject: dict[str, list[str]] = {}
    for p in prep.prompts:
        by_subject.setdefault(p.question.subject, []).append(p.context)
    total = floor = trie = 0
    for contexts in by_subject.values():
        rows = tok._encode_many(contexts)
        shared = common_prefix(rows) if len(rows) > 1 else 0
        total += sum(len(r) for r in rows)
        floor += shared + sum(len(r) - shared for r in rows)
        root: dict = {}
        for r in rows:
            node = root
            for t in r:
                if t not in node:
                    node[t] = {}
                    trie += 1
                node = node[t]
    return total, floor, trie


@dataclass
class Child:
    """One whole-process run: wall seconds, seconds to the first forward pass, CPU seconds by then, output;
    `cpu` is the process's CPU seconds in all (user + system): with one thread, the work done whatever the load."""

    seconds: float
    first_forward: float | None
    cpu_to_first: float | None
    heavy: str
    output: str
    cpu: float = 0.0
    info: dict = field(default_factory=dict)


def run_child(argv: list[str], python: str = sys.executable, src: Path | None = REPO, env: dict | None = None,
              log: Path | None = None) -> Child:
    """Run `argv` (harness ... / lm_eval ... / SCRIPT.py ...) in a fresh process under first_forward.py, with
    `src` (a checkout) first on the path, or the installed harness when `src` is None."""
    full_env = {**os.environ, **OFFLINE, **(env or {}), "FIRST_FORWARD_CONTINUE": "1",
                "PYTHONPATH": os.pathsep.join([str(p) for p in (src, BENCH) if p is not None])}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    proc = subprocess.run([python, str(BENCH / "first_forward.py"), *argv], env=full_env, capture_output=True,
                          text=True)
    seconds = time.time() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    output = proc.stdout + proc.stderr
    if log is not None:
        log.write_text(output, encoding="utf-8")
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-25:])
        raise SystemExit(f"bench: {' '.join(argv[:3])} failed (exit {proc.returncode}):\n{tail}")
    first = cpu = None
    heavy = "?"
    for line in proc.stdout.splitlines():
        if line.startswith("FIRST_FORWARD ") and line.split()[1] != "none":
            _, stamp, cpu_s, heavy = line.split()
            first, cpu = float(stamp) - start, float(cpu_s)
            break
    return Child(seconds, first, cpu, heavy, output, cpu_total)


def harness_child(backend: str, model: Path, suite: str, data: Path, out: Path, *, shots: int, limit: int | None,
                  subjects: list[str] | None, device: str, dtype: str, batch_size: int | None, python: str,
                  src: Path | None, env: dict | None = None) -> Child:
    """`harness run` as a user types it; predictions and card tokens read back from the run folder."""
    argv = ["harness", "run", "--suite", suite, "--model", str(model), "--data-dir", str(data), "--shots", str(shots),
            "--backend", backend, "--device", device, "--dtype", dtype, "--output", str(out), "--overwrite", "--quiet"]
    if limit:
        argv += ["--limit", str(limit)]
    if subjects:
        argv += ["--subjects", ",".join(subjects)]
    if batch_size:
        argv += ["--batch-size", str(batch_size)]
    if (out / "records.jsonl").exists():
        (out / "records.jsonl").unlink()
    child = run_child(argv, python=python, src=src, env=env, log=out.parent / f"{out.name}.log")
    records = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    child.info = {"preds": [r["pred"] for r in records], "logprobs": [r.get("logprobs") or {} for r in records],
                  "tokens": results["card"]["tokens"],
                  "batch_size": results["card"]["backend"].get("batch_size")}
    return child


def lm_eval_child(model_type: str, model_args: str, tasks: list[str], folder: Path, batch_size, device: str | None,
                  out: Path, python: str = sys.executable, env: dict | None = None) -> Child:
    """lm-eval's `simple_evaluate` in a fresh interpreter (bench/lm_eval_child.py); predictions in task order."""
    spec = {"model": model_type, "model_args": model_args, "tasks": tasks, "include_path": str(folder),
            "batch_size": batch_size, "device": device, "out": str(out)}
    child = run_child([str(BENCH / "lm_eval_child.py"), json.dumps(spec)], python=python, env=env,
                      log=out.with_suffix(".log"))
    child.info = {"preds": json.loads(out.read_text(encoding="utf-8"))}
    return child
