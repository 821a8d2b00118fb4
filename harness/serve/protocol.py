"""The OpenAI wire format: request models, the error shape, and the two log-probability layouts.

Unknown request fields are ignored (as vLLM does) so that clients written for other servers work;
fields we do accept are validated, and a wrong one is a 400 in OpenAI's error shape. Log-probs
of -inf become -9999.0 (vLLM's convention) because JSON has no infinity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from harness.serve.rows import TokenInfo

NEG_INF = -9999.0
ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
               405: "invalid_request_error", 413: "invalid_request_error", 499: "invalid_request_error",
               500: "server_error", 503: "server_error"}
ERROR_CODES = {401: "invalid_api_key", 404: "model_not_found", 413: "request_too_large"}


class ServeError(Exception):
    """A request the server answers with an OpenAI-shaped error: status, message, optional param."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param
        self.code = code or ERROR_CODES.get(status)


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": ERROR_TYPES.get(status, "invalid_request_error"),
                      "param": param, "code": code}}


class StreamOptions(BaseModel):
    include_usage: bool = False


class _Request(BaseModel):
    """Fields both endpoints share; None means the endpoint's default."""

    model_config = ConfigDict(extra="ignore")

    model: str
    max_tokens: int | None = Field(None, ge=0)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    n: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None

    def stop_strings(self) -> tuple[str, ...]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return tuple(s for s in stops if s)


class CompletionRequest(_Request):
    prompt: str | list[str] | list[int] | list[list[int]]
    logprobs: int | None = Field(None, ge=0)
    echo: bool = False
    return_tokens_as_token_ids: bool = False  # vLLM's extension: "token_id:123" instead of the token's text


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: str
    content: str | list[TextPart] | None = None

    def as_template_input(self) -> dict[str, str]:
        content = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content or [])
        return {"role": self.role, "content": content}


class ChatRequest(_Request):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=0)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0)
    return_tokens_as_token_ids: bool = False


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    return value if value > NEG_INF else NEG_INF


class TokenNames:
    """Turns token ids into what the client sees: the token's text, or `token_id:N` on request."""

    def __init__(self, decode: Any, as_ids: bool) -> None:
        self.decode, self.as_ids = decode, as_ids

    def __call__(self, token: int) -> str:
        return f"token_id:{token}" if self.as_ids else self.decode(token)


def completion_logprobs(infos: list[TokenInfo], name: TokenNames, offset: int = 0) -> dict[str, list[Any]]:
    """OpenAI's legacy layout: parallel lists; each top dict holds the top k and the chosen token.
    A first prompt token (echo) has no log-prob: null, as OpenAI and vLLM give it."""
    out: dict[str, list[Any]] = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
    for info in infos:
        out["tokens"].append(name(info.id))
        out["token_logprobs"].append(_finite(info.logprob))
        out["text_offset"].append(offset + info.start)
        if info.logprob is None:
            out["top_logprobs"].append(None)
            continue
        top: dict[str, float] = {}
        for token, lp in [*info.top, (info.id, info.logprob)]:
            top.setdefault(name(token), _finite(lp))  # type: ignore[arg-type]
        out["top_logprobs"].append(top)
    return out


def _entry(token: str, logprob: float | None) -> dict[str, Any]:
    return {"token": token, "logprob": _finite(logprob), "bytes": list(token.encode("utf-8"))}


def chat_logprobs(infos: list[TokenInfo], name: TokenNames) -> dict[str, list[Any]]:
    """The chat layout: one entry per token with its own `top_logprobs` list (the top k)."""
    content = []
    for info in infos:
        item = _entry(name(info.id), info.logprob)
        item["top_logprobs"] = [_entry(name(t), lp) for t, lp in info.top]
        content.append(item)
    return {"content": content}


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}
