"""Build the docs site offline: nbdev's processing of nbs/ (the same step `nbdev_docs` runs before Quarto), then
smalldocs renders the same `_quarto.yml` project to HTML in `_docs/`.

Online, `nbdev_docs` with Quarto remains the normal path. smalldocs names pages after the notebook file
(`00_core.html`) while nbdev's doc links and Quarto use the `output-file` nbdev writes into each notebook's
front matter (`core.html`); so each processed notebook is renamed to its output-file name before rendering, and
the sidebar lists the renamed files in nbdev's order. Processed notebooks are fixed before rendering
(tools/docs_notebooks.py: links and `<factory>` in API signatures, progress bars, show_doc order), and the pages
after it: formulas rendered to KaTeX HTML with KaTeX's CSS and fonts in the site (tools/docs_maths.py), arXiv ids
and notebook names linked (tools/docs_pages.py). Previous/next links come from `page-navigation` in _quarto.yml.
Usage: python tools/build_docs.py [--out DIR]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from bs4 import BeautifulSoup

import docs_maths
import docs_notebooks
import docs_pages

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(__file__).resolve().parent


def process_notebooks() -> Path:
    "Run nbdev's pre-docs steps (without its Quarto install) and return the `_proc` folder."
    from nbdev.doclinks import _build_modidx
    from nbdev.quarto import nbdev_sidebar, refresh_quarto_yml
    from nbdev.serve import proc_nbs
    refresh_quarto_yml()
    _build_modidx()
    nbdev_sidebar.__wrapped__(file_glob="*.ipynb")  # not nbdev.yml/styles.css as pages (TOOLCHAIN trap 5)
    cache = ROOT / "_proc"  # nbdev only redoes notebooks changed since; redo all when this processing changed
    force = cache.exists() and cache.stat().st_mtime < max(p.stat().st_mtime for p in TOOLS.glob("*docs*.py"))
    with docs_notebooks.in_order():
        return Path(proc_nbs(n_workers=0, force=force))


def output_file(notebook: Path) -> str:
    "The `output-file` nbdev wrote into the processed notebook's front matter (e.g. `core.html`)."
    text = "".join(json.loads(notebook.read_text())["cells"][0]["source"])
    found = re.search(r"^output-file:\s*(\S+)", text, re.M)
    return found.group(1) if found else notebook.with_suffix(".html").name


def stage(proc: Path, stage_dir: Path) -> dict[str, str]:
    """Copy `_proc` to `stage_dir`, fix the notebooks and rename them to their output-file names; return each
    notebook (its path under nbs/) -> its page, in sidebar order."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    shutil.copytree(proc, stage_dir, ignore=shutil.ignore_patterns("_docs", "_site"))
    for notebook in stage_dir.rglob("*.ipynb"):
        docs_notebooks.fix_notebook(notebook)
    import yaml
    sidebar_path = stage_dir / "sidebar.yml"
    sidebar = yaml.safe_load(sidebar_path.read_text())

    pages = {}

    def rename(entry):
        if isinstance(entry, dict):
            entry["contents"] = [rename(e) for e in entry.get("contents", [])]
            return entry
        src = stage_dir / entry
        if src.suffix != ".ipynb":
            return entry
        new = src.with_name(Path(output_file(src)).with_suffix(".ipynb").name)
        if new != src:
            if new.exists():
                raise SystemExit(f"build_docs: two notebooks map to {new.name}; rename one of them")
            src.rename(new)
        pages[entry] = new.relative_to(stage_dir).with_suffix(".html").as_posix()
        return str(new.relative_to(stage_dir))

    contents = sidebar["website"]["sidebar"]["contents"]
    sidebar["website"]["sidebar"]["contents"] = [rename(e) for e in contents]
    sidebar_path.write_text(yaml.safe_dump(sidebar, sort_keys=False))
    return pages


def render(stage_dir: Path, out: Path) -> Path:
    "Render the staged project with smalldocs and move the site to `out`."
    smalldocs = shutil.which("smalldocs") or str(Path(sys.executable).with_name("smalldocs"))
    result = subprocess.run([smalldocs, "render", "--quiet", str(stage_dir)], capture_output=True, text=True)
    known = ("format commonmark is not built", "keep-md is ignored", "output-file is not read")
    for line in (result.stdout + result.stderr).splitlines():
        if line.strip() and not any(k in line for k in known):
            print(line)
    if result.returncode:
        raise SystemExit(f"build_docs: smalldocs failed with exit status {result.returncode}")
    if out.exists():
        shutil.rmtree(out)
    shutil.move(str(stage_dir / "_docs"), out)
    return out


def localize_links(site: Path, site_url: str) -> int:
    "Point nbdev's absolute doc links (`https://host/base/core.html#x`) at the local pages; return how many."
    count = 0
    prefix = site_url.rstrip("/") + "/"
    for page in site.rglob("*.html"):
        depth = len(page.relative_to(site).parts) - 1
        text = page.read_text(encoding="utf-8")
        new, n = re.subn(re.escape(prefix), "../" * depth, text)
        if n:
            page.write_text(new, encoding="utf-8")
            count += n
    return count


def fix_pages(site: Path, pages: dict[str, str]) -> dict[str, int]:
    "Render maths, link arXiv ids and notebook names on every page; return how many of each."
    dist = docs_maths.katex_dist()
    css = docs_maths.copy_assets(dist, site)
    names, ids = docs_pages.notebook_names(pages), docs_pages.page_ids(site)
    for css_file in docs_pages.drop_outside_imports(site):
        print(f"build_docs: {css_file}: dropped @import of an outside stylesheet (web font); fallback fonts are used")
    render = docs_maths.Renderer(dist)
    counts = {"formulas": 0, "arXiv links": 0, "notebook links": 0}
    try:
        for path in sorted(site.rglob("*.html")):
            page = path.relative_to(site).as_posix()
            soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
            css_href = os.path.relpath(css, path.parent).replace(os.sep, "/")
            formulas, stray = docs_maths.render_maths(soup, render, css_href, page)
            for tex in stray:
                print(f"build_docs: {page}: {tex!r} is not maths to Pandoc/Quarto (a space just inside a $); "
                      "rendered here, but write it without that space")
            counts["formulas"] += formulas
            counts["arXiv links"] += docs_pages.link_arxiv(soup)
            counts["notebook links"] += docs_pages.link_notebook_names(soup, names, page)
            for href in docs_pages.unlink_private_names(soup, ids, page):
                print(f"build_docs: {page}: {href} names a private function (no API block): link dropped")
            path.write_text(str(soup), encoding="utf-8")
    finally:
        render.close()
    for error in render.errors:
        print(f"build_docs: KaTeX could not render {error}")
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "_docs"), help="where to write the site (default: _docs)")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    proc = process_notebooks()
    pages = stage(proc, ROOT / "_proc_site")
    out = render(ROOT / "_proc_site", Path(args.out).absolute())
    shutil.rmtree(ROOT / "_proc_site")
    from nbdev.config import get_config
    config = get_config()
    links = localize_links(out, config.doc_host + config.doc_baseurl)
    counts = fix_pages(out, pages)
    done = ", ".join(f"{n} {what}" for what, n in counts.items())
    print(f"build_docs: {len(pages)} pages, {links} doc links made local, {done} -> {out}")


if __name__ == "__main__":
    main()
