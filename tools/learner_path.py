"""Time each notebook as a learner runs it: JupyterLab's "Run All" in a fresh kernel, top to bottom.

Every code cell runs, whatever its nbdev flags (`#| slow`, `#| gpu`, `#| eval: false`): JupyterLab does not read
them, so a slow cell must be cheap for a learner too (read stored results, e.g. a ledger folder under results/ that
`replicate` resumes at once). Each notebook runs in a new kernel with OMP_NUM_THREADS=1 (unless set), in its own
folder as JupyterLab runs it, from an in-memory copy: the notebook file is never written. Prints the minutes per
notebook and its slowest cells; exit status 1 when a notebook fails or runs over `--limit` minutes.

Usage: python tools/learner_path.py nbs/08_discriminative.ipynb [more.ipynb ...] [--limit 5] [--out DIR]
       (--out DIR: also save each executed copy there, to look at its outputs)
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent


def environment():
    "The variables a learner's `make lab` session has: one thread, offline Hugging Face, the shared data folder."
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    if not os.environ.get("FTKIT_DATA") and (ROOT.parent / "shared" / "data").is_dir():
        os.environ["FTKIT_DATA"] = str((ROOT.parent / "shared" / "data").resolve())


class TimedClient(NotebookClient):
    "A notebook client that notes how long each cell took."
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cell_seconds = []

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        start = time.perf_counter()
        try:
            return await super().async_execute_cell(cell, cell_index, *args, **kwargs)
        finally:
            if cell.cell_type == "code":
                self.cell_seconds.append((time.perf_counter() - start, cell_index))


def run(path: Path, timeout: int, out: Path | None) -> tuple[float, list, str | None]:
    "(seconds, [(seconds, cell index)], error or None) for one notebook run top to bottom in a fresh kernel."
    nb = nbformat.read(path, as_version=4)  # a copy in memory: the file on disk is only read
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = TimedClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    start, error = time.perf_counter(), None
    try:
        client.execute(stderr=subprocess.DEVNULL)  # the kernel's own log lines; cell output comes back as usual
    except CellExecutionError as e:
        error = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    except Exception as e:  # a timeout or a dead kernel: report it and go on with the next notebook
        error = f"{type(e).__name__}: {e}"
    seconds = time.perf_counter() - start
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out / path.name)
    return seconds, sorted(client.cell_seconds, reverse=True), error


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", help="notebooks to run, one after another")
    parser.add_argument("--limit", type=float, default=5.0, help="minutes a learner should wait at most (default 5)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds one cell may take before the run stops")
    parser.add_argument("--out", default=None, help="folder for the executed copies (default: none kept)")
    args = parser.parse_args(argv)
    environment()
    out = Path(args.out).absolute() if args.out else None
    failed = False
    print(f"{'notebook':<32} {'minutes':>7}  slowest cells (seconds)")
    for name in args.notebooks:
        path = Path(name).absolute()
        seconds, cells, error = run(path, args.timeout, out)
        slowest = ", ".join(f"[{index}] {s:.0f}" for s, index in cells[:3])
        over = seconds > 60 * args.limit
        flag = "  FAILED: " + error if error else f"  OVER {args.limit:g} min" if over else ""
        print(f"{path.name:<32} {seconds / 60:7.2f}  {slowest}{flag}", flush=True)
        failed |= bool(error) or over
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
