"""`--backend openai` against a real `harness serve` on loopback (no mocks of client or server).

The server runs the tiny model and a LoRA variant, with an API key. The harness's transformers
backend gives the references: the same predictions through the letters' `top_logprobs` (one request
per question), the same greedy text, the variant's own predictions when asked for by name. Also: the
letter->generation fallback when letters miss the top list, the chat endpoint, a catalogue preset
that needs only its key variable, and every bad input as one line and exit code 2 — with the key
string in no file the run wrote and nowhere in its output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("httpx", reason="the serve extra is not installed")
pytest.importorskip("fastapi", reason="the serve extra is not installed")

from api_servers import KEY_ENV, free_port, make_variant, start_serve, stop  # noqa: E402

from harness.cli import main  # noqa: E402

KEY = "sk-harness-api-test-" + os.urandom(8).hex()
SUBJECTS = "computer_network,law"
LAW = {
    "1-2": {"instruction": "请你运用法律知识从A,B,C,D中选出一个正确的答案，并写在[正确答案]和<eoa>之间。",
            "question": "我国的根本大法是?A:宪法;B:刑法;C:民法;D:行政法", "answer": "正确答案：A。"},
    "3-8": {"instruction": "请回答下列问题:", "question": "醉驾如何处罚？", "answer": "回答:醉驾构成危险驾驶罪，处拘役并处罚金。"},
}


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("api-serve")
    variant = make_variant(tiny_model, root / "tuned")
    proc, url = start_serve(tiny_model, [variant], KEY, root / "server.log")
    yield {"url": url + "/v1", "variant": variant, "log": root / "server.log"}
    stop(proc)


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


def _run(args: list[str], out: Path, code: int = 0) -> dict:
    assert main(["run", *args, "--output", str(out), "--quiet"]) == code
    if code:
        return {}
    records = [json.loads(x) for x in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    return {"records": records, "results": json.loads((out / "results.json").read_text(encoding="utf-8"))}


def _ceval(model, ceval_dir, *extra: str) -> list[str]:
    return ["--suite", "ceval", "--data-dir", str(ceval_dir), "--subjects", SUBJECTS, "--shots", "2",
            "--model", str(model), *extra]


def _api(server, *extra: str) -> list[str]:
    return ["--backend", "openai", "--base-url", server["url"], "--api-key-env", KEY_ENV, *extra]


def test_letter_predictions_match_hf_one_request_per_question(server, key, tiny_model, ceval_dir, tmp_path, capfd):
    hf = _run(_ceval(tiny_model, ceval_dir, "--device", "cpu"), tmp_path / "hf")
    api = _run(_ceval(tiny_model, ceval_dir, *_api(server, "--top-logprobs", "1500")), tmp_path / "api")
    assert [r["id"] for r in api["records"]] == [r["id"] for r in hf["records"]]
    assert [r["pred"] for r in api["records"]] == [r["pred"] for r in hf["records"]]
    for a, h in zip(api["records"], hf["records"], strict=True):
        assert a["logprobs"].keys() == h["logprobs"].keys()
        assert all(abs(a["logprobs"][k] - h["logprobs"][k]) < 1e-4 for k in h["logprobs"])
        assert a["values"] == {"letters_present": 4}
    card = api["results"]["card"]
    assert card["backend"]["letter_match"] == "token_id" and card["backend"]["endpoint"] == "completions"
    n = len(api["records"])
    # one request per question: the run's tokenisation probe (echo) also answers the first question
    assert card["api"]["requests"] == n
    assert card["api"]["prompt_tokens"] > 0 and api["results"]["scores"]["letter_fallback"]["questions"] == 0
    assert api["results"]["scores"]["overall"] == hf["results"]["scores"]["overall"]
    # run again: every answer comes from the run folder, nothing is sent
    again = _run(_ceval(tiny_model, ceval_dir, *_api(server, "--top-logprobs", "1500")), tmp_path / "api")
    assert again["results"]["card"]["api"]["requests"] == 0
    # the key is in no file the run wrote and in nothing it printed
    for path in (tmp_path / "api").rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(encoding="utf-8", errors="replace"), path
    captured = capfd.readouterr()
    assert KEY not in captured.out and KEY not in captured.err


def test_variant_served_by_name_gives_the_variants_predictions(server, key, ceval_dir, tmp_path):
    variant = server["variant"]
    hf = _run(_ceval(variant, ceval_dir, "--device", "cpu"), tmp_path / "hf")
    api = _run(_ceval(variant, ceval_dir, *_api(server, "--top-logprobs", "1500")), tmp_path / "api")
    assert api["results"]["card"]["backend"]["model_name"] == variant.name
    assert [r["pred"] for r in api["records"]] == [r["pred"] for r in hf["records"]]
    assert all(abs(a["logprobs"][k] - h["logprobs"][k]) < 1e-4
               for a, h in zip(api["records"], hf["records"], strict=True) for k in h["logprobs"])


def test_greedy_generation_matches_hf(server, key, tiny_model, tmp_path):
    # a generation suite (LawBench layout); HFBackend pads batched greedy prompts on the left while the
    # server runs one prompt at a time: compare with --batch-size 1 on the hf side
    folder = tmp_path / "lawbench" / "data" / "zero_shot"
    folder.mkdir(parents=True)
    for task, rec in LAW.items():
        (folder / f"{task}.json").write_text(json.dumps([rec, rec], ensure_ascii=False), encoding="utf-8")
    args = ["--suite", "law", "--data-dir", str(tmp_path / "lawbench"), "--model", str(tiny_model),
            "--max-new-tokens", "12"]
    hf = _run([*args, "--device", "cpu", "--batch-size", "1"], tmp_path / "hf")
    api = _run([*args, *_api(server)], tmp_path / "api")
    assert [r["output"] for r in api["records"]] == [r["output"] for r in hf["records"]]
    assert any(r["output"] for r in api["records"])
    assert api["results"]["scores"]["overall"] == hf["results"]["scores"]["overall"]
    assert api["results"]["card"]["api"]["requests"] == len(api["records"])


def test_letters_outside_the_top_list_fall_back_to_generation(server, key, tiny_model, ceval_dir, tmp_path):
    run = _run(_ceval(tiny_model, ceval_dir, *_api(server, "--top-logprobs", "2", "--max-new-tokens", "6")),
               tmp_path / "api")
    first, *rest = run["records"]
    n = len(run["records"])
    assert first["values"] == {"letters_present": 4}  # its letters came, exact, from the tokenisation probe
    for r in rest:  # at most the top 2 and the chosen token come back: never all four letters
        assert r["values"]["fallback"] == "generate" and r["values"]["letters_present"] <= 3
        assert "output" in r and r.get("pred") == r["extracted"]
    fb = run["results"]["scores"]["letter_fallback"]
    assert fb == {"questions": n - 1, "rate": (n - 1) / n, "extracted": sum(r["extracted"] is not None for r in rest)}
    assert run["results"]["card"]["api"]["requests"] == 1 + 2 * (n - 1)


def test_chat_endpoint_and_catalogue_preset_key(server, tiny_model, ceval_dir, tmp_path, monkeypatch):
    # deepseek-chat is a catalogue API entry: its key variable and chat endpoint come from the catalogue
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    _run(_ceval("deepseek-chat", ceval_dir, "--backend", "openai"), tmp_path / "nokey", code=2)
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    run = _run(_ceval("deepseek-chat", ceval_dir, "--backend", "openai", "--base-url", server["url"],
                      "--api-model", "tiny", "--limit", "2", "--top-logprobs", "1500"), tmp_path / "chat")
    card = run["results"]["card"]
    assert card["backend"]["endpoint"] == "chat" and card["backend"]["provider"] == "deepseek"
    assert card["backend"]["api_key_env"] == "DEEPSEEK_API_KEY" and card["model"]["key"] == "deepseek-chat"
    assert card["api"]["cost"]["currency"] == "USD" and card["api"]["cost"]["amount"] > 0
    assert all(r["values"]["letters_present"] + int("fallback" in r["values"]) >= 1 for r in run["records"])
    assert KEY not in json.dumps(run["results"])


@pytest.mark.parametrize("case", ["no-key", "wrong-key", "unknown-model", "unreachable"])
def test_bad_input_is_one_line_and_exit_2(case, server, tiny_model, ceval_dir, tmp_path, monkeypatch, capsys):
    url = server["url"]
    extra = ["--api-key-env", KEY_ENV]
    monkeypatch.setenv(KEY_ENV, KEY)
    model = str(tiny_model)
    if case == "no-key":
        extra = []
    elif case == "wrong-key":
        monkeypatch.setenv(KEY_ENV, KEY[::-1])
    elif case == "unknown-model":
        model = "no-such-model"
    else:
        url = f"http://127.0.0.1:{free_port()}/v1"
    out = tmp_path / "run"
    code = main(["run", *_ceval(model, ceval_dir, "--backend", "openai", "--base-url", url, *extra),
                 "--output", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("harness: error:")
    assert {"no-key": "--api-key-env", "wrong-key": "refused the API key", "unknown-model": "HTTP 404",
            "unreachable": "cannot reach"}[case] in err
    assert KEY not in err and KEY[::-1] not in err
    assert not (out / "results.json").exists()


def test_pipeline_serve_puts_the_better_model_in_use(tiny_model, tmp_path, monkeypatch, capsys):
    from harness.demo.sample_data import training_records

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in training_records()[:64]), encoding="utf-8")
    out = tmp_path / "pipe"
    args = ["pipeline", "--model", str(tiny_model), "--recipe", "demo", "--data", str(data), "--suite", "sample",
            "--shots", "0", "--subjects", "word_kind", "--max-steps", "4", "--output", str(out), "--quiet",
            "--serve", "--serve-limit", "4", "--serve-engine", "hf", "--serve-top-logprobs", "1500", "--device", "cpu"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    compare = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    served = json.loads((out / "serve.json").read_text(encoding="utf-8"))
    variant_won = compare["overall"]["delta"] > 0
    local = out / ("variant" if variant_won else "base")
    local_model = json.loads((local / "results.json").read_text(encoding="utf-8"))["model"]
    assert ("serving the variant" if variant_won else "serving the base") in printed
    run = json.loads((out / "served" / "run" / "results.json").read_text(encoding="utf-8"))
    assert run["model"] == local_model and run["card"]["backend"]["backend"] == "openai"
    assert run["card"]["api"]["requests"] == served["agreement_with_local_run"]["questions"]
    # every smoke question was scored from all four letters and gives the evaluated model's answer
    assert served["agreement_with_local_run"] == {"questions": 4, "compared": 4, "agree": 4}
    assert served["server_exit_code"] == 0
    assert main(args) == 0 and "[serve] done already" in capsys.readouterr().out
