"""Careless and hostile input to the training rooms (schedules, freezing, chains, caching, cache plans, training):
every attempt gets the right answer or one clear error that names the argument, the problem and the fix, raised
before anything trains, and nothing trains that should not (a parameter frozen before a run stays as it was).
TinyNet on synthetic data only; the whole file runs in well under a minute on one CPU core.

The named tests at the top reproduce single faults; `CASES` at the end is the sweep: one row per attempt, each
either `Right(check)` (the call must return something that passes `check`) or `Refused(error, *needles)` (the call
must raise `error` with every needle in its message, and no weight of the models it made may have changed)."""
import copy
import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import torch
from fastai.data.core import DataLoaders
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from ftkit.cache_plans import CacheCosts, CachePolicy, decide_cache, measure_cache_costs, plan_cache
from ftkit.caching import ActivationStore, CachedPrefix, frozen_boundary
from ftkit.chains import BertChain, PoolHead, SequentialChain, model_chain
from ftkit.core import TinyNet, synthetic_classification, synthetic_learner
from ftkit.freezing import FreezePolicy, eval_modules, set_trainable
from ftkit.groups import layer_groups, splitter
from ftkit.schedules import (OneCycle, Stage, chain_thaw, check_schedule, freeze_then_unfreeze, full_fine_tuning,
                             gradual_unfreezing, last_layer_only, lp_ft, plot_timeline, surgical)
from ftkit.training import AutoRGN, fit_schedule, train_schedule

NAMES = ["stem", "blocks.0", "blocks.1", "head"]  # TinyNet's layer groups
CE = nn.functional.cross_entropy


def _loader(num_examples: int = 64, batch_size: int = 32, **kwargs) -> DataLoader:
    x, y = synthetic_classification(max(num_examples, 1))
    return DataLoader(TensorDataset(x[:num_examples], y[:num_examples]), batch_size=batch_size, **kwargs)


def _accuracy(output, target):
    return (output.argmax(1) == target).float().mean()


def _learner(**kwargs):
    return synthetic_learner(num_examples=64, batch_size=32, splitter=splitter, **kwargs)


def _quiet_fit(learn, *args, **kwargs):
    with learn.no_bar(), learn.no_logging():
        return fit_schedule(learn, *args, **kwargs)


def _weights(model: nn.Module) -> list:
    return [p.detach().clone() for p in model.parameters()]


def _same(model: nn.Module, weights: list) -> bool:
    return all(torch.equal(p, w) for p, w in zip(model.parameters(), weights))


# ---------------------------------------------------------------- groups of another model (one fault, every door)
def test_groups_of_a_copy_are_refused_by_every_runner():
    "A head-only stage with the groups of a copy would train the copy's body while the timeline says lr 0."
    model = TinyNet()
    strangers = layer_groups(copy.deepcopy(model), include_frozen=True)
    weights = _weights(model)
    with pytest.raises(ValueError, match="another model"):
        train_schedule(model, last_layer_only(NAMES), _loader(), CE, groups=strangers)
    with pytest.raises(ValueError, match="another model"):
        set_trainable(model, strangers, ["head"])
    with pytest.raises(ValueError, match="another model"):
        eval_modules(model, strangers, ["head"])
    with pytest.raises(ValueError, match="another model"):
        plan_cache(model, strangers, last_layer_only(NAMES), CachePolicy(True))
    learn = _learner()
    learner_weights = _weights(learn.model)
    with pytest.raises(ValueError, match="another model"):
        _quiet_fit(learn, last_layer_only(NAMES), groups=layer_groups(copy.deepcopy(learn.model), include_frozen=True))
    assert _same(model, weights) and _same(learn.model, learner_weights)


def test_groups_of_this_model_train_only_their_stage():
    model = TinyNet()
    weights = _weights(model)
    timeline = train_schedule(model, last_layer_only(NAMES), _loader(), CE, groups=layer_groups(model, include_frozen=True))
    changed = [name for (name, p), w in zip(model.named_parameters(), weights) if not torch.equal(p, w)]
    assert changed == ["head.weight", "head.bias"] and (timeline["lr.stem"] == 0).all()


# ---------------------------------------------------------------- learning rates
@pytest.mark.parametrize("lr_max, needles", [
    (-1, ("lr_max", "-1")), (0, ("lr_max", "0")), (float("nan"), ("lr_max", "nan")), (float("inf"), ("lr_max", "inf")),
    (slice(-1e-3, 1e-2), ("lr_max", "lower")), (slice(1e-3, -1e-2), ("lr_max", "upper")),
    ([1e-3, float("nan"), 1e-3, 1e-3], ("lr_max", "lr[1]")), ([1e-3, -1e-3, 1e-3, 1e-3], ("lr_max", "lr[1]")),
    ([1e-3, 1e-3], ("lr_max", "2 learning rates for 4")), ("fast", ("lr_max", "number")),
])
@pytest.mark.parametrize("runner", ["fit_schedule", "train_schedule"])
def test_learning_rates_are_checked_before_anything_trains(runner, lr_max, needles):
    error = TypeError if isinstance(lr_max, str) else ValueError
    if runner == "fit_schedule":
        learn = _learner()
        model, run = learn.model, lambda: _quiet_fit(learn, full_fine_tuning(NAMES), lr_max=lr_max)
    else:
        model = TinyNet()
        run = lambda: train_schedule(model, full_fine_tuning(NAMES), _loader(), CE, lr_max=lr_max)
    weights = _weights(model)
    with pytest.raises(error) as raised:
        run()
    assert all(n in str(raised.value) for n in needles), str(raised.value)
    assert _same(model, weights)


def test_lr_max_none_is_the_learners_rate_in_fastai_and_refused_in_the_plain_loop():
    learn = _learner()
    timeline = _quiet_fit(learn, full_fine_tuning(NAMES), lr_max=None)  # fastai: the Learner's own rate, learn.lr
    assert 0 < timeline["lr.head"].iloc[0] <= learn.lr
    with pytest.raises(TypeError, match=r"stage 0 \(all\) has no learning rate \(lr_max=None\)"):
        train_schedule(TinyNet(), full_fine_tuning(NAMES), _loader(), CE, lr_max=None)


@pytest.mark.parametrize("runner", ["fit_schedule", "train_schedule"])
def test_a_late_stage_with_a_bad_rate_stops_the_run_before_the_first_stage(runner):
    schedule = [Stage("head", 1, 1e-2, label="probe"), Stage(tuple(NAMES), 1, [1e-3] * 3, label="all")]  # 3 rates, 4 groups
    model = _learner().model if runner == "fit_schedule" else TinyNet()
    weights = _weights(model)
    with pytest.raises(ValueError, match=r"stage 1 \(all\).*lr_max"):
        if runner == "fit_schedule":
            learn = _learner()
            model, weights = learn.model, _weights(learn.model)
            _quiet_fit(learn, schedule)
        else:
            train_schedule(model, schedule, _loader(), CE)
    assert _same(model, weights)


@pytest.mark.parametrize("runner", ["fit_schedule", "train_schedule"])
def test_a_diverging_run_stops_with_where_and_what_to_try(runner):
    if runner == "fit_schedule":
        learn = _learner()
        model, run = learn.model, lambda: _quiet_fit(learn, full_fine_tuning(NAMES, 2), lr_max=1e6)
    else:
        model = TinyNet()
        run = lambda: train_schedule(model, full_fine_tuning(NAMES, 2), _loader(128), CE, lr_max=1e6)
    with pytest.raises(FloatingPointError) as raised:
        run()
    message = str(raised.value)
    assert "stage 0" in message and "epoch" in message and "lower the learning rate" in message, message


@pytest.mark.parametrize("runner", ["fit_schedule", "train_schedule"])
def test_nan_inputs_stop_at_the_first_step_with_the_weights_untouched(runner):
    x, y = synthetic_classification(64)
    if runner == "fit_schedule":
        learn = _learner()
        learn.dls = DataLoaders.from_dsets(list(zip(x * float("nan"), y)), list(zip(x, y)), bs=32, device=torch.device("cpu"))
        model, run = learn.model, lambda: _quiet_fit(learn, full_fine_tuning(NAMES))
    else:
        model = TinyNet()
        loader = DataLoader(TensorDataset(x * float("nan"), y), batch_size=32)
        run = lambda: train_schedule(model, full_fine_tuning(NAMES), loader, CE)
    weights = _weights(model)
    with pytest.raises(FloatingPointError, match="stage 0.*epoch 0.*unchanged"):
        run()
    assert _same(model, weights)


# ---------------------------------------------------------------- one-cycle for any number of steps
def _cycle(make_scheduler, total: int, lr: float = 1e-2) -> tuple[list, list]:
    "The learning rate and momentum (AdamW's beta1) at each of `total` steps under make_scheduler(optimizer)."
    opt = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler, lrs, moms = make_scheduler(opt), [], []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["betas"][0])
        opt.step()
        scheduler.step()
    return lrs, moms


def _torch_one_cycle_lrs(total: int, pct_start: float, lr: float = 1e-2, div=25.0, div_final=1e5) -> tuple[list, list]:
    return _cycle(lambda opt: torch.optim.lr_scheduler.OneCycleLR(  # fastai's div_final is relative to lr: lr / div_final
        opt, max_lr=lr, total_steps=total, pct_start=pct_start, div_factor=div, final_div_factor=div_final / div), total, lr)


def _our_one_cycle_lrs(total: int, pct_start: float, lr: float = 1e-2, **kwargs) -> tuple[list, list]:
    return _cycle(lambda opt: OneCycle(opt, [lr], total, pct_start=pct_start, **kwargs), total, lr)


@pytest.mark.parametrize("total, pct_start", [(n, p) for n in (5, 6, 7, 8, 13, 40, 101) for p in (0.25, 0.3, 0.5, 0.99)
                                              if p * n > 1])
def test_one_cycle_matches_torch_where_torch_is_defined(total, pct_start):
    ours, theirs = _our_one_cycle_lrs(total, pct_start), _torch_one_cycle_lrs(total, pct_start)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12, atol=0)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12, atol=0)


@pytest.mark.parametrize("total", range(1, 9))
@pytest.mark.parametrize("pct_start", [0.0, 0.25, 0.3, 0.99, 1.0, 1])
def test_one_cycle_works_for_any_number_of_steps(total, pct_start):
    lrs, moms = _our_one_cycle_lrs(total, pct_start)
    assert len(lrs) == total and all(1e-2 / 1e5 * 0.999 <= lr <= 1e-2 * 1.000001 for lr in lrs)
    assert max(lrs) >= 1e-2 / 25 * (1 - 1e-9) and all(0.85 - 1e-9 <= m <= 0.95 + 1e-9 for m in moms)
    if total == 1:
        assert lrs == [1e-2]  # one step: the peak rate, the one the stage asked for


def test_a_one_step_stage_trains_at_its_peak_rate():
    model = TinyNet()
    weights = _weights(model)
    timeline = train_schedule(model, last_layer_only(NAMES), _loader(32), CE, lr_max=1e-2)
    assert timeline["lr.head"].tolist() == [1e-2] and not _same(model, weights)


@pytest.mark.parametrize("num_examples", [32, 64, 96, 128, 160])
def test_stages_of_one_to_five_steps_train(num_examples):
    timeline = train_schedule(TinyNet(), full_fine_tuning(NAMES), _loader(num_examples), CE, lr_max=1e-2)
    peak = timeline["lr.head"].iloc[0]
    assert (peak == 1e-2 if num_examples <= 128 else 0.9e-2 < peak < 1e-2) and math.isfinite(timeline.train_loss.iloc[0])


def test_div_final_means_what_it_means_in_fastai():
    lrs, _ = _our_one_cycle_lrs(20, 0.25, lr=1e-2, div_final=1e3)
    assert lrs[-1] == pytest.approx(1e-2 / 1e3)


# ---------------------------------------------------------------- loaders
class _Stream(IterableDataset):
    def __iter__(self):
        x, y = synthetic_classification(64)
        return iter(zip(x, y))


def test_loaders_without_a_length_are_refused_with_the_way_out():
    with pytest.raises(TypeError, match="train_loader.*generator.*list"):
        train_schedule(TinyNet(), full_fine_tuning(NAMES), (b for b in _loader()), CE)
    with pytest.raises(TypeError, match="train_loader.*len"):
        train_schedule(TinyNet(), full_fine_tuning(NAMES), DataLoader(_Stream(), batch_size=32), CE)
    with pytest.raises(TypeError, match="valid_loader.*generator"):
        train_schedule(TinyNet(), full_fine_tuning(NAMES), _loader(), CE, valid_loader=(b for b in _loader()))


def test_a_list_of_batches_works():
    batches = list(_loader())
    timeline = train_schedule(TinyNet(), full_fine_tuning(NAMES, 2), batches, CE, valid_loader=batches, metrics=_accuracy)
    assert len(timeline) == 2 and timeline["_accuracy"].notna().all()


# ---------------------------------------------------------------- parameters frozen before the run
def test_a_parameter_frozen_before_the_run_is_never_trained_silently():
    "A stage that trains a group holding user-frozen parameters is refused before anything trains; other stages run."
    model = TinyNet()
    model.stem.requires_grad_(False)
    stem, head = _weights(model.stem), _weights(model.head)
    with pytest.raises(ValueError, match=r"stage 0 \(all\) trains .* 2 of their parameters are frozen .*learn.unfreeze\(\)"):
        train_schedule(model, full_fine_tuning(NAMES), _loader(), CE, lr_max=1e-2)
    assert _same(model.head, head)  # refused before anything trained
    train_schedule(model, last_layer_only(NAMES), _loader(), CE, lr_max=1e-2)  # the stem's group is not trained: fine
    assert _same(model.stem, stem) and not any(p.requires_grad for p in model.stem.parameters())


def test_a_model_frozen_by_the_user_is_refused_with_the_fix():
    model = TinyNet().requires_grad_(False)
    with pytest.raises(ValueError, match=r"stage 0 \(head\).*frozen \(requires_grad=False\).*requires_grad_\(True\)"):
        train_schedule(model, last_layer_only(NAMES), _loader(), CE)
    learn = _learner()
    learn.model.requires_grad_(False)
    with pytest.raises(ValueError, match="learn.unfreeze"):
        _quiet_fit(learn, last_layer_only(NAMES))


# ---------------------------------------------------------------- the sweep
@dataclass
class Right:
    check: Callable = lambda result: True  # the returned value is right


@dataclass
class Refused:
    error: type | tuple
    needles: tuple

    def __init__(self, error, *needles):
        self.error, self.needles = error, needles


class Made:
    "The models an attempt made, with their weights at birth: a refused attempt must leave every one unchanged."
    def __init__(self, tmp):
        self.tmp, self.models = tmp, []

    def model(self, **kwargs) -> nn.Module:
        model = TinyNet(**kwargs)
        self.models.append((model, _weights(model)))
        return model

    def learner(self, **kwargs):
        learn = _learner(**kwargs)
        self.models.append((learn.model, _weights(learn.model)))
        return learn

    def trained(self) -> bool:
        return any(not _same(model, weights) for model, weights in self.models)


@dataclass
class Case:
    name: str
    run: Callable       # Made -> result
    expect: object      # Right or Refused
    lost: Callable | None = None  # Made -> True if something was trained or written that should not have been
    trains_first: bool = False    # refused only once training shows the problem (a diverging loss): weights may change


def _file(made: Made) -> str:
    path = made.tmp / "a-file"
    path.write_text("not a folder")
    return str(path)


def _read_only(made: Made) -> str:
    path = made.tmp / "read-only"
    path.mkdir()
    path.chmod(0o555)
    return str(path)


def _user_frozen_stem(made: Made):
    model = made.model()
    model.stem.requires_grad_(False)
    made.stem = _weights(model.stem)
    made.frozen = model
    return train_schedule(model, full_fine_tuning(NAMES), _loader(), CE, lr_max=1e-2)


def _dict_batches(made: Made):
    x, y = synthetic_classification(64)
    return [{"x": x[:32], "y": y[:32]}]


def _timeline(made: Made) -> pd.DataFrame:
    return train_schedule(made.model(), full_fine_tuning(NAMES), _loader(), CE, cache=False)


def _spilled_run(made: Made, spill_dir: str):
    policy = CachePolicy(True, memory=0, spill_dir=spill_dir)
    return train_schedule(made.model(), last_layer_only(NAMES, 2), _loader(), CE, cache=policy)


def _costs():
    return CacheCosts(prefix={2: 1e-3}, key=1e-5, store={2: 1e-5}, load={2: 1e-5}, examples=100)


def _auto_rgn_step(params_fn):
    model = TinyNet()
    rgn = AutoRGN(params_fn(model))
    rgn.before_step()
    rgn.after_step()
    return rgn


def _train(made, loader=None, schedule=None, **kwargs):
    schedule = schedule if schedule is not None else full_fine_tuning(NAMES)
    return train_schedule(made.model(), schedule, loader if loader is not None else _loader(),
                          kwargs.pop("loss_func", CE), **kwargs)


def _fit(made, schedule=None, **kwargs):
    learn = made.learner()
    return _quiet_fit(learn, schedule if schedule is not None else full_fine_tuning(NAMES), **kwargs)


def _non_scalar_loss(output, target):
    return CE(output, target, reduction="none")


def _float_loss(output, target):
    return float(CE(output, target))


def _meta_model(made: Made):
    model = made.model().to("meta")
    made.models.pop()
    return train_schedule(model, full_fine_tuning(NAMES), _loader(), CE)


def _fastai_non_scalar_loss(made: Made):
    learn = made.learner()
    learn.loss_func = _non_scalar_loss
    return _quiet_fit(learn, full_fine_tuning(NAMES))


def _fastai_empty_train(made: Made):
    learn = synthetic_learner(num_examples=16, batch_size=32, splitter=splitter)  # drop_last: no training batch
    made.models.append((learn.model, _weights(learn.model)))
    return _quiet_fit(learn, full_fine_tuning(NAMES))


def _three_element_batches(made: Made):
    x, y = synthetic_classification(64)
    return train_schedule(made.model(), full_fine_tuning(NAMES), [(x[:32], x[:32], y[:32])], CE)


def _bad_valid_batches(made: Made):
    x, y = synthetic_classification(64)
    return _train(made, valid_loader=[{"x": x, "y": y}])


def _sgd():
    return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)


def _frozen_learner(made: Made):
    learn = made.learner()
    learn.model.requires_grad_(False)
    return learn


CASES = [
    # schedules: Stage
    Case("Stage epochs 0", lambda m: Stage("head", 0), Refused((TypeError, ValueError), "epochs", "0")),
    Case("Stage epochs negative", lambda m: Stage("head", -2), Refused((TypeError, ValueError), "epochs", "-2")),
    Case("Stage epochs 1.5", lambda m: Stage("head", 1.5), Refused((TypeError, ValueError), "epochs", "1.5")),
    Case("Stage epochs True", lambda m: Stage("head", True), Refused((TypeError, ValueError), "epochs", "True")),
    Case("Stage epochs numpy int", lambda m: Stage("head", np.int64(2)), Right(lambda s: s.epochs == 2 and type(s.epochs) is int)),
    Case("Stage no groups", lambda m: Stage((), 1), Refused(ValueError, "at least one layer group")),
    Case("Stage trainable an int", lambda m: Stage(3, 1), Refused(TypeError, "trainable", "3")),
    Case("Stage trainable holds an int", lambda m: Stage(("head", 3), 1), Refused(TypeError, "trainable", "3")),
    Case("Stage head named twice", lambda m: Stage(("head", "head"), 1), Right(lambda s: s.trainable == ("head",))),
    Case("Stage fit_kwargs a string", lambda m: Stage("head", 1, fit_kwargs="pct_start"), Refused(TypeError, "fit_kwargs")),
    Case("Stage lr_max negative", lambda m: Stage("head", 1, lr_max=-1), Refused(ValueError, "lr_max", "-1")),
    Case("Stage lr_max NaN", lambda m: Stage("head", 1, lr_max=float("nan")), Refused(ValueError, "lr_max", "nan")),
    Case("Stage lr_max negative slice", lambda m: Stage("head", 1, lr_max=slice(-1e-3, 1e-2)), Refused(ValueError, "lr_max", "lower")),
    Case("Stage lr_max list with NaN", lambda m: Stage("head", 1, lr_max=[1e-3, float("nan")]), Refused(ValueError, "lr_max", "lr[1]")),
    Case("Stage lr_max a string", lambda m: Stage("head", 1, lr_max="1e-3"), Refused(TypeError, "lr_max")),
    # schedules: builders
    Case("full_fine_tuning of a string", lambda m: full_fine_tuning("stem"), Refused(TypeError, "groups", "layer_groups")),
    Case("full_fine_tuning of a model", lambda m: full_fine_tuning(TinyNet()), Refused(TypeError, "groups", "layer_groups(model)")),
    Case("full_fine_tuning one group", lambda m: full_fine_tuning(["head"]), Refused(ValueError, "at least two layer groups")),
    Case("full_fine_tuning no groups", lambda m: full_fine_tuning([]), Refused(ValueError, "at least two layer groups")),
    Case("full_fine_tuning a name twice", lambda m: full_fine_tuning(["stem", "head", "stem"]), Refused(ValueError, "stem", "twice")),
    Case("full_fine_tuning epochs 0", lambda m: full_fine_tuning(NAMES, 0), Refused((TypeError, ValueError), "epochs", "0")),
    Case("full_fine_tuning epochs 1.5", lambda m: full_fine_tuning(NAMES, 1.5), Refused((TypeError, ValueError), "epochs", "1.5")),
    Case("last_layer_only epochs -1", lambda m: last_layer_only(NAMES, -1), Refused((TypeError, ValueError), "epochs", "-1")),
    Case("gradual epochs_per_stage 0", lambda m: gradual_unfreezing(NAMES, 0), Refused((TypeError, ValueError), "epochs", "0")),
    Case("gradual epochs_per_stage 1.5", lambda m: gradual_unfreezing(NAMES, 1.5), Refused((TypeError, ValueError), "epochs_per_stage", "1.5")),
    Case("gradual epochs_per_stage numpy", lambda m: gradual_unfreezing(NAMES, np.int64(2)), Right(lambda s: [x.epochs for x in s] == [2] * 4)),
    Case("gradual epochs_per_stage empty + final", lambda m: gradual_unfreezing(NAMES, [], final_epochs=2),
         Refused(ValueError, "epochs_per_stage", "4 stages")),
    Case("gradual groups_per_stage 0", lambda m: gradual_unfreezing(NAMES, groups_per_stage=0), Refused(ValueError, "groups_per_stage", "0")),
    Case("gradual groups_per_stage > groups", lambda m: gradual_unfreezing(NAMES, groups_per_stage=10),
         Refused(ValueError, "groups_per_stage", "10", "full_fine_tuning")),
    Case("gradual groups_per_stage = groups", lambda m: gradual_unfreezing(NAMES, groups_per_stage=4),
         Refused(ValueError, "groups_per_stage", "4")),
    Case("gradual groups_per_stage 1.5", lambda m: gradual_unfreezing(NAMES, groups_per_stage=1.5),
         Refused((TypeError, ValueError), "groups_per_stage", "1.5")),
    Case("gradual num_stages 1.5", lambda m: gradual_unfreezing(NAMES, num_stages=1.5), Refused((TypeError, ValueError), "num_stages", "1.5")),
    Case("gradual num_stages 0", lambda m: gradual_unfreezing(NAMES, num_stages=0), Refused(ValueError, "num_stages", "0")),
    Case("gradual final_epochs 0", lambda m: gradual_unfreezing(NAMES, final_epochs=0), Refused((TypeError, ValueError), "epochs", "0")),
    Case("gradual stage_lrs too few", lambda m: gradual_unfreezing(NAMES, stage_lrs=[1e-3]), Refused(ValueError, "stage_lrs", "4 stages")),
    Case("gradual stage_lrs negative", lambda m: gradual_unfreezing(NAMES, stage_lrs=[1e-3, -1, 1e-3, 1e-3]), Refused(ValueError, "lr_max", "-1")),
    Case("gradual unknown group in groups", lambda m: gradual_unfreezing(["stem", 3]), Refused(TypeError, "groups", "3")),
    Case("chain_thaw new_groups = groups", lambda m: chain_thaw(NAMES, new_groups=4), Refused(ValueError, "new_groups", "4")),
    Case("chain_thaw new_groups 1.5", lambda m: chain_thaw(NAMES, new_groups=1.5), Refused((TypeError, ValueError), "new_groups", "1.5")),
    Case("chain_thaw epochs_per_stage 0", lambda m: chain_thaw(NAMES, epochs_per_stage=0), Refused((TypeError, ValueError), "epochs", "0")),
    Case("freeze_then_unfreeze epochs 0", lambda m: freeze_then_unfreeze(NAMES, 0), Refused((TypeError, ValueError), "epochs", "0")),
    Case("freeze_then_unfreeze lr_mult 0", lambda m: freeze_then_unfreeze(NAMES, 1, lr_mult=0), Refused(ValueError, "lr_mult", "0")),
    Case("freeze_then_unfreeze base_lr -1", lambda m: freeze_then_unfreeze(NAMES, 1, base_lr=-1), Refused(ValueError, "base_lr", "-1")),
    Case("freeze_then_unfreeze pct_start 2", lambda m: freeze_then_unfreeze(NAMES, 1, pct_start=2), Refused(ValueError, "pct_start", "2")),
    Case("freeze_then_unfreeze div 0", lambda m: freeze_then_unfreeze(NAMES, 1, div=0), Refused(ValueError, "div", "0")),
    Case("lp_ft probe_epochs 0", lambda m: lp_ft(NAMES, probe_epochs=0), Refused((TypeError, ValueError), "epochs", "0")),
    Case("lp_ft probe_lr NaN", lambda m: lp_ft(NAMES, probe_lr=float("nan")), Refused(ValueError, "lr_max", "nan")),
    Case("surgical unknown block", lambda m: surgical(NAMES, "layer9"), Refused(ValueError, "unknown layer group", "layer9")),
    Case("surgical no block", lambda m: surgical(NAMES, []), Refused(ValueError, "blocks")),
    Case("surgical block an int", lambda m: surgical(NAMES, 3), Refused(TypeError, "blocks", "3")),
    Case("surgical head named twice", lambda m: surgical(NAMES, ["blocks.0", "head"]),
         Right(lambda s: s[0].trainable == ("blocks.0", "head"))),
    Case("surgical head alone, with_head", lambda m: surgical(NAMES, "head"), Right(lambda s: s[0].trainable == ("head",))),
    # schedules: check_schedule, plot_timeline
    Case("check_schedule one Stage", lambda m: check_schedule(Stage("head", 1), NAMES), Right()),
    Case("check_schedule no stages", lambda m: check_schedule([], NAMES), Refused(ValueError, "no stages")),
    Case("check_schedule not a Stage", lambda m: check_schedule([("head",)], NAMES), Refused(TypeError, "stage 0", "not a Stage")),
    Case("check_schedule unknown group", lambda m: check_schedule([Stage("haed", 1)], NAMES), Refused(ValueError, "haed")),
    Case("check_schedule pct_start 2", lambda m: check_schedule([Stage("head", 1, fit_kwargs={"pct_start": 2})], NAMES),
         Refused(ValueError, "stage 0", "pct_start", "2")),
    Case("check_schedule moms of two", lambda m: check_schedule([Stage("head", 1, fit_kwargs={"moms": (0.9, 0.8)})], NAMES),
         Refused(ValueError, "stage 0", "moms")),
    Case("check_schedule div_final 0", lambda m: check_schedule([Stage("head", 1, fit_kwargs={"div_final": 0})], NAMES),
         Refused(ValueError, "stage 0", "div_final")),
    Case("check_schedule lr_max list wrong length", lambda m: check_schedule([Stage("head", 1, [1e-3] * 3)], NAMES),
         Refused(ValueError, "stage 0", "lr_max", "3 learning rates for 4")),
    Case("plot_timeline of an empty frame", lambda m: plot_timeline(pd.DataFrame()), Refused(ValueError, "timeline", "lr.")),
    Case("plot_timeline of a list", lambda m: plot_timeline([1, 2]), Refused(TypeError, "timeline", "DataFrame")),
    Case("plot_timeline of a run", lambda m: plot_timeline(_timeline(m)), Right(lambda f: len(f.axes) == 2)),
    # freezing
    Case("FreezePolicy norm eval", lambda m: FreezePolicy(norm="eval"), Refused(ValueError, "norm", "eval")),
    Case("FreezePolicy dropout False", lambda m: FreezePolicy(dropout=False), Refused(ValueError, "dropout", "False")),
    Case("FreezePolicy opt_state None", lambda m: FreezePolicy(opt_state=None), Refused(ValueError, "opt_state", "None")),
    Case("set_trainable one name as a string", lambda m: set_trainable(m.model(), None, "head"),
         Right(lambda s: s.trainable == ["head"] and s.frozen == NAMES[:-1])),
    Case("set_trainable unknown group", lambda m: set_trainable(m.model(), None, ["haed"]), Refused(ValueError, "haed")),
    Case("set_trainable trainable an int", lambda m: set_trainable(m.model(), None, 3), Refused(TypeError, "trainable", "3")),
    Case("set_trainable norm empty", lambda m: set_trainable(m.model(), None, ["head"], norm=""), Refused(ValueError, "norm")),
    Case("set_trainable policy a string", lambda m: set_trainable(m.model(), None, ["head"], "train"), Refused(TypeError, "policy")),
    Case("set_trainable on a Learner", lambda m: set_trainable(m.learner(), None, ["head"]), Refused(TypeError, "model", "learn.model")),
    Case("set_trainable empty groups", lambda m: set_trainable(m.model(), [], ["head"]), Refused(TypeError, "groups")),
    Case("eval_modules one name as a string", lambda m: eval_modules(m.model(), None, "head"),
         Right(lambda mods: len(mods) == 3 + 4 + 4)),
    Case("eval_modules unknown group", lambda m: eval_modules(m.model(), None, ["haed"]), Refused(ValueError, "haed")),
    # chains
    Case("SequentialChain of bare modules", lambda m: SequentialChain([nn.Linear(2, 2)]), Refused(TypeError, "(name, module)")),
    Case("SequentialChain empty", lambda m: SequentialChain([]), Refused(ValueError, "stages", "empty")),
    Case("model_chain of a string", lambda m: model_chain("model"), Refused(TypeError, "str")),
    Case("model_chain of a TinyNet", lambda m: model_chain(TinyNet()), Right(lambda c: c.names == ["stem", "blocks.0", "blocks.1", "head"])),
    # caching
    Case("CachePolicy memory negative", lambda m: CachePolicy(memory=-1), Refused(ValueError, "memory", "-1")),
    Case("CachePolicy memory NaN", lambda m: CachePolicy(memory=float("nan")), Refused(ValueError, "memory", "nan")),
    Case("CachePolicy memory a string", lambda m: CachePolicy(memory="2GB"), Refused(TypeError, "memory", "2GB")),
    Case("CachePolicy memory 2e9", lambda m: CachePolicy(memory=2e9), Right(lambda p: p.memory == 2 * 10**9)),
    Case("CachePolicy margin negative", lambda m: CachePolicy(margin=-0.5), Refused(ValueError, "margin", "-0.5")),
    Case("CachePolicy margin NaN", lambda m: CachePolicy(margin=float("nan")), Refused(ValueError, "margin", "nan")),
    Case("CachePolicy spill_dir a file", lambda m: CachePolicy(spill_dir=_file(m)), Refused(NotADirectoryError, "spill_dir", "a-file")),
    Case("CachePolicy spill_dir read-only", lambda m: CachePolicy(spill_dir=_read_only(m)), Refused(PermissionError, "spill_dir", "read-only")),
    Case("CachePolicy spill_dir missing: made", lambda m: _spilled_run(m, str(m.tmp / "new" / "spill")),
         Right(lambda t: t.cache_misses.iloc[0] == 64)),
    Case("CachePolicy mode unknown", lambda m: CachePolicy(mode="yes"), Refused(ValueError, "cache", "yes")),
    Case("train_schedule cache unknown", lambda m: _train(m, cache="Auto"), Refused(ValueError, "cache", "Auto")),
    Case("train_schedule cache None", lambda m: _train(m, cache=None), Refused(ValueError, "cache", "None")),
    Case("ActivationStore max_bytes negative", lambda m: ActivationStore(max_bytes=-1), Refused(ValueError, "max_bytes", "-1")),
    Case("ActivationStore spill_dir a file", lambda m: ActivationStore(spill_dir=_file(m)), Refused(NotADirectoryError, "spill_dir")),
    Case("ActivationStore get unknown key", lambda m: ActivationStore().get(b"missing"), Refused(KeyError, "missing", "put")),
    Case("frozen_boundary one name as a string",
         lambda m: frozen_boundary(model_chain(model := TinyNet()), layer_groups(model), "head"), Right(lambda b: b == 3)),
    Case("frozen_boundary unknown group",
         lambda m: frozen_boundary(model_chain(model := TinyNet()), layer_groups(model), ["haed"]), Refused(ValueError, "haed")),
    Case("frozen_boundary groups of another model",
         lambda m: frozen_boundary(model_chain(TinyNet()), layer_groups(TinyNet()), ["head"]), Refused(ValueError, "groups", "chain")),
    Case("CachedPrefix boundary 0", lambda m: CachedPrefix(model := TinyNet(), model_chain(model), 0), Refused(ValueError, "boundary", "0")),
    Case("CachedPrefix boundary too large", lambda m: CachedPrefix(model := TinyNet(), model_chain(model), 9), Refused(ValueError, "boundary", "9")),
    Case("decide_cache lengths differ", lambda m: decide_cache([2, 2], [1], _costs()), Refused(ValueError, "epochs", "boundaries")),
    Case("decide_cache memory negative", lambda m: decide_cache([2], [3], _costs(), memory=-1), Refused(ValueError, "memory")),
    Case("decide_cache margin NaN", lambda m: decide_cache([2], [3], _costs(), margin=float("nan")), Refused(ValueError, "margin")),
    Case("plan_cache policy as a mode", lambda m: plan_cache(model := TinyNet(), layer_groups(model), last_layer_only(NAMES), True),
         Right(lambda plan: [d.boundary for d in plan.decisions] == [3])),
    Case("plan_cache group names", lambda m: plan_cache(TinyNet(), NAMES, last_layer_only(NAMES), CachePolicy(True)),
         Right(lambda plan: [d.boundary for d in plan.decisions] == [3])),
    # training: learning rates (more in the named tests above)
    Case("fit_schedule lr_max -1", lambda m: _fit(m, lr_max=-1), Refused(ValueError, "lr_max", "-1")),
    Case("fit_schedule lr_max negative slice", lambda m: _fit(m, lr_max=slice(-1e-3, 1e-2)), Refused(ValueError, "lr_max")),
    Case("fit_schedule lr_max list NaN", lambda m: _fit(m, lr_max=[1e-3, np.nan, 1e-3, 1e-3]), Refused(ValueError, "lr_max", "nan")),
    Case("fit_schedule lr_max 1e6", lambda m: _fit(m, full_fine_tuning(NAMES, 2), lr_max=1e6),
         Refused(FloatingPointError, "stage 0", "learning rate"), trains_first=True),
    Case("train_schedule lr_max -1", lambda m: _train(m, lr_max=-1), Refused(ValueError, "lr_max", "-1")),
    Case("train_schedule lr_max list NaN", lambda m: _train(m, lr_max=[1e-3, np.nan, 1e-3, 1e-3]), Refused(ValueError, "lr_max", "nan")),
    Case("train_schedule lr_max 1e6", lambda m: _train(m, _loader(256), lr_max=1e6), Refused(FloatingPointError, "stage 0"),
         trains_first=True),
    # training: steps and loaders
    Case("train_schedule 4 steps", lambda m: _train(m, _loader(128), lr_max=1e-2), Right(lambda t: t["lr.head"].iloc[0] == 1e-2)),
    Case("train_schedule 1 step", lambda m: _train(m, _loader(32), lr_max=1e-2), Right(lambda t: t["lr.head"].iloc[0] == 1e-2)),
    Case("train_schedule pct_start int 1", lambda m: _train(m, schedule=[Stage(tuple(NAMES), 1, fit_kwargs={"pct_start": 1})]),
         Right(lambda t: len(t) == 1)),
    Case("train_schedule moms falling", lambda m: _train(m, schedule=[Stage(tuple(NAMES), 1, fit_kwargs={"moms": (0.95, 0.85, 0.9)})]),
         Right(lambda t: len(t) == 1)),
    Case("train_schedule empty list", lambda m: _train(m, []), Refused(ValueError, "train_loader", "empty")),
    Case("train_schedule empty DataLoader", lambda m: _train(m, _loader(0)), Refused(ValueError, "train_loader", "empty")),
    Case("train_schedule generator", lambda m: _train(m, (b for b in _loader())), Refused(TypeError, "train_loader", "generator")),
    Case("train_schedule no len", lambda m: _train(m, DataLoader(_Stream(), batch_size=32)), Refused(TypeError, "train_loader", "len")),
    Case("train_schedule empty valid_loader", lambda m: _train(m, valid_loader=[]), Refused(ValueError, "valid_loader", "empty")),
    Case("train_schedule generator valid_loader", lambda m: _train(m, valid_loader=(b for b in _loader())),
         Refused(TypeError, "valid_loader", "generator")),
    Case("train_schedule dict batches", lambda m: _train(m, _dict_batches(m)), Refused(TypeError, "dict batch")),
    Case("train_schedule dict valid batches", lambda m: _bad_valid_batches(m), Refused(TypeError, "valid_loader", "dict batch")),
    Case("train_schedule 1-tuple batches", lambda m: _train(m, [(torch.zeros(4, 16),)]), Refused(ValueError, "n_inp", "target")),
    Case("train_schedule 3-tuple batches", _three_element_batches, Refused(TypeError, "train_loader", "2 inputs")),
    Case("train_schedule schedule a Stage", lambda m: _train(m, schedule=Stage(tuple(NAMES), 2)), Right(lambda t: len(t) == 2)),
    Case("train_schedule schedule a generator", lambda m: _train(m, schedule=(s for s in gradual_unfreezing(NAMES))),
         Right(lambda t: len(t) == 4)),
    Case("train_schedule no stages", lambda m: _train(m, schedule=[]), Refused(ValueError, "no stages")),
    # training: loss, metrics, fit, optimizer, policies
    Case("train_schedule loss_func non-scalar", lambda m: _train(m, loss_func=_non_scalar_loss),
         Refused(ValueError, "loss_func", "scalar", "reduction")),
    Case("train_schedule loss_func returns float", lambda m: _train(m, loss_func=_float_loss), Refused(TypeError, "loss_func", "tensor")),
    Case("train_schedule loss_func a string", lambda m: _train(m, loss_func="cross_entropy"), Refused(TypeError, "loss_func", "callable")),
    Case("train_schedule metrics a string", lambda m: _train(m, valid_loader=_loader(), metrics="accuracy"),
         Refused(TypeError, "metrics", "accuracy")),
    Case("train_schedule metrics with an int", lambda m: _train(m, valid_loader=_loader(), metrics=[_accuracy, 3]),
         Refused(TypeError, "metrics", "3")),
    Case("train_schedule metric non-scalar", lambda m: _train(m, valid_loader=_loader(), metrics=lambda o, t: o),
         Refused(ValueError, "metrics", "number")),
    Case("train_schedule metrics, no valid_loader", lambda m: _train(m, metrics=_accuracy), Refused(ValueError, "metrics", "valid_loader")),
    Case("train_schedule opt_func a string", lambda m: _train(m, opt_func="adamw"), Refused(TypeError, "opt_func")),
    Case("train_schedule freezing a string", lambda m: _train(m, freezing="train"), Refused(TypeError, "freezing")),
    Case("train_schedule model a Learner", lambda m: train_schedule(m.learner(), full_fine_tuning(NAMES), _loader(), CE),
         Refused(TypeError, "model", "learn.model")),
    Case("train_schedule model on meta", _meta_model, Refused(ValueError, "meta")),
    Case("train_schedule groups of a copy", lambda m: _train(m, groups=layer_groups(TinyNet(), include_frozen=True)),
         Refused(ValueError, "another model")),
    Case("train_schedule groups a foreign module", lambda m: _train(m, groups={"head": nn.Linear(32, 4)}, schedule=[Stage("head", 1)]),
         Refused(ValueError, "not modules of this")),
    Case("train_schedule user-frozen stem", _user_frozen_stem, Refused(ValueError, "stem.0.weight", "unfreeze them first"),
         lost=lambda m: not _same(m.frozen.stem, m.stem)),
    Case("train_schedule all frozen", lambda m: train_schedule(m.model().requires_grad_(False), last_layer_only(NAMES), _loader(), CE),
         Refused(ValueError, "are frozen (requires_grad=False)", "unfreeze them first")),
    Case("fit_schedule fit unknown string", lambda m: _fit(m, fit="one_cycl"), Refused((TypeError, ValueError), "fit", "one_cycl")),
    Case("fit_schedule fit an int", lambda m: _fit(m, fit=3), Refused(TypeError, "fit", "3")),
    Case("fit_schedule loss non-scalar", _fastai_non_scalar_loss, Refused(ValueError, "loss", "scalar")),
    Case("fit_schedule no training batch", _fastai_empty_train, Refused(ValueError, "learn.dls.train", "empty")),
    Case("fit_schedule given a model", lambda m: fit_schedule(m.model(), full_fine_tuning(NAMES)), Refused(TypeError, "learn", "Learner")),
    Case("fit_schedule groups of a copy", lambda m: _fit(m, groups=layer_groups(TinyNet(), include_frozen=True)),
         Refused(ValueError, "another model")),
    Case("fit_schedule schedule a Stage", lambda m: _fit(m, schedule=Stage(tuple(NAMES), 2)), Right(lambda t: len(t) == 2)),
    Case("fit_schedule cache memory negative", lambda m: _fit(m, cache=CachePolicy(memory=-1)), Refused(ValueError, "memory")),
    Case("fit_schedule all frozen", lambda m: _quiet_fit(_frozen_learner(m), last_layer_only(NAMES)),
         Refused(ValueError, "are frozen (requires_grad=False)", "unfreeze them first")),
    # more of every room: wrong types, NaN, empty and out-of-range values
    Case("OneCycle total_steps 0", lambda m: OneCycle(_sgd(), [1e-2], 0), Refused(ValueError, "total_steps", "0")),
    Case("OneCycle lr_max NaN", lambda m: OneCycle(_sgd(), [float("nan")], 4), Refused(ValueError, "lr_max", "nan")),
    Case("OneCycle lr_max too many", lambda m: OneCycle(_sgd(), [1e-2, 1e-3], 4), Refused(ValueError, "2 learning rates for 1")),
    Case("OneCycle given a string", lambda m: OneCycle("sgd", [1e-2], 4), Refused(TypeError, "optimizer")),
    Case("OneCycle pct_start NaN", lambda m: OneCycle(_sgd(), [1e-2], 4, pct_start=float("nan")), Refused(ValueError, "pct_start")),
    Case("OneCycle unknown argument", lambda m: OneCycle(_sgd(), [1e-2], 4, pct_strat=0.3), Refused(TypeError, "pct_strat")),
    Case("PoolHead of a TinyNet", lambda m: PoolHead(TinyNet()), Refused(TypeError, "pool", "head")),
    Case("BertChain of a TinyNet", lambda m: BertChain(TinyNet()), Refused(TypeError, "BERT", "model_chain")),
    Case("ActivationStore put a bare tensor", lambda m: ActivationStore().put(b"k", torch.ones(3, 2)), Refused(TypeError, "piece", "tuple")),
    Case("CachedPrefix of a string", lambda m: CachedPrefix("model", model_chain(TinyNet()), 1), Refused(TypeError, "module")),
    Case("CachedPrefix chain a list", lambda m: CachedPrefix(model := TinyNet(), model.stages(), 1), Refused(TypeError, "chain", "model_chain")),
    Case("CacheCosts prefix NaN", lambda m: CacheCosts(prefix={2: float("nan")}), Refused(ValueError, "prefix")),
    Case("CacheCosts examples negative", lambda m: CacheCosts(prefix={}, examples=-5), Refused(ValueError, "examples")),
    Case("measure_cache_costs bare tensor", lambda m: measure_cache_costs(model := TinyNet(), model_chain(model), torch.randn(8, 16), [1], 8),
         Refused(TypeError, "inputs", "tuple")),
    Case("measure_cache_costs examples -1", lambda m: measure_cache_costs(model := TinyNet(), model_chain(model), (torch.randn(8, 16),), [1], -1),
         Refused(ValueError, "examples")),
    Case("measure_cache_costs boundary 9", lambda m: measure_cache_costs(model := TinyNet(), model_chain(model), (torch.randn(8, 16),), [9], 8),
         Refused(ValueError, "boundaries", "9")),
    Case("plan_cache sample not callable", lambda m: plan_cache(TinyNet(), NAMES, last_layer_only(NAMES, 3), "auto", sample=3, examples=64),
         Refused(TypeError, "sample")),
    Case("plan_cache unknown group", lambda m: plan_cache(TinyNet(), NAMES, [Stage("haed", 1)], True), Refused(ValueError, "haed")),
    Case("plan_cache schedule a Stage", lambda m: plan_cache(TinyNet(), NAMES, Stage("head", 1), True),
         Right(lambda plan: [d.boundary for d in plan.decisions] == [3])),
    Case("train_schedule float labels", lambda m: _train(m, [(torch.zeros(4, 16), torch.zeros(4))], loss_func=nn.functional.nll_loss),
         Refused(RuntimeError, "train_loader", "loss_func fails")),
    Case("train_schedule model without parameters", lambda m: train_schedule(nn.ReLU(), full_fine_tuning(["a", "b"]), _loader(), CE),
         Refused(ValueError, "no parameters")),
    # AutoRGN
    Case("AutoRGN with no gradients", lambda m: _auto_rgn_step(lambda model: model.parameters()), Right(lambda r: r.scales == {})),
    Case("AutoRGN given the model", lambda m: _auto_rgn_step(lambda model: model), Right(lambda r: r.scales == {})),
    Case("AutoRGN after_step first", lambda m: AutoRGN(TinyNet().parameters()).after_step(), Refused(RuntimeError, "before_step")),
    Case("AutoRGN eps negative", lambda m: AutoRGN(TinyNet().parameters(), eps=-1), Refused(ValueError, "eps")),
]



@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, tmp_path):
    made = Made(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(case.expect, Refused):
            with pytest.raises(case.expect.error) as error:
                case.run(made)
            missing = [n for n in case.expect.needles if n not in str(error.value)]
            assert not missing, f"the message {str(error.value)!r} does not say {missing}"
            assert case.trains_first or not made.trained(), "a refused call changed weights"
        else:
            assert case.expect.check(case.run(made))
    assert case.lost is None or not case.lost(made), "something that should have stayed as it was changed"
