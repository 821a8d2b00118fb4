"""The built site in a real browser (headless Chromium via Playwright): sort, follow a link, no console errors.

Screenshots of the index and a model page are left in the test's temporary folder for a person to look at.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest
from site_fixtures import make_runs

from harness.cli import main

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.browser


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
            page.screenshot(path=str(tmp_path / "index.png"), full_page=True)

            page.get_by_role("link", name="tiny+ft", exact=True).first.click()
            page.wait_for_load_state()
            assert page.url.endswith(".html") and "/models/" in page.url
            assert page.locator("h1").inner_text() == "tiny+ft"
            assert page.locator("svg.chart").count() >= 1
            page.locator("table.subjects thead th", has_text="Accuracy").locator("button").click()
            page.screenshot(path=str(tmp_path / "model.png"), full_page=True)

            # the hostile model name shows as text and runs nothing
            page.goto(url + "index.html")
            assert page.get_by_text("<script>alert(1)</script>", exact=True).count() >= 1
        finally:
            browser.close()
    assert not problems, problems
    assert (tmp_path / "index.png").stat().st_size > 0 and (tmp_path / "model.png").stat().st_size > 0
