"""`harness models check` through the CLI: two native families (one picked by catalogue key) and a remote-code
one, every transformers path, the table, the JSON, `harness models show`, and a non-zero exit when a claimed
path fails."""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest

from harness.cli import main
from harness.registry.check import HF_PATHS


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "80")
    return tmp_path / "home"


@pytest.fixture(scope="module")
def check(tmp_path_factory):
    """One check of qwen3_moe (by family), glm4 (by one of its keys) and chatglm (remote code only on the hub):
    (exit code, printed output, JSON path, HARNESS_HOME)."""
    root = tmp_path_factory.mktemp("check")
    out = root / "check.json"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_HOME", str(root / "home"))
        mp.setenv("COLUMNS", "80")
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = main(["models", "check", "qwen3_moe", "glm-4-9b-0414", "chatglm3-6b", "--backend", "hf",
                         "--json", str(out), "--work", str(root / "work")])
    return code, buffer.getvalue(), out, root / "home"


def test_check_two_families_and_a_remote_code_one(check):
    code, printed, out, _ = check
    assert code == 0, printed
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert set(doc["families"]) == {"qwen3_moe", "glm4", "chatglm"}
    for family in ("qwen3_moe", "glm4"):
        info = doc["families"][family]
        assert info["status"] == "checked" and info["failed"] == []
        assert {p: info["paths"][p]["status"] for p in HF_PATHS} == dict.fromkeys(HF_PATHS, "ok"), info["paths"]
        assert info["prefix_cache"] == "on"
        assert re.fullmatch(r"letter max \|Δ\| \S+; choice max \|Δ\| \S+", info["paths"]["prefix"]["detail"])
        assert "adapter moved log-probs" in info["paths"]["lora"]["detail"]
        assert info["paths"]["vllm"] == {"status": "n/a", "detail": "not asked (--backend)",
                                         "seconds": info["paths"]["vllm"]["seconds"]}
    assert "glm-4-9b-0414" in doc["families"]["glm4"]["keys"]
    chatglm = doc["families"]["chatglm"]
    assert chatglm["status"] == "not checkable offline" and chatglm["failed"] == []
    assert all(p["status"] == "n/a" and "modeling_chatglm.py" in p["detail"] for p in chatglm["paths"].values())
    # one table that fits 80 columns, the reasons as notes under it
    lines = printed.splitlines()
    table = lines[lines.index("harness models check") + 1:]
    table = table[: next(i for i, line in enumerate(table) if line.startswith(("[", "offline ")))]
    assert len(table) >= 5 and max(len(line) for line in table) <= 80
    row = next(line for line in table if line.split()[:1] == ["qwen3_moe"])
    assert row.split()[1:8] == ["ok"] * 5 + ["n/a", "[1]"]
    assert next(line for line in table if line.split()[:1] == ["chatglm"]).split()[1:7] == ["offline"] * 6
    assert "[1] n/a: not asked (--backend)" in lines
    assert any(line.startswith("offline chatglm: ") and "modeling_chatglm.py" in line for line in lines)
    assert "2 families checked, 1 not checkable offline, 0 claimed path(s) failed" in printed


def test_models_show_says_what_the_last_check_found(check, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_HOME", str(check[3]))
    assert main(["models", "show", "qwen3-30b-a3b"]) == 0
    shown = capsys.readouterr().out
    assert re.search(r"^checked\s+\S+: family qwen3_moe", shown, re.M)
    assert re.search(r"^checked\.lora\s+ok$", shown, re.M)
    assert re.search(r"^checked\.vllm\s+n/a — not asked \(--backend\)$", shown, re.M)
    assert main(["models", "show", "chatglm2-6b"]) == 0
    assert re.search(r"^checked\.status\s+not checkable offline$", capsys.readouterr().out, re.M)
    assert main(["models", "show", "qwen3-8b"]) == 0  # a family this check did not cover
    assert re.search(r"^checked\s+— \(no `harness models check`", capsys.readouterr().out, re.M)
    assert main(["models", "show", "qwen3-30b-a3b", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checked"]["paths"]["letter"]["status"] == "ok"


def test_site_model_page_says_which_paths_were_checked(check, tiny_model, tmp_path):
    from site_fixtures import derive_run, real_run

    from harness.render.site_data import slugify

    src = real_run(tiny_model, tmp_path / "runs" / "tiny", "--limit", "2")
    derive_run(src, tmp_path / "runs" / "qwen3-30b-a3b", "qwen3-30b-a3b", model_card={"key": "qwen3-30b-a3b"})
    site = tmp_path / "site"
    assert main(["leaderboard", "--results", str(tmp_path / "runs"), "--out", str(site),
                 "--models-check", str(check[2])]) == 0
    page = (site / "models" / f"{slugify('qwen3-30b-a3b')}.html").read_text(encoding="utf-8")
    checked_at = json.loads(check[2].read_text(encoding="utf-8"))["families"]["qwen3_moe"]["checked_at"]
    assert f"family qwen3_moe, {checked_at}" in page
    assert "letter <strong>ok</strong>" in page and "lora <strong>ok</strong>" in page
    assert "vllm <strong>n/a</strong> <span class=\"sub\">(not asked (--backend))</span>" in page
    assert "Architecture check" not in (site / "models" / f"{slugify('tiny')}.html").read_text(encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text("[]", encoding="utf-8")
    assert main(["leaderboard", "--results", str(tmp_path / "runs"), "--out", str(site), "--models-check", str(bad)]) == 2


def test_a_failing_claimed_path_exits_non_zero(home, tmp_path, capsys, monkeypatch):
    """The bug this check was written for: a prefix cache rebuilt as full attention on a sliding-window model
    (what the backend once did) scores differently from whole prompts. Reproduced on a qwen2 with a 32-token window,
    the check must fail that path, name it, and exit 1."""
    import dataclasses

    from transformers import DynamicCache

    import harness.backends.hf as hf
    from harness.registry import families

    spec = families.TINY["qwen2"]
    # 32 tokens: shorter than the ~80-token few-shot prefix, longer than the ~30-token question after it
    window = {"use_sliding_window": True, "sliding_window": 32, "max_window_layers": 0}
    monkeypatch.setitem(families.TINY, "qwen2", dataclasses.replace(spec, fields={**spec.fields, **window}))

    def as_full_attention(cache, n):
        return DynamicCache([(layer.keys.expand(n, -1, -1, -1), layer.values.expand(n, -1, -1, -1))
                             for layer in cache.layers])

    monkeypatch.setattr(hf, "share", as_full_attention)
    monkeypatch.setattr(hf.HFBackend, "_fit_window", lambda self, prefix_len, group: prefix_len)
    out = tmp_path / "check.json"
    assert main(["models", "check", "qwen2", "--backend", "hf", "--json", str(out)]) == 1
    info = json.loads(out.read_text(encoding="utf-8"))["families"]["qwen2"]
    assert info["failed"] == ["prefix"], info["paths"]
    assert re.fullmatch(r"letter: \d+ of 4 predictions differ; max \|Δ log-prob\| \S+", info["paths"]["prefix"]["detail"])
    row = next(line for line in capsys.readouterr().out.splitlines() if line.split()[:1] == ["qwen2"])
    assert row.split()[1:5] == ["ok", "ok", "FAIL", "[1]"]


def test_unknown_target_is_one_line(home, capsys):
    assert main(["models", "check", "--backend", "hf", "qwen9"]) == 2  # targets may follow the options
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'qwen9' is neither a catalogue key nor a family" in err[0]
