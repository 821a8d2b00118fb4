"""The transformers backend's shared-prefix path scores exactly what whole prompts score: on CPU through the
shared-prefix attention (one prefix copy for all rows), and through the prefix cache expanded to the batch
(the path GPUs and models outside transformers' attention interface take)."""

from __future__ import annotations

import pytest

from harness.backends.base import ScoreRequest
from harness.backends.hf import HFBackend
from harness.registry.resolve import ResolvedModel
from harness.runner import RunConfig, prepare
from harness.suite.prompt import continuations


def _score(model, requests, method, letter_ids, prefix_cache, shared_attention=True):
    backend = HFBackend(ResolvedModel(name="tiny", path=str(model)), device="cpu", batch_size=4,
                        prefix_cache=prefix_cache)
    assert backend._shared_attention == prefix_cache  # the tiny Qwen2 takes the shared-prefix attention on CPU
    backend._shared_attention = shared_attention and prefix_cache
    out = {}
    for batch in backend.score(requests, method, letter_ids):
        out.update(zip(batch.indices, batch.outputs, strict=True))
    return out, backend.stats


@pytest.mark.parametrize("shared_attention", [True, False], ids=["shared-attention", "expanded-cache"])
@pytest.mark.parametrize("method", ["letter", "choice"])
def test_prefix_reuse_matches_whole_prompts(tiny_model, ceval_dir, tmp_path, method, shared_attention):
    prep = prepare(RunConfig(suite="ceval", model=str(tiny_model), output=tmp_path, shots=3, data_dir=ceval_dir,
                             subjects=["computer_network", "law", "high_school_physics"]))
    conts = tuple(continuations(prep.spec))
    requests = [ScoreRequest(p.context, conts, p.question.subject) for p in prep.prompts]
    probe = HFBackend(ResolvedModel(name="tiny", path=str(tiny_model)), device="cpu")
    letter_ids = {r.group: probe.letter_token_ids(r.context, conts) for r in requests} if method == "letter" else None
    shared, shared_stats = _score(tiny_model, requests, method, letter_ids, prefix_cache=True,
                                  shared_attention=shared_attention)
    whole, whole_stats = _score(tiny_model, requests, method, letter_ids, prefix_cache=False)
    assert sorted(shared) == sorted(whole) == list(range(len(requests)))
    for i in whole:
        assert max(range(4), key=lambda k: shared[i][k]) == max(range(4), key=lambda k: whole[i][k])
        assert shared[i] == pytest.approx(whole[i], abs=1e-5)
    # the point of the prefix path: far fewer tokens through the model, same prompt tokens
    assert shared_stats.prompt_tokens == whole_stats.prompt_tokens
    assert whole_stats.computed_tokens == whole_stats.prompt_tokens
    assert shared_stats.computed_tokens < 0.6 * whole_stats.computed_tokens


def test_packed_passes_score_rows_of_different_lengths_as_whole_prompts(tiny_model, ceval_dir, tmp_path):
    """A packed pass lays rows of different lengths end to end (here one question's options of 1 to 9 tokens,
    and questions of different lengths): each row still attends only to the prefix and its own earlier tokens,
    so every option's log-prob equals scoring the whole prompt on its own."""
    prep = prepare(RunConfig(suite="ceval", model=str(tiny_model), output=tmp_path, shots=2, data_dir=ceval_dir,
                             subjects=["law"]))
    conts = ("A", "B。理由很长很长", "C：这是一个比较长的答案，有好几个词", "D 否")
    requests = [ScoreRequest(p.context, conts, p.question.subject) for p in prep.prompts[:6]]
    backend = HFBackend(ResolvedModel(name="tiny", path=str(tiny_model)), device="cpu", prefix_cache=True)
    packed_calls = []
    backend.model.register_forward_pre_hook(
        lambda _m, _a, kw: packed_calls.append(kw["input_ids"].shape) if "shared_prefix" in kw else None,
        with_kwargs=True)
    packed = {i: o for b in backend.score(requests, "choice") for i, o in zip(b.indices, b.outputs, strict=True)}
    assert packed_calls and all(shape[0] == 1 for shape in packed_calls)  # one sequence per pass
    assert len(packed_calls) == 1  # six questions x four options fit one packed pass
    whole_backend = HFBackend(ResolvedModel(name="tiny", path=str(tiny_model)), device="cpu", prefix_cache=False)
    whole = {i: o for b in whole_backend.score(requests, "choice") for i, o in zip(b.indices, b.outputs, strict=True)}
    assert sorted(packed) == sorted(whole) == list(range(6))
    for i in whole:
        assert packed[i] == pytest.approx(whole[i], abs=1e-5)


def test_choice_with_one_token_options_runs_each_context_once(tiny_model, ceval_dir, tmp_path):
    """`--method choice` with single-token options (A-D) reads all four from one pass over the context, as
    lm-eval's grouping by context does: the same tokens computed as `letter`, the same prediction."""
    prep = prepare(RunConfig(suite="ceval", model=str(tiny_model), output=tmp_path, shots=2, data_dir=ceval_dir,
                             subjects=["law", "computer_network"]))
    conts = tuple(continuations(prep.spec))
    requests = [ScoreRequest(p.context, conts, p.question.subject) for p in prep.prompts]
    probe = HFBackend(ResolvedModel(name="tiny", path=str(tiny_model)), device="cpu")
    letter_ids = {r.group: probe.letter_token_ids(r.context, conts) for r in requests}
    letter, letter_stats = _score(tiny_model, requests, "letter", letter_ids, prefix_cache=True)
    choice, choice_stats = _score(tiny_model, requests, "choice", None, prefix_cache=True)
    assert choice_stats.computed_tokens == letter_stats.computed_tokens
    for i in letter:
        assert choice[i] == pytest.approx(letter[i], abs=1e-5)


@pytest.mark.parametrize("prefix_cache", [True, False], ids=["prefix", "whole"])
@pytest.mark.parametrize("method", ["letter", "choice"])
def test_last_layer_on_read_positions_only_scores_as_every_position(tiny_model, ceval_dir, tmp_path, method,
                                                                     prefix_cache):
    """The last layer's output projection and MLP run only where logits are read: the same log-probs as running
    them at every position (the read positions' outputs do not depend on the others' in the last layer)."""
    prep = prepare(RunConfig(suite="ceval", model=str(tiny_model), output=tmp_path, shots=2, data_dir=ceval_dir,
                             subjects=["law", "computer_network"]))
    conts = tuple(continuations(prep.spec))
    requests = [ScoreRequest(p.context, conts, p.question.subject) for p in prep.prompts]
    backend = HFBackend(ResolvedModel(name="tiny", path=str(tiny_model)), device="cpu", batch_size=4,
                        prefix_cache=prefix_cache)
    assert backend.describe()["last_layer"] == "read positions only"
    letter_ids = ({r.group: backend.letter_token_ids(r.context, conts) for r in requests}
                  if method == "letter" else None)
    calls = []
    # the MLP's own down projection sees the positions the MLP computes
    backend.model.model.layers[-1].mlp.down_proj.register_forward_pre_hook(
        lambda _m, args: calls.append(args[0].shape[0] * args[0].shape[1]))

    def run():
        out = {}
        for batch in backend.score(requests, method, letter_ids):
            out.update(zip(batch.indices, batch.outputs, strict=True))
        return out

    pruned = run()
    pruned_positions = sum(calls)
    calls.clear()
    backend._read_positions = None
    full = run()
    assert pruned_positions < sum(calls) / 3  # most positions were skipped
    assert sorted(pruned) == sorted(full) == list(range(len(requests)))
    for i in full:
        assert pruned[i] == pytest.approx(full[i], abs=1e-5)
        assert max(range(4), key=lambda k: pruned[i][k]) == max(range(4), key=lambda k: full[i][k])
