"""The transformers server's routes: /health, /v1/models, /v1/completions, /v1/chat/completions.

Model work runs on ONE worker thread (see `engine` for why), so the event loop stays free to accept
requests, stream tokens and answer /health while a generation runs. A request that goes away (a
streaming client that disconnects, or the shutdown deadline) sets its cancel flag, and the worker
stops that generation at the next token.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from harness.serve.engine import Engine
from harness.serve.guard import Guard
from harness.serve.options import ServeOptions
from harness.serve.protocol import ChatRequest, CompletionRequest, ServeError, TokenNames, error_body
from harness.serve.rows import Sampling
from harness.serve.streams import Job, chat_result, completion_result, stream_chat, stream_completion
from harness.serve.worker import Worker

log = logging.getLogger("harness.serve")
T = TypeVar("T")
DEFAULT_COMPLETION_TOKENS = 16  # OpenAI's default for /v1/completions


def _check_model(engine: Engine, name: str) -> str:
    if name not in engine.adapter_of:
        raise ServeError(404, f"model '{name}' is not served here (served: {', '.join(engine.names)})", "model")
    return name


def _sampling(options: ServeOptions, req: CompletionRequest | ChatRequest, max_tokens: int,
              top_logprobs: int | None) -> Sampling:
    if max_tokens > options.max_tokens_limit:
        raise ServeError(400, f"max_tokens {max_tokens} is over this server's limit of {options.max_tokens_limit}",
                         "max_tokens")
    n = req.n or 1
    if n > options.max_n:
        raise ServeError(400, f"n {n} is over this server's limit of {options.max_n}", "n")
    if top_logprobs is not None and top_logprobs > options.max_logprobs:
        raise ServeError(400, f"{top_logprobs} log-probs asked for; this server gives at most {options.max_logprobs} "
                              "(start it with a larger --max-logprobs)", "logprobs")
    stops = req.stop_strings()
    if len(stops) > 16:
        raise ServeError(400, "at most 16 stop strings", "stop")
    temperature = 1.0 if req.temperature is None else req.temperature
    return Sampling(max_tokens=max_tokens, temperature=temperature, top_p=1.0 if req.top_p is None else req.top_p,
                    n=n, seed=req.seed, stop=stops, top_logprobs=top_logprobs)


def _prompts(engine: Engine, prompt: Any) -> list[tuple[str | None, list[int]]]:
    """(text or None, token ids) for each prompt of a completion request."""
    if isinstance(prompt, str):
        items: list[Any] = [prompt]
    elif prompt and all(isinstance(p, int) for p in prompt):
        items = [list(prompt)]
    else:
        items = list(prompt)
    if not items:
        raise ServeError(400, "prompt is empty", "prompt")
    vocab = len(engine.tokenizer)
    out: list[tuple[str | None, list[int]]] = []
    for item in items:
        if isinstance(item, str):
            ids = engine.encode(item)
            out.append((item, ids))
        else:
            if any(not 0 <= t < vocab for t in item):
                raise ServeError(400, f"prompt has a token id outside the vocabulary (0..{vocab - 1})", "prompt")
            out.append((None, list(item)))
        if not out[-1][1]:
            raise ServeError(400, "prompt has no tokens", "prompt")
    return out


def create_app(engine: Engine, options: ServeOptions) -> Guard:
    """The ASGI application: the routes inside the key and body-size guard."""
    worker = Worker()
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        worker.close()

    app = FastAPI(title="harness serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(ServeError)
    async def _serve_error(_request: Request, exc: ServeError) -> JSONResponse:
        return JSONResponse(error_body(exc.status, exc.message, exc.param, exc.code), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            message, param = "request body is not valid JSON", None
        else:
            loc = [str(p) for p in first.get("loc", ()) if p != "body"]
            param = loc[0] if loc else None
            message = f"{'.'.join(loc) or 'body'}: {first.get('msg', 'invalid')}"
        return JSONResponse(error_body(400, message, param), status_code=400)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(error_body(exc.status_code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _crash(_request: Request, exc: Exception) -> JSONResponse:
        log.error("request failed: %s: %s", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        return JSONResponse(error_body(500, "internal server error"), status_code=500)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        data = []
        for name, adapter in engine.adapter_of.items():
            item = {"id": name, "object": "model", "created": created, "owned_by": "harness"}
            if adapter is not None:
                item["parent"] = engine.names[0]
            data.append(item)
        return {"object": "list", "data": data}

    @app.post("/v1/completions")
    async def completions(req: CompletionRequest, request: Request) -> Any:
        name = _check_model(engine, req.model)
        max_tokens = DEFAULT_COMPLETION_TOKENS if req.max_tokens is None else req.max_tokens
        if max_tokens == 0 and not req.echo:
            raise ServeError(400, "max_tokens 0 makes sense only with echo", "max_tokens")
        sampling = _sampling(options, req, max_tokens, req.logprobs)
        prompts = _prompts(engine, req.prompt)
        for _, ids in prompts:
            engine.check_length(len(ids), max_tokens)
        names = TokenNames(engine.token_text, req.return_tokens_as_token_ids)
        jobs = [Job(engine, name, text, ids, sampling, echo=req.echo) for text, ids in prompts]
        head = {"id": f"cmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": name}
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            return StreamingResponse(stream_completion(worker, jobs, head, names, include_usage),
                                     media_type="text/event-stream")
        results = await worker.run_all(request, [job.run for job in jobs])
        return JSONResponse(completion_result(jobs, results, head, names))

    @app.post("/v1/chat/completions")
    async def chat(req: ChatRequest, request: Request) -> Any:
        name = _check_model(engine, req.model)
        text = engine.render_chat(name, [m.as_template_input() for m in req.messages])
        ids = engine.encode(text)
        asked = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
        max_tokens = min(options.max_tokens_limit, engine.max_length - len(ids)) if asked is None else asked
        if max_tokens < 1:
            raise ServeError(400, "max_tokens must be at least 1 for chat", "max_tokens")
        top = (req.top_logprobs or 0) if req.logprobs else None
        sampling = _sampling(options, req, max_tokens, top)
        engine.check_length(len(ids), max_tokens)
        names = TokenNames(engine.token_text, req.return_tokens_as_token_ids)
        job = Job(engine, name, text, ids, sampling)
        head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": name}
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            return StreamingResponse(stream_chat(worker, job, head, names, include_usage),
                                     media_type="text/event-stream")
        [result] = await worker.run_all(request, [job.run])
        return JSONResponse(chat_result(job, result, head, names))

    return Guard(app, options.api_key, options.max_body_bytes)
