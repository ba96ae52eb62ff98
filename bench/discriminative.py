"""Optimizer step time: ftkit's named per-group param groups vs one param group.

all-MiniLM-L6-v2 under a linear head (ftkit.models.minilm_classifier's layout) on CPU, AdamW. Both optimizers
step the same model with the same random gradients, interleaved step by step in one run so machine load hits
both alike; we report medians, their ratio (goal <= 1.03), the median of step-paired ratios, and an A/A control
(two identical one-group optimizers) that shows the noise floor. Then, the same way, the step time of fastai's
`Adam` against `ftkit.discriminative.fused_adamw` (PyTorch's fused AdamW behind fastai's OptimWrapper) on
ftkit's layer groups: the same update rule, the time per step of a fastai Learner's optimizer. Run:

    OMP_NUM_THREADS=1 python bench/discriminative.py [--steps 40] [--threads 1] [--foreach]
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
from fastai.optimizer import Adam  # noqa: E402
from torch import nn  # noqa: E402

from ftkit.discriminative import fused_adamw, param_groups  # noqa: E402
from ftkit.groups import splitter  # noqa: E402
from ftkit.models import minilm_classifier  # noqa: E402


def build_model() -> nn.Module:
    return minilm_classifier(2)[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per optimizer")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per optimizer first")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--foreach", action="store_true", help="use AdamW's foreach implementation")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model()
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    groups = param_groups(model, 2e-5, decay=0.95, weight_decay=0.01)
    kwargs = dict(foreach=args.foreach or None)
    optimizers = {
        "ftkit groups": torch.optim.AdamW(groups, **kwargs),
        "one group": torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01, **kwargs),
        "one group (A/A control)": torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01, **kwargs),
    }
    times = {name: [] for name in optimizers}
    names = list(optimizers)
    for step in range(args.warmup + args.steps):
        order = names[step % 3:] + names[:step % 3]  # rotate who goes first, so load drift hits all alike
        for name in order:
            start = time.perf_counter()
            optimizers[name].step()
            elapsed = time.perf_counter() - start
            if step >= args.warmup: times[name].append(elapsed)
    medians = {name: statistics.median(values) for name, values in times.items()}
    paired = [a / b for a, b in zip(times["ftkit groups"], times["one group"])]
    control = [a / b for a, b in zip(times["one group (A/A control)"], times["one group"])]
    quartiles = lambda xs: statistics.quantiles(xs, n=4)
    num_params = sum(p.numel() for p in model.parameters())
    print(f"all-MiniLM-L6-v2 + head: {num_params / 1e6:.1f}M parameters, AdamW "
          f"({'foreach' if args.foreach else 'default'}), CPU, {args.threads} thread(s), "
          f"{args.steps} interleaved steps each")
    for name, optimizer in optimizers.items():
        print(f"  {name:24s} ({len(optimizer.param_groups):2d} param groups): median {medians[name] * 1e3:6.1f} ms/step")
    print(f"  ratio of medians, ftkit / one group:      {medians['ftkit groups'] / medians['one group']:.3f} (goal <= 1.03)")
    q = quartiles(paired)
    print(f"  median of step-paired ratios:             {statistics.median(paired):.3f} (IQR {q[0]:.3f}-{q[2]:.3f})")
    q = quartiles(control)
    print(f"  A/A control (identical one-group optimizers), paired: {statistics.median(control):.3f} "
          f"(IQR {q[0]:.3f}-{q[2]:.3f}): the noise floor of this machine")
    fastai_vs_fused(model, args)


def fastai_vs_fused(model, args):
    "fastai's Adam vs fused_adamw over ftkit's layer groups (as a Learner with splitter=ftkit.groups.splitter builds them)."
    optimizers = {"fastai Adam": Adam(splitter(model), lr=2e-5), "fused_adamw": fused_adamw(splitter(model), lr=2e-5)}
    times = {name: [] for name in optimizers}
    for step in range(args.warmup + args.steps):
        for name in (list(optimizers) if step % 2 else list(optimizers)[::-1]):
            start = time.perf_counter()
            optimizers[name].step()
            if step >= args.warmup: times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, optimizer in optimizers.items():
        print(f"  {name:24s} ({len(optimizer.param_lists):2d} param groups): median {medians[name] * 1e3:6.1f} ms/step")
    print(f"  fastai Adam / fused_adamw step time: {medians['fastai Adam'] / medians['fused_adamw']:.1f}x")

if __name__ == "__main__":
    main()
