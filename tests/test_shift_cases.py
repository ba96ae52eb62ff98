"""The lp-ft and wise-ft cases on bad input and partial ledgers: refused options name what is accepted, units keep their
keys across calls, and summaries and plots of failed or missing units name them instead of crashing."""
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from ftkit.cases import CASES, load_targets
from ftkit.shift_cases import (ALPHAS, LP_FT_METHODS, ShiftConfig, _sources, contains_sentence, left_out, lp_ft_units,
                               start_model, wise_ft_units)

CASE_NAMES = ("lp-ft", "wise-ft")


@pytest.mark.parametrize("name", CASE_NAMES)
def test_registered_with_a_claim(name):
    assert name in CASES and "all-MiniLM-L6-v2" in CASES[name].claim


@pytest.mark.parametrize("units", [lp_ft_units, wise_ft_units])
@pytest.mark.parametrize("data", ["sst2", "cr", "", "/no/such/file.csv"])
def test_data_other_than_none_is_refused(units, data):
    with pytest.raises(ValueError, match="run it without --data"):
        units(quick=True, data=data)


@pytest.mark.parametrize("units", [lp_ft_units, wise_ft_units])
@pytest.mark.parametrize("seeds", [0, -1, 1.5, True])
def test_bad_seed_counts_are_refused(units, seeds):
    with pytest.raises((ValueError, TypeError), match="seeds"):
        units(quick=True, seeds=seeds)


def test_units_are_stable_and_tiers_differ():
    assert [u.key for u in lp_ft_units(quick=False)] == [u.key for u in lp_ft_units(quick=False)]
    assert {u.key for u in lp_ft_units(quick=True)}.isdisjoint({u.key for u in lp_ft_units(quick=False)})
    assert len(lp_ft_units(quick=False)) == 3 * len(LP_FT_METHODS)
    assert len(wise_ft_units(quick=False, seeds=2)) == 2 * len(ALPHAS)
    assert lp_ft_units(quick=True, device="cuda")[0].config["device"] == "cuda"


def test_left_out_names_failed_and_missing_units():
    results = pd.DataFrame({"setting": ["LP", "FT", "LP-FT", "LP"], "seed": [0, 0, 0, 1],
                            "status": ["done", "failed", "done", "done"]})
    assert left_out(results, LP_FT_METHODS) == ["FT s0 (failed)", "FT s1 (missing)", "LP-FT s1 (missing)"]
    assert left_out(pd.DataFrame(), LP_FT_METHODS) == []


@pytest.mark.parametrize("name", CASE_NAMES)
@pytest.mark.parametrize("results, expect", [
    (pd.DataFrame(columns=["case", "setting", "seed", "status", "seconds", "device", "error"]), None),  # nothing recorded
    (pd.DataFrame({"case": "x", "setting": ["LP", "α=0.50"], "seed": 0, "status": "failed", "seconds": 1.0,
                   "device": "cpu", "error": "boom"}), "LP s0 (failed)"),                               # everything failed
    (pd.DataFrame({"case": "x", "setting": ["LP", "α=0.50"], "seed": 0, "status": "done", "seconds": 1.0,
                   "device": "cpu", "error": ""}), "needs ≥ 2 seeds"),                                  # done, no metrics
])
def test_summary_and_plot_cope_with_partial_ledgers(name, results, expect):
    case = CASES[name]
    summary = case.summarize(results, load_targets(name))
    assert isinstance(summary, pd.DataFrame) and len(summary)
    if expect == "LP s0 (failed)":  # the left-out row names the failed units first
        assert summary["ours: A vs B (mean ± sd)"].iloc[-1].startswith("LP s0 (failed)")
    elif expect:
        assert expect in set(summary.verdict)
    plt.close(case.plot(results, load_targets(name)))


def _ledger(settings, seeds, status="done", **metrics):
    return pd.DataFrame([{"case": "x", "setting": s, "seed": seed, "status": status, "seconds": 1.0, "device": "cpu",
                          "error": "", **metrics} for seed in seeds for s in settings])


def test_failed_units_are_named_and_one_seed_needs_more():
    metrics = dict(acc_sst2=0.8, acc_cr=0.7, acc_mr=0.6, change_sst2=0.1, change_cr=0.1, change_mr=0.1)
    results = _ledger(LP_FT_METHODS, [0, 1], **metrics)
    results.loc[(results.setting == "LP") & (results.seed == 0), "status"] = "failed"
    summary = CASES["lp-ft"].summarize(results, load_targets("lp-ft"))
    assert summary["ours: A vs B (mean ± sd)"].iloc[-1] == "LP s0 (failed)"
    assert summary.verdict.iloc[0] == "needs ≥ 2 seeds"  # FT vs LP: seed 1 only
    plt.close(CASES["lp-ft"].plot(results, load_targets("lp-ft")))
    wise = _ledger([f"α={a:.2f}" for a in ALPHAS], [0], acc_sst2=0.8, acc_cr=0.7, acc_mr=0.6)
    wise["alpha"] = [float(a) for a in ALPHAS]
    assert "needs ≥ 2 seeds" in set(CASES["wise-ft"].summarize(wise, load_targets("wise-ft")).verdict)


def test_mr_leak_check_finds_a_known_sst2_sentence():
    sentence = "stupid , infantile , redundant , sloppy , over-the-top , and amateurish ."
    mr = _sources()["MR"].text.tolist()
    holding = [t for t in mr if "infantile , redundant , sloppy" in t]
    assert holding and all(contains_sentence(holding, [sentence]))
    assert contains_sentence(["a fine , warm film ."], [sentence]) == [False]
    assert contains_sentence([sentence], [sentence], min_chars=10 ** 6) == [False]  # short sentences are ignored


@pytest.mark.parametrize("bad, message", [(dict(optimizer="adam"), "'adamw' and 'sgd'"), (dict(train_size=0), "train_size"),
                                          (dict(eval_size=-5), "eval_size"), (dict(epochs=0), "epochs"),
                                          (dict(batch_size=0), "batch_size"), (dict(lr_max=0.0), "lr_max")])
def test_bad_configs_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        ShiftConfig(**bad)


def test_probe_head_needs_a_probe():
    with pytest.raises(ValueError, match="needs the seed's linear probe"):
        start_model("probe", None, 0, "cpu")
