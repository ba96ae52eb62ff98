import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv's bin/, where nbdev_* and ftkit live


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes minutes; run with `pytest -m slow`")
    config.addinivalue_line("markers", "gpu: needs CUDA")


def pytest_collection_modifyitems(config, items):
    "Skip `slow`/`gpu` tests unless selected with -m, like nbdev_test's tst_flags for notebooks."
    if config.getoption("-m"):
        return
    for item in items:
        for flag in ("slow", "gpu"):
            if flag in item.keywords:
                item.add_marker(pytest.mark.skip(reason=f"flagged {flag}: run with `pytest -m {flag}`"))


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def artifacts() -> Path:
    "Folder for test artifacts (screenshots): not committed (.gitignore)."
    path = Path(os.environ.get("FTKIT_ARTIFACTS", ROOT / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path
