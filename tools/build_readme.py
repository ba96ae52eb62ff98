"""Write README.md from nbs/index.ipynb (the docs landing page), as `nbdev_readme` does with Quarto online.

Markdown cells are copied, code cells become ```python blocks, and their stored outputs follow (HTML tables
as HTML, which GitHub renders; text as a plain block). Hidden cells and nbdev directives are left out.
Usage: python tools/build_readme.py [--check]   (--check: exit 1 if README.md is out of date)
"""
import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTICE = "<!-- Generated from nbs/index.ipynb by tools/build_readme.py (make docs); edit the notebook, not this file. -->\n\n"


def _directives(source: str) -> set:
    return {line[3:].strip() for line in source.splitlines() if line.startswith("#| ")}


def _output(output: dict) -> str:
    data = output.get("data", {})
    if output.get("output_type") == "stream":
        return "```\n" + "".join(output["text"]).rstrip() + "\n```"
    if "text/html" in data and "<table" in "".join(data["text/html"]):
        html = "".join(data["text/html"])
        return re.sub(r"<style[^>]*>.*?</style>", "", html, flags=re.S).strip()
    if "text/markdown" in data:
        return "".join(data["text/markdown"]).strip()
    if "text/plain" in data:
        return "```\n" + "".join(data["text/plain"]).rstrip() + "\n```"
    return ""


def readme(notebook: Path) -> str:
    "The README text for `notebook`."
    parts = []
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            parts.append(source.strip())
        elif cell["cell_type"] == "code":
            if {"hide", "exporti"} & _directives(source) or source.startswith("#|hide"):
                continue
            code = "\n".join(l for l in source.splitlines() if not l.startswith("#|")).strip()
            if code:
                parts.append("```python\n" + code + "\n```")
            parts += [o for o in map(_output, cell.get("outputs", [])) if o]
    return NOTICE + "\n\n".join(parts) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    args = parser.parse_args(argv)
    text, path = readme(ROOT / "nbs" / "index.ipynb"), ROOT / "README.md"
    if args.check:
        if path.read_text(encoding="utf-8") != text:
            sys.exit("README.md is out of date with nbs/index.ipynb: run `make docs` (or python tools/build_readme.py)")
        return
    path.write_text(text, encoding="utf-8")
    print(f"build_readme: wrote {path.name}")


if __name__ == "__main__":
    main()
