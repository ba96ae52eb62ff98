"The `ftkit` console script, run as a user runs it."
import subprocess

import pandas as pd

from conftest import BIN


def ftkit(*args, cwd=None):
    return subprocess.run([BIN / "ftkit", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_help_lists_commands():
    result = ftkit("--help")
    assert result.returncode == 0
    assert "demo" in result.stdout


def test_unknown_command_is_one_clear_error():
    result = ftkit("replicat")
    assert result.returncode == 2
    assert "invalid choice: 'replicat'" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_seed_is_one_clear_error():
    result = ftkit("demo", "--seeds", "-1", "--out", "x")
    assert result.returncode == 2
    assert "seed must be an int in [0, 2**32)" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_out_and_repeated_seeds_fail_before_the_run(tmp_path):
    (tmp_path / "a-file").write_text("")
    result = ftkit("demo", "--seeds", "0", "--out", tmp_path / "a-file")
    assert result.returncode == 2 and "is a file; give a folder" in result.stderr and "Traceback" not in result.stderr
    assert "ftkit demo: DemoConfig" not in result.stdout  # refused before any training
    result = ftkit("demo", "--seeds", "0", "--out", tmp_path / "a-file" / "sub")  # a path through a file
    assert result.returncode == 2 and "which is a file" in result.stderr and "ftkit demo: DemoConfig" not in result.stdout
    result = ftkit("demo", "--seeds", "0", "0", "--out", tmp_path / "out")
    assert result.returncode == 2 and "repeats a seed" in result.stderr


def test_demo_writes_results(tmp_path):
    result = ftkit("demo", "--seeds", "0", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "fine-tune" in result.stdout and "forgetting" in result.stdout
    results = pd.read_csv(tmp_path / "out" / "results.csv")
    assert list(results.method) == ["scratch", "linear probe", "fine-tune", "discriminative LR", "gradual unfreezing", "LP-FT"]
    assert results.target_acc.between(0, 1).all()
    assert results["version.torch"].notna().all()
    assert (tmp_path / "out" / "demo.png").stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # written through a staging folder, none left over
