"""`harness leaderboard` and `harness report`: the static site from real and synthetic run folders."""

from __future__ import annotations

import csv
import json
import random
import re
import time
from pathlib import Path

import pytest
from site_fixtures import SUITES_6, copy_run, make_runs, synthetic_many, synthetic_records, synthetic_run

from harness.cli import main
from harness.render.site_data import slugify
from harness.suite import load_suite

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def second_model(tmp_path_factory) -> Path:
    from conftest import FIXTURE_TEXT

    from harness.demo.tiny import build_tiny_model, suite_texts

    out = tmp_path_factory.mktemp("models2") / "tiny2"
    return build_tiny_model(out, suite_texts(REPO / "suites" / "sample") + [FIXTURE_TEXT], vocab_size=1500, seed=2)


@pytest.fixture(scope="module")
def runs(tiny_model, second_model, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    made = make_runs(root, tiny_model, second_model)
    unfinished = root / "a" / "unfinished"
    unfinished.mkdir()
    (unfinished / "run.lock.json").write_text('{"run_key": "x"}', encoding="utf-8")
    made["root"] = root
    return made


@pytest.fixture(scope="module")
def site(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    assert main(["leaderboard", "--results", str(runs["root"] / "a"), str(runs["tiny-0shot"]), "--out", str(out)]) == 0
    return out


def _results(path: Path) -> dict:
    return json.loads((path / "results.json").read_text(encoding="utf-8"))


def _board(site: Path) -> dict:
    return json.loads((site / "leaderboard.json").read_text(encoding="utf-8"))


def test_index_ranks_runs_and_links_model_pages(site, runs):
    board = _board(site)
    main_table = board["tables"][0]
    accs = {n: _results(runs[n])["scores"]["overall"]["micro"]["acc"] for n in ("tiny", "tiny2", "variant", "evil")}
    rows = {r["model"]: r for r in main_table["rows"]}
    assert set(rows) == {"tiny", "tiny2", "tiny+ft", "<script>alert(1)</script>"}
    by_rank = sorted(rows.values(), key=lambda r: r["rank"])
    assert [r["rank"] for r in by_rank] == [1, 2, 3, 4]
    scores = [r["scores"]["sample"]["acc"] for r in by_rank]
    assert scores == sorted(scores, reverse=True)
    assert rows["tiny"]["scores"]["sample"]["acc"] == pytest.approx(accs["tiny"])
    index = (site / "index.html").read_text(encoding="utf-8")
    for name in ("tiny", "tiny2", "tiny+ft"):
        page = site / "models" / f"{slugify(name)}.html"
        assert f'href="models/{page.name}"' in index
        html = page.read_text(encoding="utf-8")
        assert "<svg" in html and "Per subject" in html
        for subject in _results(runs["tiny"])["scores"]["subjects"]:
            assert subject in html
    assert_offline(site)


def assert_offline(site: Path) -> None:
    """Nothing is fetched from the network: no src= or stylesheet from http(s):// or //; the only absolute
    links are cited sources (class cite), which a reader may follow but the page never loads."""
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r'src="(https?:)?//', text), page
        assert not re.search(r'<link[^>]+href="(https?:)?//', text), page
        for m in re.finditer(r'<a href="(https?:)?//[^"]*"', text):
            assert '<p class="sub cite">Source: ' in text[max(0, m.start() - 40):m.start()], (page, m.group(0))
        assert len(text.encode()) < 500_000


def test_json_and_csv_match_results_files(site, runs):
    board = _board(site)
    on_disk = {(r["model"], r["suite"], r["card"]["protocol_id"]): r
               for r in (_results(runs[k]) for k in ("tiny", "tiny2", "tiny-0shot", "variant", "evil"))}
    listed = {(r["model"], r["suite"], r["protocol_id"]): r for r in board["runs"]}
    assert set(listed) == set(on_disk)
    for key, run in listed.items():
        assert run["scores"] == on_disk[key]["scores"]
        assert run["protocol"] == on_disk[key]["card"]["protocol"]
    with open(site / "leaderboard.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(on_disk)
    for row in rows:
        expected = on_disk[(row["model"], row["suite"], row["protocol_id"])]["scores"]["overall"]["micro"]
        assert float(row["acc"]) == pytest.approx(expected["acc"]) and int(row["n"]) == expected["n"]


def test_mixed_protocols_never_ranked_together(site, runs):
    board = _board(site)
    zero_shot = _results(runs["tiny-0shot"])["card"]["protocol_id"]
    five_shot = _results(runs["tiny"])["card"]["protocol_id"]
    assert zero_shot != five_shot
    proto_of = {(r["model"], r["suite"], r["protocol_id"]) for r in board["runs"]}
    assert len(board["tables"]) == 2
    for table in board["tables"]:
        for row in table["rows"]:
            for suite in row["scores"]:
                # every score in a table was produced under that table's one protocol for the suite
                assert (row["model"], suite, table["protocols"][suite]["protocol_id"]) in proto_of
    main_table, other = board["tables"]
    assert main_table["protocols"]["sample"]["protocol_id"] == five_shot and main_table["reason"] is None
    assert other["protocols"]["sample"]["protocol_id"] == zero_shot
    assert [r["model"] for r in other["rows"]] == ["tiny"]
    assert "shots: 5 → 0" in other["reason"]
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "shots: 5 → 0" in index and index.count("<table") == 2


def test_names_and_outputs_are_escaped(site):
    evil = "<script>alert(1)</script>"
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert evil not in text and "<img src=x" not in text, page
    page = site / "models" / f"{slugify(evil)}.html"
    assert re.fullmatch(r"[A-Za-z0-9._-]+\.html", page.name)
    text = page.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(2)&gt;" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (site / "index.html").read_text(encoding="utf-8")


def test_variant_grouped_under_base_with_delta_and_comparison(site, runs):
    board = _board(site)
    rows = board["tables"][0]["rows"]
    names = [r["model"] for r in rows]
    assert names[names.index("tiny") + 1] == "tiny+ft"  # the variant follows its base
    variant = rows[names.index("tiny+ft")]
    base_acc = _results(runs["tiny"])["scores"]["overall"]["micro"]["acc"]
    var_acc = _results(runs["variant"])["scores"]["overall"]["micro"]["acc"]
    assert variant["base"] == "tiny"
    assert variant["scores"]["sample"]["delta"] == pytest.approx(var_acc - base_acc)
    base_recs = [json.loads(x) for x in (runs["tiny"] / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    fixed = sum(1 for i, r in enumerate(base_recs) if i % 3 == 0 and not r["correct"])
    broken = sum(1 for i, r in enumerate(base_recs) if i % 3 == 0 and r["correct"])
    cmp = next(r["compare"] for r in board["runs"] if r["model"] == "tiny+ft")
    assert (cmp["fixed"], cmp["broken"], cmp["n"]) == (fixed, broken, len(base_recs))
    assert 0 < cmp["p_value"] <= 1
    html = (site / "models" / f"{slugify('tiny+ft')}.html").read_text(encoding="utf-8")
    assert f"{fixed} fixed" in html and f"{broken} broken" in html and "broken by the fine-tune" in html


def test_compare_gate_and_site_agree_on_the_same_two_runs(runs, tmp_path):
    """One paired comparison: `harness compare`, `harness gate` and the site give the same counts and p-values;
    the site reads compare.json only when the base's run is not among its inputs."""
    variant = copy_run(runs["variant"], tmp_path / "in" / "variant")
    assert main(["compare", str(runs["tiny"]), str(variant), "--json", str(variant / "compare.json")]) == 0
    compared = json.loads((variant / "compare.json").read_text(encoding="utf-8"))["overall"]
    assert main(["gate", "--baseline", str(runs["tiny"]), "--candidate", str(variant), "--max-drop", "100",
                 "--json", str(tmp_path / "gate.json")]) == 0
    (gated,) = json.loads((tmp_path / "gate.json").read_text(encoding="utf-8"))["rows"]
    sites = {}
    for name, inputs in (("both", [variant, runs["tiny"]]), ("alone", [variant])):
        assert main(["leaderboard", "--results", *map(str, inputs), "--out", str(tmp_path / name)]) == 0
        sites[name] = next(r["compare"] for r in _board(tmp_path / name)["runs"] if r["model"] == "tiny+ft")
    assert sites["both"]["source"] == "computed from both runs" and sites["alone"]["source"] == "compare.json"
    assert compared["fixed"] + compared["broken"] > 0
    for cmp in sites.values():
        assert (cmp["fixed"], cmp["broken"], cmp["p_value"]) == (compared["fixed"], compared["broken"], compared["p_value"])
    assert (gated["fixed"], gated["broke"], gated["p"]) == (compared["fixed"], compared["broken"], compared["p_value"])


def test_report_is_one_self_contained_file(runs, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(runs["variant"]), str(runs["tiny"]), "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "<h1 class=\"model-name\">tiny+ft</h1>" in html and "<svg" in html
    assert "assets/" not in html and "<style>" in html and "fixed" in html
    assert main(["report", str(runs["tiny"]), "--out", str(tmp_path)]) == 0
    assert (tmp_path / f"{slugify('tiny')}.html").is_file()
    code = main(["report", str(runs["tiny"]), str(runs["tiny2"]), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--model" in err and "\n" not in err


def test_user_errors_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for args in (["leaderboard", "--results", str(tmp_path / "empty"), "--out", str(tmp_path / "s")],
                 ["leaderboard", "--results", str(tmp_path / "missing"), "--out", str(tmp_path / "s")]):
        code = main(args)
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith("harness: error:") and "\n" not in err


@pytest.mark.slow
def test_two_hundred_models_six_suites_pages_stay_small(tmp_path, capsys):
    root = synthetic_many(tmp_path / "runs", n_models=200, suites=SUITES_6, per_subject=5, variant_every=10)
    out = tmp_path / "site"
    started = time.perf_counter()
    assert main(["leaderboard", "--results", str(root), "--out", str(out)]) == 0
    seconds = time.perf_counter() - started
    sizes = {p.relative_to(out).as_posix(): p.stat().st_size for p in out.rglob("*.html")}
    with capsys.disabled():  # the build time is reported, not asserted (shared machines vary)
        biggest = max(sizes.items(), key=lambda kv: kv[1])
        print(f"\n200 models x 6 suites (1200 runs, {sum(1 for _ in root.rglob('records.jsonl'))} record files): "
              f"site built in {seconds:.1f} s; largest page {biggest[0]} {biggest[1] / 1000:.0f} KB")
    assert len(sizes) == 1 + 6 + 200
    assert max(sizes.values()) < 500_000, max(sizes.items(), key=lambda kv: kv[1])
    board = _board(out)
    assert len(board["tables"]) == 1 and len(board["tables"][0]["rows"]) == 200
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "the 30 best of 200 models by average" in index and index.count('<g class="row">') == 30
    variant = (out / "models" / f"{slugify('model-008+ft')}.html").read_text(encoding="utf-8")
    assert variant.count('class="chart change"') == 6 and variant.count('class="chart loss"') == 6


def _change_rows(html: str) -> list[tuple[str, int, int, bool]]:
    """(label, fixed, broken, significant) of each row of a page's per-subject change chart, top to bottom."""
    chart = html[html.index('class="chart change"'):]
    chart = chart[:chart.index("</svg>")]
    rows = re.findall(r'<g class="row( sig)?"><title>([^<]*?): (\d+) fixed, (\d+) broken', chart)
    return [(label, int(f), int(b), bool(sig)) for sig, label, f, b in rows]


def test_variant_page_draws_its_change_against_the_base_and_its_loss_curve(site, runs):
    html = (site / "models" / f"{slugify('tiny+ft')}.html").read_text(encoding="utf-8")
    rows = _change_rows(html)
    cmp = next(r["compare"] for r in _board(site)["runs"] if r["model"] == "tiny+ft")
    names = {s: v["name_zh"] for s, v in load_suite("sample").subjects.items()}
    assert {label: (f, b) for label, f, b, _ in rows} == {names[s]: (v["fixed"], v["broken"]) for s, v in cmp["subjects"].items()}
    nets = [f - b for _, f, b, _ in rows]
    assert nets == sorted(nets, reverse=True)  # most improved first
    for label, _f, _b, sig in rows:
        subject = next(s for s, n in names.items() if n == label)
        assert sig == (cmp["subjects"][subject]["p_holm"] < 0.05 and nets[[r[0] for r in rows].index(label)] != 0)
    # the loss curve comes from the adapter's manifest.json: both series, and the step that was kept
    manifest = json.loads((Path(_results(runs["variant"])["card"]["model"]["adapter"]) / "manifest.json").read_text())
    loss = html[html.index('class="chart loss"'):]
    loss = loss[:loss.index("</svg>")]
    assert loss.count("<title>train loss at step") == len(manifest["losses"]["history"])
    assert loss.count("<title>eval loss (held out) at step") == len(manifest["losses"]["history"])
    assert f"kept: step {manifest['losses']['best_step']}" in loss
    assert "class=\"chart change\"" not in (site / "models" / f"{slugify('tiny')}.html").read_text(encoding="utf-8")


def test_index_overview_chart_has_every_model_and_suite(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    chart = index[index.index('class="chart overview"'):]
    chart = chart[:chart.index("</svg>")]
    rows = re.findall(r'<g class="row"><title>([^<]*)</title>', chart)
    assert len(rows) == 4 and "tiny: Sample (bundled)" in "".join(rows)
    assert "&lt;script&gt;" in chart and "<script>" not in chart


def test_model_page_sets_ours_beside_the_published_number_with_the_protocol_differences(tmp_path):
    from harness.registry import load_catalogue

    entry = load_catalogue()["chatglm3-6b"]
    published = entry.published["ceval"]
    assert published["shots"] == 0  # the ChatGLM3 README: multiple-choice sets tested 0-shot
    rng = random.Random(3)
    records = [r for r in synthetic_records("ceval", 0.6, rng, 6) if not (r["subject"] < "c" and r["id"][-1] in "2345")]
    run = synthetic_run(tmp_path / "runs" / "glm", "ceval", "chatglm3-6b", records, {"key": "chatglm3-6b"})
    other = synthetic_run(tmp_path / "runs" / "other", "ceval", "unlisted-model", synthetic_records("ceval", 0.5, rng, 4))
    assert main(["leaderboard", "--results", str(tmp_path / "runs"), "--out", str(tmp_path / "site")]) == 0
    html = (tmp_path / "site" / "models" / f"{slugify('chatglm3-6b')}.html").read_text(encoding="utf-8")
    scores = _results(run)["scores"]["overall"]
    ours = 100 * scores["micro"]["acc"]
    section = html[html.index('id="published"'):html.index('id="run-1"')]
    assert f"<strong>{ours:.1f}</strong>" in section and f"<strong>{published['score']:g}</strong>" in section
    assert f"{ours - published['score']:+.1f}" in section
    diffs = dict(re.findall(r'<tr class="(\w+)"><th>([^<]+)</th>', section)[i][::-1] for i in range(5))
    assert diffs["shots"] == "differs" and diffs["split"] == "unknown"
    # subjects of unequal size: micro and macro differ, and the source does not say which it reports
    assert abs(scores["micro"]["acc"] - scores["macro"]["acc"]) >= 0.0005 and diffs["average"] == "unknown"
    assert diffs["weights · chat template"] == "same"  # we ran the base weights; the number is for the base release
    assert "<td>5</td><td>0</td>" in section  # shots: ours 5, published 0
    assert f"micro {ours:.1f}" in section and f"macro {100 * scores['macro']['acc']:.1f}" in section
    assert f'<a href="{published["source"]}" rel="noreferrer nofollow">' in section
    assert 'class="chart published"' in section
    assert 'id="published"' not in (tmp_path / "site" / "models" / f"{slugify('unlisted-model')}.html").read_text(encoding="utf-8")
    assert_offline(tmp_path / "site")
    # `harness report` shows the same view in its one file
    assert main(["report", str(run), str(other), "--model", "chatglm3-6b", "--out", str(tmp_path / "r.html")]) == 0
    report = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Ours vs published" in report and f"<strong>{published['score']:g}</strong>" in report


@pytest.mark.slow
def test_demo_ends_with_the_site(tmp_path, capsys):
    assert main(["demo", "--output", str(tmp_path / "demo"), "--quiet"]) == 0
    out = capsys.readouterr().out
    index = tmp_path / "demo" / "site" / "index.html"
    assert index.is_file() and f"open {index.resolve()}" in out
    assert "tiny-base" in index.read_text(encoding="utf-8")
