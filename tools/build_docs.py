"""Build the docs site offline: nbdev's processing of nbs/ (the same step `nbdev_docs` runs before Quarto), then
smalldocs renders the same `_quarto.yml` project to HTML in `_docs/`.

Online, `nbdev_docs` with Quarto remains the normal path. smalldocs names pages after the notebook file
(`00_core.html`) while nbdev's doc links and Quarto use the `output-file` nbdev writes into each notebook's
front matter (`core.html`); so each processed notebook is renamed to its output-file name before rendering, and
the sidebar lists the renamed files in nbdev's order. Usage: python tools/build_docs.py [--out DIR]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def process_notebooks() -> Path:
    "Run nbdev's pre-docs steps (without its Quarto install) and return the `_proc` folder."
    from nbdev.doclinks import _build_modidx
    from nbdev.quarto import nbdev_sidebar, refresh_quarto_yml
    from nbdev.serve import proc_nbs
    refresh_quarto_yml()
    _build_modidx()
    nbdev_sidebar.__wrapped__(file_glob="*.ipynb")  # not nbdev.yml/styles.css as pages (TOOLCHAIN trap 5)
    return Path(proc_nbs(n_workers=0))


def output_file(notebook: Path) -> str:
    "The `output-file` nbdev wrote into the processed notebook's front matter (e.g. `core.html`)."
    text = "".join(json.loads(notebook.read_text())["cells"][0]["source"])
    found = re.search(r"^output-file:\s*(\S+)", text, re.M)
    return found.group(1) if found else notebook.with_suffix(".html").name


def stage(proc: Path, stage_dir: Path) -> list[str]:
    "Copy `_proc` to `stage_dir`, renaming notebooks to their output-file names; return the new sidebar order."
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    shutil.copytree(proc, stage_dir, ignore=shutil.ignore_patterns("_docs", "_site"))
    import yaml
    sidebar_path = stage_dir / "sidebar.yml"
    sidebar = yaml.safe_load(sidebar_path.read_text())

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
        return str(new.relative_to(stage_dir))

    contents = sidebar["website"]["sidebar"]["contents"]
    sidebar["website"]["sidebar"]["contents"] = [rename(e) for e in contents]
    sidebar_path.write_text(yaml.safe_dump(sidebar, sort_keys=False))
    return sidebar["website"]["sidebar"]["contents"]


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
    print(f"build_docs: {len(pages)} pages, {links} doc links made local -> {out}")


if __name__ == "__main__":
    main()
