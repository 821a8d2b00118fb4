"""Real servers on loopback for the openai-backend tests: `harness serve` in a subprocess, and a small
fault-injecting proxy in front of it (429 with Retry-After, 500, a hung response, a truncated body,
or a stall after N answers) that counts every request it receives, by request body."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

KEY_ENV = "HARNESS_TEST_API_KEY"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_variant(base: Path, out: Path) -> Path:
    """A LoRA adapter with random non-zero B weights, so that its predictions differ from the base's."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(7)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(out)
    return out


def start_serve(model: Path, variants: list[Path], key: str | None, log: Path) -> tuple[subprocess.Popen, str]:
    """`python -m harness.cli serve` on a free loopback port, waited for until /health answers."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "harness.cli", "serve", "--model", str(model), "--engine", "hf", "--port", str(port),
           "--max-logprobs", "4000"]
    if variants:
        cmd += ["--variants", ",".join(str(v) for v in variants)]
    if key:
        env[KEY_ENV] = key
        cmd += ["--api-key-env", KEY_ENV]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited ({proc.returncode}): {log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("server did not become healthy")
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


class FaultProxy:
    """Forwards POSTs to `upstream`. `faults` maps the ordinal of a distinct request body (1-based, in
    order of first arrival) to the fault its FIRST attempt gets: 429, 500, hang, truncate. With
    `stall_after`, no more than that many answers go out: later ones are held until the next epoch,
    then dropped (the client that asked is gone)."""

    def __init__(self, upstream: str, faults: dict[int, str] | None = None, hang_s: float = 4.0) -> None:
        self.upstream, self.faults, self.hang_s = upstream, dict(faults or {}), hang_s
        self.lock = threading.Lock()
        self.epoch = 0
        self.arrivals: list[tuple[int, str]] = []  # (epoch, body hash), every attempt
        self.answered: list[tuple[int, str]] = []  # (epoch, body hash) answered 200 in full
        self.order: list[str] = []
        self.stall_after: int | None = None
        self.reserved = 0  # answers allowed out in this epoch while stall_after is set
        self.always: str | None = None  # a fault for every attempt ("garbage": a 200 that is not JSON)
        self.release = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                proxy.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next_epoch(self) -> None:
        """Start counting afresh (a new run); requests still stalled from the last one are dropped."""
        with self.lock:
            self.epoch += 1
            self.stall_after = None
            self.reserved = 0
        self.release.set()

    def sent(self, epoch: int) -> list[str]:
        return [h for e, h in self.arrivals if e == epoch]

    def ok(self, epoch: int) -> list[str]:
        return [h for e, h in self.answered if e == epoch]

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        body = req.rfile.read(int(req.headers.get("content-length") or 0))
        digest = hashlib.sha256(body).hexdigest()
        with self.lock:
            epoch = self.epoch
            first = digest not in self.order
            if first:
                self.order.append(digest)
            self.arrivals.append((epoch, digest))
            fault = self.faults.get(self.order.index(digest) + 1) if first else None
        if self.always == "garbage":
            return self._reply(req, 200, b'{"choices": [{"text": "no log-probs here"')
        if fault == "429":
            return self._reply(req, 429, b'{"error": {"message": "slow down"}}', {"Retry-After": "1"})
        if fault == "500":
            return self._reply(req, 500, b'{"error": {"message": "upstream exploded"}}')
        if fault == "hang":
            time.sleep(self.hang_s)
            req.close_connection = True
            return
        headers = {k: v for k, v in req.headers.items() if k.lower() in ("authorization", "content-type")}
        r = httpx.post(self.upstream + req.path, content=body, headers=headers, timeout=120)
        if fault == "truncate":
            req.send_response(200)
            req.send_header("Content-Type", "application/json")
            req.send_header("Content-Length", str(len(r.content)))
            req.end_headers()
            req.wfile.write(r.content[: len(r.content) // 2])
            req.wfile.flush()
            req.close_connection = True
            return
        with self.lock:  # past `stall_after` delivered answers, hold the answer (never deliver it this epoch)
            stalled = self.stall_after is not None and self.reserved >= self.stall_after
            self.reserved += not stalled
        if stalled:
            self.release.wait()
            if self.epoch != epoch:
                req.close_connection = True
                return
        self._reply(req, r.status_code, r.content)
        if r.status_code == 200:
            with self.lock:
                self.answered.append((epoch, digest))

    @staticmethod
    def _reply(req: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(body)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
