"""The docs site as a reader sees it: build it offline (make docs's code), serve it on 127.0.0.1, open every page
in headless Chromium (driven over the DevTools protocol on a pipe) and check what renders and what it loads; crawl
every link inside the site. Screenshots are kept in artifacts/."""
import base64
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import BIN, ROOT

sys.path.insert(0, str(ROOT / "tools"))
import docs_notebooks  # noqa: E402  (tools/ is not a package)

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--window-size=1280,900"]
# Words about how the project is run, not about what the code does; none belongs on a page
PROCESS_WORDS = re.compile(r"\b(" + "|".join(
    line for line in (ROOT / "tests/data/process_phrases.txt").read_text().splitlines() if line and not line.startswith("#")
) + r")\b", re.I)


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


class Browser:
    "Headless Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe: no port, no extra package)."
    def __init__(self):
        self.profile = tempfile.mkdtemp()
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()
        # Chromium reads commands on fd 3 and answers on fd 4
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{to_browser} 4>&{from_browser}', "chromium", chromium(), *CHROMIUM_FLAGS,
             f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"],
            pass_fds=(to_browser, from_browser), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser), os.close(from_browser)
        self._next, self._replies, self.events = 0, {}, []
        self._ready = threading.Condition()
        threading.Thread(target=self._listen, daemon=True).start()
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.attached = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.send(f"{domain}.enable", attached=True)
        self.send("Emulation.setDeviceMetricsOverride", attached=True, width=1280, height=900,
                  deviceScaleFactor=1, mobile=False)

    def _listen(self):
        buffer = b""
        while chunk := os.read(self._read, 1 << 16):
            *messages, buffer = (buffer + chunk).split(b"\0")
            with self._ready:
                for message in map(json.loads, messages):
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self.events.append(message)
                self._ready.notify_all()

    def _wait(self, done, what, timeout=60):
        with self._ready:
            if not self._ready.wait_for(done, timeout):
                raise TimeoutError(f"Chromium did not answer {what} within {timeout} s")

    def send(self, method, attached=False, **params):
        with self._ready:
            self._next += 1
            number = self._next
        message = {"id": number, "method": method, "params": params}
        if attached:
            message["sessionId"] = self.attached
        os.write(self._write, json.dumps(message).encode() + b"\0")
        self._wait(lambda: number in self._replies, method)
        with self._ready:
            reply = self._replies.pop(number)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", attached=True, expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> list[str]:
        "Load `url` and wait for its fonts; return the URL of every request the page made."
        with self._ready:
            self.events.clear()
        self.send("Page.navigate", attached=True, url=url)
        self._wait(lambda: any(e.get("method") == "Page.loadEventFired" for e in self.events), f"loading {url}")
        self.evaluate("new Promise(r => requestAnimationFrame(r)).then(() => document.fonts.ready).then(() => true)")
        with self._ready:
            return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path: Path, selector: str = ""):
        "Save the viewport as PNG, scrolled to the first `selector` (the page's top when empty)."
        if selector:
            self.evaluate(f"document.querySelector({selector!r})?.scrollIntoView({{block: 'center', behavior: 'instant'}}); true")
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", attached=True, format="png")["data"]))

    def close(self):
        try:
            self.send("Browser.close")
            self.proc.wait(timeout=20)
        except Exception:
            self.proc.kill()
        os.close(self._write)
        shutil.rmtree(self.profile, ignore_errors=True)


# What a reader sees on one page, collected in the browser after it has loaded (fonts included)
INSPECT = r"""(() => {
  const prose = (node, skip) => { const el = node.parentElement; return el && !el.closest(skip); };
  const rawTex = [], arxiv = [], walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = walker.nextNode());) {
    const text = n.textContent;
    if (prose(n, "pre, code, script, style, .katex-mathml"))
      for (const m of text.matchAll(/\\\(|\\\)|\\\[|\\\]|\$(?=[^\s\d$])[^$\n]+\$/g)) rawTex.push(text.slice(Math.max(0, m.index - 40), m.index + 60));
    if (prose(n, "pre, code, script, style, a"))
      for (const m of text.matchAll(/\barXiv(:\s?|\s)(\d{4}\.\d{4,5}|[a-z-]+\/\d{7})/g)) arxiv.push(m[0]);
  }
  const katex = document.querySelector(".katex");
  const cell = document.querySelector("table.dataframe td");
  const cellStyle = cell && getComputedStyle(cell);
  const href = (sel) => [...document.querySelectorAll(sel)].map(a => a.href);
  return {
    maths: document.querySelectorAll(".math").length,
    mathsWithoutKatex: [...document.querySelectorAll(".math")].filter(m => !m.querySelector(".katex")).map(m => m.textContent.slice(0, 80)),
    katexErrors: document.querySelectorAll(".katex-error").length,
    katexFont: katex ? getComputedStyle(katex).fontFamily : null,
    katexFontsLoaded: [...document.fonts].filter(f => f.status === "loaded" && f.family.includes("KaTeX")).map(f => f.family),
    rawTex, arxiv,
    tableCell: cellStyle && {padding: ["Top", "Right", "Bottom", "Left"].map(s => parseFloat(cellStyle["padding" + s])),
                             border: parseFloat(cellStyle.borderBottomWidth), borderStyle: cellStyle.borderBottomStyle},
    cutSignatures: [...document.querySelectorAll(".cell-output-markdown pre")].filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.textContent.slice(0, 80)),
    codeLinks: [...document.querySelectorAll("pre, code")].map(c => c.textContent).filter(t => /\[[^\]\n]*\]\((https?:\/\/|[\w.\/-]*\.(html|ipynb|md)\b)/.test(t)).map(t => t.slice(0, 120)),
    unlinkedCode: [...document.querySelectorAll("code")].filter(c => !c.closest("a, pre")).map(c => c.textContent.trim()),
    text: document.body.innerText,
    progressBars: document.querySelectorAll("progress").length,
    headings: [...document.querySelectorAll("h2[id], h3[id], h4[id]")].map(h => h.id),
    sidebar: href("a.sidebar-link"),
    previous: href("nav.page-navigation .nav-page-previous a"),
    next: href("nav.page-navigation .nav-page-next a"),
  };
})()"""


@pytest.fixture(scope="module")
def site():
    "Build the site into a temporary folder and serve it on 127.0.0.1; yield (folder, base URL)."
    out = Path(tempfile.mkdtemp()) / "site"
    built = subprocess.run([BIN / "python", ROOT / "tools" / "build_docs.py", "--out", out], cwd=ROOT,
                           capture_output=True, text=True)
    assert built.returncode == 0, f"the docs build failed:\n{(built.stdout + built.stderr)[-3000:]}"
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
    handler = functools.partial(Quiet, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield out, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    shutil.rmtree(out.parent)


@pytest.fixture(scope="module")
def seen(site):
    "Every page opened once in Chromium: page -> (the URLs it requested, what INSPECT found)."
    folder, base = site
    browser, seen = Browser(), {}
    try:
        for path in sorted(folder.rglob("*.html")):
            page = path.relative_to(folder).as_posix()
            requests = browser.open(base + page)
            seen[page] = requests, browser.evaluate(INSPECT)
    finally:
        browser.close()
    return seen


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
        pages[str(rel)] = str(rel.with_name(re.sub(r"^\d+[a-zA-Z0-9]*_", "", rel.stem.lower()) + ".html"))  # nbdev's rule
    return pages


def test_sidebar_lists_every_notebook(site):
    _, base = site
    dom = parse(rendered_dom(base + "core.html"))
    sidebar = {attrs["href"] for tag, attrs in dom.elements
               if tag == "a" and "sidebar-link" in (attrs.get("class") or "") and attrs.get("href")}
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
        subprocess.run([chromium(), *CHROMIUM_FLAGS[:-1], f"--user-data-dir={profile}", f"--screenshot={shot}",
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


def test_browser_checks_can_fail(site):
    "The in-browser checks really detect: a page with each fault, served beside the site, is flagged for each."
    folder, base = site
    bad = folder / "_faults.html"
    bad.write_text(
        '<html><head><link rel="stylesheet" href="http://127.0.0.2:9/x.css"></head><body>'
        "<p>raw \\(x^2\\) and $a + b$, see arXiv:1801.06146</p><p><code>06_groups</code></p>"
        '<pre>def f(x:list=&lt;factory&gt;, # from [`g`](core.html#g))</pre>'
        '<progress value="1" max="2"></progress> 50.00% [1/2 00:01&lt;00:01]'
        '<div class="cell-output-markdown"><pre style="width:100px;white-space:pre">' + "x" * 400 + "</pre></div>"
        '<table class="dataframe"><tr><td style="padding:0;border:none">1</td></tr></table></body></html>')
    browser = Browser()
    try:
        requests = browser.open(base + bad.name)
        found = browser.evaluate(INSPECT)
    finally:
        browser.close()
        bad.unlink()
    assert any(u.startswith("http://127.0.0.2") for u in requests)
    assert len(found["rawTex"]) == 3 and found["arxiv"] == ["arXiv:1801.06146"] and "06_groups" in found["unlinkedCode"]
    assert found["codeLinks"] and "<factory>" in found["text"] and found["progressBars"] == 1
    assert found["cutSignatures"] and found["tableCell"]["padding"] == [0, 0, 0, 0]
    assert re.search(r"\d+(?:\.\d+)?% \[\d+/\d+ [\d:]+<[\d:?]+", found["text"])


# ---- what every page loads

def test_pages_load_nothing_from_outside_the_site(site, seen):
    "Scripts, CSS, fonts and images all come from 127.0.0.1 (the docs read offline); outside links are fine."
    _, base = site
    outside = {page: [u for u in requests if not u.startswith((base, "data:", "about:", "blob:"))]
               for page, (requests, _) in seen.items()}
    outside = {page: urls for page, urls in outside.items() if urls}
    assert len(seen) >= 20, f"only {len(seen)} pages opened"
    assert not outside, f"pages load resources from outside the site: {outside}"


def test_site_files_name_no_outside_resource(site):
    "The same, read from the files: also what a browser would load only later (lazy images, other CSS rules)."
    folder, _ = site
    found = []
    for path in sorted(folder.rglob("*.html")):
        for tag, attrs in parse(path.read_text(encoding="utf-8")).elements:
            url = attrs.get("src") if tag in ("script", "img", "iframe", "source", "video", "audio") else \
                attrs.get("href") if tag == "link" and attrs.get("rel") not in ("canonical", "alternate") else None
            if url and re.match(r"(https?:)?//", url):
                found.append(f"{path.name}: <{tag}> {url}")
    for path in sorted(folder.rglob("*.css")):
        for url in re.findall(r"(?:url\(\s*['\"]?|@import\s+['\"])((?:https?:)?//[^'\")\s]+)", path.read_text(errors="replace")):
            found.append(f"{path.relative_to(folder)}: {url}")
    assert not found, "outside resources named by the site:\n" + "\n".join(found)


# ---- maths

def test_maths_is_rendered_with_local_katex(site, seen):
    _, base = site
    with_maths = {page: found for page, (_, found) in seen.items() if found["maths"]}
    assert "discriminative.html" in with_maths, "no formulas found on discriminative.html: is maths rendered at all?"
    problems = []
    for page, found in with_maths.items():
        if found["mathsWithoutKatex"] or found["katexErrors"]:
            problems.append(f"{page}: formulas without KaTeX markup {found['mathsWithoutKatex'][:3]}, "
                            f"{found['katexErrors']} KaTeX errors")
        if not (found["katexFont"] or "").startswith("KaTeX_Main"):
            problems.append(f"{page}: .katex is set in {found['katexFont']!r}, not KaTeX_Main")
        if not found["katexFontsLoaded"]:
            problems.append(f"{page}: no KaTeX font loaded")
        fonts = [u for u in seen[page][0] if "KaTeX_" in u]
        if not fonts or not all(u.startswith(base + "site_libs/katex/fonts/") for u in fonts):
            problems.append(f"{page}: KaTeX fonts not loaded from the site: {fonts[:3]}")
    assert not problems, "\n".join(problems)


def test_screenshots_of_maths_and_a_table(site, artifacts):
    "Views to look at: a display formula (discriminative.html) and an output table (groups.html)."
    _, base = site
    browser = Browser()
    try:
        for page, selector, name in (("discriminative.html", ".math.display", "docs_maths.png"),
                                     ("groups.html", "table.dataframe", "docs_table.png")):
            browser.open(base + page)
            browser.screenshot(artifacts / name, selector)
            assert (artifacts / name).stat().st_size > 20_000, f"{name} looks empty"
    finally:
        browser.close()


def test_no_raw_tex_left_in_prose(seen):
    raw = {page: found["rawTex"] for page, (_, found) in seen.items() if found["rawTex"]}
    assert not raw, f"TeX shown raw (not rendered) on pages: {raw}"


# ---- tables and API blocks

def test_output_tables_have_padded_cells_and_rules(seen):
    cells = {page: found["tableCell"] for page, (_, found) in seen.items() if found["tableCell"]}
    assert cells, "no pandas table (table.dataframe) on any page"
    bad = {page: cell for page, cell in cells.items()
           if min(cell["padding"]) <= 0 or cell["border"] <= 0 or cell["borderStyle"] == "none"}
    assert not bad, f"table cells without padding or rules: {bad}"


def test_api_blocks_show_code_not_markdown(seen):
    links = {page: found["codeLinks"] for page, (_, found) in seen.items() if found["codeLinks"]}
    assert not links, f"markdown link syntax shown inside code: {links}"
    factory = [page for page, (_, found) in seen.items() if "<factory>" in found["text"]]
    assert not factory, f"dataclass defaults shown as <factory> on {factory}"


def test_api_signatures_are_not_cut_at_the_right_edge(seen):
    cut = {page: found["cutSignatures"] for page, (_, found) in seen.items() if found["cutSignatures"]}
    assert not cut, f"signature blocks wider than the page (cut off): {cut}"


def test_show_doc_blocks_follow_the_definitions_order(seen):
    "An export cell that defines several names shows their API blocks in the order they are defined."
    from nbdev.process import NBProcessor
    from nbdev.processors import _def_names, _want_doc
    for notebook, page in notebook_pages().items():
        headings = seen.get(page, (None, {"headings": []}))[1]["headings"]
        for cell in NBProcessor(ROOT / "nbs" / notebook).nb.cells:
            names = [n.lower() for n in _def_names(cell, set())] if _want_doc(cell) else []
            at = [headings.index(n) for n in names if n in headings]
            if len(at) > 1:
                assert at == sorted(at), f"{page}: API blocks of {names} appear in the order {at}"


def test_build_keeps_show_doc_cells_in_definition_order(tmp_path):
    "nbdev alone adds an export cell's show_doc cells in reverse; the build's patch restores the order."
    from nbdev.process import NBProcessor
    from nbdev.processors import add_show_docs
    cell = {"cell_type": "code", "id": "0a1b2c3d", "metadata": {}, "outputs": [], "execution_count": None,
            "source": "#| export\ndef b(): pass\ndef a(): pass\nclass C: pass"}
    path = tmp_path / "order.ipynb"
    path.write_text(json.dumps({"cells": [cell], "metadata": {"kernelspec": {"name": "python3", "language": "python",
                    "display_name": "Python 3"}}, "nbformat": 4, "nbformat_minor": 5}))
    processor = NBProcessor(path, add_show_docs)
    with docs_notebooks.in_order():
        processor.process()
    assert [c.source for c in processor.nb.cells[1:]] == ["show_doc(b)", "show_doc(a)", "show_doc(C)"]


# ---- navigation and links

def test_every_page_links_previous_and_next_in_sidebar_order(site, seen):
    _, base = site
    problems = []
    for page, (_, found) in seen.items():
        order = list(dict.fromkeys(u.partition("#")[0] for u in found["sidebar"] if u))  # sections have no href
        url = base + page
        if url not in order:
            problems.append(f"{page}: not in the sidebar")
            continue
        i = order.index(url)
        want_prev, want_next = order[i - 1: i] if i else [], order[i + 1: i + 2]
        if found["previous"] != want_prev or found["next"] != want_next:
            problems.append(f"{page}: previous {found['previous']} next {found['next']}, "
                            f"want {want_prev} {want_next}")
        if not all(u.startswith(base) for u in found["previous"] + found["next"]):
            problems.append(f"{page}: previous/next leave the site")
    assert not problems, "\n".join(problems)


def test_arxiv_ids_are_links(site, seen):
    plain = {page: found["arxiv"] for page, (_, found) in seen.items() if found["arxiv"]}
    assert not plain, f"arXiv ids written as plain text: {plain}"
    folder, _ = site
    html = (folder / "groups.html").read_text(encoding="utf-8")
    assert re.search(r'<a href="https://arxiv\.org/abs/1801\.06146">arXiv:1801\.06146</a>', html), \
        "groups.html's arXiv:1801.06146 (ULMFiT) is not a link to its abstract"


def test_code_spans_naming_a_notebook_link_to_its_page(site, seen):
    folder, _ = site
    names = {}
    for notebook in notebook_pages():
        stem = str(Path(notebook).with_suffix(""))
        names.update({notebook: notebook, f"nbs/{notebook}": notebook})
        if "/" in stem or re.match(r"\d", Path(notebook).name):
            names[stem] = notebook
    unlinked = {page: sorted({c for c in found["unlinkedCode"] if c in names})
                for page, (_, found) in seen.items()}
    unlinked = {page: codes for page, codes in unlinked.items() if codes}
    assert not unlinked, f"code spans naming a notebook without a link: {unlinked}"
    html = (folder / "schedules.html").read_text(encoding="utf-8")
    assert re.search(r'<a href="groups\.html"><code>06_groups</code></a>', html), \
        "schedules.html's `06_groups` is not a link to groups.html"


# ---- what must not be on a page

def test_no_page_talks_about_the_projects_process(seen):
    found = {}
    for page, (_, seen_page) in seen.items():
        for m in PROCESS_WORDS.finditer(seen_page["text"]):
            found.setdefault(page, []).append(seen_page["text"][max(0, m.start() - 50):m.end() + 30])
    assert not found, f"pages speak of the project's tracker or process: {found}"


def test_no_progress_bar_debris(seen):
    debris = {}
    for page, (_, found) in seen.items():
        text = re.findall(r"\d+(?:\.\d+)?% \[\d+/\d+ [\d:]+<[\d:?]+", found["text"])
        if found["progressBars"] or text:
            debris[page] = (found["progressBars"], text[:3])
    assert not debris, f"progress bars left on pages (count, text): {debris}"


def test_build_strips_progress_bars_from_outputs():
    "The build's own step, on the outputs fastprogress writes (HTML bars with their styles, console bars)."
    from fastprogress.fastprogress import html_progress_bar, html_styles
    bar = str(html_progress_bar(3, 10, "30.00% [3/10 00:01<00:02]"))
    html = lambda text: {"output_type": "display_data", "data": {"text/html": text, "text/plain": "<IPython.core.display.HTML object>"}}
    assert docs_notebooks.strip_progress(html(html_styles)) is None
    assert docs_notebooks.strip_progress(html(bar)) is None
    table = '<table class="fastprogress"><tr><th>epoch</th></tr><tr><td>0</td></tr></table>'
    kept = docs_notebooks.strip_progress(html(html_styles + bar + table))["data"]["text/html"]
    assert "<table" in kept and "<progress" not in kept and "progress {" not in kept and "30.00%" not in kept
    stream = {"output_type": "stream", "name": "stdout",
              "text": " |████------| 30.00% [3/10 00:01<00:02]\r |██████████| 100.00% [10/10 00:03<00:00]\nloss 0.25\n"}
    assert docs_notebooks.strip_progress(stream)["text"].strip() == "loss 0.25"
    assert docs_notebooks.strip_progress({"output_type": "stream", "text": " |██| 100.00% [1/1 00:00<00:00]"}) is None


def test_build_fixes_signatures():
    "Links inside code blocks keep their text; `=<factory>` becomes the field's real default."
    import dataclasses
    md = "```python\ndef f(\n    chain, # from [`model_chain`](chains.html#model_chain)\n    xs:list=[1](2)\n)\n```\nsee [`g`](g.html)"
    assert docs_notebooks.strip_code_links(md) == \
        "```python\ndef f(\n    chain, # from model_chain\n    xs:list=[1](2)\n)\n```\nsee [`g`](g.html)"

    @dataclasses.dataclass
    class Log:
        names: list
        rows: list = dataclasses.field(default_factory=list)
        seen: dict[str, int] = dataclasses.field(default_factory=dict)
        odd: object = dataclasses.field(default_factory=lambda: object())
    sig = "def Log(\n    names:list, rows:list=<factory>, seen:dict[str, int]=<factory>, odd:object=<factory>\n)"
    assert docs_notebooks.fill_factory_defaults(sig, Log) == \
        "def Log(\n    names:list, rows:list=[], seen:dict[str, int]={}, odd:object\n)"
