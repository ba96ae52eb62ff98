"""Careless and hostile input to the forgetting rooms (similarity, forgetting, regularizers, ledger): every attempt
gets the right answer or one clear error that names the argument, the problem and the fix, raised before long work
where the problem can be seen before it; an undefined similarity is NaN with a warning that says why, never a silent
NaN; nothing already written is lost. TinyNet on synthetic data only; the file runs in well under a minute on one core.

The named tests at the top reproduce faults that need more than one call to see; `CASES` at the end is the sweep: one
row per attempt, each `Right(check)` (the call returns something that passes `check`), `Warned(check, needle)` (the
same, and a warning says `needle`), `Refused(error, *needles)` (the call raises `error` and its message says every
needle) or `FailedUnit(*needles)` (the ledger records the unit as failed with an error that says every needle)."""
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

matplotlib.use("Agg")

from ftkit.core import TinyNet, synthetic_classification, synthetic_learner  # noqa: E402
from ftkit.groups import layer_groups  # noqa: E402
from ftkit.forgetting import (diagonal_fisher, feature_distortion, forgetting_measures, probe_accuracy,  # noqa: E402
                              probe_retention, snapshot, weight_drift)
from ftkit.tracker import ForgettingTracker, plot_forgetting  # noqa: E402
from ftkit.ledger import RunLedger, Unit, run_units, write_json_atomic  # noqa: E402
from ftkit.regularizers import EWC, L2SP, LwF, ewc_penalty, l2sp_penalty, lwf_loss, wise_ft, wise_ft_sweep  # noqa: E402
from ftkit.similarity import (MinibatchCKA, as_features, capture_activations, cka, gram_linear, gram_rbf,  # noqa: E402
                              group_features, group_modules, hsic, hsic_unbiased, layer_cka, linear_cka, rbf_cka)

NAN = float("nan")


def _data(n: int = 32, seed: int = 0):
    return synthetic_classification(n, seed=seed)


def _weights(model: nn.Module) -> list:
    return [p.detach().clone() for p in model.parameters()]


def _same(model: nn.Module, weights: list) -> bool:
    return all(torch.equal(p, w) for p, w in zip(model.parameters(), weights))


def _quiet_fit(learn, epochs: int = 1, cbs=()):
    with learn.no_bar(), learn.no_logging():
        learn.fit(epochs, 1e-2, cbs=list(cbs))


def _read_only(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    return folder


# ---------------------------------------------------------------- the tracker's CSV: checked before, written whole
@pytest.mark.parametrize("bad", ["folder", "under a file", "read-only"])
def test_tracker_refuses_a_bad_path_before_training(tmp_path, bad):
    "A CSV path that cannot be written was found only after training, when after_fit tried to write the table."
    (tmp_path / "a-file").write_text("not a folder")
    path = {"folder": tmp_path, "under a file": tmp_path / "a-file" / "forgetting.csv",
            "read-only": _read_only(tmp_path / "locked") / "forgetting.csv"}[bad]
    learn = synthetic_learner(num_examples=64, batch_size=32)
    weights = _weights(learn.model)
    with pytest.raises((ValueError, OSError), match="path"):
        _quiet_fit(learn, cbs=[ForgettingTracker(path=path)])
    assert _same(learn.model, weights), "the model trained before the bad path was refused"


def test_tracker_csv_is_written_whole(tmp_path, monkeypatch):
    "A crash while the table is written leaves the previous CSV as it was, and no half-written file beside it."
    path = tmp_path / "forgetting.csv"
    path.write_text("step,epoch,metric,name,value\n0,0.0,cka,head,1.0\n")
    before = path.read_text()
    original = pd.DataFrame.to_csv

    def half_then_crash(frame, target, *args, **kwargs):
        Path(target).write_text("step,epoch,me")  # what a kill or a full disk leaves half-way
        raise OSError("No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_crash)
    learn = synthetic_learner(num_examples=64, batch_size=32)
    tracker = ForgettingTracker(path=path)
    with pytest.raises(OSError, match="No space left"):
        _quiet_fit(learn, cbs=[tracker])
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["forgetting.csv"]
    monkeypatch.setattr(pd.DataFrame, "to_csv", original)
    _quiet_fit(learn, cbs=[tracker])
    assert pd.read_csv(path).value.tolist() == pytest.approx(tracker.table.value.tolist())


def test_tracker_takes_a_tensor_probe():
    "probe=tensor raised 'Boolean value of Tensor is ambiguous'; it is one batch of inputs, as [tensor] is."
    x = _data(64, seed=5)[0]
    tables = []
    for probe in (x, [x], {"x": x}):
        learn = synthetic_learner(num_examples=64, batch_size=32, seed=0)
        tracker = ForgettingTracker(probe=probe, drift=False)
        _quiet_fit(learn, cbs=[tracker])
        tables.append(tracker.table)
    assert len(tables[0].query("metric == 'cka'")) == 2 * 4  # before and after one epoch, 4 groups
    pd.testing.assert_frame_equal(tables[0], tables[1])
    pd.testing.assert_frame_equal(tables[0], tables[2])


# ---------------------------------------------------------------- the ledger: refused before the work, never lost
def test_ledger_refuses_an_unwritable_folder_before_work(tmp_path):
    "A read-only units folder failed only when the first record was written, after that unit's work was done."
    ledger = RunLedger(tmp_path / "run")
    ledger.units_dir.chmod(0o555)
    calls = []
    with pytest.raises(PermissionError, match="cannot write"):
        run_units(ledger, [Unit("case", "a", {}, 0)], lambda unit: calls.append(unit) or {"accuracy": 0.5}, progress=False)
    assert calls == []
    with pytest.raises(PermissionError, match="cannot write"):
        RunLedger(tmp_path / "run")


def test_ledger_metrics_numpy_converted_tensors_refused(tmp_path):
    "np.float32 / np.int64 metrics crashed json.dump inside the atomic write and stopped the run; tensors too."
    ledger = RunLedger(tmp_path)
    units = [Unit("case", name, {}, 0) for name in ("numpy", "tensor", "after")]
    metrics = {"numpy": {"accuracy": np.float32(0.75), "steps": np.int64(12), "curve": np.array([0.5, 0.75])},
               "tensor": {"accuracy": torch.tensor(0.75)}, "after": {"accuracy": 0.5}}
    report = run_units(ledger, units, lambda unit: metrics[unit.setting], progress=False)
    assert report.failed == [units[1]] and report.ran == [units[0], units[2]]
    assert ledger.record(units[0])["metrics"] == {"accuracy": 0.75, "steps": 12, "curve": [0.5, 0.75]}
    error = ledger.record(units[1])["error"]
    assert "'accuracy'" in error and "Tensor" in error and ".item()" in error
    with pytest.raises(TypeError, match="Tensor"):
        ledger.write(units[2], "done", {"accuracy": torch.tensor(0.5)})
    assert ledger.record(units[2])["metrics"] == {"accuracy": 0.5}  # the record already written is untouched


# ---------------------------------------------------------------- the sweep
@dataclass
class Right:
    check: Callable = lambda result: True  # the returned value is right


@dataclass
class Warned:
    check: Callable      # the returned value is right (typically NaN: the quantity is undefined)...
    needle: str          # ...and a warning says why


class Refused:
    def __init__(self, error, *needles):
        self.error, self.needles = error, needles


class FailedUnit:
    "The ledger records the unit as failed, with an error message that says every needle; the run goes on."
    def __init__(self, *needles):
        self.needles = needles


class Made:
    "What an attempt made: models with their weights at birth, a temporary folder, calls of the work it was given."
    def __init__(self, tmp: Path):
        self.tmp, self.models, self.calls = tmp, [], []

    def learner(self, **kwargs):
        learn = synthetic_learner(num_examples=64, batch_size=32, **kwargs)
        self.models.append((learn.model, _weights(learn.model)))
        return learn

    def trained(self) -> bool:
        return any(not _same(model, weights) for model, weights in self.models)

    def evaluate(self, model) -> float:
        self.calls.append(model)
        return 0.5


@dataclass
class Case:
    name: str
    run: Callable       # Made -> result
    expect: object      # Right, Warned, Refused or FailedUnit
    lost: Callable | None = None  # Made -> True if something written or computed was lost or wasted


model = TinyNet()  # shared by the cases, which never change it
x, y = _data(32)
a, b = (torch.randn(20, width, generator=torch.Generator().manual_seed(width)) for width in (5, 7))
probe = [x[:16], x[16:]]
reference = TinyNet()
identity = lambda v: v  # noqa: E731
finite = lambda value: isinstance(value, float) and math.isfinite(value)  # noqa: E731
is_nan = lambda value: isinstance(value, float) and math.isnan(value)  # noqa: E731


def _fisher_equal(reference):
    return lambda fisher: all(torch.allclose(fisher[n], reference[n], atol=1e-7) for n in reference)


def _constant_gram():
    return gram_linear(torch.ones(20, 5))


def _fit_tracker(made: Made, **kwargs):
    learn = made.learner()
    tracker = ForgettingTracker(**kwargs)
    _quiet_fit(learn, cbs=[tracker])
    return tracker


def _fit_lwf(made: Made, **kwargs):
    learn = made.learner()
    _quiet_fit(learn, cbs=[LwF(TinyNet(), TinyNet().head, **kwargs)])


def _file(made: Made) -> Path:
    path = made.tmp / "a-file"
    path.write_text("not a folder")
    return path


def _run_one(made: Made, metrics, **kwargs):
    "Run one unit whose work returns `metrics`; the ledger and the report for the check."
    made.ledger = RunLedger(made.tmp / "run")
    made.report = run_units(made.ledger, [Unit("case", "a", {}, 0)], lambda unit: metrics, progress=False, **kwargs)
    return made.report


def _unit_record(made: Made) -> dict:
    return made.ledger.record(Unit("case", "a", {}, 0))


def _read_only_ledger(made: Made):
    ledger = RunLedger(made.tmp / "run")
    ledger.units_dir.chmod(0o555)
    return run_units(ledger, [Unit("case", "a", {}, 0)], lambda unit: made.calls.append(unit) or {"a": 1.0}, progress=False)


def _json_over_existing(made: Made):
    made.path = made.tmp / "a.json"
    write_json_atomic(made.path, {"x": 1})
    return write_json_atomic(made.path, {"x": torch.ones(2)})


def _sweep_alphas(made: Made, alphas):
    return wise_ft_sweep(TinyNet(), TinyNet(), {"score": made.evaluate}, alphas=alphas)


def _drift_of_zero_reference():
    zero = {name: torch.zeros_like(p) for name, p in snapshot(model).items()}
    return weight_drift(model, zero)


def _zero_rows(v):
    v = v.clone()
    v[:4] = 0
    return v


CASES = [
    # diagonal_fisher and EWC.from_batches: labels, batches, counts, outputs
    Case("fisher labels out of range", lambda m: diagonal_fisher(model, [(x, y + 10)]), Refused(ValueError, "batch 0", "labels", "[0, 4)")),
    Case("fisher labels out of range, loop", lambda m: diagonal_fisher(model, [(x, y + 10)], method="loop"), Refused(ValueError, "labels", "[0, 4)")),
    Case("fisher labels negative", lambda m: diagonal_fisher(model, [(x, y - 5)]), Refused(ValueError, "labels", "[0, 4)")),
    Case("fisher labels float", lambda m: diagonal_fisher(model, [(x, y.float())]), Refused(TypeError, "labels", "float32", ".long()")),
    Case("fisher labels one-hot", lambda m: diagonal_fisher(model, [(x, nn.functional.one_hot(y, 4))]), Refused(ValueError, "labels", "shape")),
    Case("fisher labels (n, 1)", lambda m: diagonal_fisher(model, [(x, y[:, None])]), Right(_fisher_equal(diagonal_fisher(model, [(x, y)])))),
    Case("fisher fewer labels than examples", lambda m: diagonal_fisher(model, [(x, y[:10])]), Refused(ValueError, "32 examples", "10 labels")),
    Case("fisher empty batch", lambda m: diagonal_fisher(model, [(x[:0], y[:0])]), Refused(ValueError, "batch 0", "no examples")),
    Case("fisher no batches", lambda m: diagonal_fisher(model, []), Refused(ValueError, "got no batches")),
    Case("fisher num_batches 0", lambda m: diagonal_fisher(model, [(x, y)], num_batches=0), Refused(ValueError, "num_batches", ">= 1")),
    Case("fisher num_batches -1", lambda m: diagonal_fisher(model, [(x, y)], num_batches=-1), Refused(ValueError, "num_batches")),
    Case("fisher num_batches 1.5", lambda m: diagonal_fisher(model, [(x, y)] * 2, num_batches=1.5), Refused(TypeError, "num_batches", "whole number")),
    Case("fisher output (batch, 2, 2)", lambda m: diagonal_fisher(nn.Sequential(nn.Linear(16, 4), nn.Unflatten(1, (2, 2))), [(x, y % 2)]),
         Refused(ValueError, "logits", "(batch, classes)", "(32, 2, 2)")),
    Case("fisher output (batch,)", lambda m: diagonal_fisher(nn.Sequential(nn.Linear(16, 1), nn.Flatten(0)), [(x, y % 2)]),
         Refused(ValueError, "logits", "(batch, classes)")),
    Case("fisher one logit", lambda m: diagonal_fisher(nn.Linear(16, 1), [(x, y * 0)]), Refused(ValueError, "1 class", "two")),
    Case("fisher kind typo", lambda m: diagonal_fisher(model, [(x, y)], kind="emprical"), Refused(ValueError, "kind", "'empirical' or 'true'")),
    Case("fisher method typo", lambda m: diagonal_fisher(model, [(x, y)], method="vamp"), Refused(ValueError, "method", "'vmap'")),
    Case("fisher bare tensor batch", lambda m: diagonal_fisher(model, [x]), Refused(TypeError, "batch 0", "(inputs..., labels)")),
    Case("fisher batch without labels", lambda m: diagonal_fisher(model, [(x,)]), Refused(TypeError, "batch 0", "(inputs..., labels)")),
    Case("fisher batches a tensor", lambda m: diagonal_fisher(model, x), Refused(TypeError, "batches", "[(x, y)]")),
    Case("fisher batches one (x, y) pair", lambda m: diagonal_fisher(model, (x, y)), Refused(TypeError, "batch 0", "[(x, y)]")),
    Case("fisher NaN inputs", lambda m: diagonal_fisher(model, [(x * NAN, y)]), Refused(ValueError, "NaN")),
    Case("fisher a generator", lambda m: diagonal_fisher(model, ((x, y) for _ in range(2))), Right(_fisher_equal(diagonal_fisher(model, [(x, y)] * 2)))),
    Case("fisher true kind ignores labels", lambda m: diagonal_fisher(model, [(x, y + 10)], kind="true"),
         Right(lambda f: set(f) == set(snapshot(model)) and all(torch.isfinite(v).all() for v in f.values()))),
    Case("EWC.from_batches kind typo", lambda m: EWC.from_batches(model, [(x, y)], kind="True"), Refused(ValueError, "kind")),
    Case("EWC.from_batches num_batches 0", lambda m: EWC.from_batches(model, [(x, y)], num_batches=0), Refused(ValueError, "num_batches")),
    Case("EWC.from_batches bad exclude", lambda m: EWC.from_batches(model, [(x, y)], exclude="(head"), Refused(ValueError, "exclude", "regular expression")),
    # CKA and its parts
    Case("linear_cka rows differ", lambda m: linear_cka(a, b[:10]), Refused(ValueError, "same examples", "20", "10")),
    Case("linear_cka NaN", lambda m: linear_cka(a * NAN, b), Refused(ValueError, "x", "NaN")),
    Case("linear_cka one NaN in y", lambda m: linear_cka(a, torch.cat([b[:1] * NAN, b[1:]])), Refused(ValueError, "y", "NaN")),
    Case("linear_cka infinite", lambda m: linear_cka(a * float("inf"), b), Refused(ValueError, "infinite")),
    Case("linear_cka constant x", lambda m: linear_cka(torch.ones(20, 5), b), Warned(is_nan, "same for every example")),
    Case("linear_cka constant x, debiased", lambda m: linear_cka(torch.ones(20, 5), b, debiased=True), Warned(is_nan, "same for every example")),
    Case("linear_cka one example", lambda m: linear_cka(a[:1], b[:1]), Refused(ValueError, "at least 2 examples")),
    Case("linear_cka no examples", lambda m: linear_cka(a[:0], b[:0]), Refused(ValueError, "no examples")),
    Case("linear_cka debiased 3 examples", lambda m: linear_cka(a[:3], b[:3], debiased=True), Refused(ValueError, "at least 4 examples")),
    Case("linear_cka numpy", lambda m: linear_cka(a.numpy(), b.numpy()), Right(lambda r: r == pytest.approx(linear_cka(a, b)))),
    Case("linear_cka 1-d", lambda m: linear_cka(a[:, 0], b[:, 0]), Refused(ValueError, "n_examples, n_features")),
    Case("rbf_cka rows differ", lambda m: rbf_cka(a, b[:10]), Refused(ValueError, "same examples")),
    Case("rbf_cka NaN", lambda m: rbf_cka(a * NAN, b), Refused(ValueError, "NaN")),
    Case("rbf_cka constant x", lambda m: rbf_cka(torch.ones(20, 5), b), Warned(is_nan, "same for every example")),
    Case("rbf_cka threshold 0", lambda m: rbf_cka(a, b, threshold=0), Refused(ValueError, "threshold", "> 0")),
    Case("rbf_cka threshold -1", lambda m: rbf_cka(a, b, threshold=-1), Refused(ValueError, "threshold")),
    Case("rbf_cka threshold NaN", lambda m: rbf_cka(a, b, threshold=NAN), Refused(ValueError, "threshold")),
    Case("gram_rbf most rows identical", lambda m: gram_rbf(torch.cat([a[:1]] * 15 + [a[1:6]])), Refused(ValueError, "median", "identical")),
    Case("gram_linear no examples", lambda m: gram_linear(a[:0]), Refused(ValueError, "no examples")),
    Case("cka shapes differ", lambda m: cka(gram_linear(a), gram_linear(b[:10])), Refused(ValueError, "same examples")),
    Case("cka NaN Gram matrix", lambda m: cka(gram_linear(a) * NAN, gram_linear(b)), Refused(ValueError, "NaN")),
    Case("cka numpy Gram matrices", lambda m: cka(gram_linear(a).numpy(), gram_linear(b).numpy()), Right(lambda r: r == pytest.approx(linear_cka(a, b)))),
    Case("cka constant features", lambda m: cka(_constant_gram(), gram_linear(b)), Warned(is_nan, "same for every example")),
    Case("cka debiased 3 examples", lambda m: cka(gram_linear(a[:3]), gram_linear(b[:3]), debiased=True), Refused(ValueError, "at least 4 examples")),
    Case("cka one example", lambda m: cka(gram_linear(a[:1]), gram_linear(b[:1])), Refused(ValueError, "at least 2 examples")),
    Case("hsic not square", lambda m: hsic(torch.randn(4, 5), torch.randn(4, 5)), Refused(ValueError, "square")),
    Case("hsic shapes differ", lambda m: hsic(gram_linear(a), gram_linear(b[:10])), Refused(ValueError, "same examples")),
    Case("hsic one example", lambda m: hsic(gram_linear(a[:1]), gram_linear(b[:1])), Refused(ValueError, "at least 2 examples")),
    Case("hsic_unbiased shapes differ", lambda m: hsic_unbiased(gram_linear(a), gram_linear(b[:10])), Refused(ValueError, "same examples")),
    Case("hsic_unbiased 1-d", lambda m: hsic_unbiased(torch.randn(20), torch.randn(20)), Refused(ValueError, "square")),
    Case("MinibatchCKA compute first", lambda m: MinibatchCKA().compute(), Refused(ValueError, "before any update")),
    Case("MinibatchCKA 3 examples", lambda m: MinibatchCKA().update(a[:3], b[:3]), Refused(ValueError, "at least 4 examples")),
    Case("MinibatchCKA rows differ", lambda m: MinibatchCKA().update(a, b[:10]), Refused(ValueError, "same examples")),
    Case("MinibatchCKA NaN batch", lambda m: MinibatchCKA().update(a * NAN, b).compute(), Warned(is_nan, "NaN")),
    Case("MinibatchCKA constant", lambda m: MinibatchCKA().update(torch.ones(20, 5), b).compute(), Warned(is_nan, "same for every example")),
    Case("capture_activations a list", lambda m: capture_activations([model.stem]).__enter__(), Refused(TypeError, "modules", "{name: module}")),
    Case("capture_activations not a module", lambda m: capture_activations({"a": 3}).__enter__(), Refused(TypeError, "'a'", "module")),
    Case("as_features no batch dimension", lambda m: as_features(torch.tensor(1.0)), Refused(ValueError, "batch dimension")),
    Case("as_features mask of other tokens", lambda m: as_features(torch.randn(4, 6, 3), torch.ones(4, 5)), Refused(ValueError, "mask", "(4, 5)")),
    Case("group_features empty batch", lambda m: group_features(model, {"stem": model.stem}, x[:0]), Refused(ValueError, "no examples")),
    Case("group_modules an int", lambda m: group_modules(model, 3), Refused(TypeError, "groups")),
    Case("layer_cka other architecture", lambda m: layer_cka(nn.Sequential(nn.Linear(16, 4)), model, probe), Refused(ValueError, "reference", "'stem'")),
    Case("layer_cka other widths", lambda m: layer_cka(TinyNet(hidden=8), model, probe), Right(lambda r: list(r) == ["stem", "blocks.0", "blocks.1", "head"]
                                                                                            and all(-1 <= v <= 1 for v in r.values()))),
    Case("layer_cka no batches", lambda m: layer_cka(TinyNet(), model, []), Refused(ValueError, "no probe batches")),
    Case("layer_cka batch of 3", lambda m: layer_cka(TinyNet(), model, [x[:16], x[16:19]]), Refused(ValueError, "at least 4 examples")),
    Case("layer_cka a generator", lambda m: layer_cka(reference, model, (batch for batch in probe)),
         Right(lambda r: r == pytest.approx(layer_cka(reference, model, probe)))),
    Case("layer_cka batches a tensor", lambda m: layer_cka(TinyNet(), model, x), Refused(TypeError, "batches", "[x]")),
    Case("layer_cka batches a dict", lambda m: layer_cka(TinyNet(), model, {"x": x}), Refused(TypeError, "batches", "[x]")),
    Case("layer_cka features not a dict", lambda m: layer_cka(TinyNet(), model, probe, features=lambda mm, bb: 3), Refused(TypeError, "features", "dict")),
    Case("layer_cka NaN batch", lambda m: layer_cka(TinyNet(), model, [x[:16] * NAN]), Warned(lambda r: all(map(is_nan, r.values())), "NaN")),
    Case("group_features chunk 0", lambda m: group_features(model, {"stem": model.stem}, (torch.ones(8, 5).long(), torch.ones(8, 5).long(), y[:8]), chunk=0),
         Refused(ValueError, "chunk", ">= 1")),
    Case("layer_cka empty batch", lambda m: layer_cka(TinyNet(), model, [x[:0]]), Refused(ValueError, "no examples")),
    # weight drift and snapshots
    Case("weight_drift reference of another architecture", lambda m: weight_drift(model, snapshot(nn.Sequential(nn.Linear(16, 4)))),
         Refused(ValueError, "reference", "names")),
    Case("weight_drift model of another architecture", lambda m: weight_drift(model, nn.Sequential(nn.Linear(16, 4))), Refused(ValueError, "names")),
    Case("weight_drift reference wrapped", lambda m: weight_drift(model, nn.Sequential(model)), Refused(ValueError, "0.stem.0.weight")),
    Case("weight_drift shapes differ", lambda m: weight_drift(model, TinyNet(hidden=8)), Refused(ValueError, "shape")),
    Case("weight_drift other head", lambda m: weight_drift(model, TinyNet(num_classes=3)),
         Right(lambda d: is_nan(d["head"]["relative_l2"]) and all(finite(d[g]["relative_l2"]) for g in ("stem", "blocks.0", "blocks.1")))),
    Case("weight_drift empty reference", lambda m: weight_drift(model, {}), Refused(ValueError, "reference")),
    Case("weight_drift reference a list", lambda m: weight_drift(model, [1, 2]), Refused(TypeError, "reference", "snapshot")),
    Case("weight_drift zero reference", lambda m: _drift_of_zero_reference(),
         Right(lambda d: all(v["relative_l2"] == math.inf and is_nan(v["cosine"]) for v in d.values()))),
    Case("weight_drift NaN reference", lambda m: weight_drift(model, {n: t * NAN for n, t in snapshot(model).items()}), Refused(ValueError, "NaN")),
    Case("weight_drift state_dict reference", lambda m: weight_drift(model, model.state_dict()), Right(lambda d: all(v["relative_l2"] == 0 for v in d.values()))),
    Case("snapshot of a tensor", lambda m: snapshot(torch.ones(3)), Refused(TypeError, "model", "nn.Module")),
    Case("snapshot of a state_dict", lambda m: snapshot(model.state_dict()), Refused(TypeError, "model")),
    Case("snapshot bad exclude", lambda m: snapshot(model, exclude="(("), Refused(ValueError, "exclude", "regular expression")),
    # forgetting measures, probes, distortion
    Case("forgetting_measures NaN", lambda m: forgetting_measures({"a": [0.5, NAN]}), Refused(ValueError, "'a'", "NaN")),
    Case("forgetting_measures a string", lambda m: forgetting_measures({"a": "0.5"}), Refused(TypeError, "'a'", "sequence")),
    Case("forgetting_measures a number", lambda m: forgetting_measures({"a": 0.5}), Refused(TypeError, "'a'", "sequence")),
    Case("forgetting_measures a list", lambda m: forgetting_measures([0.5, 0.4]), Refused(TypeError, "history", "dict")),
    Case("forgetting_measures a tensor", lambda m: forgetting_measures({"a": torch.tensor([0.5, 0.25])}), Right(lambda r: r["a"]["forgetting"] == 0.25)),
    Case("forgetting_measures empty", lambda m: forgetting_measures({}), Refused(ValueError, "at least one task")),
    Case("forgetting_measures one value", lambda m: forgetting_measures({"a": [0.5]}), Refused(ValueError, "before and after")),
    Case("probe_accuracy train lengths differ", lambda m: probe_accuracy(x, y[:10], x, y), Refused(ValueError, "train_features", "train_labels", "32", "10")),
    Case("probe_accuracy test lengths differ", lambda m: probe_accuracy(x, y, x, y[:10]), Refused(ValueError, "test_features", "test_labels")),
    Case("probe_accuracy one class", lambda m: probe_accuracy(x, y * 0, x, y), Refused(ValueError, "train_labels", "one class")),
    Case("probe_accuracy no train examples", lambda m: probe_accuracy(x[:0], y[:0], x, y), Refused(ValueError, "train_features", "no examples")),
    Case("probe_accuracy no test examples", lambda m: probe_accuracy(x, y, x[:0], y[:0]), Refused(ValueError, "test_features", "no examples")),
    Case("probe_accuracy NaN features", lambda m: probe_accuracy(x * NAN, y, x, y), Refused(ValueError, "train_features", "NaN")),
    Case("probe_accuracy C 0", lambda m: probe_accuracy(x, y, x, y, C=0), Refused(ValueError, "'C'")),
    Case("probe_accuracy C NaN", lambda m: probe_accuracy(x, y, x, y, C=NAN), Refused(ValueError, "'C'")),
    Case("probe_accuracy (n, c, h) features", lambda m: probe_accuracy(x.reshape(32, 4, 4), y, x.reshape(32, 4, 4), y),
         Right(lambda r: r == probe_accuracy(x, y, x, y))),
    Case("probe_accuracy feature widths differ", lambda m: probe_accuracy(x, y, x[:, :8], y), Refused(ValueError, "test_features", "16")),
    Case("probe_accuracy labels (n, 1)", lambda m: probe_accuracy(x, y[:, None], x, y[:, None]), Right(lambda r: r == probe_accuracy(x, y, x, y))),
    Case("probe_accuracy continuous labels", lambda m: probe_accuracy(x, y.float() + 0.5, x, y.float() + 0.5), Refused(ValueError, "train_labels", "class")),
    Case("probe_accuracy one-hot labels", lambda m: probe_accuracy(x, nn.functional.one_hot(y), x, y), Refused(ValueError, "train_labels", "shape")),
    Case("probe_retention 3-tuple", lambda m: probe_retention(identity, identity, {"a": (x, y, x)}), Refused(ValueError, "'a'", "(x_train, y_train, x_test, y_test)")),
    Case("probe_retention a list", lambda m: probe_retention(identity, identity, [(x, y, x, y)]), Refused(TypeError, "tasks", "dict")),
    Case("probe_retention encoder drops rows", lambda m: probe_retention(lambda v: v[:5], identity, {"a": (x, y, x, y)}),
         Refused(ValueError, "'a'", "encode_before", "5", "32")),
    Case("probe_retention encoder not callable", lambda m: probe_retention(identity, x, {"a": (x, y, x, y)}), Refused(TypeError, "encode_after")),
    Case("probe_retention no tasks", lambda m: probe_retention(identity, identity, {}), Right(lambda r: r == {})),
    Case("feature_distortion empty set", lambda m: feature_distortion(identity, identity, {"a": x[:0]}), Refused(ValueError, "'a'", "no examples")),
    Case("feature_distortion encoder drops rows", lambda m: feature_distortion(identity, lambda v: v[:5], {"a": x}), Refused(ValueError, "encode_after", "(5, 16)")),
    Case("feature_distortion widths differ", lambda m: feature_distortion(identity, lambda v: v[:, :8], {"a": x}), Refused(ValueError, "shape", "(32, 8)")),
    Case("feature_distortion inputs a tensor", lambda m: feature_distortion(identity, identity, x), Refused(TypeError, "inputs", "dict")),
    Case("feature_distortion numpy encoders", lambda m: feature_distortion(lambda v: v.numpy(), lambda v: 2 * v.numpy(), {"a": x}),
         Right(lambda r: r["a"]["relative_change"] == pytest.approx(1.0) and r["a"]["one_minus_cka"] == pytest.approx(0, abs=1e-9))),
    Case("feature_distortion zero features before", lambda m: feature_distortion(lambda v: 0 * v, identity, {"a": x}),
         Warned(lambda r: is_nan(r["a"]["relative_change"]) and is_nan(r["a"]["one_minus_cka"]), "zero")),
    Case("feature_distortion some zero rows", lambda m: feature_distortion(_zero_rows, lambda v: 2 * v, {"a": x}),
         Warned(lambda r: r["a"]["relative_change"] == pytest.approx(1.0), "4 of 32")),
    Case("feature_distortion one example", lambda m: feature_distortion(identity, lambda v: v + 1, {"a": x[:1]}), Refused(ValueError, "'a'", "at least 2")),
    # the tracker and its dashboard
    Case("tracker probe a tensor", lambda m: _fit_tracker(m, probe=x), Right(lambda t: len(t.table.query("metric == 'cka'")) == 8)),
    Case("tracker probe a dict of inputs", lambda m: _fit_tracker(m, probe={"x": x}), Right(lambda t: len(t.table.query("metric == 'cka'")) == 8)),
    Case("tracker path a folder", lambda m: _fit_tracker(m, path=m.tmp), Refused((ValueError, OSError), "path", "folder"), lambda m: m.trained()),
    Case("tracker path under a file", lambda m: _fit_tracker(m, path=_file(m) / "t.csv"), Refused(OSError, "path", "a file"), lambda m: m.trained()),
    Case("tracker path read-only", lambda m: _fit_tracker(m, path=_read_only(m.tmp / "locked") / "t.csv"), Refused(OSError, "path", "cannot write"),
         lambda m: m.trained()),
    Case("tracker every 0", lambda m: ForgettingTracker(every=0), Refused(ValueError, "every")),
    Case("tracker every -1", lambda m: ForgettingTracker(every=-1), Refused(ValueError, "every")),
    Case("tracker every 1.5", lambda m: ForgettingTracker(every=1.5), Refused(TypeError, "every", "whole number")),
    Case("tracker every True", lambda m: ForgettingTracker(every=True), Refused(TypeError, "every")),
    Case("tracker every '2'", lambda m: ForgettingTracker(every="2"), Refused(TypeError, "every")),
    Case("tracker sources a list", lambda m: ForgettingTracker(sources=[identity]), Refused(TypeError, "sources", "dict")),
    Case("tracker sources a function", lambda m: ForgettingTracker(sources=identity), Refused(TypeError, "sources", "dict")),
    Case("tracker sources a metric name", lambda m: ForgettingTracker(sources={"s": "accuracy"}), Refused(ValueError, "function model -> accuracy")),
    Case("tracker target a number", lambda m: ForgettingTracker(targets={"t": 3}), Refused(TypeError, "targets", "'t'")),
    Case("tracker probe batch of 3", lambda m: _fit_tracker(m, probe=[x[:3]]), Refused(ValueError, "at least 4 examples"), lambda m: m.trained()),
    Case("tracker drift a string", lambda m: ForgettingTracker(drift="no"), Refused(TypeError, "drift")),
    Case("tracker summary without sources", lambda m: _fit_tracker(m).summary(), Refused(ValueError, "sources")),
    Case("plot_forgetting a CSV path", lambda m: plot_forgetting(str(_fit_tracker(m, path=m.tmp / "t.csv").csv_path)),
         Right(lambda fig: len(fig.axes[1].lines) == 4)),
    Case("plot_forgetting columns missing", lambda m: plot_forgetting(pd.DataFrame({"a": [1]})), Refused(ValueError, "table", "columns")),
    Case("tracker groups of a copy", lambda m: _fit_tracker(m, groups=layer_groups(TinyNet())), Refused(ValueError, "not this TinyNet's"), lambda m: m.trained()),
    # regularizers
    Case("L2SP alpha -1", lambda m: L2SP(alpha=-1), Refused(ValueError, "alpha", ">= 0")),
    Case("L2SP beta NaN", lambda m: L2SP(beta=NAN), Refused(ValueError, "beta")),
    Case("L2SP alpha a string", lambda m: L2SP(alpha="0.1"), Refused(TypeError, "alpha", "number")),
    Case("l2sp_penalty alpha -1", lambda m: l2sp_penalty(model, snapshot(model), alpha=-1), Refused(ValueError, "alpha")),
    Case("EWC lam -1", lambda m: EWC({}, {}, lam=-1), Refused(ValueError, "lam", ">= 0")),
    Case("EWC lam NaN", lambda m: EWC({}, {}, lam=NAN), Refused(ValueError, "lam")),
    Case("EWC fisher None", lambda m: EWC(None, {}), Refused(TypeError, "fisher", "dict")),
    Case("EWC negative fisher", lambda m: EWC({"head.bias": -torch.ones(4)}, {"head.bias": torch.zeros(4)}), Refused(ValueError, "fisher", "negative")),
    Case("ewc_penalty lam NaN", lambda m: ewc_penalty(model, {}, {}, lam=NAN), Refused(ValueError, "lam")),
    Case("LwF T 0", lambda m: LwF(model, model.head, "blocks", T=0), Refused(ValueError, "T", "> 0")),
    Case("LwF T -1", lambda m: LwF(model, model.head, "blocks", T=-1), Refused(ValueError, "T")),
    Case("LwF lam -1", lambda m: LwF(model, model.head, "blocks", lam=-1), Refused(ValueError, "lam")),
    Case("LwF source a string", lambda m: LwF("model", model.head, "blocks"), Refused(TypeError, "source_model")),
    Case("LwF features typo", lambda m: _fit_lwf(m, features="blokcs"), Refused(ValueError, "features", "'blokcs'", "blocks"), lambda m: m.trained()),
    Case("L2SP bad exclude at fit", lambda m: _quiet_fit(m.learner(), cbs=[L2SP(exclude="((")]), Refused(ValueError, "exclude", "regular expression"),
         lambda m: m.trained()),
    Case("EWC of another model at fit", lambda m: _quiet_fit(m.learner(), cbs=[EWC({"w": torch.ones(1)}, {"w": torch.ones(1)})]),
         Refused(ValueError, "none of the Fisher's", "snapshot"), lambda m: m.trained()),
    Case("lwf_loss T 0", lambda m: lwf_loss(torch.randn(4, 3), torch.randn(4, 3), T=0), Refused(ValueError, "T")),
    Case("lwf_loss T -1", lambda m: lwf_loss(torch.randn(4, 3), torch.randn(4, 3), T=-1), Refused(ValueError, "T")),
    Case("lwf_loss shapes differ", lambda m: lwf_loss(torch.randn(4, 3), torch.randn(4, 5)), Refused(ValueError, "teacher_logits", "(4, 5)")),
    Case("wise_ft alpha -0.1", lambda m: wise_ft(model, TinyNet(), -0.1), Refused(ValueError, "alpha", "[0, 1]")),
    Case("wise_ft alpha NaN", lambda m: wise_ft(model, TinyNet(), NAN), Refused(ValueError, "alpha")),
    Case("wise_ft alpha a string", lambda m: wise_ft(model, TinyNet(), "0.5"), Refused(TypeError, "alpha", "number")),
    Case("wise_ft other architecture", lambda m: wise_ft(model, nn.Linear(16, 4), 0.5), Refused(ValueError, "architecture")),
    Case("wise_ft other head", lambda m: wise_ft(model, TinyNet(num_classes=3), 0.5), Refused(ValueError, "differ in", "head.weight")),
    Case("wise_ft finetuned a state_dict", lambda m: wise_ft(model, TinyNet().state_dict(), 0.5), Refused(TypeError, "finetuned", "nn.Module")),
    Case("wise_ft pretrained a list", lambda m: wise_ft([1], TinyNet(), 0.5), Refused(TypeError, "pretrained")),
    Case("wise_ft_sweep no alphas", lambda m: _sweep_alphas(m, []), Refused(ValueError, "alphas", "empty")),
    Case("wise_ft_sweep alpha 2", lambda m: _sweep_alphas(m, [0, 2]), Refused(ValueError, "alphas", "[0, 1]"), lambda m: bool(m.calls)),
    Case("wise_ft_sweep alphas a number", lambda m: _sweep_alphas(m, 0.5), Refused(TypeError, "alphas")),
    Case("wise_ft_sweep evaluate a function", lambda m: wise_ft_sweep(model, TinyNet(), identity, alphas=[0, 1]), Refused(TypeError, "evaluate", "dict")),
    # the ledger
    Case("RunLedger folder a file", lambda m: RunLedger(_file(m)), Refused(OSError, "is a file")),
    Case("RunLedger folder under a file", lambda m: RunLedger(_file(m) / "run"), Refused(OSError, "lies under")),
    Case("RunLedger folder read-only", lambda m: RunLedger(_read_only(m.tmp / "locked") / "run"), Refused(OSError, "cannot write")),
    Case("RunLedger empty path", lambda m: RunLedger(""), Refused(ValueError, "empty")),
    Case("run_units units folder read-only", _read_only_ledger, Refused(OSError, "cannot write"), lambda m: bool(m.calls)),
    Case("run_units numpy float32", lambda m: _run_one(m, {"accuracy": np.float32(0.75)}), Right(lambda r: _unit_record(r.made)["metrics"] == {"accuracy": 0.75})),
    Case("run_units numpy int64", lambda m: _run_one(m, {"steps": np.int64(3)}), Right(lambda r: _unit_record(r.made)["metrics"] == {"steps": 3})),
    Case("run_units numpy NaN", lambda m: _run_one(m, {"loss": np.float32("nan")}), FailedUnit("NaN metric", "loss")),
    Case("run_units tensor metric", lambda m: _run_one(m, {"accuracy": torch.tensor(0.5)}), FailedUnit("'accuracy'", "Tensor", ".item()")),
    Case("run_units metric named seed", lambda m: _run_one(m, {"seed": 1.0}), FailedUnit("'seed'", "reserved")),
    Case("run_units metric name not a string", lambda m: _run_one(m, {("a", 1): 1.0}), FailedUnit("metric names", "str")),
    Case("run_units work returns a list", lambda m: _run_one(m, [0.5]), FailedUnit("dict of metrics")),
    Case("run_units duplicate units", lambda m: run_units(RunLedger(m.tmp), [Unit("c", "s")] * 2, lambda u: {}, progress=False),
         Refused(ValueError, "same case, setting")),
    Case("run_units work not callable", lambda m: run_units(RunLedger(m.tmp), [Unit("c", "s")], 3, progress=False), Refused(TypeError, "work", "callable"),
         lambda m: any(RunLedger(m.tmp).records())),
    Case("run_units units a generator", lambda m: run_units(RunLedger(m.tmp), (Unit("c", "s", {}, s) for s in range(2)), lambda u: {"a": 1.0}, progress=False),
         Right(lambda r: len(r.ran) == 2)),
    Case("run_units units hold a string", lambda m: run_units(RunLedger(m.tmp), ["unit"], lambda u: {}, progress=False), Refused(TypeError, "units", "Unit")),
    Case("run_units ledger a path", lambda m: run_units(str(m.tmp), [Unit("c", "s")], lambda u: {}, progress=False), Refused(TypeError, "ledger", "RunLedger")),
    Case("Unit config a list", lambda m: Unit("c", "s", [1, 2]), Refused(TypeError, "config", "dict")),
    Case("Unit config numpy int", lambda m: Unit("c", "s", {"n": np.int64(3)}), Refused(TypeError, "config must be JSON data")),
    Case("RunLedger.write tensor metric", lambda m: RunLedger(m.tmp).write(Unit("c", "s"), "done", {"a": torch.ones(1)}), Refused(TypeError, "'a'", "Tensor"),
         lambda m: any((m.tmp / "units").glob("*.json"))),
    Case("RunLedger.table of strings", lambda m: RunLedger(m.tmp).table(["unit"]), Refused(TypeError, "Unit(case, setting")),
    Case("RunLedger.write status typo", lambda m: RunLedger(m.tmp).write(Unit("c", "s"), "finished"), Refused(ValueError, "status")),
    Case("write_json_atomic a tensor", _json_over_existing, Refused(TypeError, "JSON", "Tensor", ".item()"),
         lambda m: json.loads(m.path.read_text()) != {"x": 1} or len(list(m.tmp.iterdir())) != 1),
]


def _attach(result, made):
    if hasattr(result, "ran"):
        result.made = made
    return result


def _warnings_say(caught, needle) -> bool:
    return any(needle in str(w.message) for w in caught)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, tmp_path):
    made = Made(tmp_path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if isinstance(case.expect, Refused):
                with pytest.raises(case.expect.error) as error:
                    case.run(made)
                missing = [n for n in case.expect.needles if n not in str(error.value)]
                assert not missing, f"the message {str(error.value)!r} does not say {missing}"
            elif isinstance(case.expect, FailedUnit):
                report = case.run(made)
                record = _unit_record(made)
                assert record["status"] == "failed" and report.failed, record
                missing = [n for n in case.expect.needles if n not in record["error"]]
                assert not missing, f"the recorded error {record['error']!r} does not say {missing}"
            else:
                result = _attach(case.run(made), made)
                assert case.expect.check(result), f"wrong result {result!r}"
                if isinstance(case.expect, Warned):
                    assert _warnings_say(caught, case.expect.needle), f"no warning says {case.expect.needle!r}: {[str(w.message) for w in caught]}"
        assert case.lost is None or not case.lost(made), "something computed or written was lost or wasted"
    finally:
        for folder in tmp_path.rglob("*"):
            if folder.is_dir():
                folder.chmod(0o755)
