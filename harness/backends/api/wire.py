"""Request bodies for the OpenAI wire format, and the parsing of what comes back.

Two endpoints: `/completions` (the prompt as text: what a base model or a local server continues) and
`/chat/completions` (the prompt as one user message: the server applies the model's chat template).
Log-probabilities come in two layouts — the legacy `{tokens, token_logprobs, top_logprobs: [{text:
lp}], text_offset}` of completions and the `content: [{token, logprob, top_logprobs: [...]}]` of chat —
and both reduce here to a list of (token, logprob) for the first generated position.

Every parser raises `Malformed` for a body that does not have the promised shape (the client
retries those) and never for a well-formed answer that merely lacks what we hoped for (no
log-probs, letters missing from the top list): those are results, handled by the caller.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harness.backends.api.client import Malformed
from harness.backends.base import GenerationParams

TOKEN_ID = "token_id:"  # vLLM's return_tokens_as_token_ids names tokens "token_id:123"
MAX_STOP = 4  # OpenAI's limit on stop strings; the rest are cut here after the answer comes back


def split_space(context: str, continuation: str) -> tuple[str, str]:
    """lm-eval's rule: trailing whitespace of the context belongs to the continuation."""
    n = len(context) - len(context.rstrip())
    return (context[:-n], context[-n:] + continuation) if n else (context, continuation)


def _first_choice(data: Any) -> dict[str, Any]:
    if isinstance(data, dict) and data.get("error") and not data.get("choices"):  # some providers say 200 and mean no
        err = data["error"]
        raise Malformed(f"the server answered with an error: {str(err.get('message') if isinstance(err, dict) else err)[:200]}")
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
        raise Malformed("no choices")
    choice = data["choices"][0]
    if not isinstance(choice, dict):
        raise Malformed("a choice is not an object")
    return choice


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise Malformed(f"log-prob {value!r} is not a number")
    return float(value)


def one_token_body(model: str, prompt: str, chat: bool, top: int, token_ids: bool) -> tuple[str, dict[str, Any]]:
    """Greedy one-token request asking for the top `top` log-probs of that token."""
    if chat:
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 1,
                                "temperature": 0, "logprobs": True, "top_logprobs": top}
        return "/chat/completions", body
    body = {"model": model, "prompt": prompt, "max_tokens": 1, "temperature": 0, "logprobs": top}
    if token_ids:
        body["return_tokens_as_token_ids"] = True
    return "/completions", body


def top_list(data: Any, chat: bool) -> list[tuple[str, float]] | None:
    """(token, logprob) of the first generated position, best first; [] when the answer has no token
    (the model ended at once); None when the response carries no log-probs at all."""
    choice = _first_choice(data)
    logprobs = choice.get("logprobs")
    if logprobs is None:
        return None
    if not isinstance(logprobs, dict):
        raise Malformed("logprobs is not an object")
    if chat:
        content = logprobs.get("content")
        if content is None:
            return None
        if not isinstance(content, list):
            raise Malformed("logprobs.content is not a list")
        if not content:
            return []
        entries = content[0].get("top_logprobs") if isinstance(content[0], dict) else None
        if not isinstance(entries, list):
            raise Malformed("logprobs.content[0].top_logprobs is not a list")
        out = []
        for e in entries:
            if not isinstance(e, dict) or not isinstance(e.get("token"), str):
                raise Malformed("a top_logprobs entry has no token")
            out.append((e["token"], _number(e.get("logprob"))))
        first = content[0]
        if isinstance(first.get("token"), str) and first.get("logprob") is not None:
            out.append((first["token"], _number(first["logprob"])))  # the chosen token, in case it is not listed
    else:
        tops = logprobs.get("top_logprobs")
        if tops is None:
            return None
        if not isinstance(tops, list):
            raise Malformed("logprobs.top_logprobs is not a list")
        if not tops:
            return []
        if not isinstance(tops[0], dict):
            raise Malformed("logprobs.top_logprobs[0] is not an object")
        out = [(str(t), _number(lp)) for t, lp in tops[0].items()]
    return sorted(out, key=lambda item: -item[1])


def letter_scores(top: list[tuple[str, float]], continuations: Sequence[str],
                  ids: Sequence[int] | None) -> list[float | None]:
    """Each continuation's log-prob read from the top list; None where it is absent.

    By token id when `ids` are the server's ids (tokens named `token_id:N`); otherwise by text: a
    token whose text is exactly the continuation wins, else the best token equal to it after
    stripping whitespace (chat models answer "A" where the prompt's continuation is " A")."""
    if ids is not None:
        by_id: dict[int, float] = {}
        for token, lp in top:
            if token.startswith(TOKEN_ID) and token[len(TOKEN_ID):].isdigit():
                by_id.setdefault(int(token[len(TOKEN_ID):]), lp)
        return [by_id.get(i) for i in ids]
    out: list[float | None] = []
    for cont in continuations:
        exact = [lp for token, lp in top if token == cont]
        loose = [lp for token, lp in top if token.strip() == cont.strip() and cont.strip()]
        out.append(max(exact) if exact else max(loose) if loose else None)
    return out


def generate_body(model: str, prompt: str, chat: bool, params: GenerationParams,
                  seed: int) -> tuple[str, dict[str, Any]]:
    """A request for `params.n` completions of `prompt` (seeded when sampled)."""
    body: dict[str, Any] = {"model": model, "max_tokens": params.max_new_tokens, "temperature": params.temperature}
    if params.sampled:
        body["seed"] = seed
        if params.top_p != 1.0:
            body["top_p"] = params.top_p
    if params.n != 1:
        body["n"] = params.n
    stops = [s for s in params.stop if s][:MAX_STOP]
    if stops:
        body["stop"] = stops
    if chat:
        return "/chat/completions", {**body, "messages": [{"role": "user", "content": prompt}]}
    return "/completions", {**body, "prompt": prompt}


def texts(data: Any, chat: bool, n: int) -> list[str]:
    """The `n` generated texts in choice order."""
    _first_choice(data)
    choices = sorted(data["choices"], key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
    if len(choices) != n:
        raise Malformed(f"{len(choices)} choices for n={n}")
    out = []
    for c in choices:
        if not isinstance(c, dict):
            raise Malformed("a choice is not an object")
        if chat:
            message = c.get("message")
            if not isinstance(message, dict):
                raise Malformed("a chat choice has no message")
            text = message.get("content")
            text = "" if text is None else text  # a reasoning model may answer in reasoning_content only
        else:
            text = c.get("text")
        if not isinstance(text, str):
            raise Malformed("a choice has no text")
        out.append(text)
    return out


def echo_body(model: str, prompts: list[str], token_ids: bool) -> tuple[str, dict[str, Any]]:
    """Ask the server to tokenise and score `prompts` without generating (echo, max_tokens 0)."""
    body: dict[str, Any] = {"model": model, "prompt": prompts, "max_tokens": 0, "echo": True, "logprobs": 1,
                            "temperature": 0}
    if token_ids:
        body["return_tokens_as_token_ids"] = True
    return "/completions", body


def echoed(data: Any, count: int) -> list[dict[str, list[Any]]]:
    """Each prompt's echoed {tokens, token_logprobs, text_offset}, in prompt order."""
    _first_choice(data)
    choices = sorted(data["choices"], key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
    if len(choices) != count:
        raise Malformed(f"{len(choices)} choices for {count} prompts")
    out = []
    for c in choices:
        lp = c.get("logprobs") if isinstance(c, dict) else None
        if not isinstance(lp, dict) or not isinstance(lp.get("tokens"), list):
            raise Malformed("an echoed prompt has no tokens")
        tokens, logprobs = lp["tokens"], lp.get("token_logprobs") or []
        offsets = lp.get("text_offset") or []
        if len(logprobs) != len(tokens) or (offsets and len(offsets) != len(tokens)):
            raise Malformed("echoed tokens and log-probs differ in length")
        out.append({"tokens": [str(t) for t in tokens], "token_logprobs": logprobs, "text_offset": offsets})
    return out


def last_logprob(echo: dict[str, list[Any]]) -> float:
    """The log-prob of an echoed prompt's last token given everything before it."""
    if len(echo["token_logprobs"]) < 2:
        raise Malformed("an echoed prompt has no scored token")
    return _number(echo["token_logprobs"][-1])


def continuation_logprob(echo: dict[str, list[Any]], context_chars: int) -> float:
    """Summed log-prob of the tokens that start at or after character `context_chars` of the prompt."""
    offsets = echo["text_offset"]
    if not offsets:
        raise Malformed("echoed tokens have no text_offset")
    picked = [lp for lp, off in zip(echo["token_logprobs"], offsets, strict=True) if off >= context_chars]
    if not picked:
        raise Malformed("the continuation has no token of its own")
    return sum(_number(lp) for lp in picked)
