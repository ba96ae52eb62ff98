"""`ftkit replicate` as a user runs it: resumable after kill -9, failed units recorded and reported, exit codes
0/1/2, --list, and records that parse and carry what is needed to trust a number later."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import BIN

NUMBERS = ["target_acc", "source_acc_before", "source_acc_after"]


def ftkit(*args, **kwargs):
    return subprocess.run([BIN / "ftkit", *map(str, args)], capture_output=True, text=True, timeout=600, **kwargs)


def test_list_names_every_case_with_its_claim():
    result = ftkit("replicate", "--list")
    assert result.returncode == 0
    assert result.stdout.startswith("digits") and "forget less" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["replicate", "nope"], "unknown case 'nope'"),
    (["replicate"], "give a case"),
    (["replicate", "digits", "--data", "mnist"], "runs on scikit-learn's digits only"),
    (["replicate", "digits", "--seeds", "0"], "must be >= 1"),
    (["replicate", "digits", "--encoder", "awd_lstm"], "the digits case takes no option --encoder"),
    (["replicate", "ulmfit-ablation", "--encoder", "bert"], "unknown encoder 'bert'"),
    (["replicate", "ulmfit-ablation", "--data", "mr"], "TREC-6 only"),
    (["replicate", "digits", "--device", "cuda"] if not os.environ.get("CUDA_VISIBLE_DEVICES") else ["replicate", "nope"], "not available"),
])
def test_bad_input_is_one_message_and_exit_2(tmp_path, args, message):
    result = ftkit(*args, "--out", tmp_path / "out")
    if "cuda" in args and "unknown case" not in message and result.returncode == 0:
        pytest.skip("CUDA is available here")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()  # nothing written


def test_out_that_is_a_file_is_refused_before_the_run(tmp_path):
    (tmp_path / "file").write_text("keep me")
    result = ftkit("replicate", "digits", "--quick", "--out", tmp_path / "file" / "run")
    assert result.returncode == 2 and "which is a file" in result.stderr
    assert (tmp_path / "file").read_text() == "keep me"


def test_kill_9_then_resume_gives_the_uninterrupted_table(tmp_path):
    "Kill the run after two units, rerun: finished records untouched, no corrupt file, the same final table."
    out = tmp_path / "killed"
    process = subprocess.Popen([BIN / "ftkit", "replicate", "digits", "--quick", "--seeds", "1", "--out", out],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / "units").glob("*.json"))) < 2:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    before = {p.name: p.read_bytes() for p in (out / "units").glob("*.json")}
    assert 2 <= len(before) < 6, f"{len(before)} records at the kill"
    for content in before.values():
        json.loads(content)  # every record that exists is whole
    resumed = ftkit("replicate", "digits", "--quick", "--seeds", "1", "--out", out)
    assert resumed.returncode == 0, resumed.stderr
    assert f"skipped {len(before)} already done" in resumed.stdout
    after = {p.name: p.read_bytes() for p in (out / "units").glob("*.json")}
    assert all(after[name] == content for name, content in before.items())  # finished units untouched
    assert not [p for p in (out / "units").iterdir() if p.name.startswith(".")]  # no temporary files left
    fresh = ftkit("replicate", "digits", "--quick", "--seeds", "1", "--out", tmp_path / "fresh")
    assert fresh.returncode == 0
    table = lambda folder: pd.read_csv(folder / "results.csv")[["setting", "seed", "status", *NUMBERS]]
    pd.testing.assert_frame_equal(table(out), table(tmp_path / "fresh"))  # same seed, same numbers on the CPU


def test_records_parse_and_carry_versions(tmp_path):
    result = ftkit("replicate", "digits", "--quick", "--seeds", "1", "--out", tmp_path / "run")
    assert result.returncode == 0
    records = [json.loads(p.read_text()) for p in (tmp_path / "run" / "units").glob("*.json")]
    assert len(records) == 6
    for record in records:
        assert record["status"] == "done" and record["world_size"] == 1 and record["device"] == "cpu"
        assert {"torch", "fastai", "timm", "transformers"} <= set(record["versions"])
        assert record["commit"] and record["seconds"] > 0 and len(record["key"]) == 16
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert set(summary.verdict) == {"— (quick tier: no claim)"}  # a quick tier checks the machinery, it makes no claim


FAILING_CASE = """
import sys
from dataclasses import replace
import ftkit.replicate as r
digits = r.CASES["digits"]
def work(unit):
    if unit.setting == "fine-tune": raise RuntimeError("this unit breaks")
    return digits.work(unit)
r.CASES["digits"] = replace(digits, work=work)
from ftkit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_failed_unit_is_recorded_the_run_goes_on_and_exits_1(tmp_path):
    result = subprocess.run([sys.executable, "-c", FAILING_CASE, "replicate", "digits", "--quick", "--seeds", "1",
                             "--out", tmp_path / "run"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stderr
    assert "failed: fine-tune seed 0" in result.stderr
    table = pd.read_csv(tmp_path / "run" / "results.csv")
    assert table.set_index("setting").status.to_dict()["fine-tune"] == "failed"
    assert (table.status == "done").sum() == 5  # every other unit ran
    assert "this unit breaks" in table.set_index("setting").error["fine-tune"]


def test_every_unit_failing_still_writes_the_results_a_summary_and_a_plot(tmp_path):
    script = FAILING_CASE.replace('if unit.setting == "fine-tune": raise', "raise")
    result = subprocess.run([sys.executable, "-c", script, "replicate", "digits", "--quick", "--seeds", "1",
                             "--out", tmp_path / "run"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert set(pd.read_csv(tmp_path / "run" / "results.csv").status) == {"failed"}
    assert "no unit finished" in (tmp_path / "run" / "summary.csv").read_text()
    assert "no unit finished" in result.stdout and (tmp_path / "run" / "digits.png").is_file()


def test_an_existing_read_only_out_is_one_message_and_exit_2(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    out.chmod(0o555)
    try:
        result = ftkit("replicate", "digits", "--quick", "--out", out)
    finally:
        out.chmod(0o755)
    assert result.returncode == 2 and "cannot write" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert list(out.iterdir()) == []


def test_a_corrupt_record_is_one_message_and_exit_2(tmp_path):
    from ftkit.replicate import digits_units
    unit = digits_units(quick=True, seeds=1)[0]
    (tmp_path / "run" / "units").mkdir(parents=True)
    (tmp_path / "run" / "units" / unit.filename).write_text('{"half": ')
    result = ftkit("replicate", "digits", "--quick", "--seeds", "1", "--out", tmp_path / "run")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert unit.filename in result.stderr and "delete it" in result.stderr


def test_a_second_run_on_the_same_folder_is_one_message_and_exit_2(tmp_path):
    from ftkit.ledger import RunLedger
    with RunLedger(tmp_path / "run").lock():
        result = ftkit("replicate", "digits", "--quick", "--seeds", "1", "--out", tmp_path / "run")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"another run is using {tmp_path / 'run'}" in result.stderr


QUICK_WORK = """
import sys
from dataclasses import replace
import ftkit.replicate as r
digits = r.CASES["digits"]
r.CASES["digits"] = replace(digits, work=lambda unit: {"target_acc": 0.9, "source_acc_before": 0.9, "source_acc_after": 0.8})
from ftkit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_records_reused_from_another_commit_are_reported(tmp_path):
    run = lambda: subprocess.run([sys.executable, "-c", QUICK_WORK, "replicate", "digits", "--quick", "--seeds", "1",
                                  "--out", tmp_path / "run"], capture_output=True, text=True, timeout=600)
    assert run().returncode == 0
    for path in (tmp_path / "run" / "units").glob("*.json"):
        record = json.loads(path.read_text())
        path.write_text(json.dumps({**record, "commit": "0" * 40}))
    result = run()
    assert result.returncode == 0, result.stderr
    assert "6 of the 6 done units" in result.stderr and "--out" in result.stderr
    assert "Warning" not in result.stderr  # said once, in the command's words


def test_digits_units_are_keyed_by_what_decides_their_numbers():
    from ftkit.replicate import CASES, digits_units
    cpu, cuda = digits_units(quick=True, seeds=2, device="cpu"), digits_units(quick=True, seeds=2, device="cuda")
    assert [u.key for u in cpu] == [u.key for u in cuda]  # digits always trains on the CPU
    assert not {"device", "methods", "seeds"} & set(cpu[0].config)
    assert CASES["digits"].device == "cpu"


def test_a_folder_of_ones_own_is_refused_as_out(tmp_path):
    "--out naming a folder that holds someone's files: exit 2 before the run, every file kept."
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "results.csv").write_text("my own table")
    for command in (["replicate", "digits", "--quick"], ["demo"]):
        result = ftkit(*command, "--seeds", "1" if command[0] == "replicate" else "0", "--out", tmp_path / "thesis")
        assert result.returncode == 2 and "already holds files ftkit did not write" in result.stderr, result.stderr
    assert [p.name for p in (tmp_path / "thesis").iterdir()] == ["results.csv"]
    assert (tmp_path / "thesis" / "results.csv").read_text() == "my own table"


def test_report_draws_a_partial_run_and_names_what_it_lacks(tmp_path):
    out = tmp_path / "run"
    assert ftkit("replicate", "digits", "--quick", "--seeds", "1", "--out", out).returncode == 0
    next((out / "units").glob("*scratch*.json")).unlink()  # as if the run had stopped before that unit
    before = {p.name: p.read_bytes() for p in (out / "units").glob("*.json")}
    result = ftkit("replicate", "digits", "--quick", "--seeds", "1", "--out", out, "--report")
    assert result.returncode == 1, result.stderr
    assert "not run yet: scratch seed 0" in result.stderr
    assert {p.name: p.read_bytes() for p in (out / "units").glob("*.json")} == before  # nothing ran, nothing rewritten
    table = pd.read_csv(out / "results.csv")
    assert table.set_index("setting").loc["scratch", "status"] == "missing"
    nothing = ftkit("replicate", "digits", "--report", "--out", tmp_path / "empty")
    assert nothing.returncode == 2 and "nothing to draw" in nothing.stderr and not (tmp_path / "empty").exists()
