"""CUDA checks, flagged `gpu` (run with `pytest -m gpu tests/test_gpu.py` on a machine with a GPU).

What ftkit computes on a GPU must be what it computes on the CPU: frozen-prefix caching with the activation
store on the device and spilled to disk, the schedules in fastai and plain PyTorch, the fused optimizer, and the
forgetting measurements and regularizers with the model on the GPU and probe data on the CPU. The models are
small and randomly initialised (no downloads), so the file runs in well under a minute.
"""
import copy
import os

import pytest
import torch
from fastai.optimizer import Adam
from torch import nn
from transformers import BertConfig, BertModel

from ftkit.caching import ActivationStore, CachedPrefix
from ftkit.chains import model_chain
from ftkit.core import synthetic_classification, synthetic_learner, task_accuracy
from ftkit.discriminative import fused_adamw
from ftkit.forgetting import snapshot, weight_drift
from ftkit.tracker import ForgettingTracker
from ftkit.groups import layer_groups, splitter
from ftkit.models import SequenceClassifier
from ftkit.regularizers import EWC, L2SP
from ftkit.schedules import gradual_unfreezing, lp_ft
from ftkit.similarity import MinibatchCKA, linear_cka
from ftkit.training import fit_schedule, train_schedule

# FTKIT_GPU_TEST_DEVICE=cpu runs the same checks on the CPU (a dry run of this file on a machine without a GPU)
CUDA = torch.device(os.environ.get("FTKIT_GPU_TEST_DEVICE", "cuda"))
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(CUDA.type == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.fixture(autouse=True)
def exact_float32():
    "No TF32 in matrix products, so CPU and GPU results are comparable at float32 tolerances."
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def tiny_bert(num_classes: int = 3, dropout: float = 0.1):
    "A 3-layer BERT (hidden 32) under ftkit's SequenceClassifier, randomly initialised with a fixed seed."
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout)
    torch.manual_seed(0)
    return SequenceClassifier(BertModel(config, add_pooling_layer=False), num_classes, dropout=dropout)


def token_batches(count: int = 6, size: int = 8, seed: int = 0) -> list:
    "(input_ids, attention_mask, label) batches of random lengths, padded to each batch's longest."
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        lengths = torch.randint(3, 12, (size,), generator=generator)
        mask = (torch.arange(int(lengths.max()))[None] < lengths[:, None]).long()
        ids = torch.randint(1, 100, mask.shape, generator=generator) * mask
        batches.append((ids, mask, torch.randint(0, 3, (size,), generator=generator)))
    return batches


def run_bert_schedule(device, cache: bool | str, dropout: float = 0.1):
    model = tiny_bert(dropout=dropout).to(device)
    groups = layer_groups(model, include_frozen=True)
    torch.manual_seed(1)  # dropout in the trainable layers
    timeline = train_schedule(model, gradual_unfreezing(groups, epochs_per_stage=2), token_batches(),
                              nn.functional.cross_entropy, lr_max=1e-3, valid_loader=token_batches(2, seed=1),
                              cache=cache)
    return timeline, {k: v.detach().cpu() for k, v in model.state_dict().items()}


def test_train_schedule_caching_on_cuda_matches_recompute_and_cpu():
    cached, cached_weights = run_bert_schedule(CUDA, cache=True)
    recomputed, recomputed_weights = run_bert_schedule(CUDA, cache=False)
    assert (cached.cache_hits > 0).any(), "caching never hit: nothing was tested"
    torch.testing.assert_close(torch.tensor(cached.train_loss.values), torch.tensor(recomputed.train_loss.values),
                               rtol=1e-4, atol=1e-5)
    for name, value in cached_weights.items():
        torch.testing.assert_close(value, recomputed_weights[name], rtol=1e-4, atol=1e-5, msg=name)
    # dropout masks come from different generators on CPU and GPU: compare the two devices without dropout
    on_device, _ = run_bert_schedule(CUDA, cache=True, dropout=0.0)
    on_cpu, _ = run_bert_schedule(torch.device("cpu"), cache=True, dropout=0.0)
    for column in ("train_loss", "valid_loss"):
        torch.testing.assert_close(torch.tensor(on_device[column].values), torch.tensor(on_cpu[column].values),
                                   rtol=1e-3, atol=1e-4)


def test_train_schedule_auto_cache_on_cuda_matches_recompute():
    "cache='auto' measures on the device (synchronised timing) and whatever it decides, the run is the recomputed one."
    auto, auto_weights = run_bert_schedule(CUDA, cache="auto")
    recomputed, recomputed_weights = run_bert_schedule(CUDA, cache=False)
    assert set(auto.cache) <= {"cache", "recompute"} and auto.cache_reason.str.len().gt(0).all()
    torch.testing.assert_close(torch.tensor(auto.train_loss.values), torch.tensor(recomputed.train_loss.values),
                               rtol=1e-4, atol=1e-5)
    for name, value in auto_weights.items():
        torch.testing.assert_close(value, recomputed_weights[name], rtol=1e-4, atol=1e-5, msg=name)


def test_cached_prefix_spills_cuda_activations_and_reproduces_the_model():
    model = tiny_bert().to(CUDA).eval()
    chain = model_chain(model)
    boundary = len(chain.modules) - 1  # everything but the head is frozen
    stores = {boundary: ActivationStore(max_bytes=0)}  # every example goes to the memory-mapped file
    cached = CachedPrefix(model, chain, boundary, stores)
    for ids, mask, _ in token_batches(3):
        ids, mask = ids.to(CUDA), mask.to(CUDA)
        for _ in range(2):  # a miss, then a hit read back from the file
            out = cached(ids, mask)
            assert out.device.type == CUDA.type
            torch.testing.assert_close(out, model(ids, mask), rtol=1e-5, atol=1e-5)
    assert cached.hits == cached.misses == 24 and len(stores[boundary].spilled) == 24
    stores[boundary].close()


def test_cached_prefix_batches_mixing_memory_and_spilled_pieces_on_cuda():
    "Pieces kept in GPU memory and pieces read back from the spill file (CPU) end up in one batch."
    model = tiny_bert().to(CUDA).eval()
    chain = model_chain(model)
    boundary = len(chain.modules) - 1
    stores = {boundary: ActivationStore(max_bytes=10_000)}  # room for a few examples; the others spill
    cached = CachedPrefix(model, chain, boundary, stores)
    batches = [(ids.to(CUDA), mask.to(CUDA)) for ids, mask, _ in token_batches(2)]
    for ids, mask in batches + batches:  # misses, then hits from both places
        torch.testing.assert_close(cached(ids, mask), model(ids, mask), rtol=1e-5, atol=1e-5)
    store = stores[boundary]
    assert store.memory and store.spilled, (len(store.memory), len(store.spilled))
    assert all(t.device.type == CUDA.type for key in store.spilled for t in store.get(key))
    store.close()


def synthetic_cuda_learner(**kwargs):
    learn = synthetic_learner(splitter=splitter, num_blocks=2, **kwargs)
    learn.dls.to(CUDA)
    return learn


def test_fit_schedule_on_cuda_with_fused_adamw_and_caching():
    timelines, weights = [], []
    for cache in (False, True):  # cache=True routes the model's own forward through the cache: learn.model stays the model
        learn = synthetic_cuda_learner(opt_func=fused_adamw)
        groups = layer_groups(learn.model, include_frozen=True)
        with learn.no_bar(), learn.no_logging():
            timelines.append(fit_schedule(learn, lp_ft(groups, probe_epochs=3, ft_epochs=1, probe_lr=1e-2, ft_lr=1e-3),
                                          cache=cache))
        assert next(learn.model.parameters()).device.type == CUDA.type
        assert learn.opt.opt.defaults.get("fused"), "fused_adamw fell back from the fused kernel"
        weights.append([p.detach().cpu() for p in learn.model.parameters()])
    assert timelines[1].cache_hits.iloc[1] > 0
    torch.testing.assert_close(torch.tensor(timelines[0].valid_loss.values), torch.tensor(timelines[1].valid_loss.values),
                               rtol=1e-4, atol=1e-5)
    for a, b in zip(*weights):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_fused_adamw_on_cuda_matches_fastai_adam():
    finals = []
    for opt_func in (Adam, fused_adamw):
        learn = synthetic_cuda_learner(opt_func=opt_func, wd_bn_bias=True, num_examples=5 * 64)
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(2, lr_max=slice(1e-3, 1e-2), wd=0.01)
        finals.append([p.detach().cpu() for p in learn.model.parameters()])
    for a, b in zip(*finals):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_forgetting_tools_on_cuda():
    learn = synthetic_cuda_learner()
    model = learn.model.to(CUDA)
    source = copy.deepcopy(model)
    x_source, y_source = synthetic_classification(128, seed=3)  # CPU tensors: the tools move what they need
    tracker = ForgettingTracker(probe=[x_source[:64], x_source[64:]],
                                sources={"synthetic": lambda m: task_accuracy(m, x_source, y_source)},
                                targets={"valid": "accuracy"})
    ewc = EWC.from_batches(source, [(x_source[i:i + 32], y_source[i:i + 32]) for i in range(0, 128, 32)], 4, lam=1.0)
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(2, 1e-2, cbs=[tracker, L2SP(snapshot(source), alpha=0.01), ewc])
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0
    table = tracker.table
    assert table.value.notna().all() and set(table.metric) >= {"cka", "relative_l2", "source_accuracy", "target_accuracy"}
    assert all(v["relative_l2"] > 0 for v in weight_drift(model, snapshot(source)).values())
    a, b = torch.randn(300, 20, device=CUDA, dtype=torch.float64), torch.randn(300, 10, device=CUDA, dtype=torch.float64)
    score = MinibatchCKA()
    for i in range(0, 300, 100):
        score.update(a[i:i + 100], b[i:i + 100])
    assert abs(score.compute() - linear_cka(a, b, debiased=True)) < 5e-2  # three batches: an estimate of the same quantity
    assert abs(linear_cka(a, b) - linear_cka(a.cpu(), b.cpu())) < 1e-9
