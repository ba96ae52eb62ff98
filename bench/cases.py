"""Benchmark: frozen-prefix caching on the `transferability` case's frozen-n units (AnB, BnB), CPU.

Runs the same units side by side in one process, with ftkit's frozen-prefix caching (cache=True: the first n layers'
output is computed once per image and replayed every later epoch and every validation pass) and without it
(cache=False: recomputed at every step). The two modes do the same arithmetic, so every unit's accuracy must be
identical between them; the script checks that and exits non-zero when it is not.

Timed: the units alone. Both bases of each seed are trained (or read from ftkit's cache) and the data loaded before
the clock starts, and one untimed warm-up unit per mode runs first. Each repeat times every unit once per mode, the
modes taking turns first; per mode, units per minute is (units / total seconds) of a repeat, and the speedup is the
median over repeats of the per-repeat ratio cached / recomputed.
  goal: >= 2x units per minute on the frozen-n units, accuracies identical

Usage: python bench/cases.py [--tier quick|full] [--repeats R] [--seeds K] [--all] [--data mnist|fashion_mnist]
  --tier quick (default): the units of `ftkit replicate transferability --quick` (n = 1, 3, 6; 400 images, 3 epochs)
  --tier full: the full tier's units of the first --seeds seeds (n = 1..6; 3000 images, 4 epochs)
  --all: time the fine-tuned units (AnB+, BnB+) too; nothing is frozen there, so caching has nothing to skip
Last line: frozen_speedup=<x> (speedup=<x> with --all) units_per_min_recompute=<u> units_per_min_cached=<u> identical=<True|False>
"""
import argparse
import os
import statistics
import sys
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore", category=FutureWarning)

import torch  # noqa: E402

from ftkit.core import library_versions  # noqa: E402
from ftkit.ledger import Unit  # noqa: E402
from ftkit.transfer_cases import TransferConfig, base_models, transfer_units, transfer_work  # noqa: E402

MODES = {"recompute": False, "cached": True}  # name -> the unit config's `cache`


def with_cache(unit: Unit, cache: bool) -> Unit:
    "The same unit with frozen-prefix caching on or off (its only difference)."
    return Unit(unit.case, unit.setting, {**unit.config, "cache": cache}, unit.seed)


def timed(unit: Unit) -> tuple[float, float]:
    "Wall-clock seconds and accuracy of one unit."
    start = time.perf_counter()
    accuracy = transfer_work(unit)["accuracy"]
    return time.perf_counter() - start, accuracy


def prepare(units: list[Unit]):
    "Train or load every seed's bases and run one untimed warm-up unit per mode (data loading, first-call costs)."
    for seed in sorted({u.seed for u in units}):
        config = TransferConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in units[0].config.items()})
        base_models(config, seed)
    for cache in MODES.values():
        transfer_work(with_cache(units[0], cache))


def one_repeat(units: list[Unit], order: list[str]) -> dict:
    "Every unit once per mode, in `order`: {mode: (per-unit seconds, per-unit accuracies)}."
    out = {}
    for mode in order:
        runs = [timed(with_cache(u, MODES[mode])) for u in units]
        out[mode] = ([s for s, _ in runs], [a for _, a in runs])
        print(f"  {mode:<9} {len(units)} units in {sum(out[mode][0]):6.1f} s = "
              f"{60 * len(units) / sum(out[mode][0]):5.1f} units/min", flush=True)
    return out


def per_setting(units: list[Unit], repeats: list[dict]):
    "Median seconds of each setting (over seeds and repeats) in both modes, and their ratio."
    print("per setting (median seconds per unit):")
    for setting in dict.fromkeys(u.setting for u in units):
        index = [i for i, u in enumerate(units) if u.setting == setting]
        median = {m: statistics.median(r[m][0][i] for r in repeats for i in index) for m in MODES}
        print(f"  {setting:<10} recompute {median['recompute']:5.2f} s  cached {median['cached']:5.2f} s  "
              f"ratio {median['recompute'] / median['cached']:.2f}x")


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
        repeats.append(one_repeat(units, list(MODES) if r % 2 == 0 else list(MODES)[::-1]))
    per_setting(units, repeats)
    rate = {m: [60 * len(units) / sum(r[m][0]) for r in repeats] for m in MODES}
    ratios = [c / p for c, p in zip(rate["cached"], rate["recompute"])]
    identical = all(r["cached"][1] == r["recompute"][1] == repeats[0]["cached"][1] for r in repeats)
    speedup = statistics.median(ratios)
    print(f"units per minute: recompute {statistics.median(rate['recompute']):.1f}, cached {statistics.median(rate['cached']):.1f}; "
          f"speedup {speedup:.2f}x (median of {', '.join(f'{x:.2f}' for x in ratios)}; goal >= 2x); accuracies "
          f"{'identical in both modes and every repeat' if identical else 'DIFFER between modes or repeats'}")
    print(f"{'speedup' if args.all else 'frozen_speedup'}={speedup:.2f} units_per_min_recompute={statistics.median(rate['recompute']):.1f} "
          f"units_per_min_cached={statistics.median(rate['cached']):.1f} identical={identical}")
    if not identical: sys.exit(1)


if __name__ == "__main__":
    main()
