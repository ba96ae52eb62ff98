"The package has no undefined names or unused imports (pyflakes), apart from deliberate side-effect imports."
import subprocess

from conftest import BIN, ROOT

# Imported only for their side effects: fastai registers Learner methods (fit_one_cycle, no_bar, ...) on import,
# and fastcore's @patch re-binds a free function's name as a Learner method on purpose.
ALLOWED = ("'fastai.callback.all' imported but unused", "redefinition of unused 'fit_stlr'")


def _all_module_star_import(line: str) -> bool:
    "ftkit.all is star imports by design (fastai's convention): pyflakes' notes about them are expected there."
    return line.startswith("ftkit/all.py") and ("import *" in line or "imported but unused" in line)


def test_pyflakes_clean():
    result = subprocess.run([BIN / "python", "-m", "pyflakes", "ftkit"], cwd=ROOT, capture_output=True, text=True)
    problems = [line for line in result.stdout.splitlines() if line and not any(a in line for a in ALLOWED)
                and not _all_module_star_import(line)]
    assert not problems, "pyflakes found:\n" + "\n".join(problems)
