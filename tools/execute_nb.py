"""Execute one notebook in place, in its own folder, skipping the cells nbdev_test skips (flags in settings.ini's
tst_flags, `#| eval: false`), so the stored outputs the docs show come from the same code the tests run."""
import os
import sys
from pathlib import Path

from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
from nbdev.config import get_config


def _skip(cell, flags) -> bool:
    if cell.cell_type != "code":
        return True
    directives = [line[3:].strip() for line in cell.source.splitlines() if line.startswith("#| ")]
    return "eval: false" in directives or any(d in flags for d in directives)


def main(path: str):
    path = Path(path).absolute()
    flags = set(get_config().tst_flags.split())
    nb = read_nb(path)
    os.chdir(path.parent)
    for cell in nb.cells:  # execnb replaces outputs only when a cell prints something: a silent cell kept stale ones
        if not _skip(cell, flags):
            cell.outputs = []
    shell = CaptureShell(path.parent, mpl_format="png")  # png at the figure's dpi: small notebooks
    shell.run_all(nb, exc_stop=True, preproc=lambda cell: _skip(cell, flags))
    write_nb(nb, path)


if __name__ == "__main__":
    main(sys.argv[1])
