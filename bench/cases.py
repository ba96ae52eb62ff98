"""Benchmark: frozen-prefix caching on the `transferability` case's frozen-n units (AnB, BnB), CPU.

Runs the same units side by side in one process in three modes: recomputing the frozen first n layers at every step
(cache=False), ftkit's frozen-prefix caching on every frozen stage (cache=True: the first n layers' output is computed
once per image in the first epoch and replayed in every later epoch and validation pass), and cache="auto" (the
case's setting: caches only where its cost model, measured on the first batch, says it pays). The modes do the same
arithmetic, so every unit's accuracy must be identical between them; the script checks that and exits non-zero when
it is not.

It also measures what any cache could gain on these units. A profiled recompute pass times the frozen stages' forward
inside each unit (hooks around them, up to the cache boundary); from their share p of the unit's time t, two bounds:
  free cache:  t / (t - p)                  a cache that costs nothing and holds every image before the unit starts
  one pass:    t / (t - p·(E-1)/E)          the first of the unit's E epochs computes the prefix, the rest are free
Caching can only skip the frozen layers' forward pass (frozen layers already skip the backward pass), so no cache
beats the first bound: where it is below the goal, the goal is out of reach for this workload.

Timed: the units alone. Both bases of each seed are trained (or read from ftkit's cache) and the data loaded before
the clock starts, and one untimed warm-up unit per mode runs first. Each repeat times every unit once per mode, the
modes taking turns first; per mode, units per minute is (units / total seconds) of a repeat, and a speedup is the
median over repeats of the per-repeat ratio to recomputing.
  goal: >= 2x units per minute on the frozen-n units, accuracies identical

Usage: python bench/cases.py [--tier quick|full] [--repeats R] [--seeds K] [--all] [--data mnist|fashion_mnist]
  --tier quick (default): the units of `ftkit replicate transferability --quick` (n = 1, 3, 6; 400 images, 3 epochs)
  --tier full: the full tier's units of the first --seeds seeds (n = 1..6; 3000 images, 4 epochs)
  --all: time the fine-tuned units (AnB+, BnB+) too; nothing is frozen there, so caching has nothing to skip
Last line: frozen_speedup=<x> auto_speedup=<x> bound_free=<x> bound_one_pass=<x> units_per_min_recompute=<u>
  units_per_min_cached=<u> units_per_min_auto=<u> identical=<True|False>   (speedup=... instead of frozen_speedup with --all)
"""
import argparse
import os
import statistics
import sys
import time
import warnings
from contextlib import contextmanager
from unittest.mock import patch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore", category=FutureWarning)

import torch  # noqa: E402

import ftkit.transfer_cases as transfer_cases  # noqa: E402
from ftkit.caching import frozen_boundary  # noqa: E402
from ftkit.chains import model_chain  # noqa: E402
from ftkit.core import library_versions  # noqa: E402
from ftkit.groups import layer_groups  # noqa: E402
from ftkit.ledger import Unit  # noqa: E402
from ftkit.transfer_cases import TransferConfig, base_models, transfer_units, transfer_work  # noqa: E402

MODES = {"recompute": False, "cached": True, "auto": "auto"}  # name -> the unit config's `cache`


def with_cache(unit: Unit, cache) -> Unit:
    "The same unit with frozen-prefix caching set to `cache` (its only difference)."
    return Unit(unit.case, unit.setting, {**unit.config, "cache": cache}, unit.seed)


def timed(unit: Unit) -> tuple[float, float]:
    "Wall-clock seconds and accuracy of one unit."
    start = time.perf_counter()
    accuracy = transfer_work(unit)["accuracy"]
    return time.perf_counter() - start, accuracy


@contextmanager
def prefix_clock(n: int, spent: list):
    "Within the block, every transferred network adds to spent[0] the seconds its frozen stages spend in forward: the first n layers and the parameter-free stages up to the cache boundary (at n = 6, the pooling too)."
    build = transfer_cases.transferred_network
    def hooked(*args, **kwargs):
        model, started = build(*args, **kwargs), [0.0]
        if n:
            chain, groups = model_chain(model), layer_groups(model, include_frozen=True)
            boundary = frozen_boundary(chain, groups, [g.name for g in groups][n:])  # what a cache would skip
            def start(module, inputs): started[0] = time.perf_counter()
            def stop(module, inputs, output): spent[0] += time.perf_counter() - started[0]
            chain.modules[0].register_forward_pre_hook(start)
            chain.modules[boundary - 1].register_forward_hook(stop)
        return model
    with patch.object(transfer_cases, "transferred_network", hooked):
        yield


def profiled(unit: Unit) -> tuple[float, float]:
    "Seconds of one recomputing unit and the seconds of it its frozen stages (what a cache would skip) spent in forward."
    spent = [0.0]
    kind, n = transfer_cases._setting(unit.setting)
    with prefix_clock(0 if kind.endswith("+") else n, spent):  # fine-tuned units freeze nothing
        seconds, _ = timed(with_cache(unit, False))
    return seconds, spent[0]


def prepare(units: list[Unit]):
    "Train or load every seed's bases and run one untimed warm-up unit per mode (data loading, first-call costs)."
    for seed in sorted({u.seed for u in units}):
        config = TransferConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in units[0].config.items()})
        base_models(config, seed)
    for cache in MODES.values():
        transfer_work(with_cache(units[0], cache))


def one_repeat(units: list[Unit], order: list[str]) -> dict:
    "Every unit once per mode, in `order`, then once profiled: {mode: (per-unit seconds, per-unit accuracies)}."
    out = {}
    for mode in order:
        runs = [timed(with_cache(u, MODES[mode])) for u in units]
        out[mode] = ([s for s, _ in runs], [a for _, a in runs])
        print(f"  {mode:<9} {len(units)} units in {sum(out[mode][0]):6.1f} s = "
              f"{60 * len(units) / sum(out[mode][0]):5.1f} units/min", flush=True)
    out["profiled"] = [profiled(u) for u in units]
    return out


def bounds(seconds: list[float], prefix: list[float], epochs: int) -> tuple[float, float]:
    "The free-cache and one-pass bounds of a set of units (see the module's docstring)."
    total = sum(seconds)
    return total / (total - sum(prefix)), total / (total - sum(prefix) * (epochs - 1) / epochs)


def per_setting(units: list[Unit], repeats: list[dict], epochs: int):
    "Median seconds of each setting (over seeds and repeats) in every mode, its ratios, and the frozen layers' share."
    print("per setting (median seconds per unit; ratio = recompute / mode; frozen = the frozen layers' share of a recomputing unit):")
    for setting in dict.fromkeys(u.setting for u in units):
        index = [i for i, u in enumerate(units) if u.setting == setting]
        median = {m: statistics.median(r[m][0][i] for r in repeats for i in index) for m in MODES}
        share = statistics.median(r["profiled"][i][1] / r["profiled"][i][0] for r in repeats for i in index)
        free, one = bounds([1.0], [share], epochs)
        print(f"  {setting:<10} recompute {median['recompute']:5.2f} s  cached {median['cached']:5.2f} s "
              f"({median['recompute'] / median['cached']:.2f}x)  auto {median['auto']:5.2f} s "
              f"({median['recompute'] / median['auto']:.2f}x)  frozen {100 * share:3.0f}%  bounds {free:.2f}x / {one:.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", choices=["quick", "full"], default="quick")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per mode (median ratio; default 3)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds of the tier's units to time (default 1)")
    parser.add_argument("--all", action="store_true", help="also time the fine-tuned units (AnB+, BnB+)")
    parser.add_argument("--data", choices=["mnist", "fashion_mnist"], default="mnist")
    args = parser.parse_args()
    units = [u for u in transfer_units(quick=args.tier == "quick", seeds=args.seeds, data=args.data)
             if args.all or not u.setting.split()[0].endswith("+")]
    config = units[0].config
    print(f"bench/cases.py: transferability --{args.tier}, {len(units)} units ({', '.join(dict.fromkeys(u.setting for u in units))}), "
          f"{config['data']}, {config['max_train']} images, {config['epochs']} epochs; torch {library_versions()['torch']}, "
          f"{torch.get_num_threads()} threads", flush=True)
    prepare(units)
    repeats = []
    for r in range(args.repeats):
        print(f"repeat {r + 1}/{args.repeats}", flush=True)
        order = list(MODES)[r % len(MODES):] + list(MODES)[:r % len(MODES)]  # each mode goes first in turn
        repeats.append(one_repeat(units, order))
    per_setting(units, repeats, config["epochs"])
    rate = {m: [60 * len(units) / sum(r[m][0]) for r in repeats] for m in MODES}
    speedup = {m: statistics.median(a / b for a, b in zip(rate[m], rate["recompute"])) for m in ("cached", "auto")}
    free, one = (statistics.median(x) for x in zip(*(bounds(*zip(*r["profiled"]), config["epochs"]) for r in repeats)))
    identical = all(r[m][1] == repeats[0]["recompute"][1] for r in repeats for m in MODES)
    per_min = {m: statistics.median(rate[m]) for m in MODES}
    print(f"units per minute: recompute {per_min['recompute']:.1f}, cached {per_min['cached']:.1f}, auto {per_min['auto']:.1f}; "
          f"speedup cached {speedup['cached']:.2f}x, auto {speedup['auto']:.2f}x (goal >= 2x); what any cache could reach: "
          f"{free:.2f}x (free cache), {one:.2f}x (one pass per unit); accuracies "
          f"{'identical in every mode and repeat' if identical else 'DIFFER between modes or repeats'}")
    print(f"{'speedup' if args.all else 'frozen_speedup'}={speedup['cached']:.2f} auto_speedup={speedup['auto']:.2f} "
          f"bound_free={free:.2f} bound_one_pass={one:.2f} units_per_min_recompute={per_min['recompute']:.1f} "
          f"units_per_min_cached={per_min['cached']:.1f} units_per_min_auto={per_min['auto']:.1f} identical={identical}")
    if not identical: sys.exit(1)


if __name__ == "__main__":
    main()
