"""The docs site as a reader sees it: build it offline (make docs's code), serve it on 127.0.0.1, open pages in
headless Chromium and check what renders; crawl every link inside the site. A screenshot is kept in artifacts/."""
import functools
import http.server
import json
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import BIN, ROOT

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.fail("Chromium is not installed, so the docs cannot be checked in a browser. "
                "Fix: `apt-get install -y chromium` (make test does this when run as root).")


class Page(HTMLParser):
    "Collect links, ids, classes and images of one HTML page."
    def __init__(self):
        super().__init__()
        self.links, self.ids, self.images, self.elements = [], set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs))
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])
        if tag == "img":
            self.images.append(attrs.get("src", ""))

    def has_class(self, name):
        return any(name in (attrs.get("class") or "").split() for _, attrs in self.elements)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


@pytest.fixture(scope="module")
def site():
    "Build the site into a temporary folder and serve it on 127.0.0.1; yield (folder, base URL)."
    out = Path(tempfile.mkdtemp()) / "site"
    subprocess.run([BIN / "python", ROOT / "tools" / "build_docs.py", "--out", out], check=True, cwd=ROOT,
                   capture_output=True, text=True)
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
    handler = functools.partial(Quiet, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield out, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    shutil.rmtree(out.parent)


def rendered_dom(url: str) -> str:
    "The page's DOM after Chromium has run its scripts."
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "<html" in result.stdout, result.stderr[-2000:]
    return result.stdout


def notebook_pages() -> dict:
    "notebook file -> the page nbdev names it (its output-file: `00_core.ipynb` -> `core.html`)."
    pages = {}
    for nb in sorted((ROOT / "nbs").rglob("*.ipynb")):
        rel = nb.relative_to(ROOT / "nbs")
        if any(part.startswith((".", "_")) for part in rel.parts):
            continue
        pages[str(rel)] = str(rel.with_name(re.sub(r"^\d+_", "", rel.stem) + ".html"))
    return pages


def test_sidebar_lists_every_notebook(site):
    _, base = site
    dom = parse(rendered_dom(base + "core.html"))
    sidebar = {attrs["href"] for tag, attrs in dom.elements
               if tag == "a" and "sidebar-link" in (attrs.get("class") or "")}
    missing = {nb: page for nb, page in notebook_pages().items() if page not in sidebar}
    assert not missing, f"notebooks missing from the sidebar: {missing}; sidebar has {sorted(sidebar)}"


def test_module_page_renders_show_doc_output_and_figure(site, artifacts):
    _, base = site
    html = rendered_dom(base + "demo.html")
    dom = parse(html)
    # show_doc: a heading anchored at the function's name, its signature and its docstring
    assert "run_demo" in dom.ids, "no show_doc heading for run_demo"
    assert re.search(r'<h3[^>]*id="run_demo".*?def</span> <span class="fu">run_demo</span>', html, re.S), \
        "show_doc block for run_demo has no rendered signature"
    assert "Pretrain on the source digits" in html, "run_demo's docstring is not on the page"
    # a code cell's output (the summary table) and a matplotlib figure (inline PNG)
    assert dom.has_class("cell-output"), "no code-cell output rendered"
    assert "linear probe" in html and "<table" in html, "the demo's result table did not render"
    pngs = [src for src in dom.images if src.startswith("data:image/png")]
    assert pngs and len(pngs[0]) > 5_000, "no matplotlib figure rendered on the demo page"
    with tempfile.TemporaryDirectory() as profile:
        shot = artifacts / "docs_demo.png"
        subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                        "--window-size=1280,9000", base + "demo.html"], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 20_000


def test_no_link_inside_the_site_is_broken(site):
    folder, base = site
    broken, checked = [], 0
    for page_path in sorted(folder.rglob("*.html")):
        page_url = base + str(page_path.relative_to(folder))
        page = parse(page_path.read_text(encoding="utf-8"))
        for link in page.links:
            url = urllib.parse.urljoin(page_url, link)
            if not url.startswith(base) or link.startswith(("data:", "mailto:", "javascript:")):
                continue
            target, _, fragment = url.partition("#")
            checked += 1
            try:
                with urllib.request.urlopen(target, timeout=10) as response:
                    body = response.read().decode("utf-8", "replace")
            except urllib.error.HTTPError as e:
                broken.append(f"{page_path.name}: {link} -> {e.code}")
                continue
            if fragment and target.endswith(".html") and f'id="{fragment}"' not in body:
                broken.append(f"{page_path.name}: {link} -> no element with id {fragment!r}")
    assert checked > 20, f"only {checked} internal links found: is the site empty?"
    assert not broken, "broken links inside the site:\n" + "\n".join(broken)


def test_cross_page_doc_links_are_local(site):
    "nbdev turns `seed_everything` in prose into a doc link; offline it must point at the local page."
    folder, _ = site
    html = (folder / "demo.html").read_text(encoding="utf-8")
    assert 'href="core.html#seed_everything"' in html
    assert "ftkit.github.io" not in "".join(parse(html).links)
