"""Contracts between ftkit's modules, on tiny models (seconds on a CPU):

1. every ftkit callback gives the same numbers when `fit_schedule` trains frozen-prefix stages through the cache
   (`cache=True`) as when it recomputes them (`cache=False`): losses, the terms the regularizers add to the loss,
   the final weights, the tracker's table, the recorded schedules;
2. every consumer of batches takes ftkit's own text batches `(input_ids, attention_mask, labels)` and image batches
   `(images, labels)`, and gives what the same computation written out by hand, with the inputs and the labels
   passed explicitly, gives."""
import copy

import pytest
import torch
from fastai.callback.core import Callback
from fastai.data.core import DataLoaders
from fastcore.test import test_close as close, test_eq as same
from torch import nn
from transformers import BertConfig, BertModel

from ftkit.core import classification_learner, masked_mean, seed_everything, synthetic_classification, synthetic_learner, task_accuracy
from ftkit.discriminative import ScheduleRecorder
from ftkit.forgetting import diagonal_fisher
from ftkit.tracker import ForgettingTracker
from ftkit.groups import layer_groups, splitter
from ftkit.models import SequenceClassifier
from ftkit.regularizers import EWC, L2SP, LwF
from ftkit.schedules import full_fine_tuning, gradual_unfreezing
from ftkit.similarity import MinibatchCKA, group_features, group_modules, layer_cka
from ftkit.text import pad_collate
from ftkit.training import fit_schedule, train_schedule


# 1. callbacks: cached and recomputed stages give the same numbers

class Record(Callback):
    "Each training step's task loss, and what the callbacks before it added to the loss that is back-propagated."
    order = 60  # after the regularizers (55)

    def __init__(self):
        self.losses, self.added = [], []

    def after_loss(self):
        if self.training:
            self.losses.append(self.learn.loss.item())
            self.added.append((self.learn.loss_grad - self.learn.loss).item())


def _ewc(learn):
    generator = torch.Generator().manual_seed(0)
    fisher = {name: torch.rand(p.shape, generator=generator) for name, p in learn.model.named_parameters()}
    anchor = {name: p.detach() + 0.05 for name, p in learn.model.named_parameters()}  # away from the start: a pull
    return EWC(fisher, anchor, lam=3.0)


def _lwf(learn):
    source = copy.deepcopy(learn.model)  # the model before fine-tuning, with its head as the old head
    return LwF(source, source.head, features="blocks", lam=2.0, T=3.0)


def _tracker(learn):
    x, y = synthetic_classification(128, seed=7)
    return ForgettingTracker(probe=[synthetic_classification(64, seed=s)[0] for s in (5, 6)],
                             sources={"source": lambda model: task_accuracy(model, x, y)}, targets={"target": "accuracy"})


CALLBACKS = {  # name -> callback for a fresh Learner (None: fit_schedule's own option of that name)
    "L2SP": lambda learn: L2SP(alpha=0.5, beta=0.01),
    "EWC": _ewc,
    "LwF": _lwf,
    "ForgettingTracker": _tracker,
    "ScheduleRecorder": lambda learn: ScheduleRecorder(),
    "AutoRGN": None,
}


def _run(name: str, cache: bool):
    learn = synthetic_learner(num_blocks=3, splitter=splitter, seed=0)
    callback, record = CALLBACKS[name](learn) if CALLBACKS[name] else None, Record()
    learn.add_cbs([cb for cb in (callback, record) if cb is not None])
    schedule = gradual_unfreezing(layer_groups(learn.model, include_frozen=True), epochs_per_stage=1)
    with learn.no_bar(), learn.no_logging():
        timeline = fit_schedule(learn, schedule, lr_max=1e-2, cache=cache, auto_rgn=name == "AutoRGN")
    return timeline, record, callback, learn


@pytest.mark.parametrize("name", CALLBACKS)
def test_callback_same_with_cache(name):
    cached, cached_record, cached_callback, cached_learn = _run(name, cache=True)
    plain, plain_record, plain_callback, plain_learn = _run(name, cache=False)
    # the cached run really read activations back (hits), except where the callback itself hooks a frozen layer:
    # LwF runs the model's own features for its distillation target, so the stand-in recomputes (and says so)
    if name == "LwF":
        assert cached.cache_reason.str.contains("recomputed while a hook watched").any(), cached.cache_reason.tolist()
    else:
        assert (cached.cache == "cache").any() and cached.cache_hits.sum() > 0, f"{name}: nothing read from the cache"
    for column in ("train_loss", "valid_loss"):
        close(cached[column].values, plain[column].values, eps=1e-5)
    same(len(cached_record.losses), len(plain_record.losses))
    close(cached_record.losses, plain_record.losses, eps=1e-5)
    close(cached_record.added, plain_record.added, eps=1e-5)
    if name in ("L2SP", "EWC", "LwF"):
        assert max(map(abs, cached_record.added)) > 1e-4, f"{name} added nothing to the loss"
    for a, b in zip(cached_learn.model.parameters(), plain_learn.model.parameters()):
        close(a, b, eps=1e-5)
    if isinstance(cached_callback, ForgettingTracker):
        assert len(cached_callback.table) > 0
        columns = ["step", "epoch", "metric", "name"]
        same(cached_callback.table[columns], plain_callback.table[columns])
        close(cached_callback.table.value.values, plain_callback.table.value.values, eps=1e-5)
    if name == "AutoRGN":  # the option did something: the same run without it ends elsewhere
        learn = synthetic_learner(num_blocks=3, splitter=splitter, seed=0)
        with learn.no_bar(), learn.no_logging():
            without = fit_schedule(learn, gradual_unfreezing(layer_groups(learn.model, include_frozen=True), epochs_per_stage=1),
                                   lr_max=1e-2, cache=False)
        assert abs(without.train_loss.values[-1] - plain.train_loss.values[-1]) > 1e-4
    if isinstance(cached_callback, ScheduleRecorder):
        same(cached_callback.log.names, plain_callback.log.names)
        close(cached_callback.log.lrs, plain_callback.log.lrs, eps=1e-12)


# 2. batch consumers: ftkit's text and image batches, against the computation written out by hand

def _bert():
    "A tiny BERT classifier; no dropout, so a training-mode forward is reproducible."
    seed_everything(0)
    config = BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return SequenceClassifier(BertModel(config), num_classes=3, dropout=0.0)


def _text_examples(count: int, seed: int) -> list:
    "(token ids, label) pairs of 2 to 9 tokens, as `TokenizedTexts` holds them."
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, 10, (count,), generator=generator)
    return [(torch.randint(1, 100, (int(n),), generator=generator).tolist(), int(torch.randint(0, 3, (), generator=generator)))
            for n in lengths]


def _text_batches(count: int = 2, size: int = 8, seed: int = 0) -> list:
    "ftkit's text batches: (input_ids, attention_mask, labels), right-padded by `pad_collate`."
    examples = _text_examples(count * size, seed)
    return [pad_collate(examples[i:i + size], pad_id=0) for i in range(0, len(examples), size)]


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4, 3)

    def forward(self, images):
        return self.head(self.body(images))


def _cnn():
    seed_everything(0)
    return TinyCNN()


def _image_batches(count: int = 2, size: int = 8, seed: int = 0) -> list:
    "Image batches: (images (b, 1, 8, 8), labels)."
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 1, 8, 8, generator=generator), torch.randint(0, 3, (size,), generator=generator))
            for _ in range(count)]


def _call_text(model, input_ids, attention_mask):  # the text model's inputs, passed by name
    return model(input_ids=input_ids, attention_mask=attention_mask)


def _call_image(model, images):
    return model(images)


KINDS = {  # kind -> (model, batches, the model called by hand on a batch's inputs)
    "text": (_bert, _text_batches, _call_text),
    "image": (_cnn, _image_batches, _call_image),
}


def _fisher_by_hand(model, batches, call, labels_of=None) -> dict:
    "Mean over examples of the squared gradient of log p(label | inputs), one example at a time."
    model.eval()
    params = dict(model.named_parameters())
    total, count = {name: torch.zeros_like(p) for name, p in params.items()}, 0
    for index, (*inputs, labels) in enumerate(batches):
        labels = labels if labels_of is None else labels_of[index]
        for i in range(len(labels)):
            logits = call(model, *[x[i:i + 1] for x in inputs])
            grads = torch.autograd.grad(torch.log_softmax(logits, -1)[0, labels[i]], list(params.values()), allow_unused=True)
            for name, g in zip(params, grads):
                if g is not None:
                    total[name] += g.square()
        count += len(labels)
    return {name: t / count for name, t in total.items()}


def _features_by_hand(model, modules: dict, inputs: list, call) -> dict:
    "Each module's output on the untrimmed batch, token vectors averaged over the attention mask."
    outputs, handles = {}, [m.register_forward_hook(lambda m, a, out, name=name: outputs.__setitem__(name, out))
                            for name, m in modules.items()]
    try:
        with torch.no_grad():
            call(model.eval(), *inputs)
    finally:
        for handle in handles:
            handle.remove()
    features = {}
    for name, out in outputs.items():
        out = out[0] if isinstance(out, tuple) else out
        features[name] = masked_mean(out, inputs[1]) if out.ndim == 3 else out.reshape(len(out), -1)
    return features


def _cka_by_hand(reference, model, batches, call) -> dict:
    "Minibatch CKA per group from the features written out by hand."
    modules = group_modules(model)
    reference_modules = {name: reference.get_submodule(path) for path, m in model.named_modules()
                         for name, module in modules.items() if m is module}
    scores = {}
    for *inputs, _ in batches:
        before = _features_by_hand(reference, reference_modules, inputs, call)
        after = _features_by_hand(model, modules, inputs, call)
        for name in after:
            scores.setdefault(name, MinibatchCKA()).update(before[name], after[name])
    return {name: score.compute() for name, score in scores.items()}


def _moved(model):
    "A copy of `model` with every weight moved a little."
    other = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=generator))
    return other


@pytest.mark.parametrize("kind", KINDS)
def test_fisher_takes_ftkit_batches(kind):
    make, batches_of, call = KINDS[kind]
    model, batches = make(), batches_of()
    by_hand = _fisher_by_hand(model, batches, call)
    for method in ("auto", "loop"):
        fisher = diagonal_fisher(model, batches, method=method)
        for name in by_hand:
            torch.testing.assert_close(fisher[name], by_hand[name], rtol=1e-4, atol=1e-7)
    ewc = EWC.from_batches(model, batches, num_batches=len(batches))
    for name in by_hand:
        torch.testing.assert_close(ewc.fisher[name], by_hand[name], rtol=1e-4, atol=1e-7)
    seed_everything(3)  # the true Fisher: labels drawn from the model's predictions, batch by batch
    true_fisher = diagonal_fisher(model, batches, kind="true")
    seed_everything(3)
    with torch.no_grad():
        drawn = [torch.multinomial(torch.softmax(call(model.eval(), *inputs), -1), 1).squeeze(1) for *inputs, _ in batches]
    for name, f in _fisher_by_hand(model, batches, call, labels_of=drawn).items():
        torch.testing.assert_close(true_fisher[name], f, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("kind", KINDS)
def test_features_and_cka_take_ftkit_batches(kind):
    make, batches_of, call = KINDS[kind]
    model, batches = make(), batches_of()
    modules = group_modules(model)
    for *inputs, labels in batches:
        with torch.no_grad():
            features = group_features(model.eval(), modules, (*inputs, labels))
        for name, expected in _features_by_hand(model, modules, inputs, call).items():
            close(features[name], expected, eps=1e-5)
    other = _moved(model)
    by_hand = _cka_by_hand(model, other, batches, call)
    cka = layer_cka(model, other, batches)
    same(list(cka), list(by_hand))
    for name in by_hand:
        close(cka[name], by_hand[name], eps=1e-6)


def _loader(batches: list):
    "A loader that yields `batches` as they are (fastai wraps torch loaders, as `text_dataloaders` does)."
    return torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False)


@pytest.mark.parametrize("kind", KINDS)
def test_tracker_probe_takes_ftkit_batches(kind):
    make, batches_of, call = KINDS[kind]
    model, probe = make(), batches_of(seed=1)
    start = copy.deepcopy(model)
    learn = classification_learner(DataLoaders(_loader(batches_of(count=3)), _loader(batches_of(seed=2))), model)
    tracker = ForgettingTracker(probe=probe, drift=False)
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-2, cbs=tracker)
    final = tracker.table.query("metric == 'cka' and step == step.max()").set_index("name").value
    by_hand = _cka_by_hand(start, model, probe, call)
    assert tracker.steps == 3 and min(by_hand.values()) < 0.9999, "the model did not train"
    for name in by_hand:
        close(final[name], by_hand[name], eps=1e-5)


class RecordingLoss:
    "Cross-entropy that keeps what it was called with."
    def __init__(self):
        self.calls = []

    def __call__(self, output, target):
        self.calls.append((output.detach().clone(), target.clone()))
        return nn.functional.cross_entropy(output, target)


@pytest.mark.parametrize("kind", KINDS)
def test_train_schedule_takes_ftkit_batches(kind):
    make, batches_of, call = KINDS[kind]
    model, train, valid = make(), batches_of(count=3), batches_of(seed=2)
    start = copy.deepcopy(model)
    loss = RecordingLoss()
    timeline = train_schedule(model, full_fine_tuning(layer_groups(model, include_frozen=True), epochs=1), _loader(train),
                              loss, lr_max=1e-3, valid_loader=_loader(valid))
    (*inputs, labels) = train[0]
    first_output, first_target = loss.calls[0]
    same(first_target, labels)  # the labels are the target, not the attention mask
    with torch.no_grad():
        close(first_output, call(start.train(), *inputs), eps=1e-5)  # the model got every input, by its role
        valid_loss = sum(float(nn.functional.cross_entropy(call(model.eval(), *x), y)) * len(y) for *x, y in valid)
    close(timeline.valid_loss.iloc[-1], valid_loss / sum(len(y) for *_, y in valid), eps=1e-5)
