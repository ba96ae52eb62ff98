"""Benchmark: frozen-prefix caching and ftkit's text pipeline on MiniLM fine-tuned on TREC-6 (CPU).

Measures, side by side in one run, wall time of the same schedule with and without caching (the same
computation, so accuracies must agree), and ftkit's default text pipeline (length-bucketed dynamic padding +
caching) against the usual fastai way (fixed padding to 40 tokens, frozen layers recomputed every step):
  1. linear probe (head only, 10 epochs)            goal: >= 5x
  2. LP-FT (10 probe epochs, then 2 full epochs)    goal: >= 2x
  3. ULMFiT gradual unfreezing, fastai's recipe: freeze_to(-1), freeze_to(-2), freeze_to(-3), unfreeze, for
     1,1,1,2 epochs, discriminative LRs (factor 2.6 per group), STLR   goal: >= 1.1x
  4. end to end, ULMFiT schedule: ftkit pipeline vs fastai's usual way   goal: >= 3x, accuracy within 0.5 pt
     (accuracy: mean over --seeds seeds for each side, since the two sides see different batches; speedup:
     median of the per-seed ratios)
Last line: lp_speedup=<x> lpft_speedup=<x> ulmfit_speedup=<x> pipeline_speedup=<x> acc_delta=<pts>

Every Learner here uses ftkit.discriminative.fused_adamw (fastai's Adam update with PyTorch's fused kernel;
fastai's own Adam step takes as long as a backward pass on MiniLM), on both sides of every comparison.

`--cache` chooses the caching modes sections 1-3 compare, each against the first (default: false true, i.e.
recompute vs cache=True); `--cache false auto true` adds ftkit's default, cache="auto", which caches only the
stages its cost model says pay: it should never be slower than recomputing, and close to cache=True where caching
pays. Section 4's ftkit side uses the last mode listed.

Usage: python bench/unfreezing.py [--quick] [--train N] [--seed S] [--seeds K] [--first-seed F] [--repeats R] [--only 1 2 ...]
                                  [--cache MODE [MODE ...]]  (FTKIT_DATA must hold trec/)
--quick uses 300 training and 200 validation questions (a few minutes).
"""
import argparse
import os
import statistics
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore", category=FutureWarning)

import torch  # noqa: E402
from fastai.data.core import DataLoaders  # noqa: E402
from fastai.learner import Learner  # noqa: E402
from fastai.metrics import accuracy  # noqa: E402
from torch import nn  # noqa: E402

from ftkit.core import library_versions, seed_everything  # noqa: E402
from ftkit.datasets import load_dataset  # noqa: E402
from ftkit.discriminative import fit_stlr, fused_adamw  # noqa: E402
from ftkit.groups import layer_groups, splitter  # noqa: E402
from ftkit.models import minilm_classifier  # noqa: E402
from ftkit.schedules import gradual_unfreezing, last_layer_only, lp_ft  # noqa: E402
from ftkit.text import text_dataloader  # noqa: E402
from ftkit.training import fit_schedule  # noqa: E402

MODES = {"false": False, "true": True, "auto": "auto", "force": "force"}  # --cache spellings -> fit_schedule's cache=


def build(train, valid, bucket, pad_to, seed, batch_size=32):
    "A fresh MiniLM classifier and a fastai Learner over TREC with the given padding scheme."
    seed_everything(seed)
    model, tokenizer = minilm_classifier(6)
    train_dl = text_dataloader(train, tokenizer, batch_size, shuffle=True, bucket=bucket, pad_to=pad_to, seed=seed)
    valid_dl = text_dataloader(valid, tokenizer, 2 * batch_size, shuffle=False, bucket=bucket, pad_to=pad_to, seed=seed)
    dls = DataLoaders(train_dl, valid_dl, device=torch.device("cpu"))
    return Learner(dls, model, loss_func=nn.CrossEntropyLoss(), metrics=accuracy, splitter=splitter,
                   opt_func=fused_adamw)


def timed_run(name, schedule_fn, train, valid, cache, bucket=True, pad_to=None, seed=0, cpu_times=None,
              **fit_args) -> tuple[float, float]:
    "Wall-clock seconds and final accuracy of one schedule; appends the process's CPU seconds to `cpu_times`."
    learn = build(train, valid, bucket, pad_to, seed)
    groups = layer_groups(learn.model, include_frozen=True)
    start, cpu_start = time.perf_counter(), time.process_time()
    with learn.no_bar(), learn.no_logging():
        timeline = fit_schedule(learn, schedule_fn(groups), cache=cache, **fit_args)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    acc = float(timeline.accuracy.iloc[-1])
    print(f"  {name:<52} {seconds:7.1f} s   accuracy {acc:.4f}   (CPU {cpu:.1f} s)", flush=True)
    if cpu_times is not None: cpu_times.append(cpu)
    return seconds, acc


def compare(title, schedule_fn, train, valid, seed, goal, repeats=1, modes=("false", "true"), **fit_args):
    "Runs with each caching mode taking turns `repeats` times; per mode, the median of its ratios to the first mode."
    print(f"{title}", flush=True)
    ratios = {mode: [] for mode in modes[1:]}
    for _ in range(repeats):
        times = {mode: timed_run(f"cache={MODES[mode]!r}", schedule_fn, train, valid, MODES[mode], seed=seed, **fit_args)
                 for mode in modes}
        for mode in modes[1:]:
            ratios[mode].append(times[modes[0]][0] / times[mode][0])
    for mode in modes[1:]:
        accuracy_delta = 100 * (times[mode][1] - times[modes[0]][1])
        print(f"  cache={MODES[mode]!r} vs cache={MODES[modes[0]]!r}: speedup {statistics.median(ratios[mode]):.2f}x (median "
              f"of {', '.join(f'{r:.2f}' for r in ratios[mode])}; goal >= {goal}x); accuracy difference "
              f"{accuracy_delta:+.2f} pt (same computation: should be ~0)", flush=True)
    return statistics.median(ratios[modes[-1]]) if len(modes) > 1 else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 training / 200 validation questions")
    parser.add_argument("--train", type=int, default=1000, help="training questions (default 1000)")
    parser.add_argument("--valid", type=int, default=500, help="validation questions from TREC's test set (default all 500)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the training subset and of the first run")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per side in the end-to-end comparison (default 3)")
    parser.add_argument("--repeats", type=int, default=1, help="pairs per comparison in sections 1-3 (median ratio)")
    parser.add_argument("--first-seed", type=int, default=None,
                        help="first seed of section 4's runs (default --seed): extend an earlier run with new seeds")
    parser.add_argument("--only", type=int, nargs="+", choices=[1, 2, 3, 4], default=[1, 2, 3, 4],
                        help="run only these sections (the last line then shows nan for the others)")
    parser.add_argument("--cache", nargs="+", choices=list(MODES), default=["false", "true"],
                        help="caching modes sections 1-3 compare, each against the first; the last line's speedups are "
                             "the last mode's, and section 4's ftkit side uses it (default: false true)")
    args = parser.parse_args()
    if args.quick:
        args.train, args.valid = 300, 200
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    trec = load_dataset("trec")
    train = trec.train.sample(n=args.train, random_state=args.seed).reset_index(drop=True)
    valid = trec.test.iloc[: args.valid].reset_index(drop=True)
    versions = library_versions()
    print(f"bench/unfreezing.py: MiniLM on TREC-6, {len(train)} train / {len(valid)} valid questions, "
          f"torch {versions['torch']}, {torch.get_num_threads()} threads", flush=True)

    probe = lambda groups: last_layer_only(groups, epochs=10)
    lpft = lambda groups: lp_ft(groups, probe_epochs=10, ft_epochs=2, probe_lr=1e-2, ft_lr=5e-5)
    # fastai's ULMFiT recipe on MiniLM's 8 groups: head; + layer 5; + layer 4; everything. Peak rates fall per
    # stage; within a stage ULMFiT's factor 2.6 per group (fastai slice semantics over the 8 groups)
    ulmfit_lrs = [2e-2] + [slice(top / 2.6 ** 7, top) for top in (5e-3, 2e-3, 1e-3)]
    ulmfit = lambda groups: gradual_unfreezing(groups, epochs_per_stage=[1, 1, 1, 2], num_stages=4, stage_lrs=ulmfit_lrs)

    nan = float("nan")
    lp_speedup = compare("1. linear probe, 10 epochs", probe, train, valid, args.seed, 5, args.repeats, args.cache, lr_max=1e-2) if 1 in args.only else nan
    lpft_speedup = compare("2. LP-FT, 10 probe + 2 fine-tuning epochs", lpft, train, valid, args.seed, 2, args.repeats, args.cache) if 2 in args.only else nan
    ulmfit_speedup = compare("3. ULMFiT gradual unfreezing (fastai's recipe, 1,1,1,2 epochs), discriminative LRs, STLR",
                             ulmfit, train, valid, args.seed, 1.1, args.repeats, args.cache, fit=fit_stlr) if 3 in args.only else nan
    if 4 not in args.only:
        print(f"lp_speedup={lp_speedup:.2f} lpft_speedup={lpft_speedup:.2f} ulmfit_speedup={ulmfit_speedup:.2f} "
              "pipeline_speedup=nan acc_delta=nan")
        return
    print(f"4. end to end, ULMFiT schedule: ftkit's pipeline vs the usual fastai way, {args.seeds} seeds", flush=True)
    ratios, accs_usual, accs_ours, cpu_usual, cpu_ours = [], [], [], [], []
    first = args.seed if args.first_seed is None else args.first_seed
    for seed in range(first, first + args.seeds):
        usual, acc_usual = timed_run(f"seed {seed}: fixed padding to 40, recompute (fastai's way)", ulmfit, train, valid,
                                     False, bucket=False, pad_to=40, seed=seed, cpu_times=cpu_usual, fit=fit_stlr)
        ours, acc_ours = timed_run(f"seed {seed}: bucketed dynamic padding + cache={MODES[args.cache[-1]]!r} (ftkit)", ulmfit,
                                   train, valid, MODES[args.cache[-1]], seed=seed, cpu_times=cpu_ours, fit=fit_stlr)
        ratios.append(usual / ours)
        accs_usual.append(acc_usual)
        accs_ours.append(acc_ours)
    pipeline_speedup = statistics.median(ratios)
    mean_usual, mean_ours = statistics.mean(accs_usual), statistics.mean(accs_ours)
    acc_delta = 100 * (mean_ours - mean_usual)
    # pooled seed-to-seed standard deviation of one run's accuracy: the noise a single-seed comparison carries
    spread = 100 * ((statistics.variance(accs_usual) + statistics.variance(accs_ours)) / 2) ** 0.5 if args.seeds > 1 else float("nan")
    print(f"  speedup {pipeline_speedup:.2f}x (median of {', '.join(f'{r:.2f}' for r in ratios)}; goal >= 3x), mean "
          f"accuracy {100 * mean_ours:.2f} vs {100 * mean_usual:.2f} ({acc_delta:+.2f} pt, goal within 0.5 pt; "
          f"seed-to-seed std of one run {spread:.2f} pt)", flush=True)
    # CPU time counts only this process's work: a second view of the same runs, less exposed to other load on a shared machine
    cpu_ratio = statistics.median(u / o for u, o in zip(cpu_usual, cpu_ours))
    print(f"  process CPU time: speedup {cpu_ratio:.2f}x (median of per-seed ratios; the goal is on wall-clock time)", flush=True)
    print(f"lp_speedup={lp_speedup:.2f} lpft_speedup={lpft_speedup:.2f} ulmfit_speedup={ulmfit_speedup:.2f} "
          f"pipeline_speedup={pipeline_speedup:.2f} acc_delta={acc_delta:+.2f}")


if __name__ == "__main__":
    main()
