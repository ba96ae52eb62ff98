"""Oracle tests for `ftkit.discriminative` over real architectures.

- slices: our per-group rates equal fastcore's `even_mults` and fastai's own `Optimizer.set_hyper`;
- layer decay: our per-parameter rate / head rate equals timm's `param_groups_layer_decay` lr_scale;
- one SGD step with factor 2.6 moves each group by exactly its rate times its gradient;
- STLR: the paper's formula at start, cut and end, in PyTorch and in fastai.
"""
import copy
import os
import warnings

import numpy as np
import pytest
import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore", category=FutureWarning)

import timm  # noqa: E402
import timm.optim  # noqa: E402
import transformers  # noqa: E402
from fastai.optimizer import SGD as FastaiSGD  # noqa: E402
from fastcore.basics import even_mults  # noqa: E402

from ftkit.core import synthetic_learner  # noqa: E402
from ftkit.discriminative import (ScheduleRecorder, group_lrs, no_decay_names, param_groups,  # noqa: E402
                                  record_schedules, stlr, stlr_scheduler)
from ftkit.groups import layer_groups, splitter  # noqa: E402

torch.set_num_threads(1)
TIMM = ["resnet18", "convnext_atto", "vit_tiny_patch16_224", "efficientnet_b0", "regnetx_002"]


@pytest.fixture(scope="module")
def timm_models():
    torch.manual_seed(0)
    return {name: timm.create_model(name, pretrained=False, num_classes=3) for name in TIMM}


@pytest.fixture(scope="module")
def bert():
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                                     intermediate_size=64, max_position_embeddings=32)
    return transformers.BertForSequenceClassification(config)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 13])
@pytest.mark.parametrize("bounds", [(1e-5, 1e-2), (3e-4, 3e-3), (0.01 / 2.6**4, 0.01)])
def test_slice_equals_even_mults_and_fastai(n, bounds):
    ours = group_lrs(n, slice(*bounds))
    np.testing.assert_allclose(ours, np.atleast_1d(even_mults(*bounds, n)), rtol=1e-12)
    # fastai's optimizer expands slices itself: ours must agree for slice(lo, hi) and slice(hi)
    params = [[nn.Parameter(torch.zeros(1))] for _ in range(n)]
    for lr in (slice(*bounds), slice(bounds[1])):
        opt = FastaiSGD(params, lr=1e-3)
        opt.set_hyper("lr", lr)
        np.testing.assert_allclose(group_lrs(n, lr), [h["lr"] for h in opt.hypers], rtol=1e-12)


@pytest.mark.parametrize("name", TIMM)
def test_decay_scales_equal_timm(timm_models, name):
    model = timm_models[name]
    # as timm's create_optimizer_v2 calls it: with the model's own no_weight_decay() list
    theirs = timm.optim.param_groups_layer_decay(model, weight_decay=0.05, layer_decay=0.8,
                                                 no_weight_decay_list=getattr(model, "no_weight_decay", set)())
    scale_of = {id(p): g["lr_scale"] for g in theirs for p in g["params"]}
    decay_of = {id(p): g["weight_decay"] for g in theirs for p in g["params"]}
    ours = param_groups(model, 1e-3, decay=0.8, weight_decay=0.05, granularity="block")
    assert {id(p) for g in ours for p in g["params"]} == set(scale_of)
    for group in ours:
        for p in group["params"]:
            assert group["lr"] / 1e-3 == pytest.approx(scale_of[id(p)], rel=1e-12), group["name"]
            assert group["weight_decay"] == decay_of[id(p)], (group["name"], "weight decay disagrees with timm")


def test_no_weight_decay_on_norms_and_biases(timm_models, bert):
    vit = timm_models["vit_tiny_patch16_224"]
    exempt = no_decay_names(vit)
    assert {"cls_token", "pos_embed", "blocks.0.norm1.weight", "blocks.0.attn.qkv.bias"} <= exempt
    assert "blocks.0.attn.qkv.weight" not in exempt
    names = {n for g in param_groups(bert, 1e-3, factor=2.6, weight_decay=0.01) if g["weight_decay"] == 0
             for n in g["param_names"]}
    assert "bert.encoder.layer.0.attention.output.LayerNorm.weight" in names
    assert "bert.encoder.layer.0.attention.self.query.weight" not in names


@pytest.mark.parametrize("model_name", ["bert", "resnet18"])
def test_sgd_step_applies_group_rates(timm_models, bert, model_name):
    "After one plain SGD step, |update| / |gradient| of every group equals that group's rate (factor 2.6)."
    torch.manual_seed(0)
    # float64 so that (new - old) resolves tiny updates to large weights exactly
    if model_name == "bert":
        model, inputs = copy.deepcopy(bert).double(), dict(input_ids=torch.randint(0, 100, (4, 8)))
        loss_fn = lambda: model(**inputs).logits.pow(2).mean()
    else:
        model, inputs = copy.deepcopy(timm_models["resnet18"]).double(), torch.randn(2, 3, 32, 32, dtype=torch.float64)
        loss_fn = lambda: model(inputs).pow(2).mean()
    model.train()
    groups = param_groups(model, 0.1, factor=2.6)
    optimizer = torch.optim.SGD(groups, lr=0.1)
    optimizer.zero_grad()
    loss_fn().backward()
    before = [[p.detach().clone() for p in g["params"]] for g in optimizer.param_groups]
    optimizer.step()
    expected = group_lrs(len(groups), 0.1, factor=2.6)
    for g, old, rate in zip(optimizer.param_groups, before, expected):
        pairs = [(p, o) for p, o in zip(g["params"], old) if p.grad is not None]
        if not pairs: continue  # e.g. BERT's pooler gets no gradient from this loss
        update = torch.cat([(p.detach() - o).flatten() for p, o in pairs])
        gradient = torch.cat([p.grad.flatten() for p, _ in pairs])
        assert (update.norm() / gradient.norm()).item() == pytest.approx(rate, rel=1e-9), g["name"]
    optimizer.zero_grad()


def test_group_lrs_with_model_matches_splitter(timm_models):
    model = timm_models["convnext_atto"]
    rates = group_lrs(model, 1e-3, factor=2.6)
    assert len(rates) == len(splitter(model)) == len(layer_groups(model))
    assert rates[-1] == 1e-3 and rates[0] == pytest.approx(1e-3 / 2.6 ** (len(rates) - 1))


@pytest.mark.parametrize("total, cut_frac, ratio", [(100, 0.1, 32), (1000, 0.1, 32), (50, 0.2, 10)])
def test_stlr_paper_formula(total, cut_frac, ratio):
    cut = int(total * cut_frac)
    assert stlr(0, total, cut_frac, ratio) == pytest.approx(1 / ratio)            # start
    assert stlr(cut, total, cut_frac, ratio) == pytest.approx(1.0)                # peak at cut
    assert stlr(total, total, cut_frac, ratio) == pytest.approx(1 / ratio)        # end
    for t in (cut // 2, cut + (total - cut) // 3):                               # the two slopes
        p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1))
        assert stlr(t, total, cut_frac, ratio) == pytest.approx((1 + p * (ratio - 1)) / ratio)


@pytest.mark.parametrize("total", range(2, 10))
def test_stlr_short_runs_come_down(total):
    "Runs shorter than 1/cut_frac steps: one step up, then down to 1/ratio at t = T (the paper's formula has cut = 0)."
    values = [stlr(t, total) for t in range(total + 1)]
    assert values[0] == pytest.approx(1 / 32) and values[-1] == pytest.approx(1 / 32)
    assert max(values) == pytest.approx(1.0) and values.index(max(values)) == 1
    assert all(a >= b for a, b in zip(values[1:], values[2:]))  # non-increasing after the peak


def test_stlr_never_negative_when_cut_is_floored():
    # T * cut_frac not whole: the raw formula would go below zero near the end; we clamp p at 0
    assert min(stlr(t, 95) for t in range(96)) == pytest.approx(1 / 32)


def test_stlr_torch_and_recorder(bert):
    groups = param_groups(bert, 1e-3, factor=2.6, weight_decay=0.01)
    optimizer = torch.optim.AdamW(groups)
    scheduler = stlr_scheduler(optimizer, 40)
    log = record_schedules(optimizer)
    for _ in range(40):
        optimizer.step()
        scheduler.step()
    log.remove()
    optimizer.step()
    rates = np.array(log.lrs)
    assert rates.shape == (40, len(layer_groups(bert)))  # one column per layer group (decay split merged)
    np.testing.assert_allclose(rates[:, -1], [1e-3 * stlr(t, 40) for t in range(40)], rtol=1e-12)
    np.testing.assert_allclose(rates / rates[:, -1:], np.tile(group_lrs(bert, 1e-3, factor=2.6), (40, 1)) / 1e-3,
                               rtol=1e-12)
    assert np.allclose(np.array(log.moms), 0.9)  # AdamW's beta1
    assert log.to_frame().shape == (40, 2 * rates.shape[1])


def test_hugging_face_scheduler_keeps_the_ladder(bert):
    optimizer = torch.optim.AdamW(param_groups(bert, 1e-3, decay=0.9))
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, num_warmup_steps=3, num_training_steps=10)
    expected = np.array(group_lrs(bert, 1e-3, decay=0.9))
    for _ in range(6):
        optimizer.step()
        scheduler.step()
        rates = np.array([g["lr"] for g in optimizer.param_groups])
        np.testing.assert_allclose(rates / rates[-1], expected / expected[-1], rtol=1e-12)


def test_fastai_fit_stlr_per_group():
    learn = synthetic_learner(splitter=splitter, num_blocks=2)
    recorder = ScheduleRecorder()
    with learn.no_bar(), learn.no_logging():
        learn.fit_stlr(2, lr_max=slice(1e-4, 1e-2), cbs=recorder)
    total = 2 * len(learn.dls.train)
    rates = np.array(recorder.log.lrs)
    assert recorder.log.names == ["stem", "blocks.0", "blocks.1", "head"]
    peaks = np.array(even_mults(1e-4, 1e-2, 4))
    np.testing.assert_allclose(rates, np.outer([stlr(t, total) for t in range(total)], peaks), rtol=1e-9)


def test_bad_inputs():
    with pytest.raises(ValueError, match="either factor= or decay="):
        group_lrs(3, 1e-3, factor=2.6, decay=0.9)
    with pytest.raises(ValueError, match="a slice already fixes"):
        group_lrs(3, slice(1e-4, 1e-3), factor=2.6)
    with pytest.raises(ValueError, match="got 2 learning rates for 3 layer groups"):
        group_lrs(3, [1e-3, 1e-2])
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        group_lrs(3, -1e-3)
    with pytest.raises(ValueError, match="cut_frac must be in"):
        stlr(0, 10, cut_frac=1.5)


def test_param_groups_ladder_counts_frozen_groups():
    "Freezing the stem must not move the other groups' rates: the ladder runs over every group, as group_lrs(model)."
    from ftkit.core import TinyNet
    from ftkit.discriminative import group_lrs, param_groups
    model = TinyNet()
    for p in model.stem.parameters(): p.requires_grad_(False)
    every = dict(zip(["stem", "blocks.0", "blocks.1", "head"], group_lrs(model, slice(1e-5, 1e-3))))
    rates = {g["layer_group"]: g["lr"] for g in param_groups(model, slice(1e-5, 1e-3))}
    assert rates == {name: every[name] for name in ("blocks.0", "blocks.1", "head")}
    assert [g["lr"] for g in param_groups(model, [1e-4, 1e-3, 1e-2])] == [1e-4, 1e-3, 1e-2]  # one per trainable group
