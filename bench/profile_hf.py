"""Where the transformers backend's scoring time goes, in measures that do not depend on machine load.

    PYTHONPATH=. python bench/profile_hf.py [--subjects a,b] [--limit N] [--batch-size B] [--ops]

Scores C-Eval val (bench model of bench_speed.py) through the same objects `harness run` uses
(method → backend.score) and prints:
- the batch plan: forward passes, rows per pass, padded vs real tokens (padding waste), tokens computed
  vs the unique-token floor (each subject's shared prefix once + every question's own tokens);
- estimated FLOPs: the model's matrix products per token vs attention over the cached prefix vs attention
  among the question's own tokens (how much the prefix costs each question);
- time shares: model forward vs Python between forward passes (tokenisation, planning, reading
  log-probs), as percentages of the scoring time; with --ops, torch.profiler's top operators by self
  CPU time (attention, matrix products, copies of the cached prefix).
The load average is printed beside every timing: the shares are what to compare, not the seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# --src DIR: profile another checkout's harness (e.g. main, for before/after); the bench helpers stay these
SRC = Path(sys.argv[sys.argv.index("--src") + 1]) if "--src" in sys.argv else REPO
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(SRC))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def unique_token_floor(token_rows: dict[str, list[list[int]]]) -> tuple[int, int]:
    """(shared-prefix floor, trie floor): per group, the longest common prefix once plus each row's rest;
    and the number of distinct token prefixes (a trie's nodes), which also shares question openings."""
    simple = trie = 0
    for rows in token_rows.values():
        n = _common_prefix(rows) if len(rows) > 1 else 0
        simple += n + sum(len(r) - n for r in rows)
        seen: set[tuple[int, ...]] = set()
        for r in rows:
            for i in range(1, len(r) + 1):
                seen.add(tuple(r[:i]))
        trie += len(seen)
    return simple, trie


def fixed_batches(widths: list[int], counts: list[int], size: int) -> list[list[int]]:
    """The plan before length bucketing: longest first, a new batch whenever `size` rows are full."""
    order = sorted(range(len(widths)), key=lambda i: (-widths[i], i))
    out: list[list[int]] = [[]]
    rows = 0
    for i in order:
        if out[-1] and rows + counts[i] > size:
            out.append([])
            rows = 0
        out[-1].append(i)
        rows += counts[i]
    return out


def compare_plans(method, backend, sizes: list[int]) -> int:  # noqa: ANN001
    """Passes, padding and estimated cost of the fixed-size plan vs the length-bucketed one, per batch size."""
    from harness.backends.base import ScoreRequest
    from harness.backends.plan import bucket, costs

    requests = [ScoreRequest(c, method.conts, p.question.subject)
                for c, p in zip(method.contexts, method.prep.prompts, strict=True)]
    groups = []
    for _, members in backend._groups(requests):
        questions = backend._rows(requests, members, method.name)
        group_rows = [r.tokens for q in questions.values() for r in q]
        prefix = _common_prefix_len(group_rows, backend.prefix_cache)
        groups.append((prefix, [max(len(r.tokens) for r in q) - prefix for q in questions.values()],
                       [len(q) for q in questions.values()]))
    for device in ("cpu", "cuda"):
        att, pass_cost = costs(backend.model.config, device)
        print(f"-- cost model for {device}: attended key {att:.2e}, pass {pass_cost:.0f} tokens' matrix products")
        for size in sizes:
            for name, plan in (("fixed", lambda w, c, s, *_: fixed_batches(w, c, s)), ("bucketed", bucket)):
                passes = real = padded = 0
                cost = 0.0
                for prefix, widths, counts in groups:
                    for p in plan(widths, counts, size, prefix, att, pass_cost):
                        width = max(widths[i] for i in p)
                        n = sum(counts[i] for i in p)
                        passes += 1
                        real += sum(widths[i] * counts[i] for i in p)
                        padded += n * width
                        cost += n * width * (1 + att * (prefix + width / 2)) + pass_cost
                print(f"batch {size:>3} {name:<9} passes {passes:>4}  tokens run {padded:>8,}  padding "
                      f"{100 * (padded - real) / padded:5.1f}%  est. cost {cost:>10,.0f}")
    return 0


def _common_prefix(rows: list[list[int]]) -> int:
    n = min(len(r) for r in rows)
    for other in rows[1:]:
        i = 0
        while i < n and other[i] == rows[0][i]:
            i += 1
        n = i
    return n


def _common_prefix_len(rows: list[list[int]], enabled: bool) -> int:
    return min(_common_prefix(rows), min(len(r) for r in rows) - 1) if enabled and len(rows) > 1 else 0


def main() -> int:
    from common import DEFAULT_DATA, build_model, load_line

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--subjects")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--no-prefix-cache", action="store_true")
    ap.add_argument("--src", type=Path, default=REPO, help="checkout whose harness is profiled (before/after)")
    ap.add_argument("--threads", type=int, help="torch threads (1: CPU seconds measure work, not waiting)")
    ap.add_argument("--plan-only", help="comma-separated batch sizes: compare batch plans without running the model")
    ap.add_argument("--ops", action="store_true", help="torch.profiler operator table (slower)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/harness-bench"))
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from harness.registry import resolve_model
    from harness.runner import RunConfig
    from harness.runner.choose import make_method
    from harness.runner.loop import open_backend
    from harness.suite import load_suite

    args.workdir.mkdir(parents=True, exist_ok=True)
    model_dir = build_model(args.workdir, args.data, 512, 8)
    config = RunConfig(suite="ceval", model=str(model_dir), output=args.workdir / "profile", shots=5, limit=args.limit,
                       data_dir=args.data, subjects=args.subjects.split(",") if args.subjects else None, device="cpu",
                       prefix_cache=not args.no_prefix_cache)
    if args.batch_size:
        config.batch_size = args.batch_size
    spec = load_suite("ceval")
    method = make_method(config, spec)
    backend = open_backend(config, resolve_model(str(model_dir)))
    method.setup(backend)
    cfg = backend.model.config
    hidden, layers, inter = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size
    kv = cfg.num_key_value_heads * (hidden // cfg.num_attention_heads)
    linear_per_token = 2 * layers * (2 * hidden * hidden + 2 * hidden * kv + 3 * hidden * inter)

    if args.plan_only:
        return compare_plans(method, backend, [int(b) for b in args.plan_only.split(",")])
    calls: list[dict] = []
    forward = backend.model.forward

    def timed_forward(*a, **kw):
        ids = kw.get("input_ids")
        past = kw.get("past_key_values")
        past_len = past.get_seq_length() if past is not None else 0
        rows, width = int(ids.shape[0]), int(ids.shape[1])
        run, own = rows * width, rows * width * (width + 1) // 2  # tokens run (with padding), query-key pairs
        packing = kw.get("shared_prefix")
        if packing is not None:  # a packed pass: one sequence of every row's tokens; the one prefix copy, no cache
            past_len = int(packing[0][0].shape[2])
            rows = sum(int(g.shape[0]) for g, _, _ in packing.parts)
            own = sum(int(g.shape[0]) * int(g.shape[1]) * (int(g.shape[1]) + 1) // 2 for g, _, _ in packing.parts)
            width = max(int(g.shape[1]) for g, _, _ in packing.parts)
        start = time.perf_counter()
        out = forward(*a, **kw)
        calls.append({"rows": rows, "width": width, "run": run, "own": own, "past": int(past_len),
                      "seconds": time.perf_counter() - start})
        return out

    backend.model.forward = timed_forward
    print(load_line(), flush=True)
    prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) if args.ops else None
    start = time.perf_counter()
    cpu0 = sum(os.times()[:2])
    if prof:
        prof.__enter__()
    n = 0
    for indices, _ in method.outputs(backend, set()):
        n += len(indices)
    if prof:
        prof.__exit__(None, None, None)
    total = time.perf_counter() - start
    cpu = sum(os.times()[:2]) - cpu0
    print(load_line(), flush=True)

    stats = backend.stats
    rows = sum(c["rows"] for c in calls)
    padded = sum(c["run"] for c in calls)
    real = stats.computed_tokens
    fwd = sum(c["seconds"] for c in calls)
    # attention FLOPs: each computed token attends to the cached prefix and to the earlier tokens of its own row
    att_per_pair = 4 * layers * cfg.num_attention_heads * (hidden // cfg.num_attention_heads)
    att_prefix = sum(c["run"] * c["past"] for c in calls) * att_per_pair
    att_own = sum(c["own"] for c in calls) * att_per_pair
    lin = padded * linear_per_token
    tokens_by_group: dict[str, list[list[int]]] = {}
    for p, ctx in zip(method.prep.prompts, method.contexts, strict=True):
        tokens_by_group.setdefault(p.question.subject, []).append(ctx)
    enc = {g: backend._encode_many(v) for g, v in tokens_by_group.items()}
    floor, trie = unique_token_floor(enc)
    widths = Counter(min(c["width"] // 64, 8) * 64 for c in calls if c["past"] or not config.prefix_cache)

    print(f"\n{SRC}: {n} questions, {len(enc)} subjects, batch size {backend.batch_size}, prefix cache "
          f"{config.prefix_cache}, shared-prefix attention {getattr(backend, '_shared_attention', False)}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"forward passes {len(calls)} (rows {rows}, {rows / max(1, len(calls)):.1f} per pass); "
          f"widths (bucket of 64: passes) {dict(sorted(widths.items()))}")
    print(f"tokens: in prompts {stats.prompt_tokens:,}, computed {real:,}, run incl. padding {padded:,} "
          f"(padding waste {100 * (padded - real) / max(1, padded):.1f}%), floor {floor:,} (trie {trie:,}); "
          f"computed / floor {real / floor:.3f}")
    gflop = (lin + att_prefix + att_own) / 1e9
    print(f"estimated GFLOP {gflop:.0f}: matrix products {100 * lin / 1e9 / gflop:.0f}%, attention over cached prefix "
          f"{100 * att_prefix / 1e9 / gflop:.0f}%, attention within the question {100 * att_own / 1e9 / gflop:.0f}%")
    print(f"scoring {total:.1f}s wall, {cpu:.1f}s CPU; model forward {100 * fwd / total:.1f}%, outside forward "
          f"{100 * (total - fwd) / total:.1f}% ({(total - fwd) / max(1, len(calls)) * 1000:.1f} ms per pass); "
          f"{real / total:,.0f} computed tokens/s, {gflop / total:.1f} GFLOP/s")
    if prof:
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18, max_name_column_width=40))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
