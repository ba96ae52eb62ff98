"The package has no undefined names or unused imports (pyflakes), apart from deliberate side-effect imports."
import subprocess

from conftest import BIN, ROOT

# Imported only for their side effects: fastai registers Learner methods (fit_one_cycle, no_bar, ...) on import,
# and fastcore's @patch re-binds a free function's name as a Learner method on purpose.
ALLOWED = ("'fastai.callback.all' imported but unused", "redefinition of unused 'fit_stlr'")


def test_pyflakes_clean():
    result = subprocess.run([BIN / "python", "-m", "pyflakes", "ftkit"], cwd=ROOT, capture_output=True, text=True)
    problems = [line for line in result.stdout.splitlines() if line and not any(a in line for a in ALLOWED)]
    assert not problems, "pyflakes found:\n" + "\n".join(problems)
