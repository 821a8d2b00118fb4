"""The built site in a real browser (headless Chromium via Playwright): sort, follow a link, no console
errors, and Chinese text drawn with real glyphs.

The CJK check does not trust that a page "loads": without a CJK font Chromium draws every Chinese
character as the same empty box and the page still loads. So, for Chinese subject and model names:
each character is drawn on a canvas in the element's own computed font and must differ, pixel for
pixel, from the box drawn for a code point no font has (U+10FFFD); the element must be as wide as
full-width ideographs are (1 em each, where the box is about 0.6 em); and Chromium's DevTools must
report a CJK font as the one that rendered it. `test_cjk_check_fails_without_a_cjk_font` runs the same
check in a browser whose fontconfig hides every CJK font and requires it to fail.

Screenshots of the index and the variant page are left in the test's temporary folder (and copied to
$HARNESS_SCREENSHOTS when set) for a person to look at.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from site_fixtures import derive_run, make_runs

from harness.cli import main

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
REPO = Path(__file__).resolve().parents[1]
CJK_FAMILY = re.compile(r"CJK|Source Han|PingFang|Hiragino|YaHei|JhengHei|SimHei|SimSun|Heiti|Songti|Kaiti|WenQuanYi|AR PL"
                        r"|Noto (Sans|Serif) (SC|TC|HK|JP|KR)\b|Droid Sans Fallback")

pytestmark = pytest.mark.browser

# Draw each character on a canvas in the element's computed font; compare with the box of a code point
# no font has. Returns what the assertions need (and what a failure message shows).
GLYPHS_JS = """([selector, index]) => {
  const el = document.querySelectorAll(selector)[index];
  if (!el) return null;
  const style = getComputedStyle(el);
  const draw = (c) => {
    const cv = document.createElement('canvas'); cv.width = 64; cv.height = 64;
    const ctx = cv.getContext('2d'); ctx.font = style.font; ctx.fillStyle = '#000'; ctx.textBaseline = 'top';
    ctx.fillText(c, 4, 4);
    const d = ctx.getImageData(0, 0, 64, 64).data; let h = 0, ink = 0;
    for (let i = 3; i < d.length; i += 4) { h = (h * 31 + d[i]) >>> 0; ink += d[i] > 0 ? 1 : 0; }
    return h + ':' + ink;
  };
  const text = el.textContent.trim();
  const chars = Array.from(new Set(Array.from(text).filter(c => /\\p{Script=Han}/u.test(c))));
  const tofu = draw('\\u{10FFFD}');
  const drawn = chars.map(draw);
  return {text, chars, tofu, drawn, boxes: drawn.filter(d => d === tofu).length,
          distinct: new Set(drawn).size, width: el.getBoundingClientRect().width,
          em: parseFloat(style.fontSize), han: Array.from(text).filter(c => /\\p{Script=Han}/u.test(c)).length,
          text_len: Array.from(text).length};
}"""


def glyph_report(page: Any, selector: str, index: int = 0) -> dict[str, Any]:
    """How the `index`-th element matching `selector` is drawn: the canvas comparison, its width and the
    platform fonts Chromium used for it (DevTools CSS.getPlatformFontsForNode)."""
    report = page.evaluate(GLYPHS_JS, [selector, index])
    assert report is not None, f"no element {selector}"
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        nodes = cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": selector})["nodeIds"]
        report["fonts"] = [f["familyName"] for f in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": nodes[index]})["fonts"]]
    finally:
        cdp.detach()
    return report


def renders_cjk(report: dict[str, Any]) -> bool:
    """Real glyphs: no character drawn as the missing-glyph box, different characters drawn differently,
    full-width ideographs (a box is narrower), and a CJK font among those that drew the text."""
    return (bool(report["chars"]) and report["boxes"] == 0 and report["distinct"] == len(report["chars"])
            and report["width"] >= 0.9 * report["han"] * report["em"]
            and any(CJK_FAMILY.search(f) for f in report["fonts"]))


def _chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        pytest.skip("no Chromium browser: install Debian's `chromium` package (.ci/run does) to run the browser test")
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def served_site(tiny_model, tmp_path):
    from conftest import FIXTURE_TEXT

    from harness.demo.tiny import build_tiny_model, suite_texts

    second = build_tiny_model(tmp_path / "m" / "tiny2", suite_texts(REPO / "suites" / "sample") + [FIXTURE_TEXT],
                              vocab_size=1500, seed=2)
    runs = make_runs(tmp_path / "runs", tiny_model, second)
    # a catalogued model: the index shows its Chinese name (通义千问2.5-7B) under the key
    runs["qwen"] = derive_run(runs["tiny2"], tmp_path / "runs" / "a" / "qwen", "qwen2.5-7b",
                              flip=lambda i, rec: i % 4 == 0, model_card={"key": "qwen2.5-7b"})
    site = tmp_path / "site"
    assert main(["leaderboard", "--results", str(tmp_path / "runs"), "--out", str(site)]) == 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", runs
    finally:
        server.shutdown()
        server.server_close()


def _keep(path: Path) -> None:
    wanted = os.environ.get("HARNESS_SCREENSHOTS")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(wanted) / path.name)


def test_site_in_headless_chromium(served_site, tmp_path):
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="Python package playwright not installed (pip install -e '.[test]')")
    url, _runs = served_site
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url}"))
            page.goto(url + "index.html")
            table = page.locator("table.sortable").first
            model_cells = table.locator("tbody tr:first-child td:nth-child(2)")

            def first_rows() -> list[str]:
                return [t.split("\n")[0].replace("variant", "").strip() for t in model_cells.all_inner_texts()]

            before = first_rows()
            table.locator("thead th", has_text="Model").locator("button").click()
            asc = first_rows()
            assert asc == sorted(before, key=str.lower), asc
            assert table.locator("thead th", has_text="Model").get_attribute("aria-sort") == "ascending"
            table.locator("thead th", has_text="Model").locator("button").click()
            assert first_rows() == list(reversed(asc))
            page.fill("input[data-filter]", "tiny2")
            visible = [t for t in table.locator("tbody").all() if t.is_visible()]
            assert len(visible) == 1
            page.fill("input[data-filter]", "")
            assert page.locator("svg.chart.overview").count() == 1
            name = glyph_report(page, "table.sortable span.zh")
            assert name["text"] == "通义千问2.5-7B" and renders_cjk(name), name
            page.screenshot(path=str(tmp_path / "index.png"), full_page=True)

            page.get_by_role("link", name="tiny+ft", exact=True).first.click()
            page.wait_for_load_state()
            assert page.url.endswith(".html") and "/models/" in page.url
            assert page.locator("h1").inner_text() == "tiny+ft"
            assert page.locator("svg.chart").count() >= 3  # category bars, change against the base, loss curve
            assert page.locator("svg.chart.change").count() == 1 and page.locator("svg.chart.loss").count() == 1
            subjects = page.locator("table.subjects span.zh")
            assert subjects.count() == 4
            for i in range(subjects.count()):  # every Chinese subject name in the table
                report = glyph_report(page, "table.subjects span.zh", i)
                assert renders_cjk(report), report
            label = glyph_report(page, "svg.chart.change text.label")  # and in the chart's labels
            assert label["boxes"] == 0 and label["distinct"] == len(label["chars"]) > 0, label
            page.locator("table.subjects thead th", has_text="Accuracy").locator("button").click()
            page.evaluate("window.scrollTo(0, 0)")  # sticky table heads follow the scroll into a full-page shot
            page.screenshot(path=str(tmp_path / "variant.png"), full_page=True)
            page.emulate_media(color_scheme="dark")
            page.screenshot(path=str(tmp_path / "variant-dark.png"), full_page=True)
            page.emulate_media(color_scheme="light", media="print")
            page.screenshot(path=str(tmp_path / "variant-print.png"), full_page=True)
            page.emulate_media(media="screen")

            # the hostile model name shows as text and runs nothing
            page.goto(url + "index.html")
            assert page.get_by_text("<script>alert(1)</script>", exact=True).count() >= 1
        finally:
            browser.close()
    assert not problems, problems
    for shot in ("index.png", "variant.png", "variant-dark.png", "variant-print.png"):
        assert (tmp_path / shot).stat().st_size > 0
        _keep(tmp_path / shot)


def _fonts_conf_without_cjk(folder: Path) -> Path:
    """A fontconfig file that loads the system's configuration and then rejects every font file that covers
    Chinese (as `fc-list :lang=zh` lists them): a machine without a CJK font, for Chromium."""
    listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, check=True).stdout
    files = sorted({line.split(":")[0].strip() for line in listed.splitlines() if line.strip()})
    if not files:
        pytest.skip("no CJK font installed, so there is none to hide (the check above fails on its own here)")
    globs = "".join(f"<glob>{f}</glob>" for f in files)
    conf = folder / "fonts.conf"
    conf.write_text('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
                    '<include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
                    f"<selectfont><rejectfont>{globs}</rejectfont></selectfont>\n"
                    f"<cachedir>{folder / 'cache'}</cachedir>\n</fontconfig>\n", encoding="utf-8")
    hidden = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, env={**os.environ, "FONTCONFIG_FILE": str(conf)})
    assert hidden.stdout.strip() == "", hidden.stdout
    return conf


def test_cjk_check_fails_without_a_cjk_font(served_site, tmp_path):
    """The glyph check can fail: in a Chromium that sees no CJK font, the same names are boxes and it says so."""
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="Python package playwright not installed")
    if shutil.which("fc-list") is None:
        pytest.skip("fc-list (fontconfig) not found")
    conf = _fonts_conf_without_cjk(tmp_path)
    url, _runs = served_site
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS,
                                    env={**os.environ, "FONTCONFIG_FILE": str(conf)})
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "index.html")
            page.get_by_role("link", name="tiny+ft", exact=True).first.click()
            page.wait_for_load_state()
            report = glyph_report(page, "table.subjects span.zh")
            page.screenshot(path=str(tmp_path / "variant-no-cjk-font.png"), full_page=True)
        finally:
            browser.close()
    assert not renders_cjk(report), report
    assert report["boxes"] == len(report["chars"]) and report["distinct"] == 1  # every character the same box
    assert not any(CJK_FAMILY.search(f) for f in report["fonts"]), report["fonts"]
    _keep(tmp_path / "variant-no-cjk-font.png")
