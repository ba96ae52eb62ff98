"""Link fixes applied to the rendered pages: arXiv ids written as text become links to arxiv.org, and code spans
that name a notebook (`06_groups`, `11b_caching.ipynb`, `compat/data`) become links to that notebook's page."""
import posixpath
import re
from pathlib import PurePosixPath

ARXIV = re.compile(r"\barXiv(?::\s?|\s)(\d{4}\.\d{4,5}(?:v\d+)?|[a-z-]+(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?)\b")
NOT_PROSE = ("a", "pre", "code", "script", "style", "title", "textarea", "nav")


def notebook_names(pages: dict[str, str]) -> dict[str, str]:
    """The names a reader writes for each notebook -> its page. `pages` maps a notebook's path under nbs/
    (`06_groups.ipynb`, `compat/data.ipynb`) to its page (`groups.html`, `compat/data.html`). A bare name counts
    only when it cannot be a word of code: numbered (`06_groups`) or with its folder (`compat/data`)."""
    names = {}
    for notebook, page in pages.items():
        path = PurePosixPath(notebook)
        stem = str(path.with_suffix(""))
        for name in (notebook, f"nbs/{notebook}"):
            names[name] = page
        if "/" in stem or re.match(r"\d", path.name):
            names[stem] = page
    return names


def link_arxiv(soup) -> int:
    "Turn `arXiv:1801.06146` / `arXiv 2210.11466` in prose into links to the paper's abstract page."
    count = 0
    for text in list(soup.body.find_all(string=ARXIV)):
        if text.find_parent(NOT_PROSE) or text.find_parent(class_="katex"):
            continue
        pieces, last = [], 0
        for m in ARXIV.finditer(text):
            link = soup.new_tag("a", href=f"https://arxiv.org/abs/{m.group(1)}")
            link.string = m.group(0)
            pieces += [text[last:m.start()], link]
            last = m.end()
        pieces.append(text[last:])
        for piece in reversed(pieces):
            text.insert_after(piece)
        text.extract()
        count += len(pieces) // 2
    return count


def link_notebook_names(soup, names: dict[str, str], page: str) -> int:
    "Wrap each code span that names a notebook in a link to its page (relative to `page`)."
    count = 0
    for code in soup.body.find_all("code"):
        target = names.get(code.get_text().strip())
        if not target or code.find_parent(["a", "pre"]):
            continue
        href = posixpath.relpath(target, posixpath.dirname(page) or ".")
        code.wrap(soup.new_tag("a", href=href))
        count += 1
    return count


OUTSIDE_IMPORT = re.compile(r"""@import\s+(?:url\(\s*['"]?(?:https?:)?//[^)]*\)|['"](?:https?:)?//[^'"]*['"])[^;]*;?""")


def drop_outside_imports(site) -> list[str]:
    """Remove `@import`s of outside stylesheets from the site's CSS (the Bootswatch theme imports its web font
    from Google Fonts): the page then uses the theme's fallback fonts and loads nothing from outside."""
    dropped = []
    for css in sorted(site.rglob("*.css")):
        text = css.read_text(encoding="utf-8", errors="surrogateescape")
        new, n = OUTSIDE_IMPORT.subn("", text)
        if n:
            css.write_text(new, encoding="utf-8", errors="surrogateescape")
            dropped.append(css.relative_to(site).as_posix())
    return dropped


def page_ids(site) -> dict[str, set]:
    "page -> the ids on it."
    return {p.relative_to(site).as_posix(): set(re.findall(r'\bid="([^"]+)"', p.read_text(encoding="utf-8")))
            for p in site.rglob("*.html")}


def unlink_private_names(soup, ids: dict[str, set], page: str) -> list[str]:
    """nbdev links a private name written in backticks (`_examples`) to an anchor that no API block makes (private
    names get none): keep the code, drop the dead link. Returns the hrefs dropped."""
    dropped = []
    for a in soup.body.find_all("a", href=re.compile(r"^[^:]*#_")):
        target, _, anchor = a["href"].partition("#")
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page), target)) if target else page
        if target in ids and anchor not in ids[target]:
            dropped.append(a["href"])
            a.unwrap()
    return dropped
