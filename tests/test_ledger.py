"""The run ledger's guarantees that need files, a second process or a hand-edited record: a record is found by its
full key and checked to be that unit's, records from another commit are reported when reused, non-finite metrics fail
their unit, and a second run on the same folder is refused without touching the first run's files."""
import json
import math
import subprocess
import sys
import textwrap
import warnings

import pytest

from ftkit.ledger import CorruptRecordError, LedgerBusyError, OtherCommitWarning, RunLedger, Unit, run_units


def _run(ledger, units, metrics=lambda unit: {"accuracy": 0.5}):
    return run_units(ledger, units, metrics, progress=False)


def test_filename_carries_the_full_key(tmp_path):
    unit = Unit("case", "setting", {"lr": 0.1}, 3)
    assert unit.filename.endswith(f"--{unit.key}.json") and len(unit.key) == 16
    ledger = RunLedger(tmp_path)
    _run(ledger, [unit])
    assert [p.name for p in ledger.units_dir.glob("*.json")] == [unit.filename]


def test_a_record_under_another_units_name_is_corrupt(tmp_path):
    "A record copied (or renamed) onto another unit's file is refused, never read as that unit's result."
    ledger = RunLedger(tmp_path)
    a, b = Unit("case", "a", {}, 0), Unit("case", "b", {}, 0)
    _run(ledger, [a])
    ledger.path(b).write_text(ledger.path(a).read_text())
    with pytest.raises(CorruptRecordError) as error:
        ledger.record(b)
    assert ledger.path(b).name in str(error.value) and "delete it" in str(error.value)
    with pytest.raises(CorruptRecordError):
        _run(ledger, [b])


def test_a_record_whose_config_was_edited_is_corrupt(tmp_path):
    ledger = RunLedger(tmp_path)
    unit = Unit("case", "a", {"lr": 0.1}, 0)
    _run(ledger, [unit])
    record = json.loads(ledger.path(unit).read_text())
    record["config"]["lr"] = 0.2
    ledger.path(unit).write_text(json.dumps(record))
    with pytest.raises(CorruptRecordError, match="does not match"):
        ledger.record(unit)


def test_done_records_from_another_commit_warn_once_with_count_and_fix(tmp_path):
    ledger = RunLedger(tmp_path)
    units = [Unit("case", "a", {}, seed) for seed in range(3)]
    _run(ledger, units)
    for unit in units[:2]:
        record = json.loads(ledger.path(unit).read_text())
        record["commit"] = "0" * 40
        ledger.path(unit).write_text(json.dumps(record))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = _run(ledger, units)
    said = [str(w.message) for w in caught if issubclass(w.category, OtherCommitWarning)]
    assert len(said) == 1 and "2 of the 3 done units" in said[0] and "new run folder" in said[0]
    assert report.other_commit == units[:2] and "2 made at another commit" in repr(report)
    with warnings.catch_warnings(record=True) as caught:  # the same commit: nothing to say
        warnings.simplefilter("always")
        report = _run(ledger, units[2:])
    assert not [w for w in caught if issubclass(w.category, OtherCommitWarning)] and report.other_commit == []


@pytest.mark.parametrize("metrics, needle", [
    ({"loss": math.inf}, "loss"),
    ({"loss": -math.inf}, "loss"),
    ({"loss": math.nan}, "loss"),
    ({"curve": [0.5, math.inf]}, "curve[1]"),
    ({"pair": (1.0, math.nan)}, "pair[1]"),
    ({"nested": {"x": [math.nan]}}, "nested['x'][0]"),
])
def test_non_finite_metrics_fail_the_unit_and_records_are_strict_json(tmp_path, metrics, needle):
    ledger = RunLedger(tmp_path)
    unit = Unit("case", "a", {}, 0)
    report = _run(ledger, [unit], lambda u: metrics)
    assert report.failed == [unit]
    record = ledger.record(unit)
    assert "non-finite metric" in record["error"] and needle in record["error"]
    json.loads(ledger.path(unit).read_text(), parse_constant=lambda name: pytest.fail(f"the record holds {name}"))
    with pytest.raises(ValueError, match="non-finite"):
        ledger.write(unit, "done", metrics)


HOLDER = """
import sys, time
from pathlib import Path
from ftkit.ledger import RunLedger, Unit, run_units
folder = Path(sys.argv[1])
def work(unit):
    (folder / "units" / ".live-record.json.tmp").write_text("half")  # a live writer's temporary file
    print("working", flush=True)
    time.sleep(60)
    return {"accuracy": 1.0}
run_units(RunLedger(folder), [Unit("case", "slow")], work, progress=False)
"""


def test_a_second_run_on_the_same_folder_is_refused_and_leaves_the_first_alone(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "working"
        ledger = RunLedger(tmp_path)  # opening a ledger is harmless: it deletes nothing
        live = tmp_path / "units" / ".live-record.json.tmp"
        assert live.exists()
        with pytest.raises(LedgerBusyError, match=f"another run is using {tmp_path}"):
            _run(ledger, [Unit("case", "other")])
        assert live.exists() and not ledger.path(Unit("case", "other")).exists()
    finally:
        holder.kill()
        holder.wait(timeout=30)
    report = _run(RunLedger(tmp_path), [Unit("case", "other")])  # the lock dies with its process
    assert len(report.ran) == 1 and not live.exists()  # the stale temporary file is cleared under the lock


def test_the_lock_is_released_after_a_run_and_after_a_failing_one(tmp_path):
    ledger = RunLedger(tmp_path)
    _run(ledger, [Unit("case", "a")])
    with pytest.raises(TypeError):
        run_units(ledger, [Unit("case", "b")], 3, progress=False)
    with ledger.lock():
        pass
    script = textwrap.dedent(f"""
        from ftkit.ledger import RunLedger
        with RunLedger({str(tmp_path)!r}).lock(): print("locked")
    """)
    assert subprocess.run([sys.executable, "-c", script], capture_output=True, text=True).stdout.strip() == "locked"
