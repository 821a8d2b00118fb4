"""The transformers backend's batch plan: length-bucketed passes of whole questions, or packed ones.

What a user relies on: every question is scored exactly once, no pass holds more sequences than
--batch-size (so memory stays bounded), and the plan spends far fewer padded tokens than cutting a
length-sorted list every --batch-size rows, without splitting into more passes than it pays for.
Packed passes (no padding) are as few as the row and token caps allow.
"""

from __future__ import annotations

import random

from harness.backends.plan import bucket, pack


def _padding(widths, rows, passes):
    run = sum(max(widths[i] for i in p) * sum(rows[i] for i in p) for p in passes)
    real = sum(w * r for w, r in zip(widths, rows, strict=True))
    return run - real, len(passes)


def _fixed(widths, rows, size):
    order = sorted(range(len(widths)), key=lambda i: (-widths[i], i))
    out, count = [[]], 0
    for i in order:
        if out[-1] and count + rows[i] > size:
            out.append([])
            count = 0
        out[-1].append(i)
        count += rows[i]
    return out


def test_each_question_once_and_passes_within_batch_size():
    rng = random.Random(0)
    for _ in range(50):
        n = rng.randint(1, 60)
        widths = [rng.randint(30, 400) for _ in range(n)]
        rows = [rng.choice([1, 4]) for _ in range(n)]
        size = rng.choice([4, 8, 16, 64])
        passes = bucket(widths, rows, size, prefix=rng.randint(0, 900), attention=3e-4, pass_cost=rng.choice([0, 18, 500]))
        assert sorted(i for p in passes for i in p) == list(range(n))
        for p in passes:
            assert sum(rows[i] for i in p) <= size or len(p) == 1  # a question wider than the cap goes alone
            assert [widths[i] for i in p] == sorted((widths[i] for i in p), reverse=True)


def test_less_padding_than_fixed_batches_for_a_cpu_sized_pass_cost():
    rng = random.Random(1)
    widths = [int(rng.lognormvariate(4.4, 0.5)) for _ in range(40)]  # question lengths as in C-Eval (median ~80)
    rows = [1] * 40
    pad_b, passes_b = _padding(widths, rows, bucket(widths, rows, 16, 400, 3.6e-4, 18))
    pad_f, passes_f = _padding(widths, rows, _fixed(widths, rows, 16))
    assert pad_b < 0.25 * pad_f
    # ... and the extra passes are what the pass cost allows: never more than one per distinct width
    assert passes_b <= len(set(widths))


def test_pass_cost_trades_padding_for_fewer_passes():
    widths = [300, 290, 120, 110, 100, 60, 55, 50, 45, 40]
    rows = [1] * len(widths)
    free = bucket(widths, rows, 64, 0, 0.0, pass_cost=0)
    assert _padding(widths, rows, free)[0] == 0  # passes cost nothing: no padding at all
    dear = bucket(widths, rows, 64, 0, 0.0, pass_cost=1e6)
    assert len(dear) == 1  # a pass costs more than any padding: one pass
    assert len(bucket(widths, rows, 4, 0, 0.0, pass_cost=1e6)) == 3  # ... within the batch-size cap
    assert bucket(widths, rows, 64, 0, 0.0, pass_cost=1e6) == bucket(widths, rows, 64, 0, 0.0, pass_cost=1e6)


def test_packed_passes_are_full_within_both_caps():
    rng = random.Random(2)
    for _ in range(50):
        n = rng.randint(1, 80)
        widths = [rng.randint(1, 500) for _ in range(n)]
        rows = [rng.choice([1, 4]) for _ in range(n)]
        size, tokens = rng.choice([4, 16, 64]), rng.choice([600, 4096])
        passes = pack(widths, rows, size, tokens)
        assert sorted(i for p in passes for i in p) == list(range(n))
        for k, p in enumerate(passes):
            count, run = sum(rows[i] for i in p), sum(rows[i] * widths[i] for i in p)
            assert (count <= size and run <= tokens) or len(p) == 1  # an item over a cap goes alone
            if k + 1 < len(passes):  # a pass is cut only when the next item would break a cap
                nxt = passes[k + 1][0]
                assert count + rows[nxt] > size or run + rows[nxt] * widths[nxt] > tokens
    assert pack([10, 300, 20], [1, 1, 1], 64, 4096) == [[1, 2, 0]]  # longest first, one pass


def test_vllm_calls_keep_each_call_within_the_kv_cache():
    from harness.backends.plan import chunk_groups, group_footprint

    # two prompts sharing 70 tokens, block 32: the shared 64 tokens once, then each prompt's rest in its own blocks
    rows = [list(range(70)) + [1000 + i for i in range(20)], list(range(70)) + [2000 + i for i in range(50)]]
    assert group_footprint(rows, 32) == 64 + 32 + 64
    feet = [5000, 3000, 9000, 20000, 1000, 1000]
    calls = chunk_groups(feet, 10000)
    assert [g for c in calls for g in c] == list(range(len(feet)))  # every group once, in order
    assert all(sum(feet[g] for g in c) <= 10000 or len(c) == 1 for c in calls)
    assert calls == [[0, 1], [2], [3], [4, 5]]
    assert chunk_groups(feet, None, fallback=4) == [[0, 1, 2, 3], [4, 5]]
