"""The HTTP side of the OpenAI-compatible backend: keys, concurrency, retries and one-line errors.

Why these rules:
- The key is read from the environment variable the user names and lives only in the client's
  header; every message that leaves this module is scrubbed of it, and a refusal (401/403) never
  quotes the server (providers echo parts of a wrong key back).
- Concurrency adapts to the provider: a 429 halves the number of requests in flight and pauses all
  of them for the server's `Retry-After`; every `limit` successes in a row widen it again by one.
- Transient failures (timeouts, broken connections, truncated or malformed bodies, 408/409/425/5xx)
  are retried with jittered exponential backoff up to a cap; what cannot succeed by retrying (bad
  key, unknown model, a rejected request) stops the run at once with one clear line.
- An unreachable server fails on the first try: retrying a URL that never answered only delays the
  message (once the server has answered, a refused connection is treated as a restart and retried).
"""

from __future__ import annotations

import email.utils
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import httpx

from harness.backends.api.cache import ResponseCache, request_key
from harness.errors import UserError

T = TypeVar("T")
R = TypeVar("R")
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
RETRY_AFTER_CAP_S = 300.0  # a provider asking for longer is out of quota, not briefly busy
TRANSIENT = {408, 409, 425, 429}
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")


class Refused(UserError):
    """The server rejected a request for good (4xx other than 408/409/425/429): `status` says how."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Malformed(Exception):
    """A 200 response that is not what the endpoint promises (retried, then a UserError)."""


@dataclass
class ClientStats:
    """What the run cost: requests sent (retries included), answers taken from the cache, tokens."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    lowest_concurrency: int = 0


def read_key(var: str | None) -> str | None:
    """The key held by environment variable `var` (None: send no key). The message never shows a
    value that is not a conventional variable name, in case the key itself was passed by mistake."""
    if not var:
        return None
    shown = f"${var}" if _ENV_NAME.match(var) else "the variable named by --api-key-env"
    value = os.environ.get(var, "").strip()
    if not value:
        raise UserError(f"{shown} is not set or empty (the API key is read from the environment only)")
    return value


def display_url(url: str) -> str:
    """`url` without user info or query string (either may carry a credential)."""
    return re.sub(r"//[^/@]*@", "//", url).split("?", 1)[0].rstrip("/")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, when.timestamp() - time.time()) if when else None


def _server_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or "")[:300]
    if isinstance(err, str):
        return err[:300]
    return str(data.get("message") or data.get("detail") or "")[:300] if isinstance(data, dict) else ""


class Gate:
    """At most `limit` requests in flight; 429 halves the limit and pauses everyone, successes grow it."""

    def __init__(self, limit: int) -> None:
        self.most = self.limit = self.lowest = max(1, limit)
        self.active = 0
        self.streak = 0
        self.resume_at = 0.0
        self.cond = threading.Condition()

    def acquire(self, stop: threading.Event) -> None:
        with self.cond:
            while not stop.is_set():
                wait = self.resume_at - time.monotonic()
                if wait > 0:
                    self.cond.wait(wait)
                elif self.active < self.limit:
                    self.active += 1
                    return
                else:
                    self.cond.wait(1.0)
            raise _Stopped

    def release(self, outcome: str, pause: float = 0.0) -> None:
        """`outcome`: ok, throttled (429; pause everyone `pause` seconds) or error."""
        with self.cond:
            self.active -= 1
            if outcome == "ok":
                self.streak += 1
                if self.streak >= self.limit and self.limit < self.most:
                    self.limit, self.streak = self.limit + 1, 0
            elif outcome == "throttled":
                self.limit, self.streak = max(1, self.limit // 2), 0
                self.lowest = min(self.lowest, self.limit)
                self.resume_at = max(self.resume_at, time.monotonic() + pause)
            self.cond.notify_all()


class _Stopped(Exception):
    """The run is over (an error elsewhere, or the caller stopped reading): give up quietly."""


class ApiClient:
    """POSTs JSON to an OpenAI-compatible server with the rules above; finished answers are cached."""

    def __init__(self, base_url: str, key_env: str | None, timeout: float, max_retries: int, concurrency: int,
                 cache: ResponseCache) -> None:
        if timeout <= 0:
            raise UserError("--request-timeout must be above 0 seconds")
        if max_retries < 0:
            raise UserError("--max-retries must be 0 or more")
        if concurrency < 1:
            raise UserError("--concurrency must be at least 1")
        if not re.match(r"^https?://[^/\s]+", base_url or ""):
            raise UserError(f"--base-url must be an http:// or https:// URL, got '{display_url(base_url or '')}'")
        self.base_url = base_url.rstrip("/")
        self.shown_url = display_url(self.base_url)
        self._key = read_key(key_env)
        self.key_env = key_env
        self.timeout, self.max_retries, self.concurrency = timeout, max_retries, concurrency
        self.cache = cache
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=httpx.Timeout(timeout),
                                 limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency))
        self.gate = Gate(concurrency)
        self.stats = ClientStats(lowest_concurrency=concurrency)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reached = False

    def scrub(self, text: str) -> str:
        """`text` with the key (if any) blanked out."""
        return text.replace(self._key, "***") if self._key else text

    def _count(self, **delta: int) -> None:
        with self._lock:
            for name, value in delta.items():
                setattr(self.stats, name, getattr(self.stats, name) + value)

    def post(self, path: str, body: dict[str, Any], parse: Callable[[Any], T]) -> T:
        """`parse(response JSON)` of POST `path`: from the cache when this request finished before,
        else from the server, retried as the module says. `parse` raises Malformed for a bad body."""
        url = self.base_url + path
        key = request_key(url, body)
        hit = self.cache.get(key)
        if hit is not None:
            try:
                value = parse(hit)
            except Malformed:
                pass  # stored by another version that read it differently: ask again
            else:
                self._count(cached=1)
                return value
        attempt = 0
        while True:
            self.gate.acquire(self._stop)
            outcome, pause, value, problem, delay = "error", 0.0, None, "", None
            try:
                value, problem, delay, outcome = self._attempt(path, body, parse, key)
                pause = delay or 0.0
            finally:
                self.gate.release(outcome, pause)
            if outcome == "ok":
                return value  # type: ignore[return-value]
            attempt += 1
            if attempt > self.max_retries:
                raise UserError(self.scrub(f"{self.shown_url}{path}: {problem} (gave up after {attempt} attempts; "
                                           "see --max-retries and --request-timeout)"))
            self._count(retries=1)
            wait = delay if delay is not None else min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
            if delay is None:
                wait *= random.uniform(0.5, 1.0)
            if self._stop.wait(wait):
                raise _Stopped

    def _attempt(self, path: str, body: dict[str, Any], parse: Callable[[Any], T],
                 key: str) -> tuple[T | None, str, float | None, str]:
        """One try: (value, problem, server-requested delay, outcome ok|throttled|error)."""
        self._count(requests=1)
        try:
            response = self.http.post(path, json=body)
        except httpx.ConnectError as exc:
            if not self._reached:
                raise UserError(self.scrub(f"cannot reach {self.shown_url}: {_reason(exc)}")) from None
            return None, f"cannot connect ({_reason(exc)})", None, "error"
        except httpx.TimeoutException:
            return None, f"no answer within {self.timeout:g} s", None, "error"
        except httpx.TransportError as exc:
            return None, f"connection broken ({type(exc).__name__}: {_reason(exc)})", None, "error"
        self._reached = True
        status = response.status_code
        if status == 200:
            try:
                data = response.json()
                value = parse(data)
            except (ValueError, Malformed, KeyError, IndexError, TypeError, AttributeError) as exc:
                return None, f"malformed response ({str(exc)[:200]})", None, "error"
            usage = data.get("usage") if isinstance(data, dict) else None
            if isinstance(usage, dict):
                self._count(prompt_tokens=int(usage.get("prompt_tokens") or 0),
                            completion_tokens=int(usage.get("completion_tokens") or 0))
            self.cache.put(key, data)
            return value, "", None, "ok"
        if status == 429:
            wait = _retry_after(response)
            if wait is not None and wait > RETRY_AFTER_CAP_S:
                raise UserError(f"{self.shown_url}{path}: HTTP 429: the server asks to wait {wait:.0f} s "
                                "(quota exhausted?); run again later — finished questions are kept")
            self._count(throttled=1)
            return None, "HTTP 429 (rate limited)", wait if wait is not None else 1.0, "throttled"
        if status in TRANSIENT or status >= 500:
            return None, f"HTTP {status}", _retry_after(response), "error"
        raise Refused(self.scrub(self._refusal(status, path, response, body)), status)

    def _refusal(self, status: int, path: str, response: httpx.Response, body: dict[str, Any]) -> str:
        where = f"{self.shown_url}{path}: HTTP {status}"
        if status in (401, 403):
            if not self._key:
                return f"{where}: the server wants an API key; name the variable holding it with --api-key-env"
            return f"{where}: the server refused the API key read from ${self.key_env}"
        message = _server_message(response)
        if status == 404:
            return (f"{where}: {message or 'not found'} — check the model name '{body.get('model')}' "
                    "(--api-model) and --base-url (usually ending in /v1)")
        hint = ""
        if "logprobs" in body and "logprob" in message.lower():
            hint = " — try a smaller --top-logprobs, or --method generate"
        return f"{where}: {message or response.reason_phrase}{hint}"

    def run_all(self, jobs: list[tuple[R, Callable[[], T]]]) -> Iterator[tuple[R, T]]:
        """Run the jobs (each makes its own requests) concurrently; yield (tag, result) as each
        finishes. The first error stops the others and is raised; so does closing the iterator (Ctrl-C).
        A client that stopped stays stopped: the run ends with that error."""
        if not jobs:
            return
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(jobs)), thread_name_prefix="harness-api")
        futures = {pool.submit(fn): tag for tag, fn in jobs}
        finished = False
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
            finished = True
        finally:
            if not finished:  # the run is over: queued jobs are dropped, running ones give up at their
                self._stop.set()  # next wait, and close() aborts their open requests
            pool.shutdown(wait=finished, cancel_futures=True)

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = ClientStats(lowest_concurrency=self.concurrency)
        self.gate.lowest = self.gate.limit

    def summary(self) -> dict[str, Any]:
        self.stats.lowest_concurrency = self.gate.lowest
        return asdict(self.stats)

    def close(self) -> None:
        self._stop.set()
        self.http.close()
        self.cache.close()


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
