"""The site in headless Chromium (the system's, driven by Playwright; no browser is downloaded): every page renders
without console errors or network requests, model HTML stays text and never runs, sorting works, and the pages
read without JavaScript. Screenshots of the overview and the RULER pages are saved (to $JAMBA_EVAL_SCREENSHOTS
when set)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    executable = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=ARGS)
        yield browser
        browser.close()


class Watched:
    """A page that records console errors, uncaught exceptions and every request it makes."""

    def __init__(self, browser, **options):
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, **options)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, path: Path):
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")
        return self.page

    def close(self):
        self.context.close()


def test_every_page_renders_cleanly_and_model_html_never_runs(browser, site):
    out = site.index.parent
    pages = sorted(out.rglob("*.html"))
    assert len(pages) >= 9
    watched = Watched(browser)
    for path in pages:
        page = watched.open(path)
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        assert page.locator("main h1").count() == 1, path
        assert page.evaluate("window.__pwned === undefined"), f"model output ran as script on {path}"
        assert page.locator("main img[onerror], main script").count() == 0, path
        for stem in page.eval_on_selector_all("main img", "imgs => imgs.filter(i => !i.naturalWidth).map(i => i.src)"):
            raise AssertionError(f"image did not load on {path}: {stem}")
    assert watched.errors == []
    assert all(url.startswith(("file://", "data:")) for url in watched.requests), watched.requests
    watched.close()


def test_model_html_is_visible_as_text(browser, site):
    watched = Watched(browser)
    page = watched.open(site.index.parent / "ruler" / "ruler-weak-model.html")
    page.locator("details#s-vt-4096 > summary").click()
    prediction = page.locator("details#s-vt-4096 pre.prediction").first.inner_text()
    assert prediction.startswith("</pre><script>window.__pwned =")
    heading = watched.open(site.index.parent / "ruler" / "ruler-cli-xss.html").locator("main h1").inner_text()
    assert 'onerror="window.__pwned = 2">' in heading
    assert watched.errors == []
    watched.close()


def test_sorting_is_an_enhancement(browser, site):
    watched = Watched(browser)
    page = watched.open(site.index.parent / "ruler.html")
    header = page.locator("table.ruler-board thead th", has_text="Avg").first
    column = page.locator("table.ruler-board thead th").all_inner_texts().index(header.inner_text())
    values = f"rows => rows.map(r => r.cells[{column}].getAttribute('data-sort'))"
    header.click()
    ascending = page.eval_on_selector_all("table.ruler-board tbody tr", values)
    numbers = [float(v) for v in ascending if v]
    assert numbers == sorted(numbers) and ascending[: len(numbers)] == [v for v in ascending if v]
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    descending = [float(v) for v in page.eval_on_selector_all("table.ruler-board tbody tr", values) if v]
    assert descending == sorted(numbers, reverse=True)
    assert watched.errors == []
    watched.close()

    plain = Watched(browser, java_script_enabled=False)
    page = plain.open(site.index)
    rows = page.locator("table.overview tbody tr")
    assert rows.count() == len(site.report.rows)
    assert rows.first.locator("th").inner_text().startswith(site.report.rows[0].name)
    assert page.locator("th.sortable").count() == 0  # nothing was enhanced, everything is there
    plain.close()


def test_screenshots_of_the_overview_and_ruler_pages(browser, site, tmp_path):
    folder = Path(os.environ.get("JAMBA_EVAL_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    watched = Watched(browser)
    shots = {
        "overview.png": site.index,
        "ruler.png": site.index.parent / "ruler.html",
        "ruler-run.png": site.index.parent / "ruler" / "ruler-strong-model.html",
    }
    for name, path in shots.items():
        watched.open(path).screenshot(path=str(folder / name), full_page=True)
        assert (folder / name).stat().st_size > 20_000
    assert watched.errors == []
    watched.close()
    print(f"screenshots in {folder}")
