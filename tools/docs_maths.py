"""Maths for the offline docs: every formula on the built pages is rendered to KaTeX HTML at build time, and KaTeX's
CSS and fonts are copied into the site, so a reader needs neither JavaScript nor a CDN to read a formula.

KaTeX comes from the first of: `$FTKIT_KATEX` (a folder with katex.min.js, katex.min.css and fonts/); the npm
package pinned in tools/katex/package-lock.json, in tools/katex/node_modules (installed here with `npm ci` when
missing); Debian's libjs-katex in /usr/share/javascript/katex (installed with apt-get when npm cannot, as root).
Node.js runs the renderer (tools/katex/render.js); where it is missing it is installed with apt-get, as root.
"""
import fcntl
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from bs4 import BeautifulSoup, NavigableString

KATEX_DIR = Path(__file__).resolve().parent / "katex"
DEBIAN_KATEX = Path("/usr/share/javascript/katex")
SKIP_TEXT_IN = ("pre", "code", "script", "style", "a", "title", "textarea")
# `$...$` that smalldocs left as text (Pandoc's rule refuses a space just inside a `$`): not `$5`, not `$ x`
STRAY_DOLLARS = re.compile(r"(?<![\\$\w])\$(?=[^\s\d$])([^$\n]{1,200}?)\$(?![\w$])")


def _usable(dist: Path) -> bool:
    return all((dist / f).exists() for f in ("katex.min.js", "katex.min.css", "fonts"))


def _apt_install(package: str):
    "Install a Debian package, as root; otherwise stop and say what to run."
    if os.geteuid() != 0:
        raise SystemExit(f"build_docs: KaTeX needs {package}: run 'sudo apt-get install -y {package}' and retry")
    print(f"build_docs: installing {package} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
    done = subprocess.run(["apt-get", "install", "-y", "-qq", package], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"build_docs: apt-get could not install {package}:\n{done.stderr[-2000:]}")


def node() -> str:
    "The Node.js executable, installed with apt-get (as root) when missing."
    found = shutil.which("node") or shutil.which("nodejs")
    if not found:
        _apt_install("nodejs")
        found = shutil.which("node") or shutil.which("nodejs")
    return found


def _npm_install() -> bool:
    "Install the pinned KaTeX into tools/katex/node_modules; False when npm is missing or fails."
    npm = shutil.which("npm")
    if not npm:
        return False
    print("build_docs: installing KaTeX (npm ci in tools/katex)")
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=KATEX_DIR,
                          capture_output=True, text=True)
    if done.returncode:
        print(f"build_docs: npm could not install KaTeX:\n{done.stderr[-2000:]}")
    return done.returncode == 0


def katex_dist() -> Path:
    "The folder holding katex.min.js, katex.min.css and fonts/, installing KaTeX when none is found."
    if os.environ.get("FTKIT_KATEX"):
        dist = Path(os.environ["FTKIT_KATEX"])
        if not _usable(dist):
            raise SystemExit(f"build_docs: FTKIT_KATEX={dist} has no katex.min.js, katex.min.css and fonts/")
        return dist
    npm_dist = KATEX_DIR / "node_modules" / "katex" / "dist"
    with open(KATEX_DIR / ".install.lock", "w") as lock:  # two builds at once install once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _usable(npm_dist) and not _usable(DEBIAN_KATEX) and not _npm_install():
            _apt_install("libjs-katex")
    for dist in (npm_dist, DEBIAN_KATEX):
        if _usable(dist):
            return dist
    raise SystemExit("build_docs: KaTeX was installed but its files are not where expected")


class Renderer:
    "TeX -> KaTeX HTML through one Node.js process (tools/katex/render.js); failures are kept in `errors`."
    def __init__(self, dist: Path):
        self.dist = dist
        self.proc = subprocess.Popen([node(), str(KATEX_DIR / "render.js"), str(dist / "katex.min.js")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8")
        self.cache, self.errors = {}, []

    def __call__(self, tex: str, display: bool, where: str = "") -> str | None:
        "The KaTeX HTML for `tex`, or None (and an entry in `errors`) when KaTeX cannot parse it."
        key = (tex, display)
        if key not in self.cache:
            self.proc.stdin.write(json.dumps({"tex": tex, "display": display}) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit("build_docs: the KaTeX renderer (node tools/katex/render.js) stopped")
            self.cache[key] = json.loads(line)
        answer = self.cache[key]
        if "error" in answer:
            self.errors.append(f"{where}: {answer['error']} in {tex!r}")
        return answer.get("html")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def copy_assets(dist: Path, site: Path) -> Path:
    "Copy KaTeX's CSS and fonts to site_libs/katex/ (fonts dereferenced: Debian's are a link); return the CSS."
    target = site / "site_libs" / "katex"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(dist / "katex.min.css", target / "katex.min.css")
    shutil.copytree((dist / "fonts").resolve(), target / "fonts")
    return target / "katex.min.css"


def _fragment(html: str):
    return BeautifulSoup(html, "html.parser")


def _tex_of(span) -> tuple[str, bool]:
    "The TeX inside smalldocs's `\\(...\\)` / `\\[...\\]` span, and whether it is display maths."
    text, display = span.get_text(), "display" in span.get("class", [])
    if text[:2] in ("\\(", "\\[") and text[-2:] in ("\\)", "\\]"):
        text = text[2:-2]
    return text.strip(), display


def _render_spans(soup, render, where: str) -> int:
    count = 0
    for span in soup.select("span.math"):
        if span.select_one(".katex"):
            continue
        tex, display = _tex_of(span)
        html = render(tex, display, where)
        if html is not None:
            span.clear()
            span.append(_fragment(html))
            count += 1
    return count


def _render_stray_dollars(soup, render, where: str) -> list[str]:
    "Render `$...$` left as text outside code (e.g. `$Y = X + $`); return the TeX found, for a warning."
    found = []
    for text in list(soup.body.find_all(string=STRAY_DOLLARS)):
        if text.find_parent(SKIP_TEXT_IN) or text.find_parent(class_="katex"):
            continue
        pieces, last = [], 0
        for m in STRAY_DOLLARS.finditer(text):
            html = render(m.group(1).strip(), False, where)
            if html is None:
                continue
            found.append(m.group(0))
            span = soup.new_tag("span", attrs={"class": "math inline"})
            span.append(_fragment(html))
            pieces += [NavigableString(text[last:m.start()]), span]
            last = m.end()
        if pieces:
            pieces.append(NavigableString(text[last:]))
            for piece in reversed(pieces):
                text.insert_after(piece)
            text.extract()
    return found


def render_maths(soup, render, css_href: str, where: str) -> tuple[int, list[str]]:
    """Render the page's formulas in place and point its head at the local KaTeX CSS instead of the CDN scripts.
    Returns (formulas rendered, stray `$...$` found)."""
    count = _render_spans(soup, render, where)
    stray = _render_stray_dollars(soup, render, where)
    for tag in soup.find_all(["script", "link"]):
        url = tag.get("src") or tag.get("href") or ""
        if "katex" in url.lower() and re.match(r"(https?:)?//", url):
            tag.decompose()
    if soup.select_one(".katex") and soup.head:
        soup.head.append(soup.new_tag("link", attrs={"rel": "stylesheet", "href": css_href}))
    return count + len(stray), stray
