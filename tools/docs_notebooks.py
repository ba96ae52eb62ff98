"""Fixes applied to the processed notebooks (nbdev's `_proc` output) before smalldocs renders them, so API blocks
and outputs read right whatever the notebooks contain:

- nbdev writes doc links into show_doc signatures (`# from [`model_chain`](chains.html#model_chain)`), where
  they show literally inside the code block: links inside code blocks keep only their text;
- dataclass fields with `field(default_factory=...)` show as `=<factory>`: the factory's real default is shown
  (`[]`, `{}`, `Policy()`), or `=<factory>` is dropped when it cannot be worked out;
- fastprogress bars (HTML `<progress>` bars and their styles, console bars) are removed from cell outputs;
- nbdev adds the show_doc cells of an export cell that defines several names in reverse order: `in_order()`
  makes them follow the order of the definitions.
"""
import dataclasses
import importlib
import json
import re
from contextlib import contextmanager
from pathlib import Path

from bs4 import BeautifulSoup

FENCE = re.compile(r"^\s*(```|~~~)")
# [`name`](page.html#anchor) or [text](https://...): a link target, not `x[0](y)` in code
CODE_LINK = re.compile(r"\[`?([^\[\]`\n]+?)`?\]\(((?:https?://|[\w./-]*\.(?:html|ipynb|md)\b)[^()\s]*)\)")
FACTORY = re.compile(r"\b(\w+)(\s*:[^:=\n]*?)?=<factory>")
SOURCE_LINK = re.compile(r"\[source\]\([^)]*/blob/[^/]+/([\w/]+)\.py#")
SHOW_DOC = re.compile(r"^\s*show_doc\(\s*([\w.]+)", re.M)
BAR_TEXT = re.compile(r"\d+(?:\.\d+)?% \[\d+/\d+ [\d:]+(?:<|&lt;)[\d:?]+[^\]]*\]")
CONSOLE_BAR = re.compile(r"[^\n\r]*\|[█\-]*\|\s*" + BAR_TEXT.pattern + r"[^\n\r]*")


def strip_code_links(markdown: str) -> str:
    "Replace markdown links inside fenced code blocks with their text."
    lines, inside = [], False
    for line in markdown.split("\n"):
        if FENCE.match(line):
            inside = not inside
        elif inside:
            line = CODE_LINK.sub(r"\1", line)
        lines.append(line)
    return "\n".join(lines)


def _shown_object(source: str, markdown: str):
    "The object a show_doc cell documents, imported from the module its source link names; None if not found."
    name, module = SHOW_DOC.search(source), SOURCE_LINK.search(markdown)
    if not (name and module):
        return None
    try:
        obj = importlib.import_module(module.group(1).replace("/", "."))
        for part in name.group(1).split("."):
            obj = getattr(obj, part)
    except Exception:
        return None
    return obj


def factory_default(factory) -> str | None:
    "How a reader would write the default `factory()` makes: `[]`, `{}`, `Policy()`; None if unclear."
    if factory in (list, dict, set, tuple, frozenset, str, int, float):
        return repr(factory())
    name = getattr(factory, "__qualname__", "")
    if name and "<" not in name:
        return f"{name}()"
    try:
        value = repr(factory())
    except Exception:
        return None
    return value if len(value) <= 40 and "\n" not in value and " at 0x" not in value else None


def fill_factory_defaults(markdown: str, obj) -> str:
    "Replace `name:type=<factory>` with the field's real default, or drop `=<factory>` when it is unknown."
    factories = {}
    if dataclasses.is_dataclass(obj):
        factories = {f.name: f.default_factory for f in dataclasses.fields(obj)
                     if f.default_factory is not dataclasses.MISSING}

    def replace(m):
        shown = factory_default(factories[m.group(1)]) if m.group(1) in factories else None
        return m.group(1) + (m.group(2) or "") + (f"={shown}" if shown else "")
    return FACTORY.sub(replace, markdown)


def _strip_html_bars(html: str) -> str | None:
    "The output's HTML without progress bars and their styles; None when nothing else is left."
    soup = BeautifulSoup(html, "html.parser")
    for style in soup.find_all("style"):
        if "progress" in style.get_text():
            style.decompose()
    for bar in soup.find_all("progress"):
        parent = bar.parent
        bar.decompose()
        if parent is not None and parent.name == "div" and not BAR_TEXT.sub("", parent.get_text()).strip():
            parent.decompose()
    for text in soup.find_all(string=BAR_TEXT):
        text.replace_with(BAR_TEXT.sub("", text))
    if not soup.get_text().strip() and not soup.find(["img", "svg", "table"]):
        return None
    return str(soup)


def strip_progress(output: dict) -> dict | None:
    "The output without fastprogress bars; None when it was nothing but a bar."
    if output.get("output_type") == "stream":
        text = CONSOLE_BAR.sub("", "".join(output.get("text", "")))
        text = re.sub(r"\r+\n?", "\n", text)
        return {**output, "text": text} if text.strip() else None
    data = output.get("data")
    if not data:
        return output
    plain = "".join(data.get("text/plain", ""))
    if "text/html" in data:
        html = _strip_html_bars("".join(data["text/html"]))
        if html is None:
            return None
        data = {**data, "text/html": html}
    elif plain.strip() == "<IPython.core.display.HTML object>":
        return None
    return {**output, "data": data}


def fix_cell(cell: dict) -> dict:
    "Apply the fixes above to one processed cell."
    if cell["cell_type"] == "markdown":
        cell["source"] = strip_code_links("".join(cell["source"]))
        return cell
    outputs = []
    for output in cell.get("outputs", []):
        output = strip_progress(output)
        if output is None:
            continue
        markdown = output.get("data", {}).get("text/markdown")
        if markdown is not None:
            markdown = strip_code_links("".join(markdown))
            if "=<factory>" in markdown:
                markdown = fill_factory_defaults(markdown, _shown_object("".join(cell["source"]), markdown))
            output["data"]["text/markdown"] = markdown
        outputs.append(output)
    if "outputs" in cell:
        cell["outputs"] = outputs
    return cell


def fix_notebook(path: Path):
    "Fix one processed notebook in place."
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb["cells"] = [fix_cell(c) for c in nb["cells"]]
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


@contextmanager
def in_order():
    """Within the block, nbdev adds an export cell's show_doc cells in the order of its definitions (it inserts
    each one right after the cell, which reverses them)."""
    import nbdev.processors as processors
    original = processors._def_names
    processors._def_names = lambda cell, shown: list(reversed(original(cell, shown)))
    try:
        yield
    finally:
        processors._def_names = original
